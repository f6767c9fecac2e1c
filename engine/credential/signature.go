package credential

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

// DefaultSignatureTolerance is how far a signature timestamp may be from the
// verifier's clock, in either direction (Stripe's default).
const DefaultSignatureTolerance = 300 * time.Second

// SignatureHeader is the request header carrying the signature.
const SignatureHeader = "X-TrailSpark-Signature"

// maxSignatureHeader bounds the header we are willing to parse.
const maxSignatureHeader = 8 << 10

func signatureMAC(secret string, unix int64, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(unix, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the signature header value for body signed with secret at
// time t (second precision): "t=<unix>,v1=<hex HMAC-SHA256(secret, "<unix>.<body>")>".
// VerifySignature rejects an empty secret and timestamps before 1970, so
// never sign with either.
func Sign(secret string, t time.Time, body []byte) string {
	unix := t.Unix()
	return "t=" + strconv.FormatInt(unix, 10) + ",v1=" + hex.EncodeToString(signatureMAC(secret, unix, body))
}

func signatureInvalid(msg string) *errs.Error {
	return errs.Unauthenticated("signature_invalid", msg)
}

// VerifySignature checks a signature header against the raw request body.
//
// The header is a comma-separated list of scheme=value pairs: exactly one
// t=<unix seconds> and one or more v1=<hex>, in any order; other schemes
// (v0=, future ones) are ignored, as are empty items and spaces around
// items; an item without '=' or a second t= makes the header malformed. A
// v1 that is not 64 hex digits never matches. Every v1 is compared in
// constant time, and one match suffices, so a sender may sign with both the
// old and new secret while rotating.
//
// The signature is checked before the timestamp, so "signature_expired" is
// only reported for a genuine but stale (or future-dated) request: a hint
// about replay or clock skew, never an oracle for forgeries. Both errors are
// *errs.Error of kind unauthenticated; "signature_invalid" covers a missing,
// malformed or non-matching header and an empty secret. The request is
// expired when |now - t| > tolerance; tolerance <= 0 means
// DefaultSignatureTolerance.
func VerifySignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultSignatureTolerance
	}
	if secret == "" {
		return signatureInvalid("no signing secret configured")
	}
	if header == "" {
		return signatureInvalid("signature header missing")
	}
	if len(header) > maxSignatureHeader {
		return signatureInvalid("signature header too long")
	}
	var (
		unix  int64
		haveT bool
		sigs  [][]byte
	)
	for item := range strings.SplitSeq(header, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok || k == "" {
			return signatureInvalid("signature header is malformed")
		}
		switch k {
		case "t":
			if haveT || !isDigits(v) || len(v) > 18 {
				return signatureInvalid("signature header has a malformed timestamp")
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return signatureInvalid("signature header has a malformed timestamp")
			}
			unix, haveT = n, true
		case "v1":
			// Undecodable entries are kept as nil so they simply never match.
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				sig = nil
			}
			sigs = append(sigs, sig)
		}
	}
	if !haveT {
		return signatureInvalid("signature header has no timestamp")
	}
	if len(sigs) == 0 {
		return signatureInvalid("signature header has no v1 signature")
	}
	want := signatureMAC(secret, unix, body)
	match := false
	for _, sig := range sigs {
		// Check every entry (no early exit) so timing does not reveal which
		// one matched.
		if sig != nil && hmac.Equal(sig, want) {
			match = true
		}
	}
	if !match {
		return signatureInvalid("no valid signature for the request body")
	}
	if now.Sub(time.Unix(unix, 0)).Abs() > tolerance {
		return errs.Unauthenticated("signature_expired", "signature timestamp is outside the allowed tolerance")
	}
	return nil
}
