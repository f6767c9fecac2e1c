package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ---- system ---------------------------------------------------------------------------------

// Health calls GET /healthz.
func (c *Client) Health(ctx context.Context) (*Status, error) {
	var out Status
	return &out, c.do(ctx, http.MethodGet, "/healthz", nil, nil, &out, nil)
}

// Ready calls GET /readyz; a node that is not ready answers an *APIError with status 503.
func (c *Client) Ready(ctx context.Context) (*Status, error) {
	var out Status
	return &out, c.do(ctx, http.MethodGet, "/readyz", nil, nil, &out, nil)
}

// Metrics returns the Prometheus text exposition from GET /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	raw, _, err := c.roundTrip(ctx, http.MethodGet, "/metrics", nil, nil, nil, "text/plain")
	return string(raw), err
}

// OpenAPI returns the server's OpenAPI document (YAML) from GET /openapi.yaml.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	raw, _, err := c.roundTrip(ctx, http.MethodGet, "/openapi.yaml", nil, nil, nil, "application/yaml")
	return raw, err
}

// ---- auth and the caller --------------------------------------------------------------------

// Register creates a user (POST /api/v1/auth/register).
func (c *Client) Register(ctx context.Context, req RegisterRequest) (*User, error) {
	var out User
	return &out, c.do(ctx, http.MethodPost, "/api/v1/auth/register", nil, req, &out, nil)
}

// Login exchanges email and password for a session token (POST
// /api/v1/auth/login). Use c.WithToken(resp.Token) to act as the user.
func (c *Client) Login(ctx context.Context, req LoginRequest) (*LoginResponse, error) {
	var out LoginResponse
	return &out, c.do(ctx, http.MethodPost, "/api/v1/auth/login", nil, req, &out, nil)
}

// Logout revokes the session token the client sends (POST /api/v1/auth/logout).
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/api/v1/auth/logout", nil, nil, nil, nil)
}

// Me returns the caller and their memberships (GET /api/v1/me).
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var out Me
	return &out, c.do(ctx, http.MethodGet, "/api/v1/me", nil, nil, &out, nil)
}

// ---- personal access tokens -----------------------------------------------------------------

// CreateToken creates a personal access token (POST /api/v1/me/tokens).
func (c *Client) CreateToken(ctx context.Context, req CreateTokenRequest) (*PATCreated, error) {
	var out PATCreated
	return &out, c.do(ctx, http.MethodPost, "/api/v1/me/tokens", nil, req, &out, nil)
}

// ListTokens returns one page of the caller's personal access tokens (GET /api/v1/me/tokens).
func (c *Client) ListTokens(ctx context.Context, opts ListOptions) (*PATList, error) {
	var out PATList
	return &out, c.do(ctx, http.MethodGet, "/api/v1/me/tokens", opts.query(), nil, &out, nil)
}

// AllTokens returns every personal access token of the caller, following the pages.
func (c *Client) AllTokens(ctx context.Context) ([]PersonalAccessToken, error) {
	return collect(ctx, func(o ListOptions) ([]PersonalAccessToken, string, error) {
		p, err := c.ListTokens(ctx, o)
		return p.Items, p.NextCursor, err
	})
}

// RevokeToken revokes one of the caller's personal access tokens (DELETE /api/v1/me/tokens/{id}).
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/me/tokens/"+seg(id), nil, nil, nil, nil)
}

// ---- organizations --------------------------------------------------------------------------

// CheckSubdomain says whether subdomain is free and suggests one derived from
// name (GET /api/v1/orgs/subdomain-check). Either argument may be empty.
func (c *Client) CheckSubdomain(ctx context.Context, subdomain, name string) (*SubdomainCheck, error) {
	q := url.Values{}
	if subdomain != "" {
		q.Set("subdomain", subdomain)
	}
	if name != "" {
		q.Set("name", name)
	}
	var out SubdomainCheck
	return &out, c.do(ctx, http.MethodGet, "/api/v1/orgs/subdomain-check", q, nil, &out, nil)
}

// CreateOrg creates an organization (POST /api/v1/orgs).
func (c *Client) CreateOrg(ctx context.Context, req CreateOrgRequest) (*Organization, error) {
	var out Organization
	return &out, c.do(ctx, http.MethodPost, "/api/v1/orgs", nil, req, &out, nil)
}

