//go:build linux

package badgerstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trailspark/trailspark/store"
)

// tableRSS sums the resident bytes of this process's mappings of .sst
// files under dir (from /proc/self/smaps), so parallel tests elsewhere in
// the process do not disturb it.
func tableRSS(t *testing.T, dir string) (mapped int, rss int64) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && len(fields[1]) == 4 { // a mapping's first line
			in = len(fields) >= 6 && strings.HasPrefix(fields[5], dir+"/") && strings.HasSuffix(fields[5], ".sst")
			if in {
				mapped++
			}
			continue
		}
		if in && len(fields) >= 2 && fields[0] == "Rss:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			rss += kb << 10
		}
	}
	return mapped, rss
}

func TestPageOutTablesReleasesTablePages(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{Dir: dir, Profile: ProfileSmall, GCInterval: -1, PageOutInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	// 24 MiB of values: more than the small profile's 8 MiB memtables, so
	// Badger flushes some to table files.
	val := make([]byte, 4096)
	for i := range 6 * 1024 {
		writes := []store.Write{{Key: fmt.Appendf(nil, "k/%06d", i), Value: val, Expected: store.AnyVersion}}
		if _, err := s.SaveBatch(ctx, writes); err != nil {
			t.Fatal(err)
		}
	}
	// Flushes are asynchronous: wait until tables exist, reading every key
	// (which faults the table pages in).
	var mapped int
	var before int64
	for range 100 {
		if err := s.Scan(ctx, []byte("k/"), nil, func(store.Item) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if mapped, before = tableRSS(t, dir); before > 1<<20 {
			break
		}
	}
	if before <= 1<<20 {
		t.Fatalf("setup: %d table mappings, %d resident bytes; want tables to page out", mapped, before)
	}
	advised, err := pageOutTables(dir)
	if err != nil {
		t.Skipf("kernel refuses MADV_PAGEOUT: %v", err)
	}
	if advised <= 0 {
		t.Fatalf("advised %d bytes with %d table mappings", advised, mapped)
	}
	if _, after := tableRSS(t, dir); after > before/4 {
		t.Errorf("table pages resident: %d bytes before paging out, %d after", before, after)
	}
	// The data is all still there.
	n := 0
	if err := s.Scan(ctx, []byte("k/"), nil, func(it store.Item) error {
		if len(it.Value) != len(val) {
			return fmt.Errorf("%s: %d bytes", it.Key, len(it.Value))
		}
		n++
		return nil
	}); err != nil || n != 6*1024 {
		t.Fatalf("after paging out: %d keys, %v", n, err)
	}
}
