package badgerstore

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/trailspark/trailspark/store"
)

// dedupFilter lets appends skip the Badger point read of a dedup key that
// was certainly never written: almost every messageId is new, and each of
// those reads walks the memtables and the level-0 tables to find nothing
// (~17% of a node's CPU under batch ingestion). It is a Bloom filter of
// every dedup key written by this process, or found on disk when an
// organization's first append since start loaded its keys, in two
// generations rotated every dedupFilterPeriod: a key is in the filter for
// at least that long after it was added, and the log uses the filter only
// for dedup windows no longer than that, so a key the filter does not know
// has expired on disk too.
//
// "Not in the filter" is only trusted by the appender that then adds the
// key, under appendMu (see appendTxn): a concurrent appender of the same
// key finds it in the filter and reads it, so Badger's conflict detection
// still orders the two.
type dedupFilter struct {
	mu        sync.Mutex
	seed      maphash.Seed
	cur, prev []uint64 // bit sets of dedupFilterBits bits
	rotatedAt time.Time
	now       func() time.Time

	loadMu sync.Mutex // held while an organization's keys load
	loaded sync.Map   // organization → true once its stored keys are in the filter
}

const (
	// dedupFilterPeriod: see dedupFilter. The ingest path's window is 24 h.
	dedupFilterPeriod = 24 * time.Hour
	// dedupFilterBits per generation (4 MiB): with six probes, ~1% false
	// positives at 3 million keys a generation. More keys only raise the
	// false-positive rate, which costs reads, never correctness.
	dedupFilterBits  = 1 << 25
	dedupFilterProbe = 6
)

func newDedupFilter(now func() time.Time) *dedupFilter {
	// The bit sets are allocated by the first add (many stores, in tests
	// and tools, never append with a dedup key).
	return &dedupFilter{seed: maphash.MakeSeed(), rotatedAt: now(), now: now}
}

// usable reports whether keys written with this dedup window may be
// looked up in the filter.
func (f *dedupFilter) usable(window time.Duration) bool {
	return window > 0 && window <= dedupFilterPeriod
}

// probes derives the bit positions of key (double hashing).
func (f *dedupFilter) probes(key []byte) [dedupFilterProbe]uint32 {
	h := maphash.Bytes(f.seed, key)
	h1, h2 := uint32(h), uint32(h>>32)|1
	var p [dedupFilterProbe]uint32
	for i := range p {
		p[i] = (h1 + uint32(i)*h2) % dedupFilterBits
	}
	return p
}

func has(bits []uint64, p [dedupFilterProbe]uint32) bool {
	if bits == nil {
		return false
	}
	for _, b := range p {
		if bits[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// mayContain reports whether key may have been added.
func (f *dedupFilter) mayContain(key []byte) bool {
	p := f.probes(key)
	f.mu.Lock()
	defer f.mu.Unlock()
	return has(f.cur, p) || has(f.prev, p)
}

// add records keys in the current generation, rotating first when the
// current one is a period old.
func (f *dedupFilter) add(keys ...[]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := f.now(); now.Sub(f.rotatedAt) >= dedupFilterPeriod {
		f.prev, f.cur, f.rotatedAt = f.cur, nil, now
	}
	if f.cur == nil {
		f.cur = make([]uint64, dedupFilterBits/64)
	}
	for _, k := range keys {
		for _, b := range f.probes(k) {
			f.cur[b/64] |= 1 << (b % 64)
		}
	}
}

// ensureLoaded adds org's stored dedup keys to the filter once per
// process (keys written before a restart must still be found). Appends of
// the organization wait for it.
func (f *dedupFilter) ensureLoaded(db *badger.DB, org string) error {
	if _, ok := f.loaded.Load(org); ok {
		return nil // every append after the first: no lock
	}
	f.loadMu.Lock()
	defer f.loadMu.Unlock()
	if _, ok := f.loaded.Load(org); ok {
		return nil
	}
	prefix := append(store.TenantKey(org, "sd"), '/')
	err := db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = prefix
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			f.add(it.Item().Key())
		}
		return nil
	})
	if err != nil {
		return err
	}
	f.loaded.Store(org, true)
	return nil
}
