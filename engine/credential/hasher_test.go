package credential

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func TestHasherKnownAnswer(t *testing.T) {
	t.Parallel()
	// RFC 4231 test case 2.
	h := NewHasher([]byte("Jefe"))
	got := hex.EncodeToString(h.Hash("what do ya want for nothing?"))
	if want := "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; got != want {
		t.Fatalf("Hash = %s, want %s", got, want)
	}
}

func TestHasher(t *testing.T) {
	t.Parallel()
	pepper := bytes.Repeat([]byte{7}, 32)
	h := NewHasher(pepper)
	full, _, err := NewToken(seeded(1), APIKeyPrefix)
	if err != nil {
		t.Fatal(err)
	}
	stored := h.Hash(full)
	if len(stored) != 32 {
		t.Fatalf("hash length %d", len(stored))
	}
	if !bytes.Equal(stored, h.Hash(full)) {
		t.Fatal("Hash is not deterministic")
	}
	if !h.Equal(full, stored) {
		t.Fatal("Equal(original) = false")
	}
	other, _, _ := NewToken(seeded(2), APIKeyPrefix)
	tests := []struct {
		name   string
		secret string
		stored []byte
	}{
		{"other token", other, stored},
		{"empty secret", "", stored},
		{"truncated token", full[:len(full)-1], stored},
		{"nil stored", full, nil},
		{"short stored", full, stored[:31]},
		{"long stored", full, append(append([]byte(nil), stored...), 0)},
	}
	for _, tt := range tests {
		if h.Equal(tt.secret, tt.stored) {
			t.Errorf("%s: Equal = true", tt.name)
		}
	}
	// The pepper matters, and is copied (mutating the caller's slice later
	// must not change hashes).
	if NewHasher(bytes.Repeat([]byte{8}, 32)).Equal(full, stored) {
		t.Fatal("different pepper verified")
	}
	pepper[0] = 99
	if !h.Equal(full, stored) {
		t.Fatal("hasher shares the caller's pepper slice")
	}
}

func TestSecretEqual(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("s", 1000)
	tests := []struct {
		a, b string
		want bool
	}{
		{"sks_abc", "sks_abc", true},
		{long, long, true},
		{"sks_abc", "sks_abd", false},
		{"sks_abc", "sks_ab", false},
		{"sks_ab", "sks_abc", false},
		{"a", "A", false},
		{"", "", false},
		{"", "x", false},
		{"x", "", false},
		{long, long + "s", false},
	}
	for _, tt := range tests {
		if got := SecretEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("SecretEqual(%.10q, %.10q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
