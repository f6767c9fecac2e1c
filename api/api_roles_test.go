package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/api"
)

// The callers of the role matrix, in column order.
type callerKind int

const (
	cNone     callerKind = iota // no Authorization header
	cViewer                     // member with role viewer
	cEditor                     // member with role editor
	cAdmin                      // member with role admin
	cOwner                      // the Owner
	cOperator                   // the operator token
	cOutsider                   // signed-in user of another organization
	cAPIKey                     // an sk_ key of this organization as bearer
	nCallers
)

var callerNames = [nCallers]string{"none", "viewer", "editor", "admin", "owner", "operator", "outsider", "sk_key"}

// roleFixture is one organization with a member of every role, plus the
// objects the routes act on.
type roleFixture struct {
	org    orgView
	target *user // a viewer whose role the PATCH member row changes
	inv    invitationCreated
	key    keyCreated
	// Data the signal, rule, lead and account rows read.
	ingest keyCreated // a signal_staging key for seeding signals
	sig    uint64     // a processed signal
	lead   string     // its lead
	rule   string     // a mapping rule
	acct   string     // an account
	porg   string     // a product org
	job    string     // a bulk import's job
	merge  string     // a merge of two fresh leads
}

// roleUsers are the people of the matrix; they belong to many fixtures.
type roleUsers struct {
	owner, admin, editor, viewer, outsider *user
	outsiderOrg                            orgView
}

func newRoleUsers(e *tenv) *roleUsers {
	u := &roleUsers{owner: e.user("owner"), admin: e.user("admin"), editor: e.user("editor"),
		viewer: e.user("viewer"), outsider: e.user("outsider")}
	u.outsiderOrg = e.org(u.outsider, "Elsewhere")
	return u
}

func (u *roleUsers) fixture(e *tenv) *roleFixture {
	e.t.Helper()
	f := &roleFixture{org: e.org(u.owner, "Matrix")}
	e.join(f.org.ID, u.owner.Token, u.admin, "admin")
	e.join(f.org.ID, u.owner.Token, u.editor, "editor")
	e.join(f.org.ID, u.owner.Token, u.viewer, "viewer")
	return f
}

// token is the bearer a caller sends ("" for none).
func (u *roleUsers) token(e *tenv, f *roleFixture, c callerKind) string {
	switch c {
	case cViewer:
		return u.viewer.Token
	case cEditor:
		return u.editor.Token
	case cAdmin:
		return u.admin.Token
	case cOwner:
		return u.owner.Token
	case cOperator:
		return e.n.OperatorToken
	case cOutsider:
		return u.outsider.Token
	case cAPIKey:
		if f.key.Key == "" {
			f.key = e.key(f.org.ID, u.owner.Token, nil)
		}
		return f.key.Key
	}
	return ""
}

// matrixRow is one management route. want is the literal expected status
// per caller column; min is the documented minimum role (docs/api.md, Roles).
type matrixRow struct {
	name   string
	method string
	path   string // {org}, {user}, {inv}, {key} are filled per cell
	min    string
	fresh  bool // destructive for the whole org: a new organization per cell
	want   [nCallers]int
	// prep makes what the cell acts on (fresh when destructive) and returns
	// the path values and body.
	prep func(e *tenv, u *roleUsers, f *roleFixture) (vals map[string]string, body any)
	// after checks the effect (or its absence) of the call.
	after func(e *tenv, u *roleUsers, f *roleFixture, vals map[string]string, allowed bool)
}

func noPrep(*tenv, *roleUsers, *roleFixture) (map[string]string, any) { return nil, nil }

// freshMember adds a new viewer to the fixture org and returns its id.
func freshMember(e *tenv, u *roleUsers, f *roleFixture) string {
	m := e.user("member")
	e.join(f.org.ID, u.owner.Token, m, "viewer")
	return m.ID
}

func sharedTarget(e *tenv, u *roleUsers, f *roleFixture) string {
	if f.target == nil {
		f.target = e.user("target")
		e.join(f.org.ID, u.owner.Token, f.target, "viewer")
	}
	return f.target.ID
}

func sharedInvitation(e *tenv, u *roleUsers, f *roleFixture) string {
	if f.inv.Token == "" {
		f.inv = e.invite(f.org.ID, u.owner.Token, fmt.Sprintf("pending.%d@example.test", e.next()), "")
	}
	return f.inv.Invitation.ID
}

func sharedKey(e *tenv, u *roleUsers, f *roleFixture) string {
	if f.key.Key == "" {
		f.key = e.key(f.org.ID, u.owner.Token, nil)
	}
	return f.key.APIKey.ID
}

func sharedIngestKey(e *tenv, u *roleUsers, f *roleFixture) string {
	if f.ingest.Key == "" {
		f.ingest = e.key(f.org.ID, u.owner.Token, map[string]any{"name": "matrix ingest"})
	}
	return f.ingest.Key
}

// sharedSignal is a signal of the fixture org, processed into a lead.
func sharedSignal(e *tenv, u *roleUsers, f *roleFixture) uint64 {
	if f.sig == 0 {
		a := e.ingest(sharedIngestKey(e, u, f), map[string]any{"type": "track", "event": "Matrix",
			"email": fmt.Sprintf("matrix.%d@globex.com", e.next())})
		f.sig = a.ID
		f.lead = e.waitSignal(f.org.ID, u.owner.Token, a.ID).LeadID
		if f.lead == "" {
			e.t.Fatalf("signal %d made no lead", a.ID)
		}
	}
	return f.sig
}

