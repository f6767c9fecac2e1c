package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Integration tests of the Segment-compatible tracking API (api/segment.go)
// against a real node.

// segOrg is an organization with a signal_staging write key.
type segOrg struct {
	owner *user
	id    string
	base  string // /api/v1/orgs/{id}
	key   string // signal_staging key
}

type segLead struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	Account *struct {
		AccountID string `json:"account_id"`
		How       string `json:"how"`
	} `json:"account"`
}

type segSignal struct {
	ID        uint64          `json:"id"`
	Status    string          `json:"status"`
	Source    string          `json:"source"`
	Type      string          `json:"type"`
	Event     string          `json:"event"`
	Timestamp time.Time       `json:"timestamp"`
	LeadID    string          `json:"lead_id"`
	Payload   json.RawMessage `json:"payload"`
}

type segAccount struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Domain     string         `json:"domain"`
	Source     string         `json:"source"`
	Inferred   bool           `json:"inferred"`
	Attributes map[string]any `json:"attributes"`
}

func (e *tenv) segOrg(name string) *segOrg {
	e.t.Helper()
	owner := e.user(name)
	o := e.org(owner, name+" Inc")
	k := e.key(o.ID, owner.Token, map[string]any{"name": "segment write key"})
	return &segOrg{owner: owner, id: o.ID, base: "/api/v1/orgs/" + o.ID, key: k.Key}
}

// basicAuth is the Authorization header Segment SDKs send.
func basicAuth(user, pass string) reqOpt {
	return withHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
}

// segCall posts a Segment call with the write key as basic auth user.
func (e *tenv) segCall(o *segOrg, path string, body any, opts ...reqOpt) resp {
	e.t.Helper()
	return e.do("POST", path, "", body, append([]reqOpt{basicAuth(o.key, "")}, opts...)...)
}

func (e *tenv) segSuccess(r resp) {
	e.t.Helper()
	var ok map[string]any
	e.ok(r, http.StatusOK, &ok)
	if len(ok) != 1 || ok["success"] != true {
		e.t.Fatalf("%s: want exactly {\"success\": true}", r)
	}
}

