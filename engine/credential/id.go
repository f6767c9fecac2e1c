package credential

import (
	"fmt"
	"io"
)

// Object id prefixes, passed to NewID.
const (
	OrgIDPrefix        = "org_"
	UserIDPrefix       = "usr_"
	InvitationIDPrefix = "inv_"
	APIKeyIDPrefix     = "key_"
	PATIDPrefix        = "pat_"
)

// IDLength is the number of random characters after an object id's prefix.
// 20 base32 characters carry 100 bits, enough that ids never collide in
// practice and cannot be enumerated.
const IDLength = 20

// idAlphabet is Crockford-style lowercase base32 (no i, l, o, u): case-safe,
// hard to misread, and 32 divides 256 so sampling needs no rejection.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns a random object id: prefix (for example OrgIDPrefix) followed
// by IDLength lowercase base32 characters. Object ids are identifiers, not
// secrets: authorization never rests on knowing one.
func NewID(r io.Reader, prefix string) (string, error) {
	if !validPrefix(prefix) {
		return "", fmt.Errorf("credential: invalid id prefix %q", prefix)
	}
	s, err := randomString(r, idAlphabet, IDLength)
	if err != nil {
		return "", err
	}
	return prefix + s, nil
}

// ValidID reports whether s is shaped like an id made by NewID with prefix.
// Use it to reject garbage path parameters before touching the store.
func ValidID(s, prefix string) bool {
	if !validPrefix(prefix) || len(s) != len(prefix)+IDLength || s[:len(prefix)] != prefix {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') || c == 'i' || c == 'l' || c == 'o' || c == 'u' {
			return false
		}
	}
	return true
}
