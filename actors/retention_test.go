package actors

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/engine/plan"
	"github.com/trailspark/trailspark/engine/score"
	"github.com/trailspark/trailspark/store"
)

const (
	retOrg     = "org_00000000000000000ret"
	retKeepOrg = "org_0000000000000000keep" // a plan that keeps signals forever
	retGoneOrg = "org_0000000000000000gone" // deleted: no plan
)

// retSig is one signal to append, received at at.
type retSig struct {
	part  int
	email string
	anon  string
	at    time.Time
}

func appendRetSigs(t *testing.T, env *Env, org string, sigs ...retSig) []uint64 {
	t.Helper()
	var ids []uint64
	for _, s := range sigs {
		data, err := encodeStoredSignal(&storedSignal{Source: "generic", Type: "track", Event: "Viewed", Email: s.email,
			AnonymousID: s.anon, Timestamp: s.at, ReceivedAt: s.at, Payload: json.RawMessage(`{"event":"Viewed"}`)})
		if err != nil {
			t.Fatal(err)
		}
		res, err := env.SignalLog.Append(context.Background(), org, []store.LogRecord{{Partition: s.part, Data: data}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res[0].ID)
	}
	return ids
}

func retMarks(t *testing.T, env *Env, org string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	prefix := keyRetMarkPrefix(org)
	err := env.Store.Scan(context.Background(), prefix, nil, func(it store.Item) error {
		id, err := strconv.ParseUint(string(it.Value), 10, 64)
		out[string(it.Key[len(prefix):])] = id
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// retLead returns the id of the lead of an email of retOrg (it must exist).
func retLead(t *testing.T, env *Env, email string) string {
	t.Helper()
	id, err := env.lookupIdentity(context.Background(), retOrg, "email", email)
	if err != nil || id == "" {
		t.Fatalf("lookup %s: %q %v", email, id, err)
	}
	retLoadLead(t, env, id)
	return id
}

func retLoadLead(t *testing.T, env *Env, id string) *Lead {
	t.Helper()
	l, _, err := env.loadLead(context.Background(), retOrg, id)
	if err != nil || l == nil {
		t.Fatalf("lead %s: %v", id, err)
	}
	return l
}

func wantSignalGone(t *testing.T, env *Env, org string, id uint64) {
	t.Helper()
	if _, err := env.SignalLog.Get(context.Background(), org, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("signal %d: Get = %v, want ErrNotFound", id, err)
	}
	if _, err := env.SignalLog.Status(context.Background(), org, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("signal %d: Status = %v, want ErrNotFound", id, err)
	}
}

func wantSignalKept(t *testing.T, env *Env, org string, id uint64, processed bool) {
	t.Helper()
	if _, err := env.SignalLog.Get(context.Background(), org, id); err != nil {
		t.Fatalf("signal %d: Get = %v, want it kept", id, err)
	}
	_, err := env.SignalLog.Status(context.Background(), org, id)
	if processed && err != nil {
		t.Fatalf("signal %d: Status = %v, want its status kept", id, err)
	}
}

func purgedMetric(t *testing.T, env *Env, org string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := env.retentionMetrics()
	reg.MustRegister(m.purged, m.failures)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "trailspark_retention_purged_signals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "org" && l.GetValue() == org {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// Signals received on days older than the plan's retention are purged
// (log entry and status) by a retention pass; recent ones, unprocessed
// ones, leads, evaluations and cold storage stay; other organizations are
// untouched.
func TestRetentionPurgesOldSignals(t *testing.T) {
	ctx := context.Background()
	env := queueEnv(t)
	var clockMu sync.Mutex
	clock := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	env.Clock = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	setClock := func(t time.Time) { clockMu.Lock(); clock = t; clockMu.Unlock() }
	for _, org := range []string{retOrg, retKeepOrg, retGoneOrg} {
		if _, err := env.Store.Save(ctx, keyOrgIndex(org), nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	rules := func(context.Context) ([]mapping.Rule, uint64, error) { return nil, 1, nil }
	procs := map[string][]*processor{}
	for _, org := range []string{retOrg, retKeepOrg} {
		for p := 0; p < 3; p++ {
			procs[org] = append(procs[org], newProcessor(env, env.SignalLog, org, p, rules))
		}
	}

	day1 := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	day2 := time.Date(2026, 2, 10, 23, 59, 0, 0, time.UTC)
	day3 := time.Date(2026, 3, 1, 0, 1, 0, 0, time.UTC)
	old := appendRetSigs(t, env, retOrg,
		retSig{part: 0, email: "ann@acme.com", at: day1},
		retSig{part: 1, email: "bob@acme.com", at: day1.Add(time.Hour)},
		retSig{part: 1, anon: "anon-1", at: day1.Add(2 * time.Hour)}, // goes cold
		retSig{part: 0, email: "ann@acme.com", at: day2},
	)
	recent := appendRetSigs(t, env, retOrg,
		retSig{part: 0, email: "ann@acme.com", at: day3},
		retSig{part: 1, email: "bob@acme.com", at: day3.Add(time.Minute)},
	)
	kept := appendRetSigs(t, env, retKeepOrg, retSig{part: 0, email: "cy@globex.com", at: day1})
	drain(t, procs[retOrg]...)
	drain(t, procs[retKeepOrg]...)

	// Accepted but not processed yet: a signal after the cursor of
	// partition 0, and an old one in partition 2 with a mark that (wrongly)
	// names it already — the store's cursor bound keeps both.
	unprocessed := appendRetSigs(t, env, retOrg,
		retSig{part: 0, email: "dan@acme.com", at: day3.Add(time.Hour)},
		retSig{part: 2, email: "eve@acme.com", at: day1})
	if _, err := env.Store.Save(ctx, keyRetMark(retOrg, 2, retentionDay(day1)), []byte(strconv.FormatUint(unprocessed[1], 10)), 0); err != nil {
		t.Fatal(err)
	}

	// The marks: per partition and day of receipt, the highest id.
	want := map[string]uint64{
		"0/2026-02-01": old[0], "0/2026-02-10": old[3], "0/2026-03-01": recent[0],
		"1/2026-02-01": old[2], "1/2026-03-01": recent[1],
		"2/2026-02-01": unprocessed[1],
	}
	if got := retMarks(t, env, retOrg); len(got) != len(want) {
		t.Fatalf("marks %v, want %v", got, want)
	} else {
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("marks %v, want %v", got, want)
			}
		}
	}

	ann, bob := retLead(t, env, "ann@acme.com"), retLead(t, env, "bob@acme.com")
	annBefore := retLoadLead(t, env, ann)
	if st, err := env.SignalLog.Status(ctx, retOrg, old[2]); err != nil || st.Status != StatusCold {
		t.Fatalf("anonymous signal: %+v %v, want cold", st, err)
	}
	// An evaluation of ann, stored as the flush stores one.
	ev := &Evaluation{ID: "ev_0000000000000000000ret", LeadID: ann, ModelID: "m", Trigger: "test",
		Evaluation: score.Evaluation{Grade: score.GradeHot, Score: 80, EvaluatedAt: day1}}
	w, err := evaluationWrites(retOrg, annBefore, ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.SaveBatch(ctx, w); err != nil {
		t.Fatal(err)
	}
	backlog, err := env.SignalLog.Backlog(ctx, retOrg)
	if err != nil || backlog != 2 {
		t.Fatalf("backlog %d %v, want 2", backlog, err)
	}

	r := &retention{env: env, log: env.SignalLog, days: func(_ context.Context, org string) (int, error) {
		switch org {
		case retOrg:
			return 30, nil
		case retKeepOrg:
			return 0, nil
		}
		return 0, errs.NotFound("organization")
	}}

	// Before the retention has passed for any day: nothing goes.
	if res, err := r.pass(ctx); err != nil || res.Purged != 0 {
		t.Fatalf("pass at day 3: %+v %v, want nothing purged", res, err)
	}

	// 30 days after 2026-02-13: the days before the 13th are older than the
	// retention, 2026-03-01 is not.
	setClock(time.Date(2026, 3, 15, 6, 0, 0, 0, time.UTC))
	res, err := r.pass(ctx)
	if err != nil || res.Purged != len(old) || res.Orgs != 1 || res.Failed != 0 {
		t.Fatalf("pass: %+v %v, want %d purged in 1 org", res, err, len(old))
	}
	for _, id := range old {
		wantSignalGone(t, env, retOrg, id)
	}
	for _, id := range recent {
		wantSignalKept(t, env, retOrg, id, true)
	}
	for _, id := range unprocessed {
		wantSignalKept(t, env, retOrg, id, false)
	}
	wantSignalKept(t, env, retKeepOrg, kept[0], true)
	if n, err := env.SignalLog.Backlog(ctx, retOrg); err != nil || n != backlog {
		t.Fatalf("backlog after the purge %d %v, want %d", n, err, backlog)
	}
	if got := purgedMetric(t, env, retOrg); got != float64(len(old)) {
		t.Fatalf("purged counter %v, want %d", got, len(old))
	}

	// Leads, evaluations and cold storage stay.
	if l := retLoadLead(t, env, ann); l.SignalCount != annBefore.SignalCount || len(l.Timeline) != len(annBefore.Timeline) {
		t.Fatalf("ann after the purge %+v, before %+v", l, annBefore)
	}
	retLoadLead(t, env, bob)
	if _, _, err := env.Store.Load(ctx, keyEval(retOrg, ev.ID)); err != nil {
		t.Fatalf("evaluation after the purge: %v", err)
	}
	if cold, err := env.SignalLog.ReadCold(ctx, retOrg, anonColdKey("anon-1")); err != nil || len(cold) != 1 || cold[0].ID != old[2] {
		t.Fatalf("cold entries of anon-1: %v %v", cold, err)
	}

	// The old days' marks are spent, except partition 2's: its purge
	// stopped at the cursor (0), so the mark waits.
	got := retMarks(t, env, retOrg)
	if len(got) != 3 || got["0/2026-03-01"] != recent[0] || got["1/2026-03-01"] != recent[1] || got["2/2026-02-01"] != unprocessed[1] {
		t.Fatalf("marks after the purge %v", got)
	}

	// Idempotent.
	if res, err := r.pass(ctx); err != nil || res.Purged != 0 {
		t.Fatalf("second pass: %+v %v, want nothing purged", res, err)
	}

	// Once processed, the old one is purged by the next pass (its mark is
	// written after its commit); the recent ones stay.
	drain(t, procs[retOrg]...)
	res, err = r.pass(ctx)
	if err != nil || res.Purged != 1 {
		t.Fatalf("pass after processing: %+v %v, want 1 purged", res, err)
	}
	wantSignalGone(t, env, retOrg, unprocessed[1])
	wantSignalKept(t, env, retOrg, unprocessed[0], true)
	for _, id := range recent {
		wantSignalKept(t, env, retOrg, id, true)
	}
	retLead(t, env, "dan@acme.com")
	retLead(t, env, "eve@acme.com")

	// The loop, as StartRetention runs it, until the registry closes.
	setClock(time.Date(2026, 4, 15, 0, 0, 0, 0, time.UTC))
	jobs := newJobRegistry()
	if err := jobs.launch(func(ctx context.Context) { r.loop(ctx, 10*time.Millisecond) }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := env.SignalLog.Get(ctx, retOrg, recent[1]); errors.Is(err, store.ErrNotFound) && len(retMarks(t, env, retOrg)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			jobs.close()
			t.Fatal("the retention loop did not purge the 2026-03-01 signals and spend their marks")
		}
		time.Sleep(5 * time.Millisecond)
	}
	jobs.close()
	wantSignalGone(t, env, retOrg, recent[0])
	wantSignalGone(t, env, retOrg, unprocessed[0])
	wantSignalKept(t, env, retKeepOrg, kept[0], true)
	if got := retMarks(t, env, retOrg); len(got) != 0 {
		t.Fatalf("marks after purging everything: %v", got)
	}
}

// Cold storage keeps anonymous signals for the plan's retention when it
// has one, else the node's default.
func TestRetentionColdStorageFollowsThePlan(t *testing.T) {
	env := queueEnv(t)
	p := newProcessor(env, env.SignalLog, retOrg, 0, nil)
	if got := p.coldRetention(); got != 90*24*time.Hour {
		t.Fatalf("without a plan: %v", got)
	}
	p.billing = &billingSnapshot{Plan: plan.Plan{RetentionDays: 0}}
	if got := p.coldRetention(); got != 90*24*time.Hour {
		t.Fatalf("plan keeping signals forever: %v", got)
	}
	p.billing = &billingSnapshot{Plan: plan.Plan{RetentionDays: 30}}
	if got := p.coldRetention(); got != 30*24*time.Hour {
		t.Fatalf("30-day plan: %v", got)
	}
}

func TestRetentionCutoffAndReceivedAt(t *testing.T) {
	now := time.Date(2026, 3, 15, 6, 0, 0, 0, time.UTC)
	if got := retentionCutoff(now, 30); got != "2026-02-13" {
		t.Fatalf("cutoff %s", got)
	}
	if got := retentionCutoff(now.In(time.FixedZone("x", -10*3600)), 1); got != "2026-03-14" {
		t.Fatalf("cutoff in another zone %s", got)
	}
	at := time.Date(2026, 1, 2, 23, 30, 0, 0, time.FixedZone("x", -3600))
	b, err := encodeStoredSignal(&storedSignal{Source: "s", ReceivedAt: at, Payload: json.RawMessage(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := receivedAt(b); !ok || !got.Equal(at) || retentionDay(got) != "2026-01-03" {
		t.Fatalf("receivedAt = %v %v", got, ok)
	}
	for _, bad := range [][]byte{nil, {2, 1, '{'}, {1, 9, '{'}, {1, 2, '{', '}'}} {
		if _, ok := receivedAt(bad); ok {
			t.Fatalf("receivedAt(%q) ok", bad)
		}
	}
}
