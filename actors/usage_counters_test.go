package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/engine/plan"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// failingCommit makes the first n cursor commits fail: the crash window
// after a batch's store writes and before its cursor moves.
type failingCommit struct {
	store.SignalLog
	n int
}

func (f *failingCommit) Commit(ctx context.Context, org string, p int, cursor uint64, st []store.SignalStatus) error {
	if f.n > 0 {
		f.n--
		return errors.New("simulated crash before the cursor commit")
	}
	return f.SignalLog.Commit(ctx, org, p, cursor, st)
}

// Usage counters are exact across a replay: a batch whose counter and
// leads were written but whose cursor was not is processed again, and
// nothing is counted twice.
func TestUsageCountersSurviveReplay(t *testing.T) {
	env := queueEnv(t)
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	env.Clock = func() time.Time { return t0.Add(time.Hour) }
	rules := func(context.Context) ([]mapping.Rule, uint64, error) { return nil, 1, nil }
	log := &failingCommit{SignalLog: env.SignalLog, n: 1}
	p := newProcessor(env, log, mergeOrg, 0, rules)
	p.billing = &billingSnapshot{Anchor: t0, Plan: plan.DefaultPlans()[0]}

	var sigs []mergeSig
	for i := 0; i < 3; i++ {
		for j := 0; j < 2; j++ {
			sigs = append(sigs, mergeSig{part: 0, email: fmt.Sprintf("p%d@corp%d.com", i, i), at: t0.Add(time.Duration(i*2+j) * time.Minute)})
		}
	}
	appendMergeSigs(t, env, sigs...)
	if _, _, err := p.step(context.Background()); err == nil {
		t.Fatal("the first step should fail at the commit")
	}
	// The counter was written with the leads; the cursor did not move.
	period := plan.PeriodFor(t0, env.Clock())
	pu, err := env.sumPartitionUsage(context.Background(), mergeOrg, period)
	if err != nil || pu.Signals != 6 || pu.ActiveLeads != 3 {
		t.Fatalf("after the failed commit: %+v, %v", pu, err)
	}
	// A fresh activation (no caches) replays the batch.
	p2 := newProcessor(env, log, mergeOrg, 0, rules)
	p2.billing = p.billing
	drain(t, p2)
	pu, err = env.sumPartitionUsage(context.Background(), mergeOrg, period)
	if err != nil || pu.Signals != 6 || pu.ActiveLeads != 3 {
		t.Fatalf("after the replay: %+v (want 6 signals, 3 active leads), %v", pu, err)
	}
	// New signals count; a lead already active this period does not count again.
	appendMergeSigs(t, env, mergeSig{part: 0, email: "p0@corp0.com", at: t0.Add(time.Hour)}, mergeSig{part: 0, email: "new@corp9.com", at: t0.Add(time.Hour)})
	drain(t, p2)
	pu, _ = env.sumPartitionUsage(context.Background(), mergeOrg, period)
	if pu.Signals != 8 || pu.ActiveLeads != 4 {
		t.Fatalf("after two more signals: %+v (want 8 signals, 4 active leads)", pu)
	}
	// The next period starts from zero and counts its own active leads.
	env.Clock = func() time.Time { return t0.AddDate(0, 1, 2) }
	appendMergeSigs(t, env, mergeSig{part: 0, email: "p0@corp0.com", at: t0.AddDate(0, 1, 1)})
	drain(t, p2)
	next := plan.PeriodFor(t0, env.Clock())
	pu, _ = env.sumPartitionUsage(context.Background(), mergeOrg, next)
	if pu.Signals != 1 || pu.ActiveLeads != 1 {
		t.Fatalf("next period: %+v (want 1 signal, 1 active lead)", pu)
	}
}

