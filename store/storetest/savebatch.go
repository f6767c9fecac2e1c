package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/trailspark/trailspark/store"
)

// testSaveBatch: all writes commit together, or none does.
func testSaveBatch(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := context.Background()
	a := mustSave(t, s, "o/t/a", "a1", 0)

	vs, err := s.SaveBatch(ctx, []store.Write{
		{Key: []byte("o/t/a"), Value: []byte("a2"), Expected: a},
		{Key: []byte("o/t/b"), Value: []byte("b1"), Expected: 0},
		{Key: []byte("o/t/c"), Value: []byte("c1"), Expected: store.AnyVersion},
	})
	if err != nil {
		t.Fatalf("SaveBatch: %v", err)
	}
	if len(vs) != 3 || vs[0] != a+1 || vs[1] != 1 || vs[2] != 1 {
		t.Fatalf("versions = %v", vs)
	}
	wantValue(t, s, "o/t/a", "a2", a+1)
	wantValue(t, s, "o/t/b", "b1", 1)
	wantValue(t, s, "o/t/c", "c1", 1)

	// One stale expectation: nothing is written.
	_, err = s.SaveBatch(ctx, []store.Write{
		{Key: []byte("o/t/c"), Value: []byte("c2"), Expected: store.AnyVersion},
		{Key: []byte("o/t/d"), Value: []byte("d1"), Expected: 0},
		{Key: []byte("o/t/a"), Value: []byte("a3"), Expected: a}, // stale
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale batch: err = %v, want ErrConflict", err)
	}
	wantValue(t, s, "o/t/c", "c1", 1)
	wantMissing(t, s, "o/t/d")
	wantValue(t, s, "o/t/a", "a2", a+1)

	// AnyVersion overwrites whatever is there.
	if _, err := s.SaveBatch(ctx, []store.Write{{Key: []byte("o/t/a"), Value: []byte("a9"), Expected: store.AnyVersion}}); err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "o/t/a", "a9", a+2)

	if vs, err := s.SaveBatch(ctx, nil); err != nil || len(vs) != 0 {
		t.Fatalf("empty batch: %v %v", vs, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.SaveBatch(cctx, []store.Write{{Key: []byte("o/t/e"), Value: []byte("x")}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
	t.Run("Delete", func(t *testing.T) { testSaveBatchDelete(t, h) })
}

// testSaveBatchDelete: deletes in a batch follow Expected as Delete does,
// and commit or roll back with the batch's saves.
func testSaveBatchDelete(t *testing.T, h Harness) {
	type want struct {
		key, value string // value "" with version 0: the key is absent
		version    store.Version
	}
	cases := []struct {
		name     string
		seed     map[string]string // saved once each before the batch (version 1)
		writes   []store.Write
		conflict bool
		versions []store.Version // on success
		after    []want
	}{
		{
			name: "delete and save together",
			seed: map[string]string{"o/t/q1": "item", "o/t/s": "s1"},
			writes: []store.Write{
				{Key: []byte("o/t/h1"), Value: []byte("done"), Expected: 0},
				{Key: []byte("o/t/q1"), Delete: true, Expected: 1},
				{Key: []byte("o/t/s"), Value: []byte("s2"), Expected: store.AnyVersion},
			},
			versions: []store.Version{1, 0, 2},
			after:    []want{{"o/t/h1", "done", 1}, {"o/t/q1", "", 0}, {"o/t/s", "s2", 2}},
		},
		{
			name: "delete of an absent key with expected 0 is a no-op",
			writes: []store.Write{
				{Key: []byte("o/t/gone"), Delete: true, Expected: 0},
				{Key: []byte("o/t/n"), Value: []byte("n1"), Expected: 0},
			},
			versions: []store.Version{0, 1},
			after:    []want{{"o/t/gone", "", 0}, {"o/t/n", "n1", 1}},
		},
		{
			name:     "delete with AnyVersion removes a present key",
			seed:     map[string]string{"o/t/any": "x"},
			writes:   []store.Write{{Key: []byte("o/t/any"), Delete: true, Expected: store.AnyVersion}},
			versions: []store.Version{0},
			after:    []want{{"o/t/any", "", 0}},
		},
		{
			name:     "delete with AnyVersion of an absent key",
			writes:   []store.Write{{Key: []byte("o/t/none"), Delete: true, Expected: store.AnyVersion}},
			versions: []store.Version{0},
			after:    []want{{"o/t/none", "", 0}},
		},
		{
			name: "a stale delete rolls the whole batch back",
			seed: map[string]string{"o/t/q2": "item", "o/t/q3": "item"},
			writes: []store.Write{
				{Key: []byte("o/t/h2"), Value: []byte("done"), Expected: 0},
				{Key: []byte("o/t/q3"), Delete: true, Expected: 1},
				{Key: []byte("o/t/q2"), Delete: true, Expected: 7}, // stale
			},
			conflict: true,
			after:    []want{{"o/t/h2", "", 0}, {"o/t/q2", "item", 1}, {"o/t/q3", "item", 1}},
		},
		{
			name: "a delete expecting absence of a present key conflicts",
			seed: map[string]string{"o/t/q4": "item"},
			writes: []store.Write{
				{Key: []byte("o/t/h4"), Value: []byte("done"), Expected: store.AnyVersion},
				{Key: []byte("o/t/q4"), Delete: true, Expected: 0},
			},
			conflict: true,
			after:    []want{{"o/t/h4", "", 0}, {"o/t/q4", "item", 1}},
		},
		{
			name: "a stale save rolls back the batch's deletes",
			seed: map[string]string{"o/t/q5": "item", "o/t/s5": "s"},
			writes: []store.Write{
				{Key: []byte("o/t/q5"), Delete: true, Expected: 1},
				{Key: []byte("o/t/s5"), Value: []byte("s2"), Expected: 0}, // exists
			},
			conflict: true,
			after:    []want{{"o/t/q5", "item", 1}, {"o/t/s5", "s", 1}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, h)
			for k, v := range tc.seed {
				mustSave(t, s, k, v, 0)
			}
			vs, err := s.SaveBatch(context.Background(), tc.writes)
			switch {
			case tc.conflict && !errors.Is(err, store.ErrConflict):
				t.Fatalf("err = %v, want ErrConflict", err)
			case !tc.conflict && err != nil:
				t.Fatalf("SaveBatch: %v", err)
			case !tc.conflict && fmt.Sprint(vs) != fmt.Sprint(tc.versions):
				t.Fatalf("versions = %v, want %v", vs, tc.versions)
			}
			for _, w := range tc.after {
				if w.version == 0 {
					wantMissing(t, s, w.key)
				} else {
					wantValue(t, s, w.key, w.value, w.version)
				}
			}
		})
	}
}

// testSaveBatchConcurrent: batches racing on overlapping keys with read
// versions never lose an update (each retries on conflict).
func testSaveBatchConcurrent(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := context.Background()
	keys := []string{"o/t/x", "o/t/y"}
	const workers, rounds = 6, 30
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				for {
					var writes []store.Write
					for _, k := range keys {
						b, v, err := s.Load(ctx, []byte(k))
						n := 0
						if err == nil {
							fmt.Sscan(string(b), &n)
						} else if !errors.Is(err, store.ErrNotFound) {
							errc <- err
							return
						}
						writes = append(writes, store.Write{Key: []byte(k), Value: []byte(fmt.Sprint(n + 1)), Expected: v})
					}
					_, err := s.SaveBatch(ctx, writes)
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrConflict) {
						errc <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for _, k := range keys {
		b, _, err := s.Load(ctx, []byte(k))
		if err != nil || string(b) != fmt.Sprint(workers*rounds) {
			t.Fatalf("%s = %q (%v), want %d", k, b, err, workers*rounds)
		}
	}
}
