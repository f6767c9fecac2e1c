package tenant

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/trailspark/trailspark/engine/errs"
)

// Size is the organization's employee band.
type Size string

// Sizes lists the accepted sizes in order.
var Sizes = []string{"1-10", "11-50", "51-200", "201-500", "501+"}

// Industries lists the accepted industries.
var Industries = []string{"Technology", "Finance", "Healthcare", "Education", "Retail", "Manufacturing", "Other"}

// Org is the organization profile.
type Org struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Subdomain string         `json:"subdomain"`
	Size      string         `json:"size"`
	Industry  string         `json:"industry"`
	Plan      string         `json:"plan"`
	Settings  map[string]any `json:"settings"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

const (
	maxNameLen   = 100
	minSubdomain = 3
	maxSubdomain = 20
	DefaultPlan  = "free"
)

var subdomainRe = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

// ValidateSubdomain applies SPEC §1: 3–20 chars of [a-z0-9-], not starting or
// ending with '-'.
func ValidateSubdomain(s string) *errs.Error {
	switch {
	case s == "":
		return errs.Invalid("subdomain", "required", "subdomain is required")
	case len(s) < minSubdomain:
		return errs.Invalid("subdomain", "too_short", "subdomain must be at least %d characters", minSubdomain)
	case len(s) > maxSubdomain:
		return errs.Invalid("subdomain", "too_long", "subdomain must be at most %d characters", maxSubdomain)
	case !subdomainRe.MatchString(s):
		return errs.Invalid("subdomain", "invalid_subdomain",
			"subdomain may contain only lowercase letters, digits and '-', and must not start or end with '-'")
	}
	return nil
}

// SuggestSubdomain derives a valid subdomain from an organization name:
// accents folded, lowercased, other runs of characters turned into one '-',
// trimmed to 20 characters, padded when too short. It may be taken already;
// callers check availability and add a suffix.
func SuggestSubdomain(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFKD.String(name) {
		switch {
		case unicode.Is(unicode.Mn, r): // combining accent: drop
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(unicode.ToLower(r))
			dash = false
		default:
			if b.Len() > 0 && !dash {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > maxSubdomain {
		s = strings.TrimRight(s[:maxSubdomain], "-")
	}
	for len(s) < minSubdomain {
		s += "0"
	}
	return s
}

// WithSuffix returns base with "-n" appended, shortened to stay within 20.
func WithSuffix(base string, n int) string {
	if n < 0 {
		n = -n
	}
	suf := "-" + strconv.Itoa(n)
	if len(base)+len(suf) > maxSubdomain {
		base = strings.TrimRight(base[:maxSubdomain-len(suf)], "-")
	}
	return base + suf
}

// ValidateName checks a display name field (organization, key, token...).
func ValidateName(field, s string) *errs.Error {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return errs.Invalid(field, "required", "%s is required", field)
	case utf8.RuneCountInString(s) > maxNameLen:
		return errs.Invalid(field, "too_long", "%s must be at most %d characters", field, maxNameLen)
	case !utf8.ValidString(s):
		return errs.Invalid(field, "invalid_format", "%s must be valid UTF-8", field)
	}
	return nil
}

// ValidateEnum checks s is one of allowed.
func ValidateEnum(field, s string, allowed []string) *errs.Error {
	if s == "" {
		return errs.Invalid(field, "required", "%s is required", field)
	}
	for _, a := range allowed {
		if s == a {
			return nil
		}
	}
	return errs.Invalid(field, "invalid_enum", "%s must be one of %s", field, strings.Join(allowed, ", "))
}

// NewOrgInput is what a user supplies to create an organization.
type NewOrgInput struct {
	Name      string
	Subdomain string // empty: suggested from Name
	Size      string
	Industry  string
	Plan      string // empty: DefaultPlan
}

// Normalize trims fields and fills defaults; Validate must follow.
func (in *NewOrgInput) Normalize() {
	in.Name = strings.TrimSpace(in.Name)
	in.Subdomain = strings.ToLower(strings.TrimSpace(in.Subdomain))
	if in.Subdomain == "" && in.Name != "" {
		in.Subdomain = SuggestSubdomain(in.Name)
	}
	in.Plan = strings.TrimSpace(in.Plan)
	if in.Plan == "" {
		in.Plan = DefaultPlan
	}
	in.Industry = canonical(strings.TrimSpace(in.Industry), Industries)
	in.Size = strings.TrimSpace(in.Size)
}

// Validate reports the first invalid field.
func (in *NewOrgInput) Validate() error {
	if e := ValidateName("name", in.Name); e != nil {
		return e
	}
	if e := ValidateSubdomain(in.Subdomain); e != nil {
		return e
	}
	if e := ValidateEnum("size", in.Size, Sizes); e != nil {
		return e
	}
	if e := ValidateEnum("industry", in.Industry, Industries); e != nil {
		return e
	}
	if e := ValidateName("plan", in.Plan); e != nil {
		return e
	}
	return nil
}

// OrgPatch is a partial update of the profile; nil fields stay.
type OrgPatch struct {
	Name     *string
	Size     *string
	Industry *string
}

// Apply validates and applies p to o at time now.
func (p OrgPatch) Apply(o *Org, now time.Time) error {
	next := *o
	if p.Name != nil {
		n := strings.TrimSpace(*p.Name)
		if e := ValidateName("name", n); e != nil {
			return e
		}
		next.Name = n
	}
	if p.Size != nil {
		if e := ValidateEnum("size", *p.Size, Sizes); e != nil {
			return e
		}
		next.Size = *p.Size
	}
	if p.Industry != nil {
		ind := canonical(strings.TrimSpace(*p.Industry), Industries)
		if e := ValidateEnum("industry", ind, Industries); e != nil {
			return e
		}
		next.Industry = ind
	}
	next.UpdatedAt = now
	*o = next
	return nil
}

// canonical returns the allowed value equal to s ignoring case, else s.
func canonical(s string, allowed []string) string {
	for _, a := range allowed {
		if strings.EqualFold(s, a) {
			return a
		}
	}
	return s
}
