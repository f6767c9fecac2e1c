// Package storetest is the conformance suite for store.StateStore. Every
// implementation runs the same Run, so the engine can rely on one behaviour
// whichever store a deployment uses: versions that start at 1 and count up,
// compare-and-set under concurrency, ascending prefix scans with paging,
// tenant drops that touch only that tenant, context cancellation, and
// ErrClosed after Close.
//
// Each case opens its own store, so cases run in parallel.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trailspark/trailspark/store"
)

// Harness tells Run how to get stores.
type Harness struct {
	// Open returns a fresh, empty store and registers its Close with
	// t.Cleanup.
	Open func(t *testing.T) store.StateStore
	// Reopen closes s and opens the same data again (a restart), registering
	// the new store's Close with t.Cleanup. Nil if the store cannot be
	// reopened (an in-memory one); the cases that need it are skipped.
	Reopen func(t *testing.T, s store.StateStore) store.StateStore
	// MaxValueSize is the largest value the store accepts, if it has a limit
	// below the 4 MiB the suite writes; 0 means no such limit. Values above
	// it must be refused with an error and leave nothing written.
	MaxValueSize int
}

// deadlockTimeout bounds calls that would hang forever if the store
// deadlocked, so such a bug fails the test instead of timing out the run.
const deadlockTimeout = 60 * time.Second

// Run runs the conformance suite against the stores h opens.
func Run(t *testing.T, h Harness) {
	if h.Open == nil {
		t.Fatal("storetest: Harness.Open is nil")
	}
	cases := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"LoadMissing", testLoadMissing},
		{"CompareAndSet", testCompareAndSet},
		{"VersionsIncrement", testVersionsIncrement},
		{"EmptyValue", testEmptyValue},
		{"ValuesAreCopies", testValuesAreCopies},
		{"ScanOrder", testScanOrder},
		{"ScanPrefixIsolation", testScanPrefixIsolation},
		{"ScanAfter", testScanAfter},
		{"ScanPaging", testScanPaging},
		{"ScanFnErrorStops", testScanFnErrorStops},
		{"ScanCallbackMayWrite", testScanCallbackMayWrite},
		{"ConcurrentCounter", testConcurrentCounter},
		{"ConcurrentSameVersion", testConcurrentSameVersion},
		{"DropTenant", testDropTenant},
		{"Reopen", testReopen},
		{"LargeValues", testLargeValues},
		{"ContextDone", testContextDone},
		{"ContextCancelledMidScan", testContextCancelledMidScan},
		{"Closed", testClosed},
		{"CloseWhileBusy", testCloseWhileBusy},
		{"SaveBatch", testSaveBatch},
		{"SaveBatchConcurrent", testSaveBatchConcurrent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, h)
		})
	}
}

// --- helpers ---

func open(t *testing.T, h Harness) store.StateStore {
	t.Helper()
	s := h.Open(t)
	if s == nil {
		t.Fatal("Harness.Open returned nil")
	}
	return s
}

func mustSave(t *testing.T, s store.StateStore, key, value string, expected store.Version) store.Version {
	t.Helper()
	v, err := s.Save(t.Context(), []byte(key), []byte(value), expected)
	if err != nil {
		t.Fatalf("Save(%q, expected %d): %v", key, expected, err)
	}
	if v != expected+1 {
		t.Fatalf("Save(%q, expected %d) = version %d, want %d", key, expected, v, expected+1)
	}
	return v
}

func wantValue(t *testing.T, s store.StateStore, key, value string, version store.Version) {
	t.Helper()
	got, v, err := s.Load(t.Context(), []byte(key))
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	if string(got) != value || v != version {
		t.Fatalf("Load(%q) = %q v%d, want %q v%d", key, got, v, value, version)
	}
}

func wantMissing(t *testing.T, s store.StateStore, key string) {
	t.Helper()
	got, v, err := s.Load(t.Context(), []byte(key))
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Load(%q) = %q v%d, %v; want ErrNotFound", key, got, v, err)
	}
}

// scanKeys returns the keys Scan yields.
func scanKeys(t *testing.T, s store.StateStore, prefix, after []byte) []string {
	t.Helper()
	var keys []string
	err := s.Scan(t.Context(), prefix, after, func(it store.Item) error {
		keys = append(keys, string(it.Key))
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%q, after %q): %v", prefix, after, err)
	}
	return keys
}

