package actors

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/store"
)

// Reprocessing over a real signal log (Badger), without protoactor: the
// Client adds the authorization, the rules fetch and the job record
// (covered by api/reprocess_test.go).

func reprocessRule(id, name string, typ mapping.SignalType, event string, created time.Time) mapping.Rule {
	return mapping.Rule{ID: id, Name: name, SignalType: typ, Priority: 1, CreatedAt: created, UpdatedAt: created,
		Conditions: mapping.Condition{Path: "event", Op: mapping.OpEquals, Value: event},
		Mappings:   []mapping.IdentifierMapping{{Path: "email", Target: mapping.TargetEmail}}}
}

func TestReprocessRelabelsSignalsAndLead(t *testing.T) {
	t.Parallel()
	env := queueEnv(t)
	ctx := context.Background()
	const org, lead, other = "org_000000000000000000r1", "lead_1", "lead_2"

	ids := appendSigs(t, env, org,
		sig{part: 2, payload: `{"event":"demo","email":"a@x.io"}`},
		sig{part: 2, payload: `{"event":"demo","email":"a@x.io"}`},
		sig{part: 5, payload: `{"event":"demo","email":"b@x.io"}`},
		sig{part: 2, payload: `{"event":"old","email":"a@x.io"}`},
		sig{part: 2, payload: `{"event":"nothing","email":"a@x.io"}`},
		sig{part: 2, payload: `{"event":"demo","email":"a@x.io"}`}, // pending: not reprocessed
	)
	put := func(p int, cursor uint64, sts ...store.SignalStatus) {
		t.Helper()
		if err := env.SignalLog.Commit(ctx, org, p, cursor, sts); err != nil {
			t.Fatal(err)
		}
	}
	put(2, ids[4],
		store.SignalStatus{ID: ids[0], Status: StatusSkipped, LeadID: lead},
		store.SignalStatus{ID: ids[1], Status: StatusSkipped, LeadID: lead},
		store.SignalStatus{ID: ids[3], Status: StatusCompleted, RuleID: "rule_old", LeadID: lead},
		store.SignalStatus{ID: ids[4], Status: StatusSkipped, LeadID: lead})
	put(5, ids[2], store.SignalStatus{ID: ids[2], Status: StatusSkipped, LeadID: other})

	// lead_1 shows signals 0 and 3 on its timeline (1 has aged out of it).
	l1 := &Lead{ID: lead, Identifiers: []LeadIdentifier{}, SignalCount: 4, MappedCount: 1,
		CountsByType: map[string]int{"page_view": 1}, Timeline: []TimelineEntry{
			{SignalID: ids[0], At: queueT0, Source: "generic"},
			{SignalID: ids[3], At: queueT0, Source: "generic", RuleID: "rule_old", RuleName: "Old", SignalType: "page_view", Weight: 1, HalfLifeH: 24},
		}}
	l2 := &Lead{ID: other, Identifiers: []LeadIdentifier{}, SignalCount: 1, CountsByType: map[string]int{}}
	for _, l := range []*Lead{l1, l2} {
		b, _ := json.Marshal(l)
		if _, err := env.Store.Save(ctx, keyLead(org, l.ID), b, 0); err != nil {
			t.Fatal(err)
		}
	}

	// rule_old was deleted; a new rule maps the "demo" signals.
	rules := []mapping.Rule{reprocessRule("rule_new", "Demo request", mapping.SignalType("form_fill"), "demo", queueT0)}
	var seen []ReprocessProgress
	p, err := env.reprocess(ctx, org, rules, 100, func(p ReprocessProgress) { seen = append(seen, p) })
	if err != nil {
		t.Fatal(err)
	}
	if want := (ReprocessProgress{Scanned: 5, Processed: 5, Changed: 4}); p != want || len(seen) != 1 || seen[0] != want {
		t.Fatalf("progress = %+v (seen %+v), want %+v", p, seen, want)
	}
	wantStatus := map[uint64][2]string{
		ids[0]: {StatusCompleted, "rule_new"}, ids[1]: {StatusCompleted, "rule_new"}, ids[2]: {StatusCompleted, "rule_new"},
		ids[3]: {StatusSkipped, ""}, ids[4]: {StatusSkipped, ""},
	}
	for id, w := range wantStatus {
		st, err := env.SignalLog.Status(ctx, org, id)
		if err != nil || st.Status != w[0] || st.RuleID != w[1] {
			t.Errorf("status of %d = %+v %v, want %v", id, st, err, w)
		}
	}
	if _, err := env.SignalLog.Status(ctx, org, ids[5]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pending signal got a status: %v", err)
	}
	// Cursors did not move; the pending signal is still waiting.
	for p, want := range map[int]uint64{2: ids[4], 5: ids[2]} {
		if cur, err := env.SignalLog.Cursor(ctx, org, p); err != nil || cur != want {
			t.Errorf("cursor %d = %d %v, want %d", p, cur, err, want)
		}
	}
	// The payloads are untouched.
	le, err := env.SignalLog.Get(ctx, org, ids[3])
	var s storedSignal
	if err != nil || decodeStoredSignal(le.Data, &s) != nil || string(s.Payload) != `{"event":"old","email":"a@x.io"}` {
		t.Errorf("stored signal changed: %s %v", s.Payload, err)
	}

	got, _, err := env.loadLead(ctx, org, lead)
	if err != nil || got == nil {
		t.Fatal(err)
	}
	// +2 form_fill (signals 0 and 1), -1 page_view (signal 3, from its entry).
	if got.MappedCount != 2 || len(got.CountsByType) != 1 || got.CountsByType["form_fill"] != 2 || got.SignalCount != 4 {
		t.Errorf("lead counters = mapped %d, by type %v, signals %d", got.MappedCount, got.CountsByType, got.SignalCount)
	}
	e0, e3 := got.Timeline[0], got.Timeline[1]
	if e0.RuleID != "rule_new" || e0.RuleName != "Demo request" || e0.SignalType != "form_fill" || e0.Weight == 0 || e0.HalfLifeH == 0 {
		t.Errorf("entry of signal 0 = %+v", e0)
	}
	if e3.RuleID != "" || e3.RuleName != "" || e3.SignalType != "" || e3.Weight != 0 || e3.HalfLifeH != 0 {
		t.Errorf("entry of signal 3 = %+v", e3)
	}
	got2, _, _ := env.loadLead(ctx, org, other)
	if got2.MappedCount != 1 || got2.CountsByType["form_fill"] != 1 {
		t.Errorf("other lead = mapped %d, by type %v", got2.MappedCount, got2.CountsByType)
	}

	// Running again changes nothing.
	p, err = env.reprocess(ctx, org, rules, 100, nil)
	if err != nil || p != (ReprocessProgress{Scanned: 5, Processed: 5, Changed: 0}) {
		t.Fatalf("second run = %+v %v", p, err)
	}
	again, _, _ := env.loadLead(ctx, org, lead)
	if again.MappedCount != 2 || again.CountsByType["form_fill"] != 2 {
		t.Errorf("second run changed the lead: %d %v", again.MappedCount, again.CountsByType)
	}

	// "last" bounds the window: only the newest processed signal.
	p, err = env.reprocess(ctx, org, nil, 1, nil)
	if err != nil || p != (ReprocessProgress{Scanned: 1, Processed: 1, Changed: 0}) {
		t.Fatalf("last=1 = %+v %v", p, err)
	}
}

