package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/api/client"
	"github.com/trailspark/trailspark/engine/credential"
)

// Integration tests of signals in (docs/api.md "Signals in", SPEC §2):
// ingestion endpoints, dedup, bulk, ingestion auth, processing statuses,
// identity replay, accounts and mapping rules, against a real node.

const (
	hookPath    = "/api/signal-staging/webhook/"
	bulkPath    = "/api/signal-staging/bulk/"
	acceptedMsg = "Signal received and queued for processing"
	// settleWithin bounds how long a test waits for processing.
	settleWithin = 5 * time.Second
)

// ---- response shapes (from api/ingest.go, actors/queries.go, actors/records.go)

type accepted struct {
	ID          uint64 `json:"id"`
	Message     string `json:"message"`
	Source      string `json:"source"`
	ColdStorage bool   `json:"cold_storage"`
	Duplicate   bool   `json:"duplicate"`
}

type errDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

type batchItem struct {
	Index       int        `json:"index"`
	ID          uint64     `json:"id"`
	Source      string     `json:"source"`
	ColdStorage bool       `json:"cold_storage"`
	Duplicate   bool       `json:"duplicate"`
	Error       *errDetail `json:"error"`
}

type batchAccepted struct {
	Accepted int         `json:"accepted"`
	Rejected int         `json:"rejected"`
	Results  []batchItem `json:"results"`
}

type bulkSummary struct {
	Accepted   int   `json:"accepted"`
	Rejected   int   `json:"rejected"`
	Duplicates int   `json:"duplicates"`
	DurationMS int64 `json:"duration_ms"`
	Errors     []struct {
		Line  int       `json:"line"`
		Error errDetail `json:"error"`
	} `json:"errors"`
}

type signalView struct {
	ID          uint64          `json:"id"`
	Status      string          `json:"status"`
	Source      string          `json:"source"`
	Type        string          `json:"type"`
	Event       string          `json:"event"`
	Timestamp   time.Time       `json:"timestamp"`
	ReceivedAt  time.Time       `json:"received_at"`
	RuleID      string          `json:"rule_id"`
	LeadID      string          `json:"lead_id"`
	AccountID   string          `json:"account_id"`
	Error       string          `json:"error"`
	ProcessedAt *time.Time      `json:"processed_at"`
	Payload     json.RawMessage `json:"payload"`
}

type timelineEntry struct {
	SignalID   uint64  `json:"signal_id"`
	Source     string  `json:"source"`
	Event      string  `json:"event"`
	RuleID     string  `json:"rule_id"`
	RuleName   string  `json:"rule_name"`
	SignalType string  `json:"signal_type"`
	Weight     float64 `json:"weight"`
}

type accountLink struct {
	AccountID string   `json:"account_id"`
	How       string   `json:"how"`
	Ambiguous []string `json:"ambiguous"`
}

type leadView struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	Title       string `json:"title"`
	Identifiers []struct {
		Kind  string `json:"kind"`
		Value string `json:"value"`
	} `json:"identifiers"`
	Account     *accountLink    `json:"account"`
	Unmatched   string          `json:"unmatched_reason"`
	SignalCount int             `json:"signal_count"`
	MappedCount int             `json:"mapped_count"`
	Timeline    []timelineEntry `json:"timeline"`
}

func (l leadView) entry(sig uint64) (timelineEntry, bool) {
	for _, t := range l.Timeline {
		if t.SignalID == sig {
			return t, true
		}
	}
	return timelineEntry{}, false
}

type accountView struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Domain     string    `json:"domain"`
	Industry   string    `json:"industry"`
	Employees  *int      `json:"employees"`
	Region     string    `json:"region"`
	ExternalID string    `json:"external_id"`
	Inferred   bool      `json:"inferred"`
	Source     string    `json:"source"`
	CreatedAt  time.Time `json:"created_at"`
}

