// Package badgerstore is the single-node store.StateStore, on an embedded
// Badger v4 database.
//
// # Versions
//
// Each value is stored as an 8-byte big-endian version followed by the
// payload. The version lives in the value, not in Badger's own per-entry
// timestamps, because those are global commit timestamps rather than a
// per-key counter starting at 1, and they do not survive a backup and
// restore unchanged. With the header, one read returns both value and
// version, and the data means the same as it does in the Postgres store.
//
// Compare-and-set is one Badger read-write transaction: read the current
// version, compare it with the expected one, write version+1. Badger's
// conflict detection fails the commit of every transaction whose read key
// was written by another transaction that committed after it started, so of
// several concurrent Saves with the same expected version exactly one
// commits and the others get store.ErrConflict.
//
// # Durability
//
// With Options.SyncWrites false (the default) a write is in Badger's
// memory-mapped value log when Save returns: it survives a crash of this
// process, but not a power loss or a kernel crash. SyncWrites true msyncs
// every commit: durable against power loss, but one transaction per write
// then ran about 40 times slower (3.6 k against 139 k writes/s on a 2-core VM).
//
// # Memory
//
// Badger's defaults reserve 600 MiB or more per database. Options.Profile
// bounds memtables and caches (ProfileServer for production, ProfileSmall for
// tests and development).
//
// # Lifecycle
//
// A goroutine runs value-log GC on a ticker. Close waits for in-flight calls
// to finish, stops that goroutine and closes Badger; it is idempotent, and
// calls after it return store.ErrClosed instead of reaching Badger (which
// panics when used after Close). A Scan in progress when Close is called stops
// early with store.ErrClosed. Do not call Close from a Scan callback: Close
// waits for that Scan, so it would never return.
package badgerstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/go-hclog"

	"github.com/trailspark/trailspark/store"
)

// headerSize is the length of the version header at the start of a value.
const headerSize = 8

// scanCheckEvery is how many items Scan passes to its callback between
// checks for a cancelled context or a closing store.
const scanCheckEvery = 256

// errCorrupt reports a stored value too short to hold the version header.
var errCorrupt = errors.New("badgerstore: stored value has no version header")

// Store is a store.StateStore backed by Badger. It is safe for concurrent use.
type Store struct {
	db       *badger.DB
	log      hclog.Logger
	maxValue int // largest accepted payload; 0 leaves the limit to Badger

	// dropMu keeps DropTenant apart from writes. Badger fails writes made
	// during DropPrefix (ErrBlockedWrites), and a Save that read a key
	// before the drop and committed after it would bring the key back, as
	// DropPrefix is not seen by transaction conflict detection. Save,
	// Delete and value-log GC hold it for reading, DropTenant for writing.
	dropMu sync.RWMutex

	mu        sync.Mutex
	idle      sync.Cond // signalled when active drops to 0 after close
	active    int       // calls in progress
	closed    bool
	closeDone chan struct{} // closed when the first Close has finished

	stopGC      chan struct{}
	gcDone      chan struct{} // nil when GC is off
	pageOutDone chan struct{} // nil when paging out is off
	dir         string

	// beforeCommit, when set (by tests only), runs between a write's read of
	// the current version and its commit.
	beforeCommit func()

	logOnce sync.Once
	sigLog  *signalLog

	versions *versionCache // see versions.go
}

var _ store.StateStore = (*Store)(nil)

