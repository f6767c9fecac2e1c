package tenant

import (
	"sort"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/mapping"
)

// InvitationTTL is how long an invitation stays valid (SPEC §1).
const InvitationTTL = 7 * 24 * time.Hour

// Member is one user's membership. Email is kept sealed (encrypted) by the
// caller; the domain only needs the keyed index to compare addresses.
type Member struct {
	UserID      string    `json:"user_id"`
	Role        Role      `json:"role"`
	Name        string    `json:"name"`
	EmailIndex  string    `json:"email_index"`
	EmailSealed string    `json:"email_sealed"`
	JoinedAt    time.Time `json:"joined_at"`
}

// InvitationStatus is the lifecycle of an invitation.
type InvitationStatus string

const (
	InvitePending   InvitationStatus = "pending"
	InviteAccepted  InvitationStatus = "accepted"
	InviteCancelled InvitationStatus = "cancelled"
	InviteExpired   InvitationStatus = "expired"
)

// Invitation asks someone to join with a role. Only a hash of its token is kept.
type Invitation struct {
	ID          string           `json:"id"`
	Role        Role             `json:"role"`
	EmailIndex  string           `json:"email_index"`
	EmailSealed string           `json:"email_sealed"`
	TokenID     string           `json:"token_id"`
	TokenHash   []byte           `json:"token_hash"`
	Status      InvitationStatus `json:"status"`
	InvitedBy   string           `json:"invited_by"`
	CreatedAt   time.Time        `json:"created_at"`
	ExpiresAt   time.Time        `json:"expires_at"`
}

// StatusAt is the invitation's status at time now (expiry is computed, not stored).
func (i *Invitation) StatusAt(now time.Time) InvitationStatus {
	if i.Status == InvitePending && !now.Before(i.ExpiresAt) {
		return InviteExpired
	}
	return i.Status
}

// State is everything the org grain owns.
type State struct {
	Org         Org                    `json:"org"`
	Members     map[string]*Member     `json:"members"`
	Invitations map[string]*Invitation `json:"invitations"`
	Keys        map[string]*APIKey     `json:"keys"`
	// Rules are the signal mapping rules (SPEC §2.5).
	Rules map[string]*mapping.Rule `json:"rules,omitempty"`
	// ConfigVersion counts configuration changes that grains cache (rules),
	// so a stale cache is detected by comparing one number.
	ConfigVersion uint64 `json:"config_version"`
	// Scoring holds settings, evaluation rules and ICP model versions; nil
	// for an organization stored before scoring existed (EnsureScoring).
	Scoring *Scoring `json:"scoring,omitempty"`
	// Billing is the plan state (billing.go); nil until first needed.
	Billing *Billing `json:"billing,omitempty"`
	Deleted bool     `json:"deleted"`
}

// NewState starts an organization with its creator as the one Owner.
func NewState(org Org, owner Member) *State {
	owner.Role = RoleOwner
	owner.JoinedAt = org.CreatedAt
	return &State{
		Org:         org,
		Members:     map[string]*Member{owner.UserID: &owner},
		Invitations: map[string]*Invitation{},
		Keys:        map[string]*APIKey{},
	}
}

// Owner returns the Owner (there is always exactly one).
func (s *State) Owner() *Member {
	for _, m := range s.Members {
		if m.Role == RoleOwner {
			return m
		}
	}
	return nil
}

// SortedMembers lists members by join time then id.
func (s *State) SortedMembers() []*Member {
	out := make([]*Member, 0, len(s.Members))
	for _, m := range s.Members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].JoinedAt.Equal(out[j].JoinedAt) {
			return out[i].JoinedAt.Before(out[j].JoinedAt)
		}
		return out[i].UserID < out[j].UserID
	})
	return out
}

// invitableRole parses a role that may be given by invitation or role change:
// never owner (ownership moves only by transfer).
func invitableRole(field, s string, dflt Role) (Role, error) {
	if s == "" && dflt != "" {
		return dflt, nil
	}
	r, ok := ParseRole(s)
	if !ok || r == RoleOwner {
		return "", errs.Invalid(field, "invalid_enum", "%s must be one of admin, editor, viewer", field)
	}
	return r, nil
}

// ChangeRole sets a non-owner member's role.
func (s *State) ChangeRole(userID, role string) (*Member, error) {
	r, err := invitableRole("role", role, "")
	if err != nil {
		return nil, err
	}
	m, ok := s.Members[userID]
	if !ok {
		return nil, errs.NotFound("member")
	}
	if m.Role == RoleOwner {
		return nil, errs.Conflict("owner_immutable", "user_id",
			"the Owner's role cannot be changed; transfer ownership instead")
	}
	m.Role = r
	return m, nil
}

// RemoveMember removes a non-owner member.
func (s *State) RemoveMember(userID string) error {
	m, ok := s.Members[userID]
	if !ok {
		return errs.NotFound("member")
	}
	if m.Role == RoleOwner {
		return errs.Conflict("owner_immutable", "user_id",
			"the Owner cannot be removed; transfer ownership first")
	}
	delete(s.Members, userID)
	return nil
}

