// Package postgres is the cluster store: store.StateStore and store.SignalLog
// on PostgreSQL (or CockroachDB, which speaks the same protocol) through
// pgx v5 connections (see pool.go for why not pgxpool). Every node of a
// cluster opens the same database; the database, not the node, arbitrates
// between them.
//
// It mirrors store/badger: Open returns a *DB that is the StateStore, and
// DB.SignalLog returns the signal log kept in the same database. Only plain
// SQL is used (no extensions, advisory locks or PL/pgSQL) so that the schema
// and queries also run on CockroachDB.
//
// # State
//
// Keys and values are bytea in table kv, with the key's version beside them.
// Compare-and-set is a single statement whose WHERE clause carries the
// expected version (UPDATE … WHERE key = $1 AND version = $2, or INSERT …
// ON CONFLICT DO NOTHING for "must not exist"); no rows affected means
// store.ErrConflict. PostgreSQL re-evaluates the WHERE clause of an UPDATE
// that waited for a concurrent writer of the same row, so of several Saves
// with the same expected version exactly one affects a row.
//
// Scan reads pages of scanPage rows and calls fn with no connection held,
// so fn may use the store (and Scan cannot exhaust the pool). Unlike the
// Badger store a scan is therefore not one snapshot: each page sees the
// writes committed before it was read.
//
// # Signal log
//
// Ids are deployment-wide: the interface identifies an entry by (org, id)
// and the conformance suite requires ids unique across tenants and growing
// across calls in every partition, so per-partition counters will not do.
// They come from one counter row, signal_seq, locked (SELECT … FOR UPDATE)
// by every appending transaction until it commits. Appends therefore commit
// one at a time and in id order on every node sharing the database, which
// is what a reader following a partition from a cursor needs: an entry
// never becomes visible after one with a greater id. (A SEQUENCE would hand
// out ids without that ordering: a transaction holding id 7 may commit after
// one holding id 8, and a reader at cursor 8 would never see 7.)
//
// The price of that lock is that appends are serialised; the group
// committer (committer.go) makes each transaction carry many Append calls.
// Dedup keys (SHA-256 of the key, per org, with an expiry) are claimed in
// the same transaction; see appendTx.
//
// # Schema
//
// Open runs the versioned migrations in migrate.go, serialised between
// nodes by a lock row and recorded in schema_migrations.
//
// # Lifecycle
//
// Close waits for calls in progress, stops the group committer and the
// expiry janitor, and closes the pool; later calls return store.ErrClosed.
// Do not call Close from a Scan callback: Close waits for that Scan.
package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/trailspark/trailspark/store"
)

// Defaults for zero Options fields.
const (
	DefaultMaxGroupRecords = 2000
	DefaultCleanupInterval = 5 * time.Minute
)

// scanPage is how many rows Scan and ScanStatuses read per query. Values can
// be megabytes, so a page is kept small.
const scanPage = 128

// maxAttempts bounds the retries of a transaction aborted by the database
// as a deadlock victim or serialization failure.
const maxAttempts = 10

// Options configures Open.
type Options struct {
	// MaxConns is the most connections the DB opens; 0 means the larger
	// of 4 and the number of CPUs (pgxpool's default).
	MaxConns int
	// GroupCommitWindow is how long the group committer waits for more
	// concurrent Appends after the first before it commits them together.
	// 0 (the default) does not wait: a group is the Appends that queued
	// while the previous group committed, which under load is already
	// many. On a 2-core test machine a 1 ms window lowered throughput with
	// 64 appending goroutines (about 23 k against 31 k records/s), as the
	// committer then sat idle while the database had work to do.
	GroupCommitWindow time.Duration
	// MaxGroupRecords ends a group early once it holds this many records;
	// 0 means DefaultMaxGroupRecords. A single Append larger than this is
	// still committed whole, in a group of its own.
	MaxGroupRecords int
	// CleanupInterval is how often expired dedup keys and cold entries are
	// deleted: 0 means DefaultCleanupInterval, negative disables it (they
	// are ignored once expired either way).
	CleanupInterval time.Duration
	// Clock is the time source for dedup windows and cold retention; nil
	// means time.Now. Nodes should have synchronised clocks: a window is
	// measured from the appending node's clock.
	Clock func() time.Time
	// Logger receives warnings (a failed cleanup); nil discards them.
	Logger hclog.Logger
}

