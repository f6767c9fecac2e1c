package storetest

// The SignalLog conformance suite. Every store.SignalLog implementation runs
// RunSignalLog, so the ingest path can rely on one behaviour: ids that only
// grow and become visible in order within a partition (a reader that follows
// a partition from a cursor never misses an entry), dedup within a window
// that is per tenant and race-free, cursors that never move back, statuses
// committed together with the cursor, cold entries taken exactly once,
// persistence across a restart, context cancellation, and purges that never
// reach past a partition's cursor.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trailspark/trailspark/store"
)

// LogHarness tells RunSignalLog how to get signal logs.
type LogHarness struct {
	// Open returns a fresh, empty log and arranges (with t.Cleanup) for
	// whatever it opened to be closed.
	Open func(t *testing.T) store.SignalLog
	// Reopen closes l's underlying store and opens the same data again (a
	// restart), registering the new store's cleanup with t.Cleanup. Nil if
	// the log cannot be reopened (an in-memory store); the cases that need
	// it are skipped.
	Reopen func(t *testing.T, l store.SignalLog) store.SignalLog
	// Clock is the store's time source, nil for time.Now. The expiry case
	// waits until Clock has moved past a dedup window and a cold retention;
	// status timestamps are taken from it.
	Clock func() time.Time
}

// hour is the dedup window and cold retention of every case but Expiry:
// long enough never to expire during a test.
const hour = time.Hour

// RunSignalLog runs the SignalLog conformance suite against the logs h opens.
// Each case opens its own log, so cases run in parallel. Expiry waits two
// seconds and is skipped with -short.
func RunSignalLog(t *testing.T, h LogHarness) {
	if h.Open == nil {
		t.Fatal("storetest: LogHarness.Open is nil")
	}
	if h.Clock == nil {
		h.Clock = time.Now
	}
	cases := []struct {
		name string
		fn   func(*testing.T, LogHarness)
	}{
		{"AppendIDs", testLogAppendIDs},
		{"ConcurrentAppend", testLogConcurrentAppend},
		{"TailWhileAppending", testLogTailWhileAppending},
		{"Partitions", testLogPartitions},
		{"DataIsCopied", testLogDataIsCopied},
		{"InvalidPartition", testLogInvalidPartition},
		{"Dedup", testLogDedup},
		{"DedupTenants", testLogDedupTenants},
		{"DedupConcurrent", testLogDedupConcurrent},
		{"Expiry", testLogExpiry},
		{"Get", testLogGet},
		{"Cursor", testLogCursor},
		{"Statuses", testLogStatuses},
		{"ScanStatuses", testLogScanStatuses},
		{"Backlog", testLogBacklog},
		{"Counts", testLogCounts},
		{"Duplicates", testLogDuplicates},
		{"Cold", testLogCold},
		{"Purge", testLogPurge},
		{"PurgeMany", testLogPurgeMany},
		{"ColdConcurrentTake", testLogColdConcurrentTake},
		{"Reopen", testLogReopen},
		{"ContextDone", testLogContextDone},
		{"LargeBatch", testLogLargeBatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, h)
		})
	}
}

// --- helpers ---

func openLog(t *testing.T, h LogHarness) store.SignalLog {
	t.Helper()
	l := h.Open(t)
	if l == nil {
		t.Fatal("LogHarness.Open returned nil")
	}
	return l
}

// rec builds a record; data is its payload as a string.
func rec(p int, dedup, data string) store.LogRecord {
	return store.LogRecord{Partition: p, DedupKey: dedup, Data: []byte(data)}
}

// mustAppend appends recs and checks the result's shape: one result per
// record, and the ids of the records not reported duplicate strictly
// increasing in record order.
func mustAppend(t *testing.T, l store.SignalLog, org string, recs ...store.LogRecord) []store.Appended {
	t.Helper()
	res, err := l.Append(t.Context(), org, recs, hour)
	if err != nil {
		t.Fatalf("Append(%s, %d records): %v", org, len(recs), err)
	}
	checkAppended(t, recs, res)
	return res
}

func checkAppended(t *testing.T, recs []store.LogRecord, res []store.Appended) {
	t.Helper()
	if len(res) != len(recs) {
		t.Fatalf("Append returned %d results for %d records", len(res), len(recs))
	}
	var last uint64
	for i, r := range res {
		if r.ID == 0 {
			t.Fatalf("Append result %d has id 0 (0 means \"before everything\")", i)
		}
		if r.Duplicate {
			continue
		}
		if r.ID <= last {
			t.Fatalf("Append result %d: id %d after id %d; new ids must increase in record order", i, r.ID, last)
		}
		last = r.ID
	}
}

// readAll reads a whole partition in pages of page entries, checking that
// every page is in id order after its cursor.
func readAll(t *testing.T, l store.SignalLog, org string, p, page int) []store.LogEntry {
	t.Helper()
	var out []store.LogEntry
	var after uint64
	for {
		es, err := l.ReadPartition(t.Context(), org, p, after, page)
		if err != nil {
			t.Fatalf("ReadPartition(%s, %d, after %d, max %d): %v", org, p, after, page, err)
		}
		if len(es) > page {
			t.Fatalf("ReadPartition(max %d) returned %d entries", page, len(es))
		}
		for _, e := range es {
			if e.ID <= after {
				t.Fatalf("ReadPartition(%s, %d, after %d): id %d out of order", org, p, after, e.ID)
			}
			if e.Partition != p {
				t.Fatalf("ReadPartition(%s, %d): entry %d has partition %d", org, p, e.ID, e.Partition)
			}
			after = e.ID
		}
		out = append(out, es...)
		if len(es) < page {
			return out
		}
	}
}

// wantEntries compares a partition's entries with the expected ones.
func wantEntries(t *testing.T, what string, got, want []store.LogEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries %v, want %d %v", what, len(got), entryIDs(got), len(want), entryIDs(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Partition != w.Partition || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("%s: entry %d = {%d p%d %q}, want {%d p%d %q}", what, i, g.ID, g.Partition, g.Data, w.ID, w.Partition, w.Data)
		}
	}
}

func entryIDs(es []store.LogEntry) []uint64 {
	ids := make([]uint64, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func wantGet(t *testing.T, l store.SignalLog, org string, want store.LogEntry) {
	t.Helper()
	got, err := l.Get(t.Context(), org, want.ID)
	if err != nil {
		t.Fatalf("Get(%s, %d): %v", org, want.ID, err)
	}
	if got.ID != want.ID || got.Partition != want.Partition || !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("Get(%s, %d) = {%d p%d %q}, want {%d p%d %q}", org, want.ID, got.ID, got.Partition, got.Data, want.ID, want.Partition, want.Data)
	}
}

func wantGetMissing(t *testing.T, l store.SignalLog, org string, id uint64) {
	t.Helper()
	got, err := l.Get(t.Context(), org, id)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%s, %d) = {%d p%d %q}, %v; want ErrNotFound", org, id, got.ID, got.Partition, got.Data, err)
	}
}

func wantCursor(t *testing.T, l store.SignalLog, org string, p int, want uint64) {
	t.Helper()
	got, err := l.Cursor(t.Context(), org, p)
	if err != nil || got != want {
		t.Fatalf("Cursor(%s, %d) = %d, %v; want %d", org, p, got, err, want)
	}
}

func mustCommit(t *testing.T, l store.SignalLog, org string, p int, cursor uint64, sts ...store.SignalStatus) {
	t.Helper()
	if err := l.Commit(t.Context(), org, p, cursor, sts); err != nil {
		t.Fatalf("Commit(%s, %d, %d, %d statuses): %v", org, p, cursor, len(sts), err)
	}
}

func sameStatus(a, b store.SignalStatus) bool {
	return a.ID == b.ID && a.Status == b.Status && a.RuleID == b.RuleID && a.LeadID == b.LeadID &&
		a.AccountID == b.AccountID && a.Error == b.Error && a.Attempts == b.Attempts &&
		a.ProcessedAt.Equal(b.ProcessedAt)
}

func wantStatus(t *testing.T, l store.SignalLog, org string, want store.SignalStatus) {
	t.Helper()
	got, err := l.Status(t.Context(), org, want.ID)
	if err != nil || !sameStatus(got, want) {
		t.Fatalf("Status(%s, %d) = %+v, %v; want %+v", org, want.ID, got, err, want)
	}
}

func wantStatusMissing(t *testing.T, l store.SignalLog, org string, id uint64) {
	t.Helper()
	got, err := l.Status(t.Context(), org, id)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Status(%s, %d) = %+v, %v; want ErrNotFound", org, id, got, err)
	}
}

