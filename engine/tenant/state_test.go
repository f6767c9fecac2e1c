package tenant_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
)

const week = 7 * 24 * time.Hour

func TestNewState(t *testing.T) {
	t.Parallel()
	creator := member("creator")
	creator.Role = tenant.RoleViewer // whatever the caller says, the creator is Owner
	creator.JoinedAt = t0.Add(-time.Hour)
	org := testOrg()
	s := tenant.NewState(org, creator)

	if len(s.Members) != 1 || countOwners(s) != 1 {
		t.Fatalf("members = %d, owners = %d; want exactly one member who is the Owner", len(s.Members), countOwners(s))
	}
	o := s.Owner()
	if o == nil || o.UserID != "creator" || o.Role != tenant.RoleOwner {
		t.Fatalf("Owner() = %+v, want creator as owner", o)
	}
	if !o.JoinedAt.Equal(org.CreatedAt) {
		t.Errorf("owner JoinedAt = %v, want org CreatedAt %v", o.JoinedAt, org.CreatedAt)
	}
	if o.EmailIndex != "idx-creator" || o.Name != "User creator" || o.EmailSealed != "sealed-creator" {
		t.Errorf("owner fields not kept: %+v", o)
	}
	if s.Invitations == nil || len(s.Invitations) != 0 || s.Keys == nil || len(s.Keys) != 0 {
		t.Errorf("want empty, non-nil invitation and key maps, got %v %v", s.Invitations, s.Keys)
	}
	if s.Deleted {
		t.Error("new state is deleted")
	}
	if !reflect.DeepEqual(s.Org, org) {
		t.Errorf("Org = %+v, want %+v", s.Org, org)
	}
	if creator.Role != tenant.RoleViewer {
		t.Error("NewState mutated the caller's Member value")
	}
}

func TestSortedMembers(t *testing.T) {
	t.Parallel()
	s := tenant.NewState(testOrg(), member("owner"))
	add := func(id string, at time.Time) {
		m := member(id)
		m.Role = tenant.RoleViewer
		m.JoinedAt = at
		s.Members[id] = &m
	}
	add("zed", t0.Add(time.Hour))
	add("amy", t0.Add(time.Hour))
	add("bob", t0.Add(-time.Hour))
	add("cat", t0.Add(2*time.Hour))
	add("abe", t0) // same time as owner: "abe" < "owner"
	var got []string
	for _, m := range s.SortedMembers() {
		got = append(got, m.UserID)
	}
	want := []string{"bob", "abe", "owner", "amy", "zed", "cat"}
	if !slices.Equal(got, want) {
		t.Fatalf("SortedMembers = %v, want %v", got, want)
	}
}

func TestMemberByEmailIndex(t *testing.T) {
	t.Parallel()
	s := newState(t, map[string]tenant.Role{"a": tenant.RoleAdmin})
	if m := s.MemberByEmailIndex("idx-a"); m == nil || m.UserID != "a" {
		t.Fatalf("MemberByEmailIndex(idx-a) = %+v", m)
	}
	if m := s.MemberByEmailIndex("idx-owner"); m == nil || m.UserID != "owner" {
		t.Fatalf("MemberByEmailIndex(idx-owner) = %+v", m)
	}
	if m := s.MemberByEmailIndex("idx-nobody"); m != nil {
		t.Fatalf("MemberByEmailIndex(idx-nobody) = %+v, want nil", m)
	}
}

func TestChangeRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		user     string
		role     string
		wantRole tenant.Role // on success
		kind     errs.Kind
		code     string
		field    string
	}{
		{name: "admin to viewer", user: "admin", role: "viewer", wantRole: tenant.RoleViewer},
		{name: "viewer to admin", user: "viewer", role: "admin", wantRole: tenant.RoleAdmin},
		{name: "editor to editor", user: "editor", role: "editor", wantRole: tenant.RoleEditor},
		{name: "case-insensitive", user: "viewer", role: "EDITOR", wantRole: tenant.RoleEditor},
		{name: "to owner refused", user: "admin", role: "owner", kind: errs.KindInvalid, code: "invalid_enum", field: "role"},
		{name: "to Owner refused", user: "viewer", role: "Owner", kind: errs.KindInvalid, code: "invalid_enum", field: "role"},
		{name: "empty role", user: "admin", role: "", kind: errs.KindInvalid, code: "invalid_enum", field: "role"},
		{name: "junk role", user: "admin", role: "superadmin", kind: errs.KindInvalid, code: "invalid_enum", field: "role"},
		{name: "owner target", user: "owner", role: "admin", kind: errs.KindConflict, code: "owner_immutable", field: "user_id"},
		{name: "owner target to viewer", user: "owner", role: "viewer", kind: errs.KindConflict, code: "owner_immutable", field: "user_id"},
		{name: "unknown member", user: "ghost", role: "admin", kind: errs.KindNotFound, code: "member_not_found", field: ""},
		{name: "empty user id", user: "", role: "admin", kind: errs.KindNotFound, code: "member_not_found", field: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newState(t, map[string]tenant.Role{
				"admin": tenant.RoleAdmin, "editor": tenant.RoleEditor, "viewer": tenant.RoleViewer,
			})
			before := snapshotRoles(s)
			m, err := s.ChangeRole(tc.user, tc.role)
			if tc.code != "" {
				wantErr(t, err, tc.kind, tc.code, tc.field)
				if m != nil {
					t.Errorf("got member %+v with an error", m)
				}
				if got := snapshotRoles(s); !reflect.DeepEqual(got, before) {
					t.Errorf("failed ChangeRole changed roles: %v → %v", before, got)
				}
				return
			}
			wantNoErr(t, err)
			if m == nil || m.UserID != tc.user || m.Role != tc.wantRole {
				t.Fatalf("ChangeRole returned %+v, want %s as %s", m, tc.user, tc.wantRole)
			}
			if s.Members[tc.user].Role != tc.wantRole {
				t.Fatalf("stored role = %s, want %s", s.Members[tc.user].Role, tc.wantRole)
			}
			if countOwners(s) != 1 || s.Owner().UserID != "owner" {
				t.Fatalf("owner changed: %+v", s.Owner())
			}
		})
	}
}

func snapshotRoles(s *tenant.State) map[string]tenant.Role {
	out := map[string]tenant.Role{}
	for id, m := range s.Members {
		out[id] = m.Role
	}
	return out
}

func TestRemoveMember(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		user  string
		kind  errs.Kind
		code  string
		field string
	}{
		{name: "viewer", user: "viewer"},
		{name: "admin", user: "admin"},
		{name: "owner refused", user: "owner", kind: errs.KindConflict, code: "owner_immutable", field: "user_id"},
		{name: "unknown", user: "ghost", kind: errs.KindNotFound, code: "member_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newState(t, map[string]tenant.Role{"admin": tenant.RoleAdmin, "viewer": tenant.RoleViewer})
			err := s.RemoveMember(tc.user)
			if tc.code != "" {
				wantErr(t, err, tc.kind, tc.code, tc.field)
				if len(s.Members) != 3 {
					t.Fatalf("failed RemoveMember changed members: %v", snapshotRoles(s))
				}
				return
			}
			wantNoErr(t, err)
			if _, ok := s.Members[tc.user]; ok || len(s.Members) != 2 {
				t.Fatalf("member %s still present: %v", tc.user, snapshotRoles(s))
			}
			wantErr(t, s.RemoveMember(tc.user), errs.KindNotFound, "member_not_found", "")
			wantErr(t, tenant.Authorize(s, tenant.Caller{UserID: tc.user}, tenant.CapRead),
				errs.KindNotFound, "organization_not_found", "")
		})
	}
}

func TestTransferOwnership(t *testing.T) {
	t.Parallel()
	build := func() *tenant.State {
		return newState(t, map[string]tenant.Role{
			"admin": tenant.RoleAdmin, "editor": tenant.RoleEditor, "viewer": tenant.RoleViewer,
		})
	}
	for _, target := range []string{"admin", "editor", "viewer"} {
		t.Run("to "+target, func(t *testing.T) {
			t.Parallel()
			s := build()
			removed, err := s.TransferOwnership(target)
			wantNoErr(t, err)
			if removed != "owner" {
				t.Errorf("removed = %q, want owner", removed)
			}
			if _, ok := s.Members["owner"]; ok {
				t.Error("previous owner is still a member")
			}
			if countOwners(s) != 1 || s.Owner().UserID != target {
				t.Fatalf("owners = %d, Owner() = %+v; want exactly %s", countOwners(s), s.Owner(), target)
			}
			if len(s.Members) != 3 {
				t.Errorf("members = %v, want the three others", snapshotRoles(s))
			}
			for id, r := range map[string]tenant.Role{"admin": tenant.RoleAdmin, "editor": tenant.RoleEditor, "viewer": tenant.RoleViewer} {
				if id != target && s.Members[id].Role != r {
					t.Errorf("bystander %s role changed to %s", id, s.Members[id].Role)
				}
			}
			// The new Owner is now immutable and holds owner-only capabilities.
			if _, err := s.ChangeRole(target, "admin"); err == nil {
				t.Error("new owner's role could be changed")
			}
			wantNoErr(t, tenant.Authorize(s, tenant.Caller{UserID: target}, tenant.CapOwnerOnly))
			wantErr(t, tenant.Authorize(s, tenant.Caller{UserID: "owner"}, tenant.CapRead),
				errs.KindNotFound, "organization_not_found", "")
		})
	}

	bad := []struct {
		name, target, code string
	}{
		{"empty", "", "required"},
		{"non-member", "ghost", "not_a_member"},
		{"already owner", "owner", "already_owner"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := build()
			before := snapshotRoles(s)
			removed, err := s.TransferOwnership(tc.target)
			wantErr(t, err, errs.KindInvalid, tc.code, "user_id")
			if removed != "" {
				t.Errorf("removed = %q on error", removed)
			}
			if got := snapshotRoles(s); !reflect.DeepEqual(got, before) {
				t.Errorf("failed transfer changed members: %v → %v", before, got)
			}
		})
	}

	t.Run("chain of transfers", func(t *testing.T) {
		t.Parallel()
		s := build()
		for _, next := range []string{"viewer", "admin", "editor"} {
			if _, err := s.TransferOwnership(next); err != nil {
				t.Fatalf("transfer to %s: %v", next, err)
			}
			if countOwners(s) != 1 || s.Owner().UserID != next {
				t.Fatalf("after transfer to %s: owner %+v, %d owners", next, s.Owner(), countOwners(s))
			}
		}
		if len(s.Members) != 1 {
			t.Fatalf("members = %v, want only the last owner", snapshotRoles(s))
		}
		_, err := s.TransferOwnership("editor")
		wantErr(t, err, errs.KindInvalid, "already_owner", "user_id")
	})
}

