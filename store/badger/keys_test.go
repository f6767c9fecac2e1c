package badgerstore

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

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

// TestSignalLogGetOldLayout: entries appended before ids carried their
// partition (sequential ids, an si/ key naming the partition) are still
// found, next to new ones.
func TestSignalLogGetOldLayout(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	l := s.SignalLog()
	ctx := t.Context()
	// id 5 in partition 3 (5 & 15 is 5: the id alone would say partition 5).
	err := s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(entryKey("acme", 3, 5), encode(1, []byte("old"))); err != nil {
			return err
		}
		return txn.Set(store.TenantKey("acme", "si", idHex(5)), encode(1, []byte{3}))
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Append(ctx, "acme", []store.LogRecord{{Partition: 9, DedupKey: "m", Data: []byte("new")}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].ID&15 != 9 {
		t.Errorf("new id %d does not carry partition 9", res[0].ID)
	}
	for _, c := range []struct {
		id   uint64
		part int
		data string
	}{{5, 3, "old"}, {res[0].ID, 9, "new"}} {
		e, err := l.Get(ctx, "acme", c.id)
		if err != nil || e.Partition != c.part || string(e.Data) != c.data {
			t.Errorf("Get(%d) = %+v, %v; want partition %d, %q", c.id, e, err, c.part, c.data)
		}
	}
	if _, err := l.Get(ctx, "acme", 6); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	// Counts finds the old entry's partition the same way: its failed
	// attempt is a retry waiting in partition 3's backlog, although
	// partition 5 (its id bits) has moved past it.
	if err := l.Commit(ctx, "acme", 3, 0, []store.SignalStatus{{ID: 5, Status: "failed"}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cursor5  uint64
		retrying int
	}{{0, 1}, {10, 1}} {
		if err := l.Commit(ctx, "acme", 5, c.cursor5, nil); err != nil {
			t.Fatal(err)
		}
		got, err := l.Counts(ctx, "acme", 0)
		if err != nil || got.Backlog != 2 || got.Retrying != c.retrying || got.ByStatus["failed"] != 1 {
			t.Errorf("cursor of partition 5 at %d: Counts = %+v, %v; want backlog 2, %d retrying", c.cursor5, got, err, c.retrying)
		}
	}
}

// TestDedupKeyLayout: dedup keys keep the layout the keys on disk have
// (o/{org}/sd/{hashKey}), so keys written before still dedupe.
func TestDedupKeyLayout(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"", "m:abc", "i:key:3", "m:\xff\x00 unicode ü"} {
		got, h := dedupKey("org_x", k)
		if want := store.TenantKey("org_x", "sd", hashKey(k)); string(got) != string(want) {
			t.Errorf("dedupKey(%q) = %q, want %q", k, got, want)
		}
		if other, h2 := dedupKey("org_x", k+"."); h == h2 || string(other) == string(got) {
			t.Errorf("dedupKey(%q) and of %q share a hash", k, k+".")
		}
	}
}
