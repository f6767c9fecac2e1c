package api_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailspark/trailspark/api/apitest"
)

var apitestNoUserOrgs = apitest.Options{DisallowUserOrgCreation: true}

const week = 7 * 24 * time.Hour

func (e *tenv) accept(org string, u *user, token string) resp {
	e.t.Helper()
	return e.do("POST", "/api/v1/orgs/"+org+"/invitations/accept", u.Token, map[string]string{"token": token})
}

func (e *tenv) pending(org, token string) []invitationView {
	e.t.Helper()
	var l list[invitationView]
	e.ok(e.do("GET", "/api/v1/orgs/"+org+"/invitations", token, nil), http.StatusOK, &l)
	return l.Items
}

// relogin starts new sessions after the clock jumped past the session TTL.
func (e *tenv) relogin(us ...*user) {
	e.t.Helper()
	for _, u := range us {
		e.login(u)
	}
}

func TestInvitations(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner")
	o := e.org(owner, "Invite Co")
	inv := "/api/v1/orgs/" + o.ID + "/invitations/"

	t.Run("invite defaults to viewer; only the invited address may accept", func(t *testing.T) {
		e := e.at(t)
		alice, mallory := e.user("alice"), e.user("mallory")
		ic := e.invite(o.ID, owner.Token, alice.Email, "")
		now := e.n.Clock.Now()
		v := ic.Invitation
		if !strings.HasPrefix(ic.Token, "tsi_") || !strings.HasPrefix(v.ID, "inv_") || v.Role != "viewer" ||
			v.Status != "pending" || v.Email != alice.Email || v.InvitedBy != owner.ID ||
			!v.CreatedAt.Equal(now) || !v.ExpiresAt.Equal(now.Add(week)) {
			t.Errorf("invitation: %+v token %q", v, ic.Token)
		}
		if p := e.pending(o.ID, owner.Token); len(p) != 1 || p[0].ID != v.ID {
			t.Errorf("pending: %+v", p)
		}
		if strings.Contains(string(e.do("GET", "/api/v1/orgs/"+o.ID+"/invitations", owner.Token, nil).Body), ic.Token[4:]) {
			t.Error("the invitation list shows the token")
		}

		e.fails(e.accept(o.ID, mallory, ic.Token), 403, "email_mismatch", "")
		e.fails(e.do("GET", "/api/v1/orgs/"+o.ID, mallory.Token, nil), 404, "organization_not_found", "")

		var ar struct {
			Organization orgView `json:"organization"`
			Role         string  `json:"role"`
		}
		e.ok(e.accept(o.ID, alice, ic.Token), 200, &ar)
		if ar.Role != "viewer" || ar.Organization.ID != o.ID || ar.Organization.Role != "viewer" {
			t.Errorf("accept: %+v", ar)
		}
		var got orgView
		e.ok(e.do("GET", "/api/v1/orgs/"+o.ID, alice.Token, nil), 200, &got)
		if got.Role != "viewer" {
			t.Errorf("alice sees role %q", got.Role)
		}
		if p := e.pending(o.ID, owner.Token); len(p) != 0 {
			t.Errorf("accepted invitation still pending: %+v", p)
		}
		if r := memberRole(e, o.ID, alice.ID); r != "viewer" {
			t.Errorf("alice's member role %q", r)
		}
		// A used token is dead; a member cannot be invited again.
		e.fails(e.accept(o.ID, alice, ic.Token), 404, "invitation_not_found", "")
		e.fails(e.do("POST", inv[:len(inv)-1], owner.Token, map[string]string{"email": alice.Email}), 409, "already_member", "email")
		// Owner is never invitable; a pending address is not invited twice.
		e.fails(e.do("POST", inv[:len(inv)-1], owner.Token, map[string]string{"email": "x@example.test", "role": "owner"}),
			400, "invalid_enum", "role")
		e.invite(o.ID, owner.Token, "twice@example.test", "editor")
		e.fails(e.do("POST", inv[:len(inv)-1], owner.Token, map[string]string{"email": "twice@example.test"}),
			409, "invitation_pending", "email")
		e.fails(e.do("POST", inv[:len(inv)-1], owner.Token, map[string]string{"email": "not an email"}), 400, "invalid_format", "email")
		// Junk and unknown tokens are not found.
		e.fails(e.accept(o.ID, alice, "tsi_junk"), 404, "invitation_not_found", "")
		e.fails(e.do("POST", inv+"accept", e.n.OperatorToken, map[string]string{"token": ic.Token}), 400, "user_required", "token")
	})

	t.Run("resend gives a new token and a fresh 7 days", func(t *testing.T) {
		e := e.at(t)
		bob := e.user("bob")
		ic := e.invite(o.ID, owner.Token, bob.Email, "editor")
		created := e.n.Clock.Now()
		e.n.Clock.Advance(2*24*time.Hour + 3*time.Minute)
		e.fails(e.do("GET", "/api/v1/me", owner.Token, nil), 401, "token_expired", "") // sessions last 24 h
		e.relogin(owner, bob)
		var re invitationCreated
		e.ok(e.do("POST", inv+ic.Invitation.ID+"/resend", owner.Token, nil), 200, &re)
		now := e.n.Clock.Now()
		if re.Token == "" || re.Token == ic.Token || re.Invitation.ID != ic.Invitation.ID || re.Invitation.Status != "pending" ||
			re.Invitation.Role != "editor" {
			t.Errorf("resent: %+v", re)
		}
		if !re.Invitation.ExpiresAt.Equal(now.Add(week)) {
			t.Errorf("resent expires_at %v, want %v", re.Invitation.ExpiresAt, now.Add(week))
		}
		if !re.Invitation.CreatedAt.Equal(created) {
			t.Errorf("resend changed created_at to %v", re.Invitation.CreatedAt)
		}
		e.fails(e.accept(o.ID, bob, ic.Token), 404, "invitation_not_found", "")
		var ar struct {
			Role string `json:"role"`
		}
		e.ok(e.accept(o.ID, bob, re.Token), 200, &ar)
		if ar.Role != "editor" {
			t.Errorf("bob joined as %q", ar.Role)
		}
	})

	t.Run("cancel kills the token at once", func(t *testing.T) {
		e := e.at(t)
		carol := e.user("carol")
		ic := e.invite(o.ID, owner.Token, carol.Email, "admin")
		var v invitationView
		e.ok(e.do("POST", inv+ic.Invitation.ID+"/cancel", owner.Token, nil), 200, &v)
		if v.Status != "cancelled" {
			t.Errorf("cancelled invitation: %+v", v)
		}
		e.fails(e.accept(o.ID, carol, ic.Token), 404, "invitation_not_found", "")
		e.fails(e.do("POST", inv+ic.Invitation.ID+"/cancel", owner.Token, nil), 404, "invitation_not_found", "")
		e.fails(e.do("POST", inv+ic.Invitation.ID+"/resend", owner.Token, nil), 404, "invitation_not_found", "")
		for _, p := range e.pending(o.ID, owner.Token) {
			if p.ID == ic.Invitation.ID {
				t.Errorf("cancelled invitation listed: %+v", p)
			}
		}
		e.fails(e.do("GET", "/api/v1/orgs/"+o.ID, carol.Token, nil), 404, "organization_not_found", "")
		// Cancelling frees the address for a new invitation; addresses
		// compare without case.
		again := e.invite(o.ID, owner.Token, " "+strings.ToUpper(carol.Email), "")
		if again.Invitation.Email != carol.Email {
			t.Errorf("invitation email %q, want %q", again.Invitation.Email, carol.Email)
		}
		e.ok(e.accept(o.ID, carol, again.Token), 200, nil)
	})

	t.Run("expiry", func(t *testing.T) {
		e := e.at(t)
		dave, erin := e.user("dave"), e.user("erin")
		late := e.invite(o.ID, owner.Token, dave.Email, "")
		edge := e.invite(o.ID, owner.Token, erin.Email, "")
		e.n.Clock.Advance(week - time.Second)
		e.relogin(owner, dave, erin)
		e.ok(e.accept(o.ID, erin, edge.Token), 200, nil) // one second to spare
		e.n.Clock.Advance(2 * time.Second)
		e.fails(e.accept(o.ID, dave, late.Token), 410, "invitation_expired", "")
		for _, p := range e.pending(o.ID, owner.Token) {
			if p.ID == late.Invitation.ID {
				t.Errorf("expired invitation listed as pending: %+v", p)
			}
		}
		// Resending revives it.
		var re invitationCreated
		e.ok(e.do("POST", inv+late.Invitation.ID+"/resend", owner.Token, nil), 200, &re)
		if !re.Invitation.ExpiresAt.Equal(e.n.Clock.Now().Add(week)) || re.Invitation.Status != "pending" {
			t.Errorf("revived: %+v", re.Invitation)
		}
		e.ok(e.accept(o.ID, dave, re.Token), 200, nil)
	})
}

