package postgres_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trailspark/trailspark/store"
	"github.com/trailspark/trailspark/store/postgres"
	"github.com/trailspark/trailspark/store/postgres/pgtest"
)

// BenchmarkAppend measures signal log throughput. "single" is 64 goroutines
// each appending one record per call (the ingest path under load), served by
// the group committer; "batch100" appends 100 records per call. The window
// is Options.GroupCommitWindow (0: commit what queued meanwhile, no wait).
//
// The throwaway test server runs with fsync off, so these numbers leave out
// the WAL flush a production commit pays (once per group).
func BenchmarkAppend(b *testing.B) {
	cases := []struct {
		name     string
		window   time.Duration
		perCall  int
		callers  int // goroutines: RunParallel runs SetParallelism × GOMAXPROCS
		parallel bool
	}{
		{"single/64goroutines/window=1ms", time.Millisecond, 1, 64, true},
		{"single/64goroutines/window=0", 0, 1, 64, true},
		{"single/1goroutine", 0, 1, 1, false},
		{"batch100/1goroutine", 0, 100, 1, false},
		{"batch100/8goroutines", 0, 100, 8, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			l := open(b, pgtest.URL(b), postgres.Options{GroupCommitWindow: c.window}).SignalLog()
			var seq atomic.Int64
			appendOne := func() error {
				recs := make([]store.LogRecord, c.perCall)
				for i := range recs {
					n := seq.Add(1)
					recs[i] = store.LogRecord{Partition: int(n % store.Partitions), DedupKey: fmt.Sprint("msg-", n), Data: make([]byte, 300)}
				}
				_, err := l.Append(b.Context(), "acme", recs, time.Hour)
				return err
			}
			b.ResetTimer() // not the database's creation
			start := time.Now()
			if c.parallel {
				b.SetParallelism(max(1, c.callers/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := appendOne(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if err := appendOne(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(seq.Load())/time.Since(start).Seconds(), "records/s")
		})
	}
}

// BenchmarkSave measures compare-and-set writes: each op Saves a key with its
// current version (an UPDATE … WHERE version = $n).
func BenchmarkSave(b *testing.B) {
	cases := []struct {
		name    string
		callers int
	}{
		{"1goroutine", 1},
		{"16goroutines", 16},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			db := open(b, pgtest.URL(b), postgres.Options{MaxConns: 16})
			value := make([]byte, 512)
			var worker atomic.Int64
			b.ResetTimer()
			b.SetParallelism(max(1, c.callers/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				key := fmt.Appendf(nil, "o/acme/lead/%d", worker.Add(1))
				var ver store.Version
				for pb.Next() {
					v, err := db.Save(b.Context(), key, value, ver)
					if err != nil {
						b.Error(err)
						return
					}
					ver = v
				}
			})
		})
	}
}