// freshLead makes a new lead through a signal and returns its id.
func freshLead(e *tenv, u *roleUsers, f *roleFixture) string {
	a := e.ingest(sharedIngestKey(e, u, f), map[string]any{"type": "track", "event": "Matrix",
		"email": fmt.Sprintf("matrix.fresh.%d@globex.com", e.next())})
	lead := e.waitSignal(f.org.ID, u.owner.Token, a.ID).LeadID
	if lead == "" {
		e.t.Fatalf("signal %d made no lead", a.ID)
	}
	return lead
}

// freshMerge merges two fresh leads as the owner and returns the merge id.
func freshMerge(e *tenv, u *roleUsers, f *roleFixture) string {
	a, b := freshLead(e, u, f), freshLead(e, u, f)
	var m struct {
		ID string `json:"id"`
	}
	e.ok(e.do("POST", "/api/v1/orgs/"+f.org.ID+"/leads/"+a+"/merge", u.owner.Token,
		map[string]any{"merge_lead_id": b, "reason": "matrix fixture"}), 201, &m)
	return m.ID
}

// waitNoRunningJob waits until the organization has no running job.
func waitNoRunningJob(e *tenv, org, token string) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var l struct {
			Items []struct {
				Status string `json:"status"`
			} `json:"items"`
		}
		e.ok(e.do("GET", "/api/v1/orgs/"+org+"/jobs", token, nil), 200, &l)
		running := false
		for _, j := range l.Items {
			running = running || j.Status == "running"
		}
		if !running {
			return
		}
	}
	e.t.Fatalf("a job of %s is still running after 10 s", org)
}

func sharedLead(e *tenv, u *roleUsers, f *roleFixture) string {
	sharedSignal(e, u, f)
	return f.lead
}

// freshEvaluation evaluates the shared lead now (as the Owner) and
// returns the new evaluation's id.
func freshEvaluation(e *tenv, u *roleUsers, f *roleFixture) string {
	var ev struct {
		ID string `json:"id"`
	}
	e.ok(e.do("POST", "/api/v1/orgs/"+f.org.ID+"/leads/"+sharedLead(e, u, f)+"/evaluate", u.owner.Token, nil), http.StatusCreated, &ev)
	return ev.ID
}

// freshFeedback gives pending feedback on a fresh evaluation.
func freshFeedback(e *tenv, u *roleUsers, f *roleFixture) {
	e.ok(e.do("POST", "/api/v1/orgs/"+f.org.ID+"/evaluations/"+freshEvaluation(e, u, f)+"/feedback", u.owner.Token,
		map[string]any{"reason": "matrix feedback reason", "expected_grade": "hot"}), http.StatusCreated, nil)
}

func matrixRule(name string) map[string]any {
	return map[string]any{"name": name, "signal_type": "page_view",
		"conditions": map[string]any{"path": "event", "op": "equals", "value": "Matrix"},
		"mappings":   []any{map[string]any{"path": "email", "target": "email"}}}
}

func sharedRule(e *tenv, u *roleUsers, f *roleFixture) string {
	if f.rule == "" {
		f.rule = e.createRule(f.org.ID, u.owner.Token, matrixRule("matrix shared")).ID
	}
	return f.rule
}

func sharedProductOrg(e *tenv, u *roleUsers, f *roleFixture) string {
	if f.porg == "" {
		k := e.key(f.org.ID, u.owner.Token, map[string]any{"name": "porg", "type": "product_org",
			"payload_template": map[string]any{"product_org_id": "workspace.id", "name": "workspace.name"}})
		var acc struct {
			ID string `json:"id"`
		}
		e.ok(e.do("POST", "/api/product-orgs/webhook/"+k.Key, "", map[string]any{"workspace": map[string]any{"id": "ws-matrix", "name": "Matrix WS"}}), 202, &acc)
		f.porg = acc.ID
	}
	return f.porg
}

func sharedJob(e *tenv, u *roleUsers, f *roleFixture) string {
	if f.job == "" {
		var s struct {
			JobID string `json:"job_id"`
		}
		e.ok(e.do("POST", "/api/signal-staging/bulk/"+sharedIngestKey(e, u, f), "", rawBody(`{"email":"matrix.job@globex.com"}`)), 200, &s)
		f.job = s.JobID
	}
	return f.job
}

func sharedAccount(e *tenv, u *roleUsers, f *roleFixture) string {
	if f.acct == "" {
		var a accountView
		e.ok(e.do("POST", "/api/v1/orgs/"+f.org.ID+"/accounts", u.owner.Token, map[string]any{"name": "Matrix Account"}), 201, &a)
		f.acct = a.ID
	}
	return f.acct
}

// hasAccount reports whether the fixture org has an account named name.
func hasAccount(e *tenv, f *roleFixture, name string) bool {
	for _, a := range e.allAccounts(f.org.ID, e.n.OperatorToken) {
		if a.Name == name {
			return true
		}
	}
	return false
}

// ruleNamed reports whether the fixture org has a rule named name.
func ruleNamed(e *tenv, f *roleFixture, name string) bool {
	var l list[ruleView]
	e.ok(e.do("GET", "/api/v1/orgs/"+f.org.ID+"/signal-rules?limit=200", e.n.OperatorToken, nil), http.StatusOK, &l)
	for _, r := range l.Items {
		if r.Name == name {
			return true
		}
	}
	return false
}