// scanStatuses returns what ScanStatuses yields, checking id order.
func scanStatuses(t *testing.T, l store.SignalLog, org string, after uint64) []store.SignalStatus {
	t.Helper()
	var out []store.SignalStatus
	err := l.ScanStatuses(t.Context(), org, after, func(st store.SignalStatus) (bool, error) {
		out = append(out, st)
		return true, nil
	})
	if err != nil {
		t.Fatalf("ScanStatuses(%s, after %d): %v", org, after, err)
	}
	last := after
	for _, st := range out {
		if st.ID <= last {
			t.Fatalf("ScanStatuses(%s, after %d): id %d after %d; want ascending ids above after", org, after, st.ID, last)
		}
		last = st.ID
	}
	return out
}

func wantStatuses(t *testing.T, what string, got, want []store.SignalStatus) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d statuses %+v, want %d %+v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if !sameStatus(got[i], want[i]) {
			t.Fatalf("%s: status %d = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func mustPutCold(t *testing.T, l store.SignalLog, org, anon string, e store.LogEntry) {
	t.Helper()
	if err := l.PutCold(t.Context(), org, anon, e, hour); err != nil {
		t.Fatalf("PutCold(%s, %q, %d): %v", org, anon, e.ID, err)
	}
}

func mustTakeCold(t *testing.T, l store.SignalLog, org, anon string) []store.LogEntry {
	t.Helper()
	es, err := l.TakeCold(t.Context(), org, anon)
	if err != nil {
		t.Fatalf("TakeCold(%s, %q): %v", org, anon, err)
	}
	return es
}

// now is the harness clock at microsecond precision in UTC, a time every
// store keeps exactly (PostgreSQL timestamps have microseconds).
func now(h LogHarness) time.Time { return h.Clock().UTC().Truncate(time.Microsecond) }

// waitPast blocks until the harness clock has passed t, polling it.
func waitPast(tb testing.TB, h LogHarness, t time.Time) {
	deadline := time.Now().Add(time.Minute)
	for !h.Clock().After(t) {
		if time.Now().After(deadline) {
			tb.Fatalf("LogHarness.Clock did not pass %v within a minute", t)
		}
		time.Sleep(min(time.Until(t)+time.Millisecond, 50*time.Millisecond))
	}
}

// --- cases ---

func testLogAppendIDs(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	ctx := t.Context()

	if res, err := l.Append(ctx, "acme", nil, hour); err != nil || len(res) != 0 {
		t.Fatalf("Append(no records) = %v, %v; want no results", res, err)
	}

	var want []store.LogEntry
	var last uint64
	for call := range 5 {
		var recs []store.LogRecord
		for i := range call + 1 {
			recs = append(recs, rec((call+i)%store.Partitions, fmt.Sprintf("m-%d-%d", call, i), fmt.Sprintf("call %d rec %d", call, i)))
		}
		res := mustAppend(t, l, "acme", recs...)
		for i, r := range res {
			if r.Duplicate {
				t.Fatalf("call %d: record %d reported duplicate", call, i)
			}
			if r.ID <= last {
				t.Fatalf("call %d: id %d not above the previous call's %d; ids must increase across calls", call, r.ID, last)
			}
			last = r.ID
			want = append(want, store.LogEntry{ID: r.ID, Partition: recs[i].Partition, Data: recs[i].Data})
		}
	}
	for _, e := range want {
		wantGet(t, l, "acme", e)
	}
}

// testLogConcurrentAppend: ids are unique across concurrent appenders, and
// every record is stored exactly once.
func testLogConcurrentAppend(t *testing.T, h LogHarness) {
	const (
		workers = 8
		calls   = 200
	)
	l := openLog(t, h)
	ctx := t.Context()
	results := make([][]store.LogEntry, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 99))
			var last uint64
			for c := range calls {
				recs := make([]store.LogRecord, 1+r.IntN(10))
				for i := range recs {
					dedup := fmt.Sprintf("w%d-c%d-r%d", w, c, i)
					if r.IntN(4) == 0 {
						dedup = "" // no dedup key
					}
					recs[i] = rec(r.IntN(store.Partitions), dedup, fmt.Sprintf("worker %d call %d rec %d", w, c, i))
				}
				res, err := l.Append(ctx, "acme", recs, hour)
				if err != nil {
					t.Errorf("worker %d: Append: %v", w, err)
					return
				}
				if len(res) != len(recs) {
					t.Errorf("worker %d: Append returned %d results for %d records", w, len(res), len(recs))
					return
				}
				for i, a := range res {
					if a.Duplicate || a.ID <= last {
						t.Errorf("worker %d: result %+v after id %d; want a new, greater id", w, a, last)
						return
					}
					last = a.ID
					results[w] = append(results[w], store.LogEntry{ID: a.ID, Partition: recs[i].Partition, Data: recs[i].Data})
				}
			}
		})
	}
	withTimeout(t, "appenders", wg.Wait)
	if t.Failed() {
		return
	}

	byID := map[uint64]store.LogEntry{}
	perPartition := make([][]store.LogEntry, store.Partitions)
	for _, rs := range results {
		for _, e := range rs {
			if prev, dup := byID[e.ID]; dup {
				t.Fatalf("id %d given to %q and %q", e.ID, prev.Data, e.Data)
			}
			byID[e.ID] = e
			perPartition[e.Partition] = append(perPartition[e.Partition], e)
		}
	}
	for _, e := range byID {
		wantGet(t, l, "acme", e)
	}
	for p, want := range perPartition {
		slices.SortFunc(want, func(a, b store.LogEntry) int { return cmpID(a.ID, b.ID) })
		wantEntries(t, fmt.Sprintf("partition %d", p), readAll(t, l, "acme", p, 100), want)
	}
}

