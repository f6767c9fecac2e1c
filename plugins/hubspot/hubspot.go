package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/trailspark/trailspark/sdk/connector"
)

// Version of this connector.
const Version = "1.0.0"

// Config keys.
const (
	credAccessToken     = "access_token"      // OAuth access token
	credPrivateAppToken = "private_app_token" // alternative: a private app's static token
	credRefreshToken    = "refresh_token"
	credClientID        = "client_id"
	credClientSecret    = "client_secret"

	optAuthorizeURL    = "authorize_url"     // default app.hubspot.com (EU: app-eu1.hubspot.com)
	optSettleSeconds   = "settle_seconds"    // search index lag tolerated by Read (default 60)
	optExtraProperties = "extra_properties." // + kind: comma-separated extra properties to read

	defaultBaseURL      = "https://api.hubapi.com"
	defaultAuthorizeURL = "https://app.hubspot.com/oauth/authorize"
)

var propNameRe = regexp.MustCompile(`^[a-z0-9_][a-z0-9_]{0,99}$`)

// HubSpot is the connector; it holds no tenant state.
type HubSpot struct {
	log       hclog.Logger
	http      *http.Client
	now       func() time.Time
	searchGap time.Duration // pause between two searches of one Read
}

// New returns the connector with production defaults.
func New() *HubSpot {
	return &HubSpot{log: hclog.NewNullLogger(), http: &http.Client{Timeout: 2 * time.Minute}, now: time.Now, searchGap: 250 * time.Millisecond}
}

// SetLogger receives the plugin logger from sdk.Serve.
func (h *HubSpot) SetLogger(l hclog.Logger) { h.log = l }

func (h *HubSpot) Describe(context.Context) (connector.Info, error) {
	return connector.Info{
		Name:        "hubspot",
		Version:     Version,
		Description: "HubSpot CRM v3: contacts, companies and deals in; scores out through batch update/upsert",
		Capabilities: []connector.Capability{
			connector.CapRead, connector.CapWrite, connector.CapMetadata, connector.CapOAuth,
		},
		Kinds: []connector.Kind{connector.KindAccounts, connector.KindContacts, connector.KindOpportunities},
	}, nil
}

func token(cfg connector.Config) string {
	if t := cfg.Credentials[credAccessToken]; t != "" {
		return t
	}
	return cfg.Credentials[credPrivateAppToken]
}

// Configure validates cfg without network access.
func (h *HubSpot) Configure(_ context.Context, cfg connector.Config) error {
	for _, k := range []string{credAccessToken, credPrivateAppToken, credRefreshToken, credClientID, credClientSecret} {
		if v, ok := cfg.Credentials[k]; ok && strings.TrimSpace(v) == "" {
			return connector.InvalidConfig("credentials."+k, "%s is empty", k)
		}
	}
	if token(cfg) == "" && cfg.Credentials[credClientID] == "" {
		return connector.InvalidConfig("credentials."+credPrivateAppToken, "a private app token, an OAuth access token or an OAuth client id (credentials.%s) is required", credClientID)
	}
	for _, f := range []struct{ field, v string }{{"base_url", cfg.BaseURL}, {"options." + optAuthorizeURL, cfg.Options[optAuthorizeURL]}} {
		if f.v == "" {
			continue
		}
		if u, err := url.Parse(f.v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return connector.InvalidConfig(f.field, "%q is not an absolute http(s) URL", f.v)
		}
	}
	if v := cfg.Options[optSettleSeconds]; v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 3600 {
			return connector.InvalidConfig("options."+optSettleSeconds, "settle_seconds must be 0-3600, got %q", v)
		}
	}
	for k, v := range cfg.Options {
		if kind, ok := strings.CutPrefix(k, optExtraProperties); ok {
			if _, known := objects[connector.Kind(kind)]; !known {
				return connector.InvalidConfig("options."+k, "unknown record kind %q", kind)
			}
			if _, err := splitProps(v); err != nil {
				return connector.InvalidConfig("options."+k, "%v", err)
			}
		}
	}
	return nil
}

