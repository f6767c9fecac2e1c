package host

import (
	"context"
	"fmt"
	"time"

	"github.com/trailspark/trailspark/sdk"
	"github.com/trailspark/trailspark/sdk/connector"
)

// Conn is a handle on one connector. It implements connector.Full: every
// method starts the plugin if needed (lazy start), bounds the call with the
// host's timeout and passes the tenant's config through. Errors match the
// connector sentinels (errors.Is(err, connector.ErrRetryable), ...); a
// timeout is retryable and also matches context.DeadlineExceeded.
//
// A Conn stays valid across plugin restarts: it looks the process up on
// every call.
type Conn struct {
	h *Host
	e *entry
}

var _ connector.Full = (*Conn)(nil)

// Connector returns the handle for name.
func (h *Host) Connector(name string) (*Conn, error) {
	e, err := h.entry(name)
	if err != nil {
		return nil, err
	}
	return &Conn{h: h, e: e}, nil
}

// call runs fn against the running instance under timeout d, and records
// it in the host's metrics (method is the metrics label).
func (c *Conn) call(ctx context.Context, method string, d time.Duration, fn func(context.Context, *sdk.Client) error) (err error) {
	begin := time.Now()
	timedOut := false
	defer func() { c.h.metrics.observeCall(c.e.name, method, ctx, time.Since(begin), err, timedOut) }()
	inst, err := c.h.ensure(ctx, c.e, false)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := fn(cctx, inst.conn); err != nil {
		if ctx.Err() == nil && cctx.Err() == context.DeadlineExceeded {
			// Our timeout, not the caller's: say which bound fired.
			timedOut = true
			return &connector.Error{Kind: connector.KindRetryable, Err: context.DeadlineExceeded,
				Message: fmt.Sprintf("connector %s: call timed out after %s", c.e.name, d)}
		}
		return fmt.Errorf("connector %s: %w", c.e.name, err)
	}
	return nil
}

// Ping checks the plugin's health (starting it if needed).
func (c *Conn) Ping(ctx context.Context) error {
	return c.call(ctx, "ping", c.h.opts.HealthTimeout, func(ctx context.Context, cl *sdk.Client) error { return cl.Ping(ctx) })
}

func (c *Conn) Describe(ctx context.Context) (info connector.Info, err error) {
	err = c.call(ctx, "describe", c.h.opts.CallTimeout, func(ctx context.Context, cl *sdk.Client) (e error) {
		info, e = cl.Describe(ctx)
		return e
	})
	return info, err
}

func (c *Conn) Configure(ctx context.Context, cfg connector.Config) error {
	return c.call(ctx, "configure", c.h.opts.CallTimeout, func(ctx context.Context, cl *sdk.Client) error { return cl.Configure(ctx, cfg) })
}

func (c *Conn) Check(ctx context.Context, cfg connector.Config) error {
	return c.call(ctx, "check", c.h.opts.CallTimeout, func(ctx context.Context, cl *sdk.Client) error { return cl.Check(ctx, cfg) })
}

// Read streams one page; it is bounded by Options.ReadTimeout.
func (c *Conn) Read(ctx context.Context, cfg connector.Config, req connector.ReadRequest, emit func(connector.Record) error) (res connector.ReadResult, err error) {
	err = c.call(ctx, "read", c.h.opts.ReadTimeout, func(ctx context.Context, cl *sdk.Client) (e error) {
		res, e = cl.Read(ctx, cfg, req, emit)
		return e
	})
	return res, err
}

func (c *Conn) Write(ctx context.Context, cfg connector.Config, req connector.WriteRequest) (res []connector.WriteResult, err error) {
	err = c.call(ctx, "write", c.h.opts.CallTimeout, func(ctx context.Context, cl *sdk.Client) (e error) {
		res, e = cl.Write(ctx, cfg, req)
		return e
	})
	return res, err
}

func (c *Conn) Translate(ctx context.Context, cfg connector.Config, req connector.TranslateRequest) (sigs []connector.Signal, err error) {
	err = c.call(ctx, "translate", c.h.opts.CallTimeout, func(ctx context.Context, cl *sdk.Client) (e error) {
		sigs, e = cl.Translate(ctx, cfg, req)
		return e
	})
	return sigs, err
}

func (c *Conn) Metadata(ctx context.Context, cfg connector.Config, req connector.MetadataRequest) (md connector.Metadata, err error) {
	err = c.call(ctx, "metadata", c.h.opts.CallTimeout, func(ctx context.Context, cl *sdk.Client) (e error) {
		md, e = cl.Metadata(ctx, cfg, req)
		return e
	})
	return md, err
}

func (c *Conn) AuthURL(ctx context.Context, cfg connector.Config, req connector.AuthURLRequest) (u string, err error) {
	err = c.call(ctx, "auth_url", c.h.opts.CallTimeout, func(ctx context.Context, cl *sdk.Client) (e error) {
		u, e = cl.AuthURL(ctx, cfg, req)
		return e
	})
	return u, err
}

func (c *Conn) ExchangeCode(ctx context.Context, cfg connector.Config, req connector.ExchangeCodeRequest) (t connector.Token, err error) {
	err = c.call(ctx, "exchange_code", c.h.opts.CallTimeout, func(ctx context.Context, cl *sdk.Client) (e error) {
		t, e = cl.ExchangeCode(ctx, cfg, req)
		return e
	})
	return t, err
}

func (c *Conn) Refresh(ctx context.Context, cfg connector.Config, refreshToken string) (t connector.Token, err error) {
	err = c.call(ctx, "refresh", c.h.opts.CallTimeout, func(ctx context.Context, cl *sdk.Client) (e error) {
		t, e = cl.Refresh(ctx, cfg, refreshToken)
		return e
	})
	return t, err
}
