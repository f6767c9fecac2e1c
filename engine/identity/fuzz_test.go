package identity

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/net/publicsuffix"

	"github.com/trailspark/trailspark/engine/identity/internal/dnsname"
)

// Seed corpora are also committed under testdata/fuzz/<FuzzName>/.

func FuzzRegistrableDomain(f *testing.F) {
	for _, s := range []string{
		"acme.com", "mail.acme.co.uk", "https://www.Acme.co.uk/pricing", "ACME.COM.", "foo.github.io",
		"co.uk", "192.168.0.1", "[::1]:80", "www.München.de", "ann@acme.com", "http://u:p@h.acme.io:1/x?y#z",
		"acme.local", "\xff.com", "xn--.com", "a..b", "", "www.com",
	} {
		f.Add(s)
	}
	sentinels := []error{ErrEmptyDomain, ErrIPAddress, ErrPublicSuffix, ErrInvalidDomain, ErrUnknownTLD}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := RegistrableDomain(s)
		if err != nil {
			if d != "" {
				t.Fatalf("%q: result %q with error %v", s, d, err)
			}
			known := false
			for _, e := range sentinels {
				known = known || errors.Is(err, e)
			}
			if !known {
				t.Fatalf("%q: unexpected error %v", s, err)
			}
		} else {
			if !dnsname.Valid(d) {
				t.Fatalf("%q → invalid %q", s, d)
			}
			if again, err := RegistrableDomain(d); err != nil || again != d {
				t.Fatalf("%q → %q, not idempotent: %q, %v", s, d, again, err)
			}
			if std, err := publicsuffix.EffectiveTLDPlusOne(d); err != nil || std != d {
				t.Fatalf("%q → %q, but EffectiveTLDPlusOne(%q) = %q, %v", s, d, d, std, err)
			}
			if AccountIDForDomain("o", s) != AccountIDForDomain("o", d) {
				t.Fatalf("%q: account id differs from that of %q", s, d)
			}
		}
		// Cross-check the hand-rolled eTLD+1 against the library on the
		// normalised host.
		if h, err := normHost(hostOf(strings.TrimSpace(s))); err == nil {
			mine, err1 := etldPlusOne(h)
			std, err2 := publicsuffix.EffectiveTLDPlusOne(h)
			if err1 == nil && (err2 != nil || mine != std) {
				t.Fatalf("etldPlusOne(%q) = %q, library %q, %v", h, mine, std, err2)
			}
		}
		e := EmailDomain("x@" + s)
		if e != "" && !dnsname.Valid(e) {
			t.Fatalf("EmailDomain(x@%q) = %q", s, e)
		}
		_ = DefaultFreeMail().IsFree(s)
		if e != "" && DefaultFreeMail().IsFree(e) && !DefaultFreeMail().IsFree("x@"+s) && !strings.ContainsAny(s, "@") {
			// A free registrable domain makes every host under it free.
			t.Fatalf("%q: registrable %q is free, host is not", s, e)
		}
	})
}

// parseFuzzIDs turns lines "<k><value>" into identifiers, the kind chosen by
// the first byte (8 kinds: the 7 known and an unknown one).
func parseFuzzIDs(spec string) []Identifier {
	kinds := []Kind{KindEmail, KindUserID, KindProductUserID, KindCRMID, KindMapID, KindMktLeadID, KindAnonymousID, "phone"}
	var ids []Identifier
	for _, line := range strings.Split(spec, "\n") {
		if line == "" {
			continue
		}
		ids = append(ids, Identifier{Kind: kinds[int(line[0])%len(kinds)], Value: line[1:]})
	}
	return ids
}

func FuzzResolve(f *testing.F) {
	f.Add("org_1", "0ann@acme.com\n6a1", "0ann@acme.com\n1u1", "lead_A\nlead_B", int8(0), uint8(3))
	f.Add("org_1", "1u_carol\n0bob@acme.com", "0bob@acme.com\n1u_carol", "lead_B\nlead_C", int8(2), uint8(49))
	f.Add("", "6a_known", "6a_known", "lead_B", int8(50), uint8(0))
	f.Add("o", "1null\n60000-0000\n0UNDEFINED\n3-1\n7phone", "", "", int8(-1), uint8(0))
	f.Add("o", "0A@B.CO\n0a@b.co \n1 x\n1x", "1x", "lead_X", int8(1), uint8(1))
	f.Fuzz(func(t *testing.T, org, spec, held, leads string, maxIDs int8, count uint8) {
		ids := parseFuzzIDs(spec)
		heldIDs := parseFuzzIDs(held)
		leadNames := strings.Split(leads, "\n")
		ix := index{}
		for i, id := range heldIDs {
			if l := leadNames[i%len(leadNames)]; l != "" {
				ix[id.Normalized()] = l
			}
		}
		g := DefaultGuards()
		g.MaxIdentitiesPerPerson = int(maxIDs)
		countFn := func(string) int { return int(count) }
		r := Resolve(org, ids, ix.lookup, countFn, g)
		checkResolution(t, org, ids, ix.lookup, countFn, g, r)
		for _, id := range ids {
			if LeadID(org, id) != LeadID(org, id.Normalized()) {
				t.Fatalf("LeadID not deterministic for %v", id)
			}
		}
		if r.LeadID != "" && !r.Created {
			found := false
			for _, l := range ix {
				found = found || l == r.LeadID
			}
			if !found {
				t.Fatalf("existing lead %q not from the index", r.LeadID)
			}
		}
	})
}

func FuzzNormalizeCompanyName(f *testing.F) {
	for _, s := range []string{"Acme, Inc.", "Procter & Gamble Co.", "x co and co", "Société Générale S.A.", "İstanbul A.Ş.", "\xff&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeCompanyName(s)
		if again := NormalizeCompanyName(n); again != n {
			t.Fatalf("%q → %q → %q", s, n, again)
		}
		if strings.TrimSpace(n) != n || strings.Contains(n, "  ") {
			t.Fatalf("%q → %q: stray spaces", s, n)
		}
	})
}
