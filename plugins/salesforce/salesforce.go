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

// Config keys. Credentials are secrets; Options are not.
const (
	credAccessToken  = "access_token"
	credRefreshToken = "refresh_token"
	credClientID     = "client_id"
	credClientSecret = "client_secret"

	optAPIVersion     = "api_version"       // e.g. 62.0
	optSandbox        = "sandbox"           // true: OAuth against test.salesforce.com
	optLoginURL       = "login_url"         // overrides the OAuth host (My Domain, tests)
	optInstanceURL    = "instance_url"      // alternative to Config.BaseURL
	optConvertedLeads = "converted_leads"   // contact (default) | skip
	optUsageCeiling   = "api_usage_ceiling" // percent of the org's daily API allowance we may use (default 90)
	optExtraFields    = "extra_fields."     // + kind: comma-separated extra fields to read

	defaultAPIVersion = "62.0"
	loginHost         = "https://login.salesforce.com"
	sandboxHost       = "https://test.salesforce.com"
)

var (
	apiVersionRe = regexp.MustCompile(`^\d{2,3}\.\d$`)
	fieldNameRe  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,79}$`)
	sfIDRe       = regexp.MustCompile(`^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$`)
)

// Salesforce is the connector. It keeps no tenant state except the API usage
// last reported per org (a cache keyed by tenant, see usage).
type Salesforce struct {
	log   hclog.Logger
	http  *http.Client
	usage sync.Map // tenant|instance -> usageInfo
	now   func() time.Time
}

// New returns the connector with production defaults.
func New() *Salesforce {
	return &Salesforce{
		log:  hclog.NewNullLogger(),
		http: &http.Client{Timeout: 2 * time.Minute},
		now:  time.Now,
	}
}

// SetLogger receives the plugin logger from sdk.Serve.
func (s *Salesforce) SetLogger(l hclog.Logger) { s.log = l }

func (s *Salesforce) Describe(context.Context) (connector.Info, error) {
	return connector.Info{
		Name:        "salesforce",
		Version:     Version,
		Description: "Salesforce REST: accounts, contacts, leads and opportunities in; scores out through sObject Collections",
		Capabilities: []connector.Capability{
			connector.CapRead, connector.CapWrite, connector.CapMetadata, connector.CapOAuth,
		},
		Kinds: []connector.Kind{connector.KindAccounts, connector.KindContacts, connector.KindLeads, connector.KindOpportunities},
	}, nil
}

// Configure validates cfg without network access.
func (s *Salesforce) Configure(_ context.Context, cfg connector.Config) error {
	if cfg.Credentials[credAccessToken] == "" && cfg.Credentials[credClientID] == "" {
		return connector.InvalidConfig("credentials."+credAccessToken, "either an access token or an OAuth client id (credentials.%s) is required", credClientID)
	}
	for _, k := range []string{credAccessToken, credRefreshToken, credClientID, credClientSecret} {
		if v, ok := cfg.Credentials[k]; ok && strings.TrimSpace(v) == "" {
			return connector.InvalidConfig("credentials."+k, "%s is empty", k)
		}
	}
	if v := cfg.Option(optAPIVersion, defaultAPIVersion); !apiVersionRe.MatchString(v) {
		return connector.InvalidConfig("options."+optAPIVersion, "api version %q must look like 62.0", v)
	}
	if v := cfg.Option(optSandbox, "false"); v != "true" && v != "false" {
		return connector.InvalidConfig("options."+optSandbox, "sandbox must be true or false, got %q", v)
	}
	for _, f := range []struct{ field, v string }{
		{"base_url", cfg.BaseURL}, {"options." + optInstanceURL, cfg.Options[optInstanceURL]}, {"options." + optLoginURL, cfg.Options[optLoginURL]},
	} {
		if f.v != "" {
			if err := checkURL(f.v); err != nil {
				return connector.InvalidConfig(f.field, "%v", err)
			}
		}
	}
	if cfg.Credentials[credAccessToken] != "" && cfg.BaseURL == "" && cfg.Options[optInstanceURL] == "" {
		return connector.InvalidConfig("base_url", "the org's instance URL (Token.InstanceURL) is required with an access token")
	}
	if v := cfg.Option(optConvertedLeads, "contact"); v != "contact" && v != "skip" {
		return connector.InvalidConfig("options."+optConvertedLeads, "converted_leads must be contact or skip, got %q", v)
	}
	if v := cfg.Options[optUsageCeiling]; v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 100 {
			return connector.InvalidConfig("options."+optUsageCeiling, "api_usage_ceiling must be a percentage 1-100, got %q", v)
		}
	}
	for k, v := range cfg.Options {
		if kind, ok := strings.CutPrefix(k, optExtraFields); ok {
			if _, known := objects[connector.Kind(kind)]; !known {
				return connector.InvalidConfig("options."+k, "unknown record kind %q", kind)
			}
			if _, err := splitFields(v); err != nil {
				return connector.InvalidConfig("options."+k, "%v", err)
			}
		}
	}
	return nil
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return nil
}

func splitFields(v string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !fieldNameRe.MatchString(f) {
			return nil, fmt.Errorf("%q is not a Salesforce field API name", f)
		}
		out = append(out, f)
	}
	return out, nil
}

// Check is "test connection": the limits resource needs a valid session; a
// user without "View Setup" gets 403 there, so a one-row query stands in.
func (s *Salesforce) Check(ctx context.Context, cfg connector.Config) error {
	if err := s.Configure(ctx, cfg); err != nil {
		return err
	}
	api, err := s.api(cfg)
	if err != nil {
		return err
	}
	var limits map[string]struct {
		Max       int64 `json:"Max"`
		Remaining int64 `json:"Remaining"`
	}
	err = api.do(ctx, http.MethodGet, api.path("/limits"), nil, &limits)
	if connector.KindOf(err) == connector.KindPermanent {
		var q queryResponse
		return api.do(ctx, http.MethodGet, api.path("/query?q="+url.QueryEscape("SELECT Id FROM Account LIMIT 1")), nil, &q)
	}
	if err != nil {
		return err
	}
	if d, ok := limits["DailyApiRequests"]; ok {
		s.log.Debug("daily API requests", "tenant", cfg.Tenant, "max", d.Max, "remaining", d.Remaining)
		if d.Max > 0 && d.Remaining <= 0 {
			return connector.RateLimited(time.Hour, "the org has used its daily API allowance (%d)", d.Max)
		}
	}
	return nil
}

// client is one tenant's REST session for one call.
type client struct {
	s        *Salesforce
	cfg      connector.Config
	instance string // https://acme.my.salesforce.com
	version  string // 62.0
	token    string
}

func (s *Salesforce) api(cfg connector.Config) (*client, error) {
	tok := cfg.Credentials[credAccessToken]
	if tok == "" {
		return nil, connector.Unauthorized("no access token: connect the org first")
	}
	inst := cfg.BaseURL
	if inst == "" {
		inst = cfg.Options[optInstanceURL]
	}
	if inst == "" {
		return nil, connector.InvalidConfig("base_url", "the org's instance URL is required")
	}
	return &client{s: s, cfg: cfg, instance: strings.TrimRight(inst, "/"), version: cfg.Option(optAPIVersion, defaultAPIVersion), token: tok}, nil
}

// path is a REST path under /services/data/vXX.X.
func (c *client) path(p string) string { return "/services/data/v" + c.version + p }

// sfError is one entry of the REST error body: [{"message","errorCode","fields"}].
type sfError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields"`
}

