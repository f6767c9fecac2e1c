package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

func seeded(n uint64) io.Reader {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], n)
	return rand.NewChaCha8(seed)
}

func testMaster(b byte) []byte { return bytes.Repeat([]byte{b}, MasterKeySize) }

func mustNew(t testing.TB, master []byte) *Sealer {
	t.Helper()
	s, err := New(master)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func countingMaster() []byte {
	m := make([]byte, 32)
	for i := range m {
		m[i] = byte(i)
	}
	return m
}

func TestNewKeyLength(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 16, 24, 31, 33, 64} {
		if s, err := New(make([]byte, n)); err == nil || s != nil {
			t.Errorf("New(%d bytes) = %v, %v; want error", n, s, err)
		}
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := New(make([]byte, 32)); err != nil {
		t.Errorf("New(32 bytes): %v", err)
	}
}

// TestKnownAnswers pins the key derivation and format against values computed
// independently in Python (HKDF-SHA256 by hand, hmac, cryptography's AESGCM).
func TestKnownAnswers(t *testing.T) {
	t.Parallel()
	s := mustNew(t, countingMaster())
	if got, want := hex.EncodeToString(s.Pepper()), "ff7ef9551863698c99e0266ef9e8dd16129aa99d060fa921932f20a99051175f"; got != want {
		t.Errorf("Pepper = %s, want %s", got, want)
	}
	if got, want := s.Index("email", "ann@example.com"), "f69c32ac4fbac712103c7558a3120f5112c101eeb359c5d5799965bdf4082bcb"; got != want {
		t.Errorf("Index = %s, want %s", got, want)
	}
	nonce := make([]byte, 12)
	for i := range nonce {
		nonce[i] = byte(100 + i)
	}
	sealed, err := s.Seal(bytes.NewReader(nonce), []byte("crm-refresh-token"), []byte("org_1/hubspot"))
	if err != nil {
		t.Fatal(err)
	}
	want := "016465666768696a6b6c6d6e6f59d729a678d993fe31e40dbdfbaf38dc242f6b1dea800f1bdcb4a127edd02364a5"
	if got := hex.EncodeToString(sealed); got != want {
		t.Fatalf("Seal = %s\nwant %s", got, want)
	}
	raw, _ := hex.DecodeString(want)
	pt, err := s.Open(raw, []byte("org_1/hubspot"))
	if err != nil || string(pt) != "crm-refresh-token" {
		t.Fatalf("Open(known) = %q, %v", pt, err)
	}
}

func TestSealRoundTrip(t *testing.T) {
	t.Parallel()
	s := mustNew(t, testMaster(1))
	r := seeded(1)
	tests := []struct {
		name   string
		pt, ad []byte
	}{
		{"empty", nil, nil},
		{"empty with ad", []byte{}, []byte("ad")},
		{"short", []byte("x"), nil},
		{"token", []byte("hubspot-refresh-token-abc"), []byte("crm_token/org_1/int_2")},
		{"binary", []byte{0, 1, 2, 255, 0}, []byte{0}},
		{"large", bytes.Repeat([]byte("0123456789"), 10_000), []byte("big")},
	}
	for _, tt := range tests {
		sealed, err := s.Seal(r, tt.pt, tt.ad)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(sealed) != len(tt.pt)+29 || sealed[0] != Version {
			t.Fatalf("%s: len %d version %d", tt.name, len(sealed), sealed[0])
		}
		if len(tt.pt) > 4 && bytes.Contains(sealed, tt.pt) {
			t.Fatalf("%s: plaintext visible in output", tt.name)
		}
		got, err := s.Open(sealed, tt.ad)
		if err != nil {
			t.Fatalf("%s: Open: %v", tt.name, err)
		}
		if !bytes.Equal(got, tt.pt) || got == nil {
			t.Fatalf("%s: Open = %q (nil=%v), want %q", tt.name, got, got == nil, tt.pt)
		}
		// A second Sealer from the same master opens it (keys are derived
		// deterministically).
		if got, err := mustNew(t, testMaster(1)).Open(sealed, tt.ad); err != nil || !bytes.Equal(got, tt.pt) {
			t.Fatalf("%s: fresh Sealer: %v", tt.name, err)
		}
	}
	// Same plaintext twice gives different ciphertexts (fresh nonce).
	a, _ := s.Seal(r, []byte("same"), nil)
	b, _ := s.Seal(r, []byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
}

func TestSealReaderError(t *testing.T) {
	t.Parallel()
	s := mustNew(t, testMaster(1))
	if _, err := s.Seal(strings.NewReader("short"), []byte("x"), nil); err == nil {
		t.Fatal("short nonce read ignored")
	}
	if _, err := s.SealString(strings.NewReader(""), "x", nil); err == nil {
		t.Fatal("empty reader ignored")
	}
}

// TestOpenTamper flips every bit of every byte (version, nonce, ciphertext,
// tag) and expects each to be rejected.
func TestOpenTamper(t *testing.T) {
	t.Parallel()
	s := mustNew(t, testMaster(2))
	ad := []byte("ctx")
	sealed, err := s.Seal(seeded(2), []byte("secret value"), ad)
	if err != nil {
		t.Fatal(err)
	}
	regions := []struct {
		name       string
		start, end int
	}{
		{"version", 0, 1},
		{"nonce", 1, 13},
		{"ciphertext", 13, len(sealed) - 16},
		{"tag", len(sealed) - 16, len(sealed)},
	}
	for _, reg := range regions {
		t.Run(reg.name, func(t *testing.T) {
			t.Parallel()
			for i := reg.start; i < reg.end; i++ {
				for bit := range 8 {
					b := bytes.Clone(sealed)
					b[i] ^= 1 << bit
					if pt, err := s.Open(b, ad); err == nil || pt != nil || !errors.Is(err, ErrOpen) {
						t.Fatalf("byte %d bit %d: Open = %q, %v", i, bit, pt, err)
					}
				}
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	s := mustNew(t, testMaster(3))
	ad := []byte("org_1/key_1")
	sealed, err := s.Seal(seeded(3), []byte("sks_secret"), ad)
	if err != nil {
		t.Fatal(err)
	}
	other := mustNew(t, testMaster(4))
	v2 := bytes.Clone(sealed)
	v2[0] = 2
	tests := []struct {
		name   string
		s      *Sealer
		sealed []byte
		ad     []byte
	}{
		{"wrong ad", s, sealed, []byte("org_2/key_1")},
		{"missing ad", s, sealed, nil},
		{"extra ad byte", s, sealed, append(bytes.Clone(ad), 0)},
		{"wrong master", other, sealed, ad},
		{"nil", s, nil, ad},
		{"empty", s, []byte{}, ad},
		{"version only", s, []byte{1}, ad},
		{"one short of minimum", s, sealed[:28], ad},
		{"truncated", s, sealed[:len(sealed)-1], ad},
		{"extended", s, append(bytes.Clone(sealed), 0), ad},
		{"version 0", s, append([]byte{0}, sealed[1:]...), ad},
		{"version 2", s, v2, ad},
		{"all zeros", s, make([]byte, 64), ad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pt, err := tt.s.Open(tt.sealed, tt.ad)
			if err == nil || pt != nil {
				t.Fatalf("Open = %q, %v; want error", pt, err)
			}
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("error %v does not wrap ErrOpen", err)
			}
			if strings.Contains(err.Error(), "sks_secret") {
				t.Fatal("error leaks plaintext")
			}
		})
	}
}

func TestSealString(t *testing.T) {
	t.Parallel()
	s := mustNew(t, testMaster(5))
	enc, err := s.SealString(seeded(5), "hubspot token ✓", []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(enc, "=\n") {
		t.Fatalf("SealString output %q is not raw base64", enc)
	}
	if _, err := base64.RawStdEncoding.DecodeString(enc); err != nil {
		t.Fatalf("not RawStdEncoding: %v", err)
	}
	got, err := s.OpenString(enc, []byte("ad"))
	if err != nil || got != "hubspot token ✓" {
		t.Fatalf("OpenString = %q, %v", got, err)
	}
	for _, bad := range []string{"", "!!!", enc + "=", enc[:len(enc)-1], strings.ToUpper(enc)} {
		if got, err := s.OpenString(bad, []byte("ad")); err == nil || got != "" || !errors.Is(err, ErrOpen) {
			t.Errorf("OpenString(%q) = %q, %v", bad, got, err)
		}
	}
	if _, err := s.OpenString(enc, []byte("other")); !errors.Is(err, ErrOpen) {
		t.Errorf("wrong ad: %v", err)
	}
}

func TestIndex(t *testing.T) {
	t.Parallel()
	s := mustNew(t, testMaster(6))
	a := s.Index("email", "ann@example.com")
	if len(a) != 64 {
		t.Fatalf("Index length %d", len(a))
	}
	if _, err := hex.DecodeString(a); err != nil {
		t.Fatalf("Index not hex: %v", err)
	}
	if a != s.Index("email", "ann@example.com") || a != mustNew(t, testMaster(6)).Index("email", "ann@example.com") {
		t.Fatal("Index is not stable")
	}
	distinct := map[string]string{
		"same value, other kind": s.Index("domain", "ann@example.com"),
		"other value":            s.Index("email", "bob@example.com"),
		"case differs":           s.Index("email", "Ann@example.com"),
		"other master":           mustNew(t, testMaster(7)).Index("email", "ann@example.com"),
		"boundary shift":         s.Index("emai", "l\x00ann@example.com"),
		"empty kind":             s.Index("", "email\x00ann@example.com"),
	}
	seen := map[string]string{a: "base"}
	for name, v := range distinct {
		if prev, ok := seen[v]; ok {
			t.Errorf("%s collides with %s", name, prev)
		}
		seen[v] = name
	}
	if got := s.EmailIndex("  Ann@Example.COM "); got != a {
		t.Fatalf("EmailIndex does not normalise: %s != %s", got, a)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Index with NUL in kind did not panic")
		}
	}()
	s.Index("e\x00mail", "x")
}

func TestSubkeysIndependent(t *testing.T) {
	t.Parallel()
	master := countingMaster()
	s := mustNew(t, master)
	p := s.Pepper()
	if len(p) != 32 {
		t.Fatalf("pepper length %d", len(p))
	}
	if bytes.Equal(p, master) || bytes.Equal(p, s.indexKey) {
		t.Fatal("pepper equals another key")
	}
	if bytes.Equal(s.indexKey, master) {
		t.Fatal("index key equals master")
	}
	// Pepper returns a copy.
	p[0] ^= 0xFF
	if bytes.Equal(p, s.Pepper()) {
		t.Fatal("Pepper exposes internal slice")
	}
	// New does not keep a reference to the caller's master.
	sealed, _ := s.Seal(seeded(1), []byte("x"), nil)
	master[0] ^= 0xFF
	if _, err := s.Open(sealed, nil); err != nil {
		t.Fatal("Sealer depends on caller's master slice")
	}
	if bytes.Equal(mustNew(t, testMaster(1)).Pepper(), mustNew(t, testMaster(2)).Pepper()) {
		t.Fatal("pepper does not depend on master")
	}
}

func TestMasterKeyEncoding(t *testing.T) {
	t.Parallel()
	key, err := NewMasterKey(seeded(8))
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != 32 {
		t.Fatalf("NewMasterKey length %d", len(key))
	}
	enc := EncodeMasterKey(key)
	if len(enc) != 44 || enc != base64.StdEncoding.EncodeToString(key) {
		t.Fatalf("EncodeMasterKey = %q", enc)
	}
	// A key whose base64 contains both '+'/'/' and '-'/'_' variants.
	special := bytes.Repeat([]byte{0xFB, 0xFF, 0xBF}, 11)[:32]
	forms := map[string]string{
		"std padded":   base64.StdEncoding.EncodeToString(key),
		"std raw":      base64.RawStdEncoding.EncodeToString(key),
		"url padded":   base64.URLEncoding.EncodeToString(key),
		"url raw":      base64.RawURLEncoding.EncodeToString(key),
		"hex lower":    hex.EncodeToString(key),
		"hex upper":    strings.ToUpper(hex.EncodeToString(key)),
		"whitespace":   "  " + EncodeMasterKey(key) + "\n",
		"special std":  base64.StdEncoding.EncodeToString(special),
		"special url":  base64.RawURLEncoding.EncodeToString(special),
		"special hex":  hex.EncodeToString(special),
		"special back": EncodeMasterKey(special),
	}
	for name, s := range forms {
		want := key
		if strings.HasPrefix(name, "special") {
			want = special
		}
		got, err := DecodeMasterKey(s)
		if err != nil {
			t.Errorf("%s: DecodeMasterKey: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: wrong key", name)
		}
	}
	bad := map[string]string{
		"empty":           "",
		"spaces":          "   ",
		"short base64":    base64.StdEncoding.EncodeToString(key[:31]),
		"long base64":     base64.StdEncoding.EncodeToString(append(bytes.Clone(key), 1)),
		"16-byte key":     base64.StdEncoding.EncodeToString(key[:16]),
		"short hex":       hex.EncodeToString(key)[:62],
		"bad hex char":    "g" + hex.EncodeToString(key)[1:],
		"garbage":         "not a key at all!",
		"mixed alphabets": strings.Replace(base64.StdEncoding.EncodeToString(special), "+", "-", 1),
		"inner space":     enc[:10] + " " + enc[10:],
	}
	for name, s := range bad {
		got, err := DecodeMasterKey(s)
		if err == nil {
			t.Errorf("%s: DecodeMasterKey(%q) = %x, want error", name, s, got)
			continue
		}
		if len(s) > 8 && strings.Contains(err.Error(), strings.TrimSpace(s)) {
			t.Errorf("%s: error leaks the key: %v", name, err)
		}
	}
	if _, err := NewMasterKey(strings.NewReader("short")); err == nil {
		t.Error("NewMasterKey ignored short read")
	}
	// Round trip into New.
	dec, _ := DecodeMasterKey(enc)
	if _, err := New(dec); err != nil {
		t.Fatal(err)
	}
}
