package store

import (
	"context"
	"time"
)

// Partitions is how many ordered partitions each tenant's signal log has. A
// person's signals always land in one partition (by a hash of their person
// key), so they are processed in order; partitions are processed in
// parallel.
const Partitions = 16

// LogRecord is one signal to append.
type LogRecord struct {
	Partition int
	// DedupKey (a messageId or Idempotency-Key) drops repeats within the
	// dedup window: the repeat gets the first record's id, marked duplicate.
	DedupKey string
	Data     []byte // the encoded signal; opaque to the store
}

// Appended is the outcome of one appended record.
type Appended struct {
	ID        uint64
	Duplicate bool
}

// LogEntry is a stored signal.
type LogEntry struct {
	ID        uint64
	Partition int
	Data      []byte
}

// SignalStatus is where a signal is in processing. It lives beside the log
// entry; the entry itself is never changed.
type SignalStatus struct {
	ID          uint64    `json:"id"`
	Status      string    `json:"status"` // pending, processing, completed, failed, skipped, permanently_failed, cold
	RuleID      string    `json:"rule_id,omitempty"`
	LeadID      string    `json:"lead_id,omitempty"`
	AccountID   string    `json:"account_id,omitempty"`
	Error       string    `json:"error,omitempty"`
	Attempts    int       `json:"attempts,omitempty"`
	ProcessedAt time.Time `json:"processed_at,omitempty"`
}

// SignalCounts is an organization's signals counted in one snapshot.
type SignalCounts struct {
	// Backlog is the entries after their partition's cursor.
	Backlog int
	// ByStatus counts the statuses of the first statuses by id (Truncated:
	// not all of them).
	ByStatus  map[string]int
	Truncated bool
	// Retrying is how many of the counted statuses belong to backlog
	// entries: a failed attempt waiting for its retry, counted in both
	// Backlog and ByStatus.
	Retrying int
}

// SignalLog is the durable, partitioned log of accepted signals.
type SignalLog interface {
	// Append stores records durably and returns their ids in order. It
	// returns only after the records are committed: a 202 may follow.
	Append(ctx context.Context, org string, recs []LogRecord, dedupWindow time.Duration) ([]Appended, error)
	// ReadPartition returns up to max entries of a partition with ids
	// greater than after, in id order.
	ReadPartition(ctx context.Context, org string, partition int, after uint64, max int) ([]LogEntry, error)
	// Duplicates returns, for each dedup key, the id of the signal that
	// claimed it if the claim is still live (0: none; "" is no key). It
	// only reads, for answers that must not append (a request its quota
	// refuses may still repeat stored signals); Append still decides.
	Duplicates(ctx context.Context, org string, keys []string) ([]uint64, error)
	// Get returns one entry by id, or ErrNotFound.
	Get(ctx context.Context, org string, id uint64) (LogEntry, error)
	// Cursor returns a partition's processing cursor (0 = nothing processed).
	Cursor(ctx context.Context, org string, partition int) (uint64, error)
	// Commit atomically records statuses and moves the partition cursor
	// forward (never backwards): a crash replays from the last commit.
	Commit(ctx context.Context, org string, partition int, cursor uint64, statuses []SignalStatus) error
	// Status returns a signal's status, or ErrNotFound.
	Status(ctx context.Context, org string, id uint64) (SignalStatus, error)
	// ScanStatuses calls fn for statuses with ids greater than after, in
	// id order, until fn returns false or an error.
	ScanStatuses(ctx context.Context, org string, after uint64, fn func(SignalStatus) (bool, error)) error
	// PutCold keeps an anonymous signal under its anonymous key until the
	// retention passes or TakeCold claims it.
	PutCold(ctx context.Context, org, anonKey string, e LogEntry, retention time.Duration) error
	// TakeCold returns and removes the cold entries of an anonymous key.
	TakeCold(ctx context.Context, org, anonKey string) ([]LogEntry, error)
	// ReadCold returns the cold entries of an anonymous key, leaving them;
	// DeleteCold removes the given ones once their replay is committed, so
	// a crash during a replay loses nothing.
	ReadCold(ctx context.Context, org, anonKey string) ([]LogEntry, error)
	DeleteCold(ctx context.Context, org, anonKey string, ids []uint64) error
	// Backlog counts entries not yet processed (after each partition's cursor).
	Backlog(ctx context.Context, org string) (int, error)
	// Counts counts the backlog and, of the first maxStatuses statuses by
	// id (all when maxStatuses ≤ 0), each status, all from one snapshot: a signal processed while it
	// counts is counted once, in the backlog or by its status.
	Counts(ctx context.Context, org string, maxStatuses int) (SignalCounts, error)
	// Purge deletes a partition's entries with ids at most uptoID and at
	// most the partition's cursor (an entry not yet processed is never
	// deleted), with their statuses, and returns how many entries it
	// deleted. It does a bounded amount of work per call: the caller calls
	// again until it returns 0. Purging what is already gone does nothing.
	// It is the retention of signals (SPEC §5); cold entries expire on
	// their own (PutCold's retention). Dedup keys are left to expire with
	// their window: they hold a hash and an id, and a repeat within the
	// window should still be answered as a duplicate.
	Purge(ctx context.Context, org string, partition int, uptoID uint64) (int, error)
}
