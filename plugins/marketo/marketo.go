package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/trailspark/trailspark/sdk/connector"
)

// Version of this connector.
const Version = "1.0.0"

// Config keys.
const (
	credClientID      = "client_id"
	credClientSecret  = "client_secret"
	credWebhookSecret = "webhook_secret" // optional: required value of the X-TrailSpark-Webhook-Secret header

	optMunchkinID    = "munchkin_id"       // 123-ABC-456: the REST host when base_url is empty
	optIdentityURL   = "identity_url"      // default <base_url>/identity
	optActivityTypes = "activity_type_ids" // comma-separated, at most 10 (default 1,2,3,10,11,12)
	optSince         = "since"             // RFC 3339: where the first read starts (default 30 days ago)
	optWebhookTZ     = "webhook_timezone"  // zone of "yyyy-MM-dd HH:mm:ss" webhook times (default America/Chicago)

	defaultActivityTypes = "1,2,3,10,11,12" // visit web page, fill out form, click link, open email, click email, new lead
	webhookSecretHeader  = "X-TrailSpark-Webhook-Secret"
)

var munchkinRe = regexp.MustCompile(`^\d{3}-[A-Z]{3}-\d{3}$`)

// Marketo is the connector. Access tokens are cached per tenant and client
// id (a cache: losing it costs one token call).
type Marketo struct {
	log  hclog.Logger
	http *http.Client
	now  func() time.Time

	mu     sync.Mutex // guards tokens and locks
	tokens map[string]cachedToken
	locks  map[string]*sync.Mutex // per token key: one fetch at a time
	types  sync.Map               // tenant|base -> typeCache
}

type cachedToken struct {
	token  string
	expiry time.Time
}

type typeCache struct {
	names map[int]string
	at    time.Time
}

// New returns the connector with production defaults.
func New() *Marketo {
	return &Marketo{
		log: hclog.NewNullLogger(), http: &http.Client{Timeout: 2 * time.Minute}, now: time.Now,
		tokens: map[string]cachedToken{}, locks: map[string]*sync.Mutex{},
	}
}

// SetLogger receives the plugin logger from sdk.Serve.
func (m *Marketo) SetLogger(l hclog.Logger) { m.log = l }

func (m *Marketo) Describe(context.Context) (connector.Info, error) {
	return connector.Info{
		Name:         "marketo",
		Version:      Version,
		Description:  "Marketo Engage: lead activities through the REST API; webhook payloads as signals",
		Capabilities: []connector.Capability{connector.CapRead, connector.CapTranslate},
		Kinds:        []connector.Kind{connector.KindActivities},
	}, nil
}

func baseURL(cfg connector.Config) string {
	if cfg.BaseURL != "" {
		return strings.TrimRight(strings.TrimSuffix(strings.TrimRight(cfg.BaseURL, "/"), "/rest"), "/")
	}
	if id := cfg.Options[optMunchkinID]; id != "" {
		return "https://" + id + ".mktorest.com"
	}
	return ""
}

func identityURL(cfg connector.Config) string {
	if v := cfg.Options[optIdentityURL]; v != "" {
		return strings.TrimRight(v, "/")
	}
	return baseURL(cfg) + "/identity"
}

// Configure validates cfg without network access. A tenant that only
// receives webhooks needs no API credentials.
func (m *Marketo) Configure(_ context.Context, cfg connector.Config) error {
	for _, k := range []string{credClientID, credClientSecret, credWebhookSecret} {
		if v, ok := cfg.Credentials[k]; ok && strings.TrimSpace(v) == "" {
			return connector.InvalidConfig("credentials."+k, "%s is empty", k)
		}
	}
	api := cfg.Credentials[credClientID] != "" || cfg.Credentials[credClientSecret] != ""
	if api {
		if cfg.Credentials[credClientID] == "" {
			return connector.InvalidConfig("credentials."+credClientID, "the API user's client id is required with a client secret")
		}
		if cfg.Credentials[credClientSecret] == "" {
			return connector.InvalidConfig("credentials."+credClientSecret, "the API user's client secret is required with a client id")
		}
		if cfg.BaseURL == "" && cfg.Options[optMunchkinID] == "" {
			return connector.InvalidConfig("base_url", "the REST endpoint (Admin > Web Services) or options.%s is required", optMunchkinID)
		}
	}
	if v := cfg.Options[optMunchkinID]; v != "" && !munchkinRe.MatchString(v) {
		return connector.InvalidConfig("options."+optMunchkinID, "munchkin id %q must look like 123-ABC-456", v)
	}
	for _, f := range []struct{ field, v string }{{"base_url", cfg.BaseURL}, {"options." + optIdentityURL, cfg.Options[optIdentityURL]}} {
		if f.v == "" {
			continue
		}
		if u, err := url.Parse(f.v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return connector.InvalidConfig(f.field, "%q is not an absolute http(s) URL", f.v)
		}
	}
	if _, err := activityTypes(cfg); err != nil {
		return err
	}
	if v := cfg.Options[optSince]; v != "" {
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			return connector.InvalidConfig("options."+optSince, "since %q is not an RFC 3339 time", v)
		}
	}
	if v := cfg.Options[optWebhookTZ]; v != "" {
		if _, err := time.LoadLocation(v); err != nil {
			return connector.InvalidConfig("options."+optWebhookTZ, "unknown time zone %q", v)
		}
	}
	return nil
}

