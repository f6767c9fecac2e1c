package badgerstore

import (
	"errors"
	"testing"

	"github.com/trailspark/trailspark/store"
)

// TestCommitConflict makes the race the conformance suite can only hope to
// hit: another write to the key commits after a Save or Delete has read the
// current version but before it commits. Badger's conflict detection must
// fail that commit, and the store must report it as store.ErrConflict.
func TestCommitConflict(t *testing.T) {
	key := []byte("o/acme/lead/1")
	cases := []struct {
		name      string
		op        func(s *Store) error // the write that loses the race
		interfere func(s *Store) error // commits in between
		wantErr   error
		wantValue string
		wantVer   store.Version // 0: key absent
	}{
		{
			name:      "save loses to save",
			op:        func(s *Store) error { _, err := s.Save(t.Context(), key, []byte("late"), 1); return err },
			interfere: func(s *Store) error { _, err := s.Save(t.Context(), key, []byte("first"), 1); return err },
			wantErr:   store.ErrConflict, wantValue: "first", wantVer: 2,
		},
		{
			name:      "save loses to delete",
			op:        func(s *Store) error { _, err := s.Save(t.Context(), key, []byte("late"), 1); return err },
			interfere: func(s *Store) error { return s.Delete(t.Context(), key, 1) },
			wantErr:   store.ErrConflict,
		},
		{
			name:      "delete loses to save",
			op:        func(s *Store) error { return s.Delete(t.Context(), key, 1) },
			interfere: func(s *Store) error { _, err := s.Save(t.Context(), key, []byte("first"), 1); return err },
			wantErr:   store.ErrConflict, wantValue: "first", wantVer: 2,
		},
		{
			name: "other key does not conflict",
			op:   func(s *Store) error { _, err := s.Save(t.Context(), key, []byte("mine"), 1); return err },
			interfere: func(s *Store) error {
				_, err := s.Save(t.Context(), []byte("o/acme/lead/2"), []byte("x"), 0)
				return err
			},
			wantValue: "mine", wantVer: 2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(Options{InMemory: true, Profile: ProfileSmall})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Save(t.Context(), key, []byte("v1"), 0); err != nil {
				t.Fatal(err)
			}
			fired := false
			s.beforeCommit = func() {
				if fired {
					return // the interfering write's own commit
				}
				fired = true
				if err := c.interfere(s); err != nil {
					t.Errorf("interfering write: %v", err)
				}
			}
			if err := c.op(s); !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
				t.Fatalf("write = %v, want %v", err, c.wantErr)
			}
			s.beforeCommit = nil
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