// Open opens (or creates) the database described by opts.
func Open(opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	db, err := badger.Open(opts.badgerOptions())
	if err != nil {
		return nil, fmt.Errorf("badgerstore: open: %w", err)
	}
	s := &Store{
		versions:  newVersionCache(),
		db:        db,
		log:       opts.Logger,
		closeDone: make(chan struct{}),
		stopGC:    make(chan struct{}),
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if opts.InMemory {
		s.maxValue = MaxInMemoryValueSize
	}
	s.idle.L = &s.mu

	interval := opts.GCInterval
	if interval == 0 {
		interval = DefaultGCInterval
	}
	if interval > 0 && !opts.InMemory {
		s.gcDone = make(chan struct{})
		go s.every(interval, s.gcDone, func() bool { s.runGC(); return true })
	}
	pageOut := opts.PageOutInterval
	if pageOut == 0 {
		pageOut = DefaultPageOutInterval
	}
	if pageOut > 0 && !opts.InMemory {
		s.dir = opts.Dir
		s.pageOutDone = make(chan struct{})
		go s.every(pageOut, s.pageOutDone, s.pageOut)
	}
	return s, nil
}

// enter admits a call: it fails if ctx is done or the store is closed, and
// otherwise counts the call as in progress until leave.
func (s *Store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	s.active++
	return nil
}

func (s *Store) leave() {
	s.mu.Lock()
	s.active--
	if s.active == 0 && s.closed {
		s.idle.Broadcast()
	}
	s.mu.Unlock()
}

// closing reports whether Close has been called.
func (s *Store) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Load implements store.StateStore.
func (s *Store) Load(ctx context.Context, key []byte) ([]byte, store.Version, error) {
	if err := s.enter(ctx); err != nil {
		return nil, 0, err
	}
	defer s.leave()

	var (
		value   []byte
		version store.Version
	)
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			var err error
			version, value, err = decode(v)
			return err
		})
	})
	if err != nil {
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil, 0, store.ErrNotFound
		}
		return nil, 0, fmt.Errorf("badgerstore: load: %w", mapErr(err))
	}
	return value, version, nil
}

// Save implements store.StateStore.
func (s *Store) Save(ctx context.Context, key, value []byte, expected store.Version) (store.Version, error) {
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.leave()
	if s.maxValue > 0 && len(value) > s.maxValue {
		return 0, fmt.Errorf("badgerstore: save: %d-byte value, limit %d: %w",
			len(value), s.maxValue, ErrValueTooLarge)
	}

	s.dropMu.RLock()
	defer s.dropMu.RUnlock()
	defer s.versions.lock(key)()
	txn := s.db.NewTransaction(true)
	defer txn.Discard()

	current, err := s.version(txn, key)
	if err != nil {
		return 0, fmt.Errorf("badgerstore: save: %w", mapErr(err))
	}
	if current != expected {
		return 0, store.ErrConflict
	}
	next := current + 1
	if err := txn.Set(key, encode(next, value)); err != nil {
		return 0, fmt.Errorf("badgerstore: save: %w", mapErr(err))
	}
	if s.beforeCommit != nil {
		s.beforeCommit()
	}
	if err := txn.Commit(); err != nil {
		s.versions.forget(key)
		return 0, commitErr("save", err)
	}
	s.versions.put(key, next)
	return next, nil
}

// Delete implements store.StateStore.
func (s *Store) Delete(ctx context.Context, key []byte, expected store.Version) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()

	s.dropMu.RLock()
	defer s.dropMu.RUnlock()
	defer s.versions.lock(key)()
	txn := s.db.NewTransaction(true)
	defer txn.Discard()

	current, err := s.version(txn, key)
	if err != nil {
		return fmt.Errorf("badgerstore: delete: %w", mapErr(err))
	}
	if current != expected {
		return store.ErrConflict
	}
	if current == 0 {
		return nil // absent and expected absent
	}
	if err := txn.Delete(key); err != nil {
		return fmt.Errorf("badgerstore: delete: %w", mapErr(err))
	}
	if s.beforeCommit != nil {
		s.beforeCommit()
	}
	if err := txn.Commit(); err != nil {
		s.versions.forget(key)
		return commitErr("delete", err)
	}
	s.versions.put(key, 0)
	return nil
}

