package seal

import (
	"strings"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"ann@example.com", "ann@example.com"},
		{"Ann@Example.COM", "ann@example.com"},
		{"  ann@example.com\t\n", "ann@example.com"},
		{"ANN+Tag@EXAMPLE.com ", "ann+tag@example.com"},
		{"ÉLodie@Exämple.fr", "élodie@exämple.fr"},
		{"", ""},
		{"   ", ""},
		{"a b@c.d", "a b@c.d"}, // interior spaces are kept (ValidateEmail rejects them)
	}
	for _, tt := range tests {
		if got := NormalizeEmail(tt.in); got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := NormalizeEmail(NormalizeEmail(tt.in)); got != NormalizeEmail(tt.in) {
			t.Errorf("NormalizeEmail not idempotent on %q", tt.in)
		}
	}
}

func TestValidateEmail(t *testing.T) {
	t.Parallel()
	local64 := strings.Repeat("a", 64)
	// 254 bytes exactly: 64 + 1 + 189.
	domain189 := strings.Repeat("b", 61) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 60) + ".co"
	at254 := local64 + "@" + domain189
	if len(at254) != 254 {
		t.Fatalf("fixture length %d", len(at254))
	}
	tests := []struct {
		in, code string
	}{
		{"ann@example.com", ""},
		{"Ann.Lee+crm@sub.example.co.uk", ""},
		{"  ann@example.com  ", ""},
		{"o'brien@example.ie", ""},
		{"user_name-1@ex-ample.io", ""},
		{"élodie@exämple.fr", ""},
		{at254, ""},
		{"", "required"},
		{"   ", "required"},
		{"\t\n", "required"},
		{at254 + "x", "too_long"},
		{strings.Repeat("a", 300), "too_long"},
		{"ann", "invalid_format"},
		{"ann@", "invalid_format"},
		{"@example.com", "invalid_format"},
		{"ann@example", "invalid_format"},
		{"ann@localhost", "invalid_format"},
		{"ann@@example.com", "invalid_format"},
		{"ann@bob@example.com", "invalid_format"},
		{"ann @example.com", "invalid_format"},
		{"ann@exa mple.com", "invalid_format"},
		{"ann@example.com\x00", "invalid_format"},
		{"ann\t@example.com", "invalid_format"},
		{"ann@example.com\u00a0x", "invalid_format"},
		{"Ann <ann@example.com>", "invalid_format"},
		{"<ann@example.com>", "invalid_format"},
		{"ann@example.com (Ann)", "invalid_format"},
		{`"ann"@example.com`, "invalid_format"},
		{`"a b"@example.com`, "invalid_format"},
		{"ann@example.com,bob@example.com", "invalid_format"},
		{"ann@.example.com", "invalid_format"},
		{"ann@example.com.", "invalid_format"},
		{"ann@example..com", "invalid_format"},
		{".ann@example.com", "invalid_format"},
		{"ann.@example.com", "invalid_format"},
		{"an..n@example.com", "invalid_format"},
		{"ann@[192.0.2.1]", "invalid_format"},
		{"ann(comment)@example.com", "invalid_format"},
		{"ann@example.com\r\nBcc: x@y.z", "invalid_format"},
	}
	for _, tt := range tests {
		e := ValidateEmail("invite.email", tt.in)
		if tt.code == "" {
			if e != nil {
				t.Errorf("ValidateEmail(%q) = %v, want nil", tt.in, e)
			}
			continue
		}
		if e == nil {
			t.Errorf("ValidateEmail(%q) = nil, want %s", tt.in, tt.code)
			continue
		}
		if e.Kind != errs.KindInvalid || e.Code != tt.code || e.Field != "invite.email" {
			t.Errorf("ValidateEmail(%q) = %s/%s field %q, want invalid/%s", tt.in, e.Kind, e.Code, e.Field, tt.code)
		}
	}
}
