package actors

import (
	"hash/maphash"
	"sync"

	"github.com/trailspark/trailspark/store"
)

// domainCache remembers domain → accounts answers for every partition of
// every organization on this node. Each partition meets all of its
// organization's domains and a miss is a prefix scan of the store, so
// per-partition caches scanned a domain up to 16 times: at 200,000 people
// in 20,000 accounts, those scans were a fifth of processing while the
// caches warmed. One bound for the node also keeps the memory bounded
// however many organizations are active.
//
// An answer is valid for the domain epoch (keyDomainEpoch's version) it
// was read under: a processor uses only answers of the epoch it saw at the
// start of its step, so an account indexed outside processing is seen by
// every partition's next step. Absence is never cached (processing may
// infer an account for the domain next).
type domainCache struct {
	seed   maphash.Seed
	once   sync.Once
	shards [domainShards]domainShard
}

const domainShards = 16

type domainShard struct {
	mu  sync.Mutex
	lru *lru[domainKey, cachedDomain]
}

type domainKey struct{ org, domain string }

type cachedDomain struct {
	accounts []string
	epoch    store.Version
}

// domainCacheSize bounds the node's entries (~150 bytes each): all the
// domains of 200,000 people at ten a company, for 16 organizations.
const domainCacheSize = 320000

func (c *domainCache) shard(k domainKey) *domainShard {
	c.once.Do(func() {
		c.seed = maphash.MakeSeed()
		for i := range c.shards {
			c.shards[i].lru = newLRU[domainKey, cachedDomain](domainCacheSize / domainShards)
		}
	})
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(k.org)
	h.WriteByte(0)
	h.WriteString(k.domain)
	return &c.shards[h.Sum64()%domainShards]
}

// get returns the accounts of org's domain as read under epoch.
func (c *domainCache) get(org, domain string, epoch store.Version) ([]string, bool) {
	k := domainKey{org, domain}
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	cd, ok := s.lru.get(k)
	if !ok || cd.epoch != epoch {
		return nil, false
	}
	return cd.accounts, true
}

// put remembers the accounts of org's domain, read under epoch. The
// slice is kept: callers do not change it afterwards.
func (c *domainCache) put(org, domain string, epoch store.Version, accounts []string) {
	k := domainKey{org, domain}
	s := c.shard(k)
	s.mu.Lock()
	s.lru.put(k, cachedDomain{accounts: accounts, epoch: epoch})
	s.mu.Unlock()
}
