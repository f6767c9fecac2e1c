package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/plugins/host"
	"github.com/trailspark/trailspark/sdk/connector"
	"github.com/trailspark/trailspark/store"
)

// CRM connections (SPEC §4). A connection is one organization's link to a
// connector plugin (Salesforce, HubSpot, Marketo, any third-party
// connector): o/{org}/conn/{id}, written with compare-and-set by the API
// requests and the sync job that change it. Credentials and OAuth tokens
// are sealed at rest (env.Sealer, bound to the org and connection) as one
// JSON object; only their names are ever shown, never their values, and
// they are never logged. A connection's schedule has a global index entry
// g/connsched/{org}/{id} (value: the next due time) so the scheduler finds
// due syncs without scanning every organization. Decision 0010 explains the
// record mapping, dedup keys, leases and token handling.

// Connection statuses.
const (
	ConnPendingAuth  = "pending_auth"
	ConnConnected    = "connected"
	ConnError        = "error"
	ConnDisconnected = "disconnected"
)

// Limits of connection inputs.
const (
	maxConnName        = 100
	maxConnOptions     = 50
	maxConnOptionLen   = 2000
	maxConnCredentials = 20
	maxConnCredLen     = 8192
	// MaxSyncIntervalMinutes bounds a schedule (one week).
	MaxSyncIntervalMinutes = 7 * 24 * 60
	// MinSyncIntervalMinutes is the shortest schedule.
	MinSyncIntervalMinutes = 5
)

var (
	connKeyRe      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.\-]{0,79}$`)
	providerNameRe = regexp.MustCompile(`^[a-z][a-z0-9-]{1,39}$`)
)

// tokenKeys are the credentials an OAuth exchange or refresh writes; a
// disconnect drops them and keeps the app credentials (client id, secret).
var tokenKeys = []string{"access_token", "refresh_token"}

// syncLease marks the sync job that holds a connection. It is written with
// compare-and-set on the connection record and renewed at every page, so
// two nodes never run the same connection's sync; a lease whose Until has
// passed (its node died) may be taken over.
type syncLease struct {
	Job   string    `json:"job"`
	Until time.Time `json:"until"`
}

// Connection is a connection's stored record.
type Connection struct {
	ID       string            `json:"id"`
	Provider string            `json:"provider"`
	Name     string            `json:"name"`
	Status   string            `json:"status"`
	BaseURL  string            `json:"base_url,omitempty"`
	Options  map[string]string `json:"options,omitempty"`
	// Secrets is the sealed JSON object of credentials and tokens.
	Secrets     string        `json:"secrets,omitempty"`
	SecretKeys  []string      `json:"secret_keys,omitempty"`
	TokenExpiry *time.Time    `json:"token_expiry,omitempty"`
	Mapping     *FieldMapping `json:"mapping,omitempty"`
	// SyncIntervalMinutes: 0 = manual syncs only.
	SyncIntervalMinutes int               `json:"sync_interval_minutes"`
	NextSyncAt          *time.Time        `json:"next_sync_at,omitempty"`
	LastSyncJob         string            `json:"last_sync_job,omitempty"`
	LastSyncAt          *time.Time        `json:"last_sync_at,omitempty"`
	LastSyncStatus      string            `json:"last_sync_status,omitempty"`
	Cursors             map[string]string `json:"cursors,omitempty"`
	LastError           string            `json:"last_error,omitempty"`
	Lease               *syncLease        `json:"lease,omitempty"`
	// CancelRequested asks the running sync to stop at its next page.
	CancelRequested bool      `json:"cancel_requested,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// ConnectionView is a connection as the API shows it: never a secret.
