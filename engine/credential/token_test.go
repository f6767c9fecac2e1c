package credential

import (
	"math"
	"strings"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
)

func tokenCode(prefix string) string {
	if prefix == APIKeyPrefix {
		return "key_invalid"
	}
	return "invalid_token"
}

func TestNewTokenFormat(t *testing.T) {
	t.Parallel()
	for i, prefix := range allTokenPrefixes {
		t.Run(prefix, func(t *testing.T) {
			t.Parallel()
			full, id, err := NewToken(seeded(uint64(i)), prefix)
			if err != nil {
				t.Fatal(err)
			}
			if want := len(prefix) + 48; len(full) != want {
				t.Fatalf("len = %d, want %d", len(full), want)
			}
			if !strings.HasPrefix(full, prefix) {
				t.Fatalf("token lacks prefix %q", prefix)
			}
			if len(id) != TokenIDLength || full[len(prefix):len(prefix)+TokenIDLength] != id {
				t.Fatalf("id %q is not the 10 characters after the prefix", id)
			}
			for _, c := range full[len(prefix):] {
				if !strings.ContainsRune(base62Alphabet, c) {
					t.Fatalf("non-base62 character %q", c)
				}
			}
			got, err := ParseToken(full, prefix)
			if err != nil {
				t.Fatalf("ParseToken: %v", err)
			}
			if got != id {
				t.Fatalf("ParseToken id = %q, want %q", got, id)
			}
			if dp := DisplayPrefix(full); dp != prefix+id {
				t.Fatalf("DisplayPrefix = %q, want %q", dp, prefix+id)
			}
		})
	}
}

func TestNewTokenDeterministic(t *testing.T) {
	t.Parallel()
	a, _, err := NewToken(seeded(42), APIKeyPrefix)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := NewToken(seeded(42), APIKeyPrefix)
	c, _, _ := NewToken(seeded(43), APIKeyPrefix)
	if a != b {
		t.Fatalf("same seed gave %q and %q", a, b)
	}
	if a == c {
		t.Fatal("different seeds gave the same token")
	}
	// Many tokens from one stream are all distinct.
	r := seeded(7)
	seen := map[string]bool{}
	for range 2000 {
		full, id, err := NewToken(r, SessionPrefix)
		if err != nil {
			t.Fatal(err)
		}
		if seen[full] || seen[id] {
			t.Fatal("duplicate token or id")
		}
		seen[full], seen[id] = true, true
	}
}

// TestChecksumKnownAnswer pins the checksum encoding against values computed
// independently (Python zlib.crc32 + base62, most significant digit first).
func TestChecksumKnownAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"sk_" + strings.Repeat("0", 42), "4fQAsQ"},
		{"tss_ABCDEFGHIJabcdefghijklmnopqrstuvwxyz012345", "31AXy5"},
		{"", "000000"}, // CRC32("") == 0: zero padding
	}
	for _, tt := range tests {
		if got := checksum(tt.in); got != tt.want {
			t.Errorf("checksum(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	full := "sk_" + strings.Repeat("0", 42) + "4fQAsQ"
	id, err := ParseToken(full, APIKeyPrefix)
	if err != nil || id != "0000000000" {
		t.Fatalf("ParseToken(known) = %q, %v", id, err)
	}
	// The largest CRC fits in 6 base62 digits.
	if math.Pow(62, 6) <= math.MaxUint32 {
		t.Fatal("62^6 must exceed 2^32")
	}
}

// TestRandomStringUniform detects modulo bias: without rejection sampling the
// first 8 base62 characters would be 25% more frequent than the rest.
func TestRandomStringUniform(t *testing.T) {
	t.Parallel()
	const perChar = 4000
	s, err := randomString(seeded(1), base62Alphabet, 62*perChar)
	if err != nil {
		t.Fatal(err)
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	chi2 := 0.0
	for i := 0; i < len(base62Alphabet); i++ {
		d := float64(counts[base62Alphabet[i]] - perChar)
		chi2 += d * d / perChar
	}
	// 61 degrees of freedom: p(chi2 > 120) < 1e-5; modulo bias gives ~500.
	if chi2 > 120 {
		t.Fatalf("chi-square %.1f: distribution is not uniform", chi2)
	}
}

func TestRandomStringRejectsHighBytes(t *testing.T) {
	t.Parallel()
	// 248..255 must be skipped; 0 -> '0', 61 -> 'z', 62 -> '0', 247 -> 'z'.
	r := &cycleReader{b: []byte{255, 0, 248, 61, 249, 62, 250, 247}}
	s, err := randomString(r, base62Alphabet, 8)
	if err != nil {
		t.Fatal(err)
	}
	if s != "0z0z0z0z" {
		t.Fatalf("got %q, want 0z0z0z0z", s)
	}
}

func TestNewTokenReaderFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    interface{ Read([]byte) (int, error) }
	}{
		{"error", errReader{}},
		{"eof", strings.NewReader("short")},
		{"always rejected", &cycleReader{b: []byte{0xFF, 0xF8}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			full, id, err := NewToken(tt.r, APIKeyPrefix)
			if err == nil || full != "" || id != "" {
				t.Fatalf("NewToken = %q, %q, %v; want error", full, id, err)
			}
		})
	}
}

func TestNewTokenBadPrefix(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", "_", "sk", "SK_", "s-k_", "sk__", "a_b_", "verylongprefixxxx_", "sk_\x00"} {
		if _, _, err := NewToken(seeded(1), p); err == nil {
			t.Errorf("NewToken(prefix %q) succeeded", p)
		}
	}
}