// DB is a store.StateStore on PostgreSQL; SignalLog returns the signal log in
// the same database. It is safe for concurrent use, and several DBs (on one
// node or many) may share a database.
type DB struct {
	pool  *connPool
	log   hclog.Logger
	clock func() time.Time

	mu        sync.Mutex
	idle      sync.Cond // signalled when active drops to 0 after close
	active    int
	closed    bool
	closeDone chan struct{}

	sigLog    *signalLog
	committer *committer

	stopJanitor chan struct{}
	janitorDone chan struct{} // nil when the janitor is off
}

var _ store.StateStore = (*DB)(nil)

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string), runs the schema migrations and starts the group
// committer. Several nodes may Open the same database at once.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	maxConns := opts.MaxConns
	if maxConns <= 0 {
		maxConns = defaultMaxConns()
	}
	pool, err := newConnPool(ctx, url, maxConns)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool); err != nil {
		pool.close()
		return nil, err
	}
	db := &DB{
		pool:        pool,
		log:         opts.Logger,
		clock:       opts.Clock,
		closeDone:   make(chan struct{}),
		stopJanitor: make(chan struct{}),
	}
	if db.log == nil {
		db.log = hclog.NewNullLogger()
	}
	if db.clock == nil {
		db.clock = time.Now
	}
	db.idle.L = &db.mu

	maxRecs := opts.MaxGroupRecords
	if maxRecs <= 0 {
		maxRecs = DefaultMaxGroupRecords
	}
	db.committer = newCommitter(db, max(opts.GroupCommitWindow, 0), maxRecs)
	db.sigLog = &signalLog{db: db}

	interval := opts.CleanupInterval
	if interval == 0 {
		interval = DefaultCleanupInterval
	}
	if interval > 0 {
		db.janitorDone = make(chan struct{})
		go db.janitor(interval)
	}
	return db, nil
}

// SignalLog returns the signal log kept in the same database. Every call
// returns the same log.
func (db *DB) SignalLog() store.SignalLog { return db.sigLog }

// enter admits a call: it fails if ctx is done or the DB is closed, and
// otherwise counts the call as in progress until leave.
func (db *DB) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return store.ErrClosed
	}
	db.active++
	return nil
}

func (db *DB) leave() {
	db.mu.Lock()
	db.active--
	if db.active == 0 && db.closed {
		db.idle.Broadcast()
	}
	db.mu.Unlock()
}

func (db *DB) closing() bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.closed
}

// Close implements store.StateStore. It waits for calls in progress, stops
// the committer and janitor and closes the pool. Later calls, including
// Close, wait for the first to finish and return nil.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		<-db.closeDone
		return nil
	}
	db.closed = true
	for db.active > 0 {
		db.idle.Wait()
	}
	db.mu.Unlock()
	defer close(db.closeDone)

	// No Append is in progress, so the committer's queue is empty.
	db.committer.stop()
	close(db.stopJanitor)
	if db.janitorDone != nil {
		<-db.janitorDone
	}
	db.pool.close()
	return nil
}

// Load implements store.StateStore.
func (db *DB) Load(ctx context.Context, key []byte) ([]byte, store.Version, error) {
	if err := db.enter(ctx); err != nil {
		return nil, 0, err
	}
	defer db.leave()
	var (
		value   []byte
		version int64
	)
	err := db.pool.queryRow(ctx, `SELECT value, version FROM kv WHERE key = $1`, []any{key}, &value, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, store.ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: load: %w", err)
	}
	if value == nil {
		value = []byte{} // a stored empty value is not "absent"
	}
	return value, store.Version(version), nil
}

// Save implements store.StateStore.
func (db *DB) Save(ctx context.Context, key, value []byte, expected store.Version) (store.Version, error) {
	if err := db.enter(ctx); err != nil {
		return 0, err
	}
	defer db.leave()
	if expected > math.MaxInt64 {
		return 0, store.ErrConflict // no stored version is this large
	}
	var (
		n   int64
		err error
	)
	for attempt := 1; ; attempt++ {
		if expected == 0 {
			n, err = db.pool.exec(ctx,
				`INSERT INTO kv (key, value, version) VALUES ($1, $2, 1) ON CONFLICT (key) DO NOTHING`,
				key, nonNil(value))
		} else {
			n, err = db.pool.exec(ctx,
				`UPDATE kv SET value = $2, version = version + 1 WHERE key = $1 AND version = $3`,
				key, nonNil(value), int64(expected))
		}
		if retryable(err) && attempt < maxAttempts {
			continue
		}
		break
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: save: %w", err)
	}
	if n != 1 {
		return 0, store.ErrConflict
	}
	return expected + 1, nil
}

