package seal

import (
	"net/mail"
	"strings"
	"unicode"

	"github.com/trailspark/trailspark/engine/errs"
)

// MaxEmailLength is the longest address accepted, in bytes (RFC 5321 path
// limit minus the angle brackets).
const MaxEmailLength = 254

// NormalizeEmail returns the canonical form used for storage, comparison and
// Index: surrounding whitespace trimmed, everything lowercased. Lowercasing
// the local part is technically lossy (RFC 5321 lets it be case-sensitive)
// but no mainstream provider treats it so, and users expect
// "Ann@Example.com" and "ann@example.com" to be one account.
func NormalizeEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// ValidateEmail checks an address typed by a user, reporting problems
// against field. Surrounding whitespace is ignored (as NormalizeEmail would
// drop it); otherwise the address must be a bare addr-spec accepted by
// net/mail (no display name, no angle brackets, no comments), at most
// MaxEmailLength bytes, with exactly one '@', a non-empty local part, a
// domain name containing a dot (no IP literal), and no whitespace or control characters. Codes:
// "required", "too_long", "invalid_format". It returns nil when valid.
func ValidateEmail(field, s string) *errs.Error {
	s = strings.TrimSpace(s)
	if s == "" {
		return errs.Invalid(field, "required", "email is required")
	}
	if len(s) > MaxEmailLength {
		return errs.Invalid(field, "too_long", "email must be at most %d characters", MaxEmailLength)
	}
	invalid := errs.Invalid(field, "invalid_format", "email is not a valid address")
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return invalid
	}
	if strings.Count(s, "@") != 1 {
		return invalid
	}
	local, domain, _ := strings.Cut(s, "@")
	if local == "" || domain == "" {
		return invalid
	}
	// A domain name with at least one dot; IP literals ("[192.0.2.1]"),
	// which net/mail accepts, are refused: nobody signs up with one.
	dot := strings.IndexByte(domain, '.')
	if dot <= 0 || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") || strings.ContainsAny(domain, "[]") {
		return invalid
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return invalid
	}
	return nil
}