// checkCreated fails unless an object named vals["name"] exists exactly
// when the call was allowed.
func checkCreated(exists func(e *tenv, f *roleFixture, name string) bool) func(*tenv, *roleUsers, *roleFixture, map[string]string, bool) {
	return func(e *tenv, _ *roleUsers, f *roleFixture, vals map[string]string, allowed bool) {
		if got := exists(e, f, vals["name"]); got != allowed {
			e.t.Errorf("after the call (allowed=%v) %q exists=%v", allowed, vals["name"], got)
		}
	}
}

// orgExists reports whether the operator still sees the organization.
func orgExists(e *tenv, id string) bool {
	r := e.do("GET", "/api/v1/orgs/"+id, e.n.OperatorToken, nil)
	if r.Status != http.StatusOK && r.Status != http.StatusNotFound {
		e.t.Fatalf("%s", r)
	}
	return r.Status == http.StatusOK
}

func memberRole(e *tenv, org, userID string) string {
	for _, m := range e.members(org) {
		if m.UserID == userID {
			return m.Role
		}
	}
	return ""
}

// matrix is the expected answer of every management route for every caller.
//
//	columns: none viewer editor admin owner operator outsider sk_key
var matrix = []matrixRow{
	{name: "get org", method: "GET", path: "/orgs/{org}", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "update org", method: "PATCH", path: "/orgs/{org}", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return nil, map[string]string{"name": fmt.Sprintf("Renamed %d", e.next())}
		}},
	{name: "delete org", method: "DELETE", path: "/orgs/{org}", min: "owner", fresh: true,
		want: [nCallers]int{401, 403, 403, 403, 204, 204, 404, 401}, prep: noPrep,
		after: func(e *tenv, u *roleUsers, f *roleFixture, _ map[string]string, allowed bool) {
			if orgExists(e, f.org.ID) == allowed {
				e.t.Errorf("after delete (allowed=%v) the organization exists=%v", allowed, !allowed)
			}
		}},
	{name: "list members", method: "GET", path: "/orgs/{org}/members", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "change role", method: "PATCH", path: "/orgs/{org}/members/{user}", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"user": sharedTarget(e, u, f)}, map[string]string{"role": "editor"}
		}},
	{name: "remove member", method: "DELETE", path: "/orgs/{org}/members/{user}", min: "admin",
		want: [nCallers]int{401, 403, 403, 204, 204, 204, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"user": freshMember(e, u, f)}, nil
		},
		after: func(e *tenv, u *roleUsers, f *roleFixture, vals map[string]string, allowed bool) {
			if still := memberRole(e, f.org.ID, vals["user"]) != ""; still == allowed {
				e.t.Errorf("after remove (allowed=%v) the member is still there=%v", allowed, still)
			}
		}},
	{name: "transfer ownership", method: "POST", path: "/orgs/{org}/transfer-ownership", min: "owner", fresh: true,
		want: [nCallers]int{401, 403, 403, 403, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return nil, map[string]string{"user_id": u.admin.ID}
		},
		after: func(e *tenv, u *roleUsers, f *roleFixture, _ map[string]string, allowed bool) {
			want := map[bool]string{true: "owner", false: "admin"}[allowed]
			if got := memberRole(e, f.org.ID, u.admin.ID); got != want {
				e.t.Errorf("after transfer (allowed=%v) the admin's role is %q, want %q", allowed, got, want)
			}
		}},
	{name: "create invitation", method: "POST", path: "/orgs/{org}/invitations", min: "admin",
		want: [nCallers]int{401, 403, 403, 201, 201, 201, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return nil, map[string]string{"email": fmt.Sprintf("new.%d@example.test", e.next())}
		}},
	{name: "list invitations", method: "GET", path: "/orgs/{org}/invitations", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "resend invitation", method: "POST", path: "/orgs/{org}/invitations/{inv}/resend", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"inv": sharedInvitation(e, u, f)}, nil
		}},
	{name: "cancel invitation", method: "POST", path: "/orgs/{org}/invitations/{inv}/cancel", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			ic := e.invite(f.org.ID, u.owner.Token, fmt.Sprintf("cancel.%d@example.test", e.next()), "")
			return map[string]string{"inv": ic.Invitation.ID}, nil
		}},
	{name: "create api key", method: "POST", path: "/orgs/{org}/api-keys", min: "editor",
		want: [nCallers]int{401, 403, 201, 201, 201, 201, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return nil, map[string]any{"name": "matrix key"}
		}},
	{name: "list api keys", method: "GET", path: "/orgs/{org}/api-keys", min: "editor",
		want: [nCallers]int{401, 403, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "get api key", method: "GET", path: "/orgs/{org}/api-keys/{key}", min: "editor",
		want: [nCallers]int{401, 403, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"key": sharedKey(e, u, f)}, nil
		}},
	{name: "revoke api key", method: "POST", path: "/orgs/{org}/api-keys/{key}/revoke", min: "editor",
		want: [nCallers]int{401, 403, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"key": e.key(f.org.ID, u.owner.Token, nil).APIKey.ID}, nil
		},
		after: func(e *tenv, u *roleUsers, f *roleFixture, vals map[string]string, allowed bool) {
			var k keyView
			e.ok(e.do("GET", "/api/v1/orgs/"+f.org.ID+"/api-keys/"+vals["key"], e.n.OperatorToken, nil), http.StatusOK, &k)
			if want := map[bool]string{true: "revoked", false: "active"}[allowed]; k.Status != want {
				e.t.Errorf("after revoke (allowed=%v) the key is %q", allowed, k.Status)
			}
		}},
	{name: "rotate api key", method: "POST", path: "/orgs/{org}/api-keys/{key}/rotate", min: "editor",
		want: [nCallers]int{401, 403, 201, 201, 201, 201, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"key": sharedKey(e, u, f)}, nil
		}},

	// Signals, mapping rules, leads and accounts: reading is Viewer;
	// rules and accounts are configuration (Editor).
	{name: "list signals", method: "GET", path: "/orgs/{org}/signals", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			sharedSignal(e, u, f)
			return nil, nil
		}},
	{name: "signal stats", method: "GET", path: "/orgs/{org}/signals/stats", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "get signal", method: "GET", path: "/orgs/{org}/signals/{sig}", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"sig": fmt.Sprint(sharedSignal(e, u, f))}, nil
		}},
	{name: "list rules", method: "GET", path: "/orgs/{org}/signal-rules", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "create rule", method: "POST", path: "/orgs/{org}/signal-rules", min: "editor",
		want: [nCallers]int{401, 403, 201, 201, 201, 201, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			name := fmt.Sprintf("matrix rule %d", e.next())
			return map[string]string{"name": name}, matrixRule(name)
		},
		after: checkCreated(ruleNamed)},
	{name: "get rule", method: "GET", path: "/orgs/{org}/signal-rules/{rule}", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"rule": sharedRule(e, u, f)}, nil
		}},
	{name: "replace rule", method: "PUT", path: "/orgs/{org}/signal-rules/{rule}", min: "editor",
		want: [nCallers]int{401, 403, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			name := fmt.Sprintf("matrix renamed %d", e.next())
			return map[string]string{"rule": sharedRule(e, u, f), "name": name}, matrixRule(name)
		},
		after: checkCreated(ruleNamed)},
	{name: "delete rule", method: "DELETE", path: "/orgs/{org}/signal-rules/{rule}", min: "editor",
		want: [nCallers]int{401, 403, 204, 204, 204, 204, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			name := fmt.Sprintf("matrix doomed %d", e.next())
			return map[string]string{"rule": e.createRule(f.org.ID, u.owner.Token, matrixRule(name)).ID, "name": name}, nil
		},
		after: func(e *tenv, u *roleUsers, f *roleFixture, vals map[string]string, allowed bool) {
			if ruleNamed(e, f, vals["name"]) == allowed {
				e.t.Errorf("after delete (allowed=%v) the rule still exists=%v", allowed, !allowed)
			}
		}},
	{name: "list leads", method: "GET", path: "/orgs/{org}/leads", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "get lead", method: "GET", path: "/orgs/{org}/leads/{lead}", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"lead": sharedLead(e, u, f)}, nil
		}},
	{name: "signal queue", method: "GET", path: "/orgs/{org}/signal-queue", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "preview rule", method: "POST", path: "/orgs/{org}/signal-rules/preview", min: "editor",
		want: [nCallers]int{401, 403, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return nil, map[string]any{"rule": matrixRule("matrix preview")}
		}},
	{name: "process signals", method: "POST", path: "/orgs/{org}/signals/process", min: "editor",
		want: [nCallers]int{401, 403, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "list merges", method: "GET", path: "/orgs/{org}/merges", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "get merge", method: "GET", path: "/orgs/{org}/merges/{merge}", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			if f.merge == "" {
				f.merge = freshMerge(e, u, f)
			}
			return map[string]string{"merge": f.merge}, nil
		}},
	{name: "merge leads", method: "POST", path: "/orgs/{org}/leads/{lead}/merge", min: "admin",
		want: [nCallers]int{401, 403, 403, 201, 201, 201, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			a, b := freshLead(e, u, f), freshLead(e, u, f)
			return map[string]string{"lead": a}, map[string]any{"merge_lead_id": b, "reason": "matrix"}
		}},
	{name: "undo merge", method: "POST", path: "/orgs/{org}/merges/{merge}/undo", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"merge": freshMerge(e, u, f)}, nil
		}},
	{name: "reprocess rule", method: "POST", path: "/orgs/{org}/signal-rules/{rule}/reprocess", min: "editor",
		want: [nCallers]int{401, 403, 202, 202, 202, 202, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			// A rule of its own per call, and time for the previous job to end
			// (one reprocess job per organization at a time).
			rule := e.createRule(f.org.ID, u.owner.Token, matrixRule(fmt.Sprintf("matrix reprocess %d", e.next()))).ID
			waitNoRunningJob(e, f.org.ID, u.owner.Token)
			return map[string]string{"rule": rule}, map[string]any{"last": 10}
		}},
	{name: "list product orgs", method: "GET", path: "/orgs/{org}/product-orgs", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "get product org", method: "GET", path: "/orgs/{org}/product-orgs/{porg}", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"porg": sharedProductOrg(e, u, f)}, nil
		}},
	{name: "list jobs", method: "GET", path: "/orgs/{org}/jobs", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "get job", method: "GET", path: "/orgs/{org}/jobs/{job}", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"job": sharedJob(e, u, f)}, nil
		}},
	{name: "list accounts", method: "GET", path: "/orgs/{org}/accounts", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "create account", method: "POST", path: "/orgs/{org}/accounts", min: "editor",
		want: [nCallers]int{401, 403, 201, 201, 201, 201, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			name := fmt.Sprintf("Matrix Co %d", e.next())
			return map[string]string{"name": name}, map[string]any{"name": name}
		},
		after: checkCreated(hasAccount)},
	{name: "import accounts", method: "POST", path: "/orgs/{org}/accounts/import", min: "editor",
		want: [nCallers]int{401, 403, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			name := fmt.Sprintf("Imported Co %d", e.next())
			return map[string]string{"name": name}, []any{map[string]any{"name": name}}
		},
		after: checkCreated(hasAccount)},
	{name: "get account", method: "GET", path: "/orgs/{org}/accounts/{acct}", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"acct": sharedAccount(e, u, f)}, nil
		}},
	// Destinations (api/destinations.go); {key} is the destination id.
	{name: "list destinations", method: "GET", path: "/orgs/{org}/destinations", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "create destination", method: "POST", path: "/orgs/{org}/destinations", min: "admin",
		want: [nCallers]int{401, 403, 403, 201, 201, 201, 404, 401},
		prep: func(*tenv, *roleUsers, *roleFixture) (map[string]string, any) {
			return nil, map[string]any{"kind": "webhook", "url": "http://127.0.0.1:9/matrix"}
		}},
	{name: "suggest destination fields", method: "GET", path: "/orgs/{org}/destinations/suggest-fields", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "get destination", method: "GET", path: "/orgs/{org}/destinations/{key}", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"key": sharedDestination(e, u, f)}, nil
		}},
	{name: "update destination", method: "PATCH", path: "/orgs/{org}/destinations/{key}", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"key": sharedDestination(e, u, f)}, map[string]any{"name": "matrix hook"}
		}},
	{name: "delete destination", method: "DELETE", path: "/orgs/{org}/destinations/{key}", min: "admin",
		want: [nCallers]int{401, 403, 403, 204, 204, 204, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"key": freshDestination(e, u, f)}, nil
		}},
	{name: "list deliveries", method: "GET", path: "/orgs/{org}/destinations/{key}/deliveries", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"key": sharedDestination(e, u, f)}, nil
		}},
	{name: "redrive deliveries", method: "POST", path: "/orgs/{org}/destinations/{key}/redrive", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"key": sharedDestination(e, u, f)}, nil
		}},
	{name: "list connections", method: "GET", path: "/orgs/{org}/connections", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "create connection", method: "POST", path: "/orgs/{org}/connections", min: "admin",
		want: [nCallers]int{401, 403, 403, 201, 201, 201, 404, 401},
		prep: func(*tenv, *roleUsers, *roleFixture) (map[string]string, any) {
			return nil, map[string]any{"provider": "csv", "options": map[string]string{"directory": matrixCSVDir()}}
		}},
	{name: "get connection", method: "GET", path: "/orgs/{org}/connections/{conn}", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: matrixConn(true)},
	{name: "update connection", method: "PATCH", path: "/orgs/{org}/connections/{conn}", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"conn": matrixConnection(e, u, f, true)}, map[string]any{"name": "Renamed"}
		}},
	{name: "test connection", method: "POST", path: "/orgs/{org}/connections/{conn}/test", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401}, prep: matrixConn(true)},
	{name: "connection metadata", method: "GET", path: "/orgs/{org}/connections/{conn}/metadata", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401}, prep: matrixConn(true)},
	{name: "set connection mapping", method: "PUT", path: "/orgs/{org}/connections/{conn}/mapping", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"conn": matrixConnection(e, u, f, true)}, matrixMapping
		}},
	{name: "start connection oauth", method: "POST", path: "/orgs/{org}/connections/{conn}/oauth/start", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"conn": matrixOAuthConnection(e, u, f)}, nil
		}},
	{name: "start connection sync", method: "POST", path: "/orgs/{org}/connections/{conn}/sync", min: "admin",
		want: [nCallers]int{401, 403, 403, 202, 202, 202, 404, 401}, prep: matrixConn(false)},
	{name: "get connection sync", method: "GET", path: "/orgs/{org}/connections/{conn}/sync", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: matrixConn(true)},
	{name: "cancel connection sync", method: "POST", path: "/orgs/{org}/connections/{conn}/sync/cancel", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401}, prep: matrixConn(true)},
	{name: "analyze connection", method: "POST", path: "/orgs/{org}/connections/{conn}/analyze", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			// SparkSense needs a destination for its scores.
			e.ok(e.do("POST", "/api/v1/orgs/"+f.org.ID+"/destinations", u.owner.Token,
				map[string]any{"kind": "webhook", "url": "http://127.0.0.1:9/matrix"}), http.StatusCreated, nil)
			return map[string]string{"conn": matrixSalesforceConnection(e, u, f)}, nil
		}},
	{name: "disconnect connection", method: "POST", path: "/orgs/{org}/connections/{conn}/disconnect", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401}, prep: matrixConn(false)},
	{name: "delete connection", method: "DELETE", path: "/orgs/{org}/connections/{conn}", min: "admin",
		want: [nCallers]int{401, 403, 403, 204, 204, 204, 404, 401}, prep: matrixConn(false)},
	{name: "get billing", method: "GET", path: "/orgs/{org}/billing", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "get usage", method: "GET", path: "/orgs/{org}/usage", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "list invoices", method: "GET", path: "/orgs/{org}/invoices", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "set overages", method: "PUT", path: "/orgs/{org}/billing/overages", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401},
		prep: func(*tenv, *roleUsers, *roleFixture) (map[string]string, any) {
			return nil, map[string]any{"enabled": false}
		}},
	{name: "change plan", method: "POST", path: "/orgs/{org}/billing/change-plan", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401}, fresh: true,
		prep: func(*tenv, *roleUsers, *roleFixture) (map[string]string, any) {
			return nil, map[string]any{"plan_id": "scale", "cycle": "yearly"}
		}},
	{name: "cancel plan change", method: "POST", path: "/orgs/{org}/billing/cancel-change", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401}, fresh: true,
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			e.ok(e.do("POST", "/api/v1/orgs/"+f.org.ID+"/billing/change-plan", u.owner.Token, map[string]any{"plan_id": "free"}), http.StatusOK, nil)
			return nil, nil
		}},
	{name: "get settings", method: "GET", path: "/orgs/{org}/settings", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "change settings", method: "PUT", path: "/orgs/{org}/settings", min: "admin",
		want: [nCallers]int{401, 403, 403, 200, 200, 200, 404, 401},
		prep: func(*tenv, *roleUsers, *roleFixture) (map[string]string, any) {
			return nil, map[string]any{"min_signals": 3}
		}},
	{name: "get evaluation rules", method: "GET", path: "/orgs/{org}/evaluation-rules", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "set evaluation rules", method: "PUT", path: "/orgs/{org}/evaluation-rules", min: "editor",
		want: [nCallers]int{401, 403, 200, 200, 200, 200, 404, 401},
		prep: func(*tenv, *roleUsers, *roleFixture) (map[string]string, any) {
			return nil, map[string]any{"rules": []any{}}
		}},
	{name: "list models", method: "GET", path: "/orgs/{org}/icp-models", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "get model", method: "GET", path: "/orgs/{org}/icp-models/{model}", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(*tenv, *roleUsers, *roleFixture) (map[string]string, any) {
			return map[string]string{"model": "icp_starter"}, nil
		}},
	{name: "model quality", method: "GET", path: "/orgs/{org}/icp-models/{model}/quality", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(*tenv, *roleUsers, *roleFixture) (map[string]string, any) {
			return map[string]string{"model": "icp_starter"}, nil
		}},
	{name: "create model", method: "POST", path: "/orgs/{org}/icp-models", min: "editor",
		want: [nCallers]int{401, 403, 201, 201, 201, 201, 404, 401},
		prep: func(*tenv, *roleUsers, *roleFixture) (map[string]string, any) {
			return nil, map[string]any{"name": "matrix", "definition": map[string]any{"intercept": -1}}
		}},
	{name: "activate model", method: "POST", path: "/orgs/{org}/icp-models/{model}/activate", min: "editor",
		want: [nCallers]int{401, 403, 200, 200, 200, 200, 404, 401},
		prep: func(*tenv, *roleUsers, *roleFixture) (map[string]string, any) {
			return map[string]string{"model": "icp_starter"}, nil
		}},
	{name: "parse icp text", method: "POST", path: "/orgs/{org}/icp-models/parse-text", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(*tenv, *roleUsers, *roleFixture) (map[string]string, any) {
			return nil, map[string]any{"text": "software companies"}
		}},
	{name: "analyze icp upload", method: "POST", path: "/orgs/{org}/icp-models/analyze", min: "editor",
		want: [nCallers]int{401, 403, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, _ *roleUsers, _ *roleFixture) (map[string]string, any) {
			body, ctype := multipartBody(e.t, map[string]string{"preview_only": "true"}, map[string]string{
				"accounts": "account,sector\nAcme,software\n", "opportunities": "account,deal_stage\nAcme,Won\n"})
			return map[string]string{"content-type": ctype}, rawBody(body)
		}},
	{name: "evaluate lead now", method: "POST", path: "/orgs/{org}/leads/{lead}/evaluate", min: "editor",
		want: [nCallers]int{401, 403, 201, 201, 201, 201, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"lead": sharedLead(e, u, f)}, nil
		}},
	{name: "list evaluations", method: "GET", path: "/orgs/{org}/evaluations", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "get evaluation", method: "GET", path: "/orgs/{org}/evaluations/{ev}", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"ev": freshEvaluation(e, u, f)}, nil
		}},
	{name: "lead evaluations", method: "GET", path: "/orgs/{org}/leads/{lead}/evaluations", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"lead": sharedLead(e, u, f)}, nil
		}},
	{name: "give feedback", method: "POST", path: "/orgs/{org}/evaluations/{ev}/feedback", min: "editor",
		want: [nCallers]int{401, 403, 201, 201, 201, 201, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			return map[string]string{"ev": freshEvaluation(e, u, f)}, map[string]any{"reason": "matrix feedback reason", "expected_grade": "warm"}
		}},
	{name: "list feedback", method: "GET", path: "/orgs/{org}/feedback", min: "viewer",
		want: [nCallers]int{401, 200, 200, 200, 200, 200, 404, 401}, prep: noPrep},
	{name: "preview refinement", method: "POST", path: "/orgs/{org}/refinements/preview", min: "editor",
		want: [nCallers]int{401, 403, 200, 200, 200, 200, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			freshFeedback(e, u, f)
			return nil, nil
		}},
	{name: "apply refinement", method: "POST", path: "/orgs/{org}/refinements", min: "editor",
		want: [nCallers]int{401, 403, 201, 201, 201, 201, 404, 401},
		prep: func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
			freshFeedback(e, u, f)
			return nil, nil
		}},
}