// sortedKeys returns keys in ascending byte order, as Scan must yield them.
func sortedKeys(keys []string) []string {
	out := slices.Clone(keys)
	slices.Sort(out) // Go compares strings bytewise
	return out
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// withTimeout runs fn, failing the test if it has not returned within
// deadlockTimeout.
func withTimeout(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(deadlockTimeout):
		t.Fatalf("%s did not return within %v (deadlock?)", what, deadlockTimeout)
	}
}

// --- cases ---

func testLoadMissing(t *testing.T, h Harness) {
	s := open(t, h)
	mustSave(t, s, "o/acme/lead/1", "x", 0)
	for _, key := range []string{"o/acme/lead/2", "o/acme/lead/", "o/acme/lead/10", "o/acme/lead"} {
		got, v, err := s.Load(t.Context(), []byte(key))
		if !errors.Is(err, store.ErrNotFound) || got != nil || v != 0 {
			t.Errorf("Load(%q) = %q v%d, %v; want nil v0 ErrNotFound", key, got, v, err)
		}
	}
}

// testCompareAndSet walks one key through every Save/Delete outcome, checking
// the stored state after each step: a refused step must change nothing.
func testCompareAndSet(t *testing.T, h Harness) {
	const key = "o/acme/lead/1"
	type step struct {
		name     string
		delete   bool
		value    string // for a Save
		expected store.Version
		wantErr  error         // nil or store.ErrConflict
		wantVer  store.Version // Save's result when it succeeds
		// state afterwards; stateVer 0 means the key must be absent
		stateValue string
		stateVer   store.Version
	}
	steps := []step{
		{name: "delete absent with 0 is a no-op", delete: true, expected: 0},
		{name: "delete absent with non-zero", delete: true, expected: 1, wantErr: store.ErrConflict},
		{name: "update absent", value: "a", expected: 1, wantErr: store.ErrConflict},
		{name: "create with 0", value: "a", expected: 0, wantVer: 1, stateValue: "a", stateVer: 1},
		{name: "create again with 0", value: "z", expected: 0, wantErr: store.ErrConflict, stateValue: "a", stateVer: 1},
		{name: "update with future version", value: "z", expected: 2, wantErr: store.ErrConflict, stateValue: "a", stateVer: 1},
		{name: "update with right version", value: "b", expected: 1, wantVer: 2, stateValue: "b", stateVer: 2},
		{name: "update with stale version", value: "z", expected: 1, wantErr: store.ErrConflict, stateValue: "b", stateVer: 2},
		{name: "update again", value: "c", expected: 2, wantVer: 3, stateValue: "c", stateVer: 3},
		{name: "delete with 0", delete: true, expected: 0, wantErr: store.ErrConflict, stateValue: "c", stateVer: 3},
		{name: "delete with stale version", delete: true, expected: 2, wantErr: store.ErrConflict, stateValue: "c", stateVer: 3},
		{name: "delete with future version", delete: true, expected: 4, wantErr: store.ErrConflict, stateValue: "c", stateVer: 3},
		{name: "delete with right version", delete: true, expected: 3},
		{name: "delete deleted with 0 is a no-op", delete: true, expected: 0},
		{name: "delete deleted with old version", delete: true, expected: 3, wantErr: store.ErrConflict},
		{name: "update deleted with old version", value: "z", expected: 3, wantErr: store.ErrConflict},
		{name: "recreate with 0 starts at 1", value: "d", expected: 0, wantVer: 1, stateValue: "d", stateVer: 1},
	}

	s := open(t, h)
	ctx := t.Context()
	mustSave(t, s, "o/acme/lead/2", "other", 0) // a neighbour no step may touch
	for i, st := range steps {
		if st.delete {
			err := s.Delete(ctx, []byte(key), st.expected)
			if !errors.Is(err, st.wantErr) || (st.wantErr == nil && err != nil) {
				t.Fatalf("step %d (%s): Delete(expected %d) = %v, want %v", i, st.name, st.expected, err, st.wantErr)
			}
		} else {
			v, err := s.Save(ctx, []byte(key), []byte(st.value), st.expected)
			if !errors.Is(err, st.wantErr) || (st.wantErr == nil && err != nil) {
				t.Fatalf("step %d (%s): Save(expected %d) = %v, want %v", i, st.name, st.expected, err, st.wantErr)
			}
			if err == nil && v != st.wantVer {
				t.Fatalf("step %d (%s): Save(expected %d) = version %d, want %d", i, st.name, st.expected, v, st.wantVer)
			}
		}
		got, v, err := s.Load(ctx, []byte(key))
		switch {
		case st.stateVer == 0 && !errors.Is(err, store.ErrNotFound):
			t.Fatalf("step %d (%s): then Load = %q v%d, %v; want ErrNotFound", i, st.name, got, v, err)
		case st.stateVer != 0 && (err != nil || string(got) != st.stateValue || v != st.stateVer):
			t.Fatalf("step %d (%s): then Load = %q v%d, %v; want %q v%d", i, st.name, got, v, err, st.stateValue, st.stateVer)
		}
	}
	wantValue(t, s, "o/acme/lead/2", "other", 1)
}

