package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/trailspark/trailspark/store"
)

// appendReq is one Append call waiting for the committer.
type appendReq struct {
	ctx    context.Context
	org    string
	recs   []store.LogRecord
	window time.Duration
	now    time.Time // when the call was made: dedup windows start here

	res  []store.Appended
	err  error
	done chan struct{}
}

// committer is the group committer: one goroutine per DB that takes the
// Appends queued by concurrent callers and commits them in one transaction,
// so many small Appends share one transaction and one WAL flush.
//
// A group starts with the first queued request and takes every request
// already queued (those that arrived while the previous group committed);
// with a window set it then waits up to window for more. It stops early at
// maxRecs records. Each caller is answered only after the transaction committed.
type committer struct {
	db      *DB
	window  time.Duration
	maxRecs int

	reqs    chan *appendReq
	quit    chan struct{}
	stopped chan struct{}

	// groups counts committed group transactions, for tests.
	groups atomic.Int64
}

func newCommitter(db *DB, window time.Duration, maxRecs int) *committer {
	c := &committer{
		db:      db,
		window:  window,
		maxRecs: maxRecs,
		reqs:    make(chan *appendReq),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go c.run()
	return c
}

// stop ends the goroutine. The caller guarantees no Append is in progress.
func (c *committer) stop() {
	close(c.quit)
	<-c.stopped
}

// submit queues r and waits for its outcome. Once queued, a request is
// waited for even if ctx ends: it may be committing, and answering "failed"
// for records that are then stored would make the caller resend them.
func (c *committer) submit(r *appendReq) {
	select {
	case c.reqs <- r:
	case <-r.ctx.Done():
		r.err = r.ctx.Err()
		return
	}
	<-r.done
}

func (c *committer) run() {
	defer close(c.stopped)
	for {
		var first *appendReq
		select {
		case first = <-c.reqs:
		case <-c.quit:
			return
		}
		group := c.collect(first)
		c.commit(group)
	}
}

// collect builds a group that starts with first.
func (c *committer) collect(first *appendReq) []*appendReq {
	group := []*appendReq{first}
	n := len(first.recs)
	// Whatever queued while the previous group committed.
	for n < c.maxRecs {
		select {
		case r := <-c.reqs:
			group = append(group, r)
			n += len(r.recs)
			continue
		default:
		}
		break
	}
	if c.window <= 0 || n >= c.maxRecs {
		return group
	}
	timer := time.NewTimer(c.window)
	defer timer.Stop()
	for n < c.maxRecs {
		select {
		case r := <-c.reqs:
			group = append(group, r)
			n += len(r.recs)
		case <-timer.C:
			return group
		}
	}
	return group
}

// commit appends a group and answers its requests. If the database refused
// the group's transaction (an SQL error other than a retryable abort), each
// request is tried again alone, so one request the database refuses does
// not fail the others. Connection errors fail the whole group at once:
// retrying request by request would only multiply the wait.
func (c *committer) commit(group []*appendReq) {
	live := group[:0:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = err // not started: nothing of it is stored
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	err := c.appendGroup(live)
	var pgErr *pgconn.PgError
	if len(live) > 1 && errors.As(err, &pgErr) {
		for _, r := range live {
			if err := c.appendGroup([]*appendReq{r}); err != nil {
				r.err = err
			}
			close(r.done)
		}
		return
	}
	for _, r := range live {
		if err != nil {
			r.err = err
		}
		close(r.done)
	}
}

// dedupRef names a dedup key of one tenant.
type dedupRef struct {
	org  string
	hash [sha256.Size]byte
}

// groupTimeout bounds one group transaction, which runs on its own context:
// it serves several callers, so no single caller's context may cancel it.
const groupTimeout = time.Minute

// appendGroup appends the records of group in one transaction, retrying it
// when the database aborts it as retryable, and fills in each request's res.
//
// Ids: the transaction first locks the single signal_seq row (SELECT … FOR
// UPDATE). That lock is held until commit, so transactions that append take
// their ids and commit one after another, in id order, on every node: an
// entry never becomes visible after one with a greater id, and a reader
// following a partition from a cursor cannot skip it. Dedup keys are claimed
// under the same lock, so of two concurrent appends of one key exactly one
// stores it.
func (c *committer) appendGroup(group []*appendReq) error {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	var lastErr error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		now := c.db.clock()
		lastErr = c.db.pool.with(ctx, func(conn *pgx.Conn) error { return appendTx(ctx, conn, group, now) })
		if !retryable(lastErr) {
			break
		}
	}
	if lastErr != nil {
		return fmt.Errorf("postgres: append: %w", lastErr)
	}
	c.groups.Add(1)
	return nil
}

// claimSQL claims dedup keys for candidate ids last_id + ord, reading
// last_id in the statement so that it can share a round trip with the lock.
const claimSQL = `INSERT INTO signal_dedup AS d (key_hash, org, id, expires_at)
	SELECT u.key_hash, u.org, s.last_id + u.ord, u.expires_at
	FROM unnest($1::bytea[], $2::text[], $3::bigint[], $4::timestamptz[]) AS u(key_hash, org, ord, expires_at)
	CROSS JOIN signal_seq s
	WHERE s.id = 1
	ON CONFLICT (key_hash, org) DO UPDATE SET
		id = CASE WHEN d.expires_at <= $5 THEN excluded.id ELSE d.id END,
		expires_at = CASE WHEN d.expires_at <= $5 THEN excluded.expires_at ELSE d.expires_at END
	RETURNING key_hash, org, id`

// appendTx is one attempt at a group on conn; now decides which dedup
// claims have expired.
//
// It takes two round trips, as the id counter's lock is held from the first
// to the commit at the end of the second: every appending transaction of
// every node waits for it, so its hold time bounds the cluster's append
// rate. Round trip 1 begins, locks the counter and claims the dedup keys;
// round trip 2 advances the counter, inserts the entries and commits.
//
// Every record that is not a repeat within the group gets a candidate id,
// last_id + its ordinal (in group order, then record order). The claim is
// one INSERT … ON CONFLICT … RETURNING: a key claimed by nobody, or whose
// claim has expired, takes the candidate id; a key with a live claim keeps
// its id, and the record is a duplicate of it. The upsert always finds rows
// through the primary key (its arbiter index), whatever the planner's
// statistics; a SELECT of the keys was planned as a scan of the whole table
// while the table was young (6-10 ms per lookup at 10,000 keys). A
// duplicate's candidate id is not used: ids can have gaps.
func appendTx(ctx context.Context, conn *pgx.Conn, group []*appendReq, now time.Time) (err error) {
	defer func() {
		// A failed transaction is rolled back here, so the connection
		// goes back to the pool idle (or is closed by it if broken).
		if err != nil && !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = conn.Exec(rctx, "ROLLBACK")
		}
	}()

	type slot struct {
		gi, i int
		ref   dedupRef
		ord   int64 // candidate id - last_id; 0 for a repeat within the group
		dupOf int   // for a repeat within the group: the first's slot
	}
	var (
		slots   []slot
		firstOf = map[dedupRef]int{} // dedup key → slot of its first record
		ord     int64

		dHash   [][]byte
		dOrg    []string
		dOrd    []int64
		dExpiry []pgtype.Timestamptz
	)
	for gi, r := range group {
		for i, rec := range r.recs {
			sl := slot{gi: gi, i: i, dupOf: -1}
			if rec.DedupKey != "" {
				sl.ref = dedupRef{r.org, sha256.Sum256([]byte(rec.DedupKey))}
				if j, ok := firstOf[sl.ref]; ok {
					sl.dupOf = j
					slots = append(slots, sl)
					continue
				}
				firstOf[sl.ref] = len(slots)
			}
			ord++
			sl.ord = ord
			if rec.DedupKey != "" {
				exp := pgtype.Timestamptz{}
				if r.window > 0 {
					exp = pgtype.Timestamptz{Time: r.now.Add(r.window), Valid: true}
				}
				dHash = append(dHash, sl.ref.hash[:])
				dOrg = append(dOrg, r.org)
				dOrd = append(dOrd, ord)
				dExpiry = append(dExpiry, exp)
			}
			slots = append(slots, sl)
		}
	}

	// Round trip 1: begin, lock the counter, claim the dedup keys.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`SELECT last_id FROM signal_seq WHERE id = 1 FOR UPDATE`)
	if len(dOrd) > 0 {
		b.Queue(claimSQL, dHash, dOrg, dOrd, dExpiry, now)
	}
	br := conn.SendBatch(ctx, b)
	var last int64
	owner := make(map[dedupRef]int64, len(dOrd)) // dedup key → id holding it
	err = func() error {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if err := br.QueryRow().Scan(&last); err != nil {
			return fmt.Errorf("lock id counter: %w", err)
		}
		if len(dOrd) == 0 {
			return nil
		}
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("claim dedup keys: %w", err)
		}
		var (
			h   []byte
			org string
			id  int64
		)
		_, err = pgx.ForEachRow(rows, []any{&h, &org, &id}, func() error {
			ref := dedupRef{org: org}
			copy(ref.hash[:], h)
			owner[ref] = id
			return nil
		})
		if err != nil {
			return fmt.Errorf("claim dedup keys: %w", err)
		}
		return nil
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if len(owner) != len(dOrd) {
		return fmt.Errorf("claim dedup keys: %d of %d keys returned", len(owner), len(dOrd))
	}

	var (
		logOrg  []string
		logPart []int32
		logID   []int64
		logData [][]byte
	)
	results := make([][]store.Appended, len(group))
	for gi, r := range group {
		results[gi] = make([]store.Appended, len(r.recs))
	}
	for _, sl := range slots {
		r := group[sl.gi]
		out := &results[sl.gi][sl.i]
		if sl.dupOf >= 0 {
			*out = store.Appended{ID: uint64(owner[slots[sl.dupOf].ref]), Duplicate: true}
			continue
		}
		id := last + sl.ord
		if r.recs[sl.i].DedupKey != "" {
			switch held := owner[sl.ref]; {
			case held == id: // claimed now
			case held > 0 && held <= last: // a live claim from before
				*out = store.Appended{ID: uint64(held), Duplicate: true}
				continue
			default:
				return fmt.Errorf("claim dedup keys: key held by id %d, candidate %d, counter at %d", held, id, last)
			}
		}
		*out = store.Appended{ID: uint64(id)}
		logOrg = append(logOrg, r.org)
		logPart = append(logPart, int32(r.recs[sl.i].Partition))
		logID = append(logID, id)
		logData = append(logData, nonNil(r.recs[sl.i].Data))
	}

	// Round trip 2: advance the counter, store the entries, commit. With
	// nothing new the claims changed nothing, and the transaction is
	// rolled back.
	b = &pgx.Batch{}
	if len(logID) > 0 {
		b.Queue(`UPDATE signal_seq SET last_id = $1 WHERE id = 1`, last+ord)
		b.Queue(`INSERT INTO signal_log (org, part, id, data)
			SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bytea[])`,
			logOrg, logPart, logID, logData)
		b.Queue("COMMIT")
	} else {
		b.Queue("ROLLBACK")
	}
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write entries: %w", err)
	}
	// COMMIT of a failed transaction answers ROLLBACK without an error.
	if st := conn.PgConn().TxStatus(); st != 'I' {
		return fmt.Errorf("commit: transaction status %q after COMMIT", st)
	}
	for gi, r := range group {
		r.res = results[gi]
	}
	return nil
}