// ListOrgs returns one page of the caller's organizations (GET /api/v1/orgs).
func (c *Client) ListOrgs(ctx context.Context, opts ListOptions) (*OrganizationList, error) {
	var out OrganizationList
	return &out, c.do(ctx, http.MethodGet, "/api/v1/orgs", opts.query(), nil, &out, nil)
}

// AllOrgs returns every organization the caller can see, following the pages.
func (c *Client) AllOrgs(ctx context.Context) ([]Organization, error) {
	return collect(ctx, func(o ListOptions) ([]Organization, string, error) {
		p, err := c.ListOrgs(ctx, o)
		return p.Items, p.NextCursor, err
	})
}

// GetOrg reads an organization (GET /api/v1/orgs/{org}).
func (c *Client) GetOrg(ctx context.Context, org string) (*Organization, error) {
	var out Organization
	return &out, c.do(ctx, http.MethodGet, "/api/v1/orgs/"+seg(org), nil, nil, &out, nil)
}

// UpdateOrg changes an organization's name, size or industry (PATCH /api/v1/orgs/{org}).
func (c *Client) UpdateOrg(ctx context.Context, org string, req UpdateOrgRequest) (*Organization, error) {
	var out Organization
	return &out, c.do(ctx, http.MethodPatch, "/api/v1/orgs/"+seg(org), nil, req, &out, nil)
}

// DeleteOrg deletes an organization (DELETE /api/v1/orgs/{org}).
func (c *Client) DeleteOrg(ctx context.Context, org string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/orgs/"+seg(org), nil, nil, nil, nil)
}

// ---- members --------------------------------------------------------------------------------

// ListMembers returns one page of an organization's members (GET /api/v1/orgs/{org}/members).
func (c *Client) ListMembers(ctx context.Context, org string, opts ListOptions) (*MemberList, error) {
	var out MemberList
	return &out, c.do(ctx, http.MethodGet, "/api/v1/orgs/"+seg(org)+"/members", opts.query(), nil, &out, nil)
}

// AllMembers returns every member of an organization, following the pages.
func (c *Client) AllMembers(ctx context.Context, org string) ([]Member, error) {
	return collect(ctx, func(o ListOptions) ([]Member, string, error) {
		p, err := c.ListMembers(ctx, org, o)
		return p.Items, p.NextCursor, err
	})
}

// UpdateMemberRole changes a member's role (PATCH /api/v1/orgs/{org}/members/{user}).
func (c *Client) UpdateMemberRole(ctx context.Context, org, userID string, role Role) (*Member, error) {
	var out Member
	body := struct {
		Role Role `json:"role"`
	}{role}
	return &out, c.do(ctx, http.MethodPatch, "/api/v1/orgs/"+seg(org)+"/members/"+seg(userID), nil, body, &out, nil)
}

// RemoveMember removes a member (DELETE /api/v1/orgs/{org}/members/{user}).
func (c *Client) RemoveMember(ctx context.Context, org, userID string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/orgs/"+seg(org)+"/members/"+seg(userID), nil, nil, nil, nil)
}

// TransferOwnership makes userID the Owner and removes the previous Owner
// (POST /api/v1/orgs/{org}/transfer-ownership).
func (c *Client) TransferOwnership(ctx context.Context, org, userID string) (*TransferResult, error) {
	var out TransferResult
	body := struct {
		UserID string `json:"user_id"`
	}{userID}
	return &out, c.do(ctx, http.MethodPost, "/api/v1/orgs/"+seg(org)+"/transfer-ownership", nil, body, &out, nil)
}

// ---- invitations ----------------------------------------------------------------------------

// CreateInvitation invites an email address (POST /api/v1/orgs/{org}/invitations).
func (c *Client) CreateInvitation(ctx context.Context, org string, req CreateInvitationRequest) (*InvitationCreated, error) {
	var out InvitationCreated
	return &out, c.do(ctx, http.MethodPost, "/api/v1/orgs/"+seg(org)+"/invitations", nil, req, &out, nil)
}

// ListInvitations returns one page of pending invitations (GET /api/v1/orgs/{org}/invitations).
func (c *Client) ListInvitations(ctx context.Context, org string, opts ListOptions) (*InvitationList, error) {
	var out InvitationList
	return &out, c.do(ctx, http.MethodGet, "/api/v1/orgs/"+seg(org)+"/invitations", opts.query(), nil, &out, nil)
}