func TestMembers(t *testing.T) {
	e := newEnv(t)
	owner, admin, alice, dave := e.user("owner"), e.user("admin"), e.user("alice"), e.user("dave")
	o := e.org(owner, "Members Co")
	e.join(o.ID, owner.Token, admin, "admin")
	e.join(o.ID, owner.Token, alice, "viewer")
	e.join(o.ID, owner.Token, dave, "viewer")
	m := "/api/v1/orgs/" + o.ID + "/members/"

	t.Run("change role", func(t *testing.T) {
		e := e.at(t)
		var mv memberView
		e.ok(e.do("PATCH", m+alice.ID, admin.Token, map[string]string{"role": "editor"}), 200, &mv)
		if mv.UserID != alice.ID || mv.Role != "editor" || mv.Email != alice.Email || mv.Name != alice.Name {
			t.Errorf("changed member: %+v", mv)
		}
		var got orgView
		e.ok(e.do("GET", "/api/v1/orgs/"+o.ID, alice.Token, nil), 200, &got)
		if got.Role != "editor" {
			t.Errorf("alice sees role %q", got.Role)
		}
		e.fails(e.do("PATCH", m+alice.ID, admin.Token, map[string]string{"role": "owner"}), 400, "invalid_enum", "role")
		e.fails(e.do("PATCH", m+alice.ID, admin.Token, map[string]string{"role": "boss"}), 400, "invalid_enum", "role")
		e.fails(e.do("PATCH", m+"usr_nobody000000000000", admin.Token, map[string]string{"role": "viewer"}), 404, "member_not_found", "")
		// The editor may not promote herself.
		e.fails(e.do("PATCH", m+alice.ID, alice.Token, map[string]string{"role": "admin"}), 403, "forbidden", "")
	})

	t.Run("the owner is immutable", func(t *testing.T) {
		e := e.at(t)
		for _, tok := range []string{admin.Token, owner.Token, e.n.OperatorToken} {
			e.fails(e.do("PATCH", m+owner.ID, tok, map[string]string{"role": "admin"}), 409, "owner_immutable", "user_id")
			e.fails(e.do("DELETE", m+owner.ID, tok, nil), 409, "owner_immutable", "user_id")
		}
		if r := memberRole(e, o.ID, owner.ID); r != "owner" {
			t.Errorf("owner is now %q", r)
		}
	})

	t.Run("remove a member", func(t *testing.T) {
		e := e.at(t)
		e.ok(e.do("DELETE", m+alice.ID, admin.Token, nil), 204, nil)
		e.fails(e.do("GET", "/api/v1/orgs/"+o.ID, alice.Token, nil), 404, "organization_not_found", "")
		e.fails(e.do("GET", "/api/v1/orgs/"+o.ID+"/members", alice.Token, nil), 404, "organization_not_found", "")
		if r := memberRole(e, o.ID, alice.ID); r != "" {
			t.Errorf("removed member still listed as %q", r)
		}
		var l list[orgView]
		e.ok(e.do("GET", "/api/v1/orgs", alice.Token, nil), 200, &l)
		if len(l.Items) != 0 {
			t.Errorf("removed member still lists %+v", l.Items)
		}
		e.fails(e.do("DELETE", m+alice.ID, admin.Token, nil), 404, "member_not_found", "")
	})

	t.Run("a member leaves", func(t *testing.T) {
		e := e.at(t)
		e.ok(e.do("DELETE", m+dave.ID, dave.Token, nil), 204, nil)
		e.fails(e.do("GET", "/api/v1/orgs/"+o.ID, dave.Token, nil), 404, "organization_not_found", "")
		e.fails(e.do("DELETE", m+dave.ID, dave.Token, nil), 404, "organization_not_found", "")
		// The owner cannot leave without transferring first.
		e.fails(e.do("DELETE", m+owner.ID, owner.Token, nil), 409, "owner_immutable", "user_id")
	})

	t.Run("transfer ownership", func(t *testing.T) {
		e := e.at(t)
		tr := "/api/v1/orgs/" + o.ID + "/transfer-ownership"
		outsider := e.user("outsider")
		e.fails(e.do("POST", tr, owner.Token, map[string]string{"user_id": outsider.ID}), 400, "not_a_member", "user_id")
		e.fails(e.do("POST", tr, owner.Token, map[string]string{"user_id": owner.ID}), 400, "already_owner", "user_id")
		e.fails(e.do("POST", tr, owner.Token, map[string]string{}), 400, "required", "user_id")
		var res struct {
			Owner         memberView `json:"owner"`
			RemovedUserID string     `json:"removed_user_id"`
		}
		e.ok(e.do("POST", tr, owner.Token, map[string]string{"user_id": admin.ID}), 200, &res)
		if res.Owner.UserID != admin.ID || res.Owner.Role != "owner" || res.RemovedUserID != owner.ID {
			t.Errorf("transfer: %+v", res)
		}
		owners := 0
		for _, mv := range e.members(o.ID) {
			if mv.Role == "owner" {
				owners++
				if mv.UserID != admin.ID {
					t.Errorf("owner is %s, want %s", mv.UserID, admin.ID)
				}
			}
			if mv.UserID == owner.ID {
				t.Errorf("previous owner still a member: %+v", mv)
			}
		}
		if owners != 1 {
			t.Errorf("%d owners", owners)
		}
		e.fails(e.do("GET", "/api/v1/orgs/"+o.ID, owner.Token, nil), 404, "organization_not_found", "")
		var got orgView
		e.ok(e.do("GET", "/api/v1/orgs/"+o.ID, admin.Token, nil), 200, &got)
		if got.Role != "owner" {
			t.Errorf("new owner sees role %q", got.Role)
		}
	})

	t.Run("list my orgs shows my role", func(t *testing.T) {
		e := e.at(t)
		pat := e.user("pat")
		mine := e.org(pat, "Mine")
		e.join(o.ID, admin.Token, pat, "editor")
		var l list[orgView]
		e.ok(e.do("GET", "/api/v1/orgs", pat.Token, nil), 200, &l)
		roles := map[string]string{}
		for _, it := range l.Items {
			roles[it.ID] = it.Role
		}
		if len(l.Items) != 2 || roles[mine.ID] != "owner" || roles[o.ID] != "editor" {
			t.Errorf("my orgs: %+v", l.Items)
		}
		var me struct {
			User        struct{ ID string } `json:"user"`
			Memberships []struct {
				OrgID string `json:"org_id"`
				Role  string `json:"role"`
			} `json:"memberships"`
		}
		e.ok(e.do("GET", "/api/v1/me", pat.Token, nil), 200, &me)
		if me.User.ID != pat.ID || len(me.Memberships) != 2 {
			t.Errorf("me: %+v", me)
		}
		for _, ms := range me.Memberships {
			if roles[ms.OrgID] != ms.Role {
				t.Errorf("me: membership %+v, want role %q", ms, roles[ms.OrgID])
			}
		}
		// Paging: limit 1 gives a cursor to the second.
		var p1, p2 list[orgView]
		e.ok(e.do("GET", "/api/v1/orgs?limit=1", pat.Token, nil), 200, &p1)
		if len(p1.Items) != 1 || p1.NextCursor == "" {
			t.Fatalf("page 1: %+v", p1)
		}
		e.ok(e.do("GET", "/api/v1/orgs?limit=1&cursor="+p1.NextCursor, pat.Token, nil), 200, &p2)
		if len(p2.Items) != 1 || p2.NextCursor != "" || p2.Items[0].ID == p1.Items[0].ID {
			t.Errorf("page 2: %+v", p2)
		}
	})
}

