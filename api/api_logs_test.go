package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/trailspark/trailspark/engine/credential"
)

// TestNoSecretsInLogs runs every credential through the API and then reads
// the node's whole log: no secret may appear, and every request line names
// its request id and route template.
func TestNoSecretsInLogs(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner") // register + login
	invitee := e.user("invitee")

	var pat struct {
		Token string `json:"token"`
	}
	e.ok(e.do("POST", "/api/v1/me/tokens", owner.Token, map[string]string{"name": "ci"}), 201, &pat)
	e.ok(e.do("GET", "/api/v1/me", pat.Token, nil), 200, nil)
	o := e.org(owner, "Loggy")
	kc := e.key(o.ID, pat.Token, map[string]any{"name": "signed", "with_secret": true})
	ic := e.invite(o.ID, owner.Token, invitee.Email, "editor")

	// The key checks itself every way, right and wrong.
	e.ok(e.self(kc.Key, withHeader("X-Api-Secret", kc.Secret)), 200, nil)
	e.ok(e.self(kc.Key, withHeader("X-TrailSpark-Signature", credential.Sign(kc.Secret, e.n.Clock.Now(), nil))), 200, nil)
	e.fails(e.self(kc.Key), 401, "secret_required", "")
	e.fails(e.self(kc.Key, withHeader("X-Api-Secret", kc.Secret+"typo")), 401, "secret_invalid", "")
	// A key in a path (as ingestion URLs carry it) and in a query.
	e.fails(e.do("POST", "/api/signal-staging/webhook/"+kc.Key, "", map[string]string{}), 401, "secret_required", "")
	e.fails(e.do("POST", "/api/signal-staging/nope/"+kc.Key, "", map[string]string{}), 404, "route_not_found", "")
	e.ok(e.do("GET", "/api/v1/orgs/subdomain-check?subdomain=abc&name="+kc.Key, owner.Token, nil), 200, nil)
	// Tokens used where they do not belong.
	e.fails(e.do("GET", "/api/v1/me", kc.Key, nil), 401, "invalid_token", "")
	e.fails(e.do("GET", "/api/v1/me", ic.Token, nil), 401, "invalid_token", "")
	e.fails(e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": owner.Email, "password": owner.Password + "x"}),
		401, "invalid_credentials", "")
	e.fails(e.do("POST", "/api/v1/auth/register", "", map[string]string{"email": owner.Email, "password": owner.Password, "name": "Again"}),
		409, "email_taken", "email")
	e.ok(e.accept(o.ID, invitee, ic.Token), 200, nil)
	e.ok(e.do("GET", "/api/v1/orgs/"+o.ID+"/members", e.n.OperatorToken, nil), 200, nil)
	e.fails(e.do("GET", "/api/v1/orgs/"+o.ID+"/members", e.n.OperatorToken+"x", nil), 401, "invalid_token", "")
	// A client-chosen request id is echoed and logged; a dangerous one is replaced.
	r := e.do("GET", "/api/v1/me", owner.Token, nil, withHeader("X-Request-Id", "trace-abc.123"))
	if got := r.Header.Get("X-Request-Id"); got != "trace-abc.123" {
		t.Errorf("X-Request-Id %q, want the client's", got)
	}
	r = e.do("GET", "/api/v1/me", owner.Token, nil, withHeader("X-Request-Id", owner.Password+" \"injected\""))
	if got := r.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, "injected") {
		t.Errorf("X-Request-Id %q: an unsafe client id was kept", got)
	}
	e.ok(e.do("POST", "/api/v1/auth/logout", owner.Token, nil), 204, nil)
	e.fails(e.do("GET", "/api/v1/me", owner.Token, nil), 401, "invalid_token", "")

	logs := e.n.Logs.String()
	assertAbsent(t, "the log", []string{logs}, map[string]string{
		"password":                  owner.Password,
		"invitee password":          invitee.Password,
		"session token":             owner.Token,
		"session token (secret)":    owner.Token[len("tss_")+10:],
		"personal access token":     pat.Token,
		"PAT (secret)":              pat.Token[len("tsp_")+10:],
		"sk_ key":                   kc.Key,
		"sk_ key (secret)":          kc.Key[len("sk_")+10:],
		"key secret":                kc.Secret,
		"invitation token":          ic.Token,
		"invitation token (secret)": ic.Token[len("tsi_")+10:],
		"operator token":            e.n.OperatorToken,
		"operator token (secret)":   e.n.OperatorToken[len("tso_")+10:],
		"email (clear)":             owner.Email,
		"invitee email (clear)":     invitee.Email,
	})

	// Every request line has a request id and a route template (never a raw path).
	seen := map[string]bool{}
	routes := map[string]bool{}
	lines := 0
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if m["@message"] != "request" {
			continue
		}
		lines++
		id, _ := m["request_id"].(string)
		route, _ := m["route"].(string)
		if id == "" || route == "" {
			t.Errorf("request line without request_id or route: %s", line)
		}
		if route != "unmatched" && !strings.HasPrefix(route, "/") {
			t.Errorf("odd route %q", route)
		}
		for _, raw := range []string{o.ID, kc.APIKey.ID, ic.Invitation.ID, owner.ID, "?"} {
			if strings.Contains(route, raw) {
				t.Errorf("route %q is a raw path, not a template", route)
			}
		}
		if _, ok := m["status"].(float64); !ok {
			t.Errorf("request line without status: %s", line)
		}
		seen[id] = true
		routes[route] = true
	}
	e.mu.Lock()
	ids := append([]string(nil), e.reqIDs...)
	e.mu.Unlock()
	if lines != len(ids) {
		t.Errorf("%d request lines for %d requests", lines, len(ids))
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("request %s is not in the log", id)
		}
	}
	if !seen["trace-abc.123"] {
		t.Error("the client's request id is not in the log")
	}
	for _, want := range []string{"/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/me/tokens", "/api/v1/orgs",
		"/api/v1/orgs/:org/api-keys", "/api/v1/orgs/:org/invitations", "/api/v1/orgs/:org/invitations/accept",
		"/api/v1/orgs/:org/members", "/api/v1/api-keys/self", "/api/v1/orgs/subdomain-check", "/api/v1/auth/logout", "unmatched"} {
		if !routes[want] {
			t.Errorf("no request line for route %s", want)
		}
	}
}