// Delete implements store.StateStore.
func (db *DB) Delete(ctx context.Context, key []byte, expected store.Version) error {
	if err := db.enter(ctx); err != nil {
		return err
	}
	defer db.leave()
	if expected > math.MaxInt64 {
		return store.ErrConflict
	}
	if expected == 0 {
		// Absent and expected absent is a no-op; present is a conflict.
		var one int
		err := db.pool.queryRow(ctx, `SELECT 1 FROM kv WHERE key = $1`, []any{key}, &one)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("postgres: delete: %w", err)
		}
		return store.ErrConflict
	}
	var (
		n   int64
		err error
	)
	for attempt := 1; ; attempt++ {
		n, err = db.pool.exec(ctx, `DELETE FROM kv WHERE key = $1 AND version = $2`, key, int64(expected))
		if retryable(err) && attempt < maxAttempts {
			continue
		}
		break
	}
	if err != nil {
		return fmt.Errorf("postgres: delete: %w", err)
	}
	if n != 1 {
		return store.ErrConflict
	}
	return nil
}

// Scan implements store.StateStore, a page of scanPage rows at a time; see
// the package comment for what that means for consistency.
func (db *DB) Scan(ctx context.Context, prefix, after []byte, fn func(store.Item) error) error {
	if err := db.enter(ctx); err != nil {
		return err
	}
	defer db.leave()

	// The range is [lo, hi): lo is the prefix, or just after `after`;
	// hi is the first key above every key with the prefix (nil: none).
	lo, loInclusive := prefix, true
	if after != nil && bytes.Compare(after, prefix) >= 0 {
		lo, loInclusive = after, false
	}
	hi := prefixEnd(prefix)
	for {
		page, err := db.scanPage(ctx, lo, loInclusive, hi)
		if err != nil {
			return err
		}
		for _, it := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			if db.closing() {
				return store.ErrClosed
			}
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(page) < scanPage {
			return nil
		}
		lo, loInclusive = page[len(page)-1].Key, false
	}
}

