package credential

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/trailspark/trailspark/engine/errs"
)

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashPasswordFormat(t *testing.T) {
	t.Parallel()
	salt := []byte("0123456789abcdef")
	enc, err := HashPassword(bytes.NewReader(salt), FastPasswordParams, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !phcRE.MatchString(enc) {
		t.Fatalf("not a PHC string: %q", enc)
	}
	// Rebuild the expected string directly from the argon2 primitive.
	key := argon2.IDKey([]byte("correct horse"), salt, 1, 1024, 1, 32)
	want := fmt.Sprintf("$argon2id$v=19$m=1024,t=1,p=1$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(key))
	if enc != want {
		t.Fatalf("HashPassword = %q\nwant %q", enc, want)
	}
}

func TestPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	passwords := []string{"correct horse battery staple", "12345678", "pässwörd-ünïcødé", strings.Repeat("x", 256), ""}
	for i, pw := range passwords {
		enc, err := HashPassword(seeded(uint64(i)), FastPasswordParams, pw)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := VerifyPassword(enc, pw)
		if err != nil || !ok {
			t.Fatalf("VerifyPassword(own hash of %q) = %v, %v", pw, ok, err)
		}
		for _, wrong := range []string{pw + "x", strings.ToUpper(pw) + "!", "", " " + pw} {
			if wrong == pw {
				continue
			}
			ok, err := VerifyPassword(enc, wrong)
			if err != nil || ok {
				t.Fatalf("VerifyPassword(%q against hash of %q) = %v, %v", wrong, pw, ok, err)
			}
		}
	}
}

func TestHashPasswordSalted(t *testing.T) {
	t.Parallel()
	r := seeded(1)
	a, _ := HashPassword(r, FastPasswordParams, "same password")
	b, _ := HashPassword(r, FastPasswordParams, "same password")
	if a == b {
		t.Fatal("two hashes of the same password are equal: salt not random")
	}
}

// TestVerifyPasswordOldParams: hashes made under other parameters (and other
// salt/key lengths) keep verifying, because VerifyPassword reads them from the
// encoding.
func TestVerifyPasswordOldParams(t *testing.T) {
	t.Parallel()
	params := []PasswordParams{
		{Time: 1, MemoryKiB: 512, Threads: 2},
		{Time: 3, MemoryKiB: 2048, Threads: 1},
		{Time: 1, MemoryKiB: 64, Threads: 4},
	}
	for i, p := range params {
		enc, err := HashPassword(seeded(uint64(i)), p, "hunter22")
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("$m=%d,t=%d,p=%d$", p.MemoryKiB, p.Time, p.Threads)
		if !strings.Contains(enc, want) {
			t.Fatalf("%q does not record %s", enc, want)
		}
		if ok, err := VerifyPassword(enc, "hunter22"); !ok || err != nil {
			t.Fatalf("params %+v: VerifyPassword = %v, %v", p, ok, err)
		}
		if ok, _ := VerifyPassword(enc, "hunter23"); ok {
			t.Fatalf("params %+v: wrong password verified", p)
		}
		if !NeedsRehash(enc, FastPasswordParams) {
			t.Fatalf("params %+v: NeedsRehash = false", p)
		}
		if NeedsRehash(enc, p) {
			t.Fatalf("params %+v: NeedsRehash(own params) = true", p)
		}
	}
	// A hash built elsewhere with an 8-byte salt and a 24-byte key.
	salt := []byte("saltsalt")
	key := argon2.IDKey([]byte("hunter22"), salt, 2, 256, 1, 24)
	enc := fmt.Sprintf("$argon2id$v=19$m=256,t=2,p=1$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(key))
	if ok, err := VerifyPassword(enc, "hunter22"); !ok || err != nil {
		t.Fatalf("foreign-length hash: VerifyPassword = %v, %v", ok, err)
	}
	if !NeedsRehash(enc, PasswordParams{Time: 2, MemoryKiB: 256, Threads: 1}) {
		t.Fatal("NeedsRehash ignores non-standard salt/key lengths")
	}
	if !NeedsRehash("garbage", FastPasswordParams) {
		t.Fatal("NeedsRehash(garbage) = false")
	}
}

func TestDefaultPasswordParams(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("64 MiB Argon2id")
	}
	enc, err := HashPassword(seeded(1), DefaultPasswordParams, "a real password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=65536,t=2,p=2$") {
		t.Fatalf("unexpected encoding %q", enc)
	}
	if ok, err := VerifyPassword(enc, "a real password"); !ok || err != nil {
		t.Fatalf("VerifyPassword = %v, %v", ok, err)
	}
	if FastPasswordParams != (PasswordParams{Time: 1, MemoryKiB: 1024, Threads: 1}) {
		t.Fatalf("FastPasswordParams = %+v", FastPasswordParams)
	}
}

func TestHashPasswordErrors(t *testing.T) {
	t.Parallel()
	bad := []PasswordParams{
		{Time: 0, MemoryKiB: 1024, Threads: 1},
		{Time: 1, MemoryKiB: 1024, Threads: 0},
		{Time: 1, MemoryKiB: 7, Threads: 1},
		{Time: 1, MemoryKiB: 15, Threads: 2},
	}
	for _, p := range bad {
		if _, err := HashPassword(seeded(1), p, "password"); err == nil {
			t.Errorf("HashPassword(%+v) succeeded", p)
		}
	}
	if _, err := HashPassword(errReader{}, FastPasswordParams, "password"); err == nil {
		t.Error("reader error ignored")
	}
	if _, err := HashPassword(strings.NewReader("short"), FastPasswordParams, "password"); err == nil {
		t.Error("short salt read ignored")
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	t.Parallel()
	good, err := HashPassword(seeded(1), FastPasswordParams, "password")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$") // "", alg, v, params, salt, hash
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := map[string]string{
		"empty":             "",
		"garbage":           "not a hash",
		"bcrypt":            "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":           with(1, "argon2i"),
		"argon2d":           with(1, "argon2d"),
		"old version":       with(2, "v=16"),
		"no version":        strings.Join(append(parts[:2:2], parts[3:]...), "$"),
		"extra field":       good + "$x",
		"leading text":      "x" + good,
		"param order":       with(3, "t=1,m=1024,p=1"),
		"missing param":     with(3, "m=1024,t=1"),
		"extra param":       with(3, "m=1024,t=1,p=1,k=2"),
		"zero time":         with(3, "m=1024,t=0,p=1"),
		"zero threads":      with(3, "m=1024,t=1,p=0"),
		"threads overflow":  with(3, "m=1024,t=1,p=256"),
		"memory overflow":   with(3, "m=4294967296,t=1,p=1"),
		"memory too small":  with(3, "m=7,t=1,p=1"),
		"memory over limit": with(3, "m=4194304,t=1,p=1"),
		"time over limit":   with(3, "m=1024,t=1000,p=1"),
		"leading zero":      with(3, "m=01024,t=1,p=1"),
		"signed":            with(3, "m=+1024,t=1,p=1"),
		"non-numeric":       with(3, "m=abc,t=1,p=1"),
		"spaces":            with(3, "m=1024, t=1,p=1"),
		"padded salt":       with(4, parts[4]+"=="),
		"bad salt b64":      with(4, "!!!!"),
		"short salt":        with(4, b64.EncodeToString([]byte("short"))),
		"empty hash":        with(5, ""),
		"short hash":        with(5, b64.EncodeToString(make([]byte, 8))),
		"bad hash b64":      with(5, parts[5][:len(parts[5])-1]+"*"),
		"url b64 hash":      with(5, strings.NewReplacer("+", "-", "/", "_").Replace(parts[5])+"-_"),
	}
	for name, enc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ok, err := VerifyPassword(enc, "password")
			if ok || err == nil {
				t.Fatalf("VerifyPassword(%q) = %v, %v; want error", enc, ok, err)
			}
			if !errors.Is(err, ErrPasswordHashFormat) {
				t.Fatalf("error %v does not wrap ErrPasswordHashFormat", err)
			}
		})
	}
}

func TestValidatePassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, pw, code string
	}{
		{"empty", "", "too_short"},
		{"seven", "1234567", "too_short"},
		{"eight", "12345678", ""},
		{"seven runes in 14 bytes", "ééééééé", "too_short"},
		{"eight runes", "éééééééé", ""},
		{"256 bytes", strings.Repeat("a", 256), ""},
		{"257 bytes", strings.Repeat("a", 257), "too_long"},
		{"128 two-byte runes", strings.Repeat("é", 128), ""},
		{"129 two-byte runes", strings.Repeat("é", 129), "too_long"},
		{"spaces count", "        ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := ValidatePassword(tt.pw)
			if tt.code == "" {
				if e != nil {
					t.Fatalf("ValidatePassword = %v, want nil", e)
				}
				return
			}
			if e == nil {
				t.Fatalf("ValidatePassword = nil, want %s", tt.code)
			}
			if e.Kind != errs.KindInvalid || e.Code != tt.code || e.Field != "password" {
				t.Fatalf("ValidatePassword = %s/%s field %q, want invalid/%s field password", e.Kind, e.Code, e.Field, tt.code)
			}
			if tt.pw != "" && strings.Contains(e.Message, tt.pw) {
				t.Fatal("message echoes the password")
			}
		})
	}
}