// The quota view refuses at the limit, counts reservations until their
// commit, never counts a written counter twice (whether a reload or the
// writer's report that it landed comes first), keeps pending reservations across
// reloads, and lets them expire when they never commit.
func TestOrgQuotaReservations(t *testing.T) {
	env := queueEnv(t)
	ctx := context.Background()
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	snap := &billingSnapshot{Anchor: t0, Plan: plan.Plan{ID: "p", Limits: plan.Limits{Evaluations: 3}}}
	period := plan.PeriodFor(t0, t0)
	q := &orgQuota{}
	if err := q.reload(ctx, env, mergeOrg, snap, t0); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, true, false} {
		if d := q.reserve(plan.MeterEvaluations, 1, t0); d.Allowed != want {
			t.Fatalf("reservation %d: allowed %v, want %v", i, d.Allowed, want)
		}
	}
	// Partition 0 writes its counter with one evaluation; a reload reads
	// the write before the writer reports it landed: counted once, at
	// once (a request at the limit in that gap must not be refused).
	cur := partitionUsage{Evaluations: 1}
	l0 := q.expect(period, "p0", cur, map[plan.Meter]int64{plan.MeterEvaluations: 1})
	b, _ := json.Marshal(cur)
	if _, err := env.Store.Save(ctx, keyPartitionUsage(mergeOrg, tenant.PeriodKey(period), 0), b, 0); err != nil {
		t.Fatal(err)
	}
	if err := q.reload(ctx, env, mergeOrg, snap, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if u := q.inUse(); u.Get(plan.MeterEvaluations) != 3 {
		t.Fatalf("after a reload that read a write not yet landed: in use %v, want 3 (1 counted + 2 pending)", u.Used)
	}
	q.landed(l0, true)
	if u := q.inUse(); u.Get(plan.MeterEvaluations) != 3 {
		t.Fatalf("in use %v, want 3 (1 counted + 2 pending)", u.Used)
	}
	if d := q.reserve(plan.MeterEvaluations, 1, t0.Add(time.Second)); d.Allowed {
		t.Fatalf("at the limit: %v", q.inUse().Used)
	}
	// A write that fails settles nothing: its reservation stays pending
	// (the writer retries and counts it).
	q.landed(q.expect(period, "p1", partitionUsage{Evaluations: 1}, map[plan.Meter]int64{plan.MeterEvaluations: 1}), false)
	if u := q.inUse(); u.Get(plan.MeterEvaluations) != 3 {
		t.Fatalf("after a failed write: in use %v, want 3", u.Used)
	}
	// A commit landing while the view waits for a reload still releases
	// its reservation (otherwise the reload would count it twice).
	q.mu.Lock()
	q.ok = false
	q.mu.Unlock()
	q.landed(q.expect(period, "p1", partitionUsage{Evaluations: 1}, map[plan.Meter]int64{plan.MeterEvaluations: 1}), true)
	if u := q.inUse(); u.Get(plan.MeterEvaluations) != 2 {
		t.Fatalf("after a commit landed while invalid: %v, want 2 (1 counted + 1 pending: its reservation released)", u.Used)
	}
	// The last reservation never commits: it expires after two
	// rotations; the counted one stays.
	for _, at := range []time.Time{t0.Add(pendingTTL + 2*time.Second), t0.Add(2*pendingTTL + 3*time.Second)} {
		if err := q.reload(ctx, env, mergeOrg, snap, at); err != nil {
			t.Fatal(err)
		}
	}
	if u := q.inUse(); u.Get(plan.MeterEvaluations) != 1 {
		t.Fatalf("after expiry: %v, want the 1 counted", u.Used)
	}
}

