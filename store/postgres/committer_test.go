package postgres

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trailspark/trailspark/store"
	"github.com/trailspark/trailspark/store/postgres/pgtest"
)

// TestGroupCommit: concurrent Appends share transactions, and each caller
// still gets its own records' ids in its record order.
func TestGroupCommit(t *testing.T) {
	cases := []struct {
		name      string
		window    time.Duration
		maxRecs   int
		callers   int
		maxGroups int64 // at most this many transactions for all callers
	}{
		// With a 50 ms window, 64 callers released together fit in a few
		// groups even on a loaded machine.
		{"window", 50 * time.Millisecond, 0, 64, 16},
		// A group closes at MaxGroupRecords (2 records per caller here).
		{"max records", 50 * time.Millisecond, 8, 64, 64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, err := Open(t.Context(), pgtest.URL(t), Options{GroupCommitWindow: c.window, MaxGroupRecords: c.maxRecs})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			l := db.SignalLog()
			before := db.committer.groups.Load()
			start := make(chan struct{})
			var wg sync.WaitGroup
			results := make([][]store.Appended, c.callers)
			for w := range c.callers {
				wg.Go(func() {
					<-start
					recs := []store.LogRecord{
						{Partition: w % store.Partitions, DedupKey: fmt.Sprint("a", w), Data: []byte("a")},
						{Partition: (w + 1) % store.Partitions, DedupKey: fmt.Sprint("b", w), Data: []byte("b")},
					}
					res, err := l.Append(t.Context(), "acme", recs, time.Hour)
					if err != nil {
						t.Errorf("caller %d: %v", w, err)
						return
					}
					results[w] = res
				})
			}
			close(start)
			wg.Wait()
			if t.Failed() {
				return
			}
			groups := db.committer.groups.Load() - before
			if groups > c.maxGroups {
				t.Errorf("%d callers took %d transactions, want at most %d", c.callers, groups, c.maxGroups)
			}
			if c.maxRecs > 0 && groups < int64(c.callers*2/c.maxRecs) {
				t.Errorf("%d transactions for %d records, want at least %d with MaxGroupRecords %d", groups, c.callers*2, c.callers*2/c.maxRecs, c.maxRecs)
			}
			var ids []uint64
			for w, res := range results {
				if len(res) != 2 || res[0].Duplicate || res[1].Duplicate || res[0].ID >= res[1].ID {
					t.Fatalf("caller %d: %+v; want two new, increasing ids", w, res)
				}
				ids = append(ids, res[0].ID, res[1].ID)
			}
			slices.Sort(ids)
			if len(slices.Compact(ids)) != 2*c.callers {
				t.Fatalf("ids are not unique across callers")
			}
			t.Logf("%d callers, %d transactions", c.callers, groups)
		})
	}
}

// TestGroupCommitIsolatesRefusedRequest: a request the database refuses
// fails alone; the others of its group are stored.
func TestGroupCommitIsolatesRefusedRequest(t *testing.T) {
	db, err := Open(t.Context(), pgtest.URL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mk := func(org string) *appendReq {
		return &appendReq{
			ctx: t.Context(), org: org, window: time.Hour, now: time.Now(), done: make(chan struct{}),
			recs: []store.LogRecord{{Partition: 1, DedupKey: "k", Data: []byte(org)}},
		}
	}
	// Append refuses a NUL in org before queueing; built by hand here, it
	// makes PostgreSQL reject the group's transaction.
	group := []*appendReq{mk("acme"), mk("bad\x00org"), mk("globex")}
	db.committer.commit(group)
	for i, r := range group {
		select {
		case <-r.done:
		default:
			t.Fatalf("request %d not answered", i)
		}
	}
	if group[1].err == nil {
		t.Fatalf("request with a NUL in org: no error")
	}
	for _, i := range []int{0, 2} {
		r := group[i]
		if r.err != nil || len(r.res) != 1 || r.res[0].Duplicate {
			t.Fatalf("request %d (%s) = %+v, %v; want stored", i, r.org, r.res, r.err)
		}
		e, err := db.SignalLog().Get(t.Context(), r.org, r.res[0].ID)
		if err != nil || string(e.Data) != r.org {
			t.Fatalf("Get(%s, %d) = %+v, %v", r.org, r.res[0].ID, e, err)
		}
	}
}
