package identity

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/seal"
)

// Kind names an identifier type.
type Kind string

// Identifier kinds. Every kind but KindAnonymousID is persistent: it can
// create and match a lead on its own.
const (
	KindEmail         Kind = "email"
	KindUserID        Kind = "user_id"
	KindProductUserID Kind = "product_user_id"
	KindCRMID         Kind = "crm_id"
	KindMapID         Kind = "map_id"
	KindMktLeadID     Kind = "mkt_lead_id"
	KindAnonymousID   Kind = "anonymous_id"
)

// Persistent reports whether k identifies a person durably (all known kinds
// except KindAnonymousID). Unknown kinds are not persistent.
func (k Kind) Persistent() bool {
	switch k {
	case KindEmail, KindUserID, KindProductUserID, KindCRMID, KindMapID, KindMktLeadID:
		return true
	}
	return false
}

// Precedence ranks kinds for choosing a lead when identifiers disagree and
// for picking the identifier a new lead's id derives from: lower is
// stronger. email 0 > user_id 1 > product_user_id 2 > crm_id 3 > map_id 4 >
// mkt_lead_id 5 > anonymous_id 6 > unknown kinds 7.
func (k Kind) Precedence() int {
	switch k {
	case KindEmail:
		return 0
	case KindUserID:
		return 1
	case KindProductUserID:
		return 2
	case KindCRMID:
		return 3
	case KindMapID:
		return 4
	case KindMktLeadID:
		return 5
	case KindAnonymousID:
		return 6
	}
	return 7
}

// Known reports whether k is one of the kinds above.
func (k Kind) Known() bool { return k.Precedence() < 7 }

// Identifier is one identifier carried by a signal.
type Identifier struct {
	Kind  Kind   `json:"kind"`
	Value string `json:"value"`
}

// Normalized returns the identifier in the form used for comparison,
// indexing and LeadID: emails trimmed and lower-cased as a whole
// (seal.NormalizeEmail), every other kind trimmed only (user and CRM ids may
// be case-sensitive).
func (id Identifier) Normalized() Identifier {
	if id.Kind == KindEmail {
		id.Value = seal.NormalizeEmail(id.Value)
	} else {
		id.Value = strings.TrimSpace(id.Value)
	}
	return id
}

// DefaultMaxIdentitiesPerPerson is the default cap on identifiers linked to
// one lead (Adobe AEP's graph limit, SPEC §2.4).
const DefaultMaxIdentitiesPerPerson = 50

// MaxValueLen is the longest identifier value accepted, in bytes after
// trimming; longer values are not identifiers but payload accidents.
const MaxValueLen = 512

// Guards hold the over-merge protections (SPEC §2.4, peers §3.3).
type Guards struct {
	// Blocked holds normalised (trimmed, lower-cased) values that are never
	// identifiers, whatever their kind.
	Blocked map[string]bool `json:"blocked,omitempty"`
	// MaxIdentitiesPerPerson caps the identifiers linked to one lead;
	// zero or negative means DefaultMaxIdentitiesPerPerson.
	MaxIdentitiesPerPerson int `json:"max_identities_per_person,omitempty"`
}

// defaultBlocked are sentinel values seen in the wild (Segment's suggested
// blocklist and SPEC §2.4).
var defaultBlocked = []string{
	"null", "undefined", "anonymous", "-1", "0", "none", "nil", "n/a",
	"unknown", "test", "",
}

// DefaultGuards returns the shipped guards: the sentinel values above
// blocked and a cap of DefaultMaxIdentitiesPerPerson. Values made only of
// zeros, dashes, underscores, dots and spaces ("0000", "--",
// "00000000-0000-0000-0000-000000000000") are refused by every Guards, even
// the zero value, since they can never identify anyone.
func DefaultGuards() Guards {
	g := Guards{Blocked: make(map[string]bool, len(defaultBlocked)), MaxIdentitiesPerPerson: DefaultMaxIdentitiesPerPerson}
	for _, v := range defaultBlocked {
		g.Blocked[v] = true
	}
	return g
}

// With returns a copy of g that also blocks values (normalised: trimmed and
// lower-cased). The receiver's map is not modified.
func (g Guards) With(values ...string) Guards {
	m := make(map[string]bool, len(g.Blocked)+len(values))
	for k, v := range g.Blocked {
		m[k] = v
	}
	for _, v := range values {
		m[strings.ToLower(strings.TrimSpace(v))] = true
	}
	g.Blocked = m
	return g
}

