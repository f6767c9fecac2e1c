package badgerstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/trailspark/trailspark/store"
)

// The signal log lives in the same Badger database as the state, under the
// tenant's prefix (so DropTenant removes it), with the same 8-byte header
// on every value so state scans can read any key:
//
//	o/{org}/sl/{pp}/{id}        entry: the encoded signal (partition pp, 2 hex)
//	o/{org}/si/{id}             partition of id (entries from before ids carried it; see idPartitionBits)
//	o/{org}/sd/{sha256(key)}    id of the first record with a dedup key (TTL = window)
//	o/{org}/sc/{pp}             partition cursor
//	o/{org}/ss/{id}             processing status (JSON)
//	o/{org}/cold/{sha256(anon)}/{id}  cold-stored anonymous entry (TTL = retention)
//
// ids are 16 hex digits so lexical order is numeric order.

// seqKey holds the deployment-wide signal id sequence (outside o/ and g/).
var seqKey = []byte("x/seq/signals")

type signalLog struct {
	s *Store
	// appendMu orders appends: ids are taken from the sequence and the
	// transaction is handed to Badger's write channel (which fixes its
	// commit timestamp) under it, so ids and commit timestamps grow
	// together. Badger makes commits visible in commit-timestamp order, so
	// an entry never becomes visible after one with a greater id and a
	// reader following a partition from a cursor cannot skip it. Waiting
	// for the write happens outside the lock, so concurrent appends still
	// share one write (and one sync).
	appendMu sync.Mutex
	seq      *badger.Sequence
	dedup    *dedupFilter

	// backlog remembers each partition's last count so Backlog scans only
	// what changed since (entries processed and entries appended), not the
	// whole backlog: stats are polled while hundreds of thousands wait.
	backlogMu  sync.Mutex
	backlog    map[string]*[store.Partitions]backlogMemo
	backlogGen uint64 // bumped by Purge: memos counted before it are void
}

// backlogMemo: n entries of the partition have ids in (cursor, ∞), and the
// greatest id seen was seen. Ids become visible in order (see appendMu), so
// no entry with an id at most seen can appear later.
type backlogMemo struct {
	valid        bool
	cursor, seen uint64
	n            int
}

// maxAttempts bounds the retries of a transaction that lost a conflict.
const maxAttempts = 10

// SignalLog returns the store's signal log.
func (s *Store) SignalLog() store.SignalLog {
	s.logOnce.Do(func() { s.sigLog = &signalLog{s: s, dedup: newDedupFilter(time.Now)} })
	return s.sigLog
}

func idHex(id uint64) string { return string(appendIDHex(nil, id)) }

func partHex(p int) string { return fmt.Sprintf("%02x", p) }

// appendIDHex appends id as 16 hex digits (what %016x writes; every
// appended signal's keys carry one, and fmt was ~3% of batch ingestion).
func appendIDHex(b []byte, id uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[(id>>uint(shift))&0xf])
	}
	return b
}

// entryKey is o/{org}/sl/{pp}/{id}, built in one allocation.
func entryKey(org string, p int, id uint64) []byte {
	const digits = "0123456789abcdef"
	k := make([]byte, 0, len("o/")+len(org)+len("/sl/00/")+16)
	k = append(append(append(k, "o/"...), org...), "/sl/"...)
	k = append(k, digits[(p>>4)&0xf], digits[p&0xf], '/')
	return appendIDHex(k, id)
}

func hashKey(s string) string {
	h := hash16(s)
	return hex.EncodeToString(h[:])
}

// hash16 is the first 16 bytes of s's SHA-256: keys name what callers
// give (messageIds, anonymous ids) by it, fixed-length and opaque.
func hash16(s string) [16]byte {
	sum := sha256.Sum256([]byte(s))
	return [16]byte(sum[:16])
}

