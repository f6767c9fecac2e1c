package badgerstore

import (
	"fmt"
	"math"
	"testing"

	"github.com/trailspark/trailspark/store"
)

func TestSignalLogKeyEncoding(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p  int
		id uint64
	}{{0, 0}, {1, 1}, {15, 0xabcdef}, {16, 1 << 40}, {255, math.MaxUint64}} {
		if got, want := string(entryKey("acme", c.p, c.id)), string(store.TenantKey("acme", "sl", fmt.Sprintf("%02x", c.p), fmt.Sprintf("%016x", c.id))); got != want {
			t.Errorf("entryKey(%d, %d) = %q, want %q", c.p, c.id, got, want)
		}
		if got, want := idHex(c.id), fmt.Sprintf("%016x", c.id); got != want {
			t.Errorf("idHex(%d) = %q, want %q", c.id, got, want)
		}
	}
}