// Signals a node accepted stay reserved until a partition counter counts
// them, whichever node wrote it: a node that does not process its
// signals settles them when its reload reads the counters, instead of
// counting them twice until they expire.
func TestOrgQuotaSettlesAcceptedSignalsByCounter(t *testing.T) {
	env := queueEnv(t)
	ctx := context.Background()
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	snap := &billingSnapshot{Anchor: t0, Plan: plan.Plan{ID: "p", Limits: plan.Limits{Signals: 10}}}
	period := plan.PeriodFor(t0, t0)
	q := &orgQuota{} // node A: accepts, never processes
	if err := q.reload(ctx, env, mergeOrg, snap, t0); err != nil {
		t.Fatal(err)
	}
	signals := func() int64 { return q.inUse().Get(plan.MeterSignals) }
	accept := func(at time.Time, ids ...uint64) {
		t.Helper()
		recs := make([]store.LogRecord, len(ids))
		res := make([]store.Appended, len(ids))
		for i, id := range ids {
			recs[i] = store.LogRecord{Partition: int(id & 15)}
			res[i] = store.Appended{ID: id}
		}
		if d := q.reserve(plan.MeterSignals, int64(len(ids)), at); !d.Allowed {
			t.Fatalf("reserving %d: refused at %v", len(ids), q.inUse().Used)
		}
		q.appended(int64(len(ids)), recs, res, at)
	}
	// Partition 2 gets ids 0x12, 0x22, 0x32; partition 3 gets 0x13.
	accept(t0, 0x12, 0x22, 0x32, 0x13)
	// A repeat is not counted again; a failed append gives its
	// reservation back.
	if d := q.reserve(plan.MeterSignals, 2, t0); !d.Allowed {
		t.Fatal("refused")
	}
	q.appended(2, []store.LogRecord{{Partition: 2}, {Partition: 2}}, []store.Appended{{ID: 0x12, Duplicate: true}, {ID: 0x42}}, t0)
	if d := q.reserve(plan.MeterSignals, 3, t0); !d.Allowed {
		t.Fatal("refused")
	}
	q.appended(3, make([]store.LogRecord, 3), nil, t0)
	if n := signals(); n != 5 {
		t.Fatalf("in use %d, want 5 accepted", n)
	}
	// Node B processes partition 2 up to 0x32 and writes its counter.
	b, _ := json.Marshal(partitionUsage{Signals: 3, UpTo: 0x32})
	if _, err := env.Store.Save(ctx, keyPartitionUsage(mergeOrg, tenant.PeriodKey(period), 2), b, 0); err != nil {
		t.Fatal(err)
	}
	if err := q.reload(ctx, env, mergeOrg, snap, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := signals(); n != 5 {
		t.Fatalf("after reading node B's counter: in use %d, want 5 (3 counted + 2 accepted), each once", n)
	}
	// A group whose ids the counter reached before the append reported
	// them is not reserved at all.
	accept(t0.Add(2*time.Second), 0x02)
	if n := signals(); n != 5 {
		t.Fatalf("after an append already counted: in use %d, want 5", n)
	}
	// A stuck partition keeps at most maxGroups groups and all its
	// signals reserved; the counter reaching the newest settles them.
	big := &billingSnapshot{Anchor: t0, Plan: plan.Plan{ID: "p", Limits: plan.Limits{Signals: 1000}}}
	if err := q.reload(ctx, env, mergeOrg, big, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	for i := range maxGroups + 6 {
		accept(t0.Add(2*time.Second), uint64(0x1005+16*i))
	}
	q.mu.Lock()
	groups := len(q.accepted[5])
	q.mu.Unlock()
	if n := signals(); groups > maxGroups || n != 5+maxGroups+6 {
		t.Fatalf("stuck partition: %d groups, in use %d; want at most %d groups, %d in use", groups, n, maxGroups, 5+maxGroups+6)
	}
	q.mu.Lock()
	q.observeLocked(period, partitionSuffix(5), partitionUsage{Signals: maxGroups + 6, UpTo: uint64(0x1005 + 16*(maxGroups+5))})
	q.mu.Unlock()
	if n := signals(); n != 5+maxGroups+6 {
		t.Fatalf("after partition 5's counter: in use %d, want %d", n, 5+maxGroups+6)
	}
	// Accepted signals no counter ever counts expire.
	if err := q.reload(ctx, env, mergeOrg, snap, t0.Add(acceptedTTL+3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := signals(); n != 3+maxGroups+6 {
		t.Fatalf("after expiry: in use %d, want the %d counted", n, 3+maxGroups+6)
	}
}

// The scoring window stays ordered by time whatever order signals arrive
// in, and keeps the newest maxWindow.
func TestLeadWindowOrderAndBound(t *testing.T) {
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var l Lead
	offsets := []int{5, 1, 9, 3, 3, 7, 0}
	for i, o := range offsets {
		l.addWindow(WindowSignal{SignalID: uint64(i), At: t0.Add(time.Duration(o) * time.Minute)})
	}
	for i := 1; i < len(l.Window); i++ {
		if l.Window[i].At.Before(l.Window[i-1].At) {
			t.Fatalf("window out of order at %d: %+v", i, l.Window)
		}
	}
	for i := 0; i < maxWindow+10; i++ {
		l.addWindow(WindowSignal{SignalID: uint64(100 + i), At: t0.Add(time.Hour + time.Duration(i)*time.Second)})
	}
	if len(l.Window) != maxWindow || l.Window[len(l.Window)-1].SignalID != uint64(100+maxWindow+9) || l.Window[0].SignalID != 110 {
		t.Fatalf("window bound: %d entries, first %d, last %d", len(l.Window), l.Window[0].SignalID, l.Window[len(l.Window)-1].SignalID)
	}
}

// BenchmarkSignalQuotaCheck is the per-request cost of the signal quota on
// the ingest path once the view is loaded (target < 1 µs, no I/O).
func BenchmarkSignalQuotaCheck(b *testing.B) {
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	q := &orgQuota{plan: plan.Plan{ID: "p", Limits: plan.Limits{Signals: 1 << 60}}, period: plan.PeriodFor(t0, t0),
		used: plan.Usage{Period: plan.PeriodFor(t0, t0), Used: map[plan.Meter]int64{}}, fetched: t0, ok: true, rotated: t0}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if q.stale(t0) {
			b.Fatal("stale")
		}
		if d := q.reserve(plan.MeterSignals, 1, t0); !d.Allowed {
			b.Fatal("refused")
		}
	}
}

// Signals more than a year older than the newest leave the window.
func TestLeadWindowDropsOldSignals(t *testing.T) {
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var l Lead
	l.addWindow(WindowSignal{SignalID: 1, At: t0})
	l.addWindow(WindowSignal{SignalID: 2, At: t0.Add(maxWindowAge + time.Hour)})
	if len(l.Window) != 1 || l.Window[0].SignalID != 2 {
		t.Fatalf("window %+v: want only the recent signal", l.Window)
	}
}
