package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/trailspark/trailspark/store"
	"github.com/trailspark/trailspark/store/postgres"
	"github.com/trailspark/trailspark/store/postgres/pgtest"
	"github.com/trailspark/trailspark/store/storetest"
)

// TestMain stops the throwaway PostgreSQL server, then fails the run if any
// goroutine (group committer, janitor, a connection's) outlived its DB.
func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// open opens a DB on url and closes it at the end of the test.
func open(t testing.TB, url string, opts postgres.Options) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// urls remembers the database of each DB the harnesses opened, so Reopen can
// close a DB and open its database again.
type urls struct{ m sync.Map } // *postgres.DB or store.SignalLog → url

func (u *urls) openStore(t *testing.T) store.StateStore {
	url := pgtest.URL(t)
	db := open(t, url, postgres.Options{})
	u.m.Store(db, url)
	return db
}

func (u *urls) reopenStore(t *testing.T, s store.StateStore) store.StateStore {
	v, ok := u.m.Load(s)
	if !ok {
		t.Fatal("Reopen: store not opened by this harness")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db := open(t, v.(string), postgres.Options{})
	u.m.Store(db, v)
	return db
}

type logDB struct {
	db  *postgres.DB
	url string
}

func (u *urls) openLog(t *testing.T) store.SignalLog {
	return u.openLogAt(t, pgtest.URL(t))
}

func (u *urls) openLogAt(t *testing.T, url string) store.SignalLog {
	db := open(t, url, postgres.Options{})
	l := db.SignalLog()
	u.m.Store(l, logDB{db, url})
	return l
}

func (u *urls) reopenLog(t *testing.T, l store.SignalLog) store.SignalLog {
	v, ok := u.m.Load(l)
	if !ok {
		t.Fatal("Reopen: log not opened by this harness")
	}
	old := v.(logDB)
	if err := old.db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return u.openLogAt(t, old.url)
}

func TestConformance(t *testing.T) {
	var u urls
	storetest.Run(t, storetest.Harness{Open: u.openStore, Reopen: u.reopenStore})
}

func TestSignalLogConformance(t *testing.T) {
	var u urls
	storetest.RunSignalLog(t, storetest.LogHarness{Open: u.openLog, Reopen: u.reopenLog})
}

func TestSignalLogSameInstance(t *testing.T) {
	db := open(t, pgtest.URL(t), postgres.Options{})
	if db.SignalLog() != db.SignalLog() {
		t.Fatal("SignalLog returned two different logs for one DB")
	}
}

// query runs one query on url outside the store, for checks of the schema.
func query(t *testing.T, url, sql string, dest ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(t.Context(), sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestConcurrentMigrations: nodes that start together on an empty database
// all open it, and the schema is applied once.
func TestConcurrentMigrations(t *testing.T) {
	for _, nodes := range []int{1, 4, 8} {
		t.Run(fmt.Sprintf("%d nodes", nodes), func(t *testing.T) {
			url := pgtest.URL(t)
			dbs := make([]*postgres.DB, nodes)
			errs := make([]error, nodes)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range nodes {
				wg.Go(func() {
					<-start
					dbs[i], errs[i] = postgres.Open(t.Context(), url, postgres.Options{})
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("node %d: Open: %v", i, err)
					continue
				}
				t.Cleanup(func() { dbs[i].Close() })
			}
			if t.Failed() {
				return
			}
			var applied, distinct, maxVersion int
			query(t, url, `SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations`, &applied, &distinct, &maxVersion)
			if applied != distinct || applied != maxVersion || applied == 0 {
				t.Fatalf("schema_migrations: %d rows, %d distinct versions, max %d; want each version 1..n once", applied, distinct, maxVersion)
			}
			// Every node can use the one schema.
			for i, db := range dbs {
				if _, err := db.Save(t.Context(), fmt.Appendf(nil, "o/acme/node/%d", i), []byte("x"), 0); err != nil {
					t.Fatalf("node %d: Save: %v", i, err)
				}
			}
		})
	}
}

// TestReopenKeepsSchema: a second Open of a migrated database applies
// nothing again and sees the data.
func TestReopenKeepsSchema(t *testing.T) {
	url := pgtest.URL(t)
	db := open(t, url, postgres.Options{})
	if _, err := db.Save(t.Context(), []byte("o/acme/k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	res, err := db.SignalLog().Append(t.Context(), "acme", []store.LogRecord{{Partition: 3, DedupKey: "m", Data: []byte("d")}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var before int
	query(t, url, `SELECT count(*) FROM schema_migrations`, &before)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db2 := open(t, url, postgres.Options{})
	var after int
	query(t, url, `SELECT count(*) FROM schema_migrations`, &after)
	if after != before {
		t.Fatalf("schema_migrations has %d rows after reopening, %d before", after, before)
	}
	v, ver, err := db2.Load(t.Context(), []byte("o/acme/k"))
	if err != nil || string(v) != "v" || ver != 1 {
		t.Fatalf("Load after reopen = %q v%d, %v", v, ver, err)
	}
	e, err := db2.SignalLog().Get(t.Context(), "acme", res[0].ID)
	if err != nil || string(e.Data) != "d" || e.Partition != 3 {
		t.Fatalf("Get after reopen = %+v, %v", e, err)
	}
}

// TestTwoNodesCASRace: writers on two DBs (two nodes) racing on one key with
// the same expected version: exactly one wins each round.
func TestTwoNodesCASRace(t *testing.T) {
	url := pgtest.URL(t)
	nodes := []*postgres.DB{open(t, url, postgres.Options{}), open(t, url, postgres.Options{})}
	const writers, rounds = 8, 100
	key := []byte("o/acme/lead/race")
	ctx := t.Context()
	var current store.Version
	for round := range rounds {
		var (
			start   = make(chan struct{})
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []int
		)
		for w := range writers {
			wg.Go(func() {
				<-start
				_, err := nodes[w%2].Save(ctx, key, fmt.Appendf(nil, "r%d-w%d", round, w), current)
				switch {
				case err == nil:
					mu.Lock()
					winners = append(winners, w)
					mu.Unlock()
				case !errors.Is(err, store.ErrConflict):
					t.Errorf("round %d writer %d: %v", round, w, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d (expected v%d): winners %v, want exactly one", round, current, winners)
		}
		current++
		for i, n := range nodes {
			v, ver, err := n.Load(ctx, key)
			if want := fmt.Sprintf("r%d-w%d", round, winners[0]); err != nil || string(v) != want || ver != current {
				t.Fatalf("round %d: node %d reads %q v%d, %v; want %q v%d", round, i, v, ver, err, want, current)
			}
		}
	}
}

// TestTwoNodesAppend: appenders on two DBs sharing a database get unique ids,
// increasing in each caller's order, and a reader tailing a partition through
// either node sees every entry (ids commit in order across nodes).
func TestTwoNodesAppend(t *testing.T) {
	url := pgtest.URL(t)
	nodes := []store.SignalLog{open(t, url, postgres.Options{}).SignalLog(), open(t, url, postgres.Options{}).SignalLog()}
	const (
		workers = 16
		calls   = 60
		tailed  = 5
	)
	ctx := t.Context()
	appended := make([][]uint64, workers) // ids in partition `tailed`
	var (
		wg   sync.WaitGroup
		done = make(chan struct{})
	)
	for w := range workers {
		wg.Go(func() {
			var last uint64
			for c := range calls {
				recs := []store.LogRecord{
					{Partition: tailed, DedupKey: fmt.Sprintf("w%d-c%d-a", w, c), Data: []byte("x")},
					{Partition: (w + c) % store.Partitions, Data: []byte("y")},
				}
				res, err := nodes[w%2].Append(ctx, "acme", recs, time.Hour)
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				for i, r := range res {
					if r.Duplicate || r.ID <= last {
						t.Errorf("worker %d call %d: result %d = %+v after id %d", w, c, i, r, last)
						return
					}
					last = r.ID
				}
				appended[w] = append(appended[w], res[0].ID)
				if recs[1].Partition == tailed {
					appended[w] = append(appended[w], res[1].ID)
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	seen := map[uint64]bool{}
	var after uint64
	read := func(node int) int {
		es, err := nodes[node].ReadPartition(ctx, "acme", tailed, after, 100)
		if err != nil {
			t.Fatalf("ReadPartition: %v", err)
		}
		for _, e := range es {
			if e.ID <= after || seen[e.ID] {
				t.Fatalf("ReadPartition(after %d) returned id %d", after, e.ID)
			}
			seen[e.ID] = true
			after = e.ID
		}
		return len(es)
	}
	for reads := 0; ; reads++ {
		select {
		case <-done:
		default:
			if read(reads%2) == 0 {
				time.Sleep(100 * time.Microsecond)
			}
			continue
		}
		break
	}
	for read(0) > 0 {
	}
	if t.Failed() {
		return
	}
	total := 0
	for w, ids := range appended {
		for _, id := range ids {
			if !seen[id] {
				t.Fatalf("worker %d's id %d was never seen by the tailing reader: ids became visible out of order", w, id)
			}
		}
		total += len(ids)
	}
	if len(seen) != total {
		t.Fatalf("reader saw %d entries, %d were appended", len(seen), total)
	}
}

// TestDropTenantRemovesSignalLog: DropTenant removes the tenant's log,
// dedup keys, cursors, statuses and cold entries, and nothing of another's.
func TestDropTenantRemovesSignalLog(t *testing.T) {
	db := open(t, pgtest.URL(t), postgres.Options{})
	l := db.SignalLog()
	ctx := t.Context()
	ids := map[string]uint64{}
	for _, org := range []string{"acme", "acme2"} {
		res, err := l.Append(ctx, org, []store.LogRecord{{Partition: 1, DedupKey: "m", Data: []byte(org)}}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		id := res[0].ID
		ids[org] = id
		if err := l.Commit(ctx, org, 1, id, []store.SignalStatus{{ID: id, Status: "completed"}}); err != nil {
			t.Fatal(err)
		}
		if err := l.PutCold(ctx, org, "anon", store.LogEntry{ID: id, Partition: 1, Data: []byte("c")}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DropTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}

	checks := []struct {
		name string
		org  string
		gone bool
	}{{"dropped", "acme", true}, {"kept", "acme2", false}}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			id := ids[c.org]
			_, err := l.Get(ctx, c.org, id)
			if gone := errors.Is(err, store.ErrNotFound); gone != c.gone {
				t.Errorf("Get = %v, want gone=%v", err, c.gone)
			}
			_, err = l.Status(ctx, c.org, id)
			if gone := errors.Is(err, store.ErrNotFound); gone != c.gone {
				t.Errorf("Status = %v, want gone=%v", err, c.gone)
			}
			cur, err := l.Cursor(ctx, c.org, 1)
			if err != nil || (cur == 0) != c.gone {
				t.Errorf("Cursor = %d, %v; want gone=%v", cur, err, c.gone)
			}
			cold, err := l.ReadCold(ctx, c.org, "anon")
			if err != nil || (len(cold) == 0) != c.gone {
				t.Errorf("ReadCold = %d entries, %v; want gone=%v", len(cold), err, c.gone)
			}
			res, err := l.Append(ctx, c.org, []store.LogRecord{{Partition: 1, DedupKey: "m", Data: []byte("again")}}, time.Hour)
			if err != nil || res[0].Duplicate == c.gone {
				t.Errorf("Append of the old dedup key = %+v, %v; want duplicate=%v", res, err, !c.gone)
			}
		})
	}
}

func TestInvalidArguments(t *testing.T) {
	db := open(t, pgtest.URL(t), postgres.Options{})
	l := db.SignalLog()
	ctx := t.Context()
	cases := []struct {
		name string
		call func() error
	}{
		{"DropTenant empty org", func() error { return db.DropTenant(ctx, "") }},
		{"DropTenant org with slash", func() error { return db.DropTenant(ctx, "a/b") }},
		{"Append org with NUL", func() error {
			_, err := l.Append(ctx, "a\x00b", []store.LogRecord{{Partition: 0}}, time.Hour)
			return err
		}},
		{"Append org not UTF-8", func() error {
			_, err := l.Append(ctx, "a\xffb", []store.LogRecord{{Partition: 0}}, time.Hour)
			return err
		}},
		{"Commit cursor above int64", func() error { return l.Commit(ctx, "acme", 0, 1<<63, nil) }},
		{"Commit status id 0", func() error {
			return l.Commit(ctx, "acme", 0, 1, []store.SignalStatus{{ID: 0, Status: "completed"}})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); err == nil || errors.Is(err, store.ErrConflict) {
				t.Fatalf("got %v, want an argument error", err)
			}
		})
	}
	// The refused calls changed nothing.
	if cur, err := l.Cursor(ctx, "acme", 0); err != nil || cur != 0 {
		t.Fatalf("Cursor = %d, %v; want 0", cur, err)
	}
}

// TestSignalLogClosed: every log method returns ErrClosed after Close.
func TestSignalLogClosed(t *testing.T) {
	db, err := postgres.Open(t.Context(), pgtest.URL(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := db.SignalLog()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ops := []struct {
		name string
		call func() error
	}{
		{"Append", func() error {
			_, err := l.Append(ctx, "acme", []store.LogRecord{{Partition: 0}}, time.Hour)
			return err
		}},
		{"ReadPartition", func() error { _, err := l.ReadPartition(ctx, "acme", 0, 0, 10); return err }},
		{"Get", func() error { _, err := l.Get(ctx, "acme", 1); return err }},
		{"Cursor", func() error { _, err := l.Cursor(ctx, "acme", 0); return err }},
		{"Commit", func() error { return l.Commit(ctx, "acme", 0, 1, nil) }},
		{"Status", func() error { _, err := l.Status(ctx, "acme", 1); return err }},
		{"ScanStatuses", func() error {
			return l.ScanStatuses(ctx, "acme", 0, func(store.SignalStatus) (bool, error) { return true, nil })
		}},
		{"PutCold", func() error { return l.PutCold(ctx, "acme", "a", store.LogEntry{ID: 1}, time.Hour) }},
		{"TakeCold", func() error { _, err := l.TakeCold(ctx, "acme", "a"); return err }},
		{"ReadCold", func() error { _, err := l.ReadCold(ctx, "acme", "a"); return err }},
		{"DeleteCold", func() error { return l.DeleteCold(ctx, "acme", "a", []uint64{1}) }},
		{"Backlog", func() error { _, err := l.Backlog(ctx, "acme"); return err }},
	}
	for _, op := range ops {
		if err := op.call(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op.name, err)
		}
	}
}

// TestCloseWhileAppending: Close while Appends are queued in the group
// committer neither hangs nor loses an acknowledged record.
func TestCloseWhileAppending(t *testing.T) {
	url := pgtest.URL(t)
	db, err := postgres.Open(t.Context(), url, postgres.Options{GroupCommitWindow: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l := db.SignalLog()
	ctx := t.Context()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []uint64
	)
	for w := range 16 {
		wg.Go(func() {
			for c := 0; ; c++ {
				res, err := l.Append(ctx, "acme", []store.LogRecord{{Partition: w % store.Partitions, Data: []byte("x")}}, time.Hour)
				if errors.Is(err, store.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, res[0].ID)
				mu.Unlock()
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close did not return")
	}
	wg.Wait()

	l2 := open(t, url, postgres.Options{}).SignalLog()
	for _, id := range acked {
		if _, err := l2.Get(ctx, "acme", id); err != nil {
			t.Fatalf("acknowledged id %d: %v", id, err)
		}
	}
	if len(acked) == 0 {
		t.Fatal("no Append completed before Close")
	}
}