func TestOrgCreation(t *testing.T) {
	e := newEnv(t)
	ann := e.user("ann")
	var opRole string // the role the operator's create reply claims

	t.Run("operator creates for a named owner", func(t *testing.T) {
		e := e.at(t)
		sub := e.sub("opmade")
		var ov orgView
		e.ok(e.do("POST", "/api/v1/orgs", e.n.OperatorToken, map[string]string{"name": "Operator Made", "subdomain": sub,
			"size": "1-10", "industry": "finance", "owner_email": "  " + strings.ToUpper(ann.Email) + " "}), 201, &ov)
		if ov.Subdomain != sub || ov.Industry != "Finance" || ov.Plan != "free" {
			t.Errorf("created: %+v", ov)
		}
		opRole = ov.Role
		var asOp orgView
		e.ok(e.do("GET", "/api/v1/orgs/"+ov.ID, e.n.OperatorToken, nil), 200, &asOp)
		if asOp.Role != "" {
			t.Errorf("the operator reads the org with role %q; it is no member", asOp.Role)
		}
		ms := e.members(ov.ID)
		if len(ms) != 1 || ms[0].UserID != ann.ID || ms[0].Role != "owner" || ms[0].Email != ann.Email {
			t.Errorf("members: %+v", ms)
		}
		var got orgView
		e.ok(e.do("GET", "/api/v1/orgs/"+ov.ID, ann.Token, nil), 200, &got)
		if got.Role != "owner" {
			t.Errorf("ann sees role %q", got.Role)
		}
	})

	t.Run("the operator's create reply claims no role", func(t *testing.T) {
		// docs/api.md: an organization's "role" is the caller's role; the
		// operator is no member, and GET as the operator has no role.
		if opRole != "" {
			t.Fatalf("POST /api/v1/orgs by the operator answers role %q; the operator is not a member", opRole)
		}
	})

	t.Run("owner_email rules", func(t *testing.T) {
		e := e.at(t)
		body := func(owner string) map[string]string {
			return map[string]string{"name": "X", "subdomain": e.sub("x"), "size": "1-10", "industry": "Other", "owner_email": owner}
		}
		before := e.orgIDs()
		e.fails(e.do("POST", "/api/v1/orgs", e.n.OperatorToken, body("")), 400, "required", "owner_email")
		e.fails(e.do("POST", "/api/v1/orgs", e.n.OperatorToken, body("nobody@example.test")), 400, "unknown_user", "owner_email")
		e.fails(e.do("POST", "/api/v1/orgs", ann.Token, body(ann.Email)), 400, "not_allowed", "owner_email")
		if after := e.orgIDs(); len(after) != len(before) {
			t.Errorf("failed creates made organizations: %v -> %v", before, after)
		}
	})

	t.Run("subdomains are unique and suggested", func(t *testing.T) {
		e := e.at(t)
		sub := e.sub("acme")
		mk := func(s string) resp {
			return e.do("POST", "/api/v1/orgs", ann.Token, map[string]string{"name": "Acme", "subdomain": s, "size": "1-10", "industry": "Retail"})
		}
		type check struct {
			Subdomain  string `json:"subdomain"`
			Available  bool   `json:"available"`
			Reason     string `json:"reason"`
			Suggestion string `json:"suggestion"`
		}
		var c check
		e.ok(e.do("GET", "/api/v1/orgs/subdomain-check?subdomain="+sub, ann.Token, nil), 200, &c)
		if !c.Available || c.Suggestion != sub {
			t.Errorf("free subdomain: %+v", c)
		}
		var first orgView
		e.ok(mk(sub), 201, &first)
		before := e.orgIDs()
		e.fails(mk(sub), 409, "subdomain_taken", "subdomain")
		e.fails(mk(strings.ToUpper(sub)), 409, "subdomain_taken", "subdomain")
		if after := e.orgIDs(); len(after) != len(before) {
			t.Errorf("a refused create made an organization")
		}
		e.ok(e.do("GET", "/api/v1/orgs/subdomain-check?subdomain="+sub, ann.Token, nil), 200, &c)
		if c.Available || c.Suggestion != sub+"-2" {
			t.Errorf("taken subdomain: %+v", c)
		}
		e.ok(mk(sub+"-2"), 201, nil)
		e.ok(e.do("GET", "/api/v1/orgs/subdomain-check?subdomain="+sub, ann.Token, nil), 200, &c)
		if c.Available || c.Suggestion != sub+"-3" {
			t.Errorf("after taking -2: %+v", c)
		}
		// Suggested from a name.
		e.ok(e.do("GET", "/api/v1/orgs/subdomain-check?name=Zürich+Widgets+AG", ann.Token, nil), 200, &c)
		if c.Subdomain != "zurich-widgets-ag" || !c.Available || c.Suggestion != "zurich-widgets-ag" {
			t.Errorf("from a name: %+v", c)
		}
		e.fails(e.do("GET", "/api/v1/orgs/subdomain-check", ann.Token, nil), 400, "required", "subdomain")
		// Deleting the organization frees its subdomain.
		e.ok(e.do("DELETE", "/api/v1/orgs/"+first.ID, ann.Token, nil), 204, nil)
		e.ok(e.do("GET", "/api/v1/orgs/subdomain-check?subdomain="+sub, ann.Token, nil), 200, &c)
		if !c.Available {
			t.Errorf("deleted org's subdomain: %+v", c)
		}
		e.ok(mk(sub), 201, nil)
	})

	t.Run("users may be barred from creating", func(t *testing.T) {
		e := newEnv(t, apitestNoUserOrgs).at(t)
		bo := e.user("bo")
		e.fails(e.do("POST", "/api/v1/orgs", bo.Token, map[string]string{"name": "No", "size": "1-10", "industry": "Other"}),
			403, "org_creation_disabled", "")
		e.ok(e.do("POST", "/api/v1/orgs", e.n.OperatorToken, map[string]string{"name": "Yes", "size": "1-10",
			"industry": "Other", "owner_email": bo.Email}), 201, nil)
	})
}