type ConnectionView struct {
	ID       string            `json:"id"`
	Provider string            `json:"provider"`
	Name     string            `json:"name"`
	Status   string            `json:"status"`
	BaseURL  string            `json:"base_url,omitempty"`
	Options  map[string]string `json:"options"`
	// CredentialKeys names the stored credentials and tokens (values are
	// never returned).
	CredentialKeys      []string          `json:"credential_keys"`
	TokenExpiry         *time.Time        `json:"token_expiry,omitempty"`
	Mapping             *FieldMapping     `json:"mapping,omitempty"`
	SyncIntervalMinutes int               `json:"sync_interval_minutes"`
	NextSyncAt          *time.Time        `json:"next_sync_at,omitempty"`
	SyncRunning         bool              `json:"sync_running"`
	LastSyncJob         string            `json:"last_sync_job,omitempty"`
	LastSyncAt          *time.Time        `json:"last_sync_at,omitempty"`
	LastSyncStatus      string            `json:"last_sync_status,omitempty"`
	Cursors             map[string]string `json:"cursors"`
	LastError           string            `json:"last_error,omitempty"`
	CreatedAt           time.Time         `json:"created_at"`
	UpdatedAt           time.Time         `json:"updated_at"`
}

func (e *Env) connView(c *Connection) ConnectionView {
	v := ConnectionView{ID: c.ID, Provider: c.Provider, Name: c.Name, Status: c.Status, BaseURL: c.BaseURL,
		Options: map[string]string{}, CredentialKeys: append([]string{}, c.SecretKeys...), TokenExpiry: c.TokenExpiry,
		Mapping: c.Mapping, SyncIntervalMinutes: c.SyncIntervalMinutes, NextSyncAt: c.NextSyncAt,
		SyncRunning: c.Lease != nil && c.Lease.Until.After(e.now()), LastSyncJob: c.LastSyncJob, LastSyncAt: c.LastSyncAt,
		LastSyncStatus: c.LastSyncStatus, Cursors: map[string]string{}, LastError: c.LastError, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	for k, val := range c.Options {
		v.Options[k] = val
	}
	for k, val := range c.Cursors {
		v.Cursors[k] = val
	}
	return v
}

func keyConn(org, id string) []byte      { return store.TenantKey(org, "conn", id) }
func keyConnBase(org string) []byte      { return store.TenantKey(org, "conn") }
func keyConnSched(org, id string) []byte { return store.GlobalKey("connsched", org, id) }
func keyConnSchedBase() []byte           { return append(store.GlobalKey("connsched"), '/') }

// secretsAD binds a connection's sealed secrets to it: a sealed value
// copied onto another connection or organization does not open.
func secretsAD(org, id string) []byte { return []byte("conn-secrets:" + org + "/" + id) }

func (e *Env) openSecrets(org string, c *Connection) (map[string]string, error) {
	out := map[string]string{}
	if c.Secrets == "" {
		return out, nil
	}
	s, err := e.openString(secretsAD(org, c.ID), c.Secrets)
	if err != nil {
		return nil, errs.Internal(fmt.Errorf("open connection secrets: %w", err))
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, errs.Internal(fmt.Errorf("decode connection secrets: %w", err))
	}
	return out, nil
}

func (e *Env) sealSecrets(org string, c *Connection, secrets map[string]string) error {
	keys := make([]string, 0, len(secrets))
	for k, v := range secrets {
		if v == "" {
			delete(secrets, k)
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	c.SecretKeys = keys
	if len(secrets) == 0 {
		c.Secrets = ""
		return nil
	}
	b, err := json.Marshal(secrets)
	if err != nil {
		return errs.Internal(err)
	}
	s, err := e.sealString(secretsAD(org, c.ID), string(b))
	if err != nil {
		return errs.Internal(err)
	}
	c.Secrets = s
	return nil
}

// connConfig is the connector config of a connection (secrets opened).
func (e *Env) connConfig(org string, c *Connection) (connector.Config, error) {
	sec, err := e.openSecrets(org, c)
	if err != nil {
		return connector.Config{}, err
	}
	opts := map[string]string{}
	for k, v := range c.Options {
		opts[k] = v
	}
	return connector.Config{Tenant: org, BaseURL: c.BaseURL, Credentials: sec, Options: opts}, nil
}

func (e *Env) loadConn(ctx context.Context, org, id string) (*Connection, store.Version, error) {
	if !credential.ValidID(id, "conn_") {
		return nil, 0, errs.NotFound("connection")
	}
	var c Connection
	ver, err := e.loadJSON(ctx, keyConn(org, id), &c)
	if err != nil {
		return nil, 0, notFoundIf(err, "connection")
	}
	return &c, ver, nil
}

// updateConn applies fn to the current record and saves it with
// compare-and-set, re-applying on conflict. fn may return errSkipWrite to
// leave the record as it is.
func (e *Env) updateConn(ctx context.Context, org, id string, fn func(c *Connection) error) (*Connection, error) {
	for attempt := 0; attempt < 8; attempt++ {
		c, ver, err := e.loadConn(ctx, org, id)
		if err != nil {
			return nil, err
		}
		before := *c
		if err := fn(c); err != nil {
			if errors.Is(err, errSkipWrite) {
				return c, nil
			}
			return nil, err
		}
		c.UpdatedAt = e.now()
		b, err := json.Marshal(c)
		if err != nil {
			return nil, errs.Internal(err)
		}
		if _, err := e.Store.Save(ctx, keyConn(org, id), b, ver); err == nil {
			if err := e.syncSchedIndex(ctx, org, &before, c); err != nil {
				e.Log.Warn("connection schedule index", "org", org, "connection", id, "error", err)
			}
			return c, nil
		} else if !errors.Is(err, store.ErrConflict) {
			return nil, storeErr(err)
		}
	}
	return nil, errs.Unavailable("the connection is being changed concurrently; retry", nil)
}

var errSkipWrite = errors.New("skip write")

// syncSchedIndex keeps g/connsched in step with the connection's schedule.
func (e *Env) syncSchedIndex(ctx context.Context, org string, before, after *Connection) error {
	want := ""
	if after != nil && after.SyncIntervalMinutes > 0 && after.Status == ConnConnected && after.NextSyncAt != nil {
		want = after.NextSyncAt.UTC().Format(time.RFC3339Nano)
	}
	had := ""
	if before != nil && before.SyncIntervalMinutes > 0 && before.Status == ConnConnected && before.NextSyncAt != nil {
		had = before.NextSyncAt.UTC().Format(time.RFC3339Nano)
	}
	if want == had && before != nil {
		return nil
	}
	id := ""
	if after != nil {
		id = after.ID
	} else {
		id = before.ID
	}
	if want == "" {
		return e.deleteIndex(ctx, keyConnSched(org, id))
	}
	return e.putIndex(ctx, keyConnSched(org, id), want)
}

// connector returns the plugin handle for a provider.
func (c *Client) connectorFor(ctx context.Context, provider string) (*host.Conn, connector.Info, error) {
	h := c.env.Plugins
	if h == nil {
		return nil, connector.Info{}, errs.Unavailable("this node runs without a plugins directory: connectors are unavailable", nil)
	}
	info, err := h.Get(provider)
	if err != nil {
		return nil, connector.Info{}, &errs.Error{Kind: errs.KindUnavailable, Code: "connector_not_installed",
			Message: fmt.Sprintf("the %s connector is not installed on this node", provider)}
	}
	cn, err := h.Connector(provider)
	if err != nil {
		return nil, connector.Info{}, errs.Unavailable("the connector cannot be used", err)
	}
	ci := connector.Info{Name: info.Name, Version: info.Version, Capabilities: info.Capabilities, Kinds: info.Kinds}
	if ci.Version == "" { // not started yet: Describe starts it
		if d, err := cn.Describe(ctx); err == nil {
			ci = d
		} else {
			return nil, connector.Info{}, connectorErr(err)
		}
	}
	return cn, ci, nil
}

// connectorErr turns a connector failure into a user-facing error. The
// messages come from the connector, which never puts secrets in them.
func connectorErr(err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, host.ErrUnapproved) {
		return errs.Conflict("plugin_unapproved", "", "the connector's binary changed since it was approved; the operator must approve it")
	}
	msg := err.Error()
	var ce *connector.Error
	if errors.As(err, &ce) && ce.Message != "" {
		msg = ce.Message
	}
	switch connector.KindOf(err) {
	case connector.KindInvalidConfig:
		field := ""
		if ce != nil {
			field = ce.Field
		}
		return errs.Invalid(field, "invalid_config", "%s", msg)
	case connector.KindUnauthorized:
		return errs.Conflict("connection_unauthorized", "", "the service refused the connection's credentials; reconnect: "+msg)
	case connector.KindRateLimited:
		d, _ := connector.RetryAfter(err)
		return &errs.Error{Kind: errs.KindRateLimited, Code: "connector_rate_limited", Message: "the service is throttling requests: " + msg, RetryAfter: d}
	case connector.KindUnsupported:
		return errs.Conflict("connector_unsupported", "", "the connector does not support this: "+msg)
	case connector.KindNotFound:
		return errs.Conflict("connector_not_found", "", msg)
	case connector.KindPermanent:
		return errs.Conflict("connector_error", "", msg)
	}
	if errors.Is(err, context.Canceled) {
		return errs.Unavailable("the request was cancelled", err)
	}
	return &errs.Error{Kind: errs.KindUnavailable, Code: "connector_unavailable", Message: "the connector failed; retry: " + msg, Err: err}
}

// ConnectionInput creates a connection or changes one (PATCH: nil fields
// are left alone; a credential set to "" is removed).
type ConnectionInput struct {
	Provider            string            `json:"provider"`
	Name                *string           `json:"name"`
	BaseURL             *string           `json:"base_url"`
	Options             map[string]string `json:"options"`
	Credentials         map[string]string `json:"credentials"`
	SyncIntervalMinutes *int              `json:"sync_interval_minutes"`
}

func validateConnInput(in *ConnectionInput, creating bool) error {
	if creating {
		in.Provider = strings.ToLower(strings.TrimSpace(in.Provider))
		if in.Provider == "" {
			return errs.Invalid("provider", "required", "provider (the connector name, e.g. salesforce) is required")
		}
		if !providerNameRe.MatchString(in.Provider) {
			return errs.Invalid("provider", "invalid_format", "provider must be a connector name such as salesforce")
		}
	}
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		if len(n) > maxConnName {
			return errs.Invalid("name", "too_long", "name must be at most %d characters", maxConnName)
		}
		in.Name = &n
	}
	if in.BaseURL != nil && *in.BaseURL != "" {
		u, err := url.Parse(*in.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return errs.Invalid("base_url", "invalid_format", "base_url must be an absolute http(s) URL")
		}
	}
	if len(in.Options) > maxConnOptions {
		return errs.Invalid("options", "too_many", "at most %d options", maxConnOptions)
	}
	for k, v := range in.Options {
		if !connKeyRe.MatchString(k) {
			return errs.Invalid("options."+k, "invalid_format", "option names are letters, digits, '_', '.', '-'")
		}
		if len(v) > maxConnOptionLen {
			return errs.Invalid("options."+k, "too_long", "an option value is at most %d bytes", maxConnOptionLen)
		}
	}
	if len(in.Credentials) > maxConnCredentials {
		return errs.Invalid("credentials", "too_many", "at most %d credentials", maxConnCredentials)
	}
	for k, v := range in.Credentials {
		if !connKeyRe.MatchString(k) {
			return errs.Invalid("credentials."+k, "invalid_format", "credential names are letters, digits, '_', '.', '-'")
		}
		if len(v) > maxConnCredLen {
			return errs.Invalid("credentials."+k, "too_long", "a credential is at most %d bytes", maxConnCredLen)
		}
	}
	if in.SyncIntervalMinutes != nil {
		n := *in.SyncIntervalMinutes
		if n != 0 && (n < MinSyncIntervalMinutes || n > MaxSyncIntervalMinutes) {
			return errs.Invalid("sync_interval_minutes", "out_of_range", "sync_interval_minutes is 0 (manual) or %d–%d", MinSyncIntervalMinutes, MaxSyncIntervalMinutes)
		}
	}
	return nil
}

// needsOAuth reports whether a connection still has to go through the
// OAuth flow: the connector does OAuth and no usable token is stored.
func needsOAuth(info connector.Info, secrets map[string]string) bool {
	if !info.Has(connector.CapOAuth) {
		return false
	}
	for _, k := range []string{"access_token", "private_app_token", "api_key"} {
		if secrets[k] != "" {
			return false
		}
	}
	return true
}

// CreateConnection stores a connection (Owner/Admin). With stored
// credentials or tokens (server-to-server) it is connected at once; a
// connector that does OAuth and got no token waits in pending_auth for
// the OAuth flow. The connector validates the config (no network).
func (c *Client) CreateConnection(ctx context.Context, caller tenant.Caller, org string, in ConnectionInput) (*ConnectionView, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return nil, err
	}
	if err := validateConnInput(&in, true); err != nil {
		return nil, err
	}
	id, err := credential.NewID(c.env.Rand, "conn_")
	if err != nil {
		return nil, errs.Internal(err)
	}
	now := c.env.now()
	conn := &Connection{ID: id, Provider: in.Provider, Status: ConnConnected, Options: in.Options, Cursors: map[string]string{},
		CreatedAt: now, UpdatedAt: now}
	if in.Name != nil {
		conn.Name = *in.Name
	}
	if conn.Name == "" {
		conn.Name = in.Provider
	}
	if in.BaseURL != nil {
		conn.BaseURL = *in.BaseURL
	}
	secrets := map[string]string{}
	for k, v := range in.Credentials {
		secrets[k] = v
	}
	if err := c.checkConnConfig(ctx, org, conn, secrets); err != nil {
		return nil, err
	}
	if in.SyncIntervalMinutes != nil {
		conn.SyncIntervalMinutes = *in.SyncIntervalMinutes
	}
	if conn.Status == ConnConnected && conn.SyncIntervalMinutes > 0 {
		t := now.Add(time.Duration(conn.SyncIntervalMinutes) * time.Minute)
		conn.NextSyncAt = &t
	}
	if err := c.env.sealSecrets(org, conn, secrets); err != nil {
		return nil, err
	}
	b, err := json.Marshal(conn)
	if err != nil {
		return nil, errs.Internal(err)
	}
	if _, err := c.env.Store.Save(ctx, keyConn(org, id), b, 0); err != nil {
		return nil, storeErr(err)
	}
	if err := c.env.syncSchedIndex(ctx, org, nil, conn); err != nil {
		c.env.Log.Warn("connection schedule index", "org", org, "connection", id, "error", err)
	}
	c.env.Log.Info("connection created", "org", org, "connection", id, "provider", conn.Provider, "status", conn.Status)
	v := c.env.connView(conn)
	return &v, nil
}

