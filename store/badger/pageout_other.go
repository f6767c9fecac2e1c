//go:build !linux

package badgerstore

import "errors"

// pageOutTables is Linux-only (madvise MADV_PAGEOUT).
func pageOutTables(string) (int64, error) {
	return 0, errors.New("badgerstore: paging out tables needs Linux")
}
