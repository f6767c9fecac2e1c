package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFilePinStore(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		wantErr string
	}{
		{"missing file is empty", func(*testing.T, string) {}, ""},
		{"world-writable file refused", func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte(`{"version":1,"pins":{}}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o666); err != nil {
				t.Fatal(err)
			}
		}, "writable by group or others"},
		{"corrupt file", func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte(`{not json`), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "pin file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", PinFileName)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, path)
			s := NewFilePinStore(path)
			_, ok, err := s.Pin("x")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Pin = %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || ok {
				t.Fatalf("Pin on an empty store = %v, %v", ok, err)
			}
			if err := s.SetPin("x", "abc", "first-use"); err != nil {
				t.Fatal(err)
			}
			if err := s.SetPin("y", "def", "approved"); err != nil {
				t.Fatal(err)
			}
			// A second store on the same file sees both (persistence).
			got, ok, err := NewFilePinStore(path).Pin("x")
			if err != nil || !ok || got != "abc" {
				t.Fatalf("reopened Pin(x) = %q %v %v", got, ok, err)
			}
			fi, _ := os.Stat(path)
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
			leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".plugin-pins-*"))
			if len(leftovers) != 0 {
				t.Errorf("temp files left: %v", leftovers)
			}
		})
	}
}

func TestExponentialBackoff(t *testing.T) {
	b := ExponentialBackoff{Base: 100 * time.Millisecond, Max: time.Second}
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		if got := b.Delay(attempt); got != want*time.Millisecond {
			t.Errorf("Delay(%d) = %s, want %dms", attempt, got, want)
		}
	}
	if got := b.Delay(1000); got != time.Second {
		t.Errorf("Delay(1000) = %s: overflow?", got)
	}
}
