package seal

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzOpen(f *testing.F) {
	s := mustNew(f, testMaster(9))
	good, err := s.Seal(seeded(9), []byte("hello"), []byte("ad"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, []byte("ad"))
	f.Add(good[:20], []byte(nil))
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1}, []byte("x"))
	f.Add(make([]byte, 29), []byte(nil))
	f.Add(append([]byte{2}, good[1:]...), []byte("ad"))

	f.Fuzz(func(t *testing.T, data, ad []byte) {
		// Arbitrary input never panics and, except with negligible
		// probability, never opens.
		if pt, err := s.Open(data, ad); err != nil {
			if pt != nil || !errors.Is(err, ErrOpen) {
				t.Fatalf("Open error %v with plaintext %q", err, pt)
			}
		} else if !bytes.Equal(data, good) {
			t.Fatalf("forged input opened: %x", data)
		}
		_, _ = s.OpenString(string(data), ad)
		// Sealing the fuzz input always round-trips, and binds ad.
		sealed, err := s.Seal(bytes.NewReader(append(bytes.Clone(data), make([]byte, 12)...)), data, ad)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := s.Open(sealed, ad)
		if err != nil || !bytes.Equal(pt, data) {
			t.Fatalf("round trip: %q, %v", pt, err)
		}
		if _, err := s.Open(sealed, append(bytes.Clone(ad), 0)); err == nil {
			t.Fatal("opened with different associated data")
		}
	})
}
