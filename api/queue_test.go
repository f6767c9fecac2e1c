package api_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/store"
)

// Integration tests of signal mapping management (SPEC §2.5, api/queue.go):
// the signal queue, rule preview and "process now", against a real node.

type queueGroup struct {
	Source        string          `json:"source"`
	Type          string          `json:"type"`
	Event         string          `json:"event"`
	Count         int             `json:"count"`
	FirstSeen     time.Time       `json:"first_seen"`
	LastSeen      time.Time       `json:"last_seen"`
	SamplePaths   []string        `json:"sample_paths"`
	SamplePayload json.RawMessage `json:"sample_payload"`
	DraftRule     map[string]any  `json:"draft_rule"`
}

type queueView struct {
	Items     []queueGroup `json:"items"`
	Groups    int          `json:"groups"`
	Scanned   int          `json:"scanned"`
	NowMapped int          `json:"now_mapped"`
	Truncated bool         `json:"truncated"`
}

type previewView struct {
	Matched  int `json:"matched"`
	WouldWin int `json:"would_win"`
	Scanned  int `json:"scanned"`
}

type processView struct {
	Processed  int   `json:"processed"`
	Succeeded  int   `json:"succeeded"`
	Failed     int   `json:"failed"`
	Pending    int   `json:"pending"`
	DurationMS int64 `json:"duration_ms"`
	Truncated  bool  `json:"truncated"`
}

func (e *tenv) queue(o *ingestOrg, token, query string) queueView {
	e.t.Helper()
	var q queueView
	e.ok(e.do("GET", o.base+"/signal-queue"+query, token, nil), http.StatusOK, &q)
	if q.Items == nil {
		e.t.Fatalf("signal-queue: items is null")
	}
	return q
}

func (e *tenv) processNow(o *ingestOrg, token string) processView {
	e.t.Helper()
	var p processView
	e.ok(e.do("POST", o.base+"/signals/process?wait=10", token, nil), http.StatusOK, &p)
	if p.Processed != p.Succeeded+p.Failed || p.DurationMS < 0 {
		e.t.Errorf("process now: %+v", p)
	}
	return p
}

func (e *tenv) preview(o *ingestOrg, token string, body map[string]any) previewView {
	e.t.Helper()
	var p previewView
	e.ok(e.do("POST", o.base+"/signal-rules/preview", token, body), http.StatusOK, &p)
	return p
}

func groupOf(q queueView, typ, event string) *queueGroup {
	for i := range q.Items {
		if q.Items[i].Type == typ && q.Items[i].Event == event {
			return &q.Items[i]
		}
	}
	return nil
}

// member adds a new user with role to o.
func (e *tenv) member(o *ingestOrg, role string) *user {
	e.t.Helper()
	u := e.user(role)
	e.join(o.org.ID, o.owner.Token, u, role)
	return u
}