// TestMatrixMatchesRoleTable checks the literal matrix against the
// documented minimum roles, so a typo in either shows up.
func TestMatrixMatchesRoleTable(t *testing.T) {
	rank := map[string]int{"viewer": 1, "editor": 2, "admin": 3, "owner": 4}
	memberCols := map[callerKind]int{cViewer: 1, cEditor: 2, cAdmin: 3, cOwner: 4}
	for _, row := range matrix {
		for c := callerKind(0); c < nCallers; c++ {
			w := row.want[c]
			var okDerived bool
			switch c {
			case cNone, cAPIKey:
				okDerived = w == 401
			case cOutsider:
				okDerived = w == 404
			case cOperator:
				okDerived = w/100 == 2
			default:
				okDerived = (memberCols[c] >= rank[row.min]) == (w/100 == 2) && (w/100 == 2 || w == 403)
			}
			if !okDerived {
				t.Errorf("%s: %s column says %d, but the minimum role is %s", row.name, callerNames[c], w, row.min)
			}
		}
	}
	// Every management route under /api/v1/orgs/{org} is in the matrix
	// (accept is for invitees, covered in the members tests).
	inMatrix := map[string]bool{}
	for _, row := range matrix {
		p := strings.NewReplacer("{org}", ":org", "{user}", ":user", "{inv}", ":id", "{key}", ":id",
			"{sig}", ":id", "{rule}", ":id", "{lead}", ":id", "{acct}", ":id", "{porg}", ":id", "{merge}", ":id", "{job}", ":id",
			"{model}", ":id", "{ev}", ":id", "{conn}", ":id").Replace(row.path)
		inMatrix[row.method+" /api/v1"+p] = true
	}
	for _, r := range api.New(nil, api.Options{}).Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/orgs/:org") || r.Path == "/api/v1/orgs/:org/invitations/accept" {
			continue
		}
		if !inMatrix[r.Method+" "+r.Path] {
			t.Errorf("route %s %s is not in the role matrix", r.Method, r.Path)
		}
	}
}