// do calls the REST API. p is a path beginning with / (nextRecordsUrl values
// are such paths). in is JSON-encoded when non-nil; out is decoded from a
// 2xx answer when non-nil.
func (c *client) do(ctx context.Context, method, p string, in, out any) error {
	if err := c.s.overCeiling(c.cfg, c.instance); err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return connector.Permanent("encode request: %v", err)
		}
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.instance+p, body)
	if err != nil {
		return connector.Permanent("build request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.s.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return connector.Retryable("%s %s: %v", method, redactPath(p), err)
	}
	defer resp.Body.Close()
	c.s.recordUsage(c.cfg, c.instance, resp.Header.Get("Sforce-Limit-Info"))
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return connector.Retryable("read response of %s %s: %v", method, redactPath(p), err)
	}
	if resp.StatusCode/100 == 2 {
		if out == nil || len(raw) == 0 {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return connector.Retryable("decode response of %s %s: %v", method, redactPath(p), err)
		}
		return nil
	}
	return httpError(resp, raw, method+" "+redactPath(p))
}

// redactPath keeps SOQL out of error messages (it can hold emails).
func redactPath(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

// httpError classifies a non-2xx REST answer.
func httpError(resp *http.Response, raw []byte, what string) error {
	var errs []sfError
	_ = json.Unmarshal(raw, &errs)
	code, msg := "", strings.TrimSpace(string(raw))
	if len(errs) > 0 {
		code, msg = errs[0].ErrorCode, errs[0].Message
	}
	if len(msg) > 300 {
		msg = msg[:300]
	}
	text := fmt.Sprintf("%s: HTTP %d %s %s", what, resp.StatusCode, code, msg)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || code == "INVALID_SESSION_ID":
		return connector.Unauthorized("%s", text)
	case code == "REQUEST_LIMIT_EXCEEDED" || resp.StatusCode == http.StatusTooManyRequests:
		return connector.RateLimited(retryAfter(resp.Header, time.Minute), "%s", text)
	case resp.StatusCode == http.StatusNotFound:
		return connector.NotFound("%s", text)
	case resp.StatusCode >= 500 || code == "UNABLE_TO_LOCK_ROW" || code == "SERVER_UNAVAILABLE":
		return &connector.Error{Kind: connector.KindRetryable, Message: text, RetryAfter: retryAfter(resp.Header, 0)}
	}
	return connector.Permanent("%s", text)
}

