package actors

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// Org grain operation names (Command.Op).
const (
	opOrgCreate    = "org.create"
	opOrgGet       = "org.get"
	opOrgUpdate    = "org.update"
	opOrgDelete    = "org.delete"
	opMembersList  = "members.list"
	opMemberRole   = "members.role"
	opMemberRemove = "members.remove"
	opTransfer     = "members.transfer"
	opInviteCreate = "invitations.create"
	opInviteList   = "invitations.list"
	opInviteResend = "invitations.resend"
	opInviteCancel = "invitations.cancel"
	opInviteAccept = "invitations.accept"
	opKeyCreate    = "keys.create"
	opKeyList      = "keys.list"
	opKeyGet       = "keys.get"
	opKeyRevoke    = "keys.revoke"
	opKeyRotate    = "keys.rotate"
	opKeyVerify    = "keys.verify"
)

// Command bodies, built by Client.

type createOrgBody struct {
	Org   tenant.NewOrgInput `json:"org"`
	Owner tenant.Member      `json:"owner"`
	// NoStarterRules skips the starter mapping rules.
	NoStarterRules bool `json:"no_starter_rules,omitempty"`
}

type updateOrgBody struct {
	Name     *string `json:"name"`
	Size     *string `json:"size"`
	Industry *string `json:"industry"`
}

type memberRoleBody struct {
	UserID string `json:"user_id"`
	Role   string `json:"role"`
}

type userBody struct {
	UserID string `json:"user_id"`
}

type inviteBody struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

type idBody struct {
	ID string `json:"id"`
}

type acceptBody struct {
	Token string        `json:"token"`
	User  tenant.Member `json:"user"`
}

type createKeyBody struct {
	Name            string         `json:"name"`
	Type            string         `json:"type"`
	ExpiresAt       *time.Time     `json:"expires_at"`
	WithSecret      bool           `json:"with_secret"`
	PayloadTemplate map[string]any `json:"payload_template"`
}

type verifyKeyBody struct {
	TokenID string `json:"token_id"`
	Key     string `json:"key"`
}

