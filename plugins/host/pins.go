package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// PinStore remembers the approved SHA-256 of each connector binary.
// Implementations must be safe for concurrent use.
type PinStore interface {
	// Pin returns the pinned hex SHA-256 for name; ok is false when none.
	Pin(name string) (checksum string, ok bool, err error)
	// SetPin records checksum as approved for name. how is "first-use" or
	// "approved", kept for the audit trail.
	SetPin(name, checksum, how string) error
}

// FilePinStore keeps pins in one JSON file (mode 0600) in the data
// directory, rewritten atomically (temp file + rename) on every change.
type FilePinStore struct {
	path string
	now  func() time.Time
	mu   sync.Mutex
}

// PinFileName is the default file name inside the data directory.
const PinFileName = "plugin-pins.json"

// NewFilePinStore returns a store backed by path (created on first SetPin).
func NewFilePinStore(path string) *FilePinStore {
	return &FilePinStore{path: path, now: time.Now}
}

type pinFile struct {
	Version int            `json:"version"`
	Pins    map[string]pin `json:"pins"`
}

type pin struct {
	SHA256   string    `json:"sha256"`
	How      string    `json:"how"`
	PinnedAt time.Time `json:"pinned_at"`
}

func (s *FilePinStore) load() (pinFile, error) {
	pf := pinFile{Version: 1, Pins: map[string]pin{}}
	fi, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return pf, nil
	}
	if err != nil {
		return pf, err
	}
	// Whoever can write the pin file can approve any binary: refuse a file
	// that group or others can write.
	if fi.Mode().Perm()&0o022 != 0 {
		return pf, fmt.Errorf("pin file %s is writable by group or others (mode %v); chmod 600 it", s.path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return pf, err
	}
	if err := json.Unmarshal(b, &pf); err != nil {
		return pf, fmt.Errorf("pin file %s: %w", s.path, err)
	}
	if pf.Pins == nil {
		pf.Pins = map[string]pin{}
	}
	return pf, nil
}

// Pin implements PinStore.
func (s *FilePinStore) Pin(name string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pf, err := s.load()
	if err != nil {
		return "", false, err
	}
	p, ok := pf.Pins[name]
	return p.SHA256, ok, nil
}

// SetPin implements PinStore.
func (s *FilePinStore) SetPin(name, checksum, how string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pf, err := s.load()
	if err != nil {
		return err
	}
	pf.Pins[name] = pin{SHA256: checksum, How: how, PinnedAt: s.now().UTC()}
	b, err := json.MarshalIndent(pf, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".plugin-pins-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}
