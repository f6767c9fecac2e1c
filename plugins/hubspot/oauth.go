package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/trailspark/trailspark/sdk/connector"
)

// defaultScopes read contacts, companies and deals with their schemas and
// write contacts and companies.
var defaultScopes = []string{
	"oauth",
	"crm.objects.contacts.read", "crm.objects.contacts.write",
	"crm.objects.companies.read", "crm.objects.companies.write",
	"crm.objects.deals.read",
	"crm.schemas.contacts.read", "crm.schemas.companies.read", "crm.schemas.deals.read",
}

func clientCreds(cfg connector.Config, needSecret bool) (id, secret string, err error) {
	id, secret = cfg.Credentials[credClientID], cfg.Credentials[credClientSecret]
	if id == "" {
		return "", "", connector.InvalidConfig("credentials."+credClientID, "the HubSpot app's client id is required for OAuth")
	}
	if needSecret && secret == "" {
		return "", "", connector.InvalidConfig("credentials."+credClientSecret, "the HubSpot app's client secret is required to obtain tokens")
	}
	return id, secret, nil
}

// AuthURL builds the install/authorize URL. The PKCE challenge is passed
// along when the host gives one.
func (h *HubSpot) AuthURL(_ context.Context, cfg connector.Config, req connector.AuthURLRequest) (string, error) {
	id, _, err := clientCreds(cfg, false)
	if err != nil {
		return "", err
	}
	if req.RedirectURI == "" {
		return "", connector.Permanent("redirect URI is required")
	}
	scopes := req.Scopes
	if len(scopes) == 0 {
		scopes = defaultScopes
	}
	q := url.Values{"client_id": {id}, "redirect_uri": {req.RedirectURI}, "scope": {strings.Join(scopes, " ")}, "state": {req.State}}
	if req.CodeChallenge != "" {
		method := req.CodeChallengeMethod
		if method == "" {
			method = "S256"
		}
		q.Set("code_challenge", req.CodeChallenge)
		q.Set("code_challenge_method", method)
	}
	base := cfg.Option(optAuthorizeURL, defaultAuthorizeURL)
	// url.Values encodes spaces as '+'; HubSpot documents %20 between scopes.
	return base + "?" + strings.ReplaceAll(q.Encode(), "+", "%20"), nil
}

func (h *HubSpot) ExchangeCode(ctx context.Context, cfg connector.Config, req connector.ExchangeCodeRequest) (connector.Token, error) {
	id, secret, err := clientCreds(cfg, true)
	if err != nil {
		return connector.Token{}, err
	}
	if req.Code == "" {
		return connector.Token{}, connector.Permanent("authorization code is empty")
	}
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {id}, "client_secret": {secret}, "redirect_uri": {req.RedirectURI}, "code": {req.Code}}
	if req.CodeVerifier != "" {
		form.Set("code_verifier", req.CodeVerifier)
	}
	return h.token(ctx, cfg, form)
}

func (h *HubSpot) Refresh(ctx context.Context, cfg connector.Config, refreshToken string) (connector.Token, error) {
	id, secret, err := clientCreds(cfg, true)
	if err != nil {
		return connector.Token{}, err
	}
	if refreshToken == "" {
		return connector.Token{}, connector.Unauthorized("no refresh token: reconnect the account")
	}
	tok, err := h.token(ctx, cfg, url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "client_secret": {secret}, "refresh_token": {refreshToken}})
	if err == nil && tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	return tok, err
}

func (h *HubSpot) token(ctx context.Context, cfg connector.Config, form url.Values) (connector.Token, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL(cfg)+"/oauth/v1/token", strings.NewReader(form.Encode()))
	if err != nil {
		return connector.Token{}, connector.Permanent("build token request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	req.Header.Set("Accept", "application/json")
	resp, err := h.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return connector.Token{}, ctx.Err()
		}
		return connector.Token{}, connector.Retryable("token endpoint: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
		TokenType    string `json:"token_type"`
		Status       string `json:"status"`
		Message      string `json:"message"`
		Error        string `json:"error"`
	}
	_ = json.Unmarshal(raw, &tr)
	grant := form.Get("grant_type")
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		code := tr.Status
		if code == "" {
			code = tr.Error
		}
		h.log.Warn("token request refused", "tenant", cfg.Tenant, "grant", grant, "status", resp.StatusCode, "error", code)
		switch {
		case resp.StatusCode >= 500:
			return connector.Token{}, connector.Retryable("token endpoint: HTTP %d", resp.StatusCode)
		case resp.StatusCode == http.StatusTooManyRequests:
			return connector.Token{}, connector.RateLimited(rateDelay(resp.Header), "token endpoint: rate limited")
		case code == "BAD_CLIENT_ID" || code == "BAD_CLIENT_SECRET" || code == "invalid_client":
			field := credClientID
			if code == "BAD_CLIENT_SECRET" {
				field = credClientSecret
			}
			return connector.Token{}, connector.InvalidConfig("credentials."+field, "token endpoint: %s: %s", code, tr.Message)
		case code == "BAD_REFRESH_TOKEN" || code == "BAD_AUTH_CODE" || code == "invalid_grant" || resp.StatusCode == http.StatusUnauthorized:
			return connector.Token{}, connector.Unauthorized("token endpoint: %s: %s", code, tr.Message)
		}
		return connector.Token{}, connector.Permanent("token endpoint: HTTP %d %s: %s", resp.StatusCode, code, tr.Message)
	}
	tok := connector.Token{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, TokenType: tr.TokenType}
	if tr.ExpiresIn > 0 {
		tok.Expiry = h.now().Add(time.Duration(tr.ExpiresIn) * time.Second).UTC()
	}
	h.log.Info("token obtained", "tenant", cfg.Tenant, "grant", grant, "expires_in", tr.ExpiresIn)
	return tok, nil
}
