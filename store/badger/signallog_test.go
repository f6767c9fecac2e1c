package badgerstore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trailspark/trailspark/store"
	badgerstore "github.com/trailspark/trailspark/store/badger"
	"github.com/trailspark/trailspark/store/storetest"
)

// logStores remembers which Store and directory each log opened by a test
// harness belongs to, so Reopen can close the Store and open its directory
// again.
type logStores struct {
	m sync.Map // store.SignalLog → logStore
}

type logStore struct {
	s   *badgerstore.Store
	dir string
}

func (ls *logStores) open(t *testing.T, dir string) store.SignalLog {
	t.Helper()
	s := open(t, signalLogOpts(dir))
	l := s.SignalLog()
	ls.m.Store(l, logStore{s: s, dir: dir})
	return l
}

func (ls *logStores) reopen(t *testing.T, l store.SignalLog) store.SignalLog {
	t.Helper()
	v, ok := ls.m.Load(l)
	if !ok {
		t.Fatal("Reopen: log not opened by this harness")
	}
	old := v.(logStore)
	if err := old.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return ls.open(t, old.dir)
}

func signalLogOpts(dir string) badgerstore.Options {
	// A short GC interval runs value-log GC alongside every case.
	return badgerstore.Options{Dir: dir, Profile: badgerstore.ProfileSmall, GCInterval: 10 * time.Millisecond}
}

func TestSignalLogConformance(t *testing.T) {
	t.Run("disk", func(t *testing.T) {
		var ls logStores
		storetest.RunSignalLog(t, storetest.LogHarness{
			Open:   func(t *testing.T) store.SignalLog { return ls.open(t, t.TempDir()) },
			Reopen: ls.reopen,
		})
	})
	t.Run("in-memory", func(t *testing.T) {
		storetest.RunSignalLog(t, storetest.LogHarness{
			Open: func(t *testing.T) store.SignalLog {
				return open(t, badgerstore.Options{InMemory: true, Profile: badgerstore.ProfileSmall}).SignalLog()
			},
		})
	})
}

func TestSignalLogSameInstance(t *testing.T) {
	s := open(t, badgerstore.Options{InMemory: true, Profile: badgerstore.ProfileSmall})
	if s.SignalLog() != s.SignalLog() {
		t.Fatal("SignalLog returned two different logs for one store")
	}
}

