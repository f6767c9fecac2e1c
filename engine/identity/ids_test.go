package identity

import (
	"regexp"
	"strings"
	"testing"
)

func TestKind(t *testing.T) {
	t.Parallel()
	order := []Kind{KindEmail, KindUserID, KindProductUserID, KindCRMID, KindMapID, KindMktLeadID, KindAnonymousID, Kind("phone")}
	for i, k := range order {
		if k.Precedence() != i {
			t.Errorf("%s.Precedence() = %d, want %d", k, k.Precedence(), i)
		}
		wantPersistent := i < 6
		if k.Persistent() != wantPersistent {
			t.Errorf("%s.Persistent() = %v", k, k.Persistent())
		}
		if k.Known() != (i < 7) {
			t.Errorf("%s.Known() = %v", k, k.Known())
		}
	}
}

func TestGuardsUsable(t *testing.T) {
	t.Parallel()
	g := DefaultGuards()
	if g.Max() != 50 || (Guards{}).Max() != 50 || (Guards{MaxIdentitiesPerPerson: -3}).Max() != 50 {
		t.Fatal("default cap is not 50")
	}
	blocked := []string{
		"null", "undefined", "anonymous", "-1", "0", "none", "nil", "n/a", "unknown", "test", "",
		"NULL", " Undefined ", "N/A", "Test", "\tnil\n",
		"0000", "--", "__", "...", "0-0", "00000000-0000-0000-0000-000000000000", "  ", "0.0", "0 0",
	}
	for _, v := range blocked {
		for _, k := range []Kind{KindUserID, KindAnonymousID, KindCRMID, KindEmail} {
			if g.Usable(Identifier{k, v}) {
				t.Errorf("Usable(%s %q) = true, want blocked", k, v)
			}
		}
	}
	usable := []Identifier{
		{KindUserID, "u_123"},
		{KindUserID, "10"},
		{KindUserID, "-2"},
		{KindAnonymousID, "6f1c3a2e-0000-4000-8000-000000000001"},
		{KindCRMID, "0031t00000AbCdE"},
		{KindMktLeadID, "1024"},
		{KindEmail, "Ann@Acme.com"},
		{KindEmail, " ann+tag@mail.acme.co.uk "},
		{KindEmail, "test@acme.com"},
		{KindEmail, "ann@gmail.com"}, // free mail identifies a person, just not an account
	}
	for _, id := range usable {
		if !g.Usable(id) {
			t.Errorf("Usable(%v) = false, want true", id)
		}
	}
	notEmails := []string{"ann", "ann@", "@acme.com", "ann@acme", "ann@localhost", "ann@192.0.2.1", "ann@[192.0.2.1]",
		"ann smith@acme.com", "a@b@acme.com", "Ann <ann@acme.com>", "ann@co.uk", "ann@acme.local", strings.Repeat("a", 250) + "@acme.com"}
	for _, v := range notEmails {
		if g.Usable(Identifier{KindEmail, v}) {
			t.Errorf("Usable(email %q) = true, want false", v)
		}
	}
	if g.Usable(Identifier{"phone", "+33 1 23 45 67 89"}) {
		t.Error("unknown kind usable")
	}
	if g.Usable(Identifier{KindUserID, strings.Repeat("x", MaxValueLen+1)}) {
		t.Error("over-long value usable")
	}
	// The structural rule holds even for a zero Guards.
	if (Guards{}).Usable(Identifier{KindUserID, "000"}) || !(Guards{}).Usable(Identifier{KindUserID, "null"}) {
		t.Error("zero Guards: zeros must be refused, named sentinels are not built in")
	}
}

func TestGuardsWith(t *testing.T) {
	t.Parallel()
	g := DefaultGuards()
	g2 := g.With(" ABC123 ", "void", "QA@Acme.com")
	for _, v := range []string{"abc123", "ABC123", "Void"} {
		if g2.Usable(Identifier{KindUserID, v}) {
			t.Errorf("With: %q still usable", v)
		}
		if !g.Usable(Identifier{KindUserID, v}) {
			t.Errorf("With modified the receiver: %q blocked", v)
		}
	}
	if g2.Usable(Identifier{KindEmail, "qa@acme.com"}) {
		t.Error("blocked email still usable")
	}
	if g2.Usable(Identifier{KindUserID, "null"}) {
		t.Error("With lost the defaults")
	}
	if g2.MaxIdentitiesPerPerson != 50 {
		t.Error("With lost the cap")
	}
}

var idRE = regexp.MustCompile(`^(lead|acct)_[a-z2-7]{24}$`)

func TestLeadID(t *testing.T) {
	t.Parallel()
	email := Identifier{KindEmail, "ann@acme.com"}
	a := LeadID("org_1", email)
	if !idRE.MatchString(a) {
		t.Fatalf("LeadID = %q, bad shape", a)
	}
	// Pinned (checked independently: python3 hashlib.sha256 + base64.b32encode):
	// stored ids must never change.
	if a != "lead_okwmfkfu4of42ahkh223enkv" {
		t.Errorf("LeadID changed: %q", a)
	}
	same := []Identifier{{KindEmail, "Ann@ACME.com"}, {KindEmail, "  ann@acme.com\n"}}
	for _, id := range same {
		if got := LeadID("org_1", id); got != a {
			t.Errorf("LeadID(%v) = %q, want %q (case/space insensitive email)", id, got, a)
		}
	}
	different := map[string]string{
		"org":               LeadID("org_2", email),
		"kind":              LeadID("org_1", Identifier{KindUserID, "ann@acme.com"}),
		"value":             LeadID("org_1", Identifier{KindEmail, "bob@acme.com"}),
		"case of non-email": LeadID("org_1", Identifier{KindUserID, "ANN@acme.com"}),
		"separator":         LeadID("org_1\x00email", Identifier{"", "ann@acme.com"}),
	}
	seen := map[string]string{a: "base"}
	for what, id := range different {
		if prev, dup := seen[id]; dup {
			t.Errorf("LeadID not sensitive to %s (same as %s)", what, prev)
		}
		seen[id] = what
	}
	if LeadID("org_1", Identifier{KindUserID, " u1 "}) != LeadID("org_1", Identifier{KindUserID, "u1"}) {
		t.Error("non-email values are not trimmed")
	}
}

func TestAccountIDForDomain(t *testing.T) {
	t.Parallel()
	a := AccountIDForDomain("org_1", "acme.com")
	if !idRE.MatchString(a) || !strings.HasPrefix(a, "acct_") {
		t.Fatalf("AccountIDForDomain = %q, bad shape", a)
	}
	for _, in := range []string{"ACME.com", "https://www.acme.com/pricing", "mail.acme.com."} {
		if got := AccountIDForDomain("org_1", in); got != a {
			t.Errorf("AccountIDForDomain(%q) = %q, want %q", in, got, a)
		}
	}
	if AccountIDForDomain("org_2", "acme.com") == a || AccountIDForDomain("org_1", "acme.co.uk") == a {
		t.Error("AccountIDForDomain not sensitive to org/domain")
	}
	if AccountIDForDomain("org_1", "acme.com") == LeadID("org_1", Identifier{"domain", "acme.com"}) {
		t.Error("account and lead ids share a namespace")
	}
	for _, bad := range []string{"", "co.uk", "10.0.0.1"} {
		if got := AccountIDForDomain("org_1", bad); got != "" {
			t.Errorf("AccountIDForDomain(%q) = %q, want \"\"", bad, got)
		}
	}
}