func TestParseTokenMalformed(t *testing.T) {
	t.Parallel()
	good, _, err := NewToken(seeded(3), APIKeyPrefix)
	if err != nil {
		t.Fatal(err)
	}
	body := good[len(APIKeyPrefix):]
	tests := []struct {
		name, in, prefix string
	}{
		{"empty", "", APIKeyPrefix},
		{"prefix only", APIKeyPrefix, APIKeyPrefix},
		{"truncated", good[:len(good)-1], APIKeyPrefix},
		{"extended", good + "0", APIKeyPrefix},
		{"no prefix", body, APIKeyPrefix},
		{"upper prefix", "SK_" + body, APIKeyPrefix},
		{"other prefix", "sks_" + body, APIKeyPrefix},
		{"leading space", " " + good, APIKeyPrefix},
		{"trailing newline", good + "\n", APIKeyPrefix},
		{"bearer word", "Bearer " + good, APIKeyPrefix},
		{"non-ascii", APIKeyPrefix + "é" + body[2:], APIKeyPrefix},
		{"underscore in body", APIKeyPrefix + "_" + body[1:], APIKeyPrefix},
		{"all zeros", APIKeyPrefix + strings.Repeat("0", 48), APIKeyPrefix},
		{"invalid prefix arg", good, "sk"},
		{"empty prefix arg", good, ""},
		{"session as key", strings.Replace(good, APIKeyPrefix, SessionPrefix, 1), APIKeyPrefix},
		{"key as session", good, SessionPrefix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := ParseToken(tt.in, tt.prefix)
			if id != "" {
				t.Fatalf("id = %q on error", id)
			}
			wantErr(t, err, errs.KindUnauthenticated, tokenCode(tt.prefix))
			if tt.in != "" && strings.Contains(err.Error(), body[:TokenIDLength]) {
				t.Fatalf("error message leaks the token: %q", err)
			}
		})
	}
}

// TestParseTokenEveryCorruption changes each character of a token to every
// other printable ASCII character and checks that nothing survives: the
// prefix check, charset check or CRC32 (which catches every single-byte
// change) must reject it. Adjacent transpositions are caught as well.
func TestParseTokenEveryCorruption(t *testing.T) {
	t.Parallel()
	for i, prefix := range allTokenPrefixes {
		t.Run(prefix, func(t *testing.T) {
			t.Parallel()
			full, _, err := NewToken(seeded(uint64(100+i)), prefix)
			if err != nil {
				t.Fatal(err)
			}
			b := []byte(full)
			for pos := range b {
				orig := b[pos]
				for c := byte(0x20); c < 0x7f; c++ {
					if c == orig {
						continue
					}
					b[pos] = c
					if _, err := ParseToken(string(b), prefix); err == nil {
						t.Fatalf("corruption at %d (%q -> %q) accepted", pos, orig, c)
					} else {
						wantErr(t, err, errs.KindUnauthenticated, tokenCode(prefix))
					}
				}
				b[pos] = orig
			}
			for pos := 0; pos+1 < len(b); pos++ {
				if b[pos] == b[pos+1] {
					continue
				}
				b[pos], b[pos+1] = b[pos+1], b[pos]
				if _, err := ParseToken(string(b), prefix); err == nil {
					t.Fatalf("transposition at %d accepted", pos)
				}
				b[pos], b[pos+1] = b[pos+1], b[pos]
			}
			// Every deletion and every insertion changes the length.
			for pos := range b {
				if _, err := ParseToken(full[:pos]+full[pos+1:], prefix); err == nil {
					t.Fatalf("deletion at %d accepted", pos)
				}
				if _, err := ParseToken(full[:pos]+"A"+full[pos:], prefix); err == nil {
					t.Fatalf("insertion at %d accepted", pos)
				}
			}
		})
	}
}

func TestParseTokenWrongPrefix(t *testing.T) {
	t.Parallel()
	for i, kind := range allTokenPrefixes {
		full, _, err := NewToken(seeded(uint64(200+i)), kind)
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range allTokenPrefixes {
			_, err := ParseToken(full, other)
			if other == kind {
				if err != nil {
					t.Errorf("%s token rejected as itself: %v", kind, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s token accepted as %s", kind, other)
				continue
			}
			wantErr(t, err, errs.KindUnauthenticated, tokenCode(other))
		}
		// Relabelling the prefix (keeping body and checksum) fails the
		// checksum, because the prefix is covered by it.
		for _, other := range allTokenPrefixes {
			if other == kind {
				continue
			}
			if _, err := ParseToken(other+full[len(kind):], other); err == nil {
				t.Errorf("%s token relabelled as %s accepted", kind, other)
			}
		}
	}
}

func TestDisplayPrefix(t *testing.T) {
	t.Parallel()
	full, id, err := NewToken(seeded(9), PATPrefix)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{full, PATPrefix + id},
		{"", ""},
		{"garbage", ""},
		{PATPrefix, ""},
		{full[:len(full)-1], ""},
		{full + "x", ""},
		{"Bearer " + full, ""},
		{strings.Repeat("a", 60), ""},
		{"tsp_" + strings.Repeat("!", 48), ""},
		{"TSP_" + full[4:], ""},
		{"_" + full[4:], ""},
		{"averyveryverylongprefix_" + full[4:], ""},
	}
	for _, tt := range tests {
		if got := DisplayPrefix(tt.in); got != tt.want {
			t.Errorf("DisplayPrefix(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Never reveals more than prefix + id, even for a token with a bad
	// checksum (DisplayPrefix does not verify it).
	bad := full[:len(full)-1] + "0"
	if full[len(full)-1] == '0' {
		bad = full[:len(full)-1] + "1"
	}
	if got := DisplayPrefix(bad); got != PATPrefix+id {
		t.Errorf("DisplayPrefix(bad checksum) = %q", got)
	}
}
