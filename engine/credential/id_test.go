package credential

import (
	"strings"
	"testing"
)

func TestNewID(t *testing.T) {
	t.Parallel()
	prefixes := []string{OrgIDPrefix, UserIDPrefix, InvitationIDPrefix, APIKeyIDPrefix, PATIDPrefix}
	for i, p := range prefixes {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			r := seeded(uint64(i))
			seen := map[string]bool{}
			for range 500 {
				id, err := NewID(r, p)
				if err != nil {
					t.Fatal(err)
				}
				if len(id) != len(p)+IDLength || !strings.HasPrefix(id, p) {
					t.Fatalf("bad id %q", id)
				}
				for _, c := range id[len(p):] {
					if !strings.ContainsRune(idAlphabet, c) {
						t.Fatalf("id %q has character %q outside the alphabet", id, c)
					}
				}
				if !ValidID(id, p) {
					t.Fatalf("ValidID(%q) = false", id)
				}
				if seen[id] {
					t.Fatalf("duplicate id %q", id)
				}
				seen[id] = true
			}
		})
	}
}

func TestNewIDDeterministicAndAlphabet(t *testing.T) {
	t.Parallel()
	a, _ := NewID(seeded(5), OrgIDPrefix)
	b, _ := NewID(seeded(5), OrgIDPrefix)
	if a != b {
		t.Fatalf("same seed, different ids %q %q", a, b)
	}
	// Byte b maps to idAlphabet[b%32]: 0 -> '0', 31 -> 'z', 255 -> 'z', 32 -> '0'.
	id, err := NewID(&cycleReader{b: []byte{0, 31, 255, 32, 10}}, UserIDPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if want := "usr_" + strings.Repeat("0zz0a", 4); id != want {
		t.Fatalf("id = %q, want %q", id, want)
	}
	if len(idAlphabet) != 32 {
		t.Fatal("id alphabet must have 32 characters")
	}
}

func TestNewIDErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewID(seeded(1), "org"); err == nil {
		t.Error("prefix without underscore accepted")
	}
	if _, err := NewID(seeded(1), ""); err == nil {
		t.Error("empty prefix accepted")
	}
	if _, err := NewID(errReader{}, OrgIDPrefix); err == nil {
		t.Error("reader error ignored")
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	good := "org_" + strings.Repeat("0123456789", 2)
	tests := []struct {
		in, prefix string
		want       bool
	}{
		{good, OrgIDPrefix, true},
		{"org_abcdefghjkmnpqrstvwx", OrgIDPrefix, true},
		{good, UserIDPrefix, false},
		{good[:len(good)-1], OrgIDPrefix, false},
		{good + "0", OrgIDPrefix, false},
		{"org_0123456789012345678i", OrgIDPrefix, false},
		{"org_0123456789012345678l", OrgIDPrefix, false},
		{"org_0123456789012345678o", OrgIDPrefix, false},
		{"org_0123456789012345678u", OrgIDPrefix, false},
		{"org_0123456789012345678A", OrgIDPrefix, false},
		{"org_012345678901234567_9", OrgIDPrefix, false},
		{"", OrgIDPrefix, false},
		{good, "", false},
		{good, "org", false},
	}
	for _, tt := range tests {
		if got := ValidID(tt.in, tt.prefix); got != tt.want {
			t.Errorf("ValidID(%q, %q) = %v, want %v", tt.in, tt.prefix, got, tt.want)
		}
	}
}