type ruleView struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	SignalType  string `json:"signal_type"`
	Description string `json:"description"`
	Priority    int    `json:"priority"`
	Source      string `json:"source"`
	Mappings    []struct {
		Path   string `json:"path"`
		Target string `json:"target"`
	} `json:"mappings"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type statsView struct {
	Pending   int            `json:"pending"`
	ByStatus  map[string]int `json:"by_status"`
	Truncated bool           `json:"truncated"`
}

// total is every signal the organization has stored (pending included).
func (s statsView) total() int {
	n := 0
	for _, c := range s.ByStatus {
		n += c
	}
	return n
}

// ---- fixtures and helpers

// ingestOrg is an organization ready to take signals.
type ingestOrg struct {
	owner *user
	org   orgView
	key   string // a signal_staging key without a secret
	base  string // /api/v1/orgs/{org}
}

func (e *tenv) ingestOrg(name string) *ingestOrg {
	e.t.Helper()
	owner := e.user("owner")
	o := e.org(owner, name)
	k := e.key(o.ID, owner.Token, map[string]any{"name": "ingest"})
	return &ingestOrg{owner: owner, org: o, key: k.Key, base: "/api/v1/orgs/" + o.ID}
}

// hook posts one signal with the key in the path.
func (e *tenv) hook(key string, body any, opts ...reqOpt) resp {
	e.t.Helper()
	return e.do("POST", hookPath+key, "", body, opts...)
}

// acceptedOK asserts a single-signal 202 with exactly the documented shape:
// {"id","message","source","cold_storage"}, plus "duplicate": true for a
// duplicate.
func (e *tenv) acceptedOK(r resp) accepted {
	e.t.Helper()
	var a accepted
	e.ok(r, 202, &a)
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		e.t.Fatalf("%s: %v", r, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := "cold_storage,id,message,source"
	if a.Duplicate {
		want = "cold_storage,duplicate,id,message,source"
	}
	if got := strings.Join(keys, ","); got != want {
		e.t.Errorf("%s: keys %s, want %s", r, got, want)
	}
	if id, ok := m["id"].(float64); !ok || id < 1 || id != float64(uint64(id)) {
		e.t.Errorf("%s: id is not a positive integer", r)
	}
	if a.Message != acceptedMsg {
		e.t.Errorf("%s: message %q", r, a.Message)
	}
	if _, ok := m["cold_storage"].(bool); !ok {
		e.t.Errorf("%s: cold_storage is not a boolean", r)
	}
	if d, ok := m["duplicate"]; ok && d != true {
		e.t.Errorf("%s: duplicate is %v; it is present only when true", r, d)
	}
	return a
}

// ingest posts one signal and asserts the 202.
func (e *tenv) ingest(key string, body any, opts ...reqOpt) accepted {
	e.t.Helper()
	return e.acceptedOK(e.hook(key, body, opts...))
}

func (e *tenv) batch(path string, body any, opts ...reqOpt) batchAccepted {
	e.t.Helper()
	var b batchAccepted
	r := e.do("POST", path, "", body, opts...)
	e.ok(r, 202, &b)
	if len(b.Results) != b.Accepted+b.Rejected {
		e.t.Errorf("%s: %d results for %d accepted + %d rejected", r, len(b.Results), b.Accepted, b.Rejected)
	}
	for i, it := range b.Results {
		if it.Index != i {
			e.t.Errorf("%s: results[%d].index = %d", r, i, it.Index)
		}
		if (it.Error == nil) == (it.ID == 0) {
			e.t.Errorf("%s: results[%d] has id %d and error %v: want exactly one", r, i, it.ID, it.Error)
		}
	}
	return b
}

func (e *tenv) getSignal(org, token string, id uint64) signalView {
	e.t.Helper()
	var s signalView
	e.ok(e.do("GET", fmt.Sprintf("/api/v1/orgs/%s/signals/%d", org, id), token, nil), 200, &s)
	return s
}

// waitSignal polls the signal until its status is one of want (or, with no
// want, until it has left pending and failed), for up to settleWithin.
func (e *tenv) waitSignal(org, token string, id uint64, want ...string) signalView {
	e.t.Helper()
	deadline := time.Now().Add(settleWithin)
	for {
		s := e.getSignal(org, token, id)
		done := s.Status != "pending" && s.Status != "failed"
		if len(want) > 0 {
			done = false
			for _, w := range want {
				done = done || s.Status == w
			}
		}
		if done {
			return s
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("signal %d is %q after %v (error %q), want %v", id, s.Status, settleWithin, s.Error, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *tenv) stats(o *ingestOrg) statsView {
	e.t.Helper()
	var s statsView
	e.ok(e.do("GET", o.base+"/signals/stats", o.owner.Token, nil), 200, &s)
	return s
}

// settle waits until the organization has no pending signal.
func (e *tenv) settle(o *ingestOrg, within time.Duration) statsView {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := e.stats(o)
		if s.Pending == 0 && s.ByStatus["failed"] == 0 {
			return s
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("after %v still %d pending: %+v", within, s.Pending, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leadByEmail finds the lead of an email (nil when none).
func (e *tenv) leadByEmail(o *ingestOrg, email string) *leadView {
	e.t.Helper()
	var l list[leadView]
	e.ok(e.do("GET", o.base+"/leads?email="+url.QueryEscape(email), o.owner.Token, nil), 200, &l)
	switch len(l.Items) {
	case 0:
		return nil
	case 1:
		return &l.Items[0]
	}
	e.t.Fatalf("leads?email=%s: %d leads", email, len(l.Items))
	return nil
}

func (e *tenv) getLead(o *ingestOrg, id string) leadView {
	e.t.Helper()
	var l leadView
	e.ok(e.do("GET", o.base+"/leads/"+id, o.owner.Token, nil), 200, &l)
	return l
}

func (e *tenv) getAccount(o *ingestOrg, id string) accountView {
	e.t.Helper()
	var a accountView
	e.ok(e.do("GET", o.base+"/accounts/"+id, o.owner.Token, nil), 200, &a)
	return a
}

func (e *tenv) allAccounts(org, token string) []accountView {
	e.t.Helper()
	var l list[accountView]
	e.ok(e.do("GET", "/api/v1/orgs/"+org+"/accounts?limit=200", token, nil), 200, &l)
	return l.Items
}

func (e *tenv) createRule(org, token string, body map[string]any) ruleView {
	e.t.Helper()
	var r ruleView
	e.ok(e.do("POST", "/api/v1/orgs/"+org+"/signal-rules", token, body), 201, &r)
	if !strings.HasPrefix(r.ID, "rule_") {
		e.t.Fatalf("created rule id %q", r.ID)
	}
	return r
}

// eventRule is a rule mapping signals whose event is event, by email.
func eventRule(name, event string) map[string]any {
	return map[string]any{"name": name, "signal_type": "form_fill",
		"conditions": map[string]any{"path": "event", "op": "equals", "value": event},
		"mappings":   []any{map[string]any{"path": "email", "target": "email"}}}
}

// compactJSON is b compacted, for byte comparisons of payloads.
func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("compact %q: %v", b, err)
	}
	return buf.String()
}

// ---- single webhook: the 202, processing statuses, cold storage and replay

func TestIngestSingle(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Single")
	rule := e.createRule(o.org.ID, o.owner.Token, eventRule("Demo requests", "Demo Requested"))

	cases := []struct {
		name       string
		body       string
		source     string
		cold       bool
		status     string
		rule, lead bool
	}{
		{"a rule matches", `{"type":"track","event":"Demo Requested","email":"Lee@Globex.com","properties":{"plan":"enterprise"}}`,
			"segment", false, "completed", true, true},
		{"no rule matches", `{"event":"Newsletter Signup","email":"kim@initech.com"}`, "generic", false, "skipped", false, true},
		{"email in traits", `{"type":"identify","userId":"u-77","traits":{"email":"pat@umbrella.com"}}`, "segment", false, "skipped", false, true},
		{"user id alone", `{"type":"track","event":"Logged In","userId":"u-78"}`, "segment", false, "skipped", false, true},
		{"anonymous page view", `{"type":"page","name":"Pricing","anonymousId":"anon-single-1"}`, "segment", true, "cold", false, false},
		{"no identifier at all", `{"event":"ping"}`, "generic", true, "cold", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e.at(t)
			a := e.ingest(o.key, rawBody(tc.body))
			if a.Source != tc.source || a.ColdStorage != tc.cold || a.Duplicate {
				t.Errorf("202 %+v, want source %s cold_storage %v", a, tc.source, tc.cold)
			}
			s := e.waitSignal(o.org.ID, o.owner.Token, a.ID, tc.status)
			if s.ID != a.ID || s.Source != tc.source || s.ProcessedAt == nil {
				t.Errorf("signal %+v", s)
			}
			if got := compactJSON(t, s.Payload); got != compactJSON(t, []byte(tc.body)) {
				t.Errorf("payload %s, want the signal as sent %s", got, tc.body)
			}
			if (s.RuleID == rule.ID) != tc.rule || (s.RuleID != "" && s.RuleID != rule.ID) {
				t.Errorf("rule_id %q, want rule %v", s.RuleID, tc.rule)
			}
			if (s.LeadID != "") != tc.lead {
				t.Errorf("lead_id %q, want a lead %v", s.LeadID, tc.lead)
			}
			if tc.lead {
				l := e.getLead(o, s.LeadID)
				if _, ok := l.entry(a.ID); !ok {
					t.Errorf("lead %s has no timeline entry for signal %d: %+v", l.ID, a.ID, l.Timeline)
				}
			}
		})
	}

	t.Run("email is case-insensitive and the lead is found by it", func(t *testing.T) {
		e := e.at(t)
		l := e.leadByEmail(o, "LEE@globex.COM")
		if l == nil || l.Email != "lee@globex.com" || l.MappedCount != 1 {
			t.Fatalf("lead by email: %+v", l)
		}
		if len(l.Timeline) != 1 || l.Timeline[0].RuleName != "Demo requests" || l.Timeline[0].SignalType != "form_fill" {
			t.Errorf("timeline %+v, want one entry mapped by Demo requests as form_fill", l.Timeline)
		}
		// Nobody else can read it: another tenant gets 404 both ways.
		other := e.ingestOrg("Other")
		e.fails(e.do("GET", other.base+"/leads/"+l.ID, other.owner.Token, nil), 404, "lead_not_found", "")
		e.fails(e.do("GET", o.base+"/leads/"+l.ID, other.owner.Token, nil), 404, "organization_not_found", "")
		if got := e.leadByEmail(other, "lee@globex.com"); got != nil {
			t.Errorf("another tenant finds the lead by email: %+v", got)
		}
	})

	t.Run("identify replays the cold signals of its anonymous id", func(t *testing.T) {
		e := e.at(t)
		anon := fmt.Sprintf("anon-%d", e.next())
		view := e.ingest(o.key, map[string]any{"type": "page", "name": "Pricing", "anonymousId": anon})
		docs := e.ingest(o.key, map[string]any{"type": "track", "event": "Demo Requested", "anonymousId": anon})
		stranger := e.ingest(o.key, map[string]any{"type": "page", "name": "Home", "anonymousId": anon + "-other"})
		for _, a := range []accepted{view, docs, stranger} {
			if !a.ColdStorage {
				t.Errorf("anonymous signal %d: cold_storage false", a.ID)
			}
			e.waitSignal(o.org.ID, o.owner.Token, a.ID, "cold")
		}

		id := e.ingest(o.key, map[string]any{"type": "identify", "anonymousId": anon, "email": "dana@hooli.com",
			"traits": map[string]any{"name": "Dana"}})
		if id.ColdStorage {
			t.Errorf("identify with an email: cold_storage true")
		}
		lead := e.waitSignal(o.org.ID, o.owner.Token, id.ID, "skipped").LeadID
		// The page view was replayed onto the lead (no rule: skipped); the
		// demo request matched the rule on replay.
		if s := e.waitSignal(o.org.ID, o.owner.Token, view.ID, "skipped"); s.LeadID != lead {
			t.Errorf("replayed page view: lead %q, want %q", s.LeadID, lead)
		}
		if s := e.waitSignal(o.org.ID, o.owner.Token, docs.ID, "completed"); s.LeadID != lead || s.RuleID != rule.ID {
			t.Errorf("replayed demo request: %+v, want lead %s rule %s", s, lead, rule.ID)
		}
		if s := e.getSignal(o.org.ID, o.owner.Token, stranger.ID); s.Status != "cold" || s.LeadID != "" {
			t.Errorf("another anonymous id's signal left cold storage: %+v", s)
		}
		l := e.leadByEmail(o, "dana@hooli.com")
		if l == nil || l.ID != lead {
			t.Fatalf("lead by email: %+v, want %s", l, lead)
		}
		for _, a := range []accepted{view, docs, id} {
			if _, ok := l.entry(a.ID); !ok {
				t.Errorf("signal %d is not on the lead's timeline: %+v", a.ID, l.Timeline)
			}
		}
		if l.SignalCount != 3 || l.MappedCount != 1 {
			t.Errorf("lead counts: %d signals, %d mapped; want 3 and 1", l.SignalCount, l.MappedCount)
		}

		// Later signals of the now-known anonymous id skip cold storage.
		later := e.ingest(o.key, map[string]any{"type": "page", "name": "Docs", "anonymousId": anon})
		if later.ColdStorage {
			t.Errorf("a known anonymous id went to cold storage")
		}
		if s := e.waitSignal(o.org.ID, o.owner.Token, later.ID, "skipped"); s.LeadID != lead {
			t.Errorf("later anonymous signal: lead %q, want %q", s.LeadID, lead)
		}
	})

	t.Run("a signal with no identifier is never pulled onto a lead", func(t *testing.T) {
		e := e.at(t)
		none := e.ingest(o.key, map[string]any{"event": "ping", "properties": map[string]any{"n": e.next()}})
		e.waitSignal(o.org.ID, o.owner.Token, none.ID, "cold")
		// An identify whose anonymousId is empty, or a blocked value, must
		// not claim signals stored with no identifier.
		for _, anon := range []string{"", "null", "undefined", "anonymous"} {
			a := e.ingest(o.key, map[string]any{"type": "identify", "anonymousId": anon,
				"email": fmt.Sprintf("claim.%d@hooli.com", e.next())})
			e.waitSignal(o.org.ID, o.owner.Token, a.ID, "skipped")
		}
		if s := e.getSignal(o.org.ID, o.owner.Token, none.ID); s.Status != "cold" || s.LeadID != "" {
			t.Errorf("signal without identifier: %+v", s)
		}
	})

	t.Run("unknown signals", func(t *testing.T) {
		e := e.at(t)
		e.fails(e.do("GET", o.base+"/signals/999999", o.owner.Token, nil), 404, "signal_not_found", "")
		e.fails(e.do("GET", o.base+"/signals/abc", o.owner.Token, nil), 404, "signal_not_found", "")
		e.fails(e.do("GET", o.base+"/signals/0", o.owner.Token, nil), 404, "signal_not_found", "")
	})
}

// ---- source detection

func TestIngestSource(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Sources")
	cases := []struct {
		name    string
		source  string // path source ("" = /webhook/{apiKey})
		xsource string
		body    string
		want    string
	}{
		{"path forces the source", "hubspot", "", `{"email":"a@globex.com","type":"track"}`, "hubspot"},
		{"path source is lowercased", "HubSpot", "", `{"email":"a@globex.com"}`, "hubspot"},
		{"path beats X-Source and the payload", "marketo", "salesforce", `{"email":"a@globex.com","source":"intercom","portalId":1}`, "marketo"},
		{"X-Source forces the source", "", "website", `{"email":"a@globex.com","type":"track","mktLeadId":7}`, "website"},
		{"X-Source is lowercased and trimmed", "", " Zendesk ", `{"email":"a@globex.com"}`, "zendesk"},
		{"payload source field", "", "", `{"email":"a@globex.com","source":"intercom","portalId":1}`, "intercom"},
		{"payload source that is not a name is data", "", "", `{"email":"a@globex.com","source":"Google Ads"}`, "generic"},
		{"mktLeadId is marketo", "", "", `{"mktLeadId":1234,"email":"a@globex.com","type":"track"}`, "marketo"},
		{"portalId is hubspot", "", "", `{"portalId":42,"email":"a@globex.com","type":"track"}`, "hubspot"},
		{"hs_object_id is hubspot", "", "", `{"hs_object_id":"901","email":"a@globex.com"}`, "hubspot"},
		{"sObject is salesforce", "", "", `{"sObject":"Lead","email":"a@globex.com","type":"track"}`, "salesforce"},
		{"a Segment type is segment", "", "", `{"type":"identify","userId":"u-1"}`, "segment"},
		{"a Segment type in capitals is segment", "", "", `{"type":"Track","userId":"u-1","event":"x"}`, "segment"},
		{"otherwise generic", "", "", `{"event":"Signed Up","email":"a@globex.com"}`, "generic"},
		{"blank ids do not count", "", "", `{"mktLeadId":" ","portalId":null,"email":"a@globex.com"}`, "generic"},
		{"a non-Segment type is the hubspot payload's own", "", "", `{"portalId":42,"type":"contact.creation","email":"a@globex.com"}`, "hubspot"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e.at(t)
			path := hookPath + o.key
			if tc.source != "" {
				path = hookPath + tc.source + "/" + o.key
			}
			var opts []reqOpt
			if tc.xsource != "" {
				opts = append(opts, withHeader("X-Source", tc.xsource))
			}
			a := e.acceptedOK(e.do("POST", path, "", rawBody(tc.body), opts...))
			if a.Source != tc.want {
				t.Errorf("202 source %q, want %q", a.Source, tc.want)
			}
			if s := e.getSignal(o.org.ID, o.owner.Token, a.ID); s.Source != tc.want {
				t.Errorf("stored source %q, want %q", s.Source, tc.want)
			}
		})
	}

	bad := []struct {
		name, path string
		opts       []reqOpt
		field      string
	}{
		{"path source with a dot", hookPath + "bad.source/" + o.key, nil, "source"},
		{"path source too long", hookPath + strings.Repeat("s", 33) + "/" + o.key, nil, "source"},
		{"path source checked before the key", hookPath + "bad.source/sk_nope", nil, "source"},
		{"X-Source with spaces", hookPath + o.key, []reqOpt{withHeader("X-Source", "my source")}, "X-Source"},
		{"X-Source with punctuation", hookPath + o.key, []reqOpt{withHeader("X-Source", "hub/spot")}, "X-Source"},
		{"X-Source on a batch", hookPath + o.key + "/batch", []reqOpt{withHeader("X-Source", "bad source")}, "X-Source"},
		{"X-Source on a bulk import", bulkPath + o.key, []reqOpt{withHeader("X-Source", "bad source")}, "X-Source"},
	}
	for _, tc := range bad {
		t.Run("invalid: "+tc.name, func(t *testing.T) {
			e := e.at(t)
			body := `{"email":"a@globex.com"}`
			if strings.HasSuffix(tc.path, "/batch") {
				body = "[" + body + "]"
			}
			e.fails(e.do("POST", tc.path, "", rawBody(body), tc.opts...), 400, "invalid_format", tc.field)
		})
	}

	t.Run("X-Source applies to every item of a batch", func(t *testing.T) {
		e := e.at(t)
		b := e.batch(hookPath+o.key+"/batch", rawBody(`[{"mktLeadId":1},{"type":"track","userId":"u"},{"event":"x"}]`),
			withHeader("X-Source", "partner"))
		for _, it := range b.Results {
			if it.Source != "partner" {
				t.Errorf("item %d: source %q", it.Index, it.Source)
			}
		}
	})
}

// ---- batches

func TestIngestBatch(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Batches")
	batchURL := hookPath + o.key + "/batch"
	big := `{"email":"big@globex.com","pad":"` + strings.Repeat("x", 33<<10) + `"}`

	type itemWant struct {
		ok          bool
		source      string
		code, field string
		cold        bool
	}
	cases := []struct {
		name  string
		path  string
		opts  []reqOpt
		body  string
		items []itemWant
	}{
		{"a JSON array", batchURL, nil,
			`[{"type":"track","event":"A","email":"a@globex.com"},{"event":"B","userId":"u-2"},{"anonymousId":"anon-b"}]`,
			[]itemWant{{ok: true, source: "segment"}, {ok: true, source: "generic"}, {ok: true, source: "generic", cold: true}}},
		{"Segment's batch object", batchURL, nil,
			`{"batch":[{"type":"identify","userId":"u-3","traits":{"email":"c@globex.com"}},{"type":"track","event":"C","userId":"u-3"}],"sentAt":"2026-01-05T09:00:00Z","context":{"library":"analytics.js"}}`,
			[]itemWant{{ok: true, source: "segment"}, {ok: true, source: "segment"}}},
		{"the key as a bearer token", "/api/signal-staging/webhook/batch", []reqOpt{withHeader("Authorization", "Bearer "+o.key)},
			`[{"event":"D","email":"d@globex.com"}]`, []itemWant{{ok: true, source: "generic"}}},
		{"bad items are refused one by one", batchURL, nil,
			`[{"event":"E","email":"e@globex.com"},{"type":"bogus","email":"x@globex.com"},42,{"email":5},{"timestamp":"yesterday","userId":"u"},{"event":"F","email":"f@globex.com"}]`,
			[]itemWant{{ok: true, source: "generic"}, {code: "invalid_enum", field: "type"}, {code: "malformed_json", field: ""},
				{code: "wrong_type", field: "email"}, {code: "invalid_format", field: "timestamp"}, {ok: true, source: "generic"}}},
		{"one item over 32 KB is refused, not the batch", batchURL, nil,
			`[{"event":"G","email":"g@globex.com"},` + big + `]`,
			[]itemWant{{ok: true, source: "generic"}, {code: "payload_too_large", field: ""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e.at(t)
			b := e.batch(tc.path, rawBody(tc.body), tc.opts...)
			if len(b.Results) != len(tc.items) {
				t.Fatalf("%d results, want %d: %+v", len(b.Results), len(tc.items), b)
			}
			acc := 0
			for i, w := range tc.items {
				it := b.Results[i]
				if w.ok {
					acc++
					if it.Error != nil || it.ID == 0 || it.Source != w.source || it.ColdStorage != w.cold || it.Duplicate {
						t.Errorf("item %d: %+v, want accepted from %s (cold %v)", i, it, w.source, w.cold)
					}
					continue
				}
				if it.Error == nil || it.Error.Code != w.code || it.Error.Field != w.field || it.Error.Message == "" || it.ID != 0 {
					t.Errorf("item %d: %+v error %+v, want %s on %q", i, it, it.Error, w.code, w.field)
				}
			}
			if b.Accepted != acc || b.Rejected != len(tc.items)-acc {
				t.Errorf("accepted %d rejected %d, want %d and %d", b.Accepted, b.Rejected, acc, len(tc.items)-acc)
			}
			// Each accepted item is its own stored signal.
			seen := map[uint64]bool{}
			for _, it := range b.Results {
				if it.ID != 0 {
					if seen[it.ID] {
						t.Errorf("id %d given twice", it.ID)
					}
					seen[it.ID] = true
					e.getSignal(o.org.ID, o.owner.Token, it.ID)
				}
			}
		})
	}

	t.Run("timestamps: clock skew is corrected with sentAt", func(t *testing.T) {
		e := e.at(t)
		now := e.n.Clock.Now().UTC()
		at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
		// The sender's clock is 50 minutes behind: it stamped the event at
		// -60m and sent it at -50m, by its clock, just now by ours.
		single := e.ingest(o.key, map[string]any{"email": "t@globex.com", "timestamp": at(-time.Hour), "sentAt": at(-50 * time.Minute)})
		b := e.batch(batchURL, map[string]any{"sentAt": at(-50 * time.Minute), "batch": []any{
			map[string]any{"email": "t@globex.com", "timestamp": at(-time.Hour)},                                          // wrapper sentAt
			map[string]any{"email": "t@globex.com", "timestamp": at(-time.Hour), "sentAt": at(-58 * time.Minute)},         // its own sentAt
			map[string]any{"email": "t@globex.com", "timestamp": at(-time.Hour), "originalTimestamp": at(-2 * time.Hour)}, // Segment-corrected
			map[string]any{"email": "t@globex.com"},                                                                       // no time: received
		}})
		want := []struct {
			id uint64
			ts time.Time
		}{{single.ID, now.Add(-10 * time.Minute)}, {b.Results[0].ID, now.Add(-10 * time.Minute)},
			{b.Results[1].ID, now.Add(-2 * time.Minute)}, {b.Results[2].ID, now.Add(-time.Hour)}, {b.Results[3].ID, now}}
		for i, w := range want {
			s := e.getSignal(o.org.ID, o.owner.Token, w.id)
			if !s.Timestamp.Equal(w.ts) || !s.ReceivedAt.Equal(now) {
				t.Errorf("signal %d (#%d): timestamp %v received %v, want %v and %v", w.id, i, s.Timestamp, s.ReceivedAt, w.ts, now)
			}
		}
	})

	// A body just over 500 KB, made of small valid items.
	var sb strings.Builder
	sb.WriteString("[")
	for i := 0; sb.Len() <= 500<<10; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"event":"pad","email":"p%d@globex.com","properties":{"pad":"%s"}}`, i, strings.Repeat("y", 900))
	}
	sb.WriteString("]")
	tooBig := sb.String()
	var many strings.Builder
	many.WriteString("[{}")
	for i := 0; i < 10000; i++ {
		many.WriteString(",{}")
	}
	many.WriteString("]")

	bad := []struct {
		name   string
		path   string
		body   string
		opts   []reqOpt
		status int
		code   string
		field  string
		says   string // the message mentions it
	}{
		{"over 500 KB", batchURL, tooBig, nil, 413, "payload_too_large", "", "512000"},
		{"over 500 KB, streamed", batchURL, tooBig, []reqOpt{chunked()}, 413, "payload_too_large", "", "512000"},
		{"one signal over 32 KB", hookPath + o.key, big, nil, 413, "payload_too_large", "", "32768"},
		{"one signal over 32 KB, streamed", hookPath + o.key, big, []reqOpt{chunked()}, 413, "payload_too_large", "", "32768"},
		{"an empty array", batchURL, `[]`, nil, 400, "required", "batch", ""},
		{"an empty batch", batchURL, `{"batch":[]}`, nil, 400, "required", "batch", ""},
		{"no batch member", batchURL, `{"items":[{}]}`, nil, 400, "required", "batch", ""},
		{"batch is not an array", batchURL, `{"batch":{"email":"a@globex.com"}}`, nil, 400, "malformed_json", "batch", ""},
		{"a bad wrapper sentAt", batchURL, `{"batch":[{}],"sentAt":"soon"}`, nil, 400, "invalid_format", "sentAt", ""},
		{"a string", batchURL, `"hello"`, nil, 400, "malformed_json", "", ""},
		{"malformed", batchURL, `[{"email":"a@globex.com"},`, nil, 400, "malformed_json", "", ""},
		{"an empty body", batchURL, ``, nil, 400, "malformed_json", "", ""},
		{"more than 10,000 items", batchURL, many.String(), nil, 400, "too_many", "batch", ""},
		{"wrong content type", batchURL, `[{}]`, []reqOpt{withHeader("Content-Type", "application/xml")}, 415, "unsupported_media_type", "", ""},
	}
	for _, tc := range bad {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			e := e.at(t)
			before := e.stats(o).total()
			r := e.do("POST", tc.path, "", rawBody(tc.body), tc.opts...)
			e.fails(r, tc.status, tc.code, tc.field)
			var ae apiErr
			_ = json.Unmarshal(r.Body, &ae)
			if tc.says != "" && !strings.Contains(ae.Error.Message, tc.says) {
				t.Errorf("message %q does not mention %s", ae.Error.Message, tc.says)
			}
			if after := e.stats(o).total(); after != before {
				t.Errorf("a refused request stored signals: %d before, %d after", before, after)
			}
		})
	}
}