func cmpID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// testLogTailWhileAppending: a reader following a partition with
// ReadPartition(after = last id read) while others append to it sees every
// entry. This fails if an entry can become visible after an entry with a
// greater id in the same partition: the reader's cursor has then passed it.
func testLogTailWhileAppending(t *testing.T, h LogHarness) {
	const (
		workers = 6
		calls   = 150
		p       = 3
	)
	l := openLog(t, h)
	ctx := t.Context()
	appended := make([][]uint64, workers)
	var (
		wg   sync.WaitGroup
		done = make(chan struct{})
	)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for c := range calls {
				recs := make([]store.LogRecord, 1+r.IntN(4))
				for i := range recs {
					part := p
					if r.IntN(3) == 0 {
						part = (p + 1 + r.IntN(store.Partitions-1)) % store.Partitions
					}
					recs[i] = rec(part, fmt.Sprintf("w%d-c%d-r%d", w, c, i), "x")
				}
				res, err := l.Append(ctx, "acme", recs, hour)
				if err != nil {
					t.Errorf("worker %d: Append: %v", w, err)
					return
				}
				for i, a := range res {
					if recs[i].Partition == p {
						appended[w] = append(appended[w], a.ID)
					}
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	var (
		seen  []uint64
		after uint64
	)
	read := func() int {
		es, err := l.ReadPartition(ctx, "acme", p, after, 64)
		if err != nil {
			t.Fatalf("ReadPartition: %v", err)
		}
		for _, e := range es {
			if e.ID <= after {
				t.Fatalf("ReadPartition(after %d) returned id %d", after, e.ID)
			}
			after = e.ID
			seen = append(seen, e.ID)
		}
		return len(es)
	}
	timeout := time.After(deadlockTimeout)
tail:
	for {
		select {
		case <-done:
			break tail
		case <-timeout:
			t.Fatalf("appenders did not finish within %v", deadlockTimeout)
		default:
			if read() == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	for read() > 0 {
	}
	if t.Failed() {
		return
	}

	var want []uint64
	for _, ids := range appended {
		want = append(want, ids...)
	}
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		var missed []uint64
		for _, id := range want {
			if _, found := slices.BinarySearch(seen, id); !found {
				missed = append(missed, id)
			}
		}
		all := readAll(t, l, "acme", p, 1000)
		t.Fatalf("tailing reader saw %d of %d entries; missed %d (first %v); a full read now finds %d. "+
			"Entries must become visible in id order within a partition, or a cursor skips them.",
			len(seen), len(want), len(missed), missed[:min(len(missed), 10)], len(all))
	}
}

// testLogPartitions: partitions are isolated, ReadPartition returns id order,
// honours after and max, and returns data byte-for-byte.
func testLogPartitions(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	ctx := t.Context()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	payloads := [][]byte{
		[]byte("plain"), all, {}, {0}, []byte("\xff\xfe\x00\x01"), randomBytes(3, 64<<10),
		[]byte(`{"type":"page_view","email":"a@example.com"}`), nil,
	}
	parts := []int{0, 5, store.Partitions - 1}
	want := map[int][]store.LogEntry{}
	for round := range 3 {
		var recs []store.LogRecord
		for i, data := range payloads {
			p := parts[(i+round)%len(parts)]
			recs = append(recs, store.LogRecord{Partition: p, Data: data})
		}
		res := mustAppend(t, l, "acme", recs...)
		for i, r := range res {
			want[recs[i].Partition] = append(want[recs[i].Partition], store.LogEntry{ID: r.ID, Partition: recs[i].Partition, Data: recs[i].Data})
		}
	}
	mustAppend(t, l, "globex", rec(5, "", "other tenant"))

	for p := range store.Partitions {
		got, err := l.ReadPartition(ctx, "acme", p, 0, 1000)
		if err != nil {
			t.Fatalf("ReadPartition(%d): %v", p, err)
		}
		wantEntries(t, fmt.Sprintf("partition %d", p), got, want[p])
	}

	p := 5
	w := want[p]
	if len(w) < 6 {
		t.Fatalf("test setup: only %d entries in partition %d", len(w), p)
	}
	other := want[0][1].ID // an id of another partition
	cases := []struct {
		name  string
		after uint64
		max   int
		want  []store.LogEntry
	}{
		{"after first", w[0].ID, 1000, w[1:]},
		{"after middle", w[3].ID, 1000, w[4:]},
		{"after last", w[len(w)-1].ID, 1000, nil},
		{"after id of another partition", other, 1000, entriesAbove(w, other)},
		{"after id+1", w[2].ID + 1, 1000, entriesAbove(w, w[2].ID+1)},
		{"after max uint64", math.MaxUint64, 1000, nil},
		{"max 1", 0, 1, w[:1]},
		{"max 3 after", w[1].ID, 3, w[2:5]},
		{"max exact", 0, len(w), w},
		{"max 0", 0, 0, nil},
	}
	for _, c := range cases {
		got, err := l.ReadPartition(ctx, "acme", p, c.after, c.max)
		if err != nil {
			t.Fatalf("%s: ReadPartition: %v", c.name, err)
		}
		wantEntries(t, c.name, got, c.want)
	}
	for _, page := range []int{1, 2, 5} {
		wantEntries(t, fmt.Sprintf("paged by %d", page), readAll(t, l, "acme", p, page), w)
	}
	if got := readAll(t, l, "globex", 5, 10); len(got) != 1 || string(got[0].Data) != "other tenant" {
		t.Fatalf("globex partition 5 = %v, want its one entry", entryIDs(got))
	}
}

func entriesAbove(es []store.LogEntry, id uint64) []store.LogEntry {
	var out []store.LogEntry
	for _, e := range es {
		if e.ID > id {
			out = append(out, e)
		}
	}
	return out
}

// testLogDataIsCopied: the log keeps neither the caller's buffers nor shares
// the ones it returns.
func testLogDataIsCopied(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	ctx := t.Context()
	data := []byte("original")
	recs := []store.LogRecord{{Partition: 1, DedupKey: "m1", Data: data}}
	res := mustAppend(t, l, "acme", recs...)
	copy(data, "CHANGED!")
	want := store.LogEntry{ID: res[0].ID, Partition: 1, Data: []byte("original")}
	wantGet(t, l, "acme", want)

	es, err := l.ReadPartition(ctx, "acme", 1, 0, 10)
	if err != nil || len(es) != 1 {
		t.Fatalf("ReadPartition = %d entries, %v; want 1", len(es), err)
	}
	copy(es[0].Data, "CHANGED!")
	e, err := l.Get(ctx, "acme", res[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	copy(e.Data, "CHANGED!")
	wantGet(t, l, "acme", want)
	wantEntries(t, "after changing returned data", readAll(t, l, "acme", 1, 10), []store.LogEntry{want})

	cold := store.LogEntry{ID: res[0].ID, Partition: 1, Data: []byte("cold data")}
	mustPutCold(t, l, "acme", "anon", cold)
	copy(cold.Data, "CHANGED!!")
	wantEntries(t, "TakeCold", mustTakeCold(t, l, "acme", "anon"),
		[]store.LogEntry{{ID: res[0].ID, Partition: 1, Data: []byte("cold data")}})
}

// testLogInvalidPartition: a record outside [0, Partitions) fails the Append
// and stores nothing of its batch.
func testLogInvalidPartition(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	ctx := t.Context()
	for _, p := range []int{-1, store.Partitions, 1 << 20} {
		recs := []store.LogRecord{rec(2, "valid-"+fmt.Sprint(p), "valid"), rec(p, "", "invalid")}
		if res, err := l.Append(ctx, "acme", recs, hour); err == nil {
			t.Errorf("Append with partition %d = %+v, nil error; want an error", p, res)
		}
	}
	if got := readAll(t, l, "acme", 2, 10); len(got) != 0 {
		t.Fatalf("a failed Append stored %d entries", len(got))
	}
	// The dedup keys of the failed batch were not claimed.
	res := mustAppend(t, l, "acme", rec(2, "valid--1", "valid"))
	if res[0].Duplicate {
		t.Fatalf("dedup key of a failed Append was kept: %+v", res[0])
	}
}

func testLogDedup(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	ctx := t.Context()

	// Within one call.
	recs := []store.LogRecord{
		rec(4, "msg-1", "first"),
		rec(4, "msg-1", "repeat in the same call"),
		rec(4, "", "no key"),
		rec(4, "", "no key"),
		rec(4, "msg-2", "second"),
		rec(9, "msg-1", "repeat in another partition"),
		rec(4, "MSG-1", "keys are case-sensitive"),
		rec(4, "msg-1 ", "keys are compared exactly"),
	}
	res := mustAppend(t, l, "acme", recs...)
	first := res[0].ID
	wantRes := []store.Appended{
		{ID: first}, {ID: first, Duplicate: true}, {ID: res[2].ID}, {ID: res[3].ID}, {ID: res[4].ID},
		{ID: first, Duplicate: true}, {ID: res[6].ID}, {ID: res[7].ID},
	}
	if !slices.Equal(res, wantRes) {
		t.Fatalf("Append = %+v, want %+v", res, wantRes)
	}
	if res[2].ID == res[3].ID {
		t.Fatalf("records without dedup key share id %d: an empty key must never dedup", res[2].ID)
	}

	// Across calls, alone and mixed with new records.
	res2 := mustAppend(t, l, "acme", rec(4, "msg-1", "repeat in a later call"))
	if res2[0] != (store.Appended{ID: first, Duplicate: true}) {
		t.Fatalf("repeat in a later call = %+v, want duplicate of %d", res2[0], first)
	}
	// Only repeats, one of them twice: every one is reported (a call that
	// writes nothing still answers for each record).
	res2b := mustAppend(t, l, "acme", rec(4, "msg-1", "again"), rec(4, "msg-2", "again"), rec(9, "msg-1", "and again"))
	if want := []store.Appended{{ID: first, Duplicate: true}, {ID: res[4].ID, Duplicate: true}, {ID: first, Duplicate: true}}; !slices.Equal(res2b, want) {
		t.Fatalf("call of repeats only = %+v, want %+v", res2b, want)
	}
	res3 := mustAppend(t, l, "acme", rec(4, "msg-3", "third"), rec(4, "msg-2", "repeat"), rec(4, "", "no key"), rec(4, "msg-3", "repeat"))
	if res3[0].Duplicate || res3[1] != (store.Appended{ID: res[4].ID, Duplicate: true}) || res3[2].Duplicate ||
		res3[3] != (store.Appended{ID: res3[0].ID, Duplicate: true}) {
		t.Fatalf("mixed call = %+v; want new, duplicate of %d, new, duplicate of the first", res3, res[4].ID)
	}
	if res3[0].ID <= res[7].ID {
		t.Fatalf("new id %d not above earlier ids", res3[0].ID)
	}

	// Repeats are not stored.
	want := []store.LogEntry{
		{ID: first, Partition: 4, Data: []byte("first")},
		{ID: res[2].ID, Partition: 4, Data: []byte("no key")},
		{ID: res[3].ID, Partition: 4, Data: []byte("no key")},
		{ID: res[4].ID, Partition: 4, Data: []byte("second")},
		{ID: res[6].ID, Partition: 4, Data: []byte("keys are case-sensitive")},
		{ID: res[7].ID, Partition: 4, Data: []byte("keys are compared exactly")},
		{ID: res3[0].ID, Partition: 4, Data: []byte("third")},
		{ID: res3[2].ID, Partition: 4, Data: []byte("no key")},
	}
	wantEntries(t, "partition 4", readAll(t, l, "acme", 4, 100), want)
	if got := readAll(t, l, "acme", 9, 100); len(got) != 0 {
		t.Fatalf("partition 9 has %d entries; the repeat there must not be stored", len(got))
	}
	wantGet(t, l, "acme", want[0])

	// An all-duplicate call stores nothing and still answers.
	res4, err := l.Append(ctx, "acme", []store.LogRecord{rec(4, "msg-2", "x"), rec(4, "msg-1", "y")}, hour)
	if err != nil || !slices.Equal(res4, []store.Appended{{ID: res[4].ID, Duplicate: true}, {ID: first, Duplicate: true}}) {
		t.Fatalf("all-duplicate Append = %+v, %v", res4, err)
	}
	wantEntries(t, "partition 4 after all-duplicate call", readAll(t, l, "acme", 4, 100), want)
}

func testLogDedupTenants(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	a := mustAppend(t, l, "acme", rec(1, "msg-1", "acme"))
	g := mustAppend(t, l, "globex", rec(1, "msg-1", "globex"))
	if g[0].Duplicate || g[0].ID == a[0].ID {
		t.Fatalf("globex's msg-1 = %+v after acme's %+v: tenants must not dedup each other", g[0], a[0])
	}
	// Each tenant still dedups its own.
	if r := mustAppend(t, l, "acme", rec(1, "msg-1", "again")); r[0] != (store.Appended{ID: a[0].ID, Duplicate: true}) {
		t.Fatalf("acme repeat = %+v, want duplicate of %d", r[0], a[0].ID)
	}
	if r := mustAppend(t, l, "globex", rec(1, "msg-1", "again")); r[0] != (store.Appended{ID: g[0].ID, Duplicate: true}) {
		t.Fatalf("globex repeat = %+v, want duplicate of %d", r[0], g[0].ID)
	}
	// Tenant names that are prefixes of each other are distinct.
	ab := mustAppend(t, l, "acme2", rec(1, "msg-1", "acme2"))
	if ab[0].Duplicate {
		t.Fatalf("acme2's msg-1 = %+v: tenants must not dedup each other", ab[0])
	}
	wantEntries(t, "acme", readAll(t, l, "acme", 1, 10), []store.LogEntry{{ID: a[0].ID, Partition: 1, Data: []byte("acme")}})
	wantEntries(t, "globex", readAll(t, l, "globex", 1, 10), []store.LogEntry{{ID: g[0].ID, Partition: 1, Data: []byte("globex")}})
	wantEntries(t, "acme2", readAll(t, l, "acme2", 1, 10), []store.LogEntry{{ID: ab[0].ID, Partition: 1, Data: []byte("acme2")}})
}

// testLogDedupConcurrent: of concurrent appends with one dedup key exactly
// one stores its record; all report its id.
func testLogDedupConcurrent(t *testing.T, h LogHarness) {
	const (
		workers = 8
		rounds  = 25
	)
	l := openLog(t, h)
	ctx := t.Context()
	for round := range rounds {
		key := fmt.Sprintf("msg-%d", round)
		res := make([][]store.Appended, workers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				<-start
				// Every other worker also sends a record of its own in
				// the batch, so the contested key is not always alone.
				recs := []store.LogRecord{rec(2, key, fmt.Sprintf("worker %d", w))}
				if w%2 == 1 {
					recs = append(recs, rec(2, fmt.Sprintf("own-%d-%d", round, w), "own"))
				}
				r, err := l.Append(ctx, "acme", recs, hour)
				if err != nil {
					t.Errorf("round %d worker %d: Append: %v", round, w, err)
					return
				}
				res[w] = r
			})
		}
		close(start)
		withTimeout(t, "appenders", wg.Wait)
		if t.Failed() {
			return
		}
		var winner = -1
		for w, r := range res {
			if len(r) == 0 {
				t.Fatalf("round %d worker %d: no result", round, w)
			}
			if !r[0].Duplicate {
				if winner >= 0 {
					t.Fatalf("round %d: workers %d and %d both stored %q (ids %d, %d)", round, winner, w, key, res[winner][0].ID, r[0].ID)
				}
				winner = w
			}
			if len(r) == 2 && r[1].Duplicate {
				t.Fatalf("round %d worker %d: own record reported duplicate", round, w)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: every append of %q reported duplicate", round, key)
		}
		for w, r := range res {
			if r[0].ID != res[winner][0].ID {
				t.Fatalf("round %d: worker %d got id %d, the stored record has %d", round, w, r[0].ID, res[winner][0].ID)
			}
		}
		wantGet(t, l, "acme", store.LogEntry{ID: res[winner][0].ID, Partition: 2, Data: []byte(fmt.Sprintf("worker %d", winner))})
		contested := 0
		for _, e := range readAll(t, l, "acme", 2, 1000) {
			if bytes.HasPrefix(e.Data, []byte("worker ")) {
				contested++
			}
		}
		if contested != round+1 {
			t.Fatalf("after round %d the partition holds %d contested records, want %d (one per round)", round, contested, round+1)
		}
	}
	// In all, one entry per round plus the own records.
	want := rounds + rounds*(workers/2)
	if got := len(readAll(t, l, "acme", 2, 1000)); got != want {
		t.Fatalf("partition holds %d entries, want %d (one per contested key plus %d own)", got, want, rounds*(workers/2))
	}
}

// testLogExpiry: dedup keys are forgotten and cold entries dropped once their
// window or retention has passed. Badger's TTLs count whole seconds, so the
// windows are one second and the wait just over two.
func testLogExpiry(t *testing.T, h LogHarness) {
	if testing.Short() {
		t.Skip("waits two seconds for a dedup window and a cold retention to pass")
	}
	l := openLog(t, h)
	ctx := t.Context()
	const short = time.Second
	start := h.Clock()
	shortRes, err := l.Append(ctx, "acme", []store.LogRecord{rec(1, "short", "short window")}, short)
	if err != nil {
		t.Fatal(err)
	}
	longRes := mustAppend(t, l, "acme", rec(1, "long", "long window"))
	coldShort := store.LogEntry{ID: shortRes[0].ID, Partition: 1, Data: []byte("cold short")}
	coldLong := store.LogEntry{ID: longRes[0].ID, Partition: 1, Data: []byte("cold long")}
	if err := l.PutCold(ctx, "acme", "anon-short", coldShort, short); err != nil {
		t.Fatal(err)
	}
	if err := l.PutCold(ctx, "acme", "anon-mixed", coldShort, short); err != nil {
		t.Fatal(err)
	}
	mustPutCold(t, l, "acme", "anon-mixed", coldLong)
	mustPutCold(t, l, "acme", "anon-long", coldLong)

	wantDuplicates(t, l, "acme", []string{"short", "long"}, []uint64{shortRes[0].ID, longRes[0].ID})
	waitPast(t, h, start.Add(2*short+100*time.Millisecond))
	wantDuplicates(t, l, "acme", []string{"short", "long"}, []uint64{0, longRes[0].ID})

	// The short window has passed: the key is new again.
	again := mustAppend(t, l, "acme", rec(1, "short", "after the window"), rec(1, "long", "within the window"))
	if again[0].Duplicate || again[0].ID <= longRes[0].ID {
		t.Fatalf("after its window, %q = %+v; want a new id above %d", "short", again[0], longRes[0].ID)
	}
	if again[1] != (store.Appended{ID: longRes[0].ID, Duplicate: true}) {
		t.Fatalf("within its window, %q = %+v; want duplicate of %d", "long", again[1], longRes[0].ID)
	}
	// And dedups again under its new window, as the new record.
	if r := mustAppend(t, l, "acme", rec(1, "short", "repeat")); r[0] != (store.Appended{ID: again[0].ID, Duplicate: true}) {
		t.Fatalf("repeat after re-append = %+v, want duplicate of %d", r[0], again[0].ID)
	}
	// Log entries themselves never expire.
	wantEntries(t, "partition 1", readAll(t, l, "acme", 1, 10), []store.LogEntry{
		{ID: shortRes[0].ID, Partition: 1, Data: []byte("short window")},
		{ID: longRes[0].ID, Partition: 1, Data: []byte("long window")},
		{ID: again[0].ID, Partition: 1, Data: []byte("after the window")},
	})

	if got := mustTakeCold(t, l, "acme", "anon-short"); len(got) != 0 {
		t.Fatalf("TakeCold after retention = %v, want nothing", entryIDs(got))
	}
	wantEntries(t, "anon-mixed", mustTakeCold(t, l, "acme", "anon-mixed"), []store.LogEntry{coldLong})
	wantEntries(t, "anon-long", mustTakeCold(t, l, "acme", "anon-long"), []store.LogEntry{coldLong})
}

func testLogGet(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	a := mustAppend(t, l, "acme", rec(0, "", "a0"), rec(7, "", "a7"))
	g := mustAppend(t, l, "globex", rec(7, "", "g7"))
	wantGet(t, l, "acme", store.LogEntry{ID: a[0].ID, Partition: 0, Data: []byte("a0")})
	wantGet(t, l, "acme", store.LogEntry{ID: a[1].ID, Partition: 7, Data: []byte("a7")})
	wantGet(t, l, "globex", store.LogEntry{ID: g[0].ID, Partition: 7, Data: []byte("g7")})
	for _, id := range []uint64{0, g[0].ID, g[0].ID + 1, g[0].ID + 1000, math.MaxUint64} {
		wantGetMissing(t, l, "acme", id)
	}
	for _, id := range []uint64{a[0].ID, a[1].ID} {
		wantGetMissing(t, l, "globex", id)
		wantGetMissing(t, l, "nobody", id)
	}
}

func testLogCursor(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	for p := range store.Partitions {
		wantCursor(t, l, "acme", p, 0)
	}
	steps := []struct {
		cursor, want uint64
	}{
		{10, 10}, {5, 10}, {10, 10}, {0, 10}, {11, 11}, {1 << 40, 1 << 40}, {1<<40 - 1, 1 << 40},
	}
	for _, s := range steps {
		mustCommit(t, l, "acme", 3, s.cursor)
		wantCursor(t, l, "acme", 3, s.want)
	}
	for p := range store.Partitions {
		if p != 3 {
			wantCursor(t, l, "acme", p, 0)
		}
	}
	wantCursor(t, l, "globex", 3, 0)
	mustCommit(t, l, "globex", 3, 7)
	wantCursor(t, l, "globex", 3, 7)
	wantCursor(t, l, "acme", 3, 1<<40)

	// Concurrent commits leave the greatest cursor.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				if err := l.Commit(t.Context(), "acme", 4, uint64(1+j*8+i), nil); err != nil {
					t.Errorf("Commit: %v", err)
					return
				}
			}
		})
	}
	withTimeout(t, "committers", wg.Wait)
	wantCursor(t, l, "acme", 4, 160)
}

