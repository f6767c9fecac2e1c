package credential

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/trailspark/trailspark/engine/errs"
)

// PasswordParams are Argon2id cost parameters. They are recorded in every
// hash, so changing them affects new hashes only.
type PasswordParams struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes (parallelism)
}

// DefaultPasswordParams is the production setting (RFC 9106 second
// recommendation scaled to a 2-core node: 64 MiB, 2 passes, 2 lanes).
var DefaultPasswordParams = PasswordParams{Time: 2, MemoryKiB: 64 * 1024, Threads: 2}

// FastPasswordParams is a cheap setting for tests only. Never use it for real
// passwords.
var FastPasswordParams = PasswordParams{Time: 1, MemoryKiB: 1024, Threads: 1}

// Password limits (ValidatePassword).
const (
	PasswordMinChars = 8   // counted in Unicode code points
	PasswordMaxBytes = 256 // bounds KDF input and request size
)

const (
	passwordSaltLen = 16
	passwordKeyLen  = 32

	// Bounds accepted when verifying a stored hash, so a corrupt or hostile
	// row cannot make one login allocate gigabytes or spin for minutes.
	maxVerifyTime      = 64
	maxVerifyMemoryKiB = 1 << 21 // 2 GiB
	minSaltLen         = 8
	maxSaltLen         = 64
	minKeyLen          = 16
	maxKeyLen          = 64
)

// ErrPasswordHashFormat is returned (wrapped) by VerifyPassword for an
// encoding it cannot parse. It indicates corrupt data, not a wrong password.
var ErrPasswordHashFormat = errors.New("credential: malformed password hash")

var b64 = base64.RawStdEncoding.Strict()

func (p PasswordParams) check(max bool) error {
	switch {
	case p.Time < 1:
		return fmt.Errorf("argon2id time must be >= 1, got %d", p.Time)
	case p.Threads < 1:
		return fmt.Errorf("argon2id threads must be >= 1, got %d", p.Threads)
	case p.MemoryKiB < 8*uint32(p.Threads):
		return fmt.Errorf("argon2id memory must be >= 8 KiB per thread, got %d KiB", p.MemoryKiB)
	case max && p.Time > maxVerifyTime:
		return fmt.Errorf("argon2id time %d above limit %d", p.Time, maxVerifyTime)
	case max && p.MemoryKiB > maxVerifyMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB above limit %d", p.MemoryKiB, maxVerifyMemoryKiB)
	}
	return nil
}

// HashPassword hashes password with Argon2id under p and a fresh 16-byte salt
// read from r, returning a PHC string:
//
//	$argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash>
//
// (unpadded standard base64, 32-byte hash). It does not apply the length
// policy; call ValidatePassword first for user input.
func HashPassword(r io.Reader, p PasswordParams, password string) (string, error) {
	if err := p.check(false); err != nil {
		return "", fmt.Errorf("credential: %w", err)
	}
	salt := make([]byte, passwordSaltLen)
	if _, err := io.ReadFull(r, salt); err != nil {
		return "", fmt.Errorf("credential: reading salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, passwordKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches encoded, a PHC string made
// by HashPassword. The cost parameters, salt length and hash length are taken
// from encoded, so hashes made under older parameters keep verifying. The
// final comparison is constant time. The error is non-nil only when encoded is
// malformed (wrapping ErrPasswordHashFormat); a wrong password is (false, nil).
func VerifyPassword(encoded, password string) (bool, error) {
	p, salt, want, err := parsePasswordHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters other than p,
// so a caller can transparently upgrade a hash after a successful login.
// Malformed encodings report true.
func NeedsRehash(encoded string, p PasswordParams) bool {
	got, salt, key, err := parsePasswordHash(encoded)
	return err != nil || got != p || len(salt) != passwordSaltLen || len(key) != passwordKeyLen
}

func parsePasswordHash(encoded string) (p PasswordParams, salt, key []byte, err error) {
	bad := func(why string) (PasswordParams, []byte, []byte, error) {
		return PasswordParams{}, nil, nil, fmt.Errorf("%w: %s", ErrPasswordHashFormat, why)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("wrong number of fields")
	}
	if parts[1] != "argon2id" {
		return bad("unsupported algorithm")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return bad("malformed parameters")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok || !isDigits(v) {
			return bad("malformed parameters")
		}
		bits := 32
		if name == "p" {
			bits = 8
		}
		n, perr := strconv.ParseUint(v, 10, bits)
		if perr != nil {
			return bad("parameter out of range")
		}
		vals[i] = n
	}
	p = PasswordParams{MemoryKiB: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2])}
	if cerr := p.check(true); cerr != nil {
		return bad(cerr.Error())
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return bad("malformed salt")
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return bad("malformed hash")
	}
	return p, salt, key, nil
}

// isDigits reports whether s is a non-empty run of ASCII digits without a
// redundant leading zero (so every value has exactly one encoding).
func isDigits(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidatePassword applies the password policy to user input: at least
// PasswordMinChars characters (code points; an empty password is also
// "too_short") and at most PasswordMaxBytes bytes. It returns nil when the
// password is acceptable; note the result is a *errs.Error, so do not assign
// it to an error variable without checking for nil first.
func ValidatePassword(pw string) *errs.Error {
	if utf8.RuneCountInString(pw) < PasswordMinChars {
		return errs.Invalid("password", "too_short", "password must be at least %d characters", PasswordMinChars)
	}
	if len(pw) > PasswordMaxBytes {
		return errs.Invalid("password", "too_long", "password must be at most %d bytes", PasswordMaxBytes)
	}
	return nil
}