// ---- dedup

func TestIngestDedup(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Dedup")

	t.Run("single", func(t *testing.T) {
		cases := []struct {
			name       string
			first, two string
			opts1      []reqOpt
			opts2      []reqOpt
			dup        bool
		}{
			{"same messageId", `{"messageId":"m-1","email":"a@globex.com"}`, `{"messageId":"m-1","email":"a@globex.com"}`, nil, nil, true},
			{"same messageId, other body", `{"messageId":"m-2","email":"a@globex.com"}`, `{"messageId":"m-2","event":"changed"}`, nil, nil, true},
			{"message_id spelling", `{"message_id":"m-3","email":"a@globex.com"}`, `{"messageId":"m-3","email":"a@globex.com"}`, nil, nil, true},
			{"other messageId", `{"messageId":"m-4","email":"a@globex.com"}`, `{"messageId":"m-5","email":"a@globex.com"}`, nil, nil, false},
			{"same Idempotency-Key", `{"email":"a@globex.com"}`, `{"email":"a@globex.com"}`,
				[]reqOpt{withHeader("Idempotency-Key", "ik-1")}, []reqOpt{withHeader("Idempotency-Key", "ik-1")}, true},
			{"other Idempotency-Key", `{"email":"a@globex.com"}`, `{"email":"a@globex.com"}`,
				[]reqOpt{withHeader("Idempotency-Key", "ik-2")}, []reqOpt{withHeader("Idempotency-Key", "ik-3")}, false},
			{"no key at all", `{"email":"a@globex.com"}`, `{"email":"a@globex.com"}`, nil, nil, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := e.at(t)
				a := e.ingest(o.key, rawBody(tc.first), tc.opts1...)
				b := e.ingest(o.key, rawBody(tc.two), tc.opts2...)
				if a.Duplicate || b.Duplicate != tc.dup || (b.ID == a.ID) != tc.dup {
					t.Errorf("first %+v, second %+v: want duplicate %v", a, b, tc.dup)
				}
				if tc.dup {
					// The first signal is what is stored.
					if s := e.getSignal(o.org.ID, o.owner.Token, a.ID); compactJSON(t, s.Payload) != tc.first {
						t.Errorf("stored payload %s, want the first %s", s.Payload, tc.first)
					}
				}
			})
		}
	})

	t.Run("dedup is per organization", func(t *testing.T) {
		e := e.at(t)
		other := e.ingestOrg("Other")
		body := map[string]any{"messageId": "shared-1", "email": "a@globex.com"}
		e.ingest(o.key, body)
		if a := e.ingest(other.key, body); a.Duplicate {
			t.Errorf("another tenant's messageId made this one a duplicate")
		}
		if a := e.ingest(other.key, map[string]any{"email": "a@globex.com"}, withHeader("Idempotency-Key", "ik-1")); a.Duplicate {
			t.Errorf("another tenant's Idempotency-Key made this one a duplicate")
		}
	})

	t.Run("within and across batches", func(t *testing.T) {
		e := e.at(t)
		first := e.ingest(o.key, map[string]any{"messageId": "mb-0", "email": "a@globex.com"})
		b := e.batch(hookPath+o.key+"/batch", rawBody(`[{"messageId":"mb-0"},{"messageId":"mb-1"},{"messageId":"mb-1"}]`))
		if b.Accepted != 3 || b.Rejected != 0 {
			t.Errorf("accepted %d rejected %d: duplicates count as accepted", b.Accepted, b.Rejected)
		}
		r := b.Results
		if !r[0].Duplicate || r[0].ID != first.ID {
			t.Errorf("item 0 repeats a single signal's messageId: %+v, want duplicate of %d", r[0], first.ID)
		}
		if r[1].Duplicate || !r[2].Duplicate || r[2].ID != r[1].ID {
			t.Errorf("items 1 and 2 share a messageId: %+v %+v", r[1], r[2])
		}
	})

	replays := []struct {
		name string
		body string
		opts []reqOpt
	}{
		{"with messageIds", `[{"messageId":"rp-1","email":"r1@globex.com"},{"messageId":"rp-2","userId":"r-2"},{"messageId":"rp-3","anonymousId":"r-3"}]`, nil},
		{"with an Idempotency-Key", `{"batch":[{"email":"r4@globex.com"},{"userId":"r-5"},{"anonymousId":"r-6"}]}`,
			[]reqOpt{withHeader("Idempotency-Key", "batch-ik-1")}},
	}
	for _, tc := range replays {
		t.Run("replaying a batch "+tc.name+" stores nothing new", func(t *testing.T) {
			e := e.at(t)
			first := e.batch(hookPath+o.key+"/batch", rawBody(tc.body), tc.opts...)
			before := e.settle(o, settleWithin)
			again := e.batch(hookPath+o.key+"/batch", rawBody(tc.body), tc.opts...)
			for i, it := range again.Results {
				if !it.Duplicate || it.ID != first.Results[i].ID || first.Results[i].Duplicate {
					t.Errorf("item %d: first %+v, replay %+v", i, first.Results[i], it)
				}
			}
			after := e.settle(o, settleWithin)
			if after.total() != before.total() || after.ByStatus["completed"] != before.ByStatus["completed"] {
				t.Errorf("the replay changed the counts: before %+v, after %+v", before, after)
			}
		})
	}

	t.Run("an Idempotency-Key on a batch does not collide with a single signal's", func(t *testing.T) {
		e := e.at(t)
		a := e.ingest(o.key, map[string]any{"email": "k@globex.com"}, withHeader("Idempotency-Key", "mixed-1"))
		b := e.batch(hookPath+o.key+"/batch", rawBody(`[{"email":"k@globex.com"},{"email":"k2@globex.com"}]`),
			withHeader("Idempotency-Key", "mixed-1"))
		for _, it := range b.Results {
			if it.Duplicate || it.ID == a.ID {
				t.Errorf("batch item %+v deduplicated against the single signal %d", it, a.ID)
			}
		}
	})
}