// The lead is read fresh (never from a grain's cache): what another writer
// stored meanwhile is kept, the relabelling applied on top.
func TestReprocessLeadKeepsOtherWrites(t *testing.T) {
	t.Parallel()
	env := queueEnv(t)
	ctx := context.Background()
	const org = "org_000000000000000000r2"
	ids := appendSigs(t, env, org, sig{part: 1, payload: `{"event":"demo"}`})
	l := &Lead{ID: "lead_c", Identifiers: []LeadIdentifier{}, CountsByType: map[string]int{}}
	b, _ := json.Marshal(l)
	ver, err := env.Store.Save(ctx, keyLead(org, l.ID), b, 0)
	if err != nil {
		t.Fatal(err)
	}
	ch := reprocessChange{st: store.SignalStatus{ID: ids[0], Status: StatusSkipped, LeadID: l.ID}, partition: 1,
		rule: &mapping.Rule{ID: "rule_x", Name: "X", SignalType: "page_view"}}
	// Another writer (a partition grain) updates the lead first.
	l.Title = "CTO"
	b, _ = json.Marshal(l)
	if _, err := env.Store.Save(ctx, keyLead(org, l.ID), b, ver); err != nil {
		t.Fatal(err)
	}
	if err := env.reprocessLeads(ctx, org, []string{l.ID}, map[string][]reprocessChange{l.ID: {ch}}); err != nil {
		t.Fatal(err)
	}
	got, _, _ := env.loadLead(ctx, org, l.ID)
	if got.Title != "CTO" || got.MappedCount != 1 || got.CountsByType["page_view"] != 1 {
		t.Errorf("lead = %+v", got)
	}
}

// One reprocess job per organization; close cancels running jobs and
// waits for them.
func TestJobRegistry(t *testing.T) {
	t.Parallel()
	j := newJobRegistry()
	if err := j.take("org_a"); err != nil {
		t.Fatal(err)
	}
	err := j.take("org_a")
	if e := errs.As(err); e == nil || e.Kind != errs.KindConflict || e.Code != "job_running" {
		t.Fatalf("second take = %v", err)
	}
	if err := j.take("org_b"); err != nil {
		t.Fatalf("other org: %v", err)
	}
	j.release("org_a")
	if err := j.take("org_a"); err != nil {
		t.Fatalf("after release: %v", err)
	}
	started := make(chan struct{})
	stopped := false
	if err := j.launch(func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		stopped = true
	}); err != nil {
		t.Fatal(err)
	}
	<-started
	j.close()
	if !stopped {
		t.Fatal("close returned before the job ended")
	}
	if err := j.launch(func(context.Context) {}); err == nil {
		t.Fatal("launch after close succeeded")
	}
	if err := j.take("org_c"); err == nil {
		t.Fatal("take after close succeeded")
	}
}
