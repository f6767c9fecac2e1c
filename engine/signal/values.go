package signal

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxEmailLength is the longest address considered plausible, in bytes.
const MaxEmailLength = 254

// CanonicalEmail returns s trimmed and lowercased when it is a plausible
// e-mail address, else "". Plausible: at most MaxEmailLength bytes, exactly
// one '@' with something before it, a domain with a dot that neither starts
// nor ends it and no empty label, and no whitespace, control characters or
// the characters that need quoting in an address (<>()[],;:"\). It is a
// cheap filter for signal payloads, not full RFC 5322 validation: its job
// is to keep "n/a", "unknown" or "Dana <dana@x.io>" from becoming an
// identity.
func CanonicalEmail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) < 3 || len(s) > MaxEmailLength {
		return ""
	}
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') {
		return ""
	}
	domain := s[at+1:]
	if dot := strings.IndexByte(domain, '.'); dot <= 0 || domain[len(domain)-1] == '.' || strings.Contains(domain, "..") {
		return ""
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			continue
		}
		if c <= ' ' || c == 0x7f || strings.IndexByte(`<>()[],;:"\`, c) >= 0 {
			return ""
		}
	}
	if !ascii {
		if !utf8.ValidString(s) {
			return ""
		}
		for _, r := range s {
			if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
				return ""
			}
		}
	}
	return strings.ToLower(s)
}

// formatNumber writes a JSON number literal without exponent, keeping its
// exact digits: 12345678901 → "12345678901", 1.2345678901e10 →
// "12345678901", 1.50 → "1.5", 2.0 → "2", 1e-3 → "0.001", -0 → "0". It
// reports false when the result would be longer than max bytes (the
// exponent can make it arbitrarily long, so that is checked before
// building anything). lit must be a valid JSON number.
func formatNumber(lit []byte, max int) (string, bool) {
	plain := true
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			plain = false
			break
		}
	}
	if plain {
		if len(lit) > max {
			return "", false
		}
		if string(lit) == "-0" {
			return "0", true
		}
		return string(lit), true
	}

	i := 0
	neg := false
	if i < len(lit) && lit[i] == '-' {
		neg = true
		i++
	}
	// Mantissa digits without the point, and where the point goes.
	digits := make([]byte, 0, len(lit))
	point := 0
	for ; i < len(lit) && '0' <= lit[i] && lit[i] <= '9'; i++ {
		digits = append(digits, lit[i])
		point++
	}
	if i < len(lit) && lit[i] == '.' {
		for i++; i < len(lit) && '0' <= lit[i] && lit[i] <= '9'; i++ {
			digits = append(digits, lit[i])
		}
	}
	if i < len(lit) && (lit[i] == 'e' || lit[i] == 'E') {
		i++
		expNeg := false
		if i < len(lit) && (lit[i] == '+' || lit[i] == '-') {
			expNeg = lit[i] == '-'
			i++
		}
		for i < len(lit) && lit[i] == '0' {
			i++
		}
		exp := 0
		for ; i < len(lit); i++ {
			exp = exp*10 + int(lit[i]-'0')
			if exp > 1<<20 { // far beyond any max; avoids overflow
				break
			}
		}
		if expNeg {
			exp = -exp
		}
		point += exp
	}
	// Drop leading zeros (moving the point) and trailing zeros.
	lead := 0
	for lead < len(digits) && digits[lead] == '0' {
		lead++
	}
	digits = digits[lead:]
	point -= lead
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 {
		return "0", true
	}
	// Length of the result, before building it.
	size := len(digits)
	switch {
	case point <= 0:
		size += 2 - point // "0." and zeros
	case point > len(digits):
		size = point
	default:
		if point < len(digits) {
			size++ // "."
		}
	}
	if neg {
		size++
	}
	if size > max || point > max || -point > max {
		return "", false
	}
	out := make([]byte, 0, size)
	if neg {
		out = append(out, '-')
	}
	switch {
	case point <= 0:
		out = append(out, '0', '.')
		for range -point {
			out = append(out, '0')
		}
		out = append(out, digits...)
	case point >= len(digits):
		out = append(out, digits...)
		for range point - len(digits) {
			out = append(out, '0')
		}
	default:
		out = append(out, digits[:point]...)
		out = append(out, '.')
		out = append(out, digits[point:]...)
	}
	return string(out), true
}
