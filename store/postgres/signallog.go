package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/trailspark/trailspark/store"
)

// signalLog is the store.SignalLog of a DB. Its tables (see migrate.go) are
// keyed by org first, so DropTenant removes a tenant's log with the rest of
// its data.
type signalLog struct {
	db *DB
}

var _ store.SignalLog = (*signalLog)(nil)

// validOrg refuses org names PostgreSQL cannot store as TEXT (a NUL byte or
// invalid UTF-8). Append checks this before queueing, as such a request would
// otherwise fail the group transaction it shares with other callers.
func validOrg(org string) error {
	if !utf8.ValidString(org) || strings.ContainsRune(org, 0) {
		return fmt.Errorf("postgres: org %q is not valid UTF-8 without NUL bytes", org)
	}
	return nil
}

// Append implements store.SignalLog through the group committer: it returns
// once the transaction holding its records has committed.
func (l *signalLog) Append(ctx context.Context, org string, recs []store.LogRecord, window time.Duration) ([]store.Appended, error) {
	if err := l.db.enter(ctx); err != nil {
		return nil, err
	}
	defer l.db.leave()
	if len(recs) == 0 {
		return nil, nil
	}
	if err := validOrg(org); err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.Partition < 0 || r.Partition >= store.Partitions {
			return nil, fmt.Errorf("postgres: append: partition %d out of range", r.Partition)
		}
	}
	req := &appendReq{ctx: ctx, org: org, recs: recs, window: window, now: l.db.clock(), done: make(chan struct{})}
	l.db.committer.submit(req)
	if req.err != nil {
		return nil, req.err
	}
	return req.res, nil
}

