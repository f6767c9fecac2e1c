package identity

import (
	"slices"
	"strings"
	"testing"

	"github.com/trailspark/trailspark/engine/identity/internal/dnsname"
)

func TestFreeMailDefault(t *testing.T) {
	t.Parallel()
	f := DefaultFreeMail()
	if f != DefaultFreeMail() {
		t.Fatal("DefaultFreeMail is not shared")
	}
	if n := f.Len(); n < 13000 {
		t.Fatalf("default list has %d domains, want > 13000", n)
	}
	cases := []struct {
		in   string
		want bool
	}{
		{"gmail.com", true},
		{"googlemail.com", true},
		{"yahoo.com", true},
		{"qq.com", true},
		{"mail.ru", true},
		{"gmx.de", true},
		{"proton.me", true},
		{"GMAIL.COM.", true},
		{" ann@Gmail.com ", true}, // an address: its domain is used
		{"eu.gmail.com", true},    // a sub-domain of a listed registrable domain
		{"acme.com", false},
		{"ann@acme.com", false},
		{"gmail.co", false},
		{"", false},
		{"com", false},
		{"192.168.0.1", false},
		{"not a domain", false},
	}
	for _, c := range cases {
		if got := f.IsFree(c.in); got != c.want {
			t.Errorf("IsFree(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	var nilF *FreeMail
	if !nilF.IsFree("gmail.com") || nilF.Len() != f.Len() {
		t.Error("nil *FreeMail must behave as the default list")
	}
}

func TestFreeMailHostEntries(t *testing.T) {
	t.Parallel()
	// A listed sub-domain matches itself and below, never its parent; an
	// operator entry under an undelegated TLD still matches exactly; a
	// public-suffix entry never covers the domains under it.
	f := (&FreeMail{set: map[string]struct{}{}}).With("mail.yahoo.co.jp", "@Corp-Mail.example.", "bad entry", "co.uk", "")
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"mail.yahoo.co.jp", true},
		{"x.mail.yahoo.co.jp", true},
		{"yahoo.co.jp", false},
		{"corp-mail.example", true},
		{"co.uk", true},
		{"acme.co.uk", false},
		{"bad entry", false},
	} {
		if got := f.IsFree(c.in); got != c.want {
			t.Errorf("IsFree(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	if f.Len() != 3 {
		t.Errorf("Len = %d, want 3 (invalid entries ignored)", f.Len())
	}
}

func TestFreeMailWithCopies(t *testing.T) {
	t.Parallel()
	base := DefaultFreeMail()
	n := base.Len()
	ext := base.With("Acme-Personal.com", "gmail.com")
	if !ext.IsFree("acme-personal.com") || !ext.IsFree("gmail.com") {
		t.Error("With did not add")
	}
	if base.IsFree("acme-personal.com") || base.Len() != n {
		t.Error("With modified the receiver")
	}
	if ext.Len() != n+1 {
		t.Errorf("ext.Len = %d, want %d", ext.Len(), n+1)
	}
	var nilF *FreeMail
	if !nilF.With("x-mail.com").IsFree("gmail.com") {
		t.Error("nil.With must extend the default list")
	}
}

// TestFreeMailFile checks the committed, embedded list is what the generator
// promises: a comment header naming both sources and licences, then valid,
// sorted, unique domain names.
func TestFreeMailFile(t *testing.T) {
	t.Parallel()
	header, body := "", []string{}
	for _, line := range strings.Split(strings.TrimSuffix(freemailTxt, "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			if len(body) > 0 {
				t.Fatalf("comment after data: %q", line)
			}
			header += line + "\n"
			continue
		}
		body = append(body, line)
	}
	for _, want := range []string{"willwhite/freemail", "ISC", "Kikobeats/free-email-domains", "MIT", "Permission is hereby granted", "Permission to use, copy, modify"} {
		if !strings.Contains(header, want) {
			t.Errorf("header lacks %q", want)
		}
	}
	if !slices.IsSorted(body) {
		t.Error("list not sorted")
	}
	if len(slices.Compact(slices.Clone(body))) != len(body) {
		t.Error("list has duplicates")
	}
	for _, d := range body {
		if !dnsname.Valid(d) {
			t.Errorf("invalid entry %q", d)
		}
	}
	if len(body) != DefaultFreeMail().Len() {
		t.Errorf("file has %d domains, set has %d", len(body), DefaultFreeMail().Len())
	}
	for _, bad := range []string{"check.com12", "zzom.co.ukgmail.com", "busymail.comhomeart.com", "404: not found"} {
		if slices.Contains(body, bad) {
			t.Errorf("malformed upstream entry %q kept", bad)
		}
	}
}
