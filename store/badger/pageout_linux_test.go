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

// tableRSS maps each .sst file under dir that this process maps to its
// resident bytes (from /proc/self/smaps), so parallel tests elsewhere in
// the process do not disturb it.
func tableRSS(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int64{}
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && len(fields[1]) == 4 { // a mapping's first line
			cur = ""
			if len(fields) >= 6 && strings.HasPrefix(fields[5], dir+"/") && strings.HasSuffix(fields[5], ".sst") {
				cur = fields[5]
				out[cur] += 0
			}
			continue
		}
		if cur != "" && len(fields) >= 2 && fields[0] == "Rss:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			out[cur] += kb << 10
		}
	}
	return out
}

func sum(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
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
	var before map[string]int64
	for range 100 {
		if err := s.Scan(ctx, []byte("k/"), nil, func(store.Item) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if before = tableRSS(t, dir); sum(before) > 1<<20 {
			break
		}
	}
	if sum(before) <= 1<<20 {
		t.Fatalf("setup: %d table mappings, %d resident bytes; want tables to page out", len(before), sum(before))
	}
	// Badger may flush or compact meanwhile (faulting pages back in), so
	// a few attempts are allowed; the tables present before are compared.
	var was, now int64
	for attempt := 0; attempt < 5; attempt++ {
		advised, err := pageOutTables(dir)
		if err != nil {
			t.Skipf("kernel refuses MADV_PAGEOUT: %v", err)
		}
		if advised <= 0 {
			t.Fatalf("advised %d bytes with %d table mappings", advised, len(before))
		}
		after := tableRSS(t, dir)
		was, now = 0, 0
		for path, rss := range before {
			if a, ok := after[path]; ok {
				was, now = was+rss, now+a
			}
		}
		if was > 0 && now <= was/4 {
			break
		}
		if err := s.Scan(ctx, []byte("k/"), nil, func(store.Item) error { return nil }); err != nil {
			t.Fatal(err)
		}
		before = tableRSS(t, dir)
	}
	if now > was/4 {
		t.Errorf("table pages resident: %d bytes before paging out, %d after", was, now)
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