// dedupKey is o/{org}/sd/{hashKey(key)}, built in one allocation (every
// signal with a messageId needs one); it also returns the hash, which
// tells repeats within one append apart without a string per key.
func dedupKey(org, key string) ([]byte, [16]byte) {
	h := hash16(key)
	k := make([]byte, 0, len("o/")+len(org)+len("/sd/")+hex.EncodedLen(len(h)))
	k = append(append(append(k, "o/"...), org...), "/sd/"...)
	return hex.AppendEncode(k, h[:]), h
}

// An id carries its partition in its low bits (id = sequence number <<
// idPartitionBits | partition), so Get finds an entry without an index.
// Sequence numbers grow, so ids still grow in append order. Entries
// appended before this layout have sequential ids and an o/{org}/si/{id}
// key naming their partition, which Get falls back to.
const idPartitionBits = 4

var _ [1 << idPartitionBits]struct{} = [store.Partitions]struct{}{} // the partition fits

// nextIDs returns n new sequence numbers. The caller holds appendMu.
func (l *signalLog) nextIDs(n int) ([]uint64, error) {
	if l.seq == nil {
		seq, err := l.s.db.GetSequence(seqKey, 10000)
		if err != nil {
			return nil, err
		}
		l.seq = seq
	}
	ids := make([]uint64, n)
	for i := range ids {
		v, err := l.seq.Next()
		if err != nil {
			return nil, err
		}
		ids[i] = v + 1 // ids start at 1: 0 means "before everything"
	}
	return ids, nil
}

// release returns unused leased ids (called by Close).
func (l *signalLog) release() {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.seq != nil {
		_ = l.seq.Release()
		l.seq = nil
	}
}

// Append implements store.SignalLog. Concurrent appends commit as separate
// transactions; Badger batches concurrent commits into one write (and one
// sync with SyncWrites), which is the group commit the ingest path needs.
// A batch too big for one transaction is split; each part is atomic, and
// an error may leave earlier parts stored (a retry with the same dedup keys
// then finds them).
func (l *signalLog) Append(ctx context.Context, org string, recs []store.LogRecord, window time.Duration) ([]store.Appended, error) {
	if err := l.s.enter(ctx); err != nil {
		return nil, err
	}
	defer l.s.leave()
	if len(recs) == 0 {
		return nil, nil
	}
	for _, r := range recs {
		if r.Partition < 0 || r.Partition >= store.Partitions {
			return nil, fmt.Errorf("badgerstore: append: partition %d out of range", r.Partition)
		}
	}
	return l.appendSplit(org, recs, window)
}

// appendSplit appends recs in one transaction, or in halves if they do not
// fit in one.
func (l *signalLog) appendSplit(org string, recs []store.LogRecord, window time.Duration) ([]store.Appended, error) {
	for attempt := 1; ; attempt++ {
		out, err := l.appendTxn(org, recs, window)
		switch {
		case errors.Is(err, badger.ErrTxnTooBig) && len(recs) > 1:
			// The halves go in order, so the second sees the dedup
			// keys of the first and gets greater ids.
			half := len(recs) / 2
			a, err := l.appendSplit(org, recs[:half], window)
			if err != nil {
				return nil, err
			}
			b, err := l.appendSplit(org, recs[half:], window)
			if err != nil {
				return nil, err
			}
			return append(a, b...), nil
		case errors.Is(err, badger.ErrConflict) && attempt < maxAttempts:
			continue // a concurrent append claimed one of our dedup keys: re-read
		case err != nil:
			return nil, fmt.Errorf("badgerstore: append: %w", mapErr(err))
		}
		return out, nil
	}
}

