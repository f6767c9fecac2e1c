package actors

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/sdk/connector"
	"github.com/trailspark/trailspark/store"
)

// OAuth 2.0 with PKCE, owned by the host (docs/plugins.md "OAuth"): the
// start request generates the state and the PKCE verifier, keeps them under
// a global key named by the state's keyed hash (the callback does not know
// the organization) with the verifier sealed, for 10 minutes, and asks the
// connector for the authorization URL with the S256 challenge. The
// unauthenticated callback proves itself with the state alone: one use,
// then the entry is deleted; the connector exchanges the code with the
// verifier and the tokens are stored sealed on the connection.

// OAuthStateTTL is how long an authorization may take.
const OAuthStateTTL = 10 * time.Minute

type oauthState struct {
	Org         string    `json:"org"`
	Conn        string    `json:"conn"`
	Provider    string    `json:"provider"`
	Verifier    string    `json:"verifier"` // sealed
	RedirectURI string    `json:"redirect_uri"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func (e *Env) keyOAuthState(state string) []byte {
	return store.GlobalKey("oauthstate", e.Sealer.Index("oauth-state", state))
}

func keyOAuthStateBase() []byte { return append(store.GlobalKey("oauthstate"), '/') }

func verifierAD(state string) []byte { return []byte("oauth-verifier:" + state) }

func randomURLString(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// OAuthStartInput starts an authorization.
type OAuthStartInput struct {
	// RedirectURI is this deployment's callback URL,
	// https://<host>/api/oauth/callback/<provider>; the API fills it from
	// the request when the client gives none.
	RedirectURI string   `json:"redirect_uri"`
	Scopes      []string `json:"scopes"`
}

// OAuthStart is where to send the user.
type OAuthStart struct {
	AuthorizationURL string    `json:"authorization_url"`
	RedirectURI      string    `json:"redirect_uri"`
	ExpiresAt        time.Time `json:"expires_at"`
}

// CheckRedirectURI validates a callback URL for provider.
func CheckRedirectURI(raw, provider string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return errs.Invalid("redirect_uri", "invalid_format", "redirect_uri must be an absolute http(s) URL without query")
	}
	if u.Path != "/api/oauth/callback/"+provider {
		return errs.Invalid("redirect_uri", "invalid_format", "redirect_uri must end in /api/oauth/callback/%s", provider)
	}
	return nil
}

// StartOAuth begins the OAuth flow of a connection (Owner/Admin).
func (c *Client) StartOAuth(ctx context.Context, caller tenant.Caller, org, id string, in OAuthStartInput) (*OAuthStart, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return nil, err
	}
	conn, _, err := c.env.loadConn(ctx, org, id)
	if err != nil {
		return nil, err
	}
	if err := CheckRedirectURI(in.RedirectURI, conn.Provider); err != nil {
		return nil, err
	}
	if len(in.Scopes) > 50 {
		return nil, errs.Invalid("scopes", "too_many", "at most 50 scopes")
	}
	cn, info, err := c.connectorFor(ctx, conn.Provider)
	if err != nil {
		return nil, err
	}
	if !info.Has(connector.CapOAuth) {
		return nil, errs.Conflict("connector_unsupported", "", "the "+conn.Provider+" connector does not do OAuth; store its credentials instead")
	}
	env := c.env
	verifier, err := randomURLString(env.Rand, 48) // 64 characters (RFC 7636: 43–128)
	if err != nil {
		return nil, errs.Internal(err)
	}
	state, err := randomURLString(env.Rand, 32)
	if err != nil {
		return nil, errs.Internal(err)
	}
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	cfg, err := env.connConfig(org, conn)
	if err != nil {
		return nil, err
	}
	u, err := cn.AuthURL(ctx, cfg, connector.AuthURLRequest{RedirectURI: in.RedirectURI, State: state,
		CodeChallenge: challenge, CodeChallengeMethod: "S256", Scopes: in.Scopes})
	if err != nil {
		return nil, connectorErr(err)
	}
	sealed, err := env.sealString(verifierAD(state), verifier)
	if err != nil {
		return nil, errs.Internal(err)
	}
	exp := env.now().Add(OAuthStateTTL)
	b, _ := json.Marshal(oauthState{Org: org, Conn: id, Provider: conn.Provider, Verifier: sealed, RedirectURI: in.RedirectURI, ExpiresAt: exp})
	if _, err := env.Store.Save(ctx, env.keyOAuthState(state), b, 0); err != nil {
		return nil, storeErr(err)
	}
	if conn.Status == ConnDisconnected || conn.Status == ConnError {
		_, _ = env.updateConn(ctx, org, id, func(x *Connection) error {
			if x.Status == ConnDisconnected || x.Status == ConnError {
				x.Status = ConnPendingAuth
			}
			return nil
		})
	}
	env.Log.Info("oauth started", "org", org, "connection", id, "provider", conn.Provider)
	return &OAuthStart{AuthorizationURL: u, RedirectURI: in.RedirectURI, ExpiresAt: exp}, nil
}

// OAuthResult is what the callback did.
type OAuthResult struct {
	Status       string `json:"status"`
	Org          string `json:"org"`
	ConnectionID string `json:"connection_id"`
	Provider     string `json:"provider"`
}

var errBadState = errs.Invalid("state", "invalid_state", "the authorization is unknown, already used or expired; start it again")

// OAuthCallback completes an authorization: the state names it (no other
// credential), the connector exchanges the code with the stored verifier,
// and the tokens are stored sealed; the connection becomes connected.
// remoteErr is the provider's error parameter, when it refused.
func (c *Client) OAuthCallback(ctx context.Context, provider, code, state, remoteErr string) (*OAuthResult, error) {
	env := c.env
	if state == "" || len(state) > 200 {
		return nil, errBadState
	}
	key := env.keyOAuthState(state)
	b, ver, err := env.Store.Load(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBadState
	}
	if err != nil {
		return nil, storeErr(err)
	}
	// One use: whoever deletes the entry owns the callback.
	if err := env.Store.Delete(ctx, key, ver); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, errBadState
		}
		return nil, storeErr(err)
	}
	var st oauthState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, errBadState
	}
	if st.Provider != provider || !env.now().Before(st.ExpiresAt) {
		return nil, errBadState
	}
	res := &OAuthResult{Org: st.Org, ConnectionID: st.Conn, Provider: provider}
	if remoteErr != "" {
		_, _ = env.updateConn(ctx, st.Org, st.Conn, func(x *Connection) error {
			x.LastError = "authorization refused by " + provider + ": " + clip(remoteErr, 200)
			return nil
		})
		return nil, errs.Invalid("error", "authorization_refused", "%s refused the authorization (%s); start it again", provider, clip(remoteErr, 100))
	}
	if code == "" || len(code) > 4096 {
		return nil, errs.Invalid("code", "required", "the callback has no authorization code")
	}
	verifier, err := env.openString(verifierAD(state), st.Verifier)
	if err != nil {
		return nil, errBadState
	}
	conn, _, err := env.loadConn(ctx, st.Org, st.Conn)
	if err != nil {
		return nil, err
	}
	cn, _, err := c.connectorFor(ctx, conn.Provider)
	if err != nil {
		return nil, err
	}
	cfg, err := env.connConfig(st.Org, conn)
	if err != nil {
		return nil, err
	}
	tok, err := cn.ExchangeCode(ctx, cfg, connector.ExchangeCodeRequest{Code: code, RedirectURI: st.RedirectURI, CodeVerifier: verifier})
	if err != nil {
		env.Log.Warn("oauth exchange failed", "org", st.Org, "connection", st.Conn, "kind", connector.KindOf(err).String())
		msg := connErrText(err)
		_, _ = env.updateConn(ctx, st.Org, st.Conn, func(x *Connection) error {
			x.Status, x.LastError = ConnError, "authorization failed: "+msg
			return nil
		})
		return nil, connectorErr(err)
	}
	conn, err = env.updateConn(ctx, st.Org, st.Conn, func(x *Connection) error {
		if x.Status == ConnDisconnected || x.Status == ConnError || x.Status == ConnPendingAuth {
			x.Status = ConnConnected
		}
		if err := env.applyToken(st.Org, x, tok); err != nil {
			return err
		}
		if x.SyncIntervalMinutes > 0 && x.NextSyncAt == nil {
			t := env.now().Add(time.Duration(x.SyncIntervalMinutes) * time.Minute)
			x.NextSyncAt = &t
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	env.Log.Info("oauth completed", "org", st.Org, "connection", st.Conn, "provider", provider)
	res.Status = conn.Status
	return res, nil
}

// sweepOAuthStates deletes authorizations that expired unused.
func (c *Client) sweepOAuthStates(ctx context.Context) {
	env := c.env
	now := env.now()
	base := keyOAuthStateBase()
	var stale []store.Item
	_ = env.Store.Scan(ctx, base, nil, func(it store.Item) error {
		var st oauthState
		if json.Unmarshal(it.Value, &st) != nil || now.After(st.ExpiresAt) {
			stale = append(stale, it)
		}
		return nil
	})
	for _, it := range stale {
		_ = env.Store.Delete(ctx, it.Key, it.Version)
	}
}

// oauthProviderOK reports whether a callback path segment can name a
// connector (cheap check before touching the store).
func OAuthProviderOK(p string) bool {
	return providerNameRe.MatchString(strings.ToLower(p)) && p == strings.ToLower(p)
}
