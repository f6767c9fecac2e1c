package postgres

import (
	"context"
	"fmt"
	"runtime"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// connPool is the store's view of pgxpool: the few pool-level calls it
// makes, each on a borrowed connection.
type connPool struct {
	p *pgxpool.Pool
}

func defaultMaxConns() int { return max(4, runtime.NumCPU()) }

func newConnPool(ctx context.Context, url string, maxConns int) (*connPool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	cfg.MaxConns = int32(maxConns)
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &connPool{p: p}, nil
}

// with runs fn with a borrowed connection (returned to the pool after;
// pgxpool closes it instead when fn left it unusable).
func (p *connPool) with(ctx context.Context, fn func(*pgx.Conn) error) error {
	return p.p.AcquireFunc(ctx, func(c *pgxpool.Conn) error { return fn(c.Conn()) })
}

// close closes the pool. The DB closes its pool only when no call is in
// progress.
func (p *connPool) close() { p.p.Close() }

// The helpers below are the pool-level calls the store makes.

func (p *connPool) exec(ctx context.Context, sql string, args ...any) (rowsAffected int64, err error) {
	err = p.with(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, sql, args...)
		rowsAffected = tag.RowsAffected()
		return err
	})
	return rowsAffected, err
}

// queryRow runs a query expected to return at most one row and scans it
// into dest; pgx.ErrNoRows when there is none.
func (p *connPool) queryRow(ctx context.Context, sql string, args []any, dest ...any) error {
	return p.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, sql, args...).Scan(dest...)
	})
}

// collect runs a query and collects its rows with fn.
func collect[T any](ctx context.Context, p *connPool, sql string, args []any, fn pgx.RowToFunc[T]) ([]T, error) {
	var out []T
	err := p.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, fn)
		return err
	})
	return out, err
}

// inTx runs fn in a transaction on a borrowed connection and commits it.
func (p *connPool) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return p.with(ctx, func(c *pgx.Conn) error { return pgx.BeginFunc(ctx, c, fn) })
}