func (db *DB) scanPage(ctx context.Context, lo []byte, loInclusive bool, hi []byte) ([]store.Item, error) {
	op := ">"
	if loInclusive {
		op = ">="
	}
	q := `SELECT key, value, version FROM kv WHERE key ` + op + ` $1`
	args := []any{nonNil(lo)}
	if hi != nil {
		q += ` AND key < $2`
		args = append(args, hi)
	}
	q += fmt.Sprintf(` ORDER BY key LIMIT %d`, scanPage)
	items, err := collect(ctx, db.pool, q, args, func(r pgx.CollectableRow) (store.Item, error) {
		var (
			it  store.Item
			ver int64
		)
		if err := r.Scan(&it.Key, &it.Value, &ver); err != nil {
			return it, err
		}
		if it.Value == nil {
			it.Value = []byte{}
		}
		it.Version = store.Version(ver)
		return it, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: scan: %w", err)
	}
	return items, nil
}

// prefixEnd is the smallest key greater than every key starting with
// prefix, or nil if there is none (an empty or all-0xff prefix).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// DropTenant implements store.StateStore: in one transaction it deletes the
// tenant's keys and its whole signal log (entries, dedup keys, cursors,
// statuses, cold entries). It refuses an empty org or one containing '/',
// whose prefix would not be exactly one tenant's.
func (db *DB) DropTenant(ctx context.Context, org string) error {
	if err := db.enter(ctx); err != nil {
		return err
	}
	defer db.leave()
	if org == "" || strings.Contains(org, "/") {
		return fmt.Errorf("postgres: drop tenant: invalid org %q", org)
	}
	prefix := store.TenantPrefix(org)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		// The id counter's lock waits for appends in flight on any node and
		// keeps new ones out until the drop commits, so no append of the
		// tenant commits after its log was deleted.
		b.Queue(`SELECT last_id FROM signal_seq WHERE id = 1 FOR UPDATE`)
		b.Queue(`DELETE FROM kv WHERE key >= $1 AND key < $2`, prefix, prefixEnd(prefix))
		for _, table := range []string{"signal_log", "signal_dedup", "signal_cursor", "signal_status", "signal_cold"} {
			b.Queue(`DELETE FROM `+table+` WHERE org = $1`, org)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: drop tenant: %w", err)
	}
	return nil
}

// SaveBatch implements store.StateStore: one transaction, so all writes
// and deletes commit together or not at all. The statements go to the server in one
// round trip.
func (db *DB) SaveBatch(ctx context.Context, writes []store.Write) ([]store.Version, error) {
	if err := db.enter(ctx); err != nil {
		return nil, err
	}
	defer db.leave()
	if len(writes) == 0 {
		return nil, nil
	}
	for _, w := range writes {
		if w.Expected != store.AnyVersion && w.Expected > math.MaxInt64 {
			return nil, store.ErrConflict
		}
	}
	out := make([]store.Version, len(writes))
	errConflict := errors.New("conflict") // rolls the transaction back
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, w := range writes {
			if w.Delete {
				// Every delete answers one row: n is what the version check
				// needs (rows deleted, or rows present for expected 0).
				switch w.Expected {
				case store.AnyVersion:
					b.Queue(`WITH d AS (DELETE FROM kv WHERE key = $1 RETURNING 1) SELECT count(*) FROM d`, w.Key)
				case 0:
					b.Queue(`SELECT count(*) FROM kv WHERE key = $1`, w.Key)
				default:
					b.Queue(`WITH d AS (DELETE FROM kv WHERE key = $1 AND version = $2 RETURNING 1) SELECT count(*) FROM d`,
						w.Key, int64(w.Expected))
				}
				continue
			}
			switch w.Expected {
			case store.AnyVersion:
				b.Queue(`INSERT INTO kv (key, value, version) VALUES ($1, $2, 1)
					ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = kv.version + 1
					RETURNING version`, w.Key, nonNil(w.Value))
			case 0:
				b.Queue(`INSERT INTO kv (key, value, version) VALUES ($1, $2, 1)
					ON CONFLICT (key) DO NOTHING RETURNING version`, w.Key, nonNil(w.Value))
			default:
				b.Queue(`UPDATE kv SET value = $2, version = version + 1
					WHERE key = $1 AND version = $3 RETURNING version`, w.Key, nonNil(w.Value), int64(w.Expected))
			}
		}
		br := tx.SendBatch(ctx, b)
		conflict := false
		for i, w := range writes {
			var v int64
			err := br.QueryRow().Scan(&v)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				conflict = true
			case err != nil:
				br.Close()
				return err
			case w.Delete:
				// Expected 0: the key must be absent (v rows present);
				// a version: exactly that row must have been deleted.
				if (w.Expected == 0 && v != 0) || (w.Expected != 0 && w.Expected != store.AnyVersion && v != 1) {
					conflict = true
				}
				v = 0
			}
			out[i] = store.Version(v)
		}
		if err := br.Close(); err != nil {
			return err
		}
		if conflict {
			return errConflict
		}
		return nil
	})
	if errors.Is(err, errConflict) {
		return nil, store.ErrConflict
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: save batch: %w", err)
	}
	return out, nil
}

// inTx runs fn in a transaction and commits it, retrying the whole
// transaction when the database aborted it as a deadlock victim or a
// serialization failure (CockroachDB runs everything serializable).
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.pool.inTx(ctx, fn)
		if retryable(err) && attempt < maxAttempts {
			continue
		}
		return err
	}
}

// retryable reports whether err aborted a transaction that may simply be
// run again: a serialization failure or a deadlock.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "40001" || pgErr.Code == "40P01"
}

// nonNil maps nil to an empty slice: pgx sends a nil []byte as NULL, and
// the value columns are NOT NULL (an empty value is a value).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// janitor deletes expired dedup keys and cold entries every interval until
// Close. Reads ignore expired rows anyway; this only reclaims space.
func (db *DB) janitor(interval time.Duration) {
	defer close(db.janitorDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-db.stopJanitor:
			return
		case <-t.C:
			if err := db.deleteExpired(); err != nil {
				db.log.Warn("deleting expired dedup keys and cold entries failed", "error", err)
			}
		}
	}
}

func (db *DB) deleteExpired() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Stop waiting for the database when Close is called.
	go func() {
		select {
		case <-db.stopJanitor:
			cancel()
		case <-ctx.Done():
		}
	}()
	now := db.clock()
	for _, table := range []string{"signal_dedup", "signal_cold"} {
		if _, err := db.pool.exec(ctx, `DELETE FROM `+table+` WHERE expires_at <= $1`, now); err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
	}
	return nil
}