// TestNoSecretsInLogsFromPathParams: a credential pasted where an id goes
// (a confused client, a copy-paste slip) must not reach the log either:
// the access log adds path parameters next to the route template.
func TestNoSecretsInLogsFromPathParams(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner")
	o := e.org(owner, "Slip")
	kc := e.key(o.ID, owner.Token, nil)
	e.fails(e.do("GET", "/api/v1/orgs/"+kc.Key, owner.Token, nil), 404, "organization_not_found", "")
	e.fails(e.do("GET", "/api/v1/orgs/"+kc.Key+"/api-keys", owner.Token, nil), 404, "organization_not_found", "")
	e.fails(e.do("GET", "/api/v1/orgs/"+owner.Token+"/members", owner.Token, nil), 404, "organization_not_found", "")
	// Ids in other slots are not logged at all.
	e.fails(e.do("GET", "/api/v1/orgs/"+o.ID+"/api-keys/"+kc.Key, owner.Token, nil), 404, "api_key_not_found", "")
	leaks := findSecrets("the log", []string{e.n.Logs.String()}, map[string]string{
		"sk_ key":       kc.Key[len("sk_")+10:],
		"session token": owner.Token[len("tss_")+10:],
	})
	if len(leaks) > 0 {
		for _, l := range leaks {
			t.Error(l)
		}
		t.Fatal("a credential put in the {org} path slot reached the log")
	}
}