// appendTxn appends recs in one transaction: it looks up their dedup keys,
// then, under appendMu, takes ids for the new records, writes them and hands
// the transaction to Badger; it waits for the write after releasing the lock.
func (l *signalLog) appendTxn(org string, recs []store.LogRecord, window time.Duration) ([]store.Appended, error) {
	l.s.dropMu.RLock()
	defer l.s.dropMu.RUnlock()
	txn := l.s.db.NewTransaction(true)
	defer txn.Discard()

	filtered := l.dedup != nil && l.dedup.usable(window)
	if filtered {
		if err := l.dedup.ensureLoaded(l.s.db, org); err != nil {
			return nil, err
		}
	}
	out := make([]store.Appended, len(recs))
	dks := make([][]byte, len(recs))  // dedup key of each new record with one
	dupOf := make([]int, len(recs))   // for a repeat within recs: index of the first, else -1
	unread := make([]bool, len(recs)) // dedup key not read: the filter says it was never written
	firstIn := map[[16]byte]int{}     // dedup key's hash → index of its new record in recs
	fresh := 0
	for i, r := range recs {
		dupOf[i] = -1
		if r.DedupKey == "" {
			fresh++
			continue
		}
		dk, h := dedupKey(org, r.DedupKey)
		if j, ok := firstIn[h]; ok {
			dupOf[i] = j
			continue
		}
		firstIn[h] = i
		if filtered && !l.dedup.mayContain(dk) {
			unread[i], dks[i] = true, dk // confirmed under appendMu below
			fresh++
			continue
		}
		first, found, err := readDedupKey(txn, dk)
		if err != nil {
			return nil, err
		}
		if found {
			out[i] = store.Appended{ID: first, Duplicate: true}
			continue
		}
		dks[i] = dk
		fresh++
	}
	// A repeat within recs answers as its first occurrence, once that has
	// its answer.
	answerRepeats := func() []store.Appended {
		for i, j := range dupOf {
			if j >= 0 {
				out[i] = store.Appended{ID: out[j].ID, Duplicate: true}
			}
		}
		return out
	}
	if fresh == 0 { // all repeats: nothing to write
		return answerRepeats(), nil
	}

	done := make(chan error, 1)
	err := func() error {
		l.appendMu.Lock()
		defer l.appendMu.Unlock()
		// A key the filter did not know may have been added by another
		// append since (they add under this lock): read it now, so that
		// Badger's conflict detection orders this append after that one.
		for i, dk := range dks {
			if !unread[i] || !l.dedup.mayContain(dk) {
				continue
			}
			first, found, err := readDedupKey(txn, dk)
			if err != nil {
				return err
			}
			if found {
				out[i], dks[i] = store.Appended{ID: first, Duplicate: true}, nil
				fresh--
			}
		}
		ids, err := l.nextIDs(fresh)
		if err != nil {
			return err
		}
		// The new values live in one buffer (one allocation per append,
		// not one or two per record).
		size := 0
		for i, r := range recs {
			if !out[i].Duplicate && dupOf[i] < 0 {
				size += 2*headerSize + 8 + len(r.Data)
			}
		}
		vals := make([]byte, 0, size)
		value := func(data []byte) []byte { // encode(1, data) into vals
			start := len(vals)
			vals = append(binary.BigEndian.AppendUint64(vals, 1), data...)
			return vals[start:len(vals):len(vals)]
		}
		var idBuf [8]byte
		n := 0
		for i, r := range recs {
			if out[i].Duplicate || dupOf[i] >= 0 {
				continue
			}
			id := ids[n]<<idPartitionBits | uint64(r.Partition)
			n++
			if dks[i] != nil {
				binary.BigEndian.PutUint64(idBuf[:], id)
				e := badger.NewEntry(dks[i], value(idBuf[:]))
				if window > 0 {
					e = e.WithTTL(window)
				}
				if err := txn.SetEntry(e); err != nil {
					return err
				}
			}
			if err := txn.Set(entryKey(org, r.Partition, id), value(r.Data)); err != nil {
				return err
			}
			out[i] = store.Appended{ID: id}
		}
		if filtered {
			var written [][]byte
			for _, dk := range dks {
				if dk != nil {
					written = append(written, dk)
				}
			}
			l.dedup.add(written...)
		}
		// CommitWith assigns the commit timestamp and queues the write
		// before it returns; the callback reports the write's outcome.
		txn.CommitWith(func(err error) { done <- err })
		return nil
	}()
	if err != nil {
		return nil, err
	}
	if err := <-done; err != nil {
		return nil, err
	}
	return answerRepeats(), nil
}

