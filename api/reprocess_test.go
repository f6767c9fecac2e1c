package api_test

import (
	"context"
	"encoding/json"
	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/tenant"
	"net/http"
	"testing"
	"time"

	"github.com/trailspark/trailspark/store"
)

// Integration tests of "reprocess matching signals" (SPEC §2.5,
// api/reprocess.go) against a real node.

type reprocessJobView struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	FinishedAt *time.Time `json:"finished_at"`
	Error      *errDetail `json:"error"`
}

// reprocessCounters are the job record's counters, as stored.
type reprocessCounters struct {
	Scanned   int `json:"scanned"`
	Processed int `json:"processed"`
	Changed   int `json:"changed"`
	Last      int `json:"last"`
}

type reprocessLead struct {
	MappedCount  int             `json:"mapped_count"`
	SignalCount  int             `json:"signal_count"`
	CountsByType map[string]int  `json:"counts_by_type"`
	Timeline     []timelineEntry `json:"timeline"`
}

// startReprocess starts a job and returns its id.
func (e *tenv) startReprocess(o *ingestOrg, token, rule string, body any) string {
	e.t.Helper()
	var out struct {
		JobID string `json:"job_id"`
	}
	r := e.do("POST", o.base+"/signal-rules/"+rule+"/reprocess", token, body)
	e.ok(r, http.StatusAccepted, &out)
	if out.JobID == "" || r.Header.Get("Location") != o.base+"/jobs/"+out.JobID {
		e.t.Fatalf("%s: job_id %q, Location %q", r, out.JobID, r.Header.Get("Location"))
	}
	return out.JobID
}