// checkConnConfig lets the connector validate the config (when this node
// has it) and sets the status a new or changed config implies.
func (c *Client) checkConnConfig(ctx context.Context, org string, conn *Connection, secrets map[string]string) error {
	if c.env.Plugins == nil {
		// A node without plugins stores the connection unchecked; test and
		// sync tell once a node with the connector serves it.
		if conn.Status != ConnDisconnected {
			conn.Status = ConnConnected
			if secrets["client_id"] != "" && secrets["access_token"] == "" && secrets["private_app_token"] == "" && secrets["api_key"] == "" &&
				(conn.Provider == "salesforce" || conn.Provider == "hubspot") {
				conn.Status = ConnPendingAuth
			}
		}
		return nil
	}
	cn, info, err := c.connectorFor(ctx, conn.Provider)
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) && e.Code == "connector_not_installed" {
			return errs.Invalid("provider", "unknown_provider", "no connector named %q is installed", conn.Provider)
		}
		return err
	}
	cfg := connector.Config{Tenant: org, BaseURL: conn.BaseURL, Credentials: secrets, Options: conn.Options}
	if err := cn.Configure(ctx, cfg); err != nil {
		if connector.KindOf(err) == connector.KindInvalidConfig {
			var ce *connector.Error
			errors.As(err, &ce)
			return errs.Invalid(ce.Field, "invalid_config", "%s", ce.Message)
		}
		return connectorErr(err)
	}
	if conn.Status != ConnDisconnected {
		if needsOAuth(info, secrets) {
			conn.Status = ConnPendingAuth
		} else if conn.Status == ConnPendingAuth || conn.Status == "" {
			conn.Status = ConnConnected
		}
	}
	return nil
}