// invFor builds the caller-supplied part of an invitation.
func invFor(id, emailIdx string) tenant.Invitation {
	return tenant.Invitation{
		ID:          id,
		EmailIndex:  emailIdx,
		EmailSealed: "sealed:" + emailIdx,
		TokenID:     "tok-" + id,
		TokenHash:   []byte("hash-" + id),
		InvitedBy:   "owner",
	}
}

func TestInvite(t *testing.T) {
	t.Parallel()
	roleCases := []struct {
		role string
		want tenant.Role
		code string
	}{
		{"", tenant.RoleViewer, ""},
		{"viewer", tenant.RoleViewer, ""},
		{"editor", tenant.RoleEditor, ""},
		{"admin", tenant.RoleAdmin, ""},
		{"Admin", tenant.RoleAdmin, ""},
		{" EDITOR ", tenant.RoleEditor, ""},
		{"owner", "", "invalid_enum"},
		{"OWNER", "", "invalid_enum"},
		{"root", "", "invalid_enum"},
	}
	for _, tc := range roleCases {
		t.Run(fmt.Sprintf("role %q", tc.role), func(t *testing.T) {
			t.Parallel()
			s := newState(t, nil)
			in := invFor("inv1", "idx-new")
			in.Status = tenant.InviteAccepted  // ignored
			in.Role = tenant.RoleOwner         // ignored
			in.CreatedAt = t0.Add(-100 * week) // ignored
			in.ExpiresAt = t0.Add(100 * week)  // ignored
			got, err := s.Invite(in, tc.role, t0)
			if tc.code != "" {
				wantErr(t, err, errs.KindInvalid, tc.code, "role")
				if len(s.Invitations) != 0 {
					t.Fatal("refused invitation was stored")
				}
				return
			}
			wantNoErr(t, err)
			if got.Role != tc.want {
				t.Errorf("Role = %s, want %s", got.Role, tc.want)
			}
			if got.Status != tenant.InvitePending || got.StatusAt(t0) != tenant.InvitePending {
				t.Errorf("Status = %s, want pending", got.Status)
			}
			if !got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(7*24*time.Hour)) {
				t.Errorf("CreatedAt/ExpiresAt = %v/%v, want %v/%v", got.CreatedAt, got.ExpiresAt, t0, t0.Add(week))
			}
			if got.ID != "inv1" || got.EmailIndex != "idx-new" || got.EmailSealed != "sealed:idx-new" ||
				got.TokenID != "tok-inv1" || !bytes.Equal(got.TokenHash, []byte("hash-inv1")) || got.InvitedBy != "owner" {
				t.Errorf("caller fields not kept: %+v", got)
			}
			if s.Invitations["inv1"] != got {
				t.Error("returned invitation is not the stored one")
			}
			if s.InvitationByToken("tok-inv1") != got {
				t.Error("InvitationByToken does not find the new invitation")
			}
		})
	}

	t.Run("TTL is 7 days", func(t *testing.T) {
		t.Parallel()
		if tenant.InvitationTTL != 7*24*time.Hour {
			t.Fatalf("InvitationTTL = %v", tenant.InvitationTTL)
		}
	})

	t.Run("already a member by email index", func(t *testing.T) {
		t.Parallel()
		s := newState(t, map[string]tenant.Role{"viewer": tenant.RoleViewer})
		for _, idx := range []string{"idx-viewer", "idx-owner"} {
			_, err := s.Invite(invFor("inv-"+idx, idx), "editor", t0)
			wantErr(t, err, errs.KindConflict, "already_member", "email")
		}
		if len(s.Invitations) != 0 {
			t.Fatal("conflicting invitation stored")
		}
	})

	t.Run("duplicate pending", func(t *testing.T) {
		t.Parallel()
		s := newState(t, nil)
		if _, err := s.Invite(invFor("inv1", "idx-x"), "", t0); err != nil {
			t.Fatal(err)
		}
		_, err := s.Invite(invFor("inv2", "idx-x"), "admin", t0.Add(time.Hour))
		wantErr(t, err, errs.KindConflict, "invitation_pending", "email")
		// still pending one nanosecond before expiry
		_, err = s.Invite(invFor("inv3", "idx-x"), "", t0.Add(week-time.Nanosecond))
		wantErr(t, err, errs.KindConflict, "invitation_pending", "email")
		if len(s.Invitations) != 1 {
			t.Fatalf("invitations = %d, want 1", len(s.Invitations))
		}
		// a different address is fine
		if _, err := s.Invite(invFor("inv4", "idx-y"), "", t0.Add(time.Hour)); err != nil {
			t.Fatalf("invite of another address: %v", err)
		}
	})

	t.Run("new invitation allowed after the previous expired", func(t *testing.T) {
		t.Parallel()
		s := newState(t, nil)
		if _, err := s.Invite(invFor("inv1", "idx-x"), "editor", t0); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(week) // exactly at expiry
		got, err := s.Invite(invFor("inv2", "idx-x"), "admin", now)
		wantNoErr(t, err)
		if got.Role != tenant.RoleAdmin || !got.ExpiresAt.Equal(now.Add(week)) {
			t.Errorf("new invitation = %+v", got)
		}
		pend := s.PendingInvitations(now)
		if len(pend) != 1 || pend[0].ID != "inv2" {
			t.Fatalf("pending = %v, want only inv2", ids(pend))
		}
	})

	t.Run("new invitation allowed after the previous was cancelled", func(t *testing.T) {
		t.Parallel()
		s := newState(t, nil)
		if _, err := s.Invite(invFor("inv1", "idx-x"), "", t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Cancel("inv1", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		_, err := s.Invite(invFor("inv2", "idx-x"), "", t0.Add(2*time.Minute))
		wantNoErr(t, err)
	})

	t.Run("re-invite after accepted member was removed", func(t *testing.T) {
		t.Parallel()
		s := newState(t, nil)
		inv, err := s.Invite(invFor("inv1", "idx-x"), "", t0)
		if err != nil {
			t.Fatal(err)
		}
		u := member("x")
		u.EmailIndex = "idx-x"
		if _, err := s.Accept(inv, u, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		_, err = s.Invite(invFor("inv2", "idx-x"), "", t0.Add(2*time.Hour))
		wantErr(t, err, errs.KindConflict, "already_member", "email")
		if err := s.RemoveMember("x"); err != nil {
			t.Fatal(err)
		}
		_, err = s.Invite(invFor("inv3", "idx-x"), "", t0.Add(3*time.Hour))
		wantNoErr(t, err)
	})
}

func TestInvitePrunesOldInvitations(t *testing.T) {
	t.Parallel()
	s := newState(t, nil)
	mustInvite := func(id, idx string, now time.Time) *tenant.Invitation {
		t.Helper()
		inv, err := s.Invite(invFor(id, idx), "", now)
		if err != nil {
			t.Fatalf("invite %s: %v", id, err)
		}
		return inv
	}
	mustInvite("expired-old", "idx-a", t0)        // expires t0+7d
	c := mustInvite("cancelled-old", "idx-b", t0) // cancelled, ExpiresAt t0+7d
	if _, err := s.Cancel(c.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	mustInvite("recent", "idx-c", t0.Add(10*24*time.Hour)) // expires t0+17d

	// Exactly 30 days after expiry: kept.
	mustInvite("probe1", "idx-d", t0.Add(week+30*24*time.Hour))
	if _, ok := s.Invitations["expired-old"]; !ok {
		t.Fatal("invitation pruned exactly 30 days after expiry; want kept")
	}
	// More than 30 days after expiry: the two old ones go, the rest stay.
	mustInvite("probe2", "idx-e", t0.Add(week+30*24*time.Hour+time.Second))
	for _, id := range []string{"expired-old", "cancelled-old"} {
		if _, ok := s.Invitations[id]; ok {
			t.Errorf("%s not pruned", id)
		}
	}
	for _, id := range []string{"recent", "probe1", "probe2"} {
		if _, ok := s.Invitations[id]; !ok {
			t.Errorf("%s pruned, want kept", id)
		}
	}
}

func TestInvitationStatusAt(t *testing.T) {
	t.Parallel()
	exp := t0.Add(week)
	tests := []struct {
		name   string
		status tenant.InvitationStatus
		now    time.Time
		want   tenant.InvitationStatus
	}{
		{"pending long before", tenant.InvitePending, t0, tenant.InvitePending},
		{"pending 1ns before", tenant.InvitePending, exp.Add(-time.Nanosecond), tenant.InvitePending},
		{"pending exactly at expiry", tenant.InvitePending, exp, tenant.InviteExpired},
		{"pending after expiry", tenant.InvitePending, exp.Add(time.Hour), tenant.InviteExpired},
		{"pending, expiry in another zone", tenant.InvitePending, exp.In(time.FixedZone("X", 5*3600)), tenant.InviteExpired},
		{"accepted after expiry", tenant.InviteAccepted, exp.Add(time.Hour), tenant.InviteAccepted},
		{"accepted before expiry", tenant.InviteAccepted, t0, tenant.InviteAccepted},
		{"cancelled after expiry", tenant.InviteCancelled, exp.Add(time.Hour), tenant.InviteCancelled},
		{"cancelled before expiry", tenant.InviteCancelled, t0, tenant.InviteCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inv := tenant.Invitation{Status: tc.status, CreatedAt: t0, ExpiresAt: exp}
			if got := inv.StatusAt(tc.now); got != tc.want {
				t.Fatalf("StatusAt = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestResend(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) *tenant.State {
		s := newState(t, nil)
		if _, err := s.Invite(invFor("inv1", "idx-x"), "editor", t0); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, at := range []struct {
		name string
		now  time.Time
	}{
		{"while pending", t0.Add(3 * 24 * time.Hour)},
		{"exactly at expiry", t0.Add(week)},
		{"after expiry", t0.Add(20 * 24 * time.Hour)},
	} {
		t.Run(at.name, func(t *testing.T) {
			t.Parallel()
			s := setup(t)
			got, err := s.Resend("inv1", "tok-new", []byte("hash-new"), at.now)
			wantNoErr(t, err)
			if got != s.Invitations["inv1"] {
				t.Error("Resend returned a different object than the stored one")
			}
			if got.TokenID != "tok-new" || !bytes.Equal(got.TokenHash, []byte("hash-new")) {
				t.Errorf("token not replaced: %s %s", got.TokenID, got.TokenHash)
			}
			if !got.ExpiresAt.Equal(at.now.Add(7 * 24 * time.Hour)) {
				t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, at.now.Add(week))
			}
			if got.StatusAt(at.now) != tenant.InvitePending {
				t.Errorf("status = %s, want pending", got.StatusAt(at.now))
			}
			if !got.CreatedAt.Equal(t0) || got.Role != tenant.RoleEditor || got.EmailIndex != "idx-x" {
				t.Errorf("Resend changed other fields: %+v", got)
			}
			if s.InvitationByToken("tok-inv1") != nil {
				t.Error("old token still finds the invitation")
			}
			if s.InvitationByToken("tok-new") != got {
				t.Error("new token does not find the invitation")
			}
			// usable until the new expiry
			u := member("x")
			u.EmailIndex = "idx-x"
			m, err := s.Accept(got, u, at.now.Add(week-time.Second))
			wantNoErr(t, err)
			if m.Role != tenant.RoleEditor {
				t.Errorf("accepted role = %s", m.Role)
			}
		})
	}

	t.Run("unknown", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		_, err := s.Resend("nope", "tok", nil, t0)
		wantErr(t, err, errs.KindNotFound, "invitation_not_found", "")
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		if _, err := s.Cancel("inv1", t0); err != nil {
			t.Fatal(err)
		}
		_, err := s.Resend("inv1", "tok", nil, t0)
		wantErr(t, err, errs.KindNotFound, "invitation_not_found", "")
		if s.Invitations["inv1"].TokenID != "tok-inv1" {
			t.Error("failed Resend replaced the token")
		}
	})
	t.Run("accepted", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		u := member("x")
		u.EmailIndex = "idx-x"
		if _, err := s.Accept(s.Invitations["inv1"], u, t0); err != nil {
			t.Fatal(err)
		}
		_, err := s.Resend("inv1", "tok", nil, t0)
		wantErr(t, err, errs.KindNotFound, "invitation_not_found", "")
	})
}

func TestResendCannotCreateSecondPendingInvitation(t *testing.T) {
	t.Parallel()
	s := newState(t, nil)
	if _, err := s.Invite(invFor("old", "idx-x"), "viewer", t0); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(8 * 24 * time.Hour) // "old" expired
	if _, err := s.Invite(invFor("new", "idx-x"), "admin", now); err != nil {
		t.Fatal(err)
	}
	_, err := s.Resend("old", "tok-old2", []byte("h"), now)
	pending := 0
	for _, inv := range s.PendingInvitations(now) {
		if inv.EmailIndex == "idx-x" {
			pending++
		}
	}
	if pending > 1 {
		t.Fatalf("Resend err=%v; %d pending invitations for one email, want at most 1", err, pending)
	}
	if err != nil {
		wantErr(t, err, errs.KindConflict, "invitation_pending", "email")
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	s := newState(t, nil)
	inv, err := s.Invite(invFor("inv1", "idx-x"), "admin", t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Cancel("inv1", t0.Add(time.Minute))
	wantNoErr(t, err)
	if got != inv || got.Status != tenant.InviteCancelled || got.StatusAt(t0.Add(time.Minute)) != tenant.InviteCancelled {
		t.Fatalf("after Cancel: %+v", got)
	}
	if len(s.PendingInvitations(t0.Add(time.Minute))) != 0 {
		t.Error("cancelled invitation still pending")
	}

	u := member("x")
	u.EmailIndex = "idx-x"
	_, err = s.Accept(inv, u, t0.Add(2*time.Minute))
	wantErr(t, err, errs.KindNotFound, "invitation_not_found", "")
	if _, ok := s.Members["x"]; ok {
		t.Error("accepting a cancelled invitation added a member")
	}

	_, err = s.Cancel("inv1", t0.Add(3*time.Minute))
	wantErr(t, err, errs.KindNotFound, "invitation_not_found", "")
	_, err = s.Cancel("nope", t0)
	wantErr(t, err, errs.KindNotFound, "invitation_not_found", "")

	t.Run("expired invitation can be cancelled", func(t *testing.T) {
		t.Parallel()
		s := newState(t, nil)
		if _, err := s.Invite(invFor("inv1", "idx-x"), "", t0); err != nil {
			t.Fatal(err)
		}
		got, err := s.Cancel("inv1", t0.Add(8*24*time.Hour))
		wantNoErr(t, err)
		if got.Status != tenant.InviteCancelled {
			t.Fatalf("status = %s", got.Status)
		}
	})
	t.Run("accepted invitation cannot be cancelled", func(t *testing.T) {
		t.Parallel()
		s := newState(t, nil)
		inv, err := s.Invite(invFor("inv1", "idx-x"), "", t0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Accept(inv, u, t0); err != nil {
			t.Fatal(err)
		}
		_, err = s.Cancel("inv1", t0)
		wantErr(t, err, errs.KindNotFound, "invitation_not_found", "")
		if inv.Status != tenant.InviteAccepted {
			t.Fatalf("status = %s", inv.Status)
		}
	})
}

func TestAccept(t *testing.T) {
	t.Parallel()
	type fixture struct {
		s   *tenant.State
		inv *tenant.Invitation
	}
	setup := func(t *testing.T) fixture {
		s := newState(t, map[string]tenant.Role{"viewer": tenant.RoleViewer})
		inv, err := s.Invite(invFor("inv1", "idx-new"), "editor", t0)
		if err != nil {
			t.Fatal(err)
		}
		return fixture{s, inv}
	}
	invitee := func() tenant.Member {
		u := member("new")
		u.EmailIndex = "idx-new"
		u.Role = tenant.RoleOwner              // must be ignored
		u.JoinedAt = t0.Add(-1000 * time.Hour) // must be ignored
		return u
	}

	t.Run("success", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		now := t0.Add(2 * 24 * time.Hour)
		m, err := f.s.Accept(f.inv, invitee(), now)
		wantNoErr(t, err)
		if m.UserID != "new" || m.Role != tenant.RoleEditor || !m.JoinedAt.Equal(now) ||
			m.EmailIndex != "idx-new" || m.Name != "User new" || m.EmailSealed != "sealed-new" {
			t.Fatalf("member = %+v", m)
		}
		if f.s.Members["new"] != m {
			t.Error("returned member is not the stored one")
		}
		if f.inv.Status != tenant.InviteAccepted || f.s.Invitations["inv1"].StatusAt(now) != tenant.InviteAccepted {
			t.Errorf("invitation status = %s, want accepted", f.inv.Status)
		}
		if countOwners(f.s) != 1 || f.s.Owner().UserID != "owner" {
			t.Errorf("owner changed: %+v", f.s.Owner())
		}
		if len(f.s.PendingInvitations(now)) != 0 {
			t.Error("accepted invitation still pending")
		}
		wantNoErr(t, tenant.Authorize(f.s, tenant.Caller{UserID: "new"}, tenant.CapEditConfig))
		wantErr(t, tenant.Authorize(f.s, tenant.Caller{UserID: "new"}, tenant.CapManageOrg), errs.KindForbidden, "forbidden", "")

		// accepting again is not possible
		_, err = f.s.Accept(f.inv, invitee(), now)
		wantErr(t, err, errs.KindNotFound, "invitation_not_found", "")
	})

	t.Run("1ns before expiry", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		_, err := f.s.Accept(f.inv, invitee(), t0.Add(week-time.Nanosecond))
		wantNoErr(t, err)
	})

	bad := []struct {
		name  string
		user  func() tenant.Member
		now   time.Time
		kind  errs.Kind
		code  string
		field string
	}{
		{"email mismatch", func() tenant.Member {
			u := invitee()
			u.EmailIndex = "idx-other"
			return u
		}, t0.Add(time.Hour), errs.KindForbidden, "email_mismatch", ""},
		{"empty email index", func() tenant.Member {
			u := invitee()
			u.EmailIndex = ""
			return u
		}, t0.Add(time.Hour), errs.KindForbidden, "email_mismatch", ""},
		{"expired exactly at ExpiresAt", invitee, t0.Add(week), errs.KindGone, "invitation_expired", ""},
		{"expired long after", invitee, t0.Add(30 * 24 * time.Hour), errs.KindGone, "invitation_expired", ""},
		{"already member (same user id)", func() tenant.Member {
			u := member("viewer")
			u.EmailIndex = "idx-new"
			return u
		}, t0.Add(time.Hour), errs.KindConflict, "already_member", ""},
		{"owner accepting", func() tenant.Member {
			u := member("owner")
			u.EmailIndex = "idx-new"
			return u
		}, t0.Add(time.Hour), errs.KindConflict, "already_member", ""},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			before := snapshotRoles(f.s)
			m, err := f.s.Accept(f.inv, tc.user(), tc.now)
			wantErr(t, err, tc.kind, tc.code, tc.field)
			if m != nil {
				t.Errorf("member %+v returned with an error", m)
			}
			if got := snapshotRoles(f.s); !reflect.DeepEqual(got, before) {
				t.Errorf("failed Accept changed members: %v → %v", before, got)
			}
			if f.inv.Status != tenant.InvitePending {
				t.Errorf("failed Accept changed invitation status to %s", f.inv.Status)
			}
		})
	}

	t.Run("expired then resent can be accepted", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		late := t0.Add(10 * 24 * time.Hour)
		_, err := f.s.Accept(f.inv, invitee(), late)
		wantErr(t, err, errs.KindGone, "invitation_expired", "")
		if _, err := f.s.Resend("inv1", "tok-2", []byte("h2"), late); err != nil {
			t.Fatal(err)
		}
		m, err := f.s.Accept(f.inv, invitee(), late.Add(time.Hour))
		wantNoErr(t, err)
		if m.Role != tenant.RoleEditor {
			t.Errorf("role = %s", m.Role)
		}
	})
}

func ids(invs []*tenant.Invitation) []string {
	out := make([]string, len(invs))
	for i, inv := range invs {
		out[i] = inv.ID
	}
	return out
}

func TestPendingInvitations(t *testing.T) {
	t.Parallel()
	s := newState(t, nil)
	type step struct {
		id  string
		at  time.Time
		idx string
	}
	steps := []step{
		{"c", t0.Add(2 * time.Hour), "idx-c"},
		{"a", t0, "idx-a"},
		{"z", t0.Add(time.Hour), "idx-z"},
		{"b", t0.Add(time.Hour), "idx-b"}, // same time as z: ordered by id
		{"y", t0.Add(3 * time.Hour), "idx-y"},
		{"x", t0.Add(4 * time.Hour), "idx-x"},
	}
	for _, st := range steps {
		if _, err := s.Invite(invFor(st.id, st.idx), "", st.at); err != nil {
			t.Fatalf("invite %s: %v", st.id, err)
		}
	}
	if _, err := s.Cancel("y", t0.Add(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	u := member("ux")
	u.EmailIndex = "idx-x"
	if _, err := s.Accept(s.Invitations["x"], u, t0.Add(5*time.Hour)); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		now  time.Time
		want []string
	}{
		{"before any expiry", t0.Add(6 * time.Hour), []string{"a", "b", "z", "c"}},
		{"a expires exactly", t0.Add(week), []string{"b", "z", "c"}},
		{"b and z expired", t0.Add(week + time.Hour), []string{"c"}},
		{"all expired", t0.Add(week + 2*time.Hour), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for range 20 { // map order is random: ordering must be stable anyway
				got := ids(s.PendingInvitations(tc.now))
				if len(got) == 0 && len(tc.want) == 0 {
					continue
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("PendingInvitations(%v) = %v, want %v", tc.now, got, tc.want)
				}
			}
		})
	}

	t.Run("empty state", func(t *testing.T) {
		t.Parallel()
		if got := newState(t, nil).PendingInvitations(t0); len(got) != 0 {
			t.Fatalf("got %v", ids(got))
		}
	})
}

func TestInvitationByToken(t *testing.T) {
	t.Parallel()
	s := newState(t, nil)
	for _, id := range []string{"i1", "i2"} {
		if _, err := s.Invite(invFor(id, "idx-"+id), "", t0); err != nil {
			t.Fatal(err)
		}
	}
	if inv := s.InvitationByToken("tok-i2"); inv == nil || inv.ID != "i2" {
		t.Fatalf("InvitationByToken(tok-i2) = %+v", inv)
	}
	if inv := s.InvitationByToken("tok-nope"); inv != nil {
		t.Fatalf("InvitationByToken(tok-nope) = %+v", inv)
	}
}

// TestOwnerInvariantRandomized drives a State through random operation
// sequences and checks after every step that there is exactly one Owner, that
// every member has a known role, and that errors are *errs.Error values.
func TestOwnerInvariantRandomized(t *testing.T) {
	t.Parallel()
	users := []string{"owner", "u1", "u2", "u3", "u4", "u5", "u6", "ghost", ""}
	roles := []string{"admin", "editor", "viewer", "owner", "OWNER", "", "bogus", "Admin"}
	for seed := uint64(1); seed <= 25; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, seed*7919))
			s := tenant.NewState(testOrg(), member("owner"))
			now := t0
			pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
			invIDs := func() []string {
				out := make([]string, 0, len(s.Invitations))
				for id := range s.Invitations {
					out = append(out, id)
				}
				sort.Strings(out)
				return append(out, "missing")
			}
			var log []string
			for step := 0; step < 400; step++ {
				var err error
				var op string
				switch r.IntN(9) {
				case 0:
					u, ro := pick(users), pick(roles)
					op = fmt.Sprintf("ChangeRole(%q,%q)", u, ro)
					_, err = s.ChangeRole(u, ro)
				case 1:
					u := pick(users)
					op = fmt.Sprintf("RemoveMember(%q)", u)
					err = s.RemoveMember(u)
				case 2:
					u := pick(users)
					op = fmt.Sprintf("TransferOwnership(%q)", u)
					_, err = s.TransferOwnership(u)
				case 3, 4:
					u, ro := pick(users), pick(roles)
					id := fmt.Sprintf("inv%d", step)
					op = fmt.Sprintf("Invite(%s,%q,%q)", id, u, ro)
					_, err = s.Invite(invFor(id, "idx-"+u), ro, now)
				case 5:
					id, u := pick(invIDs()), pick(users)
					op = fmt.Sprintf("Accept(%s,%q)", id, u)
					if inv := s.Invitations[id]; inv != nil {
						m := member(u)
						if r.IntN(4) == 0 {
							m.EmailIndex = "idx-wrong"
						} else {
							m.EmailIndex = inv.EmailIndex
						}
						m.Role = tenant.RoleOwner // a forged role must never stick
						var got *tenant.Member
						got, err = s.Accept(inv, m, now)
						if err == nil && got.Role == tenant.RoleOwner {
							t.Fatalf("step %d: Accept created an owner", step)
						}
					}
				case 6:
					id := pick(invIDs())
					op = fmt.Sprintf("Resend(%s)", id)
					_, err = s.Resend(id, fmt.Sprintf("tok-r%d", step), nil, now)
				case 7:
					id := pick(invIDs())
					op = fmt.Sprintf("Cancel(%s)", id)
					_, err = s.Cancel(id, now)
				case 8:
					d := time.Duration(r.IntN(72)) * time.Hour
					op = fmt.Sprintf("advance %v", d)
					now = now.Add(d)
				}
				log = append(log, fmt.Sprintf("%s → %v", op, err))
				if err != nil {
					if e := errs.As(err); e.Kind == errs.KindInternal || e.Code == "" {
						t.Fatalf("step %d %s: unexpected error %v", step, op, err)
					}
				}
				if n := countOwners(s); n != 1 {
					t.Fatalf("step %d: %d owners after %s\nlog:\n%v", step, n, op, log)
				}
				o := s.Owner()
				if o == nil || s.Members[o.UserID] != o {
					t.Fatalf("step %d: Owner() = %+v not in members", step, o)
				}
				for id, m := range s.Members {
					if _, ok := tenant.ParseRole(string(m.Role)); !ok || m.UserID != id {
						t.Fatalf("step %d: bad member %q: %+v", step, id, m)
					}
				}
			}
		})
	}
}