// Duplicates implements store.SignalLog with one read of each key (no
// filter: this is the rare path of a refused request).
func (l *signalLog) Duplicates(ctx context.Context, org string, keys []string) ([]uint64, error) {
	if err := l.s.enter(ctx); err != nil {
		return nil, err
	}
	defer l.s.leave()
	out := make([]uint64, len(keys))
	err := l.s.db.View(func(txn *badger.Txn) error {
		for i, k := range keys {
			if k == "" {
				continue
			}
			dk, _ := dedupKey(org, k)
			first, found, err := readDedupKey(txn, dk)
			if err != nil {
				return err
			}
			if found {
				out[i] = first
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("badgerstore: duplicates: %w", mapErr(err))
	}
	return out, nil
}

// readDedupKey reads a dedup key: the id of the first record appended with
// it, if it is there.
func readDedupKey(txn *badger.Txn, dk []byte) (uint64, bool, error) {
	item, err := txn.Get(dk)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	var first uint64
	err = item.Value(func(v []byte) error {
		if len(v) < headerSize+8 {
			return errCorrupt
		}
		first = binary.BigEndian.Uint64(v[headerSize:])
		return nil
	})
	return first, err == nil, err
}

// ReadPartition implements store.SignalLog.
func (l *signalLog) ReadPartition(ctx context.Context, org string, p int, after uint64, max int) ([]store.LogEntry, error) {
	if err := l.s.enter(ctx); err != nil {
		return nil, err
	}
	defer l.s.leave()
	if after == math.MaxUint64 || max <= 0 {
		return nil, nil // nothing can follow (after+1 would wrap to 0)
	}
	prefix := append(store.TenantKey(org, "sl", partHex(p)), '/')
	var out []store.LogEntry
	err := l.s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		start := append(append([]byte(nil), prefix...), idHex(after+1)...)
		for it.Seek(start); it.ValidForPrefix(prefix) && len(out) < max; it.Next() {
			item := it.Item()
			id, err := strconv.ParseUint(string(item.Key()[len(prefix):]), 16, 64)
			if err != nil {
				return errCorrupt
			}
			var data []byte
			if err := item.Value(func(v []byte) error {
				_, data, err = decode(v)
				return err
			}); err != nil {
				return err
			}
			out = append(out, store.LogEntry{ID: id, Partition: p, Data: data})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("badgerstore: read partition: %w", mapErr(err))
	}
	return out, nil
}

// Get implements store.SignalLog.
func (l *signalLog) Get(ctx context.Context, org string, id uint64) (store.LogEntry, error) {
	if err := l.s.enter(ctx); err != nil {
		return store.LogEntry{}, err
	}
	defer l.s.leave()
	var e store.LogEntry
	err := l.s.db.View(func(txn *badger.Txn) error {
		part := int(id & (1<<idPartitionBits - 1))
		if item, err := txn.Get(entryKey(org, part, id)); err == nil {
			e = store.LogEntry{ID: id, Partition: part}
			return item.Value(func(v []byte) error { _, e.Data, err = decode(v); return err })
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		// An entry from before ids carried their partition.
		p, err := oldPartition(txn, org, id)
		if err != nil {
			return err
		}
		if p < 0 {
			return badger.ErrKeyNotFound
		}
		item, err := txn.Get(entryKey(org, p, id))
		if err != nil {
			return err
		}
		e = store.LogEntry{ID: id, Partition: p}
		return item.Value(func(v []byte) error { _, e.Data, err = decode(v); return err })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return store.LogEntry{}, store.ErrNotFound
	}
	if err != nil {
		return store.LogEntry{}, fmt.Errorf("badgerstore: get signal: %w", mapErr(err))
	}
	return e, nil
}

// Cursor implements store.SignalLog.
func (l *signalLog) Cursor(ctx context.Context, org string, p int) (uint64, error) {
	b, _, err := l.s.Load(ctx, store.TenantKey(org, "sc", partHex(p)))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, errCorrupt
	}
	return binary.BigEndian.Uint64(b), nil
}

// readCursor reads a partition cursor's key ck in txn (0 when absent).
func readCursor(txn *badger.Txn, ck []byte) (uint64, error) {
	item, err := txn.Get(ck)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var cur uint64
	err = item.Value(func(v []byte) error {
		if len(v) != headerSize+8 {
			return errCorrupt
		}
		cur = binary.BigEndian.Uint64(v[headerSize:])
		return nil
	})
	return cur, err
}

// Commit implements store.SignalLog.
func (l *signalLog) Commit(ctx context.Context, org string, p int, cursor uint64, statuses []store.SignalStatus) error {
	if err := l.s.enter(ctx); err != nil {
		return err
	}
	defer l.s.leave()
	l.s.dropMu.RLock()
	defer l.s.dropMu.RUnlock()
	for attempt := 0; ; attempt++ {
		err := l.s.db.Update(func(txn *badger.Txn) error {
			ck := store.TenantKey(org, "sc", partHex(p))
			cur, err := readCursor(txn, ck)
			if err != nil {
				return err
			}
			if cursor > cur {
				var b [8]byte
				binary.BigEndian.PutUint64(b[:], cursor)
				if err := txn.Set(ck, encode(1, b[:])); err != nil {
					return err
				}
			}
			for _, st := range statuses {
				if err := txn.Set(store.TenantKey(org, "ss", idHex(st.ID)), encode(1, encodeStatus(st))); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, badger.ErrConflict) && attempt < 10 {
			continue
		}
		if err != nil {
			return fmt.Errorf("badgerstore: commit: %w", mapErr(err))
		}
		return nil
	}
}

// Status implements store.SignalLog.
func (l *signalLog) Status(ctx context.Context, org string, id uint64) (store.SignalStatus, error) {
	b, _, err := l.s.Load(ctx, store.TenantKey(org, "ss", idHex(id)))
	if err != nil {
		return store.SignalStatus{}, err
	}
	st, err := decodeStatus(b)
	if err != nil {
		return store.SignalStatus{}, fmt.Errorf("badgerstore: status: %w", err)
	}
	return st, nil
}

// ScanStatuses implements store.SignalLog.
func (l *signalLog) ScanStatuses(ctx context.Context, org string, after uint64, fn func(store.SignalStatus) (bool, error)) error {
	prefix := append(store.TenantKey(org, "ss"), '/')
	var afterKey []byte
	if after > 0 {
		afterKey = append(append([]byte(nil), prefix...), idHex(after)...)
	}
	errStop := errors.New("stop")
	err := l.s.Scan(ctx, prefix, afterKey, func(it store.Item) error {
		st, err := decodeStatus(it.Value)
		if err != nil {
			return err
		}
		more, err := fn(st)
		if err != nil {
			return err
		}
		if !more {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// PutCold implements store.SignalLog.
func (l *signalLog) PutCold(ctx context.Context, org, anonKey string, e store.LogEntry, retention time.Duration) error {
	if err := l.s.enter(ctx); err != nil {
		return err
	}
	defer l.s.leave()
	l.s.dropMu.RLock()
	defer l.s.dropMu.RUnlock()
	val := append([]byte{byte(e.Partition)}, e.Data...)
	ent := badger.NewEntry(store.TenantKey(org, "cold", hashKey(anonKey), idHex(e.ID)), encode(1, val))
	if retention > 0 {
		ent = ent.WithTTL(retention)
	}
	err := l.s.db.Update(func(txn *badger.Txn) error { return txn.SetEntry(ent) })
	if err != nil {
		return fmt.Errorf("badgerstore: put cold: %w", mapErr(err))
	}
	return nil
}

// TakeCold implements store.SignalLog. Of concurrent takes of one key each
// entry goes to one: the others' transactions conflict, and their retry no
// longer sees it.
func (l *signalLog) TakeCold(ctx context.Context, org, anonKey string) ([]store.LogEntry, error) {
	if err := l.s.enter(ctx); err != nil {
		return nil, err
	}
	defer l.s.leave()
	l.s.dropMu.RLock()
	defer l.s.dropMu.RUnlock()
	prefix := append(store.TenantKey(org, "cold", hashKey(anonKey)), '/')
	for attempt := 1; ; attempt++ {
		out, err := l.takeCold(prefix)
		if errors.Is(err, badger.ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("badgerstore: take cold: %w", mapErr(err))
		}
		return out, nil
	}
}

func (l *signalLog) takeCold(prefix []byte) ([]store.LogEntry, error) {
	var out []store.LogEntry
	err := l.s.db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		var keys [][]byte
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			id, err := strconv.ParseUint(string(item.Key()[len(prefix):]), 16, 64)
			if err != nil {
				it.Close()
				return errCorrupt
			}
			var val []byte
			if err := item.Value(func(v []byte) error { _, val, err = decode(v); return err }); err != nil {
				it.Close()
				return err
			}
			if len(val) < 1 {
				it.Close()
				return errCorrupt
			}
			out = append(out, store.LogEntry{ID: id, Partition: int(val[0]), Data: val[1:]})
			keys = append(keys, item.KeyCopy(nil))
		}
		it.Close()
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Backlog implements store.SignalLog: per partition, the entries after its
// cursor. A partition's count is remembered and brought up to date with
// key-only scans of what changed: the entries processed since (from the old
// cursor to the new) and the entries appended since (after the greatest id
// seen). A cursor that went back (the tenant was dropped) or a Purge in
// between starts the count afresh.
func (l *signalLog) Backlog(ctx context.Context, org string) (int, error) {
	total := 0
	for p := 0; p < store.Partitions; p++ {
		cur, err := l.Cursor(ctx, org, p)
		if err != nil {
			return 0, err
		}
		l.backlogMu.Lock()
		gen := l.backlogGen
		var m backlogMemo
		if ms := l.backlog[org]; ms != nil {
			m = ms[p]
		}
		l.backlogMu.Unlock()
		if m.valid && cur < m.cursor {
			m.valid = false
		}
		next, err := l.countBacklog(ctx, org, p, cur, m)
		if err == nil && next.n < 0 { // cannot happen while the invariants hold: recount
			next, err = l.countBacklog(ctx, org, p, cur, backlogMemo{})
		}
		if err != nil {
			return 0, err
		}
		l.backlogMu.Lock()
		if l.backlogGen == gen {
			if l.backlog == nil {
				l.backlog = map[string]*[store.Partitions]backlogMemo{}
			}
			ms := l.backlog[org]
			if ms == nil {
				ms = new([store.Partitions]backlogMemo)
				l.backlog[org] = ms
			}
			ms[p] = next
		}
		l.backlogMu.Unlock()
		total += next.n
	}
	return total, nil
}

// countBacklog brings partition p's memo m up to date with cursor cur (a
// fresh count when m is not valid).
func (l *signalLog) countBacklog(ctx context.Context, org string, p int, cur uint64, m backlogMemo) (backlogMemo, error) {
	if err := l.s.enter(ctx); err != nil {
		return backlogMemo{}, err
	}
	prefix := append(store.TenantKey(org, "sl", partHex(p)), '/')
	next := backlogMemo{valid: true, cursor: cur, seen: cur}
	err := l.s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		from := cur // count entries after from
		if m.valid {
			next.n, next.seen = m.n, max(m.seen, cur)
			// Processed since: the remembered entries up to the new cursor.
			stop := min(cur, m.seen)
			for it.Seek(append(append([]byte(nil), prefix...), idHex(m.cursor+1)...)); it.ValidForPrefix(prefix); it.Next() {
				id, err := strconv.ParseUint(string(it.Item().Key()[len(prefix):]), 16, 64)
				if err != nil {
					return errCorrupt
				}
				if id > stop {
					break
				}
				next.n--
			}
			from = next.seen
		}
		// Appended since (or everything, for a fresh count).
		for it.Seek(append(append([]byte(nil), prefix...), idHex(from+1)...)); it.ValidForPrefix(prefix); it.Next() {
			next.n++
			if id, err := strconv.ParseUint(string(it.Item().Key()[len(prefix):]), 16, 64); err == nil {
				next.seen = max(next.seen, id)
			} else {
				return errCorrupt
			}
		}
		return nil
	})
	l.s.leave()
	if err != nil {
		return backlogMemo{}, fmt.Errorf("badgerstore: backlog: %w", mapErr(err))
	}
	return next, nil
}

// Counts implements store.SignalLog in one read transaction: the
// cursors, the backlog above them and the statuses are one snapshot
// (Commit writes a partition's statuses and cursor together).
//
// A status belongs to a backlog entry when its id is above its
// partition's cursor. The partition is the id's low bits, except for
// entries from before ids carried it: their ids are all below the first
// id of that layout, so an id at most the greatest with an si key is
// looked up there.
func (l *signalLog) Counts(ctx context.Context, org string, maxStatuses int) (store.SignalCounts, error) {
	if err := l.s.enter(ctx); err != nil {
		return store.SignalCounts{}, err
	}
	defer l.s.leave()
	out := store.SignalCounts{ByStatus: map[string]int{}}
	err := l.s.db.View(func(txn *badger.Txn) error {
		var cursors [store.Partitions]uint64
		for p := range cursors {
			cur, err := readCursor(txn, store.TenantKey(org, "sc", partHex(p)))
			if err != nil {
				return err
			}
			cursors[p] = cur
		}
		oldMax, err := greatestOldID(txn, org)
		if err != nil {
			return err
		}
		for p, cur := range cursors {
			prefix := append(store.TenantKey(org, "sl", partHex(p)), '/')
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
			for it.Seek(append(append([]byte(nil), prefix...), idHex(cur+1)...)); it.ValidForPrefix(prefix); it.Next() {
				out.Backlog++
			}
			it.Close()
		}
		prefix := append(store.TenantKey(org, "ss"), '/')
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		n := 0
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			if maxStatuses > 0 && n == maxStatuses {
				out.Truncated = true
				break
			}
			n++
			var st store.SignalStatus
			if err := it.Item().Value(func(v []byte) error {
				if len(v) < headerSize {
					return errCorrupt
				}
				var err error
				st, err = decodeStatus(v[headerSize:]) // copies what it keeps
				return err
			}); err != nil {
				return err
			}
			out.ByStatus[st.Status]++
			p := int(st.ID & (1<<idPartitionBits - 1))
			if st.ID <= oldMax {
				if p, err = oldPartition(txn, org, st.ID); err != nil {
					return err
				}
			}
			if p >= 0 && st.ID > cursors[p] {
				out.Retrying++
			}
		}
		return nil
	})
	if err != nil {
		return store.SignalCounts{}, fmt.Errorf("badgerstore: counts: %w", mapErr(err))
	}
	return out, nil
}

// greatestOldID is the greatest id with an o/{org}/si key (an entry from
// before ids carried their partition), 0 when there is none.
func greatestOldID(txn *badger.Txn, org string) (uint64, error) {
	prefix := append(store.TenantKey(org, "si"), '/')
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true})
	defer it.Close()
	it.Seek(append(append([]byte(nil), prefix...), 0xff))
	if !it.ValidForPrefix(prefix) {
		return 0, nil
	}
	id, err := strconv.ParseUint(string(it.Item().Key()[len(prefix):]), 16, 64)
	if err != nil {
		return 0, errCorrupt
	}
	return id, nil
}

// oldPartition is the partition its si key names for an old-layout id,
// -1 when it has none (the entry was purged, or the id is not old).
func oldPartition(txn *badger.Txn, org string, id uint64) (int, error) {
	item, err := txn.Get(store.TenantKey(org, "si", idHex(id)))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	var part []byte
	if err := item.Value(func(v []byte) error { _, part, err = decode(v); return err }); err != nil {
		return 0, err
	}
	if len(part) != 1 || int(part[0]) >= store.Partitions {
		return 0, errCorrupt
	}
	return int(part[0]), nil
}

// forgetBacklogs voids every remembered backlog count (Purge deletes
// entries, which the incremental count would not see).
func (l *signalLog) forgetBacklogs() {
	l.backlogMu.Lock()
	l.backlogGen++
	l.backlog = nil
	l.backlogMu.Unlock()
}

// ReadCold implements store.SignalLog.
func (l *signalLog) ReadCold(ctx context.Context, org, anonKey string) ([]store.LogEntry, error) {
	if err := l.s.enter(ctx); err != nil {
		return nil, err
	}
	defer l.s.leave()
	prefix := append(store.TenantKey(org, "cold", hashKey(anonKey)), '/')
	var out []store.LogEntry
	err := l.s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			id, err := strconv.ParseUint(string(item.Key()[len(prefix):]), 16, 64)
			if err != nil {
				return errCorrupt
			}
			var val []byte
			if err := item.Value(func(v []byte) error { _, val, err = decode(v); return err }); err != nil {
				return err
			}
			if len(val) < 1 {
				return errCorrupt
			}
			out = append(out, store.LogEntry{ID: id, Partition: int(val[0]), Data: val[1:]})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("badgerstore: read cold: %w", mapErr(err))
	}
	return out, nil
}

// DeleteCold implements store.SignalLog.
func (l *signalLog) DeleteCold(ctx context.Context, org, anonKey string, ids []uint64) error {
	if err := l.s.enter(ctx); err != nil {
		return err
	}
	defer l.s.leave()
	l.s.dropMu.RLock()
	defer l.s.dropMu.RUnlock()
	h := hashKey(anonKey)
	err := l.s.db.Update(func(txn *badger.Txn) error {
		for _, id := range ids {
			if err := txn.Delete(store.TenantKey(org, "cold", h, idHex(id))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("badgerstore: delete cold: %w", mapErr(err))
	}
	return nil
}

// purgeBatch bounds the entries one Purge call deletes (three keys each:
// the entry, its id index and its status).
const purgeBatch = 1000

// Purge implements store.SignalLog. The cursor is read first: it only
// moves forward, so a stale read only purges less. The entries are found
// and deleted in one transaction; concurrent purges of a partition
// conflict on the keys they both read, and the retry finds them gone, so
// each entry is counted once.
func (l *signalLog) Purge(ctx context.Context, org string, p int, upto uint64) (int, error) {
	if p < 0 || p >= store.Partitions {
		return 0, fmt.Errorf("badgerstore: purge: partition %d out of range", p)
	}
	cur, err := l.Cursor(ctx, org, p)
	if err != nil {
		return 0, err
	}
	limit := min(upto, cur)
	if limit == 0 {
		return 0, nil
	}
	if err := l.s.enter(ctx); err != nil {
		return 0, err
	}
	defer l.s.leave()
	l.forgetBacklogs()
	defer l.forgetBacklogs()
	l.s.dropMu.RLock()
	defer l.s.dropMu.RUnlock()
	batch := purgeBatch
	for attempt := 1; ; attempt++ {
		n, err := l.purgeTxn(org, p, limit, batch)
		switch {
		case errors.Is(err, badger.ErrTxnTooBig) && batch > 1:
			batch /= 2
			continue
		case errors.Is(err, badger.ErrConflict) && attempt < maxAttempts:
			continue
		case err != nil:
			return 0, fmt.Errorf("badgerstore: purge: %w", mapErr(err))
		}
		return n, nil
	}
}

// purgeTxn deletes up to batch entries of partition p with ids at most limit.
func (l *signalLog) purgeTxn(org string, p int, limit uint64, batch int) (int, error) {
	prefix := append(store.TenantKey(org, "sl", partHex(p)), '/')
	n := 0
	err := l.s.db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		var ids []uint64
		for it.Rewind(); it.ValidForPrefix(prefix) && len(ids) < batch; it.Next() {
			id, err := strconv.ParseUint(string(it.Item().Key()[len(prefix):]), 16, 64)
			if err != nil {
				it.Close()
				return errCorrupt
			}
			if id > limit {
				break
			}
			ids = append(ids, id)
		}
		it.Close()
		for _, id := range ids {
			for _, k := range [][]byte{entryKey(org, p, id), store.TenantKey(org, "si", idHex(id)), store.TenantKey(org, "ss", idHex(id))} {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
		}
		n = len(ids)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