func testVersionsIncrement(t *testing.T, h Harness) {
	s := open(t, h)
	// Interleaved keys written different numbers of times: versions count
	// writes per key, not per store.
	keys := []string{"o/acme/lead/1", "o/acme/lead/2", "g/domain/acme.com"}
	writes := []int{12, 5, 1}
	versions := make([]store.Version, len(keys))
	for round := range slices.Max(writes) {
		for i, key := range keys {
			if round < writes[i] {
				versions[i] = mustSave(t, s, key, fmt.Sprintf("%s@%d", key, round), versions[i])
			}
		}
	}
	for i, key := range keys {
		wantValue(t, s, key, fmt.Sprintf("%s@%d", key, writes[i]-1), store.Version(writes[i]))
	}
}

func testEmptyValue(t *testing.T, h Harness) {
	s := open(t, h)
	const key = "o/acme/flag"
	if v, err := s.Save(t.Context(), []byte(key), nil, 0); err != nil || v != 1 {
		t.Fatalf("Save(nil value) = v%d, %v; want v1", v, err)
	}
	wantValue(t, s, key, "", 1)
	if v, err := s.Save(t.Context(), []byte(key), []byte{}, 1); err != nil || v != 2 {
		t.Fatalf("Save(empty value) = v%d, %v; want v2", v, err)
	}
	wantValue(t, s, key, "", 2)
	var items []store.Item
	err := s.Scan(t.Context(), []byte("o/acme/"), nil, func(it store.Item) error {
		items = append(items, it)
		return nil
	})
	if err != nil || len(items) != 1 || len(items[0].Value) != 0 || items[0].Version != 2 {
		t.Fatalf("Scan = %+v, %v; want one empty item at v2", items, err)
	}
}

func testValuesAreCopies(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()

	// The store must not keep the caller's buffers.
	key := []byte("o/acme/lead/1")
	value := []byte("original")
	if _, err := s.Save(ctx, key, value, 0); err != nil {
		t.Fatal(err)
	}
	copy(key, "o/acme/XXXX/1")
	copy(value, "CHANGED!")
	wantValue(t, s, "o/acme/lead/1", "original", 1)
	wantMissing(t, s, "o/acme/XXXX/1")
	mustSave(t, s, "o/acme/lead/2", "second", 0)

	// Nor share what it returns.
	got, _, err := s.Load(ctx, []byte("o/acme/lead/1"))
	if err != nil {
		t.Fatal(err)
	}
	copy(got, "CHANGED!")
	wantValue(t, s, "o/acme/lead/1", "original", 1)

	var kept []store.Item
	err = s.Scan(ctx, []byte("o/acme/"), nil, func(it store.Item) error {
		kept = append(kept, it)
		return nil
	})
	if err != nil || len(kept) != 2 {
		t.Fatalf("Scan = %d items, %v; want 2", len(kept), err)
	}
	for _, it := range kept {
		copy(it.Key, "XXXXXX")
		copy(it.Value, "XXXXXX")
	}
	wantValue(t, s, "o/acme/lead/1", "original", 1)
	wantValue(t, s, "o/acme/lead/2", "second", 1)

	// Items kept past the scan stay intact while the store moves on.
	var fresh []store.Item
	err = s.Scan(ctx, []byte("o/acme/"), nil, func(it store.Item) error {
		fresh = append(fresh, it)
		return nil
	})
	if err != nil || len(fresh) != 2 {
		t.Fatalf("Scan = %d items, %v; want 2", len(fresh), err)
	}
	mustSave(t, s, "o/acme/lead/1", "overwritten-1", 1)
	mustSave(t, s, "o/acme/lead/2", "overwritten-2", 1)
	for i, want := range []string{"original", "second"} {
		if string(fresh[i].Value) != want || fresh[i].Version != 1 {
			t.Errorf("kept item %d = %q v%d, want %q v1", i, fresh[i].Value, fresh[i].Version, want)
		}
	}
}