// UpdateConnection changes a connection's name, options, base URL,
// credentials (merged; "" removes one) or schedule (Owner/Admin).
func (c *Client) UpdateConnection(ctx context.Context, caller tenant.Caller, org, id string, in ConnectionInput) (*ConnectionView, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return nil, err
	}
	if in.Provider != "" {
		return nil, errs.Invalid("provider", "not_allowed", "a connection's provider cannot change; create another connection")
	}
	if err := validateConnInput(&in, false); err != nil {
		return nil, err
	}
	conn, err := c.env.updateConn(ctx, org, id, func(conn *Connection) error {
		if in.Name != nil && *in.Name != "" {
			conn.Name = *in.Name
		}
		if in.BaseURL != nil {
			conn.BaseURL = *in.BaseURL
		}
		if in.Options != nil {
			if conn.Options == nil {
				conn.Options = map[string]string{}
			}
			for k, v := range in.Options {
				if v == "" {
					delete(conn.Options, k)
				} else {
					conn.Options[k] = v
				}
			}
		}
		secrets, err := c.env.openSecrets(org, conn)
		if err != nil {
			return err
		}
		for k, v := range in.Credentials {
			secrets[k] = v
		}
		if in.Credentials != nil || in.Options != nil || in.BaseURL != nil {
			if conn.Status == ConnDisconnected && len(in.Credentials) > 0 {
				conn.Status = ConnPendingAuth // reconnecting with new credentials
			}
			if err := c.checkConnConfig(ctx, org, conn, secrets); err != nil {
				return err
			}
			if conn.Status == ConnConnected && conn.LastError != "" {
				conn.LastError = ""
			}
		}
		if err := c.env.sealSecrets(org, conn, secrets); err != nil {
			return err
		}
		if in.SyncIntervalMinutes != nil {
			conn.SyncIntervalMinutes = *in.SyncIntervalMinutes
			conn.NextSyncAt = nil
		}
		if conn.SyncIntervalMinutes > 0 && conn.NextSyncAt == nil {
			t := c.env.now().Add(time.Duration(conn.SyncIntervalMinutes) * time.Minute)
			conn.NextSyncAt = &t
		}
		if conn.SyncIntervalMinutes == 0 {
			conn.NextSyncAt = nil
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v := c.env.connView(conn)
	return &v, nil
}

// Connections lists an organization's connections (Viewer and up).
func (c *Client) Connections(ctx context.Context, caller tenant.Caller, org string) ([]ConnectionView, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	out := []ConnectionView{}
	prefix := append(keyConnBase(org), '/')
	err := c.env.Store.Scan(ctx, prefix, nil, func(it store.Item) error {
		var conn Connection
		if err := json.Unmarshal(it.Value, &conn); err != nil {
			return err
		}
		out = append(out, c.env.connView(&conn))
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Connection reads one connection (Viewer and up).
func (c *Client) Connection(ctx context.Context, caller tenant.Caller, org, id string) (*ConnectionView, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	conn, _, err := c.env.loadConn(ctx, org, id)
	if err != nil {
		return nil, err
	}
	v := c.env.connView(conn)
	return &v, nil
}

// ConnectionTest is the result of "test connection".
type ConnectionTest struct {
	OK        bool      `json:"ok"`
	Status    string    `json:"status"`
	ErrorKind string    `json:"error_kind,omitempty"`
	Message   string    `json:"message,omitempty"`
	Field     string    `json:"field,omitempty"`
	CheckedAt time.Time `json:"checked_at"`
}

// TestConnection runs the connector's Check against the service
// (Owner/Admin), refreshing an expired token once, and records the result
// in the connection's status.
func (c *Client) TestConnection(ctx context.Context, caller tenant.Caller, org, id string) (*ConnectionTest, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return nil, err
	}
	conn, _, err := c.env.loadConn(ctx, org, id)
	if err != nil {
		return nil, err
	}
	out := &ConnectionTest{CheckedAt: c.env.now()}
	if conn.Status == ConnPendingAuth || conn.Status == ConnDisconnected {
		out.Status, out.ErrorKind = conn.Status, "not_connected"
		out.Message = "the connection is " + conn.Status + ": authorize it (OAuth) or store credentials first"
		return out, nil
	}
	cn, _, err := c.connectorFor(ctx, conn.Provider)
	if err != nil {
		return nil, err
	}
	cerr := c.withConn(ctx, org, conn, cn, func(cfg connector.Config) error { return cn.Check(ctx, cfg) })
	if cerr != nil && (errors.Is(cerr, context.Canceled) || ctx.Err() != nil) {
		return nil, errs.Unavailable("the request was cancelled", cerr)
	}
	conn, err = c.env.updateConn(ctx, org, id, func(conn *Connection) error {
		if conn.Status == ConnDisconnected || conn.Status == ConnPendingAuth {
			return errSkipWrite
		}
		if cerr == nil {
			conn.Status, conn.LastError = ConnConnected, ""
			if conn.SyncIntervalMinutes > 0 && conn.NextSyncAt == nil {
				t := c.env.now().Add(time.Duration(conn.SyncIntervalMinutes) * time.Minute)
				conn.NextSyncAt = &t
			}
		} else {
			conn.Status, conn.LastError = ConnError, "test failed: "+connErrText(cerr)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Status = conn.Status
	if cerr == nil {
		out.OK = true
		return out, nil
	}
	out.ErrorKind = connector.KindOf(cerr).String()
	if out.ErrorKind == "unknown" {
		out.ErrorKind = "retryable"
	}
	out.Message = connErrText(cerr)
	var ce *connector.Error
	if errors.As(cerr, &ce) {
		out.Field = ce.Field
	}
	return out, nil
}

// connErrText is a connector error's message without the host's prefix.
func connErrText(err error) string {
	var ce *connector.Error
	if errors.As(err, &ce) {
		if ce.Message != "" {
			return ce.Message
		}
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// withConn runs fn with the connection's config; when the service says
// the token is no longer valid and a refresh token is stored, it refreshes
// the token through the connector (saving the new tokens sealed) and runs
// fn once more. A failed refresh leaves the connection in status error.
func (c *Client) withConn(ctx context.Context, org string, conn *Connection, cn *host.Conn, fn func(cfg connector.Config) error) error {
	cfg, err := c.env.connConfig(org, conn)
	if err != nil {
		return err
	}
	err = fn(cfg)
	if connector.KindOf(err) != connector.KindUnauthorized || cfg.Credentials["refresh_token"] == "" {
		return err
	}
	tok, rerr := cn.Refresh(ctx, cfg, cfg.Credentials["refresh_token"])
	if rerr != nil {
		c.env.Log.Warn("connection token refresh failed", "org", org, "connection", conn.ID, "kind", connector.KindOf(rerr).String())
		if connector.KindOf(rerr) == connector.KindUnauthorized || connector.KindOf(rerr) == connector.KindInvalidConfig {
			_, _ = c.env.updateConn(ctx, org, conn.ID, func(x *Connection) error {
				x.Status, x.LastError = ConnError, "the authorization expired or was revoked; reconnect (OAuth) the connection"
				return nil
			})
		}
		return err
	}
	updated, uerr := c.env.updateConn(ctx, org, conn.ID, func(x *Connection) error {
		return c.env.applyToken(org, x, tok)
	})
	if uerr != nil {
		return uerr
	}
	c.env.Log.Info("connection token refreshed", "org", org, "connection", conn.ID)
	*conn = *updated
	cfg, err = c.env.connConfig(org, conn)
	if err != nil {
		return err
	}
	return fn(cfg)
}

// applyToken stores an OAuth token set on a connection (sealed).
func (e *Env) applyToken(org string, conn *Connection, tok connector.Token) error {
	secrets, err := e.openSecrets(org, conn)
	if err != nil {
		return err
	}
	secrets["access_token"] = tok.AccessToken
	if tok.RefreshToken != "" {
		secrets["refresh_token"] = tok.RefreshToken
	}
	if tok.InstanceURL != "" {
		conn.BaseURL = tok.InstanceURL
	}
	conn.TokenExpiry = nil
	if !tok.Expiry.IsZero() {
		t := tok.Expiry.UTC()
		conn.TokenExpiry = &t
	}
	if conn.Status != ConnDisconnected {
		conn.Status, conn.LastError = ConnConnected, ""
	}
	return e.sealSecrets(org, conn, secrets)
}

// DisconnectConnection stops syncing (schedule off, a running sync stops at
// its next page) and drops the OAuth tokens; the connection's other
// settings and every synced account, lead and outcome are kept
// (Owner/Admin).
func (c *Client) DisconnectConnection(ctx context.Context, caller tenant.Caller, org, id string) (*ConnectionView, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return nil, err
	}
	conn, err := c.env.updateConn(ctx, org, id, func(conn *Connection) error {
		secrets, err := c.env.openSecrets(org, conn)
		if err != nil {
			return err
		}
		for _, k := range tokenKeys {
			delete(secrets, k)
		}
		conn.Status, conn.NextSyncAt, conn.TokenExpiry = ConnDisconnected, nil, nil
		if conn.Lease != nil && conn.Lease.Until.After(c.env.now()) {
			conn.CancelRequested = true
		}
		return c.env.sealSecrets(org, conn, secrets)
	})
	if err != nil {
		return nil, err
	}
	c.env.Log.Info("connection disconnected", "org", org, "connection", id)
	v := c.env.connView(conn)
	return &v, nil
}

// DeleteConnection removes a connection and its sync bookkeeping; synced
// accounts, leads and outcomes stay (Owner/Admin).
func (c *Client) DeleteConnection(ctx context.Context, caller tenant.Caller, org, id string) error {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return err
	}
	for attempt := 0; attempt < 8; attempt++ {
		conn, ver, err := c.env.loadConn(ctx, org, id)
		if err != nil {
			return err
		}
		if conn.Lease != nil && conn.Lease.Until.After(c.env.now()) {
			return errs.Conflict("sync_running", "", "a sync of this connection is running; disconnect it (the sync stops) and delete it afterwards")
		}
		err = c.env.Store.Delete(ctx, keyConn(org, id), ver)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return storeErr(err)
		}
		if err := c.env.deleteIndex(ctx, keyConnSched(org, id)); err != nil {
			c.env.Log.Warn("connection schedule index", "org", org, "connection", id, "error", err)
		}
		for _, p := range [][]byte{keyConnOppBase(org, id), keyConnSeenBase(org, id)} {
			if err := c.env.deletePrefix(ctx, append(p, '/')); err != nil {
				c.env.Log.Warn("deleting connection bookkeeping", "org", org, "connection", id, "error", err)
			}
		}
		c.env.Log.Info("connection deleted", "org", org, "connection", id)
		return nil
	}
	return errs.Unavailable("the connection is being changed concurrently; retry", nil)
}

// deletePrefix removes every key under prefix (small bookkeeping sets).
func (e *Env) deletePrefix(ctx context.Context, prefix []byte) error {
	var keys [][]byte
	var vers []store.Version
	if err := e.Store.Scan(ctx, prefix, nil, func(it store.Item) error {
		keys = append(keys, it.Key)
		vers = append(vers, it.Version)
		return nil
	}); err != nil {
		return err
	}
	for i, k := range keys {
		if err := e.Store.Delete(ctx, k, vers[i]); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return nil
}