func TestRoleMatrix(t *testing.T) {
	e := newEnv(t, pluginOptions(t)) // connection rows need the connector plugins
	u := newRoleUsers(e)
	shared := u.fixture(e)
	for _, row := range matrix {
		for c := callerKind(0); c < nCallers; c++ {
			t.Run(row.name+"/"+callerNames[c], func(t *testing.T) {
				e := e.at(t)
				f := shared
				if row.fresh {
					f = u.fixture(e)
				}
				vals, body := row.prep(e, u, f)
				path := "/api/v1" + strings.ReplaceAll(row.path, "{org}", f.org.ID)
				for k, v := range vals {
					path = strings.ReplaceAll(path, "{"+k+"}", v)
				}
				var opts []reqOpt
				if ct := vals["content-type"]; ct != "" {
					opts = append(opts, withHeader("Content-Type", ct))
				}
				r := e.do(row.method, path, u.token(e, f, c), body, opts...)
				want := row.want[c]
				switch {
				case want/100 == 2:
					if r.Status != want {
						t.Errorf("%s: want %d", r, want)
					}
				case c == cNone:
					e.fails(r, 401, "missing_credential", "")
				case c == cAPIKey:
					e.fails(r, 401, "invalid_token", "")
				case c == cOutsider:
					e.fails(r, 404, "organization_not_found", "")
				default:
					e.fails(r, want, "forbidden", "")
				}
				if row.after != nil {
					row.after(e, u, f, vals, r.Status/100 == 2)
				}
			})
		}
	}
	// The shared fixture kept its people and roles through the matrix.
	roles := map[string]string{}
	for _, m := range e.members(shared.org.ID) {
		roles[m.UserID] = m.Role
	}
	for id, want := range map[string]string{u.owner.ID: "owner", u.admin.ID: "admin", u.editor.ID: "editor", u.viewer.ID: "viewer"} {
		if roles[id] != want {
			t.Errorf("shared fixture: member %s is %q, want %q", id, roles[id], want)
		}
	}
}