// testLogStatuses: Commit records statuses and the cursor together; Status
// reads them back with every field.
func testLogStatuses(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	res := mustAppend(t, l, "acme", rec(6, "", "a"), rec(6, "", "b"), rec(6, "", "c"))
	ts := now(h)
	st := []store.SignalStatus{
		{ID: res[0].ID, Status: "completed", RuleID: "rule-1", LeadID: "lead-1", AccountID: "acct-1", Attempts: 1, ProcessedAt: ts},
		{ID: res[1].ID, Status: "failed", Error: "connector: 503 \"unavailable\"\n", Attempts: 3, ProcessedAt: ts.Add(-time.Hour)},
		{ID: res[2].ID, Status: "pending"},
	}
	for _, s := range st {
		wantStatusMissing(t, l, "acme", s.ID)
	}
	mustCommit(t, l, "acme", 6, res[1].ID, st[:2]...)
	// Both parts of the commit are visible once it returns.
	wantCursor(t, l, "acme", 6, res[1].ID)
	wantStatus(t, l, "acme", st[0])
	wantStatus(t, l, "acme", st[1])
	wantStatusMissing(t, l, "acme", st[2].ID)

	// Statuses are replaced; a commit with a lower cursor still records them.
	st[1] = store.SignalStatus{ID: res[1].ID, Status: "permanently_failed", Error: "gave up", Attempts: 5, ProcessedAt: ts}
	mustCommit(t, l, "acme", 6, res[0].ID, st[1], st[2])
	wantCursor(t, l, "acme", 6, res[1].ID)
	for _, s := range st {
		wantStatus(t, l, "acme", s)
	}

	// Per tenant, and unknown ids are not found.
	wantStatusMissing(t, l, "globex", st[0].ID)
	wantStatusMissing(t, l, "acme", res[2].ID+1)
	wantStatusMissing(t, l, "acme", 0)
	wantCursor(t, l, "globex", 6, 0)
}