// ---- bulk

func TestIngestBulk(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Bulk")
	before := e.stats(o).total()

	// 1,000 lines: line 137 is malformed, line 250 is not a valid signal,
	// line 300 repeats line 3's messageId (same chunk of 500) and line 900
	// repeats line 10's (another chunk); blank lines are skipped without
	// counting.
	var nd strings.Builder
	for i := 1; i <= 1000; i++ {
		switch i {
		case 137:
			nd.WriteString(`{"email":"broken@globex.com",`)
		case 250:
			nd.WriteString(`{"type":"bogus","email":"x@globex.com"}`)
		case 300:
			nd.WriteString(`{"messageId":"bulk-3","email":"again@globex.com"}`)
		case 900:
			nd.WriteString(`{"messageId":"bulk-10","email":"again@globex.com"}`)
		case 500, 501:
			nd.WriteString("   ")
		default:
			fmt.Fprintf(&nd, `{"type":"track","event":"Imported","messageId":"bulk-%d","email":"p%d@globex.com","timestamp":"2025-12-%02dT10:00:00Z"}`,
				i, i%40, 1+i%28)
		}
		nd.WriteString("\n")
	}
	t.Run("NDJSON", func(t *testing.T) {
		e := e.at(t)
		var s bulkSummary
		e.ok(e.do("POST", bulkPath+o.key, "", rawBody(nd.String()), withHeader("Content-Type", "application/x-ndjson"), chunked()), 200, &s)
		if s.Accepted != 994 || s.Rejected != 2 || s.Duplicates != 2 {
			t.Errorf("summary %+v, want 994 accepted, 2 rejected, 2 duplicates", s)
		}
		if len(s.Errors) != 2 || s.Errors[0].Line != 137 || s.Errors[0].Error.Code != "malformed_json" ||
			s.Errors[1].Line != 250 || s.Errors[1].Error.Code != "invalid_enum" || s.Errors[1].Error.Field != "type" {
			t.Errorf("errors %+v, want line 137 malformed_json and line 250 invalid_enum on type", s.Errors)
		}
		// The same import again: all duplicates, nothing stored.
		var again bulkSummary
		e.ok(e.do("POST", bulkPath+o.key, "", rawBody(nd.String())), 200, &again)
		if again.Accepted != 0 || again.Duplicates != 996 || again.Rejected != 2 {
			t.Errorf("replayed import %+v, want 0 accepted, 996 duplicates, 2 rejected", again)
		}
	})

	t.Run("a JSON array, with the key as a bearer token", func(t *testing.T) {
		e := e.at(t)
		var s bulkSummary
		e.ok(e.do("POST", "/api/signal-staging/bulk", o.key, rawBody(`[
			{"event":"Webinar Attended","email":"w1@initech.com"},
			{"event":"Webinar Attended","email":"w2@initech.com","messageId":"bulk-1"},
			{"type":"bogus"},
			{"anonymousId":"anon-bulk"}
		]`)), 200, &s)
		if s.Accepted != 2 || s.Duplicates != 1 || s.Rejected != 1 || len(s.Errors) != 1 || s.Errors[0].Line != 3 {
			t.Errorf("summary %+v, want 2 accepted, 1 duplicate, 1 rejected at element 3", s)
		}
	})

	t.Run("a line over 32 KB is refused on its own", func(t *testing.T) {
		e := e.at(t)
		body := `{"email":"l1@initech.com"}` + "\n" + `{"pad":"` + strings.Repeat("z", 33<<10) + `"}` + "\n" + `{"email":"l3@initech.com"}` + "\n"
		var s bulkSummary
		e.ok(e.do("POST", bulkPath+o.key, "", rawBody(body)), 200, &s)
		if s.Accepted != 2 || s.Rejected != 1 || len(s.Errors) != 1 || s.Errors[0].Line != 2 || s.Errors[0].Error.Code != "payload_too_large" {
			t.Errorf("summary %+v, want line 2 payload_too_large and 2 accepted", s)
		}
	})

	t.Run("an empty import", func(t *testing.T) {
		e := e.at(t)
		var s bulkSummary
		e.ok(e.do("POST", bulkPath+o.key, "", rawBody("")), 200, &s)
		if s.Accepted+s.Rejected+s.Duplicates != 0 || s.Errors == nil {
			t.Errorf("summary %+v", s)
		}
	})

	t.Run("every accepted signal is processed", func(t *testing.T) {
		e := e.at(t)
		st := e.settle(o, 20*time.Second)
		if got, want := st.total()-before, 994+2+2; got != want {
			t.Errorf("%d signals stored, want %d: %+v", got, want, st)
		}
		for status, n := range st.ByStatus {
			if status != "skipped" && status != "cold" && n > 0 {
				t.Errorf("%d signals %s: %+v", n, status, st)
			}
		}
		// 40 people, one lead each.
		if l := e.leadByEmail(o, "p7@globex.com"); l == nil || l.SignalCount != 25 {
			t.Errorf("lead p7: %+v, want 25 signals", l)
		}
	})
}