// Max returns the effective identities-per-person cap.
func (g Guards) Max() int {
	if g.MaxIdentitiesPerPerson <= 0 {
		return DefaultMaxIdentitiesPerPerson
	}
	return g.MaxIdentitiesPerPerson
}

// Usable reports whether id may be used to find or create a lead: its kind
// is known; its trimmed value is not longer than MaxValueLen, not blocked
// (compared case-insensitively) and not made only of zeros and separators;
// and, for an email, it is a plausible address (see plausibleEmail: a bare
// dot-atom addr-spec whose domain is registrable under a real TLD).
func (g Guards) Usable(id Identifier) bool {
	if !id.Kind.Known() {
		return false
	}
	v := strings.TrimSpace(id.Value)
	if len(v) > MaxValueLen || zerosOrSeparators(v) {
		return false
	}
	if len(g.Blocked) > 0 && g.Blocked[lowerASCIIFast(v)] {
		return false
	}
	if id.Kind == KindEmail && !plausibleEmail(v) {
		return false
	}
	return true
}

// plausibleEmail reports whether v (trimmed) looks like a deliverable
// address: at most seal.MaxEmailLength bytes, valid UTF-8, exactly one '@';
// a local part of 1–64 bytes in dot-atom form (RFC 5322 atext or non-ASCII,
// dots neither leading, trailing nor doubled: no quoting, no display names,
// no white space); and a domain EmailDomain accepts (registrable, real TLD,
// no IP literal). It is stricter than net/mail on purpose and allocation
// free, since it runs for every signal.
func plausibleEmail(v string) bool {
	if len(v) > seal.MaxEmailLength || !utf8.ValidString(v) {
		return false
	}
	at := strings.IndexByte(v, '@')
	if at <= 0 || at > 64 || strings.IndexByte(v[at+1:], '@') >= 0 {
		return false
	}
	local := v[:at]
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		switch {
		case c >= 0x80, c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte(".!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return EmailDomain(v) != ""
}

// zerosOrSeparators reports whether v has only '0', '-', '_', '.' and ' '
// (the empty string included).
func zerosOrSeparators(v string) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '0', '-', '_', '.', ' ':
		default:
			return false
		}
	}
	return true
}

// lowerASCIIFast lower-cases v, avoiding an allocation when v has no upper
// case letters.
func lowerASCIIFast(v string) string {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(v)
		}
	}
	return v
}

// idEncoding is lower-case RFC 4648 base32 without padding.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// idHashBytes is how many hash bytes an id keeps: 15 bytes = 120 bits = 24
// base32 characters, so collisions are out of reach (2^60 ids per org).
const idHashBytes = 15

// hashID returns prefix + 24 lower-case base32 characters of
// SHA-256(org 0x00 kind 0x00 value).
func hashID(prefix, org, kind, value string) string {
	var stack [256]byte
	b := append(stack[:0], org...)
	b = append(b, 0)
	b = append(b, kind...)
	b = append(b, 0)
	b = append(b, value...)
	sum := sha256.Sum256(b)
	var out [16 + 24]byte
	n := copy(out[:], prefix)
	idEncoding.Encode(out[n:], sum[:idHashBytes])
	return string(out[:n+24])
}

// LeadID is the deterministic id of the lead created from first: "lead_" +
// 24 lower-case base32 characters of SHA-256(org "\x00" kind "\x00"
// normalised value). A signal carrying the identifier a lead was created
// from can therefore address that lead without an index read; the same
// email in any case gives the same id.
//
// Note: the hash is not keyed. Anyone who sees a lead id and knows the org
// id can confirm a guessed email; treat lead ids as personal data.
func LeadID(org string, first Identifier) string {
	n := first.Normalized()
	return hashID("lead_", org, string(n.Kind), n.Value)
}

// AccountIDForDomain is the deterministic id of an account inferred from a
// domain: "acct_" + 24 lower-case base32 characters of SHA-256(org "\x00"
// "domain" "\x00" registrable domain). Any form of the domain accepted by
// RegistrableDomain gives the same id ("https://www.Acme.com/x" and
// "acme.com"); an input RegistrableDomain refuses gives "".
func AccountIDForDomain(org, domain string) string {
	d, err := RegistrableDomain(domain)
	if err != nil {
		return ""
	}
	return accountID(org, d)
}

// accountID is AccountIDForDomain for an already registrable domain.
func accountID(org, registrableDomain string) string {
	return hashID("acct_", org, "domain", registrableDomain)
}
