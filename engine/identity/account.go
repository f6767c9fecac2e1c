package identity

import (
	"slices"
	"strings"
	"unicode"
)

// AccountCandidates are the accounts the caller found for a lead at each
// matching level (the store look-ups are the caller's).
type AccountCandidates struct {
	// Explicit is the account id from groupId / context.groupId / a CRM
	// association, already resolved by the caller.
	Explicit string `json:"explicit,omitempty"`
	// ByDomain are accounts whose website's registrable domain equals the
	// lead's email domain (EmailDomain).
	ByDomain []string `json:"by_domain,omitempty"`
	// ByCompany are accounts whose NormalizeCompanyName(name) equals that
	// of the lead's company.
	ByCompany []string `json:"by_company,omitempty"`
}

// How a lead was linked to its account.
const (
	HowExplicit       = "explicit"
	HowDomain         = "domain"
	HowCompany        = "company"
	HowInferredDomain = "inferred_domain"
)

// AccountMatch is MatchAccount's decision.
type AccountMatch struct {
	AccountID string `json:"account_id,omitempty"`
	// How: "explicit" | "domain" | "company" | "inferred_domain" | "".
	How string `json:"how,omitempty"`
	// Ambiguous lists (sorted, unique) the candidates at the deciding level
	// when there were several: the lead is left unmatched and this is
	// reported, rather than forced.
	Ambiguous []string `json:"ambiguous,omitempty"`
	// Infer is set with How "inferred_domain": no account has this corporate
	// registrable domain, so the caller creates (if absent) the account
	// AccountID = AccountIDForDomain(org, Infer).
	Infer string `json:"infer,omitempty"`
}

// MatchAccount picks the account of a lead with the given email (SPEC
// §2.4). Levels, strongest first: explicit, then the email's registrable
// domain, then the company name, then an account inferred from the email
// domain. The first level with exactly one candidate decides; a level with
// several candidates stops the search with Ambiguous set and no account (a
// lower level is not consulted: report rather than force). Free-mail
// domains (free; nil means DefaultFreeMail) and invalid emails skip both
// domain levels: they never match, nor create, an account by domain. An
// empty match (How "") means no account.
func MatchAccount(org, email string, c AccountCandidates, free *FreeMail) AccountMatch {
	if x := strings.TrimSpace(c.Explicit); x != "" {
		return AccountMatch{AccountID: x, How: HowExplicit}
	}
	domain := corporateDomain(email, free)
	if domain != "" {
		if m, decided := pick(c.ByDomain, HowDomain); decided {
			return m
		}
	}
	if m, decided := pick(c.ByCompany, HowCompany); decided {
		return m
	}
	if domain != "" {
		return AccountMatch{AccountID: accountID(org, domain), How: HowInferredDomain, Infer: domain}
	}
	return AccountMatch{}
}

// corporateDomain returns the registrable domain of email, or "" when the
// address is invalid or its host is a free-mail domain.
func corporateDomain(email string, free *FreeMail) string {
	email = strings.TrimSpace(email)
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return ""
	}
	host, err := normHost(email[at+1:])
	if err != nil {
		return ""
	}
	reg, err := etldPlusOne(host)
	if err != nil {
		return ""
	}
	if free == nil {
		free = DefaultFreeMail()
	}
	if free.isFreeHost(host, reg) {
		return ""
	}
	return reg
}

// pick decides one level: no candidates → not decided; one → matched;
// several → decided, unmatched, Ambiguous.
func pick(ids []string, how string) (AccountMatch, bool) {
	var uniq []string
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(uniq, id) {
			uniq = append(uniq, id)
		}
	}
	switch len(uniq) {
	case 0:
		return AccountMatch{}, false
	case 1:
		return AccountMatch{AccountID: uniq[0], How: how}, true
	}
	slices.Sort(uniq)
	return AccountMatch{Ambiguous: uniq}, true
}

// legalSuffixes are trailing tokens NormalizeCompanyName drops (after
// punctuation is removed, so "s.a." is "sa" and "inc." is "inc").
var legalSuffixes = map[string]bool{
	"inc": true, "incorporated": true, "llc": true, "llp": true, "ltd": true, "limited": true,
	"gmbh": true, "sa": true, "corp": true, "corporation": true, "co": true, "plc": true,
	"ag": true, "bv": true, "sas": true, "srl": true, "pty": true,
}

// NormalizeCompanyName returns the form company names are compared in:
// lower-cased; '.' and apostrophes removed (so "S.A." is "sa" and
// "McDonald's" is "mcdonalds"); '&' read as "and"; every other character
// that is not a letter or digit treated as a space; spaces collapsed; then
// trailing legal-form tokens (inc, llc, ltd, limited, gmbh, s.a., corp,
// corporation, co, plc, ag, bv, sas, srl, pty, llp, incorporated) removed
// repeatedly ("Acme Pty. Ltd." → "acme"), along with an "and" left dangling
// by them ("Smith & Co." → "smith"). A name made only of a legal form keeps
// its last token ("Inc." → "inc"). Accents are kept: "Société" ≠ "Societe".
func NormalizeCompanyName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := true // suppress leading spaces
	for _, r := range strings.ToLower(s) {
		switch {
		case r == '.' || r == '\'' || r == '’':
			continue
		case r == '&':
			if !space {
				b.WriteByte(' ')
			}
			b.WriteString("and ")
			space = true
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
			space = false
		default:
			if !space {
				b.WriteByte(' ')
				space = true
			}
		}
	}
	tokens := strings.Fields(b.String())
	stripped := false
	for len(tokens) > 1 {
		last := tokens[len(tokens)-1]
		if !legalSuffixes[last] && !(stripped && last == "and") {
			break
		}
		tokens = tokens[:len(tokens)-1]
		stripped = true
	}
	return strings.Join(tokens, " ")
}
