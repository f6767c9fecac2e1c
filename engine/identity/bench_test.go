package identity

import "testing"

func BenchmarkResolve(b *testing.B) {
	store := index{
		email("bob@acme.com"): "lead_B",
		anon("a_known"):       "lead_B",
	}
	count := func(string) int { return 3 }
	g := DefaultGuards()
	cases := []struct {
		name string
		ids  []Identifier
	}{
		{"known_email", []Identifier{email("Bob@Acme.com"), anon("a_known")}},
		{"new_lead_email_user_anon", []Identifier{email("ann@acme.com"), user("u_ann"), anon("a_new")}},
		{"known_anon_only", []Identifier{anon("a_known")}},
		{"anonymous", []Identifier{anon("a_cold")}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Resolve(org, c.ids, store.lookup, count, g)
			}
		})
	}
}

func BenchmarkRegistrableDomain(b *testing.B) {
	for _, in := range []string{"acme.com", "mail.acme.co.uk", "https://www.Acme.co.uk:8443/pricing", "www.München.de"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = RegistrableDomain(in)
			}
		})
	}
}

func BenchmarkIsFree(b *testing.B) {
	f := DefaultFreeMail()
	for _, in := range []string{"gmail.com", "mail.acme.co.uk"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = f.IsFree(in)
			}
		})
	}
}

func BenchmarkLeadID(b *testing.B) {
	b.ReportAllocs()
	id := email("ann@acme.com")
	for b.Loop() {
		_ = LeadID(org, id)
	}
}

func BenchmarkMatchAccount(b *testing.B) {
	b.ReportAllocs()
	free := DefaultFreeMail()
	c := AccountCandidates{}
	for b.Loop() {
		_ = MatchAccount(org, "ann@sales.acme.com", c, free)
	}
}
