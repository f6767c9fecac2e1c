package credential

import (
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

func TestSignKnownAnswer(t *testing.T) {
	t.Parallel()
	// Computed independently with Python's hmac module.
	got := Sign("whsec_test", time.Unix(1700000000, 999_000_000), []byte(`{"a":1}`))
	want := "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
	if got != want {
		t.Fatalf("Sign = %q\nwant %q", got, want)
	}
	if !regexp.MustCompile(`^t=\d+,v1=[0-9a-f]{64}$`).MatchString(got) {
		t.Fatalf("bad shape %q", got)
	}
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	const secret = "sks_secret"
	body := []byte(`{"event":"signup","email":"ann@example.com"}`)
	t0 := time.Unix(1_700_000_000, 0)
	good := Sign(secret, t0, body)
	sig := good[strings.Index(good, "v1=")+3:]
	otherSig := Sign("old_secret", t0, body)
	otherSig = otherSig[strings.Index(otherSig, "v1=")+3:]
	ts := "t=1700000000"

	tests := []struct {
		name      string
		secret    string
		header    string
		body      []byte
		now       time.Time
		tolerance time.Duration
		code      string // "" = valid
	}{
		{"valid", secret, good, body, t0, DefaultSignatureTolerance, ""},
		{"valid later", secret, good, body, t0.Add(299 * time.Second), DefaultSignatureTolerance, ""},
		{"boundary past", secret, good, body, t0.Add(300 * time.Second), DefaultSignatureTolerance, ""},
		{"just past boundary", secret, good, body, t0.Add(300*time.Second + time.Nanosecond), DefaultSignatureTolerance, "signature_expired"},
		{"boundary future", secret, good, body, t0.Add(-300 * time.Second), DefaultSignatureTolerance, ""},
		{"too far future", secret, good, body, t0.Add(-301 * time.Second), DefaultSignatureTolerance, "signature_expired"},
		{"long ago", secret, good, body, t0.Add(24 * time.Hour), DefaultSignatureTolerance, "signature_expired"},
		{"zero tolerance means default", secret, good, body, t0.Add(300 * time.Second), 0, ""},
		{"zero tolerance past default", secret, good, body, t0.Add(301 * time.Second), 0, "signature_expired"},
		{"custom tolerance", secret, good, body, t0.Add(11 * time.Second), 10 * time.Second, "signature_expired"},
		{"custom tolerance ok", secret, good, body, t0.Add(10 * time.Second), 10 * time.Second, ""},
		{"v1 first", secret, "v1=" + sig + "," + ts, body, t0, 0, ""},
		{"multiple v1, match second", secret, ts + ",v1=" + otherSig + ",v1=" + sig, body, t0, 0, ""},
		{"multiple v1, match first", secret, ts + ",v1=" + sig + ",v1=" + otherSig, body, t0, 0, ""},
		{"multiple v1, none match", secret, ts + ",v1=" + otherSig + ",v1=" + otherSig, body, t0, 0, "signature_invalid"},
		{"v0 ignored", secret, ts + ",v0=" + otherSig + ",v1=" + sig, body, t0, 0, ""},
		{"only v0", secret, ts + ",v0=" + sig, body, t0, 0, "signature_invalid"},
		{"unknown scheme ignored", secret, ts + ",v2=zzz,v1=" + sig, body, t0, 0, ""},
		{"spaces tolerated", secret, " t=1700000000 , v1=" + sig + " ", body, t0, 0, ""},
		{"trailing comma", secret, good + ",", body, t0, 0, ""},
		{"upper-case hex", secret, ts + ",v1=" + strings.ToUpper(sig), body, t0, 0, ""},
		{"tampered body", secret, good, append([]byte(nil), append(body, ' ')...), t0, 0, "signature_invalid"},
		{"empty body", secret, good, nil, t0, 0, "signature_invalid"},
		{"wrong secret", "sks_other", good, body, t0, 0, "signature_invalid"},
		{"empty secret", "", Sign("", t0, body), body, t0, 0, "signature_invalid"},
		{"tampered timestamp", secret, "t=1700000001,v1=" + sig, body, t0, 0, "signature_invalid"},
		{"expired and forged is invalid", secret, "t=1,v1=" + sig, body, t0, 0, "signature_invalid"},
		{"truncated sig", secret, ts + ",v1=" + sig[:63], body, t0, 0, "signature_invalid"},
		{"short sig", secret, ts + ",v1=" + sig[:32], body, t0, 0, "signature_invalid"},
		{"long sig", secret, ts + ",v1=" + sig + "00", body, t0, 0, "signature_invalid"},
		{"non-hex sig", secret, ts + ",v1=" + strings.Repeat("g", 64), body, t0, 0, "signature_invalid"},
		{"empty v1", secret, ts + ",v1=", body, t0, 0, "signature_invalid"},
		{"empty header", secret, "", body, t0, 0, "signature_invalid"},
		{"garbage", secret, "garbage", body, t0, 0, "signature_invalid"},
		{"garbage item", secret, good + ",garbage", body, t0, 0, "signature_invalid"},
		{"empty key", secret, good + ",=x", body, t0, 0, "signature_invalid"},
		{"no timestamp", secret, "v1=" + sig, body, t0, 0, "signature_invalid"},
		{"no v1", secret, ts, body, t0, 0, "signature_invalid"},
		{"empty t", secret, "t=,v1=" + sig, body, t0, 0, "signature_invalid"},
		{"non-numeric t", secret, "t=abc,v1=" + sig, body, t0, 0, "signature_invalid"},
		{"signed t", secret, "t=+1700000000,v1=" + sig, body, t0, 0, "signature_invalid"},
		{"negative t", secret, "t=-1700000000,v1=" + sig, body, t0, 0, "signature_invalid"},
		{"leading-zero t", secret, "t=01700000000,v1=" + sig, body, t0, 0, "signature_invalid"},
		{"huge t", secret, "t=99999999999999999999,v1=" + sig, body, t0, 0, "signature_invalid"},
		{"duplicate t", secret, ts + "," + good, body, t0, 0, "signature_invalid"},
		{"semicolons", secret, strings.ReplaceAll(good, ",", ";"), body, t0, 0, "signature_invalid"},
		{"header too long", secret, good + strings.Repeat(",v0=00", 2000), body, t0, 0, "signature_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := VerifySignature(tt.secret, tt.header, tt.body, tt.now, tt.tolerance)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("VerifySignature = %v, want nil", err)
				}
				return
			}
			wantErr(t, err, errs.KindUnauthenticated, tt.code)
			if strings.Contains(err.Error(), tt.secret) && tt.secret != "" {
				t.Fatal("error leaks the secret")
			}
		})
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	r := seeded(11)
	for i := range 200 {
		secret, _, err := NewToken(r, KeySecretPrefix)
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, i)
		_, _ = r.Read(body)
		at := time.Unix(1_600_000_000+int64(i)*997, int64(i)*1_000_003%1_000_000_000)
		h := Sign(secret, at, body)
		if err := VerifySignature(secret, h, body, at, DefaultSignatureTolerance); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
		// Rotation: the header may carry the old and the new secret's v1.
		old := Sign("previous-secret", at, body)
		rotated := old + ",v1=" + h[strings.Index(h, "v1=")+3:]
		if err := VerifySignature(secret, rotated, body, at, 0); err != nil {
			t.Fatalf("rotated %d: %v", i, err)
		}
		if err := VerifySignature("previous-secret", rotated, body, at, 0); err != nil {
			t.Fatalf("rotated old %d: %v", i, err)
		}
		if len(body) > 0 {
			body[0] ^= 1
			if VerifySignature(secret, h, body, at, 0) == nil {
				t.Fatalf("flipped body bit %d verified", i)
			}
		}
	}
	// The MAC is hex of 32 bytes.
	h := Sign("k", time.Unix(0, 0), nil)
	if raw, err := hex.DecodeString(h[strings.Index(h, "v1=")+3:]); err != nil || len(raw) != 32 {
		t.Fatalf("v1 is not 32 bytes of hex: %q", h)
	}
	if !strings.HasPrefix(h, "t=0,") {
		t.Fatalf("epoch header %q", h)
	}
}