// TransferOwnership makes newOwner the Owner and removes the previous Owner
// ("transfer & remove", SPEC §1). It returns the removed user id.
func (s *State) TransferOwnership(newOwner string) (string, error) {
	if newOwner == "" {
		return "", errs.Invalid("user_id", "required", "user_id is required")
	}
	target, ok := s.Members[newOwner]
	if !ok {
		return "", errs.Invalid("user_id", "not_a_member", "the new Owner must already be a member")
	}
	old := s.Owner()
	if old.UserID == newOwner {
		return "", errs.Invalid("user_id", "already_owner", "that member is already the Owner")
	}
	target.Role = RoleOwner
	delete(s.Members, old.UserID)
	return old.UserID, nil
}

// MemberByEmailIndex finds a member by keyed email hash.
func (s *State) MemberByEmailIndex(idx string) *Member {
	for _, m := range s.Members {
		if m.EmailIndex == idx {
			return m
		}
	}
	return nil
}

// Invite records a new invitation. inv carries id, email index/sealed,
// token id/hash and inviter; role may be empty (Viewer).
func (s *State) Invite(inv Invitation, role string, now time.Time) (*Invitation, error) {
	r, err := invitableRole("role", role, RoleViewer)
	if err != nil {
		return nil, err
	}
	if s.MemberByEmailIndex(inv.EmailIndex) != nil {
		return nil, errs.Conflict("already_member", "email", "that person is already a member")
	}
	for _, other := range s.Invitations {
		if other.EmailIndex == inv.EmailIndex && other.StatusAt(now) == InvitePending {
			return nil, errs.Conflict("invitation_pending", "email",
				"a pending invitation for that email exists; resend or cancel it")
		}
	}
	inv.Role = r
	inv.Status = InvitePending
	inv.CreatedAt = now
	inv.ExpiresAt = now.Add(InvitationTTL)
	s.Invitations[inv.ID] = &inv
	s.pruneInvitations(now)
	return &inv, nil
}

// pruneInvitations forgets invitations that ended more than 30 days ago so
// the state does not grow without bound.
func (s *State) pruneInvitations(now time.Time) {
	for id, inv := range s.Invitations {
		if inv.StatusAt(now) != InvitePending && now.Sub(inv.ExpiresAt) > 30*24*time.Hour {
			delete(s.Invitations, id)
		}
	}
}

// pendingInvitation returns an invitation that can still be acted on.
func (s *State) pendingInvitation(id string, now time.Time) (*Invitation, error) {
	inv, ok := s.Invitations[id]
	if !ok || inv.Status == InviteCancelled || inv.Status == InviteAccepted {
		return nil, errs.NotFound("invitation")
	}
	return inv, nil
}

// Resend gives a pending (or expired) invitation a new token and a fresh
// 7-day expiry; the old token dies.
func (s *State) Resend(id, tokenID string, tokenHash []byte, now time.Time) (*Invitation, error) {
	inv, err := s.pendingInvitation(id, now)
	if err != nil {
		return nil, err
	}
	// Reviving an expired invitation must not make a second pending one
	// for an address that was invited again meanwhile.
	for _, other := range s.Invitations {
		if other.ID != inv.ID && other.EmailIndex == inv.EmailIndex && other.StatusAt(now) == InvitePending {
			return nil, errs.Conflict("invitation_pending", "email",
				"a newer pending invitation for that email exists; resend or cancel that one")
		}
	}
	inv.TokenID, inv.TokenHash = tokenID, tokenHash
	inv.Status = InvitePending
	inv.ExpiresAt = now.Add(InvitationTTL)
	return inv, nil
}

// Cancel kills an invitation at once.
func (s *State) Cancel(id string, now time.Time) (*Invitation, error) {
	inv, err := s.pendingInvitation(id, now)
	if err != nil {
		return nil, err
	}
	inv.Status = InviteCancelled
	return inv, nil
}

// InvitationByToken finds the invitation holding tokenID; the caller checks the hash.
func (s *State) InvitationByToken(tokenID string) *Invitation {
	for _, inv := range s.Invitations {
		if inv.TokenID == tokenID {
			return inv
		}
	}
	return nil
}

// Accept turns a verified invitation into a membership for user, whose email
// index must match the invited address.
func (s *State) Accept(inv *Invitation, user Member, now time.Time) (*Member, error) {
	switch inv.StatusAt(now) {
	case InviteExpired:
		return nil, errs.New(errs.KindGone, "invitation_expired", "this invitation has expired; ask for it to be resent")
	case InvitePending:
	default:
		return nil, errs.NotFound("invitation")
	}
	if user.EmailIndex != inv.EmailIndex {
		return nil, &errs.Error{Kind: errs.KindForbidden, Code: "email_mismatch",
			Message: "this invitation was sent to a different email address; sign in with that address"}
	}
	if _, ok := s.Members[user.UserID]; ok {
		return nil, errs.Conflict("already_member", "", "you are already a member of this organization")
	}
	user.Role = inv.Role
	user.JoinedAt = now
	s.Members[user.UserID] = &user
	inv.Status = InviteAccepted
	return &user, nil
}

// PendingInvitations lists invitations still pending at now, oldest first.
func (s *State) PendingInvitations(now time.Time) []*Invitation {
	var out []*Invitation
	for _, inv := range s.Invitations {
		if inv.StatusAt(now) == InvitePending {
			out = append(out, inv)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}
