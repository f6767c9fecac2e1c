package actors

import (
	"crypto/sha256"
	"sync"
	"time"
)

// keyCacheTTL bounds how long a node keeps accepting a key after it was
// revoked on another node. A revocation or rotation through this node
// clears the cache at once.
const keyCacheTTL = 2 * time.Second

// keyCacheMax bounds the cache; when full it is emptied (keys are re-verified).
const keyCacheMax = 10000

// keyCache maps a presented key (by its SHA-256, never the key itself) to
// its verified identity until a deadline.
type keyCache struct {
	mu sync.Mutex
	m  map[[32]byte]cachedKey
}

type cachedKey struct {
	id    *KeyIdentity
	until time.Time
}

func (k *keyCache) get(key string, now time.Time) (*KeyIdentity, bool) {
	h := sha256.Sum256([]byte(key))
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.m[h]
	if !ok || !now.Before(c.until) {
		return nil, false
	}
	return c.id, true
}

func (k *keyCache) put(key string, id *KeyIdentity, until time.Time) {
	h := sha256.Sum256([]byte(key))
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || len(k.m) >= keyCacheMax {
		k.m = map[[32]byte]cachedKey{}
	}
	k.m[h] = cachedKey{id: id, until: until}
}

// clear forgets every cached key (after a revocation, rotation or
// organization deletion through this node).
func (k *keyCache) clear() {
	k.mu.Lock()
	k.m = nil
	k.mu.Unlock()
}
