package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/store"
)

// The signal queue, rule preview and "process now" over a real signal log
// (Badger in a temp dir), without protoactor: the Client methods add only
// the authorization call and the grain wake-ups (covered by api/queue_test.go).

func queueEnv(t *testing.T) *Env {
	t.Helper()
	env := testEnv(t)
	env.SignalLog = env.Store.(interface{ SignalLog() store.SignalLog }).SignalLog()
	return env
}

var queueT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// sig is one signal to append.
type sig struct {
	part    int
	source  string
	email   string
	payload string
	at      time.Time
}

// appendSigs appends signals to org in one call and returns their ids.
func appendSigs(t *testing.T, env *Env, org string, sigs ...sig) []uint64 {
	t.Helper()
	recs := make([]store.LogRecord, len(sigs))
	for i, s := range sigs {
		at := s.at
		if at.IsZero() {
			at = queueT0
		}
		src := s.source
		if src == "" {
			src = "generic"
		}
		data, err := encodeStoredSignal(&storedSignal{Source: src, Email: s.email, Timestamp: at, ReceivedAt: at,
			Payload: json.RawMessage(s.payload)})
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = store.LogRecord{Partition: s.part, Data: data}
	}
	out, err := env.SignalLog.Append(context.Background(), org, recs, 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]uint64, len(out))
	for i, a := range out {
		ids[i] = a.ID
	}
	return ids
}

// commit records statuses for ids (all in partition p) and moves p's cursor
// to the last of them.
func commit(t *testing.T, env *Env, org string, p int, status string, ids ...uint64) {
	t.Helper()
	sts := make([]store.SignalStatus, len(ids))
	for i, id := range ids {
		sts[i] = store.SignalStatus{ID: id, Status: status}
	}
	if err := env.SignalLog.Commit(context.Background(), org, p, slices.Max(ids), sts); err != nil {
		t.Fatal(err)
	}
}

// The windowed backwards scan finds exactly what a full forward walk
// would, however sparse the organization's ids are among other tenants'.
func TestRecentStatusesMatchesFullWalk(t *testing.T) {
	t.Parallel()
	env := queueEnv(t)
	ctx := context.Background()
	const org, other = "org_0000000000000000000a", "org_0000000000000000000b"

	if _, ok, err := env.newestStatusID(ctx, org); err != nil || ok {
		t.Fatalf("newest of an empty log: ok=%v err=%v", ok, err)
	}
	if got, tr, err := env.recentStatuses(ctx, org, 10, 0, func(*store.SignalStatus) bool { return true }); err != nil || len(got) != 0 || tr {
		t.Fatalf("empty log: %v %v %v", got, tr, err)
	}

	statuses := []string{StatusCompleted, StatusSkipped, StatusSkipped, StatusCold, StatusFailed}
	var mine []store.SignalStatus
	for round := 0; round < 12; round++ {
		// Another tenant's burst makes this organization's ids sparse,
		// more so in later rounds.
		noise := make([]sig, 50*(round+1))
		for i := range noise {
			noise[i] = sig{part: i % store.Partitions, payload: `{}`}
		}
		appendSigs(t, env, other, noise...)
		batch := make([]sig, 7)
		for i := range batch {
			batch[i] = sig{part: 3, payload: `{"event":"x"}`}
		}
		ids := appendSigs(t, env, org, batch...)
		for i, id := range ids {
			st := statuses[(round+i)%len(statuses)]
			commit(t, env, org, 3, st, id)
			mine = append(mine, store.SignalStatus{ID: id, Status: st})
		}
	}
	newest, ok, err := env.newestStatusID(ctx, org)
	if err != nil || !ok || newest != mine[len(mine)-1].ID {
		t.Fatalf("newest = %d %v %v, want %d", newest, ok, err, mine[len(mine)-1].ID)
	}
	keeps := map[string]func(*store.SignalStatus) bool{
		"all":     func(*store.SignalStatus) bool { return true },
		"skipped": func(st *store.SignalStatus) bool { return st.Status == StatusSkipped },
		"none":    func(*store.SignalStatus) bool { return false },
	}
	for name, keep := range keeps {
		var want []uint64
		for _, st := range mine {
			if keep(&st) {
				want = append(want, st.ID)
			}
		}
		for _, n := range []int{1, 2, 5, 17, len(mine) - 1, len(mine), len(mine) + 10} {
			got, tr, err := env.recentStatuses(ctx, org, n, 0, keep)
			if err != nil || tr {
				t.Fatal(tr, err)
			}
			var ids []uint64
			for _, st := range got {
				ids = append(ids, st.ID)
			}
			w := want[max(0, len(want)-n):]
			if !slices.Equal(ids, w) {
				t.Errorf("%s, n=%d: got %v, want %v", name, n, ids, w)
			}
		}
	}
	// A visit budget stops the search between windows: what it found is
	// still the newest, and it says it stopped early.
	got, tr, err := env.recentStatuses(ctx, org, len(mine), 1, keeps["all"])
	if err != nil || !tr || len(got) == 0 || len(got) == len(mine) || got[len(got)-1].ID != mine[len(mine)-1].ID {
		t.Errorf("budget 1: %d statuses, truncated %v, %v", len(got), tr, err)
	}
	if got, tr, err := env.recentStatuses(ctx, org, 1, 1, keeps["none"]); err != nil || !tr || len(got) != 0 {
		t.Errorf("budget 1, keeping none: %v %v %v", got, tr, err)
	}
}

