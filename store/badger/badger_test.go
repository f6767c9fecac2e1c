package badgerstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/trailspark/trailspark/store"
	badgerstore "github.com/trailspark/trailspark/store/badger"
	"github.com/trailspark/trailspark/store/storetest"
)

// TestMain fails the run if any goroutine (value-log GC, Badger's own)
// outlives the stores the tests closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// open opens a store and closes it when the test ends.
func open(tb testing.TB, opts badgerstore.Options) *badgerstore.Store {
	tb.Helper()
	s, err := badgerstore.Open(opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	t.Run("disk", func(t *testing.T) {
		var dirs sync.Map // store.StateStore → its directory
		opts := func(dir string) badgerstore.Options {
			// A short GC interval runs value-log GC alongside every case.
			return badgerstore.Options{Dir: dir, Profile: badgerstore.ProfileSmall, GCInterval: 10 * time.Millisecond}
		}
		storetest.Run(t, storetest.Harness{
			Open: func(t *testing.T) store.StateStore {
				dir := t.TempDir()
				s := open(t, opts(dir))
				dirs.Store(store.StateStore(s), dir)
				return s
			},
			Reopen: func(t *testing.T, s store.StateStore) store.StateStore {
				dir, ok := dirs.Load(s)
				if !ok {
					t.Fatal("Reopen: store not opened by this harness")
				}
				if err := s.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				s2 := open(t, opts(dir.(string)))
				dirs.Store(store.StateStore(s2), dir)
				return s2
			},
		})
	})
	t.Run("in-memory", func(t *testing.T) {
		storetest.Run(t, storetest.Harness{
			Open: func(t *testing.T) store.StateStore {
				return open(t, badgerstore.Options{InMemory: true, Profile: badgerstore.ProfileSmall})
			},
			MaxValueSize: badgerstore.MaxInMemoryValueSize,
		})
	})
}

func TestOpenValidation(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		opts badgerstore.Options
	}{
		{"no dir", badgerstore.Options{}},
		{"in-memory with dir", badgerstore.Options{InMemory: true, Dir: dir}},
		{"unknown profile", badgerstore.Options{Dir: dir, Profile: 7}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := badgerstore.Open(c.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
		})
	}
}

func TestOpenProfiles(t *testing.T) {
	cases := []struct {
		name string
		opts badgerstore.Options
	}{
		{"server", badgerstore.Options{Dir: t.TempDir(), Profile: badgerstore.ProfileServer}},
		{"small sync writes", badgerstore.Options{Dir: t.TempDir(), Profile: badgerstore.ProfileSmall, SyncWrites: true}},
		{"small GC off", badgerstore.Options{Dir: t.TempDir(), Profile: badgerstore.ProfileSmall, GCInterval: -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, c.opts)
			key := []byte("o/acme/lead/1")
			if _, err := s.Save(t.Context(), key, []byte("x"), 0); err != nil {
				t.Fatalf("Save: %v", err)
			}
			if got, v, err := s.Load(t.Context(), key); err != nil || string(got) != "x" || v != 1 {
				t.Fatalf("Load = %q v%d, %v", got, v, err)
			}
		})
	}
}

// TestDirLocked: a directory is open in one store at a time.
func TestDirLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, badgerstore.Options{Dir: dir, Profile: badgerstore.ProfileSmall})
	s, err := badgerstore.Open(badgerstore.Options{Dir: dir, Profile: badgerstore.ProfileSmall})
	if err == nil {
		s.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
}

func TestInMemoryValueLimit(t *testing.T) {
	s := open(t, badgerstore.Options{InMemory: true, Profile: badgerstore.ProfileSmall})
	ctx := t.Context()
	if _, err := s.Save(ctx, []byte("o/a/max"), make([]byte, badgerstore.MaxInMemoryValueSize), 0); err != nil {
		t.Fatalf("Save of MaxInMemoryValueSize bytes: %v", err)
	}
	_, err := s.Save(ctx, []byte("o/a/over"), make([]byte, badgerstore.MaxInMemoryValueSize+1), 0)
	if !errors.Is(err, badgerstore.ErrValueTooLarge) {
		t.Fatalf("Save of MaxInMemoryValueSize+1 bytes = %v, want ErrValueTooLarge", err)
	}
}

