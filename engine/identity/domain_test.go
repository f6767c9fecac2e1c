package identity

import (
	"errors"
	"testing"
)

func TestRegistrableDomain(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    string
		wantErr error
	}{
		{in: "acme.com", want: "acme.com"},
		{in: "mail.acme.co.uk", want: "acme.co.uk"},
		{in: "https://www.Acme.co.uk/pricing", want: "acme.co.uk"},
		{in: "ACME.COM.", want: "acme.com"},
		{in: "www.acme.com", want: "acme.com"},
		{in: "  WWW.ACME.COM  ", want: "acme.com"},
		{in: "http://www.acme.com:8080/a/b?c=d#e", want: "acme.com"},
		{in: "https://user:pw@app.acme.io:443", want: "acme.io"},
		{in: "acme.com:8080", want: "acme.com"},
		{in: "//cdn.acme.com/x.js", want: "acme.com"},
		{in: "acme.com/pricing", want: "acme.com"},
		{in: "acme.com?x=1", want: "acme.com"},
		{in: "ann@Acme.COM", want: "acme.com"},
		{in: "mailto:ann@sales.acme.de", want: "acme.de"},
		{in: "a.b.c.acme.com.au", want: "acme.com.au"},
		{in: "xn--mnchen-3ya.de", want: "xn--mnchen-3ya.de"},
		{in: "www.München.de", want: "xn--mnchen-3ya.de"}, // IDNA → ASCII
		{in: "https://BÜCHER.de/", want: "xn--bcher-kva.de"},
		{in: "www.com", want: "www.com"}, // "www" is the registrable label itself
		// Public suffix list, private section: each github.io site is its own
		// registrable domain.
		{in: "foo.github.io", want: "foo.github.io"},
		{in: "https://www.foo.github.io/repo", want: "foo.github.io"},
		{in: "a.b.foo.github.io", want: "foo.github.io"},
		{in: "x.herokuapp.com", want: "x.herokuapp.com"},
		{in: "github.io", wantErr: ErrPublicSuffix},
		// refusals
		{in: "", wantErr: ErrEmptyDomain},
		{in: "   ", wantErr: ErrEmptyDomain},
		{in: "https://", wantErr: ErrEmptyDomain},
		{in: ".", wantErr: ErrEmptyDomain},
		{in: "co.uk", wantErr: ErrPublicSuffix},
		{in: "www.co.uk", want: "www.co.uk"},
		{in: "com", wantErr: ErrPublicSuffix},
		{in: "https://co.uk/", wantErr: ErrPublicSuffix},
		{in: "192.168.1.10", wantErr: ErrIPAddress},
		{in: "http://10.0.0.1:8080/x", wantErr: ErrIPAddress},
		{in: "::1", wantErr: ErrIPAddress},
		{in: "2001:db8::1", wantErr: ErrIPAddress},
		{in: "http://[2001:db8::1]:443/", wantErr: ErrIPAddress},
		{in: "[::1]", wantErr: ErrIPAddress},
		{in: "fe80::1%eth0", wantErr: ErrIPAddress},
		{in: "1.2.3", wantErr: ErrInvalidDomain}, // numeric TLD
		{in: "localhost", wantErr: ErrInvalidDomain},
		{in: "acme.local", wantErr: ErrUnknownTLD},
		{in: "intranet.acme.internal", wantErr: ErrUnknownTLD},
		{in: "acme..com", wantErr: ErrInvalidDomain},
		{in: "-acme.com", wantErr: ErrInvalidDomain},
		{in: "acme-.com", wantErr: ErrInvalidDomain},
		{in: "acme_corp.com", wantErr: ErrInvalidDomain},
		{in: "acme.com..", wantErr: ErrInvalidDomain},
		{in: "acme com", wantErr: ErrInvalidDomain},
		{in: "acme.com:abc", wantErr: ErrInvalidDomain},
		{in: "404: not found", wantErr: ErrInvalidDomain},
		{in: "\xff\xfe.com", wantErr: ErrInvalidDomain},
		{in: string(make([]byte, 300)), wantErr: ErrInvalidDomain},
	}
	for _, c := range cases {
		got, err := RegistrableDomain(c.in)
		if c.wantErr != nil {
			if !errors.Is(err, c.wantErr) || got != "" {
				t.Errorf("RegistrableDomain(%q) = %q, %v; want error %v", c.in, got, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("RegistrableDomain(%q) = %q, %v; want %q", c.in, got, err, c.want)
			continue
		}
		if again, err := RegistrableDomain(got); err != nil || again != got {
			t.Errorf("not idempotent: RegistrableDomain(%q) = %q, %v", got, again, err)
		}
	}
}

func TestEmailDomain(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"ann@acme.com", "acme.com"},
		{" Ann@Mail.Acme.CO.UK ", "acme.co.uk"},
		{"weird@name@acme.io", "acme.io"}, // last '@'
		{"ann@acme.com.", "acme.com"},
		{"ann@gmail.com", "gmail.com"},
		{"ann@foo.github.io", "foo.github.io"},
		{"ann@", ""},
		{"@acme.com", ""},
		{"acme.com", ""},
		{"", ""},
		{"ann@co.uk", ""},
		{"ann@[192.0.2.1]", ""},
		{"ann@192.0.2.1", ""},
		{"ann@localhost", ""},
		{"ann@acme.com/x", ""}, // URLs are not email domains
		{"ann@acme.com:25", ""},
	}
	for _, c := range cases {
		if got := EmailDomain(c.in); got != c.want {
			t.Errorf("EmailDomain(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
