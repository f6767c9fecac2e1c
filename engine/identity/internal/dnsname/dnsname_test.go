package dnsname

import "testing"

func TestValid(t *testing.T) {
	t.Parallel()
	long63 := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	cases := []struct {
		in   string
		want bool
	}{
		{"acme.com", true},
		{"mail.acme.co.uk", true},
		{"xn--mnchen-3ya.de", true},
		{"0-mail.com", true},
		{"a-b.c0", true},
		{long63 + ".com", true},
		{long63 + "a.com", false},
		{"", false},
		{"com", false},
		{"Acme.com", false},
		{"-acme.com", false},
		{"acme-.com", false},
		{"acme..com", false},
		{".acme.com", false},
		{"acme.com.", false},
		{"acme_x.com", false},
		{"404: not found", false},
		{"1.2.3.4", false},
		{"acme.123", false},
		{"münchen.de", false},
	}
	for _, c := range cases {
		if got := Valid(c.in); got != c.want {
			t.Errorf("Valid(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	// total length limit
	s := long63 + "." + long63 + "." + long63 + "." + long63[:61] // 253
	if !Valid(s) {
		t.Errorf("253-char name refused")
	}
	if Valid(s + "a") {
		t.Errorf("254-char name accepted")
	}
}