// TestSignalLogDropTenant: the log lives under the tenant's prefix, so
// DropTenant removes its entries, dedup keys, statuses, cursors and cold
// entries, and nothing of another tenant's.
func TestSignalLogDropTenant(t *testing.T) {
	s := open(t, signalLogOpts(t.TempDir()))
	l := s.SignalLog()
	ctx := t.Context()

	type fill struct {
		ids  []uint64
		cold store.LogEntry
	}
	fillTenant := func(org string) fill {
		var recs []store.LogRecord
		for i := range 20 {
			recs = append(recs, store.LogRecord{Partition: i % 4, DedupKey: fmt.Sprintf("msg-%d", i), Data: []byte(org + fmt.Sprint(i))})
		}
		res, err := l.Append(ctx, org, recs, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var f fill
		for _, r := range res {
			f.ids = append(f.ids, r.ID)
		}
		for p := range 4 {
			if err := l.Commit(ctx, org, p, f.ids[16+p], []store.SignalStatus{{ID: f.ids[p], Status: "completed"}}); err != nil {
				t.Fatal(err)
			}
		}
		f.cold = store.LogEntry{ID: f.ids[0], Partition: 0, Data: []byte(org + " cold")}
		if err := l.PutCold(ctx, org, "anon-1", f.cold, time.Hour); err != nil {
			t.Fatal(err)
		}
		return f
	}
	acme := fillTenant("acme")
	acme2 := fillTenant("acme2") // a tenant whose name has acme as prefix
	globex := fillTenant("globex")
	if _, err := s.Save(ctx, []byte("o/acme/lead/1"), []byte("state"), 0); err != nil {
		t.Fatal(err)
	}

	if err := s.DropTenant(ctx, "acme"); err != nil {
		t.Fatalf("DropTenant: %v", err)
	}

	// acme's log is gone.
	for p := range 4 {
		if es, err := l.ReadPartition(ctx, "acme", p, 0, 100); err != nil || len(es) != 0 {
			t.Errorf("ReadPartition(acme, %d) after drop = %d entries, %v; want none", p, len(es), err)
		}
		if c, err := l.Cursor(ctx, "acme", p); err != nil || c != 0 {
			t.Errorf("Cursor(acme, %d) after drop = %d, %v; want 0", p, c, err)
		}
	}
	for _, id := range acme.ids {
		if _, err := l.Get(ctx, "acme", id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(acme, %d) after drop = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := l.Status(ctx, "acme", acme.ids[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Status(acme) after drop = %v, want ErrNotFound", err)
	}
	n := 0
	if err := l.ScanStatuses(ctx, "acme", 0, func(store.SignalStatus) (bool, error) { n++; return true, nil }); err != nil || n != 0 {
		t.Errorf("ScanStatuses(acme) after drop = %d statuses, %v; want none", n, err)
	}
	if es, err := l.TakeCold(ctx, "acme", "anon-1"); err != nil || len(es) != 0 {
		t.Errorf("TakeCold(acme) after drop = %d entries, %v; want none", len(es), err)
	}
	if n, err := l.Backlog(ctx, "acme"); err != nil || n != 0 {
		t.Errorf("Backlog(acme) after drop = %d, %v; want 0", n, err)
	}
	if _, _, err := s.Load(ctx, []byte("o/acme/lead/1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("state of acme after drop: %v, want ErrNotFound", err)
	}
	// Its dedup keys are gone too, and ids go on growing (the sequence is
	// deployment-wide).
	res, err := l.Append(ctx, "acme", []store.LogRecord{{Partition: 0, DedupKey: "msg-0", Data: []byte("again")}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Duplicate || res[0].ID <= globex.ids[len(globex.ids)-1] {
		t.Errorf("append after drop = %+v; want a new id above every earlier one", res[0])
	}

	// The others are untouched.
	for org, f := range map[string]fill{"acme2": acme2, "globex": globex} {
		for p := range 4 {
			es, err := l.ReadPartition(ctx, org, p, 0, 100)
			if err != nil || len(es) != 5 {
				t.Errorf("ReadPartition(%s, %d) = %d entries, %v; want 5", org, p, len(es), err)
			}
			if c, err := l.Cursor(ctx, org, p); err != nil || c != f.ids[16+p] {
				t.Errorf("Cursor(%s, %d) = %d, %v; want %d", org, p, c, err, f.ids[16+p])
			}
		}
		for i, id := range f.ids {
			e, err := l.Get(ctx, org, id)
			if err != nil || string(e.Data) != org+fmt.Sprint(i) {
				t.Errorf("Get(%s, %d) = %q, %v", org, id, e.Data, err)
			}
		}
		// Each partition holds 5 entries; its cursor is at the last.
		if n, err := l.Backlog(ctx, org); err != nil || n != 0 {
			t.Errorf("Backlog(%s) = %d, %v; want 0", org, n, err)
		}
		if st, err := l.Status(ctx, org, f.ids[0]); err != nil || st.Status != "completed" {
			t.Errorf("Status(%s) = %+v, %v", org, st, err)
		}
		if r, err := l.Append(ctx, org, []store.LogRecord{{Partition: 0, DedupKey: "msg-0"}}, time.Hour); err != nil || !r[0].Duplicate || r[0].ID != f.ids[0] {
			t.Errorf("dedup of %s after another tenant's drop = %+v, %v; want duplicate of %d", org, r, err, f.ids[0])
		}
		if es, err := l.TakeCold(ctx, org, "anon-1"); err != nil || len(es) != 1 || string(es[0].Data) != string(f.cold.Data) {
			t.Errorf("TakeCold(%s) = %+v, %v; want its entry", org, es, err)
		}
	}
}

// TestSignalLogClosed: after Close every method returns store.ErrClosed.
func TestSignalLogClosed(t *testing.T) {
	s := open(t, signalLogOpts(t.TempDir()))
	l := s.SignalLog()
	ctx := t.Context()
	res, err := l.Append(ctx, "acme", []store.LogRecord{{Partition: 1, Data: []byte("x")}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	id := res[0].ID
	ops := map[string]func() error{
		"Append": func() error {
			_, err := l.Append(ctx, "acme", []store.LogRecord{{Partition: 1, Data: []byte("y")}}, time.Hour)
			return err
		},
		"ReadPartition": func() error { _, err := l.ReadPartition(ctx, "acme", 1, 0, 10); return err },
		"Get":           func() error { _, err := l.Get(ctx, "acme", id); return err },
		"Cursor":        func() error { _, err := l.Cursor(ctx, "acme", 1); return err },
		"Commit":        func() error { return l.Commit(ctx, "acme", 1, id, nil) },
		"Status":        func() error { _, err := l.Status(ctx, "acme", id); return err },
		"ScanStatuses": func() error {
			return l.ScanStatuses(ctx, "acme", 0, func(store.SignalStatus) (bool, error) { return true, nil })
		},
		"PutCold":  func() error { return l.PutCold(ctx, "acme", "a", store.LogEntry{ID: id}, time.Hour) },
		"TakeCold": func() error { _, err := l.TakeCold(ctx, "acme", "a"); return err },
		"Backlog":  func() error { _, err := l.Backlog(ctx, "acme"); return err },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// TestSignalLogCloseWhileAppending: Close during appends neither hangs nor
// panics; every append that succeeded is there after reopening, and ids go on
// above all of them.
func TestSignalLogCloseWhileAppending(t *testing.T) {
	dir := t.TempDir()
	s, err := badgerstore.Open(signalLogOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	l := s.SignalLog()
	ctx := t.Context()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		acked    []uint64
		appended atomic.Int64
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				res, err := l.Append(ctx, "acme", []store.LogRecord{
					{Partition: w, DedupKey: fmt.Sprintf("w%d-%d", w, i), Data: []byte("x")},
					{Partition: w, Data: []byte("y")},
				}, time.Hour)
				if errors.Is(err, store.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, res[0].ID, res[1].ID)
				mu.Unlock()
				appended.Add(1)
			}
		})
	}
	for appended.Load() < 100 {
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Close with appends in flight did not return")
	}

	s2 := open(t, signalLogOpts(dir))
	l2 := s2.SignalLog()
	var maxID uint64
	for _, id := range acked {
		if _, err := l2.Get(ctx, "acme", id); err != nil {
			t.Fatalf("acknowledged id %d after reopen: %v", id, err)
		}
		maxID = max(maxID, id)
	}
	res, err := l2.Append(ctx, "acme", []store.LogRecord{{Partition: 0, Data: []byte("z")}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].ID <= maxID {
		t.Fatalf("id after reopen %d not above %d", res[0].ID, maxID)
	}
}

// --- benchmarks ---

func benchLog(b *testing.B) store.SignalLog {
	b.Helper()
	// On disk, small profile, no GC ticker (it would add noise).
	s := open(b, badgerstore.Options{Dir: b.TempDir(), Profile: badgerstore.ProfileSmall, GCInterval: -1})
	return s.SignalLog()
}

func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}

func reportSignals(b *testing.B, signals int) {
	b.ReportMetric(float64(signals)/b.Elapsed().Seconds(), "signals/s")
}

// BenchmarkAppendBatch500: one op is one Append of 500 300-byte records with
// dedup keys.
func BenchmarkAppendBatch500(b *testing.B) {
	const batch = 500
	l := benchLog(b)
	ctx := b.Context()
	data := payload(300)
	recs := make([]store.LogRecord, batch)
	n := 0
	b.SetBytes(batch * 300)
	b.ReportAllocs()
	for b.Loop() {
		for i := range recs {
			recs[i] = store.LogRecord{Partition: n % store.Partitions, DedupKey: fmt.Sprintf("msg-%d", n), Data: data}
			n++
		}
		if _, err := l.Append(ctx, "acme", recs, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	reportSignals(b, b.N*batch)
}

// BenchmarkAppendSingleParallel: one-record appends from many goroutines
// (8 per CPU, as from concurrent requests), which Badger batches into shared
// writes.
func BenchmarkAppendSingleParallel(b *testing.B) {
	l := benchLog(b)
	ctx := b.Context()
	data := payload(300)
	var next atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			rec := []store.LogRecord{{Partition: int(n % store.Partitions), DedupKey: fmt.Sprintf("msg-%d", n), Data: data}}
			if _, err := l.Append(ctx, "acme", rec, time.Hour); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportSignals(b, b.N)
}

// BenchmarkReadPartition256: one op reads 256 entries of a partition holding
// 20,000, from a cursor that walks through it.
func BenchmarkReadPartition256(b *testing.B) {
	const (
		entries = 20000
		page    = 256
	)
	l := benchLog(b)
	ctx := b.Context()
	data := payload(300)
	recs := make([]store.LogRecord, 1000)
	for i := 0; i < entries; i += len(recs) {
		for j := range recs {
			recs[j] = store.LogRecord{Partition: 0, Data: data}
		}
		if _, err := l.Append(ctx, "acme", recs, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	var after uint64
	b.ReportAllocs()
	for b.Loop() {
		es, err := l.ReadPartition(ctx, "acme", 0, after, page)
		if err == nil && len(es) < page { // at the end: wrap around
			es, err = l.ReadPartition(ctx, "acme", 0, 0, page)
		}
		if err != nil || len(es) != page {
			b.Fatalf("ReadPartition = %d entries, %v", len(es), err)
		}
		after = es[len(es)-1].ID
	}
	reportSignals(b, b.N*page)
}

// TestSignalLogBacklogIncremental: Backlog remembers its counts and only
// scans what changed; after any mix of appends, cursor moves, purges and a
// tenant drop it must equal a count of the entries after each cursor.
func TestSignalLogBacklogIncremental(t *testing.T) {
	s := open(t, badgerstore.Options{InMemory: true, Profile: badgerstore.ProfileSmall})
	l := s.SignalLog()
	ctx := t.Context()
	const org = "org_backlog"
	rng := rand.New(rand.NewPCG(7, 11))
	truth := func() int {
		n := 0
		for p := 0; p < store.Partitions; p++ {
			cur, err := l.Cursor(ctx, org, p)
			if err != nil {
				t.Fatal(err)
			}
			es, err := l.ReadPartition(ctx, org, p, cur, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			n += len(es)
		}
		return n
	}
	for step := 0; step < 400; step++ {
		p := rng.IntN(4) // a few partitions, so cursors and appends meet
		switch op := rng.IntN(10); {
		case op < 5:
			var recs []store.LogRecord
			for range 1 + rng.IntN(20) {
				recs = append(recs, store.LogRecord{Partition: rng.IntN(4), Data: []byte("x")})
			}
			if _, err := l.Append(ctx, org, recs, 0); err != nil {
				t.Fatal(err)
			}
		case op < 8:
			cur, _ := l.Cursor(ctx, org, p)
			es, err := l.ReadPartition(ctx, org, p, cur, 1+rng.IntN(30))
			if err != nil {
				t.Fatal(err)
			}
			if len(es) > 0 {
				if err := l.Commit(ctx, org, p, es[rng.IntN(len(es))].ID, nil); err != nil {
					t.Fatal(err)
				}
			}
		case op < 9:
			cur, _ := l.Cursor(ctx, org, p)
			if _, err := l.Purge(ctx, org, p, cur); err != nil {
				t.Fatal(err)
			}
		default:
			if step%50 == 9 {
				if err := s.DropTenant(ctx, org); err != nil {
					t.Fatal(err)
				}
			}
		}
		if rng.IntN(3) == 0 {
			continue // sometimes several changes between two counts
		}
		got, err := l.Backlog(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		if want := truth(); got != want {
			t.Fatalf("step %d: Backlog = %d, entries after the cursors = %d", step, got, want)
		}
	}
}
