// Package dnsname holds the one syntactic rule for "a valid host name" shared
// by the identity package and the free-mail list generator, so the embedded
// list and the runtime checks can never disagree.
package dnsname

// MaxLen is the longest host name accepted (RFC 1035, without the root dot).
const MaxLen = 253

// maxLabel is the longest single label (RFC 1035).
const maxLabel = 63

// Valid reports whether s is a lower-case ASCII host name: at least two
// labels separated by dots, each 1–63 characters of [a-z0-9-] that neither
// starts nor ends with '-', at most 253 characters in total, and a top-level
// label that is not all digits (so dotted IPv4 addresses are refused).
// Punycode labels ("xn--...") are valid; Unicode is not (convert first).
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	dots := 0
	start := 0 // index of the current label's first byte
	allDigits := true
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			n := i - start
			if n == 0 || n > maxLabel || s[start] == '-' || s[i-1] == '-' {
				return false
			}
			if i == len(s) && allDigits {
				return false // numeric TLD
			}
			if i < len(s) {
				dots++
			}
			start = i + 1
			allDigits = true
			continue
		}
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c == '-':
			allDigits = false
		case c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return dots > 0
}
