package credential

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/trailspark/trailspark/engine/errs"
)

// Token prefixes. Each names one kind of credential; all end in '_'.
const (
	APIKeyPrefix    = "sk_"  // ingestion API key
	SessionPrefix   = "tss_" // login session / bearer token
	PATPrefix       = "tsp_" // personal access token
	InvitePrefix    = "tsi_" // invitation token (sent by email)
	KeySecretPrefix = "sks_" // optional secret attached to an API key
)

// Token part lengths (in base62 characters).
const (
	TokenIDLength       = 10
	TokenSecretLength   = 32
	TokenChecksumLength = 6
	// tokenBodyLength is everything after the prefix.
	tokenBodyLength = TokenIDLength + TokenSecretLength + TokenChecksumLength
)

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// base62Index maps a byte to its base62 value, or -1.
var base62Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base62Alphabet); i++ {
		t[base62Alphabet[i]] = int8(i)
	}
	return t
}()

// maxPrefixLen bounds prefixes so a token always fits comfortably in a header.
const maxPrefixLen = 16

// validPrefix reports whether p is a well-formed prefix: 1..15 lowercase ASCII
// letters or digits followed by a single trailing '_'. The trailing '_' is not
// a base62 character, which is what keeps "sk_" from matching "sks_...".
func validPrefix(p string) bool {
	if len(p) < 2 || len(p) > maxPrefixLen || p[len(p)-1] != '_' {
		return false
	}
	for i := 0; i < len(p)-1; i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// errRandom is returned when the random source keeps producing bytes that
// rejection sampling discards (a broken reader; never crypto/rand).
var errRandom = errors.New("credential: random source produced too many rejected bytes")

// randomString returns n characters drawn uniformly from alphabet using bytes
// from r. Bytes at or above the largest multiple of len(alphabet) are
// discarded (rejection sampling), so b % len(alphabet) has no modulo bias.
func randomString(r io.Reader, alphabet string, n int) (string, error) {
	if len(alphabet) == 0 || len(alphabet) > 256 {
		return "", fmt.Errorf("credential: bad alphabet size %d", len(alphabet))
	}
	limit := 256 - 256%len(alphabet) // 248 for base62, 256 (no rejection) for base32
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	// With base62 a byte is rejected with probability 8/256, so failing to
	// fill n characters in 32 rounds only happens with a broken reader.
	for round := 0; round < 32; round++ {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("credential: reading random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, alphabet[int(b)%len(alphabet)])
			if len(out) == n {
				return string(out), nil
			}
		}
	}
	return "", errRandom
}

// checksum returns the 6-character base62 encoding (zero-padded, most
// significant digit first) of CRC32-IEEE over s.
func checksum(s string) string {
	v := crc32.ChecksumIEEE([]byte(s))
	var b [TokenChecksumLength]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = base62Alphabet[v%62]
		v /= 62
	}
	return string(b[:])
}

// NewToken generates a new credential with the given prefix, reading
// randomness from r (crypto/rand.Reader in production). It returns the full
// token, to be shown to its owner exactly once, and its public id. Store only
// the id and Hasher.Hash(full).
func NewToken(r io.Reader, prefix string) (full, id string, err error) {
	if !validPrefix(prefix) {
		return "", "", fmt.Errorf("credential: invalid token prefix %q", prefix)
	}
	body, err := randomString(r, base62Alphabet, TokenIDLength+TokenSecretLength)
	if err != nil {
		return "", "", err
	}
	s := prefix + body
	return s + checksum(s), body[:TokenIDLength], nil
}

// tokenError builds the user-facing error for a bad token. The token text is
// never included.
func tokenError(prefix, what string) *errs.Error {
	if prefix == APIKeyPrefix {
		return errs.Unauthenticated("key_invalid", "API key is "+what)
	}
	return errs.Unauthenticated("invalid_token", "token is "+what)
}

// ParseToken checks that s is a well-formed token of the given kind (prefix,
// exact length, base62 charset, checksum) and returns its public id. It does
// not check that the token exists, is unexpired or unrevoked: that needs the
// store. Errors are *errs.Error with Kind unauthenticated and code
// "key_invalid" for API keys, "invalid_token" otherwise; the message never
// contains the token.
func ParseToken(s, prefix string) (id string, err error) {
	if s == "" {
		return "", tokenError(prefix, "missing")
	}
	if !validPrefix(prefix) || len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return "", tokenError(prefix, "of the wrong kind or malformed")
	}
	body := s[len(prefix):]
	if len(body) != tokenBodyLength {
		return "", tokenError(prefix, "malformed (wrong length)")
	}
	for i := 0; i < len(body); i++ {
		if base62Index[body[i]] < 0 {
			return "", tokenError(prefix, "malformed (invalid character)")
		}
	}
	split := len(s) - TokenChecksumLength
	if checksum(s[:split]) != s[split:] {
		return "", tokenError(prefix, "malformed (checksum mismatch)")
	}
	return body[:TokenIDLength], nil
}

// DisplayPrefix returns "<prefix><id>" for a token, which is safe to show in
// lists and to write to logs. For anything that is not shaped like a token
// (no '_'-terminated prefix followed by exactly 48 base62 characters) it
// returns "" rather than risk echoing a secret. The checksum is not verified.
func DisplayPrefix(full string) string {
	cut := -1
	for i := 0; i < len(full) && i < maxPrefixLen; i++ {
		if full[i] == '_' {
			cut = i + 1
			break
		}
	}
	if cut < 0 || !validPrefix(full[:cut]) {
		return ""
	}
	body := full[cut:]
	if len(body) != tokenBodyLength {
		return ""
	}
	for i := 0; i < len(body); i++ {
		if base62Index[body[i]] < 0 {
			return ""
		}
	}
	return full[:cut+TokenIDLength]
}
