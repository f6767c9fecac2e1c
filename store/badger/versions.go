package badgerstore

import (
	"hash/maphash"
	"slices"
	"sync"

	"github.com/trailspark/trailspark/store"
)

// versionCache lets a compare-and-set skip reading the key's current
// version back from Badger when this process wrote the key last. Lead
// records are rewritten on every signal and their previous versions sit
// deep in the tree, so that read was ~16% of a node's CPU at a steady
// single-signal load.
//
// Skipping the read also skips Badger's conflict detection for the key
// (it only sees keys a transaction read), so every write of a key —
// Save, Delete, SaveBatch — holds the key's stripe lock from its version
// check to the end of its commit: two writers of one key are serialised
// here instead of being caught by Badger. Nothing else in the store
// writes these keys (the signal log has key families of its own), and
// DropTenant clears the cache under the exclusive drop lock.
type versionCache struct {
	seed   maphash.Seed
	locks  []sync.Mutex
	shards [versionShards]versionShard
}

type versionShard struct {
	mu sync.Mutex
	m  map[string]store.Version
}

const (
	// keyStripes: two flushes of 64 leads each share a stripe with a
	// probability of ~6%, so unrelated writes rarely wait for each other.
	keyStripes = 1 << 16
	// versionShards × versionShardCap bounds the cache (~260,000 keys,
	// ~30 MB); a full shard is emptied, which only costs reads.
	versionShards   = 64
	versionShardCap = 4096
)

func newVersionCache() *versionCache {
	c := &versionCache{seed: maphash.MakeSeed(), locks: make([]sync.Mutex, keyStripes)}
	for i := range c.shards {
		c.shards[i].m = map[string]store.Version{}
	}
	return c
}

func (c *versionCache) hash(key []byte) uint64 { return maphash.Bytes(c.seed, key) }

// lock takes the stripe locks of keys (in a fixed order, each once) and
// returns the function that releases them.
func (c *versionCache) lock(keys ...[]byte) func() {
	stripes := make([]uint32, 0, len(keys))
	for _, k := range keys {
		stripes = append(stripes, uint32(c.hash(k)%keyStripes))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, s := range stripes {
		c.locks[s].Lock()
	}
	return func() {
		for _, s := range stripes {
			c.locks[s].Unlock()
		}
	}
}

func (c *versionCache) shard(key []byte) *versionShard {
	return &c.shards[(c.hash(key)>>32)%versionShards]
}

// get returns the version this process last committed for key (0: it
// deleted it or found it absent). The caller holds the key's stripe.
func (c *versionCache) get(key []byte) (store.Version, bool) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := sh.m[string(key)]
	return v, ok
}

// put records a committed version. The caller holds the key's stripe.
func (c *versionCache) put(key []byte, v store.Version) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.m) >= versionShardCap {
		clear(sh.m)
	}
	sh.m[string(key)] = v
}

// forget drops keys whose write failed (the caller holds their stripes).
func (c *versionCache) forget(keys ...[]byte) {
	for _, k := range keys {
		sh := c.shard(k)
		sh.mu.Lock()
		delete(sh.m, string(k))
		sh.mu.Unlock()
	}
}

// clear forgets everything (after a tenant's keys were dropped).
func (c *versionCache) clear() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
}
