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

	// The filter is cache-line blocked: a key's hash picks one block of
	// dedupFilterBlockWords words (512 bits, one 64-byte cache line) and
	// all of its probes test or set bits of that block, so mayContain
	// touches one line per generation and add one, where probes spread
	// over the whole 4 MiB bit set cost a cache miss each.
	//
	// The probes are split: one bit in each of the block's eight words,
	// its position the next 6 hash bits. The 64-bit hash is spent exactly:
	// 16 bits pick one of 2^16 blocks, 8×6 bits the probes, so one hash per
	// key, with no second hash or derived positions. Eight probes: with the
	// block fixed, each probe is a word load and a mask, with no branch
	// between them; and at this size eight split probes do as well as the
	// best plain blocked filter.
	//
	// False positives at 3 million keys a generation (11.2 bits a key):
	// a block holds Poisson(λ = 3e6 / 2^16 ≈ 45.8) keys, and a block with j
	// keys answers yes for an absent key with probability
	// (1 − (1 − 1/64)^j)^8, so the rate is
	// Σ_j Poisson(j; λ)·(1 − (1 − 1/64)^j)^8 ≈ 0.60% a generation
	// (mayContain checks two: ≈ 1.2% when both are full). For comparison,
	// the standard blocked-Bloom approximation, 512-bit blocks and k
	// probes anywhere in the block, Σ_j Poisson(j; λ)·(1 − (1 − 1/512)^(kj))^k,
	// gives 0.60% for k = 6, 0.57% for k = 7 (the best), 0.58% for k = 8,
	// and the unblocked filter this one replaced (1 − e^(−6n/m))^6 = 0.51%.
	// More keys only raise the false-positive rate, which costs reads,
	// never correctness.
	dedupFilterBlockHashBits = 16
	dedupFilterBlockWords    = 8
	dedupFilterBlocks        = 1 << dedupFilterBlockHashBits
	// dedupFilterBits per generation: 2^25 bits, 4 MiB.
	dedupFilterBits  = dedupFilterBlocks * dedupFilterBlockWords * 64
	dedupFilterProbe = dedupFilterBlockWords // one bit a word
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

// dedupProbes is where a key's bits are, in either generation: the first
// word of its block and the bit to find in each of the block's words.
type dedupProbes struct {
	word uint32
	mask [dedupFilterProbe]uint64
}

// probes hashes key once (mayContain checks both generations with it).
func (f *dedupFilter) probes(key []byte) dedupProbes {
	h := maphash.Bytes(f.seed, key)
	p := dedupProbes{word: uint32(h>>(64-dedupFilterBlockHashBits)) * dedupFilterBlockWords}
	for i := range p.mask {
		p.mask[i] = 1 << (h >> (6 * i) & 63)
	}
	return p
}

// block is p's block of bits: 8 words starting at a multiple of 8 words
// from the slice's start. make aligns a []uint64 to only 8 bytes, which
// is enough for the blocking to pay: 64 contiguous bytes span at most two
// cache lines wherever they start. In practice they span one: the runtime
// gives an object larger than 32 KiB (a bit set is 4 MiB) its own run of
// pages, so the slice starts on a page boundary and every block on a line.
func (p *dedupProbes) block(bits []uint64) *[dedupFilterBlockWords]uint64 {
	return (*[dedupFilterBlockWords]uint64)(bits[p.word : p.word+dedupFilterBlockWords])
}

func has(bits []uint64, p *dedupProbes) bool {
	if bits == nil {
		return false
	}
	b := p.block(bits)
	var missing uint64
	for i, m := range p.mask {
		missing |= m &^ b[i]
	}
	return missing == 0
}

// mayContain reports whether key may have been added.
func (f *dedupFilter) mayContain(key []byte) bool {
	p := f.probes(key)
	f.mu.Lock()
	defer f.mu.Unlock()
	return has(f.cur, &p) || has(f.prev, &p)
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
		p := f.probes(k)
		b := p.block(f.cur)
		for i, m := range p.mask {
			b[i] |= m
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
