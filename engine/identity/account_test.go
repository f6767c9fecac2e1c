package identity

import (
	"reflect"
	"testing"
)

func TestMatchAccount(t *testing.T) {
	t.Parallel()
	free := DefaultFreeMail().With("personal.example.com")
	acmeInferred := AccountIDForDomain(org, "acme.com")
	cases := []struct {
		name  string
		email string
		c     AccountCandidates
		want  AccountMatch
	}{
		{"explicit", "ann@acme.com", AccountCandidates{Explicit: "acct_X"}, AccountMatch{AccountID: "acct_X", How: "explicit"}},
		{"explicit beats domain", "ann@acme.com", AccountCandidates{Explicit: "acct_X", ByDomain: []string{"acct_D"}, ByCompany: []string{"acct_C"}},
			AccountMatch{AccountID: "acct_X", How: "explicit"}},
		{"explicit beats an ambiguous domain", "ann@acme.com", AccountCandidates{Explicit: "acct_X", ByDomain: []string{"acct_D1", "acct_D2"}},
			AccountMatch{AccountID: "acct_X", How: "explicit"}},
		{"explicit with free mail", "ann@gmail.com", AccountCandidates{Explicit: " acct_X "}, AccountMatch{AccountID: "acct_X", How: "explicit"}},
		{"domain", "ann@acme.com", AccountCandidates{ByDomain: []string{"acct_D"}}, AccountMatch{AccountID: "acct_D", How: "domain"}},
		{"domain beats company", "ann@acme.com", AccountCandidates{ByDomain: []string{"acct_D"}, ByCompany: []string{"acct_C"}},
			AccountMatch{AccountID: "acct_D", How: "domain"}},
		{"duplicate candidates are one", "ann@acme.com", AccountCandidates{ByDomain: []string{"acct_D", "acct_D", ""}},
			AccountMatch{AccountID: "acct_D", How: "domain"}},
		{"ambiguous domain: unmatched, reported, no fall-through to company", "ann@acme.com",
			AccountCandidates{ByDomain: []string{"acct_D2", "acct_D1", "acct_D2"}, ByCompany: []string{"acct_C"}},
			AccountMatch{Ambiguous: []string{"acct_D1", "acct_D2"}}},
		{"company fallback when no account has the domain", "ann@acme.com", AccountCandidates{ByCompany: []string{"acct_C"}},
			AccountMatch{AccountID: "acct_C", How: "company"}},
		{"ambiguous company: unmatched, no inference", "ann@acme.com", AccountCandidates{ByCompany: []string{"acct_C1", "acct_C2"}},
			AccountMatch{Ambiguous: []string{"acct_C1", "acct_C2"}}},
		{"inferred domain", "Ann@Sales.Acme.com", AccountCandidates{},
			AccountMatch{AccountID: acmeInferred, How: "inferred_domain", Infer: "acme.com"}},
		{"free mail never matches by domain", "ann@gmail.com", AccountCandidates{ByDomain: []string{"acct_Google"}},
			AccountMatch{}},
		{"free mail never infers", "ann@yahoo.co.uk", AccountCandidates{}, AccountMatch{}},
		{"free mail falls back to company", "ann@gmail.com", AccountCandidates{ByDomain: []string{"acct_Google"}, ByCompany: []string{"acct_C"}},
			AccountMatch{AccountID: "acct_C", How: "company"}},
		{"operator free-mail entry (sub-domain)", "ann@personal.example.com", AccountCandidates{ByDomain: []string{"acct_E"}}, AccountMatch{}},
		{"invalid email: company only", "not-an-email", AccountCandidates{ByDomain: []string{"acct_D"}, ByCompany: []string{"acct_C"}},
			AccountMatch{AccountID: "acct_C", How: "company"}},
		{"invalid email, nothing else", "ann@localhost", AccountCandidates{}, AccountMatch{}},
		{"no email", "", AccountCandidates{}, AccountMatch{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := MatchAccount(org, c.email, c.c, free)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
	// nil free list means the default one.
	if got := MatchAccount(org, "ann@gmail.com", AccountCandidates{ByDomain: []string{"acct_G"}}, nil); got.How != "" {
		t.Errorf("nil free list: %+v", got)
	}
}

func TestNormalizeCompanyName(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"Acme, Inc.", "acme"},
		{"ACME INC", "acme"},
		{"  Acme   Corp  ", "acme"},
		{"Acme Corporation", "acme"},
		{"Acme LLC", "acme"},
		{"Acme Ltd.", "acme"},
		{"Acme Pty. Ltd.", "acme"},
		{"Acme Pty Limited", "acme"},
		{"Acme GmbH", "acme"},
		{"Acme S.A.", "acme"},
		{"Acme SAS", "acme"},
		{"Acme S.r.l.", "acme"},
		{"Acme AG", "acme"},
		{"Acme B.V.", "acme"},
		{"Acme plc", "acme"},
		{"Acme Co.", "acme"},
		{"Acme & Co.", "acme"},
		{"Acme and Co, Ltd", "acme"},
		{"Procter & Gamble Co.", "procter and gamble"},
		{"Procter and Gamble", "procter and gamble"},
		{"McDonald's Corporation", "mcdonalds"},
		{"Hewlett-Packard", "hewlett packard"},
		{"Société Générale S.A.", "société générale"},
		{"Inc.", "inc"},
		{"Co", "co"},
		{"Coca-Cola Co", "coca cola"},
		{"Incorporated Widgets", "incorporated widgets"},
		{"  ", ""},
		{"", ""},
		{"!!!", ""},
	}
	for _, c := range cases {
		got := NormalizeCompanyName(c.in)
		if got != c.want {
			t.Errorf("NormalizeCompanyName(%q) = %q, want %q", c.in, got, c.want)
		}
		if again := NormalizeCompanyName(got); again != got {
			t.Errorf("not idempotent: %q → %q", got, again)
		}
	}
}
