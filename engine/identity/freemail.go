package identity

import (
	_ "embed"
	"strings"
	"sync"
)

//go:generate go run ./internal/genfreemail/main.go -freemail ../../../shared/data/free_email_domains_freemail -kikobeats ../../../shared/data/free_email_domains_kikobeats -out freemail.txt

// freemailTxt is the shipped free/personal/disposable email domain list; see
// its header for sources (willwhite/freemail, ISC; Kikobeats/free-email-
// domains, MIT), licence texts and how it was filtered.
//
//go:embed freemail.txt
var freemailTxt string

// FreeMail is an immutable set of free, personal or disposable email domains
// (gmail.com, qq.com, mail.yahoo.co.jp, ...). Such domains never match or
// create an account by domain (SPEC §2.4). A *FreeMail is safe for
// concurrent use; With returns a new set and never changes the receiver.
//
// A nil *FreeMail behaves as DefaultFreeMail(): forgetting to pass the list
// must not make gmail.com look like a company.
type FreeMail struct {
	set map[string]struct{}
}

var defaultFreeMail = sync.OnceValue(func() *FreeMail {
	f := &FreeMail{set: make(map[string]struct{}, 14000)}
	rest := freemailTxt
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f.set[line] = struct{}{} // the generator only writes valid names
	}
	return f
})

// DefaultFreeMail returns the shipped list (parsed once, shared, immutable).
func DefaultFreeMail() *FreeMail { return defaultFreeMail() }

// With returns a copy of f extended with extra domains (an operator's own
// list). Entries are normalised like hosts (trimmed, lower-cased, one
// trailing dot and a leading "@" dropped, IDNs converted to ASCII); entries
// that are not valid host names are ignored. Sub-domains may be listed
// ("mail.example.jp"): IsFree matches a listed name and everything under it.
func (f *FreeMail) With(extra ...string) *FreeMail {
	if f == nil {
		f = DefaultFreeMail()
	}
	out := &FreeMail{set: make(map[string]struct{}, len(f.set)+len(extra))}
	for d := range f.set {
		out.set[d] = struct{}{}
	}
	for _, e := range extra {
		e = strings.TrimPrefix(strings.TrimSpace(e), "@")
		if h, err := normHost(e); err == nil {
			out.set[h] = struct{}{}
		}
	}
	return out
}

// Len reports how many domains the set holds.
func (f *FreeMail) Len() int {
	if f == nil {
		f = DefaultFreeMail()
	}
	return len(f.set)
}

// IsFree reports whether domain (a host, or an email address: the part after
// the last '@' is used) is a free-mail domain. It matches the exact host and
// every parent of it down to, and including, its registrable domain — so a
// listed "mail.yahoo.co.jp" matches "mail.yahoo.co.jp" and
// "x.mail.yahoo.co.jp" but not "yahoo.co.jp", and a listed "gmail.com"
// matches "gmail.com" and "eu.gmail.com". A public suffix itself is never
// checked, so no entry can make a whole TLD "free". Invalid names are not
// free.
func (f *FreeMail) IsFree(domain string) bool {
	if f == nil {
		f = DefaultFreeMail()
	}
	domain = strings.TrimSpace(domain)
	if at := strings.LastIndexByte(domain, '@'); at >= 0 {
		domain = domain[at+1:]
	}
	h, err := normHost(domain)
	if err != nil {
		return false
	}
	if _, ok := f.set[h]; ok { // exact host: the common case, no PSL walk
		return true
	}
	reg, err := etldPlusOne(h)
	if err != nil {
		return false
	}
	return f.isFreeHost(h, reg)
}

// isFreeHost is IsFree for a host h already normalised by normHost, whose
// registrable domain is reg.
func (f *FreeMail) isFreeHost(h, reg string) bool {
	if _, ok := f.set[h]; ok {
		return true
	}
	for s := h; len(s) > len(reg); {
		s = s[strings.IndexByte(s, '.')+1:]
		if _, ok := f.set[s]; ok {
			return true
		}
	}
	return false
}