// ---- authentication of ingestion

func TestIngestAuth(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Auth")
	revoked := e.key(o.org.ID, o.owner.Token, map[string]any{"name": "old"})
	e.ok(e.do("POST", o.base+"/api-keys/"+revoked.APIKey.ID+"/revoke", o.owner.Token, nil), 200, nil)
	product := e.key(o.org.ID, o.owner.Token, map[string]any{"name": "product", "type": "product_org",
		"payload_template": map[string]any{"product_org_id": "workspace.id"}})
	secret := e.key(o.org.ID, o.owner.Token, map[string]any{"name": "signed", "with_secret": true})
	if secret.Secret == "" {
		t.Fatal("no secret returned")
	}
	body := []byte(`{"event":"Signed Up","email":"sig@globex.com"}`)
	sign := func(b []byte, skew time.Duration) reqOpt {
		return withHeader("X-TrailSpark-Signature", credential.Sign(secret.Secret, e.n.Clock.Now().Add(skew), b))
	}

	type route struct {
		name string
		path func(key string) string
		body []byte
		ok   int
	}
	routes := []route{
		{"webhook", func(k string) string { return hookPath + k }, body, 202},
		{"webhook with source", func(k string) string { return hookPath + "hubspot/" + k }, body, 202},
		{"batch", func(k string) string { return hookPath + k + "/batch" }, []byte("[" + string(body) + "]"), 202},
		{"bulk", func(k string) string { return bulkPath + k }, body, 200},
	}
	type cred struct {
		name   string
		key    string
		opts   func(b []byte) []reqOpt
		status int // 0: the route's success
		code   string
		bulk   int    // status on the bulk route when it differs
		bcode  string // code on the bulk route when it differs
		bfield string
	}
	none := func([]byte) []reqOpt { return nil }
	creds := []cred{
		{name: "a valid key", key: o.key, opts: none},
		{name: "an unknown key", key: "sk_" + strings.Repeat("A", 48), opts: none, status: 401, code: "key_invalid"},
		{name: "not a key", key: "nope", opts: none, status: 401, code: "key_invalid"},
		{name: "a revoked key", key: revoked.Key, opts: none, status: 401, code: "key_revoked"},
		{name: "a product_org key", key: product.Key, opts: none, status: 401, code: "key_wrong_type"},
		{name: "a session token", key: o.owner.Token, opts: none, status: 401, code: "key_invalid"},
		{name: "secret missing", key: secret.Key, opts: none, status: 401, code: "secret_required"},
		{name: "secret wrong", key: secret.Key, opts: func([]byte) []reqOpt { return []reqOpt{withHeader("X-Api-Secret", secret.Secret+"x")} },
			status: 401, code: "secret_invalid"},
		{name: "X-Api-Secret", key: secret.Key, opts: func([]byte) []reqOpt { return []reqOpt{withHeader("X-Api-Secret", secret.Secret)} }},
		{name: "signature over the raw body", key: secret.Key, opts: func(b []byte) []reqOpt { return []reqOpt{sign(b, 0)} },
			bulk: 400, bcode: "not_supported", bfield: "X-TrailSpark-Signature"},
		{name: "signature within the tolerance", key: secret.Key, opts: func(b []byte) []reqOpt { return []reqOpt{sign(b, -4*time.Minute)} },
			bulk: 400, bcode: "not_supported", bfield: "X-TrailSpark-Signature"},
		{name: "signature over another body", key: secret.Key,
			opts:   func(b []byte) []reqOpt { return []reqOpt{sign(append(bytes.Clone(b), ' '), 0)} },
			status: 401, code: "signature_invalid", bulk: 400, bcode: "not_supported", bfield: "X-TrailSpark-Signature"},
		{name: "signature too old", key: secret.Key, opts: func(b []byte) []reqOpt { return []reqOpt{sign(b, -6*time.Minute)} },
			status: 401, code: "signature_expired", bulk: 400, bcode: "not_supported", bfield: "X-TrailSpark-Signature"},
		{name: "signature with the wrong secret", key: secret.Key,
			opts: func(b []byte) []reqOpt {
				return []reqOpt{withHeader("X-TrailSpark-Signature", credential.Sign("not-the-secret", e.n.Clock.Now(), b))}
			},
			status: 401, code: "signature_invalid", bulk: 400, bcode: "not_supported", bfield: "X-TrailSpark-Signature"},
	}
	for _, rt := range routes {
		for _, c := range creds {
			t.Run(rt.name+"/"+c.name, func(t *testing.T) {
				e := e.at(t)
				status, code, field := c.status, c.code, ""
				if rt.name == "bulk" && c.bulk != 0 {
					status, code, field = c.bulk, c.bcode, c.bfield
				}
				r := e.do("POST", rt.path(c.key), "", rawBody(rt.body), c.opts(rt.body)...)
				if status == 0 {
					if r.Status != rt.ok {
						t.Errorf("%s: want %d", r, rt.ok)
					}
					return
				}
				e.fails(r, status, code, field)
				if status == 401 && r.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: 401 without WWW-Authenticate", r)
				}
			})
		}
	}

	t.Run("bearer routes", func(t *testing.T) {
		e := e.at(t)
		e.acceptedOK(e.do("POST", "/api/signal-staging/webhook", o.key, rawBody(body)))
		e.acceptedOK(e.do("POST", "/api/signal-staging/webhook", secret.Key, rawBody(body), withHeader("X-Api-Secret", secret.Secret)))
		e.acceptedOK(e.do("POST", "/api/signal-staging/webhook", secret.Key, rawBody(body), sign(body, 0)))
		e.fails(e.do("POST", "/api/signal-staging/webhook", "", rawBody(body)), 401, "missing_credential", "")
		e.fails(e.do("POST", "/api/signal-staging/webhook/batch", "", rawBody("["+string(body)+"]")), 401, "missing_credential", "")
		e.fails(e.do("POST", "/api/signal-staging/bulk", "", rawBody(body)), 401, "missing_credential", "")
		e.fails(e.do("POST", "/api/signal-staging/webhook", revoked.Key, rawBody(body)), 401, "key_revoked", "")
		e.fails(e.do("POST", "/api/signal-staging/webhook/batch", product.Key, rawBody("["+string(body)+"]")), 401, "key_wrong_type", "")
		e.fails(e.do("POST", "/api/signal-staging/bulk", secret.Key, rawBody(body)), 401, "secret_required", "")
		// A key in the path wins over the Authorization header.
		e.acceptedOK(e.do("POST", hookPath+o.key, revoked.Key, rawBody(body)))
		e.fails(e.do("POST", hookPath+revoked.Key, o.key, rawBody(body)), 401, "key_revoked", "")
	})

	t.Run("the key lands the signal in its own organization", func(t *testing.T) {
		e := e.at(t)
		other := e.ingestOrg("Elsewhere")
		a := e.ingest(other.key, map[string]any{"email": "mine@globex.com", "messageId": "where-1"})
		s := e.waitSignal(other.org.ID, other.owner.Token, a.ID)
		if s.LeadID == "" {
			t.Fatalf("signal %+v", s)
		}
		if l := e.leadByEmail(o, "mine@globex.com"); l != nil {
			t.Errorf("the other organization's signal made a lead here: %+v", l)
		}
	})

	t.Run("the Go client", func(t *testing.T) {
		ctx := context.Background()
		c := client.New(e.n.URL, secret.Key)
		sig := map[string]any{"type": "track", "event": "Demo <Requested> & more", "email": "go.client@globex.com"}
		signed := client.IngestOptions{Secret: secret.Secret, SignAt: e.n.Clock.Now(), IdempotencyKey: "go-1"}
		a, err := c.IngestSignal(ctx, sig, signed)
		if err != nil || a.ID == 0 || a.Source != "segment" || a.Duplicate {
			t.Fatalf("signed IngestSignal: %+v %v", a, err)
		}
		if again, err := c.IngestSignal(ctx, sig, signed); err != nil || !again.Duplicate || again.ID != a.ID {
			t.Errorf("retried IngestSignal: %+v %v, want a duplicate of %d", again, err, a.ID)
		}
		if _, err := c.IngestSignal(ctx, sig, client.IngestOptions{}); !client.IsCode(err, "secret_required") {
			t.Errorf("IngestSignal without the secret: %v", err)
		}
		b, err := c.IngestBatch(ctx, []any{sig, 42}, client.IngestOptions{Secret: secret.Secret, SignAt: e.n.Clock.Now(), Source: "website"})
		if err != nil || b.Accepted != 1 || b.Rejected != 1 || b.Results[0].Source != "website" || b.Results[1].Error.Code != "malformed_json" {
			t.Errorf("signed IngestBatch: %+v %v", b, err)
		}
		sum, err := c.ImportSignals(ctx, []any{sig, map[string]any{"email": "go.bulk@globex.com"}},
			client.IngestOptions{Secret: secret.Secret, SignAt: e.n.Clock.Now()})
		if err != nil || sum.Accepted != 2 || sum.Rejected != 0 {
			t.Errorf("ImportSignals: %+v %v", sum, err)
		}
		if _, err := client.New(e.n.URL, revoked.Key).IngestSignal(ctx, sig, client.IngestOptions{}); !client.IsCode(err, "key_revoked") {
			t.Errorf("IngestSignal with a revoked key: %v", err)
		}
	})

	t.Run("an organization's deletion kills its keys", func(t *testing.T) {
		e := e.at(t)
		gone := e.ingestOrg("Gone")
		e.ingest(gone.key, rawBody(body))
		e.ok(e.do("DELETE", gone.base, gone.owner.Token, nil), 204, nil)
		e.fails(e.hook(gone.key, rawBody(body)), 401, "key_invalid", "")
		e.fails(e.do("POST", bulkPath+gone.key, "", rawBody(body)), 401, "key_invalid", "")
	})

	t.Run("ingestion marks the key used", func(t *testing.T) {
		e := e.at(t)
		k := e.key(o.org.ID, o.owner.Token, map[string]any{"name": "fresh"})
		if k.APIKey.LastUsedAt != nil {
			t.Fatalf("a new key was used at %v", k.APIKey.LastUsedAt)
		}
		e.ingest(k.Key, rawBody(body))
		var got keyView
		e.ok(e.do("GET", o.base+"/api-keys/"+k.APIKey.ID, o.owner.Token, nil), 200, &got)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(e.n.Clock.Now()) {
			t.Errorf("last_used_at %v, want %v", got.LastUsedAt, e.n.Clock.Now())
		}
	})

	t.Run("an expired key", func(t *testing.T) {
		e := e.at(t)
		exp := e.n.Clock.Now().Add(time.Hour)
		k := e.key(o.org.ID, o.owner.Token, map[string]any{"name": "short", "expires_at": exp.Format(time.RFC3339)})
		e.ingest(k.Key, rawBody(body))
		e.n.Clock.Advance(2 * time.Hour)
		e.fails(e.hook(k.Key, rawBody(body)), 401, "key_expired", "")
		e.fails(e.do("POST", bulkPath+k.Key, "", rawBody(body)), 401, "key_expired", "")
	})
}