// TestDropTenantRefusesBadOrg: an org whose prefix is not exactly one
// tenant's is refused rather than dropping something else.
func TestDropTenantRefusesBadOrg(t *testing.T) {
	s := open(t, badgerstore.Options{InMemory: true, Profile: badgerstore.ProfileSmall})
	ctx := t.Context()
	if _, err := s.Save(ctx, store.TenantKey("acme", "lead", "1"), []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	for _, org := range []string{"", "acme/lead"} {
		if err := s.DropTenant(ctx, org); err == nil {
			t.Errorf("DropTenant(%q) succeeded, want an error", org)
		}
	}
	if _, _, err := s.Load(ctx, store.TenantKey("acme", "lead", "1")); err != nil {
		t.Errorf("Load after refused drops: %v", err)
	}
}

// TestValueLogGC runs GC every millisecond while large values (which live in
// the value log) are overwritten across several value-log files, then
// closes: the data must be intact and, via TestMain, the GC goroutine gone.
func TestValueLogGC(t *testing.T) {
	dir := t.TempDir()
	opts := badgerstore.Options{Dir: dir, Profile: badgerstore.ProfileSmall, GCInterval: time.Millisecond}
	s := open(t, opts)
	ctx := t.Context()
	value := bytes.Repeat([]byte{1}, 2<<20)
	var v store.Version
	for i := range 40 { // 80 MiB: more than one 64 MiB value-log file
		value[0] = byte(i)
		var err error
		if v, err = s.Save(ctx, []byte("o/acme/blob"), value, v); err != nil {
			t.Fatalf("Save %d: %v", i, err)
		}
	}
	time.Sleep(20 * time.Millisecond) // let a few GC rounds run
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, opts)
	got, gotV, err := s.Load(ctx, []byte("o/acme/blob"))
	if err != nil || gotV != v || !bytes.Equal(got, value) {
		t.Fatalf("Load after GC and reopen = %d bytes v%d, %v; want %d bytes v%d", len(got), gotV, err, len(value), v)
	}
}

// TestLogger: with a Logger set, Badger's warnings reach it and nothing
// below warn level does.
func TestLogger(t *testing.T) {
	var buf syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace})
	dir := t.TempDir()
	s := open(t, badgerstore.Options{Dir: dir, Profile: badgerstore.ProfileSmall, Logger: logger})
	if _, err := s.Save(t.Context(), []byte("o/acme/x"), []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DropTenant(t.Context(), "acme"); err != nil { // Badger logs this at info level
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		if !strings.Contains(line, "[WARN]") && !strings.Contains(line, "[ERROR]") {
			t.Errorf("log line below warn level: %s", line)
		}
		if !strings.Contains(line, "badger:") {
			t.Errorf("log line not from the named badger logger: %s", line)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// --- benchmarks ---
//
// Small profile, on disk in the test's temporary directory, SyncWrites off,
// GC off, 256-byte values.

func benchStore(b *testing.B) *badgerstore.Store {
	b.Helper()
	return open(b, badgerstore.Options{Dir: b.TempDir(), Profile: badgerstore.ProfileSmall, GCInterval: -1})
}

var benchValue = bytes.Repeat([]byte("v"), 256)

// fill writes n keys under prefix and returns them.
func fill(b *testing.B, s *badgerstore.Store, prefix string, n int) [][]byte {
	b.Helper()
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "%s%06d", prefix, i)
		if _, err := s.Save(b.Context(), keys[i], benchValue, 0); err != nil {
			b.Fatal(err)
		}
	}
	return keys
}

// BenchmarkSave: one writer updating 1024 keys in turn, as a grain writing
// through after each command.
func BenchmarkSave(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	keys := fill(b, s, "o/acme/lead/", 1024)
	versions := make([]store.Version, len(keys))
	for i := range versions {
		versions[i] = 1
	}
	for i := 0; b.Loop(); i++ {
		k := i % len(keys)
		v, err := s.Save(ctx, keys[k], benchValue, versions[k])
		if err != nil {
			b.Fatal(err)
		}
		versions[k] = v
	}
}

// BenchmarkSaveParallel: GOMAXPROCS writers, each owning its keys (no
// conflicts), as grains on one node.
func BenchmarkSaveParallel(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	var worker atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		w := worker.Add(1)
		keys := make([][]byte, 64)
		for i := range keys {
			keys[i] = fmt.Appendf(nil, "o/acme/lead/%d-%d", w, i)
		}
		versions := make([]store.Version, len(keys))
		for i := 0; pb.Next(); i++ {
			k := i % len(keys)
			v, err := s.Save(ctx, keys[k], benchValue, versions[k])
			if err != nil {
				b.Error(err)
				return
			}
			versions[k] = v
		}
	})
}

// BenchmarkLoad: point reads over 10,000 keys.
func BenchmarkLoad(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	keys := fill(b, s, "o/acme/lead/", 10_000)
	for i := 0; b.Loop(); i++ {
		if _, _, err := s.Load(ctx, keys[(i*7919)%len(keys)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan1000: one op scans a 1,000-key tenant prefix, next to another
// tenant of the same size.
func BenchmarkScan1000(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	fill(b, s, "o/acme/lead/", 1000)
	fill(b, s, "o/beta/lead/", 1000)
	prefix := []byte("o/acme/")
	for b.Loop() {
		n := 0
		err := s.Scan(ctx, prefix, nil, func(store.Item) error {
			n++
			return nil
		})
		if err != nil || n != 1000 {
			b.Fatalf("Scan: %d items, %v", n, err)
		}
	}
}
