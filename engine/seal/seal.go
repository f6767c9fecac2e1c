// Package seal protects secrets at rest and builds keyed lookup hashes, all
// from one operator-supplied 32-byte master key.
//
// SPEC §1: "Secrets at rest (CRM tokens, key secrets) are encrypted with a key
// from the operator's config. Emails are stored so that lookups use a keyed
// hash; the clear address is stored encrypted."
//
// Design, and why:
//
//   - One master key, three subkeys. HKDF-SHA256 with distinct info labels
//     derives an AES-256-GCM encryption key, an HMAC-SHA256 index key and the
//     credential pepper (for credential.Hasher). Using the master directly for
//     all three would let a weakness or misuse in one role leak into another;
//     derived subkeys are cryptographically independent, yet the operator
//     still manages a single secret.
//   - AES-256-GCM (authenticated encryption). A database dump without the
//     config reveals nothing, and any modification of a stored value is
//     detected on Open instead of silently decrypting to garbage.
//   - Associated data. Callers bind a ciphertext to its context (for example
//     "crm_token/<org id>/<integration id>"), so a value copied from one row or
//     tenant to another fails to open.
//   - Versioned ciphertext. Every sealed value starts with a version byte.
//     It costs one byte and lets a later release change the algorithm or
//     rotate the master key while still opening old rows (dispatching on the
//     version) instead of needing a flag day. The version byte is also
//     authenticated (it is part of the GCM associated data).
//   - Random 96-bit nonces read from the caller's reader (crypto/rand.Reader
//     in production): the package stays free of hidden I/O and tests are
//     deterministic. Random nonces are safe for up to about 2^32 seals per key,
//     far beyond the number of secrets a deployment stores.
//   - Keyed index (HMAC) rather than a plain hash. An email's SHA-256 can be
//     reversed by hashing a list of known addresses; an HMAC under a key that
//     lives only in config cannot. The kind label separates domains so the
//     same value indexed as two different things gives unrelated digests.
//
// The package is pure: no I/O, no goroutines, no clock. A Sealer is immutable
// and safe for concurrent use.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MasterKeySize is the required master key length in bytes.
const MasterKeySize = 32

// Version is the format byte written by Seal.
const Version byte = 1

const (
	nonceSize = 12
	tagSize   = 16
	// overhead is the number of bytes Seal adds to the plaintext.
	overhead = 1 + nonceSize + tagSize
)

// HKDF info labels. Changing any of them changes every derived key, which
// would make all sealed data, indexes and credential hashes unreadable.
const (
	infoEncryption = "trailspark/seal/v1/encryption"
	infoIndex      = "trailspark/seal/v1/index"
	infoPepper     = "trailspark/seal/v1/credential-pepper"
)

// IndexKindEmail is the Index kind for user and invitation email lookups.
const IndexKindEmail = "email"

// ErrOpen is wrapped by every Open/OpenString failure: the input is too
// short, has an unknown version, is not valid base64, or fails
// authentication (tampered, wrong associated data, or wrong master key).
var ErrOpen = errors.New("seal: cannot open sealed value")

// Sealer encrypts, decrypts and indexes with keys derived from one master key.
type Sealer struct {
	aead     cipher.AEAD
	indexKey []byte
	pepper   []byte
}