// ---- body problems

func TestIngestBodies(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Bodies")
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	cases := []struct {
		name   string
		ctype  string // "-" sends none
		body   string
		status int
		code   string
		field  string
	}{
		{"application/json", "application/json", `{"email":"a@globex.com"}`, 202, "", ""},
		{"with a charset", "application/json; charset=utf-8", `{"email":"a@globex.com"}`, 202, "", ""},
		{"a +json type", "application/vnd.segment+json", `{"email":"a@globex.com"}`, 202, "", ""},
		{"text/plain (sendBeacon)", "text/plain;charset=UTF-8", `{"email":"a@globex.com"}`, 202, "", ""},
		{"no content type", "-", `{"email":"a@globex.com"}`, 202, "", ""},
		{"XML", "application/xml", `<signal/>`, 415, "unsupported_media_type", ""},
		{"a form", "application/x-www-form-urlencoded", `email=a@globex.com`, 415, "unsupported_media_type", ""},
		{"CSV", "text/csv", "email\na@globex.com\n", 415, "unsupported_media_type", ""},
		{"a broken content type", "application/", `{"email":"a@globex.com"}`, 415, "unsupported_media_type", ""},
		{"truncated JSON", "application/json", `{"email":"a@globex.com"`, 400, "malformed_json", ""},
		{"not JSON", "application/json", `email=a@globex.com`, 400, "malformed_json", ""},
		{"an array on the single endpoint", "application/json", `[{"email":"a@globex.com"}]`, 400, "malformed_json", ""},
		{"null", "application/json", `null`, 400, "malformed_json", ""},
		{"empty", "application/json", ``, 400, "malformed_json", ""},
		{"two objects", "application/json", `{"email":"a@globex.com"}{"email":"b@globex.com"}`, 400, "malformed_json", ""},
		{"nested too deep", "application/json", deep, 400, "too_deep", ""},
		{"email of the wrong type", "application/json", `{"email":5}`, 400, "wrong_type", "email"},
		{"properties of the wrong type", "application/json", `{"email":"a@globex.com","properties":"x"}`, 400, "wrong_type", "properties"},
		{"a timestamp that is not a time", "application/json", `{"email":"a@globex.com","timestamp":"tomorrow"}`, 400, "invalid_format", "timestamp"},
		{"an unknown Segment type", "application/json", `{"type":"purchase","email":"a@globex.com"}`, 400, "invalid_enum", "type"},
		{"a messageId too long", "application/json", `{"email":"a@globex.com","messageId":"` + strings.Repeat("m", 513) + `"}`, 400, "too_long", "messageId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e.at(t)
			var opts []reqOpt
			switch tc.ctype {
			case "-":
				opts = append(opts, func(r *http.Request) { r.Header.Del("Content-Type") })
			default:
				opts = append(opts, withHeader("Content-Type", tc.ctype))
			}
			r := e.hook(o.key, rawBody(tc.body), opts...)
			if tc.status == 202 {
				e.acceptedOK(r)
				return
			}
			e.fails(r, tc.status, tc.code, tc.field)
		})
	}

	t.Run("the content type is checked before the key", func(t *testing.T) {
		e := e.at(t)
		e.fails(e.hook("sk_nope", rawBody(`<signal/>`), withHeader("Content-Type", "application/xml")), 415, "unsupported_media_type", "")
		e.fails(e.hook("sk_nope", rawBody(`{"email":`)), 401, "key_invalid", "")
	})
}

// ---- accounts

func TestIngestAccounts(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Accounts")
	editor := e.user("editor")
	e.join(o.org.ID, o.owner.Token, editor, "editor")

	// leadOf sends one signal for email and returns its processed lead.
	leadOf := func(e *tenv, email string, extra map[string]any) leadView {
		e.t.Helper()
		body := map[string]any{"event": "Visited", "email": email}
		for k, v := range extra {
			body[k] = v
		}
		a := e.ingest(o.key, body)
		s := e.waitSignal(o.org.ID, o.owner.Token, a.ID, "skipped")
		l := e.getLead(o, s.LeadID)
		acct := ""
		if l.Account != nil {
			acct = l.Account.AccountID
		}
		if s.AccountID != acct {
			t.Errorf("signal account_id %q, lead account %q", s.AccountID, acct)
		}
		return l
	}
	createAccount := func(e *tenv, body map[string]any) accountView {
		e.t.Helper()
		var a accountView
		e.ok(e.do("POST", o.base+"/accounts", editor.Token, body), 201, &a)
		return a
	}

	t.Run("an account's domain links its people", func(t *testing.T) {
		e := e.at(t)
		acct := createAccount(e, map[string]any{"name": "Acme Widgets", "domain": "https://www.Acme-Widgets.com/about", "industry": "Manufacturing", "employees": 250})
		if acct.Domain != "acme-widgets.com" || acct.Inferred || acct.Source != "api" || !strings.HasPrefix(acct.ID, "acct_") {
			t.Fatalf("created %+v", acct)
		}
		for _, email := range []string{"kim@acme-widgets.com", "Lou@EU.acme-widgets.com"} {
			l := leadOf(e, email, nil)
			if l.Account == nil || l.Account.AccountID != acct.ID || l.Account.How != "domain" {
				t.Errorf("%s: account %+v, want %s by domain", email, l.Account, acct.ID)
			}
		}
	})

	t.Run("a corporate domain without an account infers one, which a real account takes over", func(t *testing.T) {
		e := e.at(t)
		l := leadOf(e, "ann@stark-industries.com", nil)
		if l.Account == nil || l.Account.How != "inferred_domain" || l.Account.AccountID == "" {
			t.Fatalf("account %+v, want inferred_domain", l.Account)
		}
		inferred := e.getAccount(o, l.Account.AccountID)
		if !inferred.Inferred || inferred.Domain != "stark-industries.com" || inferred.Source != "inferred" {
			t.Errorf("inferred account %+v", inferred)
		}
		// A second person at the same domain shares it.
		if l2 := leadOf(e, "bo@stark-industries.com", nil); l2.Account == nil || l2.Account.AccountID != inferred.ID {
			t.Errorf("second person: account %+v, want %s", l2.Account, inferred.ID)
		}
		real := createAccount(e, map[string]any{"name": "Stark Industries", "domain": "stark-industries.com", "employees": 5000})
		if real.ID != inferred.ID || real.Inferred || real.Name != "Stark Industries" || real.Source != "api" {
			t.Errorf("the real account %+v does not take over the inferred %s", real, inferred.ID)
		}
		if !real.CreatedAt.Equal(inferred.CreatedAt) {
			t.Errorf("takeover reset created_at: %v, was %v", real.CreatedAt, inferred.CreatedAt)
		}
		if got := e.getAccount(o, inferred.ID); got.Inferred || got.Name != "Stark Industries" {
			t.Errorf("after takeover: %+v", got)
		}
		// The lead stays linked; its next signal records the domain match.
		if l := e.getLead(o, l.ID); l.Account == nil || l.Account.AccountID != inferred.ID {
			t.Errorf("lead after takeover: %+v", l.Account)
		}
		if l := leadOf(e, "ann@stark-industries.com", nil); l.Account == nil || l.Account.AccountID != inferred.ID || l.Account.How != "domain" {
			t.Errorf("lead after its next signal: %+v, want %s by domain", l.Account, inferred.ID)
		}
		n := 0
		for _, a := range e.allAccounts(o.org.ID, o.owner.Token) {
			if a.Domain == "stark-industries.com" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d accounts for stark-industries.com, want 1", n)
		}
	})

	t.Run("free-mail addresses never link by domain", func(t *testing.T) {
		e := e.at(t)
		// Even when someone made an account with that domain.
		createAccount(e, map[string]any{"name": "Google", "domain": "gmail.com"})
		before := len(e.allAccounts(o.org.ID, o.owner.Token))
		for _, email := range []string{"joe.bloggs@gmail.com", "jane@yahoo.com", "x@outlook.com"} {
			l := leadOf(e, email, nil)
			if l.Account != nil || l.Unmatched != "free_email_domain" {
				t.Errorf("%s: account %+v, unmatched %q; want none, free_email_domain", email, l.Account, l.Unmatched)
			}
		}
		if after := len(e.allAccounts(o.org.ID, o.owner.Token)); after != before {
			t.Errorf("free-mail leads created %d accounts", after-before)
		}
	})

	t.Run("several accounts with one domain stay unmatched", func(t *testing.T) {
		e := e.at(t)
		a := createAccount(e, map[string]any{"name": "Twins East", "domain": "twins.io"})
		b := createAccount(e, map[string]any{"name": "Twins West", "domain": "twins.io"})
		l := leadOf(e, "sam@twins.io", nil)
		if l.Account != nil || l.Unmatched != "ambiguous_domain" {
			t.Errorf("account %+v unmatched %q, want none, ambiguous_domain (accounts %s, %s)", l.Account, l.Unmatched, a.ID, b.ID)
		}
	})

	t.Run("groupId links explicitly", func(t *testing.T) {
		e := e.at(t)
		acct := createAccount(e, map[string]any{"name": "Wayne Enterprises", "domain": "wayne.com", "external_id": "grp-wayne"})
		l := leadOf(e, "bruce@gmail.com", map[string]any{"type": "track", "groupId": "grp-wayne"})
		if l.Account == nil || l.Account.AccountID != acct.ID || l.Account.How != "explicit" {
			t.Fatalf("a signal's groupId (the account's external_id) did not link the lead explicitly: got %+v", l.Account)
		}
	})

	t.Run("CSV import", func(t *testing.T) {
		e := e.at(t)
		csv := "account_name,website,sector,employees\n" +
			"Umbrella Corp,https://www.umbrella-corp.com/,Pharma,\"5,000\"\n" +
			",nameless.com,Retail,3\n" +
			"Cyberdyne,cyberdyne.io,Robotics,800\n" +
			"Bad Site,not a domain,Retail,10\n" +
			"Too Big,toobig.com,Retail,20000000\n"
		var res struct {
			Created int `json:"created"`
			Failed  int `json:"failed"`
			Errors  []struct {
				Row   int       `json:"row"`
				Error errDetail `json:"error"`
			} `json:"errors"`
		}
		e.ok(e.do("POST", o.base+"/accounts/import", editor.Token, rawBody(csv), withHeader("Content-Type", "text/csv; charset=utf-8")), 200, &res)
		if res.Created != 2 || res.Failed != 3 || len(res.Errors) != 3 {
			t.Fatalf("import %+v, want 2 created, 3 failed", res)
		}
		want := []struct {
			row         int
			code, field string
		}{{2, "required", "name"}, {4, "invalid_format", "domain"}, {5, "out_of_range", "employees"}}
		for i, w := range want {
			if got := res.Errors[i]; got.Row != w.row || got.Error.Code != w.code || got.Error.Field != w.field {
				t.Errorf("errors[%d] = %+v, want row %d %s on %s", i, got, w.row, w.code, w.field)
			}
		}
		var umbrella *accountView
		for _, a := range e.allAccounts(o.org.ID, o.owner.Token) {
			if a.Name == "Umbrella Corp" {
				a := a
				umbrella = &a
			}
		}
		if umbrella == nil || umbrella.Domain != "umbrella-corp.com" || umbrella.Industry != "Pharma" ||
			umbrella.Employees == nil || *umbrella.Employees != 5000 || umbrella.Source != "import" || umbrella.Inferred {
			t.Fatalf("imported account %+v", umbrella)
		}
		if l := leadOf(e, "alice@umbrella-corp.com", nil); l.Account == nil || l.Account.AccountID != umbrella.ID || l.Account.How != "domain" {
			t.Errorf("lead at an imported domain: %+v, want %s", l.Account, umbrella.ID)
		}
	})

	t.Run("import refusals", func(t *testing.T) {
		e := e.at(t)
		viewer := e.user("viewer")
		e.join(o.org.ID, o.owner.Token, viewer, "viewer")
		e.fails(e.do("POST", o.base+"/accounts/import", viewer.Token, rawBody("name\nX\n"), withHeader("Content-Type", "text/csv")), 403, "forbidden", "")
		e.fails(e.do("POST", o.base+"/accounts/import", editor.Token, rawBody("website\nx.com\n"), withHeader("Content-Type", "text/csv")), 400, "required", "name")
		e.fails(e.do("POST", o.base+"/accounts/import", editor.Token, rawBody(""), withHeader("Content-Type", "text/csv")), 400, "malformed_csv", "")
		e.fails(e.do("POST", o.base+"/accounts/import", editor.Token, rawBody("name\n\"unterminated\n"), withHeader("Content-Type", "text/csv")), 400, "malformed_csv", "")
		e.fails(e.do("POST", o.base+"/accounts/import", editor.Token, rawBody("<a/>"), withHeader("Content-Type", "application/xml")), 415, "unsupported_media_type", "")
		e.fails(e.do("POST", o.base+"/accounts", editor.Token, map[string]any{"name": "X", "domain": "not a domain"}), 400, "invalid_format", "domain")
		e.fails(e.do("POST", o.base+"/accounts", editor.Token, map[string]any{"domain": "x.com"}), 400, "required", "name")
		e.fails(e.do("POST", o.base+"/accounts", viewer.Token, map[string]any{"name": "X"}), 403, "forbidden", "")
		e.fails(e.do("GET", o.base+"/accounts/acct_missing", viewer.Token, nil), 404, "account_not_found", "")
	})
}