func retryAfter(h http.Header, def time.Duration) time.Duration {
	if v := h.Get("Retry-After"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), time.Second)
		}
	}
	return def
}

// recordError classifies a per-record SaveResult error.
func recordError(e sfError) *connector.Error {
	msg := strings.TrimSpace(e.ErrorCode + " " + e.Message)
	if len(e.Fields) > 0 {
		msg += " [" + strings.Join(e.Fields, ",") + "]"
	}
	switch e.ErrorCode {
	case "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "ALL_OR_NONE_OPERATION_ROLLED_BACK", "TXN_SECURITY_NO_ACCESS_RETRY":
		return connector.Retryable("%s", msg)
	case "REQUEST_LIMIT_EXCEEDED":
		return connector.RateLimited(time.Minute, "%s", msg)
	case "INVALID_SESSION_ID":
		return connector.Unauthorized("%s", msg)
	case "NOT_FOUND":
		return connector.NotFound("%s", msg)
	}
	// INVALID_FIELD, ENTITY_IS_DELETED, INVALID_CROSS_REFERENCE_KEY,
	// MALFORMED_ID, FIELD_CUSTOM_VALIDATION_EXCEPTION, STRING_TOO_LONG,
	// CANNOT_UPDATE_CONVERTED_LEAD, INSUFFICIENT_ACCESS_OR_READONLY, ...:
	// the same record will fail the same way.
	return connector.Permanent("%s", msg)
}

// usageInfo is the org's API consumption from the last Sforce-Limit-Info header.
type usageInfo struct {
	used, max int64
	at        time.Time
}

func usageKey(cfg connector.Config, instance string) string { return cfg.Tenant + "|" + instance }

// recordUsage parses "api-usage=25/15000".
func (s *Salesforce) recordUsage(cfg connector.Config, instance, h string) {
	v, ok := strings.CutPrefix(strings.TrimSpace(h), "api-usage=")
	if !ok {
		return
	}
	a, b, ok := strings.Cut(v, "/")
	used, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	limit, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if !ok || err1 != nil || err2 != nil || limit <= 0 {
		return
	}
	s.usage.Store(usageKey(cfg, instance), usageInfo{used: used, max: limit, at: s.now()})
}

// usageRecheck is how long a ceiling hit blocks calls before one probe.
const usageRecheck = 5 * time.Minute

// overCeiling refuses calls while the org's last reported API usage is at or
// above the tenant's ceiling: the daily allowance is shared with every other
// integration of the org, and exhausting it breaks them too.
func (s *Salesforce) overCeiling(cfg connector.Config, instance string) error {
	v, ok := s.usage.Load(usageKey(cfg, instance))
	if !ok {
		return nil
	}
	u := v.(usageInfo)
	ceiling, _ := strconv.Atoi(cfg.Option(optUsageCeiling, "90"))
	if ceiling <= 0 || ceiling > 100 {
		ceiling = 90
	}
	if u.used*100 < int64(ceiling)*u.max {
		return nil
	}
	if wait := usageRecheck - s.now().Sub(u.at); wait > 0 {
		return connector.RateLimited(wait, "org API usage %d/%d is at or above the %d%% ceiling", u.used, u.max, ceiling)
	}
	s.usage.Delete(usageKey(cfg, instance)) // let one call through to refresh the figure
	return nil
}