func TestSignalQueue(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Queue")
	viewer := e.member(o, "viewer")

	form := func(i int) map[string]any {
		return map[string]any{"type": "track", "event": "Form Submitted", "email": fmt.Sprintf("form.%d@acme.io", i),
			"properties": map[string]any{"form": "contact", "plan": "pro"}}
	}
	usage := func(i int) map[string]any {
		return map[string]any{"type": "track", "event": "Report Exported", "userId": fmt.Sprintf("user-%d", i),
			"properties": map[string]any{"rows": 1200}}
	}
	for i := 0; i < 3; i++ {
		e.ingest(o.key, form(i))
	}
	for i := 0; i < 2; i++ {
		e.ingest(o.key, usage(i))
	}
	// Neither cold nor mapped signals are in the queue.
	if a := e.ingest(o.key, map[string]any{"type": "track", "event": "Anonymous Visit", "anonymousId": "anon-1"}); !a.ColdStorage {
		t.Fatalf("anonymous signal not cold: %+v", a)
	}
	if p := e.processNow(o, o.owner.Token); p.Pending != 0 {
		t.Fatalf("process now left %d pending", p.Pending)
	}
	if s := e.stats(o); s.ByStatus["skipped"] != 5 || s.ByStatus["cold"] != 1 || s.Pending != 0 {
		t.Fatalf("stats %+v", s)
	}

	var q queueView
	t.Run("two groups with counts and drafts; a viewer may read it", func(t *testing.T) {
		e := e.at(t)
		q = e.queue(o, viewer.Token, "")
		if q.Scanned != 5 || q.Groups != 2 || len(q.Items) != 2 || q.NowMapped != 0 || q.Truncated {
			t.Fatalf("queue %+v", q)
		}
		f, u := groupOf(q, "track", "Form Submitted"), groupOf(q, "track", "Report Exported")
		if f == nil || u == nil || f.Count != 3 || u.Count != 2 || q.Items[0].Event != "Form Submitted" {
			t.Fatalf("groups %+v", q.Items)
		}
		if f.Source != "segment" || f.FirstSeen.IsZero() || f.LastSeen.Before(f.FirstSeen) {
			t.Errorf("form group %+v", f)
		}
		for _, p := range []string{"email", "event", "properties.form", "properties.plan", "type"} {
			if !strings.Contains(strings.Join(f.SamplePaths, ","), p) {
				t.Errorf("form group sample paths %v lack %s", f.SamplePaths, p)
			}
		}
		var sample map[string]any
		if err := json.Unmarshal(f.SamplePayload, &sample); err != nil || sample["event"] != "Form Submitted" {
			t.Errorf("sample payload %s: %v", f.SamplePayload, err)
		}
		d := f.DraftRule
		if d["name"] != "Form Submitted" || d["signal_type"] != "form_fill" || d["source"] != "segment" {
			t.Errorf("form draft %v", d)
		}
		for _, k := range []string{"id", "created_at", "updated_at"} {
			if _, ok := d[k]; ok {
				t.Errorf("draft has %s: %v", k, d)
			}
		}
		if m := fmt.Sprint(u.DraftRule["mappings"]); !strings.Contains(m, "product_user_id") {
			t.Errorf("usage draft mappings %s", m)
		}
		// Each draft validates: the preview accepts it as is.
		for _, g := range q.Items {
			pv := e.preview(o, o.owner.Token, map[string]any{"rule": g.DraftRule})
			if pv.Matched != g.Count || pv.WouldWin != g.Count || pv.Scanned != 6 {
				t.Errorf("preview of the %s draft: %+v, want %d of 6", g.Event, pv, g.Count)
			}
		}
	})

	t.Run("scan and limit", func(t *testing.T) {
		e := e.at(t)
		if q := e.queue(o, viewer.Token, "?scan=2"); q.Scanned != 2 || len(q.Items) != 1 || q.Items[0].Event != "Report Exported" {
			t.Errorf("scan=2 (the two newest skipped): %+v", q)
		}
		if q := e.queue(o, viewer.Token, "?limit=1&scan=50000"); q.Groups != 2 || len(q.Items) != 1 || q.Items[0].Count != 3 {
			t.Errorf("limit=1: %+v", q)
		}
		for _, bad := range []string{"scan=0", "scan=50001", "scan=x", "limit=0", "limit=1001"} {
			field := strings.SplitN(bad, "=", 2)[0]
			e.fails(e.do("GET", o.base+"/signal-queue?"+bad, viewer.Token, nil), 400, "out_of_range", field)
		}
	})

	t.Run("a rule created from a draft maps later signals", func(t *testing.T) {
		e := e.at(t)
		g := groupOf(q, "track", "Form Submitted")
		r := e.createRule(o.org.ID, o.owner.Token, g.DraftRule)
		a := e.ingest(o.key, form(99))
		s := e.waitSignal(o.org.ID, o.owner.Token, a.ID, "completed", "skipped")
		if s.Status != "completed" || s.RuleID != r.ID {
			t.Fatalf("signal after the rule: %+v", s)
		}
		// The group leaves the queue: its skipped signals now match a rule.
		q := e.queue(o, viewer.Token, "")
		if q.Groups != 1 || q.NowMapped != 3 || groupOf(q, "track", "Form Submitted") != nil {
			t.Errorf("queue after the rule %+v", q)
		}
	})

	t.Run("outsiders and other organizations", func(t *testing.T) {
		e := e.at(t)
		other := e.ingestOrg("Other")
		e.fails(e.do("GET", o.base+"/signal-queue", other.owner.Token, nil), 404, "organization_not_found", "")
		e.fails(e.do("GET", o.base+"/signal-queue", "", nil), 401, "missing_credential", "")
		if q := e.queue(other, other.owner.Token, ""); len(q.Items) != 0 || q.Scanned != 0 {
			t.Errorf("empty organization: %+v", q)
		}
	})
}