func mustRules(t *testing.T, rules ...mapping.Rule) *mapping.RuleSet {
	t.Helper()
	for i := range rules {
		if rules[i].ID == "" {
			rules[i].ID = fmt.Sprintf("rule_%d", i)
		}
	}
	rs, err := mapping.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func eventRule(event string, priority int) mapping.Rule {
	return mapping.Rule{Name: event, SignalType: mapping.FormFill, Priority: priority,
		Conditions: mapping.Condition{Path: "event", Op: mapping.OpEquals, Value: event},
		Mappings:   []mapping.IdentifierMapping{{Path: "email", Target: mapping.TargetEmail}}}
}

func TestSignalQueueGroupsSkippedSignals(t *testing.T) {
	t.Parallel()
	env := queueEnv(t)
	ctx := context.Background()
	const org = "org_0000000000000000000c"

	var skipped, done []uint64
	add := func(n int, payload string, at time.Time, source string) {
		for i := 0; i < n; i++ {
			skipped = append(skipped, appendSigs(t, env, org, sig{part: 1, source: source, payload: payload, at: at.Add(time.Duration(i) * time.Minute)})...)
		}
	}
	add(3, `{"type":"track","event":"Form Submitted","email":"a@x.io","properties":{"plan":"pro"}}`, queueT0, "segment")
	add(2, `{"type":"page","name":"Pricing","userId":"u1"}`, queueT0.Add(time.Hour), "segment")
	add(1, `{"event":"Demo Booked","email":"b@x.io","big":12345678901234567890}`, queueT0, "generic")
	done = appendSigs(t, env, org, sig{part: 1, payload: `{"event":"Form Submitted","email":"c@x.io"}`})
	commit(t, env, org, 1, StatusSkipped, skipped...)
	commit(t, env, org, 1, StatusCompleted, done...)
	// A waiting signal is not in the queue.
	appendSigs(t, env, org, sig{part: 2, payload: `{"event":"Form Submitted"}`})

	q, err := env.signalQueue(ctx, org, mustRules(t), QueueOptions{Scan: 100, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if q.Scanned != 6 || q.Groups != 3 || len(q.Items) != 3 || q.NowMapped != 0 || q.Truncated {
		t.Fatalf("queue: scanned %d, groups %d, items %d, now mapped %d", q.Scanned, q.Groups, len(q.Items), q.NowMapped)
	}
	g := q.Items[0]
	if g.Source != "segment" || g.Type != "track" || g.Event != "Form Submitted" || g.Count != 3 ||
		!g.FirstSeen.Equal(queueT0) || !g.LastSeen.Equal(queueT0.Add(2*time.Minute)) {
		t.Errorf("first group %+v", g)
	}
	if !slices.Contains(g.SamplePaths, "properties.plan") || !slices.Contains(g.SamplePaths, "email") {
		t.Errorf("sample paths %v", g.SamplePaths)
	}
	if g.DraftRule.Name != "Form Submitted" || g.DraftRule.Source != "segment" || g.DraftRule.SignalType != mapping.FormFill {
		t.Errorf("draft %+v", g.DraftRule)
	}
	if p := q.Items[1]; p.Type != "page" || p.Event != "Pricing" || p.Count != 2 {
		t.Errorf("second group %+v", p)
	}
	// The big number survives byte for byte in the sample.
	if s := string(q.Items[2].SamplePayload); s != `{"event":"Demo Booked","email":"b@x.io","big":12345678901234567890}` {
		t.Errorf("sample payload %s", s)
	}
	for _, it := range q.Items {
		d := it.DraftRule
		r := mapping.Rule{Name: d.Name, SignalType: d.SignalType, Source: d.Source, Conditions: d.Conditions, Mappings: d.Mappings}
		if err := r.Validate(); err != nil {
			t.Errorf("draft of %s/%s does not validate: %v", it.Type, it.Event, err)
		}
		rs := mustRules(t, r)
		payload, _ := decodeSignalPayload(it.SamplePayload)
		if rs.Match(payload, it.Source) == nil {
			t.Errorf("draft of %s/%s does not match its own sample", it.Type, it.Event)
		}
	}

	// Scan bounds the signals examined: the newest ones.
	q, err = env.signalQueue(ctx, org, mustRules(t), QueueOptions{Scan: 1, Limit: 10})
	if err != nil || q.Scanned != 1 || len(q.Items) != 1 || q.Items[0].Event != "Demo Booked" {
		t.Fatalf("scan=1: %+v %v", q, err)
	}
	// Limit bounds the groups returned, not the groups counted.
	q, err = env.signalQueue(ctx, org, mustRules(t), QueueOptions{Scan: 100, Limit: 1})
	if err != nil || q.Groups != 3 || len(q.Items) != 1 || q.Items[0].Count != 3 {
		t.Fatalf("limit=1: %+v %v", q, err)
	}
	// Once a rule maps a group its skipped signals leave the queue.
	q, err = env.signalQueue(ctx, org, mustRules(t, eventRule("Form Submitted", 0)), QueueOptions{Scan: 100, Limit: 10})
	if err != nil || q.NowMapped != 3 || q.Groups != 2 || q.Scanned != 6 {
		t.Fatalf("with a rule: %+v %v", q, err)
	}
}

func TestPreviewRuleCountsRecentSignals(t *testing.T) {
	t.Parallel()
	env := queueEnv(t)
	ctx := context.Background()
	const org = "org_0000000000000000000d"

	var ids []uint64
	for i := 0; i < 10; i++ {
		ev := "Viewed"
		if i%2 == 0 {
			ev = "Signed Up"
		}
		ids = append(ids, appendSigs(t, env, org, sig{part: i % 2, payload: fmt.Sprintf(`{"event":%q,"email":"p%d@x.io","n":%d}`, ev, i, i)})...)
	}
	// The first six are processed (any status); the last four wait.
	commit(t, env, org, 0, StatusCompleted, ids[0], ids[2], ids[4])
	commit(t, env, org, 1, StatusSkipped, ids[1], ids[3], ids[5])

	draft := eventRule("Signed Up", 0)
	res, err := env.previewRule(ctx, org, mustRules(t), draft, 100)
	if err != nil {
		t.Fatal(err)
	}
	if *res != (PreviewResult{Matched: 5, WouldWin: 5, Scanned: 10}) {
		t.Errorf("preview = %+v", *res)
	}
	// The last 4 are the waiting ones: ids[6..9], two of them sign-ups.
	if res, err = env.previewRule(ctx, org, mustRules(t), draft, 4); err != nil || *res != (PreviewResult{Matched: 2, WouldWin: 2, Scanned: 4}) {
		t.Errorf("last=4: %+v %v", res, err)
	}
	// Last 7: the 4 waiting plus the 3 newest processed (ids[3..5]).
	if res, err = env.previewRule(ctx, org, mustRules(t), draft, 7); err != nil || *res != (PreviewResult{Matched: 3, WouldWin: 3, Scanned: 7}) {
		t.Errorf("last=7: %+v %v", res, err)
	}
	// Numbers compare exactly (UseNumber): n >= 6 matches 4 signals.
	numeric := draft
	numeric.Conditions = mapping.Condition{Path: "n", Op: mapping.OpGTE, Value: 6}
	if res, err = env.previewRule(ctx, org, mustRules(t), numeric, 100); err != nil || res.Matched != 4 {
		t.Errorf("numeric: %+v %v", res, err)
	}

	// A higher-priority rule on the even numbers takes some of the wins.
	competitor := mapping.Rule{ID: "rule_hi", Name: "Low n", SignalType: mapping.PageView, Priority: 5,
		Conditions: mapping.Condition{Path: "n", Op: mapping.OpIn, Value: []any{0, 2}},
		Mappings:   []mapping.IdentifierMapping{{Path: "email", Target: mapping.TargetEmail}}}
	if res, err = env.previewRule(ctx, org, mustRules(t, competitor), draft, 100); err != nil || *res != (PreviewResult{Matched: 5, WouldWin: 3, Scanned: 10}) {
		t.Errorf("with a competitor: %+v %v", res, err)
	}
	// Previewing an edit of the competitor itself leaves its old version out.
	edit := draft
	edit.ID = "rule_hi"
	if res, err = env.previewRule(ctx, org, mustRules(t, competitor), edit, 100); err != nil || res.WouldWin != 5 {
		t.Errorf("editing the competitor: %+v %v", res, err)
	}
}

// "process now" counts the statuses that changed while it waited: new
// ones, and retries; statuses of other partitions that were already final
// are not counted, and nothing waiting is nothing to do.
func TestProcessWatchCountsChanges(t *testing.T) {
	t.Parallel()
	env := queueEnv(t)
	ctx := context.Background()
	const org = "org_0000000000000000000e"
	rules := []mapping.Rule{eventRule("Signed Up", 0)}
	rules[0].ID, rules[0].CreatedAt = "rule_1", queueT0
	procs := map[int]*processor{}
	drain := func(parts []int) {
		for _, p := range parts {
			pr := procs[p]
			if pr == nil {
				pr = newProcessor(env, env.SignalLog, org, p, func(context.Context) ([]mapping.Rule, uint64, error) { return rules, 1, nil })
				procs[p] = pr
			}
			for {
				_, more, err := pr.step(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !more {
					break
				}
			}
		}
	}

	// Nothing waiting.
	w, err := env.watchProcessing(ctx, org)
	if err != nil || len(w.parts) != 0 {
		t.Fatalf("empty: %+v %v", w, err)
	}
	if res, err := w.finish(ctx); err != nil || *res != (ProcessResult{}) {
		t.Fatalf("empty finish: %+v %v", res, err)
	}

	// Partition 0 is processed; a later status in partition 5 is already
	// final; partitions 2 and 7 have signals waiting, one never processed
	// before (cursor 0).
	old := appendSigs(t, env, org, sig{part: 0, email: "a@x.io", payload: `{"event":"Signed Up","email":"a@x.io"}`})
	drain([]int{0})
	waiting := appendSigs(t, env, org,
		sig{part: 2, email: "b@x.io", payload: `{"event":"Signed Up","email":"b@x.io"}`},
		sig{part: 7, email: "c@x.io", payload: `{"event":"Other","email":"c@x.io"}`},
		sig{part: 7, email: "d@x.io", payload: `{"event":"Other","email":"d@x.io"}`})
	final := appendSigs(t, env, org, sig{part: 5, email: "e@x.io", payload: `{"event":"Signed Up","email":"e@x.io"}`})
	drain([]int{5})
	w, err = env.watchProcessing(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w.parts, []int{2, 7}) || w.lo != waiting[0]-1 {
		t.Fatalf("watch parts %v lo %d (waiting %v, old %v, final %v)", w.parts, w.lo, waiting, old, final)
	}
	if n, err := env.waitDrained(ctx, org, time.Now()); err != nil || n != 3 {
		t.Fatalf("backlog before: %d %v", n, err)
	}
	drain(w.parts)
	// A signal arriving (and processed) while waiting counts too.
	late := appendSigs(t, env, org, sig{part: 9, email: "f@x.io", payload: `{"event":"Signed Up","email":"f@x.io"}`})
	drain([]int{9})
	if n, err := env.waitDrained(ctx, org, time.Now().Add(time.Second)); err != nil || n != 0 {
		t.Fatalf("backlog after: %d %v", n, err)
	}
	res, err := w.finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if *res != (ProcessResult{Processed: 4, Succeeded: 4}) {
		t.Errorf("finish = %+v (late %v)", *res, late)
	}
	for _, id := range waiting {
		st, err := env.SignalLog.Status(ctx, org, id)
		if err != nil || (st.Status != StatusCompleted && st.Status != StatusSkipped) {
			t.Errorf("signal %d: %+v %v", id, st, err)
		}
	}

	// A retry that fails again is a change; an untouched failure is not.
	fail := appendSigs(t, env, org, sig{part: 4, payload: `{}`}, sig{part: 6, payload: `{}`})
	if err := env.SignalLog.Commit(ctx, org, 4, 0, []store.SignalStatus{{ID: fail[0], Status: StatusFailed, Attempts: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := env.SignalLog.Commit(ctx, org, 6, 0, []store.SignalStatus{{ID: fail[1], Status: StatusFailed, Attempts: 1}}); err != nil {
		t.Fatal(err)
	}
	w, err = env.watchProcessing(ctx, org)
	if err != nil || !slices.Equal(w.parts, []int{4, 6}) {
		t.Fatalf("watch: %+v %v", w, err)
	}
	if err := env.SignalLog.Commit(ctx, org, 4, 0, []store.SignalStatus{{ID: fail[0], Status: StatusFailed, Attempts: 2}}); err != nil {
		t.Fatal(err)
	}
	if res, err = w.finish(ctx); err != nil || *res != (ProcessResult{Processed: 1, Failed: 1}) {
		t.Errorf("retry: %+v %v", res, err)
	}
	// The wait ends at its deadline with the backlog left.
	start := time.Now()
	if n, err := env.waitDrained(ctx, org, start.Add(100*time.Millisecond)); err != nil || n != 2 {
		t.Errorf("waiting on a stuck backlog: %d %v", n, err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Errorf("waited %v for a 100ms deadline", d)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := env.waitDrained(cctx, org, time.Now().Add(time.Minute)); err == nil {
		t.Error("a cancelled wait returned no error")
	}
}