// segWaitLead polls for the lead of an email until cond holds.
func (e *tenv) segWaitLead(o *segOrg, email string, cond func(segLead) bool) segLead {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var l list[segLead]
		e.ok(e.do("GET", o.base+"/leads?email="+url.QueryEscape(email), o.owner.Token, nil), http.StatusOK, &l)
		if len(l.Items) == 1 && (cond == nil || cond(l.Items[0])) {
			return l.Items[0]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("lead of %s: %+v after 5 s", email, l.Items)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// segSignals waits until n signals are processed and returns them.
func (e *tenv) segSignals(o *segOrg, n int) []segSignal {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var l list[segSignal]
		e.ok(e.do("GET", o.base+"/signals?limit=200", o.owner.Token, nil), http.StatusOK, &l)
		if len(l.Items) >= n {
			return l.Items
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d signals processed after 5 s, want %d: %+v", len(l.Items), n, l.Items)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every call type is accepted with 200 {"success": true}, stored with
// source segment and its type (from the path when the body has none), and
// processed.
func TestSegmentCallTypes(t *testing.T) {
	e := newEnv(t)
	o := e.segOrg("Seg")
	calls := []struct {
		path string
		body map[string]any
	}{
		{"/v1/identify", map[string]any{"userId": "u-ident", "anonymousId": "anon-ident", "traits": map[string]any{"email": "ident@globex.com", "name": "Ida"}}},
		{"/v1/track", map[string]any{"type": "track", "userId": "u-track", "event": "Signed Up", "messageId": "m-track"}},
		{"/v1/page", map[string]any{"userId": "u-page", "name": "Pricing", "properties": map[string]any{"url": "https://x.io/pricing"}}},
		{"/v1/screen", map[string]any{"userId": "u-screen", "name": "Dashboard"}},
		{"/v1/group", map[string]any{"userId": "u-group", "groupId": "grp-types"}},
		{"/v1/alias", map[string]any{"userId": "u-alias", "previousId": "anon-alias"}},
	}
	for _, c := range calls {
		e.segSuccess(e.segCall(o, c.path, c.body))
	}
	// A repeated messageId is a success too (stored once).
	e.segSuccess(e.segCall(o, "/v1/track", calls[1].body))

	// The identify is processed into a lead within 5 s.
	if l := e.segWaitLead(o, "ident@globex.com", nil); l.ID == "" {
		t.Fatal("no lead")
	}
	sigs := e.segSignals(o, len(calls))
	if len(sigs) != len(calls) {
		t.Errorf("%d signals, want %d (the duplicate stored once)", len(sigs), len(calls))
	}
	byType := map[string]segSignal{}
	for _, s := range sigs {
		byType[s.Type] = s
		if s.Source != "segment" {
			t.Errorf("signal %d: source %q", s.ID, s.Source)
		}
		if s.Status != "skipped" || s.LeadID == "" {
			t.Errorf("signal %d (%s): status %q lead %q, want skipped onto a lead (no rules)", s.ID, s.Type, s.Status, s.LeadID)
		}
		var p map[string]any
		if err := json.Unmarshal(s.Payload, &p); err != nil || p["type"] != s.Type {
			t.Errorf("signal %d: stored payload %s lacks type %q", s.ID, s.Payload, s.Type)
		}
	}
	for _, c := range calls {
		if _, ok := byType[strings.TrimPrefix(c.path, "/v1/")]; !ok {
			t.Errorf("no processed %s signal among %+v", c.path, sigs)
		}
	}
	if byType["page"].Event != "Pricing" || byType["track"].Event != "Signed Up" {
		t.Errorf("events: page %q, track %q", byType["page"].Event, byType["track"].Event)
	}
}

func TestSegmentAuth(t *testing.T) {
	e := newEnv(t)
	o := e.segOrg("SegAuth")
	call := map[string]any{"userId": "u-1", "event": "Signed Up"}

	e.segSuccess(e.do("POST", "/v1/track", o.key, call)) // Authorization: Bearer sk_…
	e.fails(e.do("POST", "/v1/track", "", call), http.StatusUnauthorized, "missing_credential", "")
	e.fails(e.do("POST", "/v1/track", "", call, basicAuth("", "")), http.StatusUnauthorized, "missing_credential", "")
	e.fails(e.do("POST", "/v1/track", "", call, withHeader("Authorization", "Basic !!!")), http.StatusUnauthorized, "missing_credential", "")
	e.fails(e.do("POST", "/v1/track", "", call, basicAuth("not-a-key", "")), http.StatusUnauthorized, "key_invalid", "")
	forged := o.key[:len(o.key)-6] + "AAAAAA"
	e.fails(e.do("POST", "/v1/batch", "", map[string]any{"batch": []any{call}}, basicAuth(forged, "")), http.StatusUnauthorized, "key_invalid", "")

	porg := e.key(o.id, o.owner.Token, map[string]any{"name": "porg", "type": "product_org",
		"payload_template": map[string]any{"product_org_id": "groupId"}})
	e.fails(e.do("POST", "/v1/identify", "", call, basicAuth(porg.Key, "")), http.StatusUnauthorized, "key_wrong_type", "")

	// A key with a secret: the basic auth password carries it.
	sec := e.key(o.id, o.owner.Token, map[string]any{"name": "with secret", "with_secret": true})
	e.segSuccess(e.do("POST", "/v1/track", "", call, basicAuth(sec.Key, sec.Secret)))
	e.fails(e.do("POST", "/v1/track", "", call, basicAuth(sec.Key, "")), http.StatusUnauthorized, "secret_required", "")
	e.fails(e.do("POST", "/v1/track", "", call, basicAuth(sec.Key, "wrong")), http.StatusUnauthorized, "secret_invalid", "")
	e.segSuccess(e.do("POST", "/v1/track", sec.Key, call, withHeader("X-Api-Secret", sec.Secret)))

	// Revoked keys stop working at once.
	e.ok(e.do("POST", o.base+"/api-keys/"+sec.APIKey.ID+"/revoke", o.owner.Token, nil), http.StatusOK, nil)
	e.fails(e.do("POST", "/v1/track", "", call, basicAuth(sec.Key, sec.Secret)), http.StatusUnauthorized, "key_revoked", "")

	// The key never reaches the log, wherever it travelled.
	if logs := e.n.Logs.String(); strings.Contains(logs, o.key) || strings.Contains(logs, sec.Secret) {
		t.Error("a write key or secret is in the log")
	}
}

func TestSegmentSingleCallErrors(t *testing.T) {
	e := newEnv(t)
	o := e.segOrg("SegErr")
	e.fails(e.segCall(o, "/v1/track", map[string]any{"type": "identify", "userId": "u"}), http.StatusBadRequest, "type_mismatch", "type")
	e.fails(e.segCall(o, "/v1/page", map[string]any{"type": "bogus", "userId": "u"}), http.StatusBadRequest, "type_mismatch", "type")
	e.fails(e.segCall(o, "/v1/page", map[string]any{"type": 7, "userId": "u"}), http.StatusBadRequest, "wrong_type", "type")
	e.fails(e.segCall(o, "/v1/track", map[string]any{"userId": "u", "email": 5}), http.StatusBadRequest, "wrong_type", "email")
	e.fails(e.segCall(o, "/v1/track", map[string]any{"userId": "u", "properties": "x"}), http.StatusBadRequest, "wrong_type", "properties")
	e.fails(e.segCall(o, "/v1/track", map[string]any{"userId": "u", "timestamp": "last tuesday"}), http.StatusBadRequest, "invalid_format", "timestamp")
	e.fails(e.segCall(o, "/v1/track", rawBody(`{"userId": "u",`)), http.StatusBadRequest, "malformed_json", "")
	e.fails(e.segCall(o, "/v1/track", rawBody(`[{"userId": "u"}]`)), http.StatusBadRequest, "malformed_json", "")
	e.fails(e.segCall(o, "/v1/track", rawBody(``)), http.StatusBadRequest, "malformed_json", "")
	e.fails(e.segCall(o, "/v1/track", rawBody(`{"userId":"u","pad":"`+strings.Repeat("x", 33<<10)+`"}`)), http.StatusRequestEntityTooLarge, "payload_too_large", "")
	e.fails(e.segCall(o, "/v1/track", rawBody(`<xml/>`), withHeader("Content-Type", "application/xml")), http.StatusUnsupportedMediaType, "unsupported_media_type", "")
	e.fails(e.segCall(o, "/v1/import", map[string]any{}), http.StatusNotFound, "route_not_found", "")
	// An empty object is a (useless) call: accepted, typed, cold.
	e.segSuccess(e.segCall(o, "/v1/track", rawBody(` { } `)))
	e.segSuccess(e.segCall(o, "/v1/track", rawBody("{\n\"userId\":\"u-ws\"}"), withHeader("Content-Type", "text/plain")))
	sigs := e.segSignals(o, 2)
	for _, s := range sigs {
		var p map[string]any
		if err := json.Unmarshal(s.Payload, &p); err != nil || p["type"] != "track" {
			t.Errorf("stored %s: %v", s.Payload, err)
		}
	}
}

func TestSegmentBatch(t *testing.T) {
	e := newEnv(t)
	o := e.segOrg("SegBatch")

	// All good: 200; the wrapper's sentAt corrects skew, its context
	// reaches calls without their own.
	sentAt := time.Date(2030, 1, 1, 12, 0, 10, 0, time.UTC)
	at := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	e.segSuccess(e.segCall(o, "/v1/batch", map[string]any{
		"sentAt":  sentAt.Format(time.RFC3339),
		"context": map[string]any{"library": map[string]any{"name": "analytics-go"}, "traits": map[string]any{"email": "wrapped@globex.com"}},
		"batch": []any{
			map[string]any{"type": "identify", "userId": "u-b1", "traits": map[string]any{"email": "b1@globex.com"}, "timestamp": at.Format(time.RFC3339)},
			map[string]any{"type": "track", "userId": "u-b2", "event": "Demo Requested"},
			map[string]any{"type": "track", "userId": "u-b3", "event": "Own context", "context": map[string]any{"traits": map[string]any{"email": "own@globex.com"}}},
		},
	}))
	e.segWaitLead(o, "b1@globex.com", nil)
	e.segWaitLead(o, "wrapped@globex.com", nil)
	e.segWaitLead(o, "own@globex.com", nil)
	var skewed *segSignal
	for _, s := range e.segSignals(o, 3) {
		if s.Type == "identify" {
			skewed = &s
		}
	}
	// received (the node's clock) − sentAt is added to the call's timestamp.
	received := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	if want := at.Add(received.Sub(sentAt)); skewed == nil || !skewed.Timestamp.Equal(want) {
		t.Errorf("skew-corrected identify: %+v, want timestamp %v", skewed, want)
	}

	// One bad call (and one without a type): 400 about the first, the good
	// ones stored anyway.
	r := e.segCall(o, "/v1/batch", map[string]any{"batch": []any{
		map[string]any{"type": "track", "userId": "u-ok1", "event": "A", "properties": map[string]any{"email": "ok1@initech.com"}},
		map[string]any{"type": "track", "userId": "u-bad", "email": 5},
		map[string]any{"userId": "u-untyped", "event": "C"},
		map[string]any{"type": "identify", "userId": "u-ok2", "traits": map[string]any{"email": "ok2@initech.com"}},
		"not an object",
	}})
	e.fails(r, http.StatusBadRequest, "wrong_type", "batch[1].email")
	var ae apiErr
	_ = json.Unmarshal(r.Body, &ae)
	if !strings.Contains(ae.Error.Message, "3 of 5") {
		t.Errorf("message %q does not say 3 of 5 were refused", ae.Error.Message)
	}
	e.segWaitLead(o, "ok1@initech.com", nil)
	e.segWaitLead(o, "ok2@initech.com", nil)

	// The first bad one may be the untyped one.
	e.fails(e.segCall(o, "/v1/batch", []any{map[string]any{"userId": "u"}}), http.StatusBadRequest, "required", "batch[0].type")
	e.fails(e.segCall(o, "/v1/batch", []any{map[string]any{"type": "track"}, 3}), http.StatusBadRequest, "malformed_json", "batch[1]")
	e.fails(e.segCall(o, "/v1/batch", map[string]any{"batch": []any{}}), http.StatusBadRequest, "required", "batch")
	e.fails(e.segCall(o, "/v1/batch", map[string]any{"sentAt": "x", "batch": []any{map[string]any{"type": "track"}}}), http.StatusBadRequest, "invalid_format", "sentAt")
	e.fails(e.segCall(o, "/v1/batch", map[string]any{"events": []any{}}), http.StatusBadRequest, "required", "batch")
	big := make([]any, 0, 20)
	for i := 0; i < 20; i++ {
		big = append(big, map[string]any{"type": "track", "userId": "u", "pad": strings.Repeat("x", 30<<10)})
	}
	e.fails(e.segCall(o, "/v1/batch", map[string]any{"batch": big}), http.StatusRequestEntityTooLarge, "payload_too_large", "")
	// A single call over 32 KB inside a batch is refused alone.
	e.fails(e.segCall(o, "/v1/batch", []any{map[string]any{"type": "track", "userId": "u-big", "pad": strings.Repeat("x", 33<<10)}}),
		http.StatusBadRequest, "payload_too_large", "batch[0]")
}

// A group call with traits makes the group's account; a later call with
// that groupId links its lead explicitly, over the email's domain.
func TestSegmentGroupLinksAccountExplicitly(t *testing.T) {
	e := newEnv(t)
	o := e.segOrg("SegGroup")
	var initech segAccount
	e.ok(e.do("POST", o.base+"/accounts", o.owner.Token, map[string]any{"name": "Initech", "domain": "initech.com"}), http.StatusCreated, &initech)

	e.segSuccess(e.segCall(o, "/v1/group", map[string]any{"userId": "u-g", "groupId": "grp-42",
		"traits": map[string]any{"name": "Globex Group", "website": "https://globex-group.com", "employees": 250}}))
	var accts list[segAccount]
	e.ok(e.do("GET", o.base+"/accounts", o.owner.Token, nil), http.StatusOK, &accts)
	var group *segAccount
	for i, a := range accts.Items {
		if a.Source == "segment" {
			group = &accts.Items[i]
		}
	}
	if group == nil || group.Name != "Globex Group" || group.Domain != "globex-group.com" || group.Attributes["segment_group_id"] != "grp-42" {
		t.Fatalf("accounts %+v: want one made by the group call", accts.Items)
	}

	// A later track carrying the groupId in its context: explicit link,
	// even though the email's domain has its own account.
	e.segSuccess(e.segCall(o, "/v1/track", map[string]any{"userId": "u-dana", "event": "Signed Up",
		"context": map[string]any{"groupId": "grp-42", "traits": map[string]any{"email": "dana@initech.com"}}}))
	l := e.segWaitLead(o, "dana@initech.com", func(l segLead) bool { return l.Account != nil })
	if l.Account.AccountID != group.ID || l.Account.How != "explicit" {
		t.Errorf("lead account %+v, want %s explicit", l.Account, group.ID)
	}
	// Without the groupId, the domain decides.
	e.segSuccess(e.segCall(o, "/v1/identify", map[string]any{"userId": "u-eve", "traits": map[string]any{"email": "eve@initech.com"}}))
	l = e.segWaitLead(o, "eve@initech.com", func(l segLead) bool { return l.Account != nil })
	if l.Account.AccountID != initech.ID || l.Account.How != "domain" {
		t.Errorf("lead account %+v, want %s by domain", l.Account, initech.ID)
	}

	// A second group call updates the same account; one in a batch too.
	e.segSuccess(e.segCall(o, "/v1/batch", map[string]any{"batch": []any{
		map[string]any{"type": "group", "userId": "u-g", "groupId": "grp-42", "traits": map[string]any{"name": "Globex Group Intl"}},
		map[string]any{"type": "group", "userId": "u-h", "groupId": "grp-43", "traits": map[string]any{"company": "Hooli"}},
	}}))
	var a segAccount
	e.ok(e.do("GET", o.base+"/accounts/"+group.ID, o.owner.Token, nil), http.StatusOK, &a)
	if a.Name != "Globex Group Intl" || a.Domain != "globex-group.com" {
		t.Errorf("updated group account %+v", a)
	}
	e.ok(e.do("GET", o.base+"/accounts", o.owner.Token, nil), http.StatusOK, &accts)
	if n := len(accts.Items); n != 3 {
		t.Errorf("%d accounts, want Initech and two groups: %+v", n, accts.Items)
	}
	// Group calls without traits make no account.
	e.segSuccess(e.segCall(o, "/v1/group", map[string]any{"userId": "u-x", "groupId": "grp-bare"}))
	e.ok(e.do("GET", o.base+"/accounts", o.owner.Token, nil), http.StatusOK, &accts)
	if n := len(accts.Items); n != 3 {
		t.Errorf("a traitless group call made an account: %d", n)
	}
}
