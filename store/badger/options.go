package badgerstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/hashicorp/go-hclog"
)

// Profile picks a set of Badger memory limits.
type Profile int

const (
	// ProfileServer bounds one DB to 16 MiB×4 of memtables, a 128 MiB
	// block cache and a 64 MiB index cache, with 256 MiB value-log files.
	// Badger's own defaults leave index memory unbounded and keep five
	// 64 MiB memtables (600 MiB or more per DB).
	ProfileServer Profile = iota
	// ProfileSmall is for tests and development: 8 MiB×2 memtables, a
	// 16 MiB block cache, an 8 MiB index cache, 64 MiB value-log files and
	// two compactors, so several stores fit on a small CI machine.
	ProfileSmall
)

func (p Profile) String() string {
	switch p {
	case ProfileServer:
		return "server"
	case ProfileSmall:
		return "small"
	}
	return fmt.Sprintf("Profile(%d)", int(p))
}

// DefaultGCInterval is how often value-log GC runs when Options.GCInterval is 0.
const DefaultGCInterval = 5 * time.Minute

// DefaultPageOutInterval is how often table pages are paged out when
// Options.PageOutInterval is 0: often enough that a busy node's
// file-backed memory stays near what its reads touch in that time, rarely
// enough that re-reading hot pages costs little (docs/performance.md).
const DefaultPageOutInterval = 10 * time.Second

// MaxInMemoryValueSize is the largest value an InMemory store accepts. An
// in-memory Badger has no value log, so a value must fit under its value
// threshold (1 MiB, including the 8-byte version header); on disk, values up
// to the value-log file size (64 MiB small, 256 MiB server) are accepted.
const MaxInMemoryValueSize = inMemoryValueThreshold - headerSize - 1

// inMemoryValueThreshold is Badger's ValueThreshold (its 1 MiB default, which
// is also its maximum). Badger rejects in-memory values above it and
// mishandles a value of exactly this size, hence the -1 above.
const inMemoryValueThreshold = 1 << 20

// ErrValueTooLarge is returned by Save when an InMemory store is given a
// value larger than MaxInMemoryValueSize.
var ErrValueTooLarge = errors.New("badgerstore: value too large")

// Options configures Open.
type Options struct {
	// Dir holds the database files. Required unless InMemory; must be empty
	// with InMemory. Only one process may open a Dir at a time.
	Dir string
	// InMemory keeps everything in memory (tests): nothing survives Close,
	// and values are limited to MaxInMemoryValueSize.
	InMemory bool
	// SyncWrites msyncs the value log on every commit. Off (the default), a
	// committed write survives a crash of this process but not a power loss
	// or kernel crash.
	SyncWrites bool
	// Profile selects memory limits: ProfileServer (the zero value) or
	// ProfileSmall.
	Profile Profile
	// GCInterval is how often value-log GC runs: 0 means DefaultGCInterval,
	// negative disables it. Ignored with InMemory (there is no value log).
	GCInterval time.Duration
	// PageOutInterval is how often the resident pages of Badger's table
	// files are handed back to the kernel (see pageOutTables): 0 means
	// DefaultPageOutInterval, negative never. Ignored with InMemory.
	PageOutInterval time.Duration
	// Logger receives Badger's warnings and errors (named "badger"); nil
	// discards them.
	Logger hclog.Logger
}

func (o Options) validate() error {
	switch {
	case o.InMemory && o.Dir != "":
		return errors.New("badgerstore: Dir must be empty when InMemory is set")
	case !o.InMemory && o.Dir == "":
		return errors.New("badgerstore: Dir is required unless InMemory is set")
	case o.Profile != ProfileServer && o.Profile != ProfileSmall:
		return fmt.Errorf("badgerstore: unknown profile %v", o.Profile)
	}
	return nil
}

// badgerOptions turns validated Options into Badger's.
func (o Options) badgerOptions() badger.Options {
	bo := badger.DefaultOptions(o.Dir).
		WithInMemory(o.InMemory).
		WithSyncWrites(o.SyncWrites).
		WithNumVersionsToKeep(1).
		WithValueThreshold(inMemoryValueThreshold).
		WithLogger(nil)
	if o.Logger != nil {
		bo = bo.WithLogger(hclogAdapter{o.Logger.Named("badger")})
	}
	switch o.Profile {
	case ProfileSmall:
		bo = bo.
			WithMemTableSize(8 << 20).
			WithNumMemtables(2).
			WithNumLevelZeroTables(2).
			WithNumLevelZeroTablesStall(8).
			WithBlockCacheSize(16 << 20).
			WithIndexCacheSize(8 << 20).
			WithValueLogFileSize(64 << 20).
			WithNumCompactors(2)
	default: // ProfileServer
		// Many level-0 tables before a compaction and a 256 MiB base
		// level: lead records are rewritten on every signal, and this way
		// most rewrites meet and replace each other in level 0 and one
		// big base level instead of travelling through three levels. In
		// bench ingest that cut the bytes written per signal from ~7 KB
		// to ~3 KB (docs/performance.md). Memtables are small because
		// Badger keeps up to eight table builders pooled, each grown to
		// the memtable's size (32 MiB memtables held ~340 MB of heap that
		// way); 16 × 16 MiB level-0 tables hold as much as 8 × 32 MiB.
		// Tables stay at Badger's 2 MiB base size: a compaction builds
		// each in memory, eight or more at once.
		bo = bo.
			WithMemTableSize(16 << 20).
			WithNumMemtables(4).
			WithNumLevelZeroTables(16).
			WithNumLevelZeroTablesStall(48).
			WithBaseLevelSize(256 << 20).
			WithBlockCacheSize(128 << 20).
			WithIndexCacheSize(64 << 20).
			WithValueLogFileSize(256 << 20).
			WithNumCompactors(2).
			// No block compression: on a small machine the CPU spent in
			// Snappy (compaction and every block read) costs more
			// throughput than the disk it saves; it also avoids the
			// builders' second (compressed) copy of each block.
			WithCompression(options.None)
	}
	return bo
}
