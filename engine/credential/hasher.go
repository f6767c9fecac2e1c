package credential

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
)

// Hasher hashes high-entropy credentials (tokens made by NewToken) for
// storage: HMAC-SHA256 keyed with the server pepper. It is immutable and safe
// for concurrent use.
//
// Pass the full token (prefix, id, secret and checksum) so the stored hash
// binds all of them. Do not use Hasher for passwords: see HashPassword.
type Hasher struct {
	pepper []byte
}

// NewHasher returns a Hasher keyed with pepper (typically seal.Sealer.Pepper,
// 32 bytes). The pepper is copied. It should be at least 32 random bytes; an
// empty pepper still works but degrades to an unkeyed hash.
func NewHasher(pepper []byte) *Hasher {
	return &Hasher{pepper: append([]byte(nil), pepper...)}
}

// Hash returns the 32-byte HMAC-SHA256 of secret under the pepper.
func (h *Hasher) Hash(secret string) []byte {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Equal reports, in constant time, whether secret hashes to stored.
func (h *Hasher) Equal(secret string, stored []byte) bool {
	return hmac.Equal(h.Hash(secret), stored)
}

// SecretEqual compares two secrets (for example the X-Api-Secret header
// against the key's stored secret) in time independent of where they differ
// and of whether their lengths match: both sides are first reduced to SHA-256
// digests of equal length. An empty secret never matches anything, so a key
// whose secret was never set cannot be satisfied by an empty header.
func SecretEqual(a, b string) bool {
	da := sha256.Sum256([]byte(a))
	db := sha256.Sum256([]byte(b))
	eq := subtle.ConstantTimeCompare(da[:], db[:])
	nonEmpty := subtle.ConstantTimeEq(int32(min(len(a), 1)&min(len(b), 1)), 1)
	return eq&nonEmpty == 1
}