func TestRulePreview(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Preview")
	viewer, editor := e.member(o, "viewer"), e.member(o, "editor")
	for i := 0; i < 6; i++ {
		plan := "free"
		if i < 2 {
			plan = "pro"
		}
		e.ingest(o.key, map[string]any{"type": "track", "event": "Signed Up", "email": fmt.Sprintf("p%d@acme.io", i),
			"properties": map[string]any{"plan": plan, "seats": i * 10}})
	}
	e.ingest(o.key, map[string]any{"type": "track", "event": "Logged In", "email": "p0@acme.io"})
	e.settle(o, settleWithin)
	signedUp := eventRule("Signed Up", "Signed Up")

	t.Run("counts", func(t *testing.T) {
		e := e.at(t)
		if p := e.preview(o, editor.Token, map[string]any{"rule": signedUp}); p != (previewView{Matched: 6, WouldWin: 6, Scanned: 7}) {
			t.Errorf("preview %+v", p)
		}
		if p := e.preview(o, editor.Token, map[string]any{"rule": signedUp, "last": 1}); p != (previewView{Matched: 0, WouldWin: 0, Scanned: 1}) {
			t.Errorf("last=1 (the newest is the login): %+v", p)
		}
		// Numbers compare as numbers: seats >= 30 holds for 3 signals.
		seats := eventRule("Big teams", "Signed Up")
		seats["conditions"] = map[string]any{"all": []any{map[string]any{"path": "event", "op": "equals", "value": "Signed Up"},
			map[string]any{"path": "properties.seats", "op": "gte", "value": 30}}}
		if p := e.preview(o, editor.Token, map[string]any{"rule": seats}); p.Matched != 3 {
			t.Errorf("seats preview %+v", p)
		}
	})

	t.Run("would_win against a higher-priority rule", func(t *testing.T) {
		e := e.at(t)
		pro := eventRule("Pro sign-up", "Signed Up")
		pro["priority"] = 10
		pro["conditions"] = map[string]any{"path": "properties.plan", "op": "equals", "value": "pro"}
		proRule := e.createRule(o.org.ID, o.owner.Token, pro)
		if p := e.preview(o, editor.Token, map[string]any{"rule": signedUp}); p != (previewView{Matched: 6, WouldWin: 4, Scanned: 7}) {
			t.Errorf("with the pro rule: %+v", p)
		}
		// The draft with a higher priority still wins everything.
		high := eventRule("Signed Up", "Signed Up")
		high["priority"] = 11
		if p := e.preview(o, editor.Token, map[string]any{"rule": high}); p.WouldWin != 6 {
			t.Errorf("higher priority: %+v", p)
		}
		// An equal priority loses ties: a new rule is younger.
		high["priority"] = 10
		if p := e.preview(o, editor.Token, map[string]any{"rule": high}); p.WouldWin != 4 {
			t.Errorf("equal priority: %+v", p)
		}
		// Previewing an edit of the pro rule leaves its current version out.
		if p := e.preview(o, editor.Token, map[string]any{"rule": signedUp, "exclude_rule_id": proRule.ID}); p.WouldWin != 6 {
			t.Errorf("editing the pro rule: %+v", p)
		}
		e.fails(e.do("POST", o.base+"/signal-rules/preview", editor.Token,
			map[string]any{"rule": signedUp, "exclude_rule_id": "rule_missing"}), 404, "rule_not_found", "")
	})

	t.Run("validation names rule fields", func(t *testing.T) {
		e := e.at(t)
		with := func(change map[string]any) map[string]any {
			r := eventRule("Draft", "Signed Up")
			for k, v := range change {
				if v == nil {
					delete(r, k)
				} else {
					r[k] = v
				}
			}
			return r
		}
		cases := []struct {
			name        string
			body        map[string]any
			code, field string
		}{
			{"no rule", map[string]any{"last": 10}, "required", "rule"},
			{"null rule", map[string]any{"rule": nil}, "required", "rule"},
			{"rule of the wrong type", map[string]any{"rule": "x"}, "wrong_type", "rule"},
			{"no name", map[string]any{"rule": with(map[string]any{"name": nil})}, "required", "rule.name"},
			{"bad signal type", map[string]any{"rule": with(map[string]any{"signal_type": "tweet"})}, "invalid_enum", "rule.signal_type"},
			{"cdp_id alone", map[string]any{"rule": with(map[string]any{"mappings": []any{map[string]any{"path": "anonymousId", "target": "cdp_id"}}})}, "cdp_only", "rule.mappings"},
			{"bad mapping target", map[string]any{"rule": with(map[string]any{"mappings": []any{map[string]any{"path": "email", "target": "phone"}}})}, "invalid_enum", "rule.mappings[0].target"},
			{"unknown op", map[string]any{"rule": with(map[string]any{"conditions": map[string]any{"path": "event", "op": "like", "value": "x"}})}, "invalid_enum", "rule.conditions.op"},
			{"bad regex", map[string]any{"rule": with(map[string]any{"conditions": map[string]any{"path": "event", "op": "matches", "value": "("}})}, "invalid_regex", "rule.conditions.value"},
			{"unknown rule field", map[string]any{"rule": with(map[string]any{"wieght": 2})}, "unknown_field", "rule.wieght"},
			{"rule field of the wrong type", map[string]any{"rule": with(map[string]any{"weight": "heavy"})}, "wrong_type", "rule.weight"},
			{"rule id is not an input", map[string]any{"rule": with(map[string]any{"id": "rule_x"})}, "unknown_field", "rule.id"},
			{"last too small", map[string]any{"rule": with(nil), "last": 0}, "out_of_range", "last"},
			{"last too large", map[string]any{"rule": with(nil), "last": 20001}, "out_of_range", "last"},
			{"last of the wrong type", map[string]any{"rule": with(nil), "last": "all"}, "wrong_type", "last"},
			{"unknown field", map[string]any{"rule": with(nil), "limit": 5}, "unknown_field", "limit"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e := e.at(t)
				e.fails(e.do("POST", o.base+"/signal-rules/preview", editor.Token, c.body), 400, c.code, c.field)
			})
		}
		e.fails(e.do("POST", o.base+"/signal-rules/preview", editor.Token, rawBody("{")), 400, "malformed_json", "")
	})

	t.Run("roles", func(t *testing.T) {
		e := e.at(t)
		body := map[string]any{"rule": signedUp}
		e.fails(e.do("POST", o.base+"/signal-rules/preview", viewer.Token, body), 403, "forbidden", "")
		// Authorization comes before validation: a viewer learns nothing from a bad rule.
		e.fails(e.do("POST", o.base+"/signal-rules/preview", viewer.Token, map[string]any{"rule": map[string]any{"name": ""}}), 403, "forbidden", "")
		other := e.ingestOrg("Elsewhere")
		e.fails(e.do("POST", o.base+"/signal-rules/preview", other.owner.Token, body), 404, "organization_not_found", "")
		e.preview(o, e.n.OperatorToken, body)
	})
}