func testLogScanStatuses(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	ctx := t.Context()
	var recs []store.LogRecord
	for i := range 30 {
		recs = append(recs, rec(i%store.Partitions, "", fmt.Sprint(i)))
	}
	res := mustAppend(t, l, "acme", recs...)
	ts := now(h)
	var want []store.SignalStatus
	for i, r := range res {
		if i%3 == 2 {
			continue // no status for every third signal
		}
		want = append(want, store.SignalStatus{ID: r.ID, Status: "completed", LeadID: fmt.Sprintf("lead-%d", i), ProcessedAt: ts})
	}
	// Commit them out of order, per partition, some twice.
	shuffled := slices.Clone(want)
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i, s := range shuffled {
		first := s
		first.Status = "processing"
		mustCommit(t, l, "acme", i%store.Partitions, 0, first)
	}
	for i := 0; i < len(shuffled); i += 4 {
		mustCommit(t, l, "acme", i%store.Partitions, 0, shuffled[i:min(i+4, len(shuffled))]...)
	}
	mustCommit(t, l, "globex", 0, 0, store.SignalStatus{ID: res[0].ID, Status: "skipped"}, store.SignalStatus{ID: res[29].ID + 1, Status: "skipped"})

	wantStatuses(t, "all", scanStatuses(t, l, "acme", 0), want)
	wantStatuses(t, "after one with a status", scanStatuses(t, l, "acme", want[5].ID), want[6:])
	wantStatuses(t, "after one without", scanStatuses(t, l, "acme", res[2].ID), want[2:])
	wantStatuses(t, "after the last", scanStatuses(t, l, "acme", want[len(want)-1].ID), nil)
	wantStatuses(t, "after max", scanStatuses(t, l, "acme", math.MaxUint64), nil)
	if got := scanStatuses(t, l, "globex", 0); len(got) != 2 || got[0].Status != "skipped" {
		t.Fatalf("globex statuses = %+v, want its 2", got)
	}
	if got := scanStatuses(t, l, "nobody", 0); len(got) != 0 {
		t.Fatalf("statuses of an unknown tenant = %+v", got)
	}

	// fn returning false stops the scan without an error.
	var got []store.SignalStatus
	err := l.ScanStatuses(ctx, "acme", 0, func(s store.SignalStatus) (bool, error) {
		got = append(got, s)
		return len(got) < 3, nil
	})
	if err != nil {
		t.Fatalf("ScanStatuses stopped by fn = %v, want nil", err)
	}
	wantStatuses(t, "stopped after 3", got, want[:3])

	// An error from fn stops it and is returned.
	errFn := errors.New("callback failed")
	calls := 0
	err = l.ScanStatuses(ctx, "acme", 0, func(store.SignalStatus) (bool, error) {
		calls++
		return true, errFn
	})
	if !errors.Is(err, errFn) || calls != 1 {
		t.Fatalf("ScanStatuses with failing fn = %v after %d calls, want the fn's error after 1", err, calls)
	}
}

func wantBacklog(t *testing.T, l store.SignalLog, org string, want int) {
	t.Helper()
	got, err := l.Backlog(t.Context(), org)
	if err != nil || got != want {
		t.Fatalf("Backlog(%s) = %d, %v; want %d", org, got, err, want)
	}
}

// testLogBacklog: Backlog counts the entries after each partition's cursor.
func testLogBacklog(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	wantBacklog(t, l, "acme", 0)
	var recs []store.LogRecord
	for i := range 40 {
		recs = append(recs, rec(i%4, fmt.Sprintf("msg-%d", i), "x"))
	}
	res := mustAppend(t, l, "acme", recs...)
	mustAppend(t, l, "globex", rec(0, "", "y"), rec(1, "", "y"))
	wantBacklog(t, l, "acme", 40)
	// Repeats are not backlog.
	mustAppend(t, l, "acme", rec(0, "msg-0", "x"), rec(1, "msg-1", "x"))
	wantBacklog(t, l, "acme", 40)

	// Partition 0 holds records 0, 4, 8, ...: a cursor at record 8 leaves 7
	// of its 10; partition 1 fully processed; a cursor between two of
	// partition 2's ids leaves those above it.
	mustCommit(t, l, "acme", 0, res[8].ID)
	wantBacklog(t, l, "acme", 37)
	mustCommit(t, l, "acme", 1, res[37].ID)
	wantBacklog(t, l, "acme", 27)
	mustCommit(t, l, "acme", 2, res[18].ID+1) // record 18 is partition 2's 5th
	wantBacklog(t, l, "acme", 22)
	mustCommit(t, l, "acme", 3, res[39].ID)
	wantBacklog(t, l, "acme", 12)
	wantBacklog(t, l, "globex", 2)
	wantBacklog(t, l, "nobody", 0)

	mustAppend(t, l, "acme", rec(1, "", "new"), rec(3, "", "new"))
	wantBacklog(t, l, "acme", 14)
}