func activityTypes(cfg connector.Config) ([]int, error) {
	raw := cfg.Option(optActivityTypes, defaultActivityTypes)
	var ids []int
	for p := range strings.SplitSeq(raw, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return nil, connector.InvalidConfig("options."+optActivityTypes, "%q is not an activity type id", p)
		}
		ids = append(ids, n)
	}
	if len(ids) == 0 || len(ids) > 10 {
		return nil, connector.InvalidConfig("options."+optActivityTypes, "between 1 and 10 activity type ids are allowed (Marketo's limit), got %d", len(ids))
	}
	return ids, nil
}

// Check fetches a token and the activity types: both need a working API user.
func (m *Marketo) Check(ctx context.Context, cfg connector.Config) error {
	if err := m.Configure(ctx, cfg); err != nil {
		return err
	}
	if cfg.Credentials[credClientID] == "" {
		return nil // webhook-only tenant: nothing remote to test
	}
	_, err := m.typeNames(ctx, cfg, true)
	return err
}

// tokenKey identifies a cached token: one per tenant, endpoint and API user.
func tokenKey(cfg connector.Config) string {
	return cfg.Tenant + "|" + identityURL(cfg) + "|" + cfg.Credentials[credClientID]
}

// token returns a cached access token, fetching one when missing, expiring
// within a minute, or when force is set (after a 601/602).
func (m *Marketo) token(ctx context.Context, cfg connector.Config, force bool) (string, error) {
	key := tokenKey(cfg)
	m.mu.Lock()
	lock, ok := m.locks[key]
	if !ok {
		lock = &sync.Mutex{}
		m.locks[key] = lock
	}
	m.mu.Unlock()
	// One fetch per tenant at a time: concurrent callers reuse its result
	// (Marketo hands out the same token until it expires anyway).
	lock.Lock()
	defer lock.Unlock()
	m.mu.Lock()
	t, ok := m.tokens[key]
	m.mu.Unlock()
	if ok && !force && m.now().Add(time.Minute).Before(t.expiry) {
		return t.token, nil
	}
	id, secret := cfg.Credentials[credClientID], cfg.Credentials[credClientSecret]
	if id == "" || secret == "" {
		return "", connector.InvalidConfig("credentials."+credClientID, "API client id and secret are required to read activities")
	}
	q := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, identityURL(cfg)+"/oauth/token?"+q.Encode(), nil)
	if err != nil {
		return "", connector.Permanent("build token request: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := m.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", connector.Retryable("identity endpoint: %v", redactURLError(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(raw, &tr)
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		m.log.Warn("token request refused", "tenant", cfg.Tenant, "status", resp.StatusCode, "error", tr.Error)
		switch {
		case resp.StatusCode >= 500:
			return "", connector.Retryable("identity endpoint: HTTP %d", resp.StatusCode)
		case resp.StatusCode == http.StatusTooManyRequests:
			return "", connector.RateLimited(20*time.Second, "identity endpoint: rate limited")
		}
		return "", connector.Unauthorized("identity endpoint: HTTP %d %s: %s", resp.StatusCode, tr.Error, tr.Description)
	}
	exp := m.now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	m.mu.Lock()
	m.tokens[key] = cachedToken{token: tr.AccessToken, expiry: exp}
	m.mu.Unlock()
	m.log.Debug("access token obtained", "tenant", cfg.Tenant, "expires_in", tr.ExpiresIn)
	return tr.AccessToken, nil
}

// redactURLError drops the URL (it holds the client secret) from a
// transport error.
func redactURLError(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// envelope is every REST answer: errors come with HTTP 200 and success=false.
type envelope struct {
	RequestID     string          `json:"requestId"`
	Success       bool            `json:"success"`
	Errors        []apiError      `json:"errors"`
	Result        json.RawMessage `json:"result"`
	NextPageToken string          `json:"nextPageToken"`
	MoreResult    bool            `json:"moreResult"`
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// get calls GET <base><path>?<q>, renewing the token once on 601/602.
func (m *Marketo) get(ctx context.Context, cfg connector.Config, path string, q url.Values) (envelope, error) {
	for attempt := 0; ; attempt++ {
		tok, err := m.token(ctx, cfg, attempt > 0)
		if err != nil {
			return envelope{}, err
		}
		env, err := m.getOnce(ctx, cfg, tok, path, q)
		if err != nil {
			return envelope{}, err
		}
		if env.Success {
			return env, nil
		}
		e := apiError{Code: "unknown", Message: "success=false without errors"}
		if len(env.Errors) > 0 {
			e = env.Errors[0]
		}
		if (e.Code == "601" || e.Code == "602") && attempt == 0 {
			m.log.Debug("access token rejected; renewing", "tenant", cfg.Tenant, "code", e.Code)
			continue
		}
		return envelope{}, classify(e, path)
	}
}

func (m *Marketo) getOnce(ctx context.Context, cfg connector.Config, tok, path string, q url.Values) (envelope, error) {
	u := baseURL(cfg) + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return envelope{}, connector.Permanent("build request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	resp, err := m.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return envelope{}, ctx.Err()
		}
		return envelope{}, connector.Retryable("GET %s: %v", path, redactURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		if ctx.Err() != nil {
			return envelope{}, ctx.Err()
		}
		return envelope{}, connector.Retryable("read %s: %v", path, err)
	}
	switch {
	case resp.StatusCode >= 500:
		return envelope{}, connector.Retryable("GET %s: HTTP %d", path, resp.StatusCode)
	case resp.StatusCode == http.StatusTooManyRequests:
		return envelope{}, connector.RateLimited(20*time.Second, "GET %s: HTTP 429", path)
	case resp.StatusCode == http.StatusUnauthorized:
		return envelope{}, connector.Unauthorized("GET %s: HTTP 401", path)
	case resp.StatusCode != http.StatusOK:
		return envelope{}, connector.Permanent("GET %s: HTTP %d", path, resp.StatusCode)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return envelope{}, connector.Retryable("decode %s: %v", path, err)
	}
	return env, nil
}

// classify maps a Marketo error code to an error kind.
func classify(e apiError, path string) error {
	msg := fmt.Sprintf("%s: Marketo error %s: %s", path, e.Code, e.Message)
	switch e.Code {
	case "606": // max rate limit (100 calls / 20 s) exceeded
		return connector.RateLimited(20*time.Second, "%s", msg)
	case "615": // concurrent access limit (10) reached
		return connector.RateLimited(5*time.Second, "%s", msg)
	case "607": // daily quota reached: resets at midnight US Central
		return connector.RateLimited(time.Hour, "%s", msg)
	case "604", "608", "611", "713", "1029":
		// request timed out, API temporarily unavailable, system error,
		// transient error, too many jobs in queue
		return connector.Retryable("%s", msg)
	case "601", "602", "603":
		// token invalid/expired after a renewal, or access denied
		return connector.Unauthorized("%s", msg)
	case "610":
		return connector.NotFound("%s", msg)
	}
	// 1003 invalid value, 1001 invalid type, 609 invalid JSON, 612 content
	// type, 702 no data, 1004 lead not found, ...
	return connector.Permanent("%s", msg)
}

// typeTTL is how long activity type names are cached.
const typeTTL = time.Hour

// typeNames returns activity type id -> name from /activities/types.json.
func (m *Marketo) typeNames(ctx context.Context, cfg connector.Config, fresh bool) (map[int]string, error) {
	key := cfg.Tenant + "|" + baseURL(cfg)
	if v, ok := m.types.Load(key); ok && !fresh && m.now().Sub(v.(typeCache).at) < typeTTL {
		return v.(typeCache).names, nil
	}
	env, err := m.get(ctx, cfg, "/rest/v1/activities/types.json", nil)
	if err != nil {
		return nil, fmt.Errorf("activity types: %w", err)
	}
	var types []struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	if len(env.Result) > 0 {
		if err := json.Unmarshal(env.Result, &types); err != nil {
			return nil, connector.Retryable("decode activity types: %v", err)
		}
	}
	names := make(map[int]string, len(types))
	for _, t := range types {
		names[t.ID] = t.Name
	}
	m.types.Store(key, typeCache{names: names, at: m.now()})
	return names, nil
}