// appendUnannounced stores a signal in the log without waking the
// partition's grain (as if it had been accepted just before a restart).
// It writes the stored-signal framing of actors/records.go: version 1, the
// header JSON's uvarint length, the header, the payload.
func appendUnannounced(t *testing.T, e *tenv, org string, part int, email string) uint64 {
	t.Helper()
	now := e.n.Clock.Now().UTC()
	hdr, _ := json.Marshal(map[string]any{"source": "generic", "event": "Imported", "email": email,
		"timestamp": now, "received_at": now})
	payload, _ := json.Marshal(map[string]any{"event": "Imported", "email": email})
	data := binary.AppendUvarint([]byte{1}, uint64(len(hdr)))
	data = append(append(data, hdr...), payload...)
	log := e.n.Store.(interface{ SignalLog() store.SignalLog }).SignalLog()
	out, err := log.Append(context.Background(), org, []store.LogRecord{{Partition: part, Data: data}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return out[0].ID
}

func TestProcessNow(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Process")
	viewer, editor := e.member(o, "viewer"), e.member(o, "editor")

	t.Run("wakes the partitions and reports what it processed", func(t *testing.T) {
		e := e.at(t)
		var ids []uint64
		for i, part := range []int{0, 3, 3, 15} {
			ids = append(ids, appendUnannounced(t, e, o.org.ID, part, fmt.Sprintf("imported.%d@acme.io", i)))
		}
		time.Sleep(50 * time.Millisecond)
		if s := e.stats(o); s.Pending != 4 {
			t.Fatalf("before: %+v (nothing should process unannounced signals)", s)
		}
		p := e.processNow(o, editor.Token)
		if p.Processed != 4 || p.Succeeded != 4 || p.Failed != 0 || p.Pending != 0 || p.Truncated {
			t.Errorf("process now: %+v", p)
		}
		for _, id := range ids {
			if s := e.getSignal(o.org.ID, viewer.Token, id); s.Status != "skipped" || s.LeadID == "" {
				t.Errorf("signal %d after process now: %+v", id, s)
			}
		}
		// Nothing left: nothing processed, at once.
		if p := e.processNow(o, editor.Token); p.Processed != 0 || p.Pending != 0 || p.DurationMS > 2000 {
			t.Errorf("second run: %+v", p)
		}
	})

	t.Run("after a burst the backlog is empty", func(t *testing.T) {
		e := e.at(t)
		batch := make([]any, 200)
		for i := range batch {
			batch[i] = map[string]any{"type": "track", "event": "Burst", "email": fmt.Sprintf("burst.%d@acme.io", i)}
		}
		b := e.batch(hookPath+o.key+"/batch", batch)
		if b.Accepted != 200 {
			t.Fatalf("batch %+v", b)
		}
		p := e.processNow(o, o.owner.Token)
		if p.Pending != 0 || p.Processed > 200 || p.Failed != 0 {
			t.Errorf("process now after a burst: %+v", p)
		}
		if s := e.stats(o); s.Pending != 0 || s.ByStatus["skipped"] != 204 {
			t.Errorf("stats after: %+v", s)
		}
	})

	t.Run("wait bounds and roles", func(t *testing.T) {
		e := e.at(t)
		for _, bad := range []string{"61", "-1", "x", "1.5"} {
			e.fails(e.do("POST", o.base+"/signals/process?wait="+bad, editor.Token, nil), 400, "out_of_range", "wait")
		}
		var p processView
		e.ok(e.do("POST", o.base+"/signals/process?wait=0", editor.Token, nil), 200, &p)
		e.fails(e.do("POST", o.base+"/signals/process", viewer.Token, nil), 403, "forbidden", "")
		other := e.ingestOrg("Elsewhere")
		e.fails(e.do("POST", o.base+"/signals/process", other.owner.Token, nil), 404, "organization_not_found", "")
		e.fails(e.do("POST", o.base+"/signals/process", "", nil), 401, "missing_credential", "")
		e.ok(e.do("POST", o.base+"/signals/process", e.n.OperatorToken, nil), 200, &p)
	})
}