// Scan implements store.StateStore. It reads one consistent snapshot, taken
// when the scan starts: writes made meanwhile, including by fn, are not seen.
func (s *Store) Scan(ctx context.Context, prefix, after []byte, fn func(store.Item) error) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()

	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	// Values are read one at a time rather than prefetched: most sit in
	// the LSM tree beside their keys (prefetching made BenchmarkScan1000
	// 2.5 times slower), and prefetching values kept in the value log
	// (1 MiB and up) would hold many of them in memory at once.
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()

	start := prefix
	if after != nil && bytes.Compare(after, prefix) >= 0 {
		// The smallest key strictly greater than after.
		start = append(bytes.Clone(after), 0)
	}
	n := 0
	for it.Seek(start); it.Valid(); it.Next() {
		if n%scanCheckEvery == 0 && n > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if s.closing() {
				return store.ErrClosed
			}
		}
		n++
		item := it.Item()
		var out store.Item
		err := item.Value(func(v []byte) error {
			var err error
			out.Version, out.Value, err = decode(v)
			return err
		})
		if err != nil {
			return fmt.Errorf("badgerstore: scan: %w", mapErr(err))
		}
		out.Key = item.KeyCopy(nil)
		if err := fn(out); err != nil {
			return err
		}
	}
	return nil
}

// DropTenant implements store.StateStore. It refuses an empty org or one
// containing '/', whose prefix would not be exactly one tenant's.
func (s *Store) DropTenant(ctx context.Context, org string) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	if org == "" || strings.Contains(org, "/") {
		return fmt.Errorf("badgerstore: drop tenant: invalid org %q", org)
	}

	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	err := s.db.DropPrefix(store.TenantPrefix(org))
	s.versions.clear() // whether or not the drop finished, versions may be gone
	if err != nil {
		return fmt.Errorf("badgerstore: drop tenant: %w", mapErr(err))
	}
	return nil
}

// Close implements store.StateStore. It waits for calls in progress, stops
// value-log GC and closes Badger. Later calls, including Close, wait for the
// first to finish and return nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.closeDone
		return nil
	}
	s.closed = true
	for s.active > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
	defer close(s.closeDone)

	close(s.stopGC)
	if s.gcDone != nil {
		<-s.gcDone
	}
	if s.pageOutDone != nil {
		<-s.pageOutDone
	}
	// Do synchronises with SignalLog(): a log created before Close is seen.
	s.logOnce.Do(func() {})
	if s.sigLog != nil {
		s.sigLog.release()
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("badgerstore: close: %w", err)
	}
	return nil
}

// every runs fn every interval until Close, or until fn returns false,
// then closes done.
func (s *Store) every(interval time.Duration, done chan struct{}, fn func() bool) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stopGC:
			return
		case <-t.C:
			if !fn() {
				return
			}
		}
	}
}

// pageOut pages out the table mappings; it stops the loop for good if the
// kernel does not support it.
func (s *Store) pageOut() bool {
	if _, err := pageOutTables(s.dir); err != nil {
		s.log.Warn("paging out table mappings failed; not trying again", "error", err)
		return false
	}
	return true
}

// runGC rewrites value-log files while Badger finds one at least half
// garbage; each call rewrites at most one file.
func (s *Store) runGC() {
	for {
		select {
		case <-s.stopGC:
			return
		default:
		}
		s.dropMu.RLock()
		err := s.db.RunValueLogGC(0.5)
		s.dropMu.RUnlock()
		if err == nil {
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			s.log.Warn("value log GC failed", "error", err)
		}
		return
	}
}

// currentVersion is the version of key as txn sees it, 0 if absent. The read
// puts key in txn's read set, so a concurrent write to it fails txn's commit.
// version is key's current version: the one this process last committed,
// else read in txn (so that Badger's conflict detection sees the read).
// The caller holds the key's stripe (versionCache.lock).
func (s *Store) version(txn *badger.Txn, key []byte) (store.Version, error) {
	if v, ok := s.versions.get(key); ok {
		return v, nil
	}
	return currentVersion(txn, key)
}