// ReadPartition implements store.SignalLog.
func (l *signalLog) ReadPartition(ctx context.Context, org string, p int, after uint64, max int) ([]store.LogEntry, error) {
	if err := l.db.enter(ctx); err != nil {
		return nil, err
	}
	defer l.db.leave()
	if after >= math.MaxInt64 || max <= 0 {
		return nil, nil // no stored id is above after
	}
	out, err := collect(ctx, l.db.pool, `SELECT id, data FROM signal_log
		WHERE org = $1 AND part = $2 AND id > $3 ORDER BY id LIMIT $4`, []any{org, p, int64(after), max}, func(r pgx.CollectableRow) (store.LogEntry, error) {
		e := store.LogEntry{Partition: p}
		var id int64
		err := r.Scan(&id, &e.Data)
		e.ID = uint64(id)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read partition: %w", err)
	}
	return out, nil
}

// Get implements store.SignalLog.
func (l *signalLog) Get(ctx context.Context, org string, id uint64) (store.LogEntry, error) {
	if err := l.db.enter(ctx); err != nil {
		return store.LogEntry{}, err
	}
	defer l.db.leave()
	if id == 0 || id > math.MaxInt64 {
		return store.LogEntry{}, store.ErrNotFound
	}
	e := store.LogEntry{ID: id}
	err := l.db.pool.queryRow(ctx, `SELECT part, data FROM signal_log WHERE org = $1 AND id = $2`,
		[]any{org, int64(id)}, &e.Partition, &e.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.LogEntry{}, store.ErrNotFound
	}
	if err != nil {
		return store.LogEntry{}, fmt.Errorf("postgres: get signal: %w", err)
	}
	return e, nil
}

// Cursor implements store.SignalLog.
func (l *signalLog) Cursor(ctx context.Context, org string, p int) (uint64, error) {
	if err := l.db.enter(ctx); err != nil {
		return 0, err
	}
	defer l.db.leave()
	var pos int64
	err := l.db.pool.queryRow(ctx, `SELECT pos FROM signal_cursor WHERE org = $1 AND part = $2`, []any{org, p}, &pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: cursor: %w", err)
	}
	return uint64(pos), nil
}

// Commit implements store.SignalLog: the cursor (moved only forward, by
// GREATEST in the upsert) and the statuses are written in one transaction.
func (l *signalLog) Commit(ctx context.Context, org string, p int, cursor uint64, statuses []store.SignalStatus) error {
	if err := l.db.enter(ctx); err != nil {
		return err
	}
	defer l.db.leave()
	if cursor > math.MaxInt64 {
		return fmt.Errorf("postgres: commit: cursor %d out of range", cursor)
	}
	// One row per id (the last status given wins), in id order so that
	// concurrent commits lock status rows in the same order.
	byID := map[uint64]store.SignalStatus{}
	for _, st := range statuses {
		if st.ID == 0 || st.ID > math.MaxInt64 {
			return fmt.Errorf("postgres: commit: status id %d out of range", st.ID)
		}
		byID[st.ID] = st
	}
	ids := make([]uint64, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var (
		sID                                []int64
		sStatus, sRule, sLead, sAcct, sErr []string
		sAttempts                          []int32
		sAt                                []pgtype.Timestamptz
	)
	for _, id := range ids {
		st := byID[id]
		sID = append(sID, int64(id))
		sStatus = append(sStatus, st.Status)
		sRule = append(sRule, st.RuleID)
		sLead = append(sLead, st.LeadID)
		sAcct = append(sAcct, st.AccountID)
		sErr = append(sErr, st.Error)
		sAttempts = append(sAttempts, int32(st.Attempts))
		sAt = append(sAt, pgtype.Timestamptz{Time: st.ProcessedAt, Valid: !st.ProcessedAt.IsZero()})
	}
	err := l.db.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO signal_cursor (org, part, pos) VALUES ($1, $2, $3)
			ON CONFLICT (org, part) DO UPDATE SET pos = GREATEST(signal_cursor.pos, excluded.pos)`,
			org, p, int64(cursor))
		if len(sID) > 0 {
			b.Queue(`INSERT INTO signal_status (org, id, status, rule_id, lead_id, account_id, err, attempts, processed_at)
				SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::timestamptz[])
				ON CONFLICT (org, id) DO UPDATE SET status = excluded.status, rule_id = excluded.rule_id,
					lead_id = excluded.lead_id, account_id = excluded.account_id, err = excluded.err,
					attempts = excluded.attempts, processed_at = excluded.processed_at`,
				org, sID, sStatus, sRule, sLead, sAcct, sErr, sAttempts, sAt)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

const statusColumns = `id, status, rule_id, lead_id, account_id, err, attempts, processed_at`

func scanStatus(r pgx.CollectableRow) (store.SignalStatus, error) {
	var (
		st       store.SignalStatus
		id       int64
		attempts int32
		at       pgtype.Timestamptz
	)
	if err := r.Scan(&id, &st.Status, &st.RuleID, &st.LeadID, &st.AccountID, &st.Error, &attempts, &at); err != nil {
		return st, err
	}
	st.ID = uint64(id)
	st.Attempts = int(attempts)
	if at.Valid {
		st.ProcessedAt = at.Time
	}
	return st, nil
}

// Status implements store.SignalLog.
func (l *signalLog) Status(ctx context.Context, org string, id uint64) (store.SignalStatus, error) {
	if err := l.db.enter(ctx); err != nil {
		return store.SignalStatus{}, err
	}
	defer l.db.leave()
	if id == 0 || id > math.MaxInt64 {
		return store.SignalStatus{}, store.ErrNotFound
	}
	sts, err := collect(ctx, l.db.pool, `SELECT `+statusColumns+` FROM signal_status WHERE org = $1 AND id = $2`,
		[]any{org, int64(id)}, scanStatus)
	if err == nil && len(sts) == 0 {
		return store.SignalStatus{}, store.ErrNotFound
	}
	if err != nil {
		return store.SignalStatus{}, fmt.Errorf("postgres: status: %w", err)
	}
	return sts[0], nil
}

// ScanStatuses implements store.SignalLog a page at a time, with no
// connection held while fn runs.
func (l *signalLog) ScanStatuses(ctx context.Context, org string, after uint64, fn func(store.SignalStatus) (bool, error)) error {
	if err := l.db.enter(ctx); err != nil {
		return err
	}
	defer l.db.leave()
	if after >= math.MaxInt64 {
		return nil
	}
	for {
		page, err := collect(ctx, l.db.pool, `SELECT `+statusColumns+` FROM signal_status
			WHERE org = $1 AND id > $2 ORDER BY id LIMIT $3`, []any{org, int64(after), scanPage}, scanStatus)
		if err != nil {
			return fmt.Errorf("postgres: scan statuses: %w", err)
		}
		for _, st := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			more, err := fn(st)
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
			after = st.ID
		}
		if len(page) < scanPage {
			return nil
		}
	}
}

func anonHash(anonKey string) []byte {
	h := sha256.Sum256([]byte(anonKey))
	return h[:]
}

// expiry is the expiry time of something kept for d from now; NULL (never)
// when d is not positive, as in the Badger store.
func (l *signalLog) expiry(d time.Duration) pgtype.Timestamptz {
	if d <= 0 {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: l.db.clock().Add(d), Valid: true}
}

// PutCold implements store.SignalLog. Putting the same id again replaces it.
func (l *signalLog) PutCold(ctx context.Context, org, anonKey string, e store.LogEntry, retention time.Duration) error {
	if err := l.db.enter(ctx); err != nil {
		return err
	}
	defer l.db.leave()
	if e.ID > math.MaxInt64 {
		return fmt.Errorf("postgres: put cold: id %d out of range", e.ID)
	}
	_, err := l.db.pool.exec(ctx, `INSERT INTO signal_cold (org, anon_hash, id, part, data, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (org, anon_hash, id) DO UPDATE SET part = excluded.part, data = excluded.data, expires_at = excluded.expires_at`,
		org, anonHash(anonKey), int64(e.ID), e.Partition, nonNil(e.Data), l.expiry(retention))
	if err != nil {
		return fmt.Errorf("postgres: put cold: %w", err)
	}
	return nil
}

// coldRow is a cold entry with its expiry.
type coldRow struct {
	e       store.LogEntry
	expires pgtype.Timestamptz
}

func scanCold(r pgx.CollectableRow) (coldRow, error) {
	var (
		c  coldRow
		id int64
	)
	err := r.Scan(&id, &c.e.Partition, &c.e.Data, &c.expires)
	c.e.ID = uint64(id)
	return c, err
}

// live returns the unexpired entries of rows in id order.
func (l *signalLog) live(rows []coldRow) []store.LogEntry {
	now := l.db.clock()
	var out []store.LogEntry
	for _, c := range rows {
		if c.expires.Valid && !c.expires.Time.After(now) {
			continue
		}
		out = append(out, c.e)
	}
	slices.SortFunc(out, func(a, b store.LogEntry) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// TakeCold implements store.SignalLog with DELETE … RETURNING: of concurrent
// takes, each row is deleted, and so returned, by exactly one. Expired
// entries are deleted too but not returned.
func (l *signalLog) TakeCold(ctx context.Context, org, anonKey string) ([]store.LogEntry, error) {
	if err := l.db.enter(ctx); err != nil {
		return nil, err
	}
	defer l.db.leave()
	var rows []coldRow
	err := l.db.inTx(ctx, func(tx pgx.Tx) error {
		r, err := tx.Query(ctx, `DELETE FROM signal_cold WHERE org = $1 AND anon_hash = $2
			RETURNING id, part, data, expires_at`, org, anonHash(anonKey))
		if err != nil {
			return err
		}
		rows, err = pgx.CollectRows(r, scanCold)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: take cold: %w", err)
	}
	return l.live(rows), nil
}

// ReadCold implements store.SignalLog.
func (l *signalLog) ReadCold(ctx context.Context, org, anonKey string) ([]store.LogEntry, error) {
	if err := l.db.enter(ctx); err != nil {
		return nil, err
	}
	defer l.db.leave()
	rows, err := collect(ctx, l.db.pool, `SELECT id, part, data, expires_at FROM signal_cold
		WHERE org = $1 AND anon_hash = $2 ORDER BY id`, []any{org, anonHash(anonKey)}, scanCold)
	if err != nil {
		return nil, fmt.Errorf("postgres: read cold: %w", err)
	}
	return l.live(rows), nil
}

// DeleteCold implements store.SignalLog.
func (l *signalLog) DeleteCold(ctx context.Context, org, anonKey string, ids []uint64) error {
	if err := l.db.enter(ctx); err != nil {
		return err
	}
	defer l.db.leave()
	if len(ids) == 0 {
		return nil
	}
	del := make([]int64, 0, len(ids))
	for _, id := range ids {
		if id <= math.MaxInt64 {
			del = append(del, int64(id)) // larger ids cannot be stored
		}
	}
	_, err := l.db.pool.exec(ctx, `DELETE FROM signal_cold WHERE org = $1 AND anon_hash = $2 AND id = ANY($3)`,
		org, anonHash(anonKey), del)
	if err != nil {
		return fmt.Errorf("postgres: delete cold: %w", err)
	}
	return nil
}

// Duplicates implements store.SignalLog in one query through the dedup
// table's primary key (key hash, org).
func (l *signalLog) Duplicates(ctx context.Context, org string, keys []string) ([]uint64, error) {
	if err := l.db.enter(ctx); err != nil {
		return nil, err
	}
	defer l.db.leave()
	out := make([]uint64, len(keys))
	at := map[[32]byte][]int{}
	var hashes [][]byte
	for i, k := range keys {
		if k == "" {
			continue
		}
		h := sha256.Sum256([]byte(k))
		if _, ok := at[h]; !ok {
			hashes = append(hashes, h[:])
		}
		at[h] = append(at[h], i)
	}
	if len(hashes) == 0 {
		return out, nil
	}
	type claim struct {
		hash []byte
		id   int64
	}
	claims, err := collect(ctx, l.db.pool, `SELECT key_hash, id FROM signal_dedup
		WHERE key_hash = ANY($1::bytea[]) AND org = $2 AND (expires_at IS NULL OR expires_at > $3)`,
		[]any{hashes, org, l.db.clock()}, func(r pgx.CollectableRow) (claim, error) {
			var c claim
			err := r.Scan(&c.hash, &c.id)
			return c, err
		})
	if err != nil {
		return nil, fmt.Errorf("postgres: duplicates: %w", err)
	}
	for _, c := range claims {
		for _, i := range at[[32]byte(c.hash)] {
			out[i] = uint64(c.id)
		}
	}
	return out, nil
}

// Backlog implements store.SignalLog: one count of the entries above each
// partition's cursor (a partition without a cursor row counts from 0).
func (l *signalLog) Backlog(ctx context.Context, org string) (int, error) {
	if err := l.db.enter(ctx); err != nil {
		return 0, err
	}
	defer l.db.leave()
	var n int64
	err := l.db.pool.queryRow(ctx, `SELECT count(*) FROM signal_log s
		LEFT JOIN signal_cursor c ON c.org = s.org AND c.part = s.part
		WHERE s.org = $1 AND s.id > COALESCE(c.pos, 0)`, []any{org}, &n)
	if err != nil {
		return 0, fmt.Errorf("postgres: backlog: %w", err)
	}
	return int(n), nil
}

// Counts implements store.SignalLog in one statement, so one snapshot:
// the backlog above each partition's cursor, the first maxStatuses
// statuses by id counted by status, and how many of those belong to
// backlog entries.
func (l *signalLog) Counts(ctx context.Context, org string, maxStatuses int) (store.SignalCounts, error) {
	if err := l.db.enter(ctx); err != nil {
		return store.SignalCounts{}, err
	}
	defer l.db.leave()
	var limit any // NULL: no limit
	if maxStatuses > 0 {
		limit = int64(maxStatuses)
	}
	var backlog, retrying int64
	var truncated bool
	var byStatus []byte
	err := l.db.pool.queryRow(ctx, `WITH cur AS (SELECT part, pos FROM signal_cursor WHERE org = $1),
		sts AS (SELECT id, status FROM signal_status WHERE org = $1 ORDER BY id LIMIT $2)
		SELECT
			(SELECT count(*) FROM signal_log s LEFT JOIN cur c ON c.part = s.part
				WHERE s.org = $1 AND s.id > COALESCE(c.pos, 0)),
			(SELECT count(*) FROM sts JOIN signal_log s ON s.org = $1 AND s.id = sts.id
				LEFT JOIN cur c ON c.part = s.part WHERE s.id > COALESCE(c.pos, 0)),
			COALESCE((SELECT count(*) = $2 FROM sts) AND EXISTS (SELECT 1 FROM signal_status
				WHERE org = $1 AND id > (SELECT max(id) FROM sts)), false),
			COALESCE((SELECT json_object_agg(status, n) FROM
				(SELECT status, count(*) AS n FROM sts GROUP BY status) g), '{}')::text`,
		[]any{org, limit}, &backlog, &retrying, &truncated, &byStatus)
	if err != nil {
		return store.SignalCounts{}, fmt.Errorf("postgres: counts: %w", err)
	}
	out := store.SignalCounts{Backlog: int(backlog), Retrying: int(retrying), Truncated: truncated, ByStatus: map[string]int{}}
	if err := json.Unmarshal(byStatus, &out.ByStatus); err != nil {
		return store.SignalCounts{}, fmt.Errorf("postgres: counts: %w", err)
	}
	return out, nil
}

// purgeBatch bounds the entries one Purge call deletes.
const purgeBatch = 5000

// Purge implements store.SignalLog in one statement: it reads the cursor,
// deletes up to purgeBatch entries at or below both the cursor and upto
// (through the primary key, in id order) and the statuses of exactly the
// entries it deleted. Of concurrent purges each row is deleted, and so
// counted, by one.
func (l *signalLog) Purge(ctx context.Context, org string, p int, upto uint64) (int, error) {
	if err := l.db.enter(ctx); err != nil {
		return 0, err
	}
	defer l.db.leave()
	if p < 0 || p >= store.Partitions {
		return 0, fmt.Errorf("postgres: purge: partition %d out of range", p)
	}
	if upto == 0 {
		return 0, nil
	}
	upto = min(upto, math.MaxInt64)
	var n int64
	err := l.db.pool.queryRow(ctx, `WITH gone AS (
			DELETE FROM signal_log WHERE org = $1 AND part = $2 AND id IN (
				SELECT id FROM signal_log
				WHERE org = $1 AND part = $2
					AND id <= LEAST($3::bigint, COALESCE((SELECT pos FROM signal_cursor WHERE org = $1 AND part = $2), 0))
				ORDER BY id LIMIT $4)
			RETURNING id
		), statuses AS (
			DELETE FROM signal_status WHERE org = $1 AND id IN (SELECT id FROM gone)
		)
		SELECT count(*) FROM gone`, []any{org, p, int64(upto), purgeBatch}, &n)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge: %w", err)
	}
	return int(n), nil
}