type verifyKeyReply struct {
	KeyID     string     `json:"key_id"`
	Type      string     `json:"type"`
	Name      string     `json:"name"`
	Secret    string     `json:"secret"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// keySecretAD binds sealed key secrets to their purpose.
var keySecretAD = []byte("api-key-secret")

func init() {
	orgOps[opOrgCreate] = orgOp{write: true, run: (*orgGrain).create}
	orgOps[opOrgGet] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapRead); err != nil {
			return nil, err
		}
		return orgView(t.state.Org, t.callerRole()), nil
	}}
	orgOps[opOrgUpdate] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapManageOrg); err != nil {
			return nil, err
		}
		var b updateOrgBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		if err := (tenant.OrgPatch{Name: b.Name, Size: b.Size, Industry: b.Industry}).Apply(&t.state.Org, t.now); err != nil {
			return nil, err
		}
		return orgView(t.state.Org, t.callerRole()), nil
	}}
	orgOps[opOrgDelete] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapOwnerOnly); err != nil {
			return nil, err
		}
		t.state.Deleted = true
		s := t.state
		t.after = func(ctx contextT) { g.finishDelete(ctx, s) }
		return struct{}{}, nil
	}}
	orgOps[opMembersList] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapRead); err != nil {
			return nil, err
		}
		var out []MemberView
		for _, m := range t.state.SortedMembers() {
			out = append(out, g.memberView(m))
		}
		return out, nil
	}}
	orgOps[opMemberRole] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapManageOrg); err != nil {
			return nil, err
		}
		var b memberRoleBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		m, err := t.state.ChangeRole(b.UserID, b.Role)
		if err != nil {
			return nil, err
		}
		t.put(keyMembership(m.UserID, g.id), string(m.Role))
		return g.memberView(m), nil
	}}
	orgOps[opMemberRemove] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		var b userBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		// Anyone may leave; removing others needs the manage capability.
		if b.UserID != t.caller.UserID || t.caller.Operator {
			if err := t.authorize(tenant.CapManageOrg); err != nil {
				return nil, err
			}
		} else if err := t.authorize(tenant.CapRead); err != nil {
			return nil, err
		}
		if err := t.state.RemoveMember(b.UserID); err != nil {
			return nil, err
		}
		t.del(keyMembership(b.UserID, g.id))
		return struct{}{}, nil
	}}
	orgOps[opTransfer] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapOwnerOnly); err != nil {
			return nil, err
		}
		var b userBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		removed, err := t.state.TransferOwnership(b.UserID)
		if err != nil {
			return nil, err
		}
		t.put(keyMembership(b.UserID, g.id), string(tenant.RoleOwner))
		t.del(keyMembership(removed, g.id))
		return TransferResult{Owner: g.memberView(t.state.Members[b.UserID]), RemovedUserID: removed}, nil
	}}
	orgOps[opInviteCreate] = orgOp{write: true, run: (*orgGrain).invite}
	orgOps[opInviteList] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapManageOrg); err != nil {
			return nil, err
		}
		var out []InvitationView
		for _, inv := range t.state.PendingInvitations(t.now) {
			out = append(out, g.invitationView(inv, t.now))
		}
		return out, nil
	}}
	orgOps[opInviteResend] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapManageOrg); err != nil {
			return nil, err
		}
		var b idBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		token, tokenID, err := credential.NewToken(g.env.Rand, credential.InvitePrefix)
		if err != nil {
			return nil, errs.Internal(err)
		}
		inv, err := t.state.Resend(b.ID, tokenID, g.hash(token), t.now)
		if err != nil {
			return nil, err
		}
		return InvitationCreated{Invitation: g.invitationView(inv, t.now), Token: token}, nil
	}}
	orgOps[opInviteCancel] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapManageOrg); err != nil {
			return nil, err
		}
		var b idBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		inv, err := t.state.Cancel(b.ID, t.now)
		if err != nil {
			return nil, err
		}
		return g.invitationView(inv, t.now), nil
	}}
	orgOps[opInviteAccept] = orgOp{write: true, run: (*orgGrain).accept}
	orgOps[opKeyCreate] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapEditConfig); err != nil {
			return nil, err
		}
		var b createKeyBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		in := tenant.NewKeyInput{Name: b.Name, Type: b.Type, ExpiresAt: b.ExpiresAt, WithSecret: b.WithSecret, PayloadTemplate: b.PayloadTemplate}
		if err := in.Validate(t.now); err != nil {
			return nil, err
		}
		return g.issueKey(t, tenant.APIKey{Name: in.Name, Type: tenant.KeyType(in.Type), ExpiresAt: in.ExpiresAt,
			PayloadTemplate: in.PayloadTemplate}, in.WithSecret)
	}}
	orgOps[opKeyList] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapEditConfig); err != nil {
			return nil, err
		}
		var out []APIKeyView
		for _, k := range t.state.SortedKeys() {
			out = append(out, keyView(k, t.now))
		}
		return out, nil
	}}
	orgOps[opKeyGet] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapEditConfig); err != nil {
			return nil, err
		}
		var b idBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		k, ok := t.state.Keys[b.ID]
		if !ok {
			return nil, errs.NotFound("api_key")
		}
		return keyView(k, t.now), nil
	}}
	orgOps[opKeyRevoke] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapEditConfig); err != nil {
			return nil, err
		}
		var b idBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		k, err := t.state.RevokeKey(b.ID, t.now)
		if err != nil {
			return nil, err
		}
		return keyView(k, t.now), nil
	}}
	orgOps[opKeyRotate] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapEditConfig); err != nil {
			return nil, err
		}
		var b idBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		old, err := t.state.RotationOf(b.ID, t.now)
		if err != nil {
			return nil, err
		}
		return g.issueKey(t, tenant.APIKey{Name: old.Name, Type: old.Type, ExpiresAt: old.ExpiresAt,
			PayloadTemplate: old.PayloadTemplate, RotatedFrom: old.ID}, old.SecretSealed != "")
	}}
	orgOps[opKeyVerify] = orgOp{run: (*orgGrain).verifyKey}
}

func (g *orgGrain) create(t *orgTx) (any, error) {
	if t.state != nil {
		// Org ids are random, so this is a retry whose reply was lost, or
		// a bug; never overwrite an organization.
		return nil, errs.Conflict("organization_exists", "", "organization already exists")
	}
	var b createOrgBody
	if err := t.decode(&b); err != nil {
		return nil, err
	}
	b.Org.Normalize()
	if err := b.Org.Validate(); err != nil {
		return nil, err
	}
	// Claim the subdomain: a create-only write, unique deployment-wide.
	sub := keySubdomain(b.Org.Subdomain)
	if _, err := g.env.Store.Save(t.ctx, sub, []byte(g.id), 0); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			return nil, storeErr(err)
		}
		if cur, _, lerr := g.env.Store.Load(t.ctx, sub); lerr != nil || string(cur) != g.id {
			return nil, errs.Conflict("subdomain_taken", "subdomain", "that subdomain is taken; choose another")
		}
	}
	org := tenant.Org{ID: g.id, Name: b.Org.Name, Subdomain: b.Org.Subdomain, Size: b.Org.Size,
		Industry: b.Org.Industry, Plan: b.Org.Plan, Settings: map[string]any{}, CreatedAt: t.now, UpdatedAt: t.now}
	t.state = tenant.NewState(org, b.Owner)
	// Useful from the first minute: starter mapping rules and the starter
	// ICP, both editable (decision 0007).
	t.state.EnsureScoring(t.now)
	starter := mapping.StarterRules()
	if b.NoStarterRules {
		starter = nil
	}
	for _, r := range starter {
		id, err := credential.NewID(g.env.Rand, "rule_")
		if err != nil {
			return nil, errs.Internal(err)
		}
		if _, err := t.state.AddRule(r, id, t.now); err != nil {
			return nil, errs.Internal(fmt.Errorf("starter rule %q: %w", r.Name, err))
		}
	}
	t.put(keyConfigVersion(g.id), strconv.FormatUint(t.state.ConfigVersion, 10))
	t.put(keyOrgIndex(g.id), "")
	t.put(keyMembership(b.Owner.UserID, g.id), string(tenant.RoleOwner))
	return orgView(org, t.callerRole()), nil
}

func (g *orgGrain) invite(t *orgTx) (any, error) {
	if err := t.authorize(tenant.CapManageOrg); err != nil {
		return nil, err
	}
	var b inviteBody
	if err := t.decode(&b); err != nil {
		return nil, err
	}
	id, err := credential.NewID(g.env.Rand, "inv_")
	if err != nil {
		return nil, errs.Internal(err)
	}
	token, tokenID, err := credential.NewToken(g.env.Rand, credential.InvitePrefix)
	if err != nil {
		return nil, errs.Internal(err)
	}
	sealed, err := g.env.sealString(emailAD, b.Email)
	if err != nil {
		return nil, errs.Internal(err)
	}
	inv, err := t.state.Invite(tenant.Invitation{ID: id, EmailIndex: g.env.emailIndex(b.Email), EmailSealed: sealed,
		TokenID: tokenID, TokenHash: g.hash(token), InvitedBy: t.caller.UserID}, b.Role, t.now)
	if err != nil {
		return nil, err
	}
	return InvitationCreated{Invitation: g.invitationView(inv, t.now), Token: token}, nil
}

func (g *orgGrain) accept(t *orgTx) (any, error) {
	if t.state == nil || t.state.Deleted {
		return nil, errs.NotFound("invitation")
	}
	var b acceptBody
	if err := t.decode(&b); err != nil {
		return nil, err
	}
	tokenID, err := credential.ParseToken(b.Token, credential.InvitePrefix)
	if err != nil {
		return nil, errs.NotFound("invitation")
	}
	inv := t.state.InvitationByToken(tokenID)
	if inv == nil || !g.env.Hasher.Equal(b.Token, inv.TokenHash) {
		return nil, errs.NotFound("invitation")
	}
	m, err := t.state.Accept(inv, b.User, t.now)
	if err != nil {
		return nil, err
	}
	t.put(keyMembership(m.UserID, g.id), string(m.Role))
	return AcceptResult{Organization: orgView(t.state.Org, m.Role), Role: string(m.Role)}, nil
}

// issueKey mints a key (and optional secret), records only its hash, and
// indexes its public token id so a presented key finds its organization.
func (g *orgGrain) issueKey(t *orgTx, k tenant.APIKey, withSecret bool) (any, error) {
	id, err := credential.NewID(g.env.Rand, "key_")
	if err != nil {
		return nil, errs.Internal(err)
	}
	full, tokenID, err := credential.NewToken(g.env.Rand, credential.APIKeyPrefix)
	if err != nil {
		return nil, errs.Internal(err)
	}
	var secret string
	if withSecret {
		secret, _, err = credential.NewToken(g.env.Rand, credential.KeySecretPrefix)
		if err != nil {
			return nil, errs.Internal(err)
		}
		if k.SecretSealed, err = g.env.sealString(keySecretAD, secret); err != nil {
			return nil, errs.Internal(err)
		}
	}
	k.ID, k.TokenID, k.Hash = id, tokenID, g.hash(full)
	rec, err := t.state.AddKey(k, t.now)
	if err != nil {
		return nil, err
	}
	t.put(keyAPIKeyIndex(tokenID), g.id)
	return APIKeyCreated{APIKey: keyView(rec, t.now), Key: full, Secret: secret}, nil
}

// verifyKey checks a presented key. It is a read; last_used_at is kept in
// memory and persisted at most once a minute so ingestion does not turn
// every signal into an org-state write.
func (g *orgGrain) verifyKey(t *orgTx) (any, error) {
	invalid := errs.Unauthenticated("key_invalid", "the API key is not valid")
	if t.state == nil || t.state.Deleted {
		return nil, invalid
	}
	var b verifyKeyBody
	if err := t.decode(&b); err != nil {
		return nil, err
	}
	k := t.state.KeyByToken(b.TokenID)
	if k == nil || !g.env.Hasher.Equal(b.Key, k.Hash) {
		return nil, invalid
	}
	if err := k.Usable(t.now); err != nil {
		return nil, err
	}
	secret, err := g.env.openString(keySecretAD, k.SecretSealed)
	if err != nil {
		return nil, errs.Internal(err)
	}
	now := t.now
	k.LastUsedAt = &now
	if t.now.Sub(g.lastUsePersist) > time.Minute {
		g.lastUsePersist = t.now
		g.persistQuietly(t.ctx)
	}
	return verifyKeyReply{KeyID: k.ID, Type: string(k.Type), Name: k.Name, Secret: secret, ExpiresAt: k.ExpiresAt}, nil
}

// persistQuietly saves the current state (used for last_used_at); a
// conflict just means someone else wrote: reload next time.
func (g *orgGrain) persistQuietly(ctx contextT) {
	b, err := jsonMarshal(g.doc)
	if err != nil {
		return
	}
	ver, err := g.env.Store.Save(ctx, keyOrgState(g.id), b, g.version)
	if err != nil {
		g.loaded = false
		return
	}
	g.version = ver
}
