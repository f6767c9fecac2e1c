package identity

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"github.com/trailspark/trailspark/engine/identity/internal/dnsname"
)

// Errors returned (wrapped, with the offending input) by RegistrableDomain.
// Compare with errors.Is.
var (
	ErrEmptyDomain   = errors.New("empty domain")
	ErrIPAddress     = errors.New("IP address, not a domain name")
	ErrPublicSuffix  = errors.New("public suffix, not a registrable domain")
	ErrInvalidDomain = errors.New("invalid domain name")
	ErrUnknownTLD    = errors.New("unknown top-level domain")
)

// RegistrableDomain returns the registrable domain ("eTLD+1") of a host, an
// email domain, an email address or a URL:
//
//	"https://www.Acme.co.uk:8443/pricing?x=1" → "acme.co.uk"
//	"mail.acme.co.uk"                         → "acme.co.uk"
//	"ACME.COM."                               → "acme.com"
//	"ann@Acme.com"                            → "acme.com"
//
// Steps: trim; drop a "scheme://" prefix, the path/query/fragment, any
// "user@" part and a numeric port; lower-case; drop one trailing dot; convert
// an internationalised name to its ASCII (punycode) form with the IDNA lookup
// profile, so "Bücher.de" → "xn--bcher-kva.de" (results are always ASCII);
// then apply the public suffix list.
//
// "www." needs no special case: it is a sub-domain like any other and is
// removed by the eTLD+1 step ("www.acme.com" → "acme.com"). A host whose
// registrable label is itself "www" ("www.com") is returned as is.
//
// The public suffix list used is golang.org/x/net/publicsuffix, which
// includes the list's PRIVATE section: "foo.github.io", "x.herokuapp.com" and
// "team.blogspot.com" are their own registrable domains (each is a different
// owner), and "github.io" alone is refused as a public suffix.
//
// Errors: ErrEmptyDomain, ErrIPAddress (v4, v6, bracketed), ErrPublicSuffix
// ("co.uk", "com"), ErrUnknownTLD (a TLD not on the list, e.g. "acme.local"
// or "acme.internal" — intranet names are not registrable), ErrInvalidDomain
// (bad labels, over-long names, single labels such as "localhost").
// The result is idempotent: RegistrableDomain(d) == d for every result d.
func RegistrableDomain(hostOrURL string) (string, error) {
	s := strings.TrimSpace(hostOrURL)
	if s == "" {
		return "", ErrEmptyDomain
	}
	return registrable(hostOf(s))
}

// EmailDomain returns the registrable domain of the part of email after its
// last '@' ("ann@Mail.Acme.co.uk" → "acme.co.uk"), or "" when there is no
// '@', nothing before it, or the part after it is not a valid, registrable
// domain name (IP literals included).
func EmailDomain(email string) string {
	email = strings.TrimSpace(email)
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return ""
	}
	d, err := registrable(email[at+1:])
	if err != nil {
		return ""
	}
	return d
}

// hostOf extracts the host from a URL-ish string; a bare host is returned
// unchanged.
func hostOf(s string) string {
	if i := strings.Index(s, "://"); i >= 0 && isScheme(s[:i]) {
		s = s[i+3:]
	} else {
		s = strings.TrimPrefix(s, "//")
	}
	if i := strings.IndexAny(s, "/?#\\"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if strings.HasPrefix(s, "[") { // [v6]:port
		if i := strings.IndexByte(s, ']'); i > 0 {
			return s[1:i]
		}
		return s
	}
	if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 && allDigits(s[i+1:]) {
		s = s[:i] // host:port (a second ':' means a bare IPv6 address)
	}
	return s
}

func isScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !(c >= 'a' && c <= 'z' || i > 0 && (s[i] >= '0' && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.')) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// normHost lower-cases a host, drops one trailing dot, converts IDNs to
// ASCII and checks the result is a syntactically valid host name.
func normHost(h string) (string, error) {
	if h == "" {
		return "", ErrEmptyDomain
	}
	ascii, upper := true, false
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c >= 0x80 {
			ascii = false
			break
		}
		if c >= 'A' && c <= 'Z' {
			upper = true
		}
	}
	if !ascii {
		if !utf8.ValidString(h) || strings.ContainsRune(h, utf8.RuneError) {
			return "", fmt.Errorf("%w: %q", ErrInvalidDomain, h)
		}
		a, err := idna.Lookup.ToASCII(h)
		if err != nil {
			return "", fmt.Errorf("%w: %q", ErrInvalidDomain, h)
		}
		h = a
	} else if upper {
		h = strings.ToLower(h)
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return "", ErrEmptyDomain
	}
	if strings.ContainsAny(h, ":%") || allDigitsAndDots(h) {
		if _, err := netip.ParseAddr(h); err == nil {
			return "", fmt.Errorf("%w: %q", ErrIPAddress, h)
		}
	}
	if !dnsname.Valid(h) {
		if strings.IndexByte(h, '.') < 0 && dnsname.Valid(h+".x") {
			if _, icann := publicsuffix.PublicSuffix(h); icann {
				return "", fmt.Errorf("%w: %q", ErrPublicSuffix, h)
			}
		}
		return "", fmt.Errorf("%w: %q", ErrInvalidDomain, h)
	}
	return h, nil
}

func allDigitsAndDots(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

// registrable normalises a bare host and returns its eTLD+1.
func registrable(host string) (string, error) {
	h, err := normHost(host)
	if err != nil {
		return "", err
	}
	return etldPlusOne(h)
}

// etldPlusOne applies the public suffix list to a normalised host.
func etldPlusOne(h string) (string, error) {
	ps, icann := publicsuffix.PublicSuffix(h)
	if !icann && strings.IndexByte(ps, '.') < 0 {
		// Only the list's default "*" rule matched: not a delegated TLD.
		return "", fmt.Errorf("%w: %q", ErrUnknownTLD, ps)
	}
	if len(ps) >= len(h) {
		return "", fmt.Errorf("%w: %q", ErrPublicSuffix, h)
	}
	i := len(h) - len(ps) - 1 // the '.' before the suffix
	if h[i] != '.' {
		return "", fmt.Errorf("%w: %q", ErrInvalidDomain, h)
	}
	return h[strings.LastIndexByte(h[:i], '.')+1:], nil
}
