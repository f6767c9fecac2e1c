package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trailspark/trailspark/sdk/connector"
)

// defaultScopes: REST access plus a refresh token.
var defaultScopes = []string{"api", "refresh_token"}

// loginURL is the OAuth host: options.login_url (My Domain, tests), else
// test.salesforce.com for sandboxes, else login.salesforce.com.
func loginURL(cfg connector.Config) string {
	if v := cfg.Options[optLoginURL]; v != "" {
		return strings.TrimRight(v, "/")
	}
	if cfg.Option(optSandbox, "false") == "true" {
		return sandboxHost
	}
	return loginHost
}

func clientID(cfg connector.Config) (string, error) {
	id := cfg.Credentials[credClientID]
	if id == "" {
		return "", connector.InvalidConfig("credentials."+credClientID, "the connected app's consumer key is required for OAuth")
	}
	return id, nil
}

// AuthURL builds the web-server flow authorization URL with the host's PKCE
// challenge.
func (s *Salesforce) AuthURL(_ context.Context, cfg connector.Config, req connector.AuthURLRequest) (string, error) {
	id, err := clientID(cfg)
	if err != nil {
		return "", err
	}
	if req.RedirectURI == "" {
		return "", connector.Permanent("redirect URI is required")
	}
	if req.CodeChallenge == "" {
		return "", connector.Permanent("a PKCE code challenge is required")
	}
	method := req.CodeChallengeMethod
	if method == "" {
		method = "S256"
	}
	if method != "S256" {
		return "", connector.Permanent("PKCE method %q: only S256 is used", method)
	}
	scopes := req.Scopes
	if len(scopes) == 0 {
		scopes = defaultScopes
	}
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {id},
		"redirect_uri":          {req.RedirectURI},
		"state":                 {req.State},
		"code_challenge":        {req.CodeChallenge},
		"code_challenge_method": {method},
		"scope":                 {strings.Join(scopes, " ")},
	}
	return loginURL(cfg) + "/services/oauth2/authorize?" + q.Encode(), nil
}

// ExchangeCode trades the authorization code and PKCE verifier for tokens.
func (s *Salesforce) ExchangeCode(ctx context.Context, cfg connector.Config, req connector.ExchangeCodeRequest) (connector.Token, error) {
	id, err := clientID(cfg)
	if err != nil {
		return connector.Token{}, err
	}
	if req.Code == "" {
		return connector.Token{}, connector.Permanent("authorization code is empty")
	}
	form := url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {req.Code},
		"client_id":    {id},
		"redirect_uri": {req.RedirectURI},
	}
	if req.CodeVerifier != "" {
		form.Set("code_verifier", req.CodeVerifier)
	}
	if sec := cfg.Credentials[credClientSecret]; sec != "" {
		form.Set("client_secret", sec)
	}
	return s.token(ctx, cfg, form)
}

// Refresh gets a new access token. Salesforce keeps the refresh token; the
// returned Token carries the old one so the host can store the set as is.
func (s *Salesforce) Refresh(ctx context.Context, cfg connector.Config, refreshToken string) (connector.Token, error) {
	id, err := clientID(cfg)
	if err != nil {
		return connector.Token{}, err
	}
	if refreshToken == "" {
		return connector.Token{}, connector.Unauthorized("no refresh token: reconnect the org")
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {id}}
	if sec := cfg.Credentials[credClientSecret]; sec != "" {
		form.Set("client_secret", sec)
	}
	tok, err := s.token(ctx, cfg, form)
	if err == nil && tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	return tok, err
}

// tokenResponse is the token endpoint's answer (and its error shape).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	InstanceURL  string `json:"instance_url"`
	ID           string `json:"id"`
	TokenType    string `json:"token_type"`
	IssuedAt     string `json:"issued_at"` // milliseconds since the epoch, as a string
	Scope        string `json:"scope"`
	Signature    string `json:"signature"`

	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func (s *Salesforce) token(ctx context.Context, cfg connector.Config, form url.Values) (connector.Token, error) {
	endpoint := loginURL(cfg) + "/services/oauth2/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return connector.Token{}, connector.Permanent("build token request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return connector.Token{}, ctx.Err()
		}
		return connector.Token{}, connector.Retryable("token endpoint: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tr tokenResponse
	_ = json.Unmarshal(raw, &tr)
	grant := form.Get("grant_type")
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		s.log.Warn("token request refused", "tenant", cfg.Tenant, "grant", grant, "status", resp.StatusCode, "error", tr.Error)
		switch {
		case resp.StatusCode >= 500:
			return connector.Token{}, connector.Retryable("token endpoint: HTTP %d", resp.StatusCode)
		case tr.Error == "invalid_client_id" || tr.Error == "invalid_client":
			return connector.Token{}, connector.InvalidConfig("credentials."+credClientID, "token endpoint: %s: %s", tr.Error, tr.Description)
		case tr.Error == "invalid_grant" || resp.StatusCode == http.StatusUnauthorized:
			return connector.Token{}, connector.Unauthorized("token endpoint: %s: %s", tr.Error, tr.Description)
		case tr.Error == "rate_limit_exceeded" || resp.StatusCode == http.StatusTooManyRequests:
			return connector.Token{}, connector.RateLimited(retryAfter(resp.Header, time.Minute), "token endpoint: %s", tr.Error)
		}
		return connector.Token{}, connector.Permanent("token endpoint: HTTP %d %s: %s", resp.StatusCode, tr.Error, tr.Description)
	}
	if tr.InstanceURL == "" {
		return connector.Token{}, connector.Permanent("token endpoint returned no instance_url")
	}
	tok := connector.Token{
		AccessToken:  tr.AccessToken,
		RefreshToken: tr.RefreshToken,
		TokenType:    tr.TokenType,
		InstanceURL:  tr.InstanceURL,
		Extra:        map[string]string{},
	}
	if tr.Scope != "" {
		tok.Scopes = strings.Fields(tr.Scope)
	}
	if tr.ID != "" {
		tok.Extra["id"] = tr.ID // identity URL: org and user ids
	}
	if ms, err := strconv.ParseInt(tr.IssuedAt, 10, 64); err == nil {
		tok.Extra["issued_at"] = time.UnixMilli(ms).UTC().Format(time.RFC3339)
	}
	// Salesforce does not return expires_in: the session lasts as long as
	// the org's session timeout. The host refreshes on KindUnauthorized.
	s.log.Info("token obtained", "tenant", cfg.Tenant, "grant", grant, "instance", tr.InstanceURL)
	return tok, nil
}