// New derives a Sealer from master, which must be exactly MasterKeySize
// random bytes (see DecodeMasterKey and NewMasterKey).
func New(master []byte) (*Sealer, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("seal: master key must be %d bytes, got %d", MasterKeySize, len(master))
	}
	derive := func(info string) ([]byte, error) {
		return hkdf.Key(sha256.New, master, nil, info, 32)
	}
	encKey, err := derive(infoEncryption)
	if err != nil {
		return nil, fmt.Errorf("seal: deriving encryption key: %w", err)
	}
	indexKey, err := derive(infoIndex)
	if err != nil {
		return nil, fmt.Errorf("seal: deriving index key: %w", err)
	}
	pepper, err := derive(infoPepper)
	if err != nil {
		return nil, fmt.Errorf("seal: deriving pepper: %w", err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Sealer{aead: aead, indexKey: indexKey, pepper: pepper}, nil
}

// NewMasterKey reads a fresh master key from r (crypto/rand.Reader), for
// first-start bootstrap. Store it with EncodeMasterKey.
func NewMasterKey(r io.Reader) ([]byte, error) {
	k := make([]byte, MasterKeySize)
	if _, err := io.ReadFull(r, k); err != nil {
		return nil, fmt.Errorf("seal: reading master key: %w", err)
	}
	return k, nil
}

// gcmAD is the GCM associated data: the version byte followed by the
// caller's associated data, so the version is authenticated too.
func gcmAD(version byte, ad []byte) []byte {
	out := make([]byte, 0, 1+len(ad))
	out = append(out, version)
	return append(out, ad...)
}

// Seal encrypts plaintext bound to associatedData (which is authenticated but
// not stored: Open needs the same value). The 12-byte nonce is read from r.
// The result is Version || nonce || ciphertext+tag, 29 bytes longer than
// plaintext.
func (s *Sealer) Seal(r io.Reader, plaintext, associatedData []byte) ([]byte, error) {
	out := make([]byte, 1+nonceSize, overhead+len(plaintext))
	out[0] = Version
	nonce := out[1 : 1+nonceSize]
	if _, err := io.ReadFull(r, nonce); err != nil {
		return nil, fmt.Errorf("seal: reading nonce: %w", err)
	}
	return s.aead.Seal(out, nonce, plaintext, gcmAD(Version, associatedData)), nil
}

// Open reverses Seal. It returns an error wrapping ErrOpen, never panics, for
// input that is short, of an unknown version, tampered with, sealed under a
// different master key or with different associated data.
func (s *Sealer) Open(sealed, associatedData []byte) ([]byte, error) {
	if len(sealed) < overhead {
		return nil, fmt.Errorf("%w: too short", ErrOpen)
	}
	if sealed[0] != Version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrOpen, sealed[0])
	}
	nonce := sealed[1 : 1+nonceSize]
	pt, err := s.aead.Open(nil, nonce, sealed[1+nonceSize:], gcmAD(sealed[0], associatedData))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrOpen)
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// SealString seals plaintext and returns it as unpadded standard base64, for
// text columns and config files.
func (s *Sealer) SealString(r io.Reader, plaintext string, associatedData []byte) (string, error) {
	b, err := s.Seal(r, []byte(plaintext), associatedData)
	if err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(b), nil
}

// OpenString reverses SealString.
func (s *Sealer) OpenString(sealed string, associatedData []byte) (string, error) {
	b, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil {
		return "", fmt.Errorf("%w: invalid base64", ErrOpen)
	}
	pt, err := s.Open(b, associatedData)
	if err != nil {
		return "", err
	}
	return string(pt), nil
}

// Index returns the hex HMAC-SHA256, under the index key, of kind + "\x00" +
// value: a stable, non-reversible lookup key (64 hex characters) for values
// such as email addresses (normalise first: see EmailIndex). kind names the
// domain ("email", ...) so equal values of different kinds never collide.
// kind is a constant chosen by code; it panics if kind contains a NUL byte,
// which would make the encoding ambiguous.
func (s *Sealer) Index(kind, value string) string {
	if strings.IndexByte(kind, 0) >= 0 {
		panic("seal: Index kind must not contain NUL")
	}
	m := hmac.New(sha256.New, s.indexKey)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// EmailIndex is Index(IndexKindEmail, NormalizeEmail(email)), the lookup key
// for an email address.
func (s *Sealer) EmailIndex(email string) string {
	return s.Index(IndexKindEmail, NormalizeEmail(email))
}

// Pepper returns a copy of the credential pepper, the key for
// credential.NewHasher.
func (s *Sealer) Pepper() []byte {
	return append([]byte(nil), s.pepper...)
}

// DecodeMasterKey parses a master key from config: 64 hex characters, or
// base64 in the standard or URL alphabet, padded or not. Surrounding
// whitespace is ignored. The result must be MasterKeySize bytes. Errors never
// contain the input.
func DecodeMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("seal: master key is empty")
	}
	var (
		key []byte
		err error
	)
	if len(s) == 2*MasterKeySize && isHex(s) {
		key, err = hex.DecodeString(s)
	} else {
		key, err = decodeBase64(s)
	}
	if err != nil {
		return nil, errors.New("seal: master key is neither 64 hex characters nor base64")
	}
	if len(key) != MasterKeySize {
		return nil, fmt.Errorf("seal: master key must decode to %d bytes, got %d", MasterKeySize, len(key))
	}
	return key, nil
}

// EncodeMasterKey formats a key as padded standard base64 (44 characters for
// a 32-byte key), which DecodeMasterKey accepts.
func EncodeMasterKey(key []byte) string {
	return base64.StdEncoding.EncodeToString(key)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func decodeBase64(s string) ([]byte, error) {
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		if strings.ContainsAny(s, "+/") {
			return nil, errors.New("mixed base64 alphabets")
		}
		enc = base64.RawURLEncoding
	}
	return enc.Strict().DecodeString(strings.TrimRight(s, "="))
}