// ---- mapping rules

func TestIngestRules(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Rules")
	rules := o.base + "/signal-rules"
	email := []any{map[string]any{"path": "email", "target": "email"}}

	t.Run("create, read, replace, delete", func(t *testing.T) {
		e := e.at(t)
		r := e.createRule(o.org.ID, o.owner.Token, map[string]any{"name": "Pricing", "signal_type": "page_view",
			"description": "Pricing page", "priority": 3, "mappings": email,
			"conditions": map[string]any{"path": "properties.url", "op": "contains", "value": "/pricing"}})
		if r.Name != "Pricing" || r.SignalType != "page_view" || r.Priority != 3 || !r.CreatedAt.Equal(e.n.Clock.Now()) {
			t.Errorf("created %+v", r)
		}
		var got ruleView
		e.ok(e.do("GET", rules+"/"+r.ID, o.owner.Token, nil), 200, &got)
		if got.ID != r.ID || got.Name != "Pricing" {
			t.Errorf("got %+v", got)
		}
		e.n.Clock.Advance(time.Minute)
		var upd ruleView
		e.ok(e.do("PUT", rules+"/"+r.ID, o.owner.Token, map[string]any{"name": "Pricing v2", "signal_type": "page_view",
			"mappings": email}), 200, &upd)
		if upd.ID != r.ID || upd.Name != "Pricing v2" || upd.Description != "" || upd.Priority != 0 ||
			!upd.CreatedAt.Equal(r.CreatedAt) || !upd.UpdatedAt.Equal(e.n.Clock.Now()) {
			t.Errorf("replaced %+v (a PUT replaces the whole rule, keeping id and created_at)", upd)
		}
		var l list[ruleView]
		e.ok(e.do("GET", rules, o.owner.Token, nil), 200, &l)
		if len(l.Items) != 1 || l.Items[0].Name != "Pricing v2" {
			t.Errorf("list %+v", l.Items)
		}
		e.ok(e.do("DELETE", rules+"/"+r.ID, o.owner.Token, nil), 204, nil)
		e.fails(e.do("GET", rules+"/"+r.ID, o.owner.Token, nil), 404, "rule_not_found", "")
		e.fails(e.do("PUT", rules+"/"+r.ID, o.owner.Token, map[string]any{"name": "x", "signal_type": "page_view", "mappings": email}), 404, "rule_not_found", "")
		e.fails(e.do("DELETE", rules+"/"+r.ID, o.owner.Token, nil), 404, "rule_not_found", "")
	})

	t.Run("validation names the field", func(t *testing.T) {
		cases := []struct {
			name        string
			change      map[string]any // over a valid rule; nil values delete
			code, field string
		}{
			{"cdp_id alone", map[string]any{"mappings": []any{map[string]any{"path": "anonymousId", "target": "cdp_id"}}}, "cdp_only", "mappings"},
			{"cdp_id and title", map[string]any{"mappings": []any{map[string]any{"path": "anonymousId", "target": "cdp_id"},
				map[string]any{"path": "properties.title", "target": "title"}}}, "cdp_only", "mappings"},
			{"no mappings", map[string]any{"mappings": []any{}}, "required", "mappings"},
			{"mappings missing", map[string]any{"mappings": nil}, "required", "mappings"},
			{"only a title", map[string]any{"mappings": []any{map[string]any{"path": "properties.title", "target": "title"}}}, "required", "mappings"},
			{"unknown target", map[string]any{"mappings": []any{map[string]any{"path": "email", "target": "phone"}}}, "invalid_enum", "mappings[0].target"},
			{"empty mapping path", map[string]any{"mappings": []any{map[string]any{"path": "", "target": "email"}}}, "required", "mappings[0].path"},
			{"bad mapping path", map[string]any{"mappings": []any{map[string]any{"path": "a..b", "target": "email"}}}, "invalid_path", "mappings[0].path"},
			{"no name", map[string]any{"name": nil}, "required", "name"},
			{"blank name", map[string]any{"name": "  "}, "required", "name"},
			{"long name", map[string]any{"name": strings.Repeat("n", 101)}, "too_long", "name"},
			{"no signal type", map[string]any{"signal_type": nil}, "required", "signal_type"},
			{"unknown signal type", map[string]any{"signal_type": "tweet"}, "invalid_enum", "signal_type"},
			{"weight out of range", map[string]any{"weight": 1000}, "out_of_range", "weight"},
			{"half-life too short", map[string]any{"half_life_hours": 0.5}, "out_of_range", "half_life_hours"},
			{"priority out of range", map[string]any{"priority": 5000}, "out_of_range", "priority"},
			{"unknown field", map[string]any{"wieght": 2}, "unknown_field", "wieght"},
			{"weight of the wrong type", map[string]any{"weight": "heavy"}, "wrong_type", "weight"},
			{"unknown op", map[string]any{"conditions": map[string]any{"path": "event", "op": "like", "value": "x"}}, "invalid_enum", "conditions.op"},
			{"op without a value", map[string]any{"conditions": map[string]any{"path": "event", "op": "equals"}}, "required", "conditions.value"},
			{"bad regex", map[string]any{"conditions": map[string]any{"path": "event", "op": "matches", "value": "("}}, "invalid_regex", "conditions.value"},
			{"leaf and group", map[string]any{"conditions": map[string]any{"path": "event", "op": "exists",
				"all": []any{map[string]any{"path": "email", "op": "exists"}}}}, "invalid_condition", "conditions"},
			{"nested bad path", map[string]any{"conditions": map[string]any{"any": []any{map[string]any{"path": "event", "op": "exists"},
				map[string]any{"path": "", "op": "exists"}}}}, "required", "conditions.any[1].path"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := e.at(t)
				body := map[string]any{"name": "Valid", "signal_type": "form_fill", "mappings": email}
				for k, v := range tc.change {
					if v == nil {
						delete(body, k)
					} else {
						body[k] = v
					}
				}
				e.fails(e.do("POST", rules, o.owner.Token, body), 400, tc.code, tc.field)
			})
		}
		// A replacement is validated the same way.
		e := e.at(t)
		r := e.createRule(o.org.ID, o.owner.Token, map[string]any{"name": "Keep", "signal_type": "form_fill", "mappings": email})
		e.fails(e.do("PUT", rules+"/"+r.ID, o.owner.Token, map[string]any{"name": "Keep", "signal_type": "form_fill",
			"mappings": []any{map[string]any{"path": "anonymousId", "target": "cdp_id"}}}), 400, "cdp_only", "mappings")
		var got ruleView
		e.ok(e.do("GET", rules+"/"+r.ID, o.owner.Token, nil), 200, &got)
		if len(got.Mappings) != 1 || got.Mappings[0].Target != "email" {
			t.Errorf("a refused replacement changed the rule: %+v", got)
		}
		e.ok(e.do("DELETE", rules+"/"+r.ID, o.owner.Token, nil), 204, nil)
	})

	t.Run("an edit applies to later signals only; a delete keeps processed data", func(t *testing.T) {
		e := e.at(t)
		who := "ed@vandelay.com"
		r := e.createRule(o.org.ID, o.owner.Token, eventRule("Pricing v1", "Pricing Viewed"))
		s1 := e.ingest(o.key, map[string]any{"event": "Pricing Viewed", "email": who})
		if s := e.waitSignal(o.org.ID, o.owner.Token, s1.ID, "completed"); s.RuleID != r.ID {
			t.Fatalf("s1: %+v", s)
		}
		upd := eventRule("Pricing v2", "Pricing Compared")
		e.ok(e.do("PUT", rules+"/"+r.ID, o.owner.Token, upd), 200, nil)
		s2 := e.ingest(o.key, map[string]any{"event": "Pricing Viewed", "email": who})
		s3 := e.ingest(o.key, map[string]any{"event": "Pricing Compared", "email": who})
		e.waitSignal(o.org.ID, o.owner.Token, s2.ID, "skipped")
		if s := e.waitSignal(o.org.ID, o.owner.Token, s3.ID, "completed"); s.RuleID != r.ID {
			t.Errorf("s3: %+v", s)
		}
		if s := e.getSignal(o.org.ID, o.owner.Token, s1.ID); s.Status != "completed" || s.RuleID != r.ID {
			t.Errorf("the edit reprocessed s1: %+v", s)
		}
		l := e.leadByEmail(o, who)
		if l == nil {
			t.Fatal("no lead")
		}
		if ent, _ := l.entry(s1.ID); ent.RuleName != "Pricing v1" {
			t.Errorf("s1 on the timeline: %+v, want rule Pricing v1", ent)
		}
		if ent, _ := l.entry(s2.ID); ent.RuleID != "" {
			t.Errorf("s2 on the timeline: %+v, want no rule", ent)
		}
		if ent, _ := l.entry(s3.ID); ent.RuleName != "Pricing v2" {
			t.Errorf("s3 on the timeline: %+v, want rule Pricing v2", ent)
		}

		e.ok(e.do("DELETE", rules+"/"+r.ID, o.owner.Token, nil), 204, nil)
		s4 := e.ingest(o.key, map[string]any{"event": "Pricing Compared", "email": who})
		e.waitSignal(o.org.ID, o.owner.Token, s4.ID, "skipped")
		for _, id := range []uint64{s1.ID, s3.ID} {
			if s := e.getSignal(o.org.ID, o.owner.Token, id); s.Status != "completed" || s.RuleID != r.ID {
				t.Errorf("after the delete, signal %d: %+v", id, s)
			}
		}
		var byRule list[signalView]
		e.ok(e.do("GET", o.base+"/signals?rule_id="+r.ID, o.owner.Token, nil), 200, &byRule)
		if len(byRule.Items) != 2 {
			t.Errorf("signals of the deleted rule: %d, want 2", len(byRule.Items))
		}
		if l := e.leadByEmail(o, who); l.MappedCount != 2 || l.SignalCount != 4 {
			t.Errorf("lead counts %d mapped of %d, want 2 of 4", l.MappedCount, l.SignalCount)
		}
	})

	t.Run("highest priority wins; ties go to the oldest; source filters", func(t *testing.T) {
		e := e.at(t)
		ev := "Trial Started"
		low := eventRule("low", ev)
		low["priority"] = 1
		high := eventRule("high", ev)
		high["priority"] = 9
		tie := eventRule("tie, younger", ev)
		tie["priority"] = 9
		only := eventRule("hubspot only", ev)
		only["priority"] = 50
		only["source"] = "hubspot"
		rl := e.createRule(o.org.ID, o.owner.Token, low)
		e.n.Clock.Advance(time.Second)
		rh := e.createRule(o.org.ID, o.owner.Token, high)
		e.n.Clock.Advance(time.Second)
		e.createRule(o.org.ID, o.owner.Token, tie)
		ro := e.createRule(o.org.ID, o.owner.Token, only)
		var l list[ruleView]
		e.ok(e.do("GET", rules, o.owner.Token, nil), 200, &l)
		var order []string
		for _, r := range l.Items {
			order = append(order, r.Name)
		}
		if got := strings.Join(order, "|"); got != "hubspot only|high|tie, younger|low" {
			t.Errorf("rule order %s", got)
		}
		a := e.ingest(o.key, map[string]any{"event": ev, "email": "pri@vandelay.com"})
		if s := e.waitSignal(o.org.ID, o.owner.Token, a.ID, "completed"); s.RuleID != rh.ID {
			t.Errorf("matched %s, want the older high-priority rule %s", s.RuleID, rh.ID)
		}
		b := e.acceptedOK(e.do("POST", hookPath+"hubspot/"+o.key, "", map[string]any{"event": ev, "email": "pri@vandelay.com"}))
		if s := e.waitSignal(o.org.ID, o.owner.Token, b.ID, "completed"); s.RuleID != ro.ID {
			t.Errorf("hubspot signal matched %s, want %s", s.RuleID, ro.ID)
		}
		_ = rl
	})

	t.Run("mappings pull identifiers and the title from the payload", func(t *testing.T) {
		e := e.at(t)
		e.createRule(o.org.ID, o.owner.Token, map[string]any{"name": "Form", "signal_type": "form_fill", "priority": 100,
			"conditions": map[string]any{"path": "form_id", "op": "exists"},
			"mappings": []any{map[string]any{"path": "fields.work_email", "target": "email"},
				map[string]any{"path": "fields.job_title", "target": "title"}}})
		a := e.ingest(o.key, map[string]any{"form_id": "f-1", "fields": map[string]any{"work_email": "Form.Filler@Vandelay.com", "job_title": "VP Sales"}})
		s := e.waitSignal(o.org.ID, o.owner.Token, a.ID, "completed")
		l := e.leadByEmail(o, "form.filler@vandelay.com")
		if l == nil || l.ID != s.LeadID || l.Title != "VP Sales" {
			t.Errorf("lead %+v, want the mapped email and title", l)
		}
	})
}

