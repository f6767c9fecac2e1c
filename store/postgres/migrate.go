package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A migration is one versioned step of the schema. Versions are applied in
// order, once per database, each in its own transaction together with its
// row in schema_migrations. Never edit a released migration: append one.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations is the schema history.
//
// Ids and cursors are BIGINT: the store.SignalLog interface speaks uint64,
// and ids above math.MaxInt64 are refused rather than wrapped. Expiry times
// are NULL for "never" (a zero dedup window or retention).
var migrations = []migration{
	{1, "state store", []string{
		`CREATE TABLE kv (
			key     BYTEA  PRIMARY KEY,
			value   BYTEA  NOT NULL,
			version BIGINT NOT NULL
		)`,
	}},
	{2, "signal log", []string{
		// One row: the deployment-wide signal id counter. Its row lock
		// serialises appends, so ids commit (become visible) in order.
		`CREATE TABLE signal_seq (
			id      INT    PRIMARY KEY,
			last_id BIGINT NOT NULL
		)`,
		`INSERT INTO signal_seq (id, last_id) VALUES (1, 0)`,
		`CREATE TABLE signal_log (
			org  TEXT   NOT NULL,
			part INT    NOT NULL,
			id   BIGINT NOT NULL,
			data BYTEA  NOT NULL,
			PRIMARY KEY (org, part, id)
		)`,
		`CREATE UNIQUE INDEX signal_log_by_id ON signal_log (org, id)`,
		// key_hash is a SHA-256 of the dedup key: message ids may carry
		// personal data, and a fixed width keeps the index small. It leads
		// the key so lookups by hash never depend on the planner's
		// statistics (see appendTx); DropTenant's delete by org alone is
		// a scan, which is rare enough.
		`CREATE TABLE signal_dedup (
			key_hash   BYTEA       NOT NULL,
			org        TEXT        NOT NULL,
			id         BIGINT      NOT NULL,
			expires_at TIMESTAMPTZ,
			PRIMARY KEY (key_hash, org)
		)`,
		`CREATE INDEX signal_dedup_expiry ON signal_dedup (expires_at)`,
		`CREATE TABLE signal_cursor (
			org  TEXT   NOT NULL,
			part INT    NOT NULL,
			pos  BIGINT NOT NULL,
			PRIMARY KEY (org, part)
		)`,
		`CREATE TABLE signal_status (
			org          TEXT   NOT NULL,
			id           BIGINT NOT NULL,
			status       TEXT   NOT NULL,
			rule_id      TEXT   NOT NULL,
			lead_id      TEXT   NOT NULL,
			account_id   TEXT   NOT NULL,
			err          TEXT   NOT NULL,
			attempts     INT    NOT NULL,
			processed_at TIMESTAMPTZ,
			PRIMARY KEY (org, id)
		)`,
		// anon_hash is a SHA-256 of the anonymous key, for the same
		// reason as key_hash.
		`CREATE TABLE signal_cold (
			org        TEXT        NOT NULL,
			anon_hash  BYTEA       NOT NULL,
			id         BIGINT      NOT NULL,
			part       INT         NOT NULL,
			data       BYTEA       NOT NULL,
			expires_at TIMESTAMPTZ,
			PRIMARY KEY (org, anon_hash, id)
		)`,
		`CREATE INDEX signal_cold_expiry ON signal_cold (expires_at)`,
	}},
}

// migrate brings the schema up to date. Nodes starting together serialise on
// the row lock of schema_lock (a lock table rather than pg_advisory_xact_lock,
// which CockroachDB lacks): the first applies what is missing, the others then
// find it recorded in schema_migrations and do nothing.
func migrate(ctx context.Context, pool *connPool) error {
	if err := bootstrap(ctx, pool); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	for _, m := range migrations {
		err := pool.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT id FROM schema_lock WHERE id = 1 FOR UPDATE`); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
				return fmt.Errorf("read applied versions: %w", err)
			}
			if n > 0 {
				return nil
			}
			for _, s := range m.stmts {
				if _, err := tx.Exec(ctx, s); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, time.Now().UTC())
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

// bootstrap creates the two bookkeeping tables. CREATE TABLE IF NOT EXISTS
// is not safe against itself in PostgreSQL: two sessions creating the same
// table at once can both pass the existence check and one then fails on a
// catalog unique index (23505) or finds the relation or its row type
// (42P07, 42710). Such a loser just tries again and finds the tables.
func bootstrap(ctx context.Context, pool *connPool) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS schema_lock (id INT PRIMARY KEY)`,
		`INSERT INTO schema_lock (id) VALUES (1) ON CONFLICT (id) DO NOTHING`,
		`CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INT         PRIMARY KEY,
			name       TEXT        NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL
		)`,
	}
	for _, s := range stmts {
		var err error
		for attempt := 1; attempt <= maxAttempts; attempt++ {
			if _, err = pool.exec(ctx, s); !raceLost(err) {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// raceLost reports an error from losing a race to create the same catalog
// object, or a transaction the database wants retried.
func raceLost(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "23505", "42P07", "42710", "40001", "40P01":
		return true
	}
	return false
}
