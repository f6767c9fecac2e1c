package credential

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
)

// seeded returns a deterministic random stream (ChaCha8 implements io.Reader).
func seeded(n uint64) io.Reader {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], n)
	return rand.NewChaCha8(seed)
}

// cycleReader repeats its bytes forever.
type cycleReader struct {
	b []byte
	i int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	for k := range p {
		p[k] = c.b[c.i%len(c.b)]
		c.i++
	}
	return len(p), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

var allTokenPrefixes = []string{APIKeyPrefix, SessionPrefix, PATPrefix, InvitePrefix, KeySecretPrefix}

// wantErr asserts err is an *errs.Error of the given kind and code.
func wantErr(t *testing.T, err error, kind errs.Kind, code string) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *errs.Error %s/%s", err, err, kind, code)
	}
	if e.Kind != kind || e.Code != code {
		t.Fatalf("error = %s/%s (%q), want %s/%s", e.Kind, e.Code, e.Message, kind, code)
	}
}