// TestCrossOrgObjects: members of org A asking for org B's objects by id,
// through A's routes or B's, learn nothing: 404 (or, for a role A does not
// grant the capability, the same 403 a made-up id gets).
func TestCrossOrgObjects(t *testing.T) {
	e := newEnv(t)
	u := newRoleUsers(e)
	a := u.fixture(e)

	// Org B with a member, a pending invitation and a key.
	bOwner := e.user("bowner")
	b := e.org(bOwner, "Bravo")
	bMember := e.user("bmember")
	e.join(b.ID, bOwner.Token, bMember, "editor")
	invitee := e.user("binvitee")
	bInv := e.invite(b.ID, bOwner.Token, invitee.Email, "viewer")
	bKey := e.key(b.ID, bOwner.Token, nil)
	// And a mapping rule, an account and a lead.
	bRule := e.createRule(b.ID, bOwner.Token, matrixRule("bravo rule")).ID
	var bAcct accountView
	e.ok(e.do("POST", "/api/v1/orgs/"+b.ID+"/accounts", bOwner.Token, map[string]any{"name": "Bravo Account"}), 201, &bAcct)
	bSig := e.ingest(bKey.Key, map[string]any{"event": "Matrix", "email": "bravo.lead@globex.com"})
	bLead := e.waitSignal(b.ID, bOwner.Token, bSig.ID).LeadID

	type probe struct {
		name, method, path string
		body               any
		min                string // capability needed in A
		code               string // 404 code when the capability is held
	}
	probes := func(org string) []probe {
		p := "/api/v1/orgs/" + org
		return []probe{
			{"get key", "GET", p + "/api-keys/" + bKey.APIKey.ID, nil, "editor", "api_key_not_found"},
			{"revoke key", "POST", p + "/api-keys/" + bKey.APIKey.ID + "/revoke", nil, "editor", "api_key_not_found"},
			{"rotate key", "POST", p + "/api-keys/" + bKey.APIKey.ID + "/rotate", nil, "editor", "api_key_not_found"},
			{"resend invitation", "POST", p + "/invitations/" + bInv.Invitation.ID + "/resend", nil, "admin", "invitation_not_found"},
			{"cancel invitation", "POST", p + "/invitations/" + bInv.Invitation.ID + "/cancel", nil, "admin", "invitation_not_found"},
			{"change role", "PATCH", p + "/members/" + bMember.ID, map[string]string{"role": "viewer"}, "admin", "member_not_found"},
			{"remove member", "DELETE", p + "/members/" + bMember.ID, nil, "admin", "member_not_found"},
			{"transfer to member", "POST", p + "/transfer-ownership", map[string]string{"user_id": bMember.ID}, "owner", ""},
			{"get rule", "GET", p + "/signal-rules/" + bRule, nil, "viewer", "rule_not_found"},
			{"replace rule", "PUT", p + "/signal-rules/" + bRule, matrixRule("hijacked"), "editor", "rule_not_found"},
			{"delete rule", "DELETE", p + "/signal-rules/" + bRule, nil, "editor", "rule_not_found"},
			{"get lead", "GET", p + "/leads/" + bLead, nil, "viewer", "lead_not_found"},
			{"get account", "GET", p + "/accounts/" + bAcct.ID, nil, "viewer", "account_not_found"},
		}
	}
	// The made-up-id twin of each probe: what a wrong id answers anyway.
	bogus := strings.NewReplacer(bKey.APIKey.ID, "key_"+strings.Repeat("0", len(bKey.APIKey.ID)-4),
		bInv.Invitation.ID, "inv_"+strings.Repeat("0", len(bInv.Invitation.ID)-4),
		bMember.ID, "usr_"+strings.Repeat("0", len(bMember.ID)-4),
		bRule, "rule_"+strings.Repeat("0", len(bRule)-5),
		bLead, "lead_"+strings.Repeat("0", len(bLead)-5),
		bAcct.ID, "acct_"+strings.Repeat("0", len(bAcct.ID)-5))

	rank := map[string]int{"viewer": 1, "editor": 2, "admin": 3, "owner": 4}
	for _, who := range []struct {
		role string
		u    *user
	}{{"viewer", u.viewer}, {"editor", u.editor}, {"admin", u.admin}, {"owner", u.owner}} {
		t.Run(who.role, func(t *testing.T) {
			e := e.at(t)
			// Through A's routes.
			for _, p := range probes(a.org.ID) {
				r := e.do(p.method, p.path, who.u.Token, p.body)
				switch {
				case rank[who.role] < rank[p.min]:
					e.fails(r, 403, "forbidden", "")
					twin := e.do(p.method, bogus.Replace(p.path), who.u.Token, p.body)
					if twin.Status != r.Status || errCode(twin) != errCode(r) {
						t.Errorf("%s: B's real id answers differently from a made-up id: %s vs %s", p.name, r, twin)
					}
				case p.name == "transfer to member":
					// Not an object lookup: B's member is not a member of A.
					e.fails(r, 400, "not_a_member", "user_id")
				default:
					e.fails(r, 404, p.code, "")
				}
			}
			// Through B's routes: not a member of B at all.
			for _, p := range probes(b.ID) {
				e.fails(e.do(p.method, p.path, who.u.Token, p.body), 404, "organization_not_found", "")
			}
			for _, path := range []string{"/api/v1/orgs/" + b.ID, "/api/v1/orgs/" + b.ID + "/members",
				"/api/v1/orgs/" + b.ID + "/invitations", "/api/v1/orgs/" + b.ID + "/api-keys",
				"/api/v1/orgs/" + b.ID + "/signals", "/api/v1/orgs/" + b.ID + "/signals/stats",
				fmt.Sprintf("/api/v1/orgs/%s/signals/%d", b.ID, bSig.ID), "/api/v1/orgs/" + b.ID + "/signal-rules",
				"/api/v1/orgs/" + b.ID + "/leads", "/api/v1/orgs/" + b.ID + "/leads?email=bravo.lead@globex.com",
				"/api/v1/orgs/" + b.ID + "/accounts"} {
				e.fails(e.do("GET", path, who.u.Token, nil), 404, "organization_not_found", "")
			}
		})
	}

	// B's invitation token cannot be redeemed through A's path.
	e.fails(e.do("POST", "/api/v1/orgs/"+a.org.ID+"/invitations/accept", invitee.Token, map[string]string{"token": bInv.Token}),
		404, "invitation_not_found", "")

	// B is untouched: key active, invitation pending, member still editor.
	var k keyView
	e.ok(e.do("GET", "/api/v1/orgs/"+b.ID+"/api-keys/"+bKey.APIKey.ID, bOwner.Token, nil), 200, &k)
	if k.Status != "active" {
		t.Errorf("B's key is %q after A's members poked it", k.Status)
	}
	var invs list[invitationView]
	e.ok(e.do("GET", "/api/v1/orgs/"+b.ID+"/invitations", bOwner.Token, nil), 200, &invs)
	if len(invs.Items) != 1 || invs.Items[0].ID != bInv.Invitation.ID {
		t.Errorf("B's invitations: %+v", invs.Items)
	}
	if got := memberRole(e, b.ID, bMember.ID); got != "editor" {
		t.Errorf("B's member is %q", got)
	}
	var r ruleView
	e.ok(e.do("GET", "/api/v1/orgs/"+b.ID+"/signal-rules/"+bRule, bOwner.Token, nil), 200, &r)
	if r.Name != "bravo rule" {
		t.Errorf("B's rule is now %+v", r)
	}
	// And the invitee can still accept through B's path.
	e.ok(e.do("POST", "/api/v1/orgs/"+b.ID+"/invitations/accept", invitee.Token, map[string]string{"token": bInv.Token}), 200, nil)
}