// TestConcurrentUniqueness: racing requests for one subdomain or one email
// leave exactly one winner.
func TestConcurrentUniqueness(t *testing.T) {
	e := newEnv(t)
	ann := e.user("ann")
	const n = 6
	race := func(do func(i int) (resp, error)) []resp {
		out := make([]resp, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i], errs[i] = do(i)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	count := func(rs []resp, okStatus int, code string) {
		t.Helper()
		won := 0
		for _, r := range rs {
			if r.Status == okStatus {
				won++
			} else {
				e.fails(r, 409, code, "-")
			}
		}
		if won != 1 {
			t.Errorf("%d winners, want 1", won)
		}
	}
	sub := e.sub("race")
	count(race(func(i int) (resp, error) {
		return e.send("POST", "/api/v1/orgs", ann.Token, map[string]string{"name": "Race", "subdomain": sub, "size": "1-10", "industry": "Other"})
	}), 201, "subdomain_taken")
	var l list[orgView]
	e.ok(e.do("GET", "/api/v1/orgs", ann.Token, nil), 200, &l)
	if len(l.Items) != 1 {
		t.Errorf("ann owns %d organizations after the race", len(l.Items))
	}
	count(race(func(i int) (resp, error) {
		return e.send("POST", "/api/v1/auth/register", "", map[string]string{"email": "racer@example.test",
			"password": "a long enough password", "name": "Racer"})
	}), 201, "email_taken")
}