func currentVersion(txn *badger.Txn, key []byte) (store.Version, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var version store.Version
	err = item.Value(func(v []byte) error {
		if len(v) < headerSize {
			return errCorrupt
		}
		version = store.Version(binary.BigEndian.Uint64(v))
		return nil
	})
	return version, err
}

// encode builds a stored value: version header, then payload.
func encode(version store.Version, payload []byte) []byte {
	b := make([]byte, headerSize+len(payload))
	binary.BigEndian.PutUint64(b, uint64(version))
	copy(b[headerSize:], payload)
	return b
}

// decode splits a stored value, copying the payload out of Badger's buffer
// (which is only valid inside the transaction).
func decode(v []byte) (store.Version, []byte, error) {
	if len(v) < headerSize {
		return 0, nil, errCorrupt
	}
	return store.Version(binary.BigEndian.Uint64(v)), bytes.Clone(v[headerSize:]), nil
}

// commitErr maps a failed commit: a Badger conflict means another
// transaction wrote the key after we read its version.
func commitErr(op string, err error) error {
	if errors.Is(err, badger.ErrConflict) {
		return store.ErrConflict
	}
	return fmt.Errorf("badgerstore: %s: %w", op, mapErr(err))
}

// mapErr turns Badger's closed-database error into store.ErrClosed; others
// pass through. Errors never include keys: keys can hold personal data
// (an e-mail address in an identifier index, for instance).
func mapErr(err error) error {
	if errors.Is(err, badger.ErrDBClosed) {
		return store.ErrClosed
	}
	return err
}

// SaveBatch implements store.StateStore: one transaction, so all writes
// and deletes commit together or not at all.
func (s *Store) SaveBatch(ctx context.Context, writes []store.Write) ([]store.Version, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	if len(writes) == 0 {
		return nil, nil
	}
	s.dropMu.RLock()
	defer s.dropMu.RUnlock()
	keys := make([][]byte, len(writes))
	for i, w := range writes {
		keys[i] = w.Key
	}
	defer s.versions.lock(keys...)()
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	out := make([]store.Version, len(writes))
	// A key written twice in the batch: the second write sees the first
	// (the cache only knows committed versions).
	var inBatch map[string]store.Version
	if len(writes) > 1 {
		inBatch = make(map[string]store.Version, len(writes))
	}
	for i, w := range writes {
		if !w.Delete && s.maxValue > 0 && len(w.Value) > s.maxValue {
			return nil, fmt.Errorf("badgerstore: save batch: %d-byte value, limit %d: %w", len(w.Value), s.maxValue, ErrValueTooLarge)
		}
		cur, seen := inBatch[string(w.Key)]
		var err error
		if !seen {
			cur, err = s.version(txn, w.Key)
		}
		if err != nil {
			return nil, fmt.Errorf("badgerstore: save batch: %w", mapErr(err))
		}
		if w.Expected != store.AnyVersion && cur != w.Expected {
			return nil, store.ErrConflict
		}
		if w.Delete {
			if cur != 0 {
				if err := txn.Delete(w.Key); err != nil {
					return nil, fmt.Errorf("badgerstore: save batch: %w", mapErr(err))
				}
			}
			out[i] = 0
			if inBatch != nil {
				inBatch[string(w.Key)] = 0
			}
			continue
		}
		if err := txn.Set(w.Key, encode(cur+1, w.Value)); err != nil {
			return nil, fmt.Errorf("badgerstore: save batch: %w", mapErr(err))
		}
		out[i] = cur + 1
		if inBatch != nil {
			inBatch[string(w.Key)] = cur + 1
		}
	}
	if s.beforeCommit != nil {
		s.beforeCommit()
	}
	if err := txn.Commit(); err != nil {
		s.versions.forget(keys...)
		return nil, commitErr("save batch", err)
	}
	for i, w := range writes {
		s.versions.put(w.Key, out[i]) // in order: a key written twice keeps its last
	}
	return out, nil
}