// waitJob polls a job until it has finished and returns it with its
// counters (read from the stored record).
func (e *tenv) waitReprocess(o *ingestOrg, token, id string) (reprocessJobView, reprocessCounters) {
	e.t.Helper()
	deadline := time.Now().Add(settleWithin)
	for {
		var j reprocessJobView
		e.ok(e.do("GET", o.base+"/jobs/"+id, token, nil), 200, &j)
		if j.Kind != "signal_reprocess" {
			e.t.Fatalf("job %s kind %q", id, j.Kind)
		}
		if j.Status != "running" {
			b, _, err := e.n.Store.Load(context.Background(), store.TenantKey(o.org.ID, "job", id))
			var c reprocessCounters
			if err == nil {
				err = json.Unmarshal(b, &c)
			}
			if err != nil {
				e.t.Fatalf("job record: %v", err)
			}
			return j, c
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s still running after %v", id, settleWithin)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReprocess(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Reprocess")
	viewer, editor := e.member(o, "viewer"), e.member(o, "editor")

	// Four signals, processed while no rule exists: all skipped.
	batch := []any{
		map[string]any{"type": "track", "event": "Demo Requested", "email": "alice@acme.io"},
		map[string]any{"type": "track", "event": "Demo Requested", "email": "alice@acme.io"},
		map[string]any{"type": "track", "event": "Demo Requested", "email": "bob@acme.io"},
		map[string]any{"type": "track", "event": "Pricing Viewed", "email": "alice@acme.io"},
	}
	b := e.batch(hookPath+o.key+"/batch", batch)
	if b.Accepted != 4 {
		t.Fatalf("batch %+v", b)
	}
	ids := make([]uint64, 4)
	leads := make([]string, 4)
	for i, it := range b.Results {
		ids[i] = it.ID
		s := e.waitSignal(o.org.ID, viewer.Token, it.ID, "skipped")
		leads[i] = s.LeadID
	}
	if leads[0] == "" || leads[0] != leads[1] || leads[0] != leads[3] || leads[2] == leads[0] {
		t.Fatalf("leads %v", leads)
	}
	lead := func(id string) reprocessLead {
		t.Helper()
		var l reprocessLead
		e.ok(e.do("GET", o.base+"/leads/"+id, viewer.Token, nil), 200, &l)
		return l
	}
	if l := lead(leads[0]); l.MappedCount != 0 || len(l.CountsByType) != 0 || l.SignalCount != 3 {
		t.Fatalf("alice before: %+v", l)
	}
	rule := e.createRule(o.org.ID, o.owner.Token, eventRule("Demo requests", "Demo Requested"))

	t.Run("roles and input", func(t *testing.T) {
		e := e.at(t)
		path := o.base + "/signal-rules/" + rule.ID + "/reprocess"
		e.fails(e.do("POST", path, viewer.Token, nil), 403, "forbidden", "")
		e.fails(e.do("PUT", o.base+"/signal-rules/"+rule.ID+"?reprocess=true", viewer.Token,
			eventRule("Demo requests", "Pricing Viewed")), 403, "forbidden", "")
		e.fails(e.do("POST", path, "", nil), 401, "missing_credential", "")
		for _, bad := range []int{0, -1, 200001} {
			e.fails(e.do("POST", path, editor.Token, map[string]any{"last": bad}), 400, "out_of_range", "last")
		}
		if r := e.do("POST", path, editor.Token, map[string]any{"lats": 5}); r.Status != 400 {
			t.Errorf("%s: want 400", r)
		}
		e.fails(e.do("POST", o.base+"/signal-rules/rule_00000000000000000000/reprocess", editor.Token, nil), 404, "rule_not_found", "-")
		e.fails(e.do("PUT", o.base+"/signal-rules/"+rule.ID+"?reprocess=maybe", editor.Token,
			eventRule("Demo requests", "Demo Requested")), 400, "invalid_format", "reprocess")
		other := e.ingestOrg("Elsewhere")
		e.fails(e.do("POST", path, other.owner.Token, nil), 404, "organization_not_found", "")
	})

	t.Run("maps skipped signals with the new rule", func(t *testing.T) {
		e := e.at(t)
		id := e.startReprocess(o, editor.Token, rule.ID, nil)
		j, c := e.waitReprocess(o, viewer.Token, id)
		if j.Status != "completed" || j.FinishedAt == nil || j.Error != nil {
			t.Fatalf("job %+v", j)
		}
		if c != (reprocessCounters{Scanned: 4, Processed: 4, Changed: 3, Last: 10000}) {
			t.Errorf("counters %+v", c)
		}
		for i, id := range ids {
			s := e.getSignal(o.org.ID, viewer.Token, id)
			want, wantRule := "completed", rule.ID
			if i == 3 {
				want, wantRule = "skipped", ""
			}
			if s.Status != want || s.RuleID != wantRule || s.LeadID != leads[i] {
				t.Errorf("signal %d: %+v", i, s)
			}
		}
		alice := lead(leads[0])
		if alice.MappedCount != 2 || alice.CountsByType["form_fill"] != 2 || len(alice.CountsByType) != 1 || alice.SignalCount != 3 {
			t.Errorf("alice: %+v", alice)
		}
		for _, te := range alice.Timeline {
			mapped := te.SignalID == ids[0] || te.SignalID == ids[1]
			if mapped != (te.RuleID == rule.ID) || (mapped && (te.RuleName != "Demo requests" || te.SignalType != "form_fill" || te.Weight == 0)) {
				t.Errorf("alice's timeline entry %+v", te)
			}
		}
		if bob := lead(leads[2]); bob.MappedCount != 1 || bob.CountsByType["form_fill"] != 1 {
			t.Errorf("bob: %+v", bob)
		}
		// Again: nothing to change. "last" limits the window.
		id = e.startReprocess(o, editor.Token, rule.ID, map[string]any{"last": 2})
		if j, c := e.waitReprocess(o, viewer.Token, id); j.Status != "completed" || c != (reprocessCounters{Scanned: 2, Processed: 2, Last: 2}) {
			t.Errorf("second job %+v %+v", j, c)
		}
	})

	t.Run("rule update with reprocess relabels signals", func(t *testing.T) {
		e := e.at(t)
		upd := eventRule("Pricing views", "Pricing Viewed")
		upd["signal_type"] = "page_view"
		r := e.do("PUT", o.base+"/signal-rules/"+rule.ID+"?reprocess=true", editor.Token, upd)
		var got ruleView
		e.ok(r, 200, &got)
		if got.ID != rule.ID || got.Name != "Pricing views" || got.SignalType != "page_view" {
			t.Errorf("updated rule %+v", got)
		}
		jobID := r.Header.Get("X-Job-Id")
		if jobID == "" {
			t.Fatalf("%s: no X-Job-Id", r)
		}
		j, c := e.waitReprocess(o, viewer.Token, jobID)
		if j.Status != "completed" || c != (reprocessCounters{Scanned: 4, Processed: 4, Changed: 4, Last: 10000}) {
			t.Errorf("job %+v %+v", j, c)
		}
		for i, id := range ids {
			s := e.getSignal(o.org.ID, viewer.Token, id)
			want, wantRule := "skipped", ""
			if i == 3 {
				want, wantRule = "completed", rule.ID
			}
			if s.Status != want || s.RuleID != wantRule {
				t.Errorf("signal %d: %+v", i, s)
			}
		}
		alice := lead(leads[0])
		if alice.MappedCount != 1 || alice.CountsByType["page_view"] != 1 || len(alice.CountsByType) != 1 {
			t.Errorf("alice: %+v", alice)
		}
		if bob := lead(leads[2]); bob.MappedCount != 0 || len(bob.CountsByType) != 0 {
			t.Errorf("bob: %+v", bob)
		}
		// Without ?reprocess: no job.
		r = e.do("PUT", o.base+"/signal-rules/"+rule.ID, editor.Token, upd)
		e.ok(r, 200, nil)
		if h := r.Header.Get("X-Job-Id"); h != "" {
			t.Errorf("plain update started job %s", h)
		}
		// A failed update starts no job (and frees the slot).
		bad := eventRule("", "x")
		if r := e.do("PUT", o.base+"/signal-rules/"+rule.ID+"?reprocess=true", editor.Token, bad); r.Status != 400 || r.Header.Get("X-Job-Id") != "" {
			t.Errorf("%s: want 400 without a job", r)
		}
		e.waitReprocess(o, viewer.Token, e.startReprocess(o, editor.Token, rule.ID, nil))
	})

	t.Run("one job at a time", func(t *testing.T) {
		e := e.at(t)
		path := o.base + "/signal-rules/" + rule.ID + "/reprocess"
		// Hold the organization's job slot, as a running job does, so the
		// refusals are deterministic rather than a race with a fast job.
		ticket, err := e.n.Client.PrepareReprocess(context.Background(), tenant.Caller{Operator: true}, o.org.ID, actors.ReprocessInput{})
		if err != nil {
			t.Fatalf("hold the job slot: %v", err)
		}
		r := e.do("POST", path, o.owner.Token, nil)
		if r.Status != http.StatusConflict || errCode(r) != "job_running" {
			t.Errorf("second start while a job runs: %s, want 409 job_running", r)
		}
		// The PUT is refused too, before the rule changes.
		rp := e.do("PUT", o.base+"/signal-rules/"+rule.ID+"?reprocess=true", editor.Token, eventRule("Changed", "Never"))
		if rp.Status != http.StatusConflict {
			t.Errorf("PUT ?reprocess=true while a job runs: %s, want 409", rp)
		}
		var cur ruleView
		e.ok(e.do("GET", o.base+"/signal-rules/"+rule.ID, viewer.Token, nil), 200, &cur)
		if cur.Name != "Pricing views" {
			t.Errorf("refused update changed the rule: %+v", cur)
		}
		ticket.Release()
		// Afterwards a new job starts.
		e.waitReprocess(o, viewer.Token, e.startReprocess(o, editor.Token, rule.ID, nil))
	})

	t.Run("jobs are listed", func(t *testing.T) {
		e := e.at(t)
		var l struct {
			Items []reprocessJobView `json:"items"`
		}
		e.ok(e.do("GET", o.base+"/jobs?limit=200", viewer.Token, nil), 200, &l)
		n := 0
		for _, j := range l.Items {
			if j.Kind == "signal_reprocess" {
				n++
				if j.Status != "completed" {
					t.Errorf("listed job %+v", j)
				}
			}
		}
		if n < 5 {
			t.Errorf("%d reprocess jobs listed", n)
		}
	})
}
