package badgerstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trailspark/trailspark/store"
)

func TestDedupFilterGenerations(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	f := newDedupFilter(func() time.Time { return now })
	if f.mayContain([]byte("k")) {
		t.Fatal("empty filter contains a key")
	}
	f.add([]byte("k"))
	steps := []struct {
		after time.Duration
		want  bool
	}{
		{time.Hour, true},
		{dedupFilterPeriod - time.Minute, true},
		// A rotation (by the next add) keeps it in the previous generation:
		// still known a full period after it was added.
		{dedupFilterPeriod + time.Minute, true},
		{2*dedupFilterPeriod + time.Minute, false}, // two rotations later
	}
	for _, s := range steps {
		now = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC).Add(s.after)
		f.add([]byte("other")) // adds rotate
		if got := f.mayContain([]byte("k")); got != s.want {
			t.Errorf("after %v: mayContain = %v, want %v", s.after, got, s.want)
		}
	}
	if !f.usable(24*time.Hour) || f.usable(0) || f.usable(25*time.Hour) {
		t.Error("usable windows: want (0, 24h]")
	}
}

func TestDedupFilterFalsePositives(t *testing.T) {
	t.Parallel()
	f := newDedupFilter(time.Now)
	for i := range 100000 {
		f.add(fmt.Appendf(nil, "in-%d", i))
	}
	fp := 0
	for i := range 100000 {
		if !f.mayContain(fmt.Appendf(nil, "in-%d", i)) {
			t.Fatalf("added key in-%d not found", i)
		}
		if f.mayContain(fmt.Appendf(nil, "out-%d", i)) {
			fp++
		}
	}
	if fp > 100 { // ~0 expected at this load
		t.Errorf("%d false positives in 100,000", fp)
	}
}

// TestSignalLogDedupAfterReopen: keys written before a restart are found
// after it (the filter loads them on the organization's first append).
func TestSignalLogDedupAfterReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(Options{Dir: dir, Profile: ProfileSmall, GCInterval: -1, PageOutInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.SignalLog().Append(ctx, "acme", []store.LogRecord{{Partition: 1, DedupKey: "msg-1", Data: []byte("a")}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir, Profile: ProfileSmall, GCInterval: -1, PageOutInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.SignalLog().Append(ctx, "acme", []store.LogRecord{
		{Partition: 1, DedupKey: "msg-2", Data: []byte("b")},
		{Partition: 1, DedupKey: "msg-1", Data: []byte("a again")},
	}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Duplicate || !res[1].Duplicate || res[1].ID != first[0].ID {
		t.Fatalf("after reopen: %+v; want msg-2 new and msg-1 a duplicate of %d", res, first[0].ID)
	}
}

// BenchmarkDedupFilterLoad: what an organization's first append after a
// restart pays to load its stored dedup keys (reported per key).
func BenchmarkDedupFilterLoad(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), GCInterval: -1, PageOutInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const keys = 200000
	l := s.SignalLog()
	recs := make([]store.LogRecord, 0, 1000)
	for i := range keys {
		recs = append(recs, store.LogRecord{Partition: i % store.Partitions, DedupKey: fmt.Sprint("m-", i), Data: []byte("x")})
		if len(recs) == cap(recs) {
			if _, err := l.Append(b.Context(), "acme", recs, time.Hour); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	b.ResetTimer()
	for b.Loop() {
		f := newDedupFilter(time.Now)
		if err := f.ensureLoaded(s.db, "acme"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*keys), "ns/key")
}