// testLogCounts: Counts gives the backlog and the statuses of one
// snapshot, and tells which statuses belong to backlog entries (a failed
// attempt waiting for its retry).
func testLogCounts(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	var recs []store.LogRecord
	for i := range 40 {
		recs = append(recs, rec(i%4, "", "x"))
	}
	res := mustAppend(t, l, "acme", recs...)
	mustAppend(t, l, "globex", rec(0, "", "y"), rec(1, "", "y"))
	st := func(i int, status string) store.SignalStatus {
		return store.SignalStatus{ID: res[i].ID, Status: status}
	}
	// Partition 0 processed records 0, 4 and 8; partition 1 processed 1
	// and 5, and its attempt at 9 failed (the cursor stays at 5).
	mustCommit(t, l, "acme", 0, res[8].ID, st(0, "completed"), st(4, "skipped"), st(8, "completed"))
	mustCommit(t, l, "acme", 1, res[5].ID, st(1, "completed"), st(5, "permanently_failed"), st(9, "failed"))
	want := func(what string, max int, w store.SignalCounts) {
		t.Helper()
		got, err := l.Counts(t.Context(), "acme", max)
		if err != nil {
			t.Fatalf("%s: Counts: %v", what, err)
		}
		if got.Backlog != w.Backlog || got.Retrying != w.Retrying || got.Truncated != w.Truncated || !maps.Equal(got.ByStatus, w.ByStatus) {
			t.Fatalf("%s: Counts(acme, %d) = %+v; want %+v", what, max, got, w)
		}
	}
	want("all", 0, store.SignalCounts{Backlog: 35, Retrying: 1,
		ByStatus: map[string]int{"completed": 3, "skipped": 1, "permanently_failed": 1, "failed": 1}})
	want("exactly all", 6, store.SignalCounts{Backlog: 35, Retrying: 1,
		ByStatus: map[string]int{"completed": 3, "skipped": 1, "permanently_failed": 1, "failed": 1}})
	// The first statuses by id: records 0 and 1.
	want("truncated", 2, store.SignalCounts{Backlog: 35, Truncated: true, ByStatus: map[string]int{"completed": 2}})
	// The retry succeeds: one less in the backlog, none retrying.
	mustCommit(t, l, "acme", 1, res[9].ID, st(9, "completed"))
	want("after the retry", 0, store.SignalCounts{Backlog: 34,
		ByStatus: map[string]int{"completed": 4, "skipped": 1, "permanently_failed": 1}})
	// Statuses rewritten without moving a cursor (a reprocess job).
	mustCommit(t, l, "acme", 0, 0, st(4, "completed"))
	want("after a relabel", 0, store.SignalCounts{Backlog: 34,
		ByStatus: map[string]int{"completed": 5, "permanently_failed": 1}})
	for org, backlog := range map[string]int{"globex": 2, "nobody": 0} {
		got, err := l.Counts(t.Context(), org, 0)
		if err != nil || got.Backlog != backlog || len(got.ByStatus) != 0 || got.Retrying != 0 {
			t.Fatalf("Counts(%s) = %+v, %v; want backlog %d and no statuses", org, got, err, backlog)
		}
	}
}

func wantDuplicates(t *testing.T, l store.SignalLog, org string, keys []string, want []uint64) {
	t.Helper()
	got, err := l.Duplicates(t.Context(), org, keys)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Duplicates(%s, %q) = %v, %v; want %v", org, keys, got, err, want)
	}
}

// testLogDuplicates: Duplicates answers each dedup key with the id that
// claimed it in this tenant, reads only, and agrees with Append.
func testLogDuplicates(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	res := mustAppend(t, l, "acme", rec(0, "a", "x"), rec(3, "b", "y"), rec(5, "", "z"))
	other := mustAppend(t, l, "globex", rec(0, "a", "x"))
	wantDuplicates(t, l, "acme", []string{"a", "", "c", "b", "a"}, []uint64{res[0].ID, 0, 0, res[1].ID, res[0].ID})
	wantDuplicates(t, l, "globex", []string{"a", "b"}, []uint64{other[0].ID, 0})
	wantDuplicates(t, l, "nobody", []string{"a"}, []uint64{0})
	wantDuplicates(t, l, "acme", nil, []uint64{})
	// A read: "c" is still new to Append afterwards.
	if r := mustAppend(t, l, "acme", rec(1, "c", "w"), rec(1, "a", "again")); r[0].Duplicate || r[1] != (store.Appended{ID: res[0].ID, Duplicate: true}) {
		t.Fatalf("Append after Duplicates = %+v; want c new, a a duplicate of %d", r, res[0].ID)
	}
}

func testLogCold(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	res := mustAppend(t, l, "acme", rec(2, "", "a"), rec(9, "", "b"), rec(2, "", "c"), rec(15, "", "d"))
	e := make([]store.LogEntry, len(res))
	for i, r := range res {
		e[i] = store.LogEntry{ID: r.ID, Partition: []int{2, 9, 2, 15}[i], Data: []byte(fmt.Sprintf("cold %d \x00\xff", i))}
	}
	mustPutCold(t, l, "acme", "anon-1", e[2]) // out of id order
	mustPutCold(t, l, "acme", "anon-1", e[0])
	mustPutCold(t, l, "acme", "anon-2", e[1])
	mustPutCold(t, l, "acme", "anon-10", e[3]) // anon-1 is its prefix
	mustPutCold(t, l, "globex", "anon-1", e[3])

	if got := mustTakeCold(t, l, "acme", "nobody"); len(got) != 0 {
		t.Fatalf("TakeCold(unknown key) = %v", entryIDs(got))
	}
	wantEntries(t, "acme anon-1", mustTakeCold(t, l, "acme", "anon-1"), []store.LogEntry{e[0], e[2]})
	if got := mustTakeCold(t, l, "acme", "anon-1"); len(got) != 0 {
		t.Fatalf("second TakeCold(anon-1) = %v, want nothing", entryIDs(got))
	}
	wantEntries(t, "acme anon-2", mustTakeCold(t, l, "acme", "anon-2"), []store.LogEntry{e[1]})
	wantEntries(t, "acme anon-10", mustTakeCold(t, l, "acme", "anon-10"), []store.LogEntry{e[3]})
	wantEntries(t, "globex anon-1", mustTakeCold(t, l, "globex", "anon-1"), []store.LogEntry{e[3]})

	// A key can be used again after a take.
	mustPutCold(t, l, "acme", "anon-1", e[1])
	wantEntries(t, "acme anon-1 again", mustTakeCold(t, l, "acme", "anon-1"), []store.LogEntry{e[1]})

	// Cold storage is not the log: the entries are still there.
	wantGet(t, l, "acme", store.LogEntry{ID: res[0].ID, Partition: 2, Data: []byte("a")})
}