func splitProps(v string) ([]string, error) {
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !propNameRe.MatchString(p) {
			return nil, fmt.Errorf("%q is not a HubSpot property internal name", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// Check is "test connection": one contact, the cheapest authenticated GET.
func (h *HubSpot) Check(ctx context.Context, cfg connector.Config) error {
	if err := h.Configure(ctx, cfg); err != nil {
		return err
	}
	api, err := h.api(cfg)
	if err != nil {
		return err
	}
	var out struct {
		Results []json.RawMessage `json:"results"`
	}
	_, err = api.do(ctx, http.MethodGet, "/crm/v3/objects/contacts?limit=1&archived=false", nil, &out)
	return err
}

// client is one tenant's API session for one call.
type client struct {
	h     *HubSpot
	cfg   connector.Config
	base  string
	token string
}

func (h *HubSpot) api(cfg connector.Config) (*client, error) {
	tok := token(cfg)
	if tok == "" {
		return nil, connector.Unauthorized("no access token: connect the account first")
	}
	return &client{h: h, cfg: cfg, base: baseURL(cfg), token: tok}, nil
}

func baseURL(cfg connector.Config) string {
	if cfg.BaseURL != "" {
		return strings.TrimRight(cfg.BaseURL, "/")
	}
	return defaultBaseURL
}

// apiError is HubSpot's error body.
type apiError struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	Category      string              `json:"category"`
	SubCategory   any                 `json:"subCategory"`
	Context       map[string][]string `json:"context"`
	CorrelationID string              `json:"correlationId"`
	ErrorType     string              `json:"errorType"` // RATE_LIMIT on 429
	PolicyName    string              `json:"policyName"`
}

// do calls the API and returns the HTTP status (200 or 207 for batches).
func (c *client) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, connector.Permanent("encode request: %v", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, connector.Permanent("build request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.h.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, connector.Retryable("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, connector.Retryable("read response of %s %s: %v", method, path, err)
	}
	if rem := resp.Header.Get("X-HubSpot-RateLimit-Daily-Remaining"); rem != "" {
		c.h.log.Trace("rate limit", "tenant", c.cfg.Tenant, "daily_remaining", rem)
	}
	if resp.StatusCode/100 == 2 {
		if out != nil && len(raw) > 0 {
			if err := json.Unmarshal(raw, out); err != nil {
				return resp.StatusCode, connector.Retryable("decode response of %s %s: %v", method, path, err)
			}
		}
		return resp.StatusCode, nil
	}
	return resp.StatusCode, httpError(resp, raw, method+" "+path)
}

// httpError classifies a non-2xx answer.
func httpError(resp *http.Response, raw []byte, what string) error {
	var e apiError
	_ = json.Unmarshal(raw, &e)
	msg := e.Message
	if msg == "" {
		msg = strings.TrimSpace(string(raw))
	}
	if len(msg) > 300 {
		msg = msg[:300]
	}
	text := fmt.Sprintf("%s: HTTP %d %s %s", what, resp.StatusCode, e.Category, msg)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return connector.RateLimited(rateDelay(resp.Header), "%s", text)
	case resp.StatusCode == http.StatusUnauthorized:
		return connector.Unauthorized("%s", text)
	case resp.StatusCode == http.StatusForbidden:
		// MISSING_SCOPES: the app or token lacks a scope; reconnecting with
		// the right scopes fixes it.
		return connector.Unauthorized("%s", text)
	case resp.StatusCode == http.StatusNotFound:
		return connector.NotFound("%s", text)
	case resp.StatusCode >= 500:
		return connector.Retryable("%s", text)
	}
	return connector.Permanent("%s", text)
}

// rateDelay reads Retry-After, else the rolling window HubSpot reports,
// else its ten-second window.
func rateDelay(h http.Header) time.Duration {
	if v := h.Get("Retry-After"); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
			return time.Duration(n * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), time.Second)
		}
	}
	if v := h.Get("X-HubSpot-RateLimit-Interval-Milliseconds"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return time.Duration(n) * time.Millisecond
		}
	}
	return 10 * time.Second
}

// batchError classifies one error of a 207 batch answer.
func batchError(e apiError) *connector.Error {
	msg := strings.TrimSpace(e.Category + " " + e.Message)
	switch e.Category {
	case "OBJECT_NOT_FOUND":
		return connector.NotFound("%s", msg)
	case "RATE_LIMITS":
		return connector.RateLimited(10*time.Second, "%s", msg)
	case "LOCKED", "INTERNAL_ERROR", "TIMEOUT", "SERVICE_UNAVAILABLE":
		return connector.Retryable("%s", msg)
	case "MISSING_SCOPES":
		return connector.Unauthorized("%s", msg)
	}
	// VALIDATION_ERROR, PROPERTY_DOESNT_EXIST, INVALID_EMAIL, CONFLICT, ...
	return connector.Permanent("%s", msg)
}
