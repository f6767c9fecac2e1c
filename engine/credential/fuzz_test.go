package credential

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

func FuzzParseToken(f *testing.F) {
	for i, p := range allTokenPrefixes {
		full, _, err := NewToken(seeded(uint64(i)), p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(full, []byte{byte(i)})
		f.Add(full[:len(full)-1], []byte(nil))
		f.Add(strings.ToUpper(full), []byte("seed"))
	}
	f.Add("", []byte(nil))
	f.Add("sk_", []byte{0})
	f.Add("sk_"+strings.Repeat("0", 42)+"4fQAsQ", []byte{1, 2, 3})
	f.Add("tsp_\xff\xfe"+strings.Repeat("z", 46), []byte{})

	f.Fuzz(func(t *testing.T, s string, seed []byte) {
		for _, p := range allTokenPrefixes {
			id, err := ParseToken(s, p)
			if err != nil {
				var e *errs.Error
				if !errors.As(err, &e) || e.Kind != errs.KindUnauthenticated || e.Code != tokenCode(p) {
					t.Fatalf("ParseToken(%q, %q): unexpected error %v", s, p, err)
				}
				if id != "" {
					t.Fatalf("id %q returned with error", id)
				}
				continue
			}
			if !strings.HasPrefix(s, p) || len(s) != len(p)+48 || s[len(p):len(p)+TokenIDLength] != id {
				t.Fatalf("ParseToken(%q, %q) accepted with id %q", s, p, id)
			}
			if DisplayPrefix(s) != p+id {
				t.Fatalf("DisplayPrefix(%q) = %q", s, DisplayPrefix(s))
			}
		}
		// DisplayPrefix never returns more than the 10 characters after a prefix.
		if dp := DisplayPrefix(s); dp != "" && (!strings.HasPrefix(s, dp) || len(s)-len(dp) != 38) {
			t.Fatalf("DisplayPrefix(%q) = %q", s, dp)
		}
		// Tokens generated from any seed always parse.
		var key [32]byte
		copy(key[:], seed)
		r := rand.NewChaCha8(key)
		for _, p := range allTokenPrefixes {
			full, id, err := NewToken(r, p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseToken(full, p)
			if err != nil || got != id {
				t.Fatalf("generated %q: ParseToken = %q, %v", full, got, err)
			}
		}
	})
}

func FuzzVerifySignature(f *testing.F) {
	t0 := int64(1_700_000_000)
	good := Sign("secret", time.Unix(t0, 0), []byte("body"))
	f.Add("secret", good, []byte("body"), t0, int64(300))
	f.Add("secret", good+",v1=00", []byte("body"), t0+301, int64(0))
	f.Add("secret", "t=1,v1=zz,v0=,x", []byte{}, int64(0), int64(-5))
	f.Add("", "", []byte(nil), int64(-1), int64(1))
	f.Add("s", "t=9223372036854775807,v1="+strings.Repeat("a", 64), []byte("x"), int64(-9223372036854775808), int64(9223372036854775807))
	f.Add("s", "t=99999999999999999,v1=,v1=,,,=", []byte("x"), t0, int64(1))

	f.Fuzz(func(t *testing.T, secret, header string, body []byte, nowUnix, tolNanos int64) {
		now := time.Unix(nowUnix, 0)
		tol := time.Duration(tolNanos)
		err := VerifySignature(secret, header, body, now, tol)
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.KindUnauthenticated ||
				(e.Code != "signature_invalid" && e.Code != "signature_expired") {
				t.Fatalf("unexpected error %#v", err)
			}
		} else if secret == "" {
			t.Fatal("empty secret verified")
		}
		if secret == "" || nowUnix < 0 || nowUnix > 1e17 {
			return // Sign does not support pre-1970 times
		}
		// A fresh signature always verifies, alone or followed by the
		// fuzzed v1 values.
		h := Sign(secret, now, body)
		if err := VerifySignature(secret, h, body, now, tol); err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
		withExtra := h + ",v1=" + strings.NewReplacer(",", "", "=", "").Replace(header)
		if len(withExtra) <= maxSignatureHeader {
			if err := VerifySignature(secret, withExtra, body, now, tol); err != nil {
				t.Fatalf("own signature plus extra v1 rejected: %v", err)
			}
		}
	})
}
