//go:build linux

package badgerstore

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// pageOutTables asks the kernel to reclaim this process's resident pages
// of the table files under dir (madvise MADV_PAGEOUT, Linux 5.4+). Badger
// reads and writes its tables through memory mappings, so every table a
// compaction wrote or read stays resident — as file-backed RSS — until
// the kernel needs the memory; that is most of a busy node's RSS beyond
// its heap. The pages are clean (tables are immutable and synced when
// written), so reclaiming them loses nothing: a later read faults them
// back in from the page cache or the disk. It returns how many bytes of
// mappings it advised, and an error only when the kernel refuses the
// advice itself (the caller then stops trying).
func pageOutTables(dir string) (int64, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	prefix := []byte(dir + string(filepath.Separator))
	var advised int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// start-end perms offset dev inode path
		line := sc.Bytes()
		fields := bytes.Fields(line)
		if len(fields) < 6 {
			continue
		}
		path := fields[5]
		if !bytes.HasPrefix(path, prefix) || !bytes.HasSuffix(path, []byte(".sst")) {
			continue
		}
		lo, hi, ok := bytes.Cut(fields[0], []byte{'-'})
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// A table unmapped since the read (a compaction removed it) makes
		// this ENOMEM, which is fine. The advice never discards data.
		_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_PAGEOUT)
		switch errno {
		case 0:
			advised += int64(end - start)
		case syscall.EINVAL:
			return advised, errno // a kernel without MADV_PAGEOUT
		}
	}
	return advised, sc.Err()
}
