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
