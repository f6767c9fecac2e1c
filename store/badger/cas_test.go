package badgerstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trailspark/trailspark/store"
)

// TestWritersOfOneKeyAreSerialised makes the race the conformance suite
// can only hope to hit: another write to the key starts after a Save or
// Delete has checked the current version but before it commits. The
// second writer must wait for the first (they hold the key's stripe; see
// versions.go) and then find the version moved: store.ErrConflict, never a
// lost update. Each case runs with the version remembered by the cache
// and with it forgotten (read from Badger).
func TestWritersOfOneKeyAreSerialised(t *testing.T) {
	key := []byte("o/acme/lead/1")
	cases := []struct {
		name         string
		op           func(s *Store) error // checks the version, then the other write starts
		interfere    func(s *Store) error // starts in between
		interfereErr error
		wantValue    string
		wantVer      store.Version // 0: key absent
	}{
		{
			name:         "save then save",
			op:           func(s *Store) error { _, err := s.Save(t.Context(), key, []byte("first"), 1); return err },
			interfere:    func(s *Store) error { _, err := s.Save(t.Context(), key, []byte("late"), 1); return err },
			interfereErr: store.ErrConflict, wantValue: "first", wantVer: 2,
		},
		{
			name:         "save then delete",
			op:           func(s *Store) error { _, err := s.Save(t.Context(), key, []byte("first"), 1); return err },
			interfere:    func(s *Store) error { return s.Delete(t.Context(), key, 1) },
			interfereErr: store.ErrConflict, wantValue: "first", wantVer: 2,
		},
		{
			name:         "delete then save",
			op:           func(s *Store) error { return s.Delete(t.Context(), key, 1) },
			interfere:    func(s *Store) error { _, err := s.Save(t.Context(), key, []byte("late"), 1); return err },
			interfereErr: store.ErrConflict,
		},
		{
			name: "batch then save",
			op: func(s *Store) error {
				_, err := s.SaveBatch(t.Context(), []store.Write{{Key: []byte("o/acme/x"), Value: []byte("x"), Expected: store.AnyVersion},
					{Key: key, Value: []byte("first"), Expected: 1}})
				return err
			},
			interfere:    func(s *Store) error { _, err := s.Save(t.Context(), key, []byte("late"), 1); return err },
			interfereErr: store.ErrConflict, wantValue: "first", wantVer: 2,
		},
		{
			name: "other key goes ahead",
			op:   func(s *Store) error { _, err := s.Save(t.Context(), key, []byte("mine"), 1); return err },
			interfere: func(s *Store) error {
				_, err := s.Save(t.Context(), []byte("o/acme/lead/2"), []byte("x"), 0)
				return err
			},
			wantValue: "mine", wantVer: 2,
		},
	}
	for _, c := range cases {
		for _, cached := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/cached=%v", c.name, cached), func(t *testing.T) {
				s := memStore(t)
				if _, err := s.Save(t.Context(), key, []byte("v1"), 0); err != nil {
					t.Fatal(err)
				}
				if !cached {
					s.versions.clear()
				}
				var wg sync.WaitGroup
				var interfereErr error
				s.beforeCommit = func() {
					s.beforeCommit = nil // the interfering write's own commit passes through
					wg.Add(1)
					go func() {
						defer wg.Done()
						interfereErr = c.interfere(s)
					}()
					time.Sleep(20 * time.Millisecond) // it would commit now, were it not held
				}
				if err := c.op(s); err != nil {
					t.Fatalf("first write = %v", err)
				}
				wg.Wait()
				if !errors.Is(interfereErr, c.interfereErr) || (c.interfereErr == nil && interfereErr != nil) {
					t.Fatalf("second write = %v, want %v", interfereErr, c.interfereErr)
				}
				got, v, err := s.Load(t.Context(), key)
				switch {
				case c.wantVer == 0 && !errors.Is(err, store.ErrNotFound):
					t.Errorf("Load = %q v%d, %v; want ErrNotFound", got, v, err)
				case c.wantVer != 0 && (err != nil || string(got) != c.wantValue || v != c.wantVer):
					t.Errorf("Load = %q v%d, %v; want %q v%d", got, v, err, c.wantValue, c.wantVer)
				}
			})
		}
	}
}

// TestVersionCacheAfterDrop: a dropped tenant's keys start again at
// version 1 (the cache must not remember their old versions).
func TestVersionCacheAfterDrop(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	key := []byte("o/acme/lead/1")
	for v := store.Version(0); v < 3; v++ {
		if _, err := s.Save(t.Context(), key, []byte("x"), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DropTenant(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Save(t.Context(), key, []byte("new"), 0); err != nil || v != 1 {
		t.Fatalf("Save after drop = v%d, %v; want v1", v, err)
	}
}

// TestSaveBatchSameKeyTwice: the second write of a key in one batch sees
// the first, and the cache keeps the last.
func TestSaveBatchSameKeyTwice(t *testing.T) {
	t.Parallel()
	s := memStore(t)
	key := []byte("o/acme/k")
	vers, err := s.SaveBatch(t.Context(), []store.Write{{Key: key, Value: []byte("a"), Expected: 0}, {Key: key, Value: []byte("b"), Expected: 1}})
	if err != nil || vers[0] != 1 || vers[1] != 2 {
		t.Fatalf("SaveBatch = %v, %v; want [1 2]", vers, err)
	}
	if v, err := s.Save(t.Context(), key, []byte("c"), 2); err != nil || v != 3 {
		t.Fatalf("Save after = v%d, %v; want v3", v, err)
	}
}

// memStore is an in-memory store for one test, closed with it.
func memStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(Options{InMemory: true, Profile: ProfileSmall})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