// ---- identity guards and replay races (SPEC §2.4)

func TestIngestIdentity(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Identity")

	// analytics.js sends a page call and an identify within milliseconds,
	// often in one batch. The two land in different partitions (one keyed by
	// the anonymous id, one by the email) and are processed concurrently:
	// whichever order they run in, the page view must end on the lead.
	t.Run("an identify racing its anonymous signals", func(t *testing.T) {
		e := e.at(t)
		type pair struct {
			anon       string
			view, iden uint64
		}
		var pairs []pair
		for i := 0; i < 200; i++ {
			anon := fmt.Sprintf("anon-race-%d", i)
			b := e.batch(hookPath+o.key+"/batch", []any{
				map[string]any{"type": "page", "name": "Pricing", "anonymousId": anon},
				map[string]any{"type": "identify", "anonymousId": anon, "email": fmt.Sprintf("race%d@hooli.com", i)},
			})
			pairs = append(pairs, pair{anon, b.Results[0].ID, b.Results[1].ID})
		}
		e.settle(o, settleWithin)
		var lost, mislabelled []string
		for _, p := range pairs {
			s := e.getSignal(o.org.ID, o.owner.Token, p.view)
			if s.Status != "cold" && s.LeadID != "" {
				continue
			}
			lead := e.waitSignal(o.org.ID, o.owner.Token, p.iden).LeadID
			what := fmt.Sprintf("%s (signal %d: %s, lead %q)", p.anon, p.view, s.Status, s.LeadID)
			if _, on := e.getLead(o, lead).entry(p.view); on {
				mislabelled = append(mislabelled, what)
			} else {
				lost = append(lost, what)
			}
		}
		if len(lost)+len(mislabelled) > 0 {
			t.Fatalf("of %d page views whose identify came in the same batch, %d never reached the lead %v, "+
				"and %d are on the lead's timeline but still say cold %v", len(pairs), len(lost), lost, len(mislabelled), mislabelled)
		}
	})

	t.Run("identities per person are capped", func(t *testing.T) {
		e := e.at(t)
		var items []any
		for i := 0; i < 60; i++ {
			items = append(items, map[string]any{"type": "identify", "userId": "shared-login",
				"email": fmt.Sprintf("cap%d@hooli.com", i)})
		}
		b := e.batch(hookPath+o.key+"/batch", items)
		lead := e.waitSignal(o.org.ID, o.owner.Token, b.Results[59].ID).LeadID
		l := e.getLead(o, lead)
		if len(l.Identifiers) > 50 {
			t.Fatalf("lead %s holds %d identifiers, over the cap of 50 per person (SPEC §2.4)", lead, len(l.Identifiers))
		}
	})

	t.Run("blocked identifier values never merge people", func(t *testing.T) {
		e := e.at(t)
		// Two visitors whose tracker sends anonymousId "null".
		v1 := e.ingest(o.key, map[string]any{"type": "page", "name": "A", "anonymousId": "null"})
		v2 := e.ingest(o.key, map[string]any{"type": "page", "name": "B", "anonymousId": "null"})
		for _, a := range []accepted{v1, v2} {
			e.waitSignal(o.org.ID, o.owner.Token, a.ID, "cold")
		}
		x := e.ingest(o.key, map[string]any{"type": "identify", "anonymousId": "null", "email": "x@hooli.com"})
		y := e.ingest(o.key, map[string]any{"type": "identify", "userId": "0", "email": "y@hooli.com"})
		z := e.ingest(o.key, map[string]any{"type": "identify", "userId": "0", "email": "z@hooli.com"})
		lx := e.waitSignal(o.org.ID, o.owner.Token, x.ID, "skipped").LeadID
		ly := e.waitSignal(o.org.ID, o.owner.Token, y.ID, "skipped").LeadID
		lz := e.waitSignal(o.org.ID, o.owner.Token, z.ID, "skipped").LeadID
		if ly == lz || lx == ly {
			t.Errorf("a blocked userId merged people: leads %s %s %s", lx, ly, lz)
		}
		for _, a := range []accepted{v1, v2} {
			if s := e.getSignal(o.org.ID, o.owner.Token, a.ID); s.Status != "cold" {
				t.Errorf("anonymousId \"null\" pulled signal %d onto a lead: %+v", a.ID, s)
			}
		}
	})
}
