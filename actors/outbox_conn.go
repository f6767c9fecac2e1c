package actors

import (
	"context"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/sdk/connector"
)

// connectionConfig is the default ConnectionResolver: the stored
// connection (actors/connections.go) and its config with the secrets
// opened. A disconnected connection is not written to. Token refresh on an
// "unauthorized" answer is the connections feature's (withConn); until a
// resolver that refreshes is set (Client.SetConnectionResolver), such a
// delivery is parked with the vendor's error and redriven after a
// reconnect.
func (e *Env) connectionConfig(ctx context.Context, org, id string) (string, connector.Config, error) {
	conn, _, err := e.loadConn(ctx, org, id)
	if err != nil {
		return "", connector.Config{}, err
	}
	if conn.Status == ConnDisconnected {
		return "", connector.Config{}, errs.Conflict("connection_disconnected", "connection_id", "the connection is disconnected; reconnect it first")
	}
	cfg, err := e.connConfig(org, conn)
	if err != nil {
		return "", connector.Config{}, err
	}
	return conn.Provider, cfg, nil
}