// testLogColdConcurrentTake: of concurrent TakeColds of one key, each entry
// goes to exactly one, and none fails.
func testLogColdConcurrentTake(t *testing.T, h LogHarness) {
	const (
		entries = 40
		takers  = 8
		rounds  = 5
	)
	l := openLog(t, h)
	ctx := t.Context()
	for round := range rounds {
		anon := fmt.Sprintf("anon-%d", round)
		want := map[uint64]bool{}
		for i := range entries {
			id := uint64(round*1000 + i + 1)
			mustPutCold(t, l, "acme", anon, store.LogEntry{ID: id, Partition: i % store.Partitions, Data: []byte("x")})
			want[id] = true
		}
		got := make([][]store.LogEntry, takers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range takers {
			wg.Go(func() {
				<-start
				es, err := l.TakeCold(ctx, "acme", anon)
				if err != nil {
					t.Errorf("round %d: concurrent TakeCold: %v", round, err)
				}
				got[w] = es
			})
		}
		close(start)
		withTimeout(t, "TakeCold", wg.Wait)
		seen := map[uint64]int{}
		for _, es := range got {
			for _, e := range es {
				seen[e.ID]++
			}
		}
		for id := range want {
			if seen[id] != 1 {
				t.Errorf("round %d: entry %d taken %d times, want once", round, id, seen[id])
			}
		}
		if len(seen) != len(want) {
			t.Errorf("round %d: %d distinct entries taken, want %d", round, len(seen), len(want))
		}
		if t.Failed() {
			return
		}
	}
}

func testLogReopen(t *testing.T, h LogHarness) {
	if h.Reopen == nil {
		t.Skip("log cannot be reopened")
	}
	l := openLog(t, h)
	var recs []store.LogRecord
	for i := range 40 {
		recs = append(recs, rec(i%4, fmt.Sprintf("msg-%d", i), fmt.Sprintf("signal %d", i)))
	}
	res := mustAppend(t, l, "acme", recs...)
	g := mustAppend(t, l, "globex", rec(0, "msg-0", "globex"))
	want := make([][]store.LogEntry, 4)
	for i, r := range res {
		want[i%4] = append(want[i%4], store.LogEntry{ID: r.ID, Partition: i % 4, Data: recs[i].Data})
	}
	ts := now(h)
	st := []store.SignalStatus{
		{ID: res[0].ID, Status: "completed", LeadID: "lead-1", ProcessedAt: ts},
		{ID: res[4].ID, Status: "cold"},
	}
	mustCommit(t, l, "acme", 0, res[4].ID, st...)
	mustCommit(t, l, "acme", 1, res[1].ID)
	cold := store.LogEntry{ID: res[4].ID, Partition: 0, Data: recs[4].Data}
	mustPutCold(t, l, "acme", "anon-1", cold)
	mustPutCold(t, l, "acme", "anon-2", cold)
	maxID := g[0].ID

	check := func(l store.SignalLog) {
		t.Helper()
		for p := range 4 {
			wantEntries(t, fmt.Sprintf("partition %d", p), readAll(t, l, "acme", p, 7), want[p])
		}
		wantGet(t, l, "acme", want[2][3])
		wantGet(t, l, "globex", store.LogEntry{ID: g[0].ID, Partition: 0, Data: []byte("globex")})
		wantCursor(t, l, "acme", 0, res[4].ID)
		wantCursor(t, l, "acme", 1, res[1].ID)
		wantCursor(t, l, "acme", 2, 0)
		wantStatus(t, l, "acme", st[0])
		wantStatuses(t, "statuses", scanStatuses(t, l, "acme", 0), st)
		backlog := 0
		for p := range 4 {
			for _, e := range want[p] {
				if e.ID > map[int]uint64{0: res[4].ID, 1: res[1].ID}[p] {
					backlog++
				}
			}
		}
		wantBacklog(t, l, "acme", backlog)
	}

	l2 := h.Reopen(t, l)
	check(l2)
	wantEntries(t, "cold after reopen", mustTakeCold(t, l2, "acme", "anon-1"), []store.LogEntry{cold})
	// Dedup keys survive; ids go on from where they were.
	again := mustAppend(t, l2, "acme", rec(3, "msg-3", "repeat"), rec(3, "new-1", "new"))
	if again[0] != (store.Appended{ID: res[3].ID, Duplicate: true}) {
		t.Fatalf("repeat after reopen = %+v, want duplicate of %d", again[0], res[3].ID)
	}
	if again[1].Duplicate || again[1].ID <= maxID {
		t.Fatalf("new record after reopen = %+v; want an id above %d, the greatest before", again[1], maxID)
	}
	want[3] = append(want[3], store.LogEntry{ID: again[1].ID, Partition: 3, Data: []byte("new")})
	mustCommit(t, l2, "acme", 1, res[1].ID-1) // still never backwards

	l3 := h.Reopen(t, l2)
	check(l3)
	wantEntries(t, "cold taken before reopen", mustTakeCold(t, l3, "acme", "anon-1"), nil)
	wantEntries(t, "cold after second reopen", mustTakeCold(t, l3, "acme", "anon-2"), []store.LogEntry{cold})
	last := mustAppend(t, l3, "acme", rec(3, "new-2", "newer"))
	if last[0].ID <= again[1].ID {
		t.Fatalf("id after second reopen %d not above %d", last[0].ID, again[1].ID)
	}
}

// testLogContextDone: with a done context every method returns the context's
// error and changes nothing.
func testLogContextDone(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	res := mustAppend(t, l, "acme", rec(1, "msg-1", "kept"))
	id := res[0].ID
	mustCommit(t, l, "acme", 1, id, store.SignalStatus{ID: id, Status: "completed"})
	cold := store.LogEntry{ID: id, Partition: 1, Data: []byte("cold")}
	mustPutCold(t, l, "acme", "anon", cold)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	ops := []struct {
		name string
		call func(context.Context) error
	}{
		{"Append", func(ctx context.Context) error {
			_, err := l.Append(ctx, "acme", []store.LogRecord{rec(1, "msg-2", "new")}, hour)
			return err
		}},
		{"ReadPartition", func(ctx context.Context) error {
			_, err := l.ReadPartition(ctx, "acme", 1, 0, 10)
			return err
		}},
		{"Get", func(ctx context.Context) error { _, err := l.Get(ctx, "acme", id); return err }},
		{"Cursor", func(ctx context.Context) error { _, err := l.Cursor(ctx, "acme", 1); return err }},
		{"Commit", func(ctx context.Context) error {
			return l.Commit(ctx, "acme", 1, id+100, []store.SignalStatus{{ID: id, Status: "failed"}})
		}},
		{"Status", func(ctx context.Context) error { _, err := l.Status(ctx, "acme", id); return err }},
		{"ScanStatuses", func(ctx context.Context) error {
			return l.ScanStatuses(ctx, "acme", 0, func(store.SignalStatus) (bool, error) {
				return false, errors.New("callback called")
			})
		}},
		{"PutCold", func(ctx context.Context) error {
			return l.PutCold(ctx, "acme", "anon", store.LogEntry{ID: id + 1, Partition: 1, Data: []byte("x")}, hour)
		}},
		{"TakeCold", func(ctx context.Context) error { _, err := l.TakeCold(ctx, "acme", "anon"); return err }},
		{"Backlog", func(ctx context.Context) error { _, err := l.Backlog(ctx, "acme"); return err }},
		{"Purge", func(ctx context.Context) error { _, err := l.Purge(ctx, "acme", 1, id); return err }},
	}
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"deadline exceeded", expired, context.DeadlineExceeded},
	} {
		for _, op := range ops {
			if err := op.call(c.ctx); !errors.Is(err, c.want) {
				t.Errorf("%s with %s context = %v, want %v", op.name, c.name, err, c.want)
			}
		}
	}

	wantEntries(t, "partition 1", readAll(t, l, "acme", 1, 10), []store.LogEntry{{ID: id, Partition: 1, Data: []byte("kept")}})
	if r := mustAppend(t, l, "acme", rec(2, "msg-2", "now")); r[0].Duplicate {
		t.Errorf("dedup key of a cancelled Append was kept: %+v", r[0])
	}
	wantCursor(t, l, "acme", 1, id)
	wantStatus(t, l, "acme", store.SignalStatus{ID: id, Status: "completed"})
	wantEntries(t, "cold", mustTakeCold(t, l, "acme", "anon"), []store.LogEntry{cold})
}

// testLogLargeBatch: one Append of 5,000 300-byte records (more than fits in
// one Badger transaction with small memtables) stores them all.
func testLogLargeBatch(t *testing.T, h LogHarness) {
	const (
		n    = 5000
		size = 300
	)
	l := openLog(t, h)
	ctx := t.Context()
	r := rand.New(rand.NewPCG(11, 12))
	recs := make([]store.LogRecord, n)
	for i := range recs {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		copy(data, fmt.Sprintf("record %d:", i))
		recs[i] = store.LogRecord{Partition: i % store.Partitions, DedupKey: fmt.Sprintf("big-%d", i), Data: data}
	}
	var res []store.Appended
	withTimeout(t, "Append", func() {
		var err error
		res, err = l.Append(ctx, "acme", recs, hour)
		if err != nil {
			t.Errorf("Append(%d records): %v", n, err)
		}
	})
	if t.Failed() {
		return
	}
	checkAppended(t, recs, res)
	want := make([][]store.LogEntry, store.Partitions)
	for i, a := range res {
		if a.Duplicate {
			t.Fatalf("record %d reported duplicate", i)
		}
		want[i%store.Partitions] = append(want[i%store.Partitions], store.LogEntry{ID: a.ID, Partition: i % store.Partitions, Data: recs[i].Data})
	}
	for p := range store.Partitions {
		wantEntries(t, fmt.Sprintf("partition %d", p), readAll(t, l, "acme", p, 1000), want[p])
	}
	for i := 0; i < n; i += 97 {
		wantGet(t, l, "acme", want[i%store.Partitions][i/store.Partitions])
	}

	// Sending the batch again stores nothing and reports every id.
	again, err := l.Append(ctx, "acme", recs, hour)
	if err != nil {
		t.Fatalf("repeat Append: %v", err)
	}
	for i, a := range again {
		if a != (store.Appended{ID: res[i].ID, Duplicate: true}) {
			t.Fatalf("repeat record %d = %+v, want duplicate of %d", i, a, res[i].ID)
		}
	}
	total := 0
	for p := range store.Partitions {
		total += len(readAll(t, l, "acme", p, 1000))
	}
	if total != n {
		t.Fatalf("log holds %d entries after the repeat, want %d", total, n)
	}
}