// AllInvitations returns every pending invitation, following the pages.
func (c *Client) AllInvitations(ctx context.Context, org string) ([]Invitation, error) {
	return collect(ctx, func(o ListOptions) ([]Invitation, string, error) {
		p, err := c.ListInvitations(ctx, org, o)
		return p.Items, p.NextCursor, err
	})
}

// ResendInvitation issues a new token and resets the expiry
// (POST /api/v1/orgs/{org}/invitations/{id}/resend).
func (c *Client) ResendInvitation(ctx context.Context, org, id string) (*InvitationCreated, error) {
	var out InvitationCreated
	return &out, c.do(ctx, http.MethodPost, "/api/v1/orgs/"+seg(org)+"/invitations/"+seg(id)+"/resend", nil, nil, &out, nil)
}

// CancelInvitation cancels an invitation (POST /api/v1/orgs/{org}/invitations/{id}/cancel).
func (c *Client) CancelInvitation(ctx context.Context, org, id string) (*Invitation, error) {
	var out Invitation
	return &out, c.do(ctx, http.MethodPost, "/api/v1/orgs/"+seg(org)+"/invitations/"+seg(id)+"/cancel", nil, nil, &out, nil)
}

// AcceptInvitation accepts an invitation as the signed-in user
// (POST /api/v1/orgs/{org}/invitations/accept).
func (c *Client) AcceptInvitation(ctx context.Context, org, token string) (*AcceptResult, error) {
	var out AcceptResult
	body := struct {
		Token string `json:"token"`
	}{token}
	return &out, c.do(ctx, http.MethodPost, "/api/v1/orgs/"+seg(org)+"/invitations/accept", nil, body, &out, nil)
}

// ---- API keys -------------------------------------------------------------------------------

// CreateAPIKey creates an ingestion key (POST /api/v1/orgs/{org}/api-keys).
func (c *Client) CreateAPIKey(ctx context.Context, org string, req CreateAPIKeyRequest) (*APIKeyCreated, error) {
	var out APIKeyCreated
	return &out, c.do(ctx, http.MethodPost, "/api/v1/orgs/"+seg(org)+"/api-keys", nil, req, &out, nil)
}

// ListAPIKeys returns one page of an organization's keys, masked (GET /api/v1/orgs/{org}/api-keys).
func (c *Client) ListAPIKeys(ctx context.Context, org string, opts ListOptions) (*APIKeyList, error) {
	var out APIKeyList
	return &out, c.do(ctx, http.MethodGet, "/api/v1/orgs/"+seg(org)+"/api-keys", opts.query(), nil, &out, nil)
}

// AllAPIKeys returns every key of an organization, following the pages.
func (c *Client) AllAPIKeys(ctx context.Context, org string) ([]APIKey, error) {
	return collect(ctx, func(o ListOptions) ([]APIKey, string, error) {
		p, err := c.ListAPIKeys(ctx, org, o)
		return p.Items, p.NextCursor, err
	})
}

// GetAPIKey reads one key (GET /api/v1/orgs/{org}/api-keys/{id}).
func (c *Client) GetAPIKey(ctx context.Context, org, id string) (*APIKey, error) {
	var out APIKey
	return &out, c.do(ctx, http.MethodGet, "/api/v1/orgs/"+seg(org)+"/api-keys/"+seg(id), nil, nil, &out, nil)
}

// RevokeAPIKey revokes a key (POST /api/v1/orgs/{org}/api-keys/{id}/revoke).
func (c *Client) RevokeAPIKey(ctx context.Context, org, id string) (*APIKey, error) {
	var out APIKey
	return &out, c.do(ctx, http.MethodPost, "/api/v1/orgs/"+seg(org)+"/api-keys/"+seg(id)+"/revoke", nil, nil, &out, nil)
}

// RotateAPIKey creates a replacement for a key; both stay valid until the old
// one is revoked (POST /api/v1/orgs/{org}/api-keys/{id}/rotate).
func (c *Client) RotateAPIKey(ctx context.Context, org, id string) (*APIKeyCreated, error) {
	var out APIKeyCreated
	return &out, c.do(ctx, http.MethodPost, "/api/v1/orgs/"+seg(org)+"/api-keys/"+seg(id)+"/rotate", nil, nil, &out, nil)
}