func testScanOrder(t *testing.T, h Harness) {
	s := open(t, h)
	const p = "o/acme/lead/"
	keys := []string{
		p + "1", p + "10", p + "2", p + "a", p + "B", p + "b/1", p + "b",
		p + "\x00", p + "\x00\x00", p + "\x7f", p + "\xff", p + "\xff\xfe",
		p, // the prefix itself is a key under the prefix
	}
	shuffled := slices.Clone(keys)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	want := map[string]store.Version{}
	for i, k := range shuffled {
		ver := mustSave(t, s, k, "v:"+k, 0)
		if i%3 == 0 { // give some keys a later version
			ver = mustSave(t, s, k, "v:"+k, ver)
		}
		want[k] = ver
	}

	var got []store.Item
	err := s.Scan(t.Context(), []byte(p), nil, func(it store.Item) error {
		got = append(got, it)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	order := sortedKeys(keys)
	if len(got) != len(order) {
		t.Fatalf("Scan returned %d items, want %d", len(got), len(order))
	}
	for i, it := range got {
		k := string(it.Key)
		if k != order[i] {
			t.Fatalf("item %d key = %q, want %q (order %q)", i, k, order[i], order)
		}
		if string(it.Value) != "v:"+k || it.Version != want[k] {
			t.Errorf("item %q = %q v%d, want %q v%d", k, it.Value, it.Version, "v:"+k, want[k])
		}
	}
}

func testScanPrefixIsolation(t *testing.T, h Harness) {
	s := open(t, h)
	all := []string{
		"o/a", "o/a/", "o/a/1", "o/a/x/y", "o/a/\xff\xff",
		"o/a0", "o/a0/1", // '0' is the byte after '/'
		"o/ab/1", "o/ab/2",
		"o/b/1",
		"g/a/1", "g/ab",
		"a", "p/1",
	}
	for _, k := range all {
		mustSave(t, s, k, k, 0)
	}
	cases := []struct {
		prefix []byte
		want   []string
	}{
		{[]byte("o/a/"), []string{"o/a/", "o/a/1", "o/a/x/y", "o/a/\xff\xff"}},
		{[]byte("o/ab/"), []string{"o/ab/1", "o/ab/2"}},
		{[]byte("o/a"), []string{"o/a", "o/a/", "o/a/1", "o/a/x/y", "o/a/\xff\xff", "o/a0", "o/a0/1", "o/ab/1", "o/ab/2"}},
		{[]byte("o/a/x/"), []string{"o/a/x/y"}},
		{[]byte("o/"), sortedKeys(all[:10])},
		{[]byte("g/"), []string{"g/a/1", "g/ab"}},
		{[]byte("o/zzz/"), nil},
		{[]byte("o/a/1/"), nil},
		{nil, sortedKeys(all)},
		{[]byte{}, sortedKeys(all)},
	}
	for _, c := range cases {
		got := scanKeys(t, s, c.prefix, nil)
		if !slices.Equal(got, c.want) {
			t.Errorf("Scan(%q) = %q, want %q", c.prefix, got, c.want)
		}
	}
}

func testScanAfter(t *testing.T, h Harness) {
	s := open(t, h)
	const p = "o/acme/lead/"
	var keys []string
	for i := range 10 {
		keys = append(keys, fmt.Sprintf("%sk%02d", p, i))
	}
	for _, k := range append(slices.Clone(keys), "o/acme/a", "o/acme/z", "o/acmf/1") {
		mustSave(t, s, k, k, 0)
	}
	cases := []struct {
		name  string
		after []byte
		want  []string
	}{
		{"nil", nil, keys},
		{"empty", []byte{}, keys},
		{"existing key", []byte(p + "k03"), keys[4:]},
		{"first key", []byte(p + "k00"), keys[1:]},
		{"last key", []byte(p + "k09"), nil},
		{"between keys", []byte(p + "k035"), keys[4:]},
		{"key prefix", []byte(p + "k0"), keys},
		{"the prefix", []byte(p), keys},
		{"before the prefix", []byte("o/acme/a"), keys},
		{"far before", []byte("a"), keys},
		{"after the prefix", []byte("o/acme/z"), nil},
		{"far after", []byte("\xff"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := scanKeys(t, s, []byte(p), c.after)
			if !slices.Equal(got, c.want) {
				t.Errorf("Scan(after %q) = %q, want %q", c.after, got, c.want)
			}
		})
	}
}

func testScanPaging(t *testing.T, h Harness) {
	s := open(t, h)
	const p = "o/acme/lead/"
	var keys []string
	for i := range 11 {
		k := fmt.Sprintf("%s%03d", p, i)
		keys = append(keys, k)
		mustSave(t, s, k, k, 0)
	}
	mustSave(t, s, "o/acme/zz", "outside", 0)

	errPageFull := errors.New("page full")
	const pageSize = 3
	var (
		all   []string
		after []byte
		pages int
	)
	for {
		var page []string
		err := s.Scan(t.Context(), []byte(p), after, func(it store.Item) error {
			page = append(page, string(it.Key))
			if len(page) == pageSize {
				return errPageFull
			}
			return nil
		})
		if err != nil && !errors.Is(err, errPageFull) {
			t.Fatalf("page %d: %v", pages, err)
		}
		all = append(all, page...)
		pages++
		if err == nil || pages > len(keys) {
			break
		}
		after = []byte(page[len(page)-1])
	}
	if !slices.Equal(all, keys) {
		t.Errorf("paged keys = %q, want %q", all, keys)
	}
	if pages != 4 {
		t.Errorf("pages = %d, want 4", pages)
	}
}

func testScanFnErrorStops(t *testing.T, h Harness) {
	s := open(t, h)
	for i := range 10 {
		mustSave(t, s, fmt.Sprintf("o/acme/lead/%d", i), "x", 0)
	}
	errStop := errors.New("stop here")
	calls := 0
	err := s.Scan(t.Context(), []byte("o/acme/"), nil, func(store.Item) error {
		calls++
		if calls == 3 {
			return fmt.Errorf("callback: %w", errStop)
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Errorf("Scan = %v, want the callback's error", err)
	}
	if calls != 3 {
		t.Errorf("callback ran %d times, want 3", calls)
	}
}

// testScanCallbackMayWrite: a callback may use the store, including writing
// the key it was given, without deadlocking.
func testScanCallbackMayWrite(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	const p = "o/acme/lead/"
	for i := range 20 {
		mustSave(t, s, fmt.Sprintf("%s%02d", p, i), "old", 0)
	}
	var err error
	withTimeout(t, "Scan with writing callback", func() {
		err = s.Scan(ctx, []byte(p), nil, func(it store.Item) error {
			if _, _, err := s.Load(ctx, it.Key); err != nil {
				return fmt.Errorf("load in callback: %w", err)
			}
			if _, err := s.Save(ctx, it.Key, []byte("new"), it.Version); err != nil {
				return fmt.Errorf("save in callback: %w", err)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		wantValue(t, s, fmt.Sprintf("%s%02d", p, i), "new", 2)
	}
}

// testConcurrentCounter: writers doing load→modify→save, retrying on
// ErrConflict, lose no increment.
func testConcurrentCounter(t *testing.T, h Harness) {
	const writers, increments = 8, 50
	s := open(t, h)
	ctx := t.Context()
	key := []byte("o/acme/counter")
	var conflicts atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range increments {
				for {
					value, ver, err := s.Load(ctx, key)
					n := 0
					switch {
					case errors.Is(err, store.ErrNotFound):
					case err != nil:
						t.Errorf("Load: %v", err)
						return
					default:
						if n, err = strconv.Atoi(string(value)); err != nil {
							t.Errorf("counter value %q: %v", value, err)
							return
						}
					}
					_, err = s.Save(ctx, key, []byte(strconv.Itoa(n+1)), ver)
					if errors.Is(err, store.ErrConflict) {
						conflicts.Add(1)
						continue
					}
					if err != nil {
						t.Errorf("Save: %v", err)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	const total = writers * increments
	wantValue(t, s, string(key), strconv.Itoa(total), total)
	t.Logf("%d conflicts retried", conflicts.Load())
}

// testConcurrentSameVersion: of writers racing with the same expected
// version, exactly one wins and the state is the winner's.
func testConcurrentSameVersion(t *testing.T, h Harness) {
	cases := []struct {
		name    string
		deletes bool // odd writers Delete instead of Save
	}{
		{"saves", false},
		{"saves and deletes", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const writers, rounds = 8, 200
			s := open(t, h)
			ctx := t.Context()
			key := []byte("o/acme/lead/race")
			var current store.Version // 0: absent
			for round := range rounds {
				var (
					start   = make(chan struct{})
					wg      sync.WaitGroup
					mu      sync.Mutex
					winners []int
				)
				for w := range writers {
					wg.Go(func() {
						<-start
						var err error
						if c.deletes && w%2 == 1 && current != 0 {
							err = s.Delete(ctx, key, current)
						} else {
							_, err = s.Save(ctx, key, fmt.Appendf(nil, "r%d-w%d", round, w), current)
						}
						switch {
						case err == nil:
							mu.Lock()
							winners = append(winners, w)
							mu.Unlock()
						case !errors.Is(err, store.ErrConflict):
							t.Errorf("round %d writer %d: %v", round, w, err)
						}
					})
				}
				close(start)
				wg.Wait()
				if len(winners) != 1 {
					t.Fatalf("round %d (expected v%d): winners %v, want exactly one", round, current, winners)
				}
				w := winners[0]
				if c.deletes && w%2 == 1 && current != 0 {
					wantMissing(t, s, string(key))
					current = 0
				} else {
					wantValue(t, s, string(key), fmt.Sprintf("r%d-w%d", round, w), current+1)
					current++
				}
			}
		})
	}
}

func testDropTenant(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	dropped := []string{"o/acme/", "o/acme/lead/1", "o/acme/lead/2", "o/acme/account/1", "o/acme/x/\xff"}
	kept := []string{
		"o/acme", "o/acme-2/lead/1", "o/acme0/lead/1", "o/acmecorp/lead/1", "o/beta/lead/1", "o/beta/acme/1",
		"g/org/acme", "g/domain/acme.com", "o", "acme",
	}
	versions := map[string]store.Version{}
	for i, k := range append(slices.Clone(dropped), kept...) {
		versions[k] = mustSave(t, s, k, "v:"+k, 0)
		if i%2 == 0 {
			versions[k] = mustSave(t, s, k, "v:"+k, versions[k])
		}
	}

	if err := s.DropTenant(ctx, "acme"); err != nil {
		t.Fatalf("DropTenant: %v", err)
	}
	for _, k := range dropped {
		wantMissing(t, s, k)
	}
	if got := scanKeys(t, s, store.TenantPrefix("acme"), nil); len(got) != 0 {
		t.Errorf("Scan of dropped tenant = %q, want nothing", got)
	}
	for _, k := range kept {
		wantValue(t, s, k, "v:"+k, versions[k])
	}
	if got, want := scanKeys(t, s, nil, nil), sortedKeys(kept); !slices.Equal(got, want) {
		t.Errorf("Scan after drop = %q, want %q", got, want)
	}

	// A dropped key starts over: its old version is gone.
	k := "o/acme/lead/1"
	if _, err := s.Save(ctx, []byte(k), []byte("again"), versions[k]); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Save with pre-drop version = %v, want ErrConflict", err)
	}
	mustSave(t, s, k, "again", 0)

	// Dropping an empty or unknown tenant, or the same one twice, is fine.
	for _, org := range []string{"nobody", "acme", "acme"} {
		if err := s.DropTenant(ctx, org); err != nil {
			t.Errorf("DropTenant(%q): %v", org, err)
		}
	}
	wantMissing(t, s, k)
	for _, k := range kept {
		wantValue(t, s, k, "v:"+k, versions[k])
	}
}

func testReopen(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("store cannot be reopened")
	}
	s := open(t, h)
	ctx := t.Context()
	big := randomBytes(7, 300<<10)
	mustSave(t, s, "o/acme/lead/1", "a", 0)
	mustSave(t, s, "o/acme/lead/1", "b", 1)
	mustSave(t, s, "o/acme/lead/1", "c", 2)
	mustSave(t, s, "o/acme/lead/2", "x", 0)
	mustSave(t, s, "o/acme/lead/3", "deleted", 0)
	if err := s.Delete(ctx, []byte("o/acme/lead/3"), 1); err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, "o/gone/lead/1", "dropped", 0)
	if err := s.DropTenant(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, "g/index/1", "global", 0)
	if _, err := s.Save(ctx, []byte("o/acme/blob"), big, 0); err != nil {
		t.Fatal(err)
	}

	check := func(s store.StateStore) {
		t.Helper()
		wantValue(t, s, "o/acme/lead/1", "c", 3)
		wantValue(t, s, "o/acme/lead/2", "x", 1)
		wantMissing(t, s, "o/acme/lead/3")
		wantMissing(t, s, "o/gone/lead/1")
		wantValue(t, s, "g/index/1", "global", 1)
		got, v, err := s.Load(ctx, []byte("o/acme/blob"))
		if err != nil || v != 1 || !bytes.Equal(got, big) {
			t.Fatalf("Load(blob) = %d bytes v%d, %v; want the %d bytes saved at v1", len(got), v, err, len(big))
		}
		want := []string{"g/index/1", "o/acme/blob", "o/acme/lead/1", "o/acme/lead/2"}
		if got := scanKeys(t, s, nil, nil); !slices.Equal(got, want) {
			t.Fatalf("Scan = %q, want %q", got, want)
		}
	}

	s2 := h.Reopen(t, s)
	if _, _, err := s.Load(ctx, []byte("o/acme/lead/1")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Load on the store Reopen closed = %v, want ErrClosed", err)
	}
	check(s2)

	// Compare-and-set carries on from the persisted versions.
	if _, err := s2.Save(ctx, []byte("o/acme/lead/1"), []byte("z"), 2); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Save with stale version after reopen = %v, want ErrConflict", err)
	}
	mustSave(t, s2, "o/acme/lead/1", "d", 3)
	mustSave(t, s2, "o/acme/lead/3", "back", 0)

	s3 := h.Reopen(t, s2)
	wantValue(t, s3, "o/acme/lead/1", "d", 4)
	wantValue(t, s3, "o/acme/lead/3", "back", 1)
}

func testLargeValues(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	type sized struct {
		name string
		size int
	}
	sizes := []sized{{"1MiB", 1 << 20}, {"4MiB", 4 << 20}}
	if h.MaxValueSize > 0 && h.MaxValueSize < 4<<20 {
		sizes = append(sizes, sized{"max", h.MaxValueSize})
	}
	stored := map[string][]byte{}
	for i, sz := range sizes {
		key := "o/acme/blob/" + sz.name
		v1 := randomBytes(uint64(2*i), sz.size)
		if h.MaxValueSize > 0 && sz.size > h.MaxValueSize {
			_, err := s.Save(ctx, []byte(key), v1, 0)
			if err == nil || errors.Is(err, store.ErrConflict) {
				t.Errorf("%s: Save above MaxValueSize = %v, want a size error", sz.name, err)
			}
			wantMissing(t, s, key)
			continue
		}
		v2 := randomBytes(uint64(2*i+1), sz.size)
		if _, err := s.Save(ctx, []byte(key), v1, 0); err != nil {
			t.Fatalf("%s: Save: %v", sz.name, err)
		}
		if _, err := s.Save(ctx, []byte(key), v2, 1); err != nil {
			t.Fatalf("%s: second Save: %v", sz.name, err)
		}
		got, v, err := s.Load(ctx, []byte(key))
		if err != nil || v != 2 || !bytes.Equal(got, v2) {
			t.Fatalf("%s: Load = %d bytes v%d, %v; want the %d bytes saved at v2", sz.name, len(got), v, err, len(v2))
		}
		stored[key] = v2
	}

	check := func(s store.StateStore) {
		t.Helper()
		n := 0
		err := s.Scan(ctx, []byte("o/acme/blob/"), nil, func(it store.Item) error {
			n++
			want := stored[string(it.Key)]
			if !bytes.Equal(it.Value, want) || it.Version != 2 {
				t.Errorf("Scan: %q = %d bytes v%d, want the %d bytes saved at v2", it.Key, len(it.Value), it.Version, len(want))
			}
			return nil
		})
		if err != nil || n != len(stored) {
			t.Fatalf("Scan: %d items, %v; want %d", n, err, len(stored))
		}
	}
	check(s)
	if h.Reopen != nil {
		s = h.Reopen(t, s)
		check(s)
	}

	// Large values can shrink again.
	for key := range stored {
		mustSave(t, s, key, "small", 2)
		wantValue(t, s, key, "small", 3)
	}
}

// testContextDone: with a done context every method returns the context's
// error and changes nothing.
func testContextDone(t *testing.T, h Harness) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	ctxs := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"deadline exceeded", expired, context.DeadlineExceeded},
	}
	key := []byte("o/acme/lead/1")
	ops := []struct {
		name string
		call func(context.Context, store.StateStore) error
	}{
		{"Load", func(ctx context.Context, s store.StateStore) error {
			_, _, err := s.Load(ctx, key)
			return err
		}},
		{"Save", func(ctx context.Context, s store.StateStore) error {
			_, err := s.Save(ctx, key, []byte("changed"), 1)
			return err
		}},
		{"Save new", func(ctx context.Context, s store.StateStore) error {
			_, err := s.Save(ctx, []byte("o/acme/lead/new"), []byte("new"), 0)
			return err
		}},
		{"Delete", func(ctx context.Context, s store.StateStore) error {
			return s.Delete(ctx, key, 1)
		}},
		{"Scan", func(ctx context.Context, s store.StateStore) error {
			return s.Scan(ctx, []byte("o/acme/"), nil, func(store.Item) error {
				return errors.New("callback called")
			})
		}},
		{"DropTenant", func(ctx context.Context, s store.StateStore) error {
			return s.DropTenant(ctx, "acme")
		}},
	}
	s := open(t, h)
	mustSave(t, s, string(key), "original", 0)
	for _, c := range ctxs {
		for _, op := range ops {
			if err := op.call(c.ctx, s); !errors.Is(err, c.want) {
				t.Errorf("%s with %s context = %v, want %v", op.name, c.name, err, c.want)
			}
		}
	}
	wantValue(t, s, string(key), "original", 1)
	wantMissing(t, s, "o/acme/lead/new")
}

// testContextCancelledMidScan: cancelling the context stops a scan. An
// implementation may notice only every few hundred items.
func testContextCancelledMidScan(t *testing.T, h Harness) {
	const n = 2000
	s := open(t, h)
	for i := range n {
		mustSave(t, s, fmt.Sprintf("o/acme/lead/%05d", i), "x", 0)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	err := s.Scan(ctx, []byte("o/acme/"), nil, func(store.Item) error {
		calls++
		if calls == 1 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Scan = %v, want context.Canceled", err)
	}
	if calls >= n {
		t.Errorf("callback ran %d times: the scan did not stop", calls)
	}
}

func testClosed(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	mustSave(t, s, "o/acme/lead/1", "x", 0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close = %v, want nil or ErrClosed", err)
	}
	ops := []struct {
		name string
		call func() error
	}{
		{"Load", func() error { _, _, err := s.Load(ctx, []byte("o/acme/lead/1")); return err }},
		{"Load missing", func() error { _, _, err := s.Load(ctx, []byte("o/acme/lead/2")); return err }},
		{"Save", func() error { _, err := s.Save(ctx, []byte("o/acme/lead/1"), []byte("y"), 1); return err }},
		{"Save new", func() error { _, err := s.Save(ctx, []byte("o/acme/lead/2"), []byte("y"), 0); return err }},
		{"Delete", func() error { return s.Delete(ctx, []byte("o/acme/lead/1"), 1) }},
		{"Delete absent", func() error { return s.Delete(ctx, []byte("o/acme/lead/2"), 0) }},
		{"Scan", func() error {
			return s.Scan(ctx, []byte("o/"), nil, func(store.Item) error { return errors.New("callback called") })
		}},
		{"DropTenant", func() error { return s.DropTenant(ctx, "acme") }},
	}
	for _, op := range ops {
		if err := op.call(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op.name, err)
		}
	}
}

// testCloseWhileBusy: Close while calls are in flight neither panics nor
// hangs; each call either completes or returns ErrClosed.
func testCloseWhileBusy(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := t.Context()
	for i := range 50 {
		mustSave(t, s, fmt.Sprintf("o/acme/scan/%02d", i), "x", 0)
	}
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup
	)
	worker := func(name string, op func(i int) error) {
		started.Add(1)
		wg.Go(func() {
			for i := 0; ; i++ {
				err := op(i)
				if i == 5 {
					started.Done()
				}
				if errors.Is(err, store.ErrClosed) {
					if i < 5 {
						started.Done()
					}
					return
				}
				if err != nil && !errors.Is(err, store.ErrConflict) {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
	var vers [2]store.Version
	for w := range 2 {
		key := fmt.Appendf(nil, "o/acme/w/%d", w)
		worker("Save", func(int) error {
			v, err := s.Save(ctx, key, []byte("x"), vers[w])
			if err == nil {
				vers[w] = v
			}
			return err
		})
	}
	worker("Load", func(int) error {
		_, _, err := s.Load(ctx, []byte("o/acme/w/0"))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	worker("Scan", func(int) error {
		return s.Scan(ctx, []byte("o/acme/scan/"), nil, func(store.Item) error { return nil })
	})
	worker("Delete", func(int) error {
		return s.Delete(ctx, []byte("o/acme/none"), 0)
	})
	started.Wait()
	withTimeout(t, "Close", func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	withTimeout(t, "workers", wg.Wait)
}