// purgeAll calls Purge until it returns 0 and returns the total; every call
// must delete at most what is left.
func purgeAll(t *testing.T, l store.SignalLog, org string, p int, upto uint64) int {
	t.Helper()
	total := 0
	for calls := 0; ; calls++ {
		if calls > 10000 {
			t.Fatalf("Purge(%s, %d, %d) still deleting after %d calls (%d entries)", org, p, upto, calls, total)
		}
		n, err := l.Purge(t.Context(), org, p, upto)
		if err != nil {
			t.Fatalf("Purge(%s, %d, %d): %v", org, p, upto, err)
		}
		if n < 0 {
			t.Fatalf("Purge(%s, %d, %d) = %d", org, p, upto, n)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

// testLogPurge: Purge deletes a partition's entries up to an id and never
// past its cursor, with their statuses, and nothing else.
func testLogPurge(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	ctx := t.Context()
	var recs []store.LogRecord
	for i := range 10 {
		recs = append(recs, rec(3, fmt.Sprintf("msg-%d", i), fmt.Sprintf("a3-%d", i)))
	}
	recs = append(recs, rec(5, "", "a5-0"), rec(5, "", "a5-1"))
	res := mustAppend(t, l, "acme", recs...)
	other := mustAppend(t, l, "globex", rec(3, "", "g3-0"), rec(3, "", "g3-1"))
	entry := func(i int) store.LogEntry {
		return store.LogEntry{ID: res[i].ID, Partition: recs[i].Partition, Data: recs[i].Data}
	}
	ts := now(h)
	var sts []store.SignalStatus
	for i := range 7 {
		sts = append(sts, store.SignalStatus{ID: res[i].ID, Status: "completed", LeadID: fmt.Sprint("lead-", i), ProcessedAt: ts})
	}
	// Partition 3 processed up to its 7th entry; its 9th has failed once
	// (a status above the cursor).
	failed := store.SignalStatus{ID: res[8].ID, Status: "failed", Error: "retrying", Attempts: 1, ProcessedAt: ts}
	mustCommit(t, l, "acme", 3, res[6].ID, append(sts, failed)...)
	sts5 := []store.SignalStatus{{ID: res[10].ID, Status: "skipped"}, {ID: res[11].ID, Status: "completed"}}
	mustCommit(t, l, "acme", 5, res[11].ID, sts5...)
	mustCommit(t, l, "globex", 3, other[1].ID, store.SignalStatus{ID: other[0].ID, Status: "completed"}, store.SignalStatus{ID: other[1].ID, Status: "completed"})
	wantBacklog(t, l, "acme", 3)

	// Nothing at or below 0, nothing in a partition without a cursor.
	if n := purgeAll(t, l, "acme", 3, 0); n != 0 {
		t.Fatalf("Purge up to 0 deleted %d", n)
	}
	if n := purgeAll(t, l, "acme", 7, math.MaxUint64); n != 0 {
		t.Fatalf("Purge of an empty partition deleted %d", n)
	}
	for _, p := range []int{-1, store.Partitions} {
		if _, err := l.Purge(ctx, "acme", p, res[0].ID); err == nil {
			t.Errorf("Purge(partition %d) succeeded, want an error", p)
		}
	}

	// Up to the 4th entry of partition 3.
	if n := purgeAll(t, l, "acme", 3, res[3].ID); n != 4 {
		t.Fatalf("Purge up to entry 4 deleted %d, want 4", n)
	}
	for i := range 4 {
		wantGetMissing(t, l, "acme", res[i].ID)
		wantStatusMissing(t, l, "acme", res[i].ID)
	}
	wantEntries(t, "partition 3 after the first purge", readAll(t, l, "acme", 3, 3), []store.LogEntry{
		entry(4), entry(5), entry(6), entry(7), entry(8), entry(9)})
	wantGet(t, l, "acme", entry(4))
	wantStatus(t, l, "acme", sts[4])
	wantStatuses(t, "statuses after the first purge", scanStatuses(t, l, "acme", 0),
		[]store.SignalStatus{sts[4], sts[5], sts[6], failed, sts5[0], sts5[1]})
	wantBacklog(t, l, "acme", 3)
	wantCursor(t, l, "acme", 3, res[6].ID)

	// Idempotent.
	if n := purgeAll(t, l, "acme", 3, res[3].ID); n != 0 {
		t.Fatalf("second Purge up to entry 4 deleted %d, want 0", n)
	}

	// Never past the cursor, whatever upto says: the unprocessed entries
	// and the failed one's status stay.
	if n := purgeAll(t, l, "acme", 3, math.MaxUint64); n != 3 {
		t.Fatalf("Purge of everything deleted %d, want the 3 processed entries", n)
	}
	wantEntries(t, "partition 3 after purging everything", readAll(t, l, "acme", 3, 10), []store.LogEntry{
		entry(7), entry(8), entry(9)})
	for i := 4; i < 7; i++ {
		wantGetMissing(t, l, "acme", res[i].ID)
		wantStatusMissing(t, l, "acme", res[i].ID)
	}
	wantGet(t, l, "acme", entry(7))
	wantStatus(t, l, "acme", failed)
	wantBacklog(t, l, "acme", 3)
	wantCursor(t, l, "acme", 3, res[6].ID)

	// Other partitions and other tenants are untouched.
	wantEntries(t, "partition 5", readAll(t, l, "acme", 5, 10), []store.LogEntry{entry(10), entry(11)})
	wantStatus(t, l, "acme", sts5[0])
	wantEntries(t, "globex partition 3", readAll(t, l, "globex", 3, 10), []store.LogEntry{
		{ID: other[0].ID, Partition: 3, Data: []byte("g3-0")}, {ID: other[1].ID, Partition: 3, Data: []byte("g3-1")}})
	wantStatus(t, l, "globex", store.SignalStatus{ID: other[0].ID, Status: "completed"})
	if n := purgeAll(t, l, "nobody", 3, math.MaxUint64); n != 0 {
		t.Fatalf("Purge of an unknown tenant deleted %d", n)
	}

	// A repeat of a purged entry within its dedup window is still a
	// duplicate of it (dedup keys expire with their window).
	if r := mustAppend(t, l, "acme", rec(3, "msg-0", "again")); r[0] != (store.Appended{ID: res[0].ID, Duplicate: true}) {
		t.Fatalf("repeat of a purged entry = %+v, want duplicate of %d", r[0], res[0].ID)
	}

	// Once processed, the rest can go; new entries are appended as usual.
	mustCommit(t, l, "acme", 3, res[9].ID)
	if n := purgeAll(t, l, "acme", 3, res[9].ID); n != 3 {
		t.Fatalf("Purge after processing deleted %d, want 3", n)
	}
	wantStatusMissing(t, l, "acme", failed.ID)
	wantBacklog(t, l, "acme", 0)
	fresh := mustAppend(t, l, "acme", rec(3, "", "new"))
	if fresh[0].ID <= res[11].ID {
		t.Fatalf("id after a purge = %d, want above %d", fresh[0].ID, res[11].ID)
	}
	wantEntries(t, "partition 3 after a new append", readAll(t, l, "acme", 3, 10), []store.LogEntry{
		{ID: fresh[0].ID, Partition: 3, Data: []byte("new")}})
	wantBacklog(t, l, "acme", 1)
}

// testLogPurgeMany: purging more entries than one call may delete takes
// several calls that together delete each entry once.
func testLogPurgeMany(t *testing.T, h LogHarness) {
	l := openLog(t, h)
	const n = 6000
	recs := make([]store.LogRecord, n)
	for i := range recs {
		recs[i] = rec(9, "", fmt.Sprint(i))
	}
	res := mustAppend(t, l, "acme", recs...)
	mustCommit(t, l, "acme", 9, res[n-101].ID)
	if got := purgeAll(t, l, "acme", 9, math.MaxUint64); got != n-100 {
		t.Fatalf("Purge deleted %d, want %d", got, n-100)
	}
	got := readAll(t, l, "acme", 9, 1000)
	if len(got) != 100 || got[0].ID != res[n-100].ID {
		t.Fatalf("after the purge: %d entries from %v, want the last 100 from %d", len(got), entryIDs(got[:min(len(got), 1)]), res[n-100].ID)
	}
	wantBacklog(t, l, "acme", 100)
}