// KeySelf introspects the API key the client sends as its token
// (GET /api/v1/api-keys/self). For a key with a secret, pass the secret; it is
// sent as X-Api-Secret. Pass "" for a key without one.
func (c *Client) KeySelf(ctx context.Context, secret string) (*KeySelf, error) {
	var hdr http.Header
	if secret != "" {
		hdr = http.Header{"X-Api-Secret": {secret}}
	}
	var out KeySelf
	return &out, c.do(ctx, http.MethodGet, "/api/v1/api-keys/self", nil, nil, &out, hdr)
}

// KeySelfSigned is KeySelf proving the secret with an X-TrailSpark-Signature
// header made at time t instead of sending the secret.
func (c *Client) KeySelfSigned(ctx context.Context, secret string, t time.Time) (*KeySelf, error) {
	hdr := http.Header{"X-Trailspark-Signature": {SignatureHeader(secret, t, nil)}}
	var out KeySelf
	return &out, c.do(ctx, http.MethodGet, "/api/v1/api-keys/self", nil, nil, &out, hdr)
}

// SignatureHeader returns the X-TrailSpark-Signature value for body sent at
// time t: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func SignatureHeader(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// ---- signals in -----------------------------------------------------------------------------
//
// The ingestion calls authenticate with the client's token as the API key
// (a signal_staging sk_… key, sent as Authorization: Bearer, so it never
// appears in a URL): make the client with client.New(baseURL, key).

// IngestSignal sends one signal (POST /api/signal-staging/webhook). signal is
// anything that marshals to a JSON object.
func (c *Client) IngestSignal(ctx context.Context, signal any, opts IngestOptions) (*SignalAccepted, error) {
	var out SignalAccepted
	return &out, c.ingest(ctx, "/api/signal-staging/webhook", signal, opts, true, &out)
}

// IngestBatch sends up to 10,000 signals (500 KB) at once as a JSON array
// (POST /api/signal-staging/webhook/batch, the bearer form of
// /api/signal-staging/webhook/{apiKey}/batch). Each item is accepted or
// refused on its own: a refused item is in the result, not an error.
func (c *Client) IngestBatch(ctx context.Context, signals []any, opts IngestOptions) (*BatchAccepted, error) {
	if signals == nil {
		signals = []any{}
	}
	var out BatchAccepted
	return &out, c.ingest(ctx, "/api/signal-staging/webhook/batch", signals, opts, true, &out)
}

// ImportSignals sends a historical import as one JSON array (POST
// /api/signal-staging/bulk); it returns once everything accepted is durable.
// Refused items are counted in the summary, not returned as an error.
// Idempotency-Key is not used by imports; repeat messageIds are.
func (c *Client) ImportSignals(ctx context.Context, signals []any, opts IngestOptions) (*BulkSummary, error) {
	if signals == nil {
		signals = []any{}
	}
	opts.SignAt, opts.IdempotencyKey = time.Time{}, ""
	var out BulkSummary
	return &out, c.ingest(ctx, "/api/signal-staging/bulk", signals, opts, false, &out)
}

func (c *Client) ingest(ctx context.Context, path string, body any, opts IngestOptions, signable bool, out any) error {
	// Marshal once: a signature must cover the exact bytes sent. Sending
	// them as a json.RawMessage keeps them as they are (json.Marshal output
	// is already compact and HTML-escaped, which is all re-encoding does).
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("trailspark: encoding POST %s request: %w", path, err)
	}
	hdr := http.Header{}
	switch {
	case opts.Secret != "" && signable && !opts.SignAt.IsZero():
		hdr.Set("X-TrailSpark-Signature", SignatureHeader(opts.Secret, opts.SignAt, raw))
	case opts.Secret != "":
		hdr.Set("X-Api-Secret", opts.Secret)
	}
	if opts.Source != "" {
		hdr.Set("X-Source", opts.Source)
	}
	if opts.IdempotencyKey != "" {
		hdr.Set("Idempotency-Key", opts.IdempotencyKey)
	}
	return c.do(ctx, http.MethodPost, path, nil, json.RawMessage(raw), out, hdr)
}
