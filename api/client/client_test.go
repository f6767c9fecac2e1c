package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// documentedRoutes is the route table of docs/api.md. The OpenAPI document
// must describe exactly these operations (clientRoutes and dataRoutes), and
// the client must call each of clientRoutes.
var documentedRoutes = append(append([]string(nil), clientRoutes...), dataRoutes...)

// dataRoutes are documented routes the client has no method for yet:
// signal ingestion with the key in the path, signals, mapping rules, leads
// and accounts. (The client ingests with the key as a bearer token.)
var dataRoutes = []string{
	"POST /api/signal-staging/webhook/{apiKey}",
	"POST /api/signal-staging/webhook/{source}/{apiKey}",
	"POST /api/signal-staging/webhook/{apiKey}/batch",
	"POST /api/signal-staging/bulk/{apiKey}",
	"GET /api/v1/orgs/{org}/signals",
	"GET /api/v1/orgs/{org}/signals/stats",
	"GET /api/v1/orgs/{org}/signals/{id}",
	"GET /api/v1/orgs/{org}/signal-rules",
	"POST /api/v1/orgs/{org}/signal-rules",
	"GET /api/v1/orgs/{org}/signal-rules/{id}",
	"PUT /api/v1/orgs/{org}/signal-rules/{id}",
	"DELETE /api/v1/orgs/{org}/signal-rules/{id}",
	"GET /api/v1/orgs/{org}/leads",
	"GET /api/v1/orgs/{org}/leads/{id}",
	"GET /api/v1/orgs/{org}/accounts",
	"POST /api/v1/orgs/{org}/accounts",
	"POST /api/v1/orgs/{org}/accounts/import",
	"GET /api/v1/orgs/{org}/accounts/{id}",
}

// clientRoutes are the documented routes the client calls.
var clientRoutes = []string{
	"GET /healthz",
	"GET /readyz",
	"GET /metrics",
	"GET /openapi.yaml",
	"POST /api/v1/auth/register",
	"POST /api/v1/auth/login",
	"POST /api/v1/auth/logout",
	"GET /api/v1/me",
	"POST /api/v1/me/tokens",
	"GET /api/v1/me/tokens",
	"DELETE /api/v1/me/tokens/{id}",
	"GET /api/v1/orgs/subdomain-check",
	"POST /api/v1/orgs",
	"GET /api/v1/orgs",
	"GET /api/v1/orgs/{org}",
	"PATCH /api/v1/orgs/{org}",
	"DELETE /api/v1/orgs/{org}",
	"GET /api/v1/orgs/{org}/members",
	"PATCH /api/v1/orgs/{org}/members/{user}",
	"DELETE /api/v1/orgs/{org}/members/{user}",
	"POST /api/v1/orgs/{org}/transfer-ownership",
	"POST /api/v1/orgs/{org}/invitations",
	"GET /api/v1/orgs/{org}/invitations",
	"POST /api/v1/orgs/{org}/invitations/{id}/resend",
	"POST /api/v1/orgs/{org}/invitations/{id}/cancel",
	"POST /api/v1/orgs/{org}/invitations/accept",
	"POST /api/v1/orgs/{org}/api-keys",
	"GET /api/v1/orgs/{org}/api-keys",
	"GET /api/v1/orgs/{org}/api-keys/{id}",
	"POST /api/v1/orgs/{org}/api-keys/{id}/revoke",
	"POST /api/v1/orgs/{org}/api-keys/{id}/rotate",
	"GET /api/v1/api-keys/self",
	"POST /api/signal-staging/webhook",
	"POST /api/signal-staging/bulk",
}

// ---- the OpenAPI document -------------------------------------------------------------------

// TestOpenAPIDocumentLoads checks api/openapi.yaml structurally with yaml.v3:
// every $ref resolves, every documented route is there (and nothing else),
// every operation has an id, a summary, a 2xx answer, X-Request-Id on every
// answer and the Error schema on every error answer, path parameters are
// declared, and request bodies reject unknown fields. The full validation with
// kin-openapi lives in openapi_kin_test.go (build tag kinopenapi).
func TestOpenAPIDocumentLoads(t *testing.T) {
	raw, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if doc["openapi"] != "3.0.3" {
		t.Errorf("openapi = %v, want 3.0.3", doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Errorf("info needs title and version: %v", info)
	}

	resolve := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		for i := 0; i < 10 && m != nil; i++ {
			ref, ok := m["$ref"].(string)
			if !ok {
				return m
			}
			var cur any = doc
			for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				cm, _ := cur.(map[string]any)
				cur = cm[part]
			}
			m, _ = cur.(map[string]any)
		}
		return m
	}

	// Every $ref points somewhere.
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if !strings.HasPrefix(ref, "#/components/") || resolve(x) == nil {
					t.Errorf("%s: $ref %q does not resolve", path, ref)
				}
			}
			for k, e := range x {
				walk(path+"/"+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("#", doc)

	paths, _ := doc["paths"].(map[string]any)
	var got []string
	opIDs := map[string]string{}
	paramRE := regexp.MustCompile(`\{([^}]+)\}`)
	for p, item := range paths {
		itemM, _ := item.(map[string]any)
		for method, op := range itemM {
			if method == "parameters" {
				continue
			}
			key := strings.ToUpper(method) + " " + p
			got = append(got, key)
			opM, _ := op.(map[string]any)
			id, _ := opM["operationId"].(string)
			if id == "" {
				t.Errorf("%s: no operationId", key)
			} else if prev, dup := opIDs[id]; dup {
				t.Errorf("%s: operationId %q already used by %s", key, id, prev)
			}
			opIDs[id] = key
			if s, _ := opM["summary"].(string); s == "" {
				t.Errorf("%s: no summary", key)
			}

			// Path parameters are declared.
			declared := map[string]bool{}
			for _, list := range []any{itemM["parameters"], opM["parameters"]} {
				ps, _ := list.([]any)
				for _, pv := range ps {
					pm := resolve(pv)
					if pm["in"] == "path" {
						if pm["required"] != true {
							t.Errorf("%s: path parameter %v is not required", key, pm["name"])
						}
						declared[fmt.Sprint(pm["name"])] = true
					}
				}
			}
			for _, m := range paramRE.FindAllStringSubmatch(p, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter {%s} is not declared", key, m[1])
				}
			}

			// Answers.
			responses, _ := opM["responses"].(map[string]any)
			has2xx := false
			for code, rv := range responses {
				r := resolve(rv)
				if r == nil {
					t.Errorf("%s %s: response does not resolve", key, code)
					continue
				}
				if strings.HasPrefix(code, "2") {
					has2xx = true
				}
				hdrs, _ := r["headers"].(map[string]any)
				if hdrs["X-Request-Id"] == nil {
					t.Errorf("%s %s: no X-Request-Id header", key, code)
				}
				if code[0] == '4' || code[0] == '5' {
					content, _ := r["content"].(map[string]any)
					js, _ := content["application/json"].(map[string]any)
					schema, _ := js["schema"].(map[string]any)
					if schema["$ref"] != "#/components/schemas/Error" {
						t.Errorf("%s %s: error answer does not use the Error schema", key, code)
					}
				}
			}
			if !has2xx {
				t.Errorf("%s: no 2xx answer", key)
			}

			// Request bodies reject unknown fields (for an array, in its
			// items), except inbound payloads (signals, Segment calls,
			// product orgs): those are free-form by design.
			if rb, ok := opM["requestBody"]; ok && !freeFormBody(p) {
				content, _ := resolve(rb)["content"].(map[string]any)
				js, _ := content["application/json"].(map[string]any)
				if js == nil { // an upload (multipart/form-data) is held to the same rule
					js, _ = content["multipart/form-data"].(map[string]any)
				}
				schema := resolve(js["schema"])
				if schema["type"] == "array" {
					schema = resolve(schema["items"])
				}
				if schema["additionalProperties"] != false {
					t.Errorf("%s: request body schema allows additional properties", key)
				}
			}
		}
	}
	// Every route the client calls (and every route listed here) is
	// documented. That the document matches the server's router exactly is
	// checked in api/openapi_test.go, against a running node.
	documented := map[string]bool{}
	for _, op := range got {
		documented[op] = true
	}
	for _, r := range documentedRoutes {
		if !documented[r] {
			t.Errorf("%s is not in api/openapi.yaml", r)
		}
	}

	// Response objects stay open so the server may add fields.
	schemas, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, name := range []string{"User", "Organization", "Member", "Invitation", "APIKey", "PersonalAccessToken", "Me"} {
		s, _ := schemas[name].(map[string]any)
		if s == nil {
			t.Errorf("schema %s missing", name)
			continue
		}
		if s["additionalProperties"] == false {
			t.Errorf("response schema %s must not forbid additional properties", name)
		}
	}
}

// ---- a fake server --------------------------------------------------------------------------

type recorded struct {
	Method, Path, Query, Body string
	Header                    http.Header
}

type fake struct {
	mu     sync.Mutex
	reqs   []recorded
	status int
	body   string
	ctype  string
	reqID  string
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b), r.Header.Clone()})
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		id = f.reqID
	}
	w.Header().Set("X-Request-Id", id)
	ct := f.ctype
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(f.status)
	io.WriteString(w, f.body)
}

func (f *fake) set(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.body, f.ctype, f.reqs = status, body, "", nil
}

func (f *fake) last(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("no request reached the fake server")
	}
	return f.reqs[len(f.reqs)-1]
}

func newFake(t *testing.T) (*fake, *httptest.Server) {
	f := &fake{status: 200, reqID: "req_fake"}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// ---- every method ---------------------------------------------------------------------------

var (
	t0   = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	t0s  = `"2025-03-01T12:00:00Z"`
	user = `{"id":"usr_1","email":"ann@acme.io","name":"Ann","created_at":` + t0s + `}`
	org  = `{"id":"org_1","name":"Acme","subdomain":"acme","size":"11-50","industry":"Technology","plan":"free","settings":{},"created_at":` + t0s + `,"updated_at":` + t0s + `,"role":"owner"}`
	mem  = `{"user_id":"usr_2","email":"bob@acme.io","name":"Bob","role":"admin","joined_at":` + t0s + `}`
	inv  = `{"id":"inv_1","email":"cy@acme.io","role":"viewer","status":"pending","invited_by":"usr_1","created_at":` + t0s + `,"expires_at":` + t0s + `}`
	key  = `{"id":"key_1","name":"web","type":"signal_staging","prefix":"sk_AbC12dEf34","has_secret":false,"payload_template":{},"status":"active","created_at":` + t0s + `,"expires_at":null,"last_used_at":null,"revoked_at":null,"rotated_from":null}`
	pat  = `{"id":"pat_1","name":"ci","prefix":"tsp_AbC12dEf","created_at":` + t0s + `,"expires_at":null,"last_used_at":` + t0s + `}`

	accepted  = `{"id":42,"message":"Signal received and queued for processing","source":"segment","cold_storage":false}`
	batchResp = `{"accepted":1,"rejected":1,"results":[{"index":0,"id":7,"source":"generic"},` +
		`{"index":1,"error":{"code":"malformed_json","message":"a signal must be a JSON object, not a number"}}]}`
	bulkResp = `{"accepted":1,"rejected":1,"duplicates":0,"errors":[{"line":2,"error":{"code":"invalid_enum",` +
		`"message":"type must be one of track, page, identify, group, screen, alias","field":"type"}}],"duration_ms":12}`
)

func list(item string) string { return `{"items":[` + item + `],"next_cursor":"c2"}` }

type methodCase struct {
	name   string
	call   func(ctx context.Context, c *Client) (any, error)
	status int
	resp   string
	method string
	path   string // escaped path
	query  string
	body   string // JSON the client must send ("" = no body)
	check  func(t *testing.T, got any)
}

func methodCases() []methodCase {
	exp := t0.Add(720 * time.Hour)
	name := "Acme Inc"
	size := Size51To200
	return []methodCase{
		{name: "Health", call: func(ctx context.Context, c *Client) (any, error) { return c.Health(ctx) },
			resp: `{"status":"ok"}`, method: "GET", path: "/healthz",
			check: func(t *testing.T, got any) { eq(t, got.(*Status).Status, "ok") }},
		{name: "Ready", call: func(ctx context.Context, c *Client) (any, error) { return c.Ready(ctx) },
			resp: `{"status":"ready"}`, method: "GET", path: "/readyz",
			check: func(t *testing.T, got any) { eq(t, got.(*Status).Status, "ready") }},
		{name: "Metrics", call: func(ctx context.Context, c *Client) (any, error) { return c.Metrics(ctx) },
			resp: "# HELP up 1\nup 1\n", method: "GET", path: "/metrics",
			check: func(t *testing.T, got any) { eq(t, got.(string), "# HELP up 1\nup 1\n") }},
		{name: "OpenAPI", call: func(ctx context.Context, c *Client) (any, error) { return c.OpenAPI(ctx) },
			resp: "openapi: 3.0.3\n", method: "GET", path: "/openapi.yaml",
			check: func(t *testing.T, got any) { eq(t, string(got.([]byte)), "openapi: 3.0.3\n") }},
		{name: "Register", call: func(ctx context.Context, c *Client) (any, error) {
			return c.Register(ctx, RegisterRequest{Email: "ann@acme.io", Password: "correct horse", Name: "Ann"})
		}, status: 201, resp: user, method: "POST", path: "/api/v1/auth/register",
			body: `{"email":"ann@acme.io","password":"correct horse","name":"Ann"}`,
			check: func(t *testing.T, got any) {
				u := got.(*User)
				eq(t, u.ID, "usr_1")
				eq(t, u.CreatedAt, t0)
			}},
		{name: "Login", call: func(ctx context.Context, c *Client) (any, error) {
			return c.Login(ctx, LoginRequest{Email: "ann@acme.io", Password: "pw"})
		}, resp: `{"token":"tss_x","expires_at":` + t0s + `,"user":` + user + `}`, method: "POST", path: "/api/v1/auth/login",
			body: `{"email":"ann@acme.io","password":"pw"}`,
			check: func(t *testing.T, got any) {
				r := got.(*LoginResponse)
				eq(t, r.Token, "tss_x")
				eq(t, r.ExpiresAt, t0)
				eq(t, r.User.Email, "ann@acme.io")
			}},
		{name: "Logout", call: func(ctx context.Context, c *Client) (any, error) { return nil, c.Logout(ctx) },
			status: 204, method: "POST", path: "/api/v1/auth/logout"},
		{name: "Me", call: func(ctx context.Context, c *Client) (any, error) { return c.Me(ctx) },
			resp:   `{"user":` + user + `,"operator":false,"memberships":[{"org_id":"org_1","org_name":"Acme","subdomain":"acme","role":"owner"}]}`,
			method: "GET", path: "/api/v1/me",
			check: func(t *testing.T, got any) {
				m := got.(*Me)
				eq(t, m.User.ID, "usr_1")
				eq(t, m.Memberships[0].Role, RoleOwner)
			}},
		{name: "Me operator", call: func(ctx context.Context, c *Client) (any, error) { return c.Me(ctx) },
			resp: `{"user":null,"operator":true,"memberships":[]}`, method: "GET", path: "/api/v1/me",
			check: func(t *testing.T, got any) {
				m := got.(*Me)
				eq(t, m.Operator, true)
				if m.User != nil {
					t.Errorf("user = %+v, want nil", m.User)
				}
			}},
		{name: "CreateToken", call: func(ctx context.Context, c *Client) (any, error) {
			return c.CreateToken(ctx, CreateTokenRequest{Name: "ci", ExpiresAt: &exp})
		}, status: 201, resp: `{"personal_access_token":` + pat + `,"token":"tsp_full"}`, method: "POST", path: "/api/v1/me/tokens",
			body: `{"name":"ci","expires_at":"2025-03-31T12:00:00Z"}`,
			check: func(t *testing.T, got any) {
				r := got.(*PATCreated)
				eq(t, r.Token, "tsp_full")
				eq(t, r.PersonalAccessToken.ID, "pat_1")
				if r.PersonalAccessToken.ExpiresAt != nil {
					t.Error("expires_at: null should decode as nil")
				}
				eq(t, *r.PersonalAccessToken.LastUsedAt, t0)
			}},
		{name: "ListTokens", call: func(ctx context.Context, c *Client) (any, error) {
			return c.ListTokens(ctx, ListOptions{Limit: 10, Cursor: "c1"})
		}, resp: list(pat), method: "GET", path: "/api/v1/me/tokens", query: "cursor=c1&limit=10",
			check: func(t *testing.T, got any) {
				eq(t, got.(*PATList).NextCursor, "c2")
				eq(t, got.(*PATList).Items[0].Name, "ci")
			}},
		{name: "RevokeToken", call: func(ctx context.Context, c *Client) (any, error) { return nil, c.RevokeToken(ctx, "pat_1") },
			status: 204, method: "DELETE", path: "/api/v1/me/tokens/pat_1"},
		{name: "CheckSubdomain", call: func(ctx context.Context, c *Client) (any, error) {
			return c.CheckSubdomain(ctx, "acme", "Acme Inc")
		}, resp: `{"subdomain":"acme","available":false,"reason":"subdomain_taken","suggestion":"acme-inc"}`,
			method: "GET", path: "/api/v1/orgs/subdomain-check", query: "name=Acme+Inc&subdomain=acme",
			check: func(t *testing.T, got any) {
				r := got.(*SubdomainCheck)
				eq(t, r.Available, false)
				eq(t, r.Suggestion, "acme-inc")
			}},
		{name: "CreateOrg", call: func(ctx context.Context, c *Client) (any, error) {
			return c.CreateOrg(ctx, CreateOrgRequest{Name: "Acme", Size: Size11To50, Industry: IndustryTechnology})
		}, status: 201, resp: org, method: "POST", path: "/api/v1/orgs",
			body: `{"name":"Acme","size":"11-50","industry":"Technology"}`,
			check: func(t *testing.T, got any) {
				o := got.(*Organization)
				eq(t, o.ID, "org_1")
				eq(t, o.Role, RoleOwner)
				eq(t, o.UpdatedAt, t0)
			}},
		{name: "ListOrgs", call: func(ctx context.Context, c *Client) (any, error) { return c.ListOrgs(ctx, ListOptions{}) },
			resp: list(org), method: "GET", path: "/api/v1/orgs",
			check: func(t *testing.T, got any) { eq(t, got.(*OrganizationList).Items[0].Subdomain, "acme") }},
		{name: "GetOrg", call: func(ctx context.Context, c *Client) (any, error) { return c.GetOrg(ctx, "org_1") },
			resp: org, method: "GET", path: "/api/v1/orgs/org_1",
			check: func(t *testing.T, got any) { eq(t, got.(*Organization).Name, "Acme") }},
		{name: "GetOrg escapes the segment", call: func(ctx context.Context, c *Client) (any, error) { return c.GetOrg(ctx, "a/b c") },
			resp: org, method: "GET", path: "/api/v1/orgs/a%2Fb%20c"},
		{name: "UpdateOrg", call: func(ctx context.Context, c *Client) (any, error) {
			return c.UpdateOrg(ctx, "org_1", UpdateOrgRequest{Name: &name, Size: &size})
		}, resp: org, method: "PATCH", path: "/api/v1/orgs/org_1", body: `{"name":"Acme Inc","size":"51-200"}`},
		{name: "DeleteOrg", call: func(ctx context.Context, c *Client) (any, error) { return nil, c.DeleteOrg(ctx, "org_1") },
			status: 204, method: "DELETE", path: "/api/v1/orgs/org_1"},
		{name: "ListMembers", call: func(ctx context.Context, c *Client) (any, error) {
			return c.ListMembers(ctx, "org_1", ListOptions{Limit: 200})
		}, resp: list(mem), method: "GET", path: "/api/v1/orgs/org_1/members", query: "limit=200",
			check: func(t *testing.T, got any) {
				m := got.(*MemberList).Items[0]
				eq(t, m.UserID, "usr_2")
				eq(t, m.JoinedAt, t0)
			}},
		{name: "UpdateMemberRole", call: func(ctx context.Context, c *Client) (any, error) {
			return c.UpdateMemberRole(ctx, "org_1", "usr_2", RoleEditor)
		}, resp: mem, method: "PATCH", path: "/api/v1/orgs/org_1/members/usr_2", body: `{"role":"editor"}`},
		{name: "RemoveMember", call: func(ctx context.Context, c *Client) (any, error) {
			return nil, c.RemoveMember(ctx, "org_1", "usr_2")
		}, status: 204, method: "DELETE", path: "/api/v1/orgs/org_1/members/usr_2"},
		{name: "TransferOwnership", call: func(ctx context.Context, c *Client) (any, error) {
			return c.TransferOwnership(ctx, "org_1", "usr_2")
		}, resp: `{"owner":` + mem + `,"removed_user_id":"usr_1"}`, method: "POST", path: "/api/v1/orgs/org_1/transfer-ownership",
			body: `{"user_id":"usr_2"}`,
			check: func(t *testing.T, got any) {
				r := got.(*TransferResult)
				eq(t, r.Owner.UserID, "usr_2")
				eq(t, r.RemovedUserID, "usr_1")
			}},
		{name: "CreateInvitation", call: func(ctx context.Context, c *Client) (any, error) {
			return c.CreateInvitation(ctx, "org_1", CreateInvitationRequest{Email: "cy@acme.io"})
		}, status: 201, resp: `{"invitation":` + inv + `,"token":"tsi_x"}`, method: "POST", path: "/api/v1/orgs/org_1/invitations",
			body: `{"email":"cy@acme.io"}`,
			check: func(t *testing.T, got any) {
				r := got.(*InvitationCreated)
				eq(t, r.Token, "tsi_x")
				eq(t, r.Invitation.Status, InvitationPending)
				eq(t, r.Invitation.ExpiresAt, t0)
			}},
		{name: "ListInvitations", call: func(ctx context.Context, c *Client) (any, error) {
			return c.ListInvitations(ctx, "org_1", ListOptions{})
		}, resp: list(inv), method: "GET", path: "/api/v1/orgs/org_1/invitations"},
		{name: "ResendInvitation", call: func(ctx context.Context, c *Client) (any, error) {
			return c.ResendInvitation(ctx, "org_1", "inv_1")
		}, resp: `{"invitation":` + inv + `,"token":"tsi_y"}`, method: "POST", path: "/api/v1/orgs/org_1/invitations/inv_1/resend",
			check: func(t *testing.T, got any) { eq(t, got.(*InvitationCreated).Token, "tsi_y") }},
		{name: "CancelInvitation", call: func(ctx context.Context, c *Client) (any, error) {
			return c.CancelInvitation(ctx, "org_1", "inv_1")
		}, resp: strings.Replace(inv, "pending", "cancelled", 1), method: "POST", path: "/api/v1/orgs/org_1/invitations/inv_1/cancel",
			check: func(t *testing.T, got any) { eq(t, got.(*Invitation).Status, InvitationCancelled) }},
		{name: "AcceptInvitation", call: func(ctx context.Context, c *Client) (any, error) {
			return c.AcceptInvitation(ctx, "org_1", "tsi_x")
		}, resp: `{"organization":` + org + `,"role":"viewer"}`, method: "POST", path: "/api/v1/orgs/org_1/invitations/accept",
			body: `{"token":"tsi_x"}`,
			check: func(t *testing.T, got any) {
				r := got.(*AcceptResult)
				eq(t, r.Role, RoleViewer)
				eq(t, r.Organization.ID, "org_1")
			}},
		{name: "CreateAPIKey", call: func(ctx context.Context, c *Client) (any, error) {
			return c.CreateAPIKey(ctx, "org_1", CreateAPIKeyRequest{Name: "web", Type: KeyTypeProductOrg, ExpiresAt: &exp,
				WithSecret: true, PayloadTemplate: map[string]any{"source": "web"}})
		}, status: 201, resp: `{"api_key":` + key + `,"key":"sk_full","secret":"s3cr3t"}`, method: "POST", path: "/api/v1/orgs/org_1/api-keys",
			body: `{"name":"web","type":"product_org","expires_at":"2025-03-31T12:00:00Z","with_secret":true,"payload_template":{"source":"web"}}`,
			check: func(t *testing.T, got any) {
				r := got.(*APIKeyCreated)
				eq(t, r.Key, "sk_full")
				eq(t, r.Secret, "s3cr3t")
				eq(t, r.APIKey.Prefix, "sk_AbC12dEf34")
				if r.APIKey.ExpiresAt != nil || r.APIKey.RotatedFrom != nil {
					t.Error("null timestamps should decode as nil")
				}
			}},
		{name: "CreateAPIKey minimal", call: func(ctx context.Context, c *Client) (any, error) {
			return c.CreateAPIKey(ctx, "org_1", CreateAPIKeyRequest{Name: "web"})
		}, status: 201, resp: `{"api_key":` + key + `,"key":"sk_full"}`, method: "POST", path: "/api/v1/orgs/org_1/api-keys",
			body: `{"name":"web"}`},
		{name: "ListAPIKeys", call: func(ctx context.Context, c *Client) (any, error) {
			return c.ListAPIKeys(ctx, "org_1", ListOptions{})
		}, resp: list(key), method: "GET", path: "/api/v1/orgs/org_1/api-keys",
			check: func(t *testing.T, got any) { eq(t, got.(*APIKeyList).Items[0].Status, KeyActive) }},
		{name: "GetAPIKey", call: func(ctx context.Context, c *Client) (any, error) { return c.GetAPIKey(ctx, "org_1", "key_1") },
			resp: key, method: "GET", path: "/api/v1/orgs/org_1/api-keys/key_1"},
		{name: "RevokeAPIKey", call: func(ctx context.Context, c *Client) (any, error) {
			return c.RevokeAPIKey(ctx, "org_1", "key_1")
		}, resp: strings.Replace(strings.Replace(key, `"active"`, `"revoked"`, 1), `"revoked_at":null`, `"revoked_at":`+t0s, 1),
			method: "POST", path: "/api/v1/orgs/org_1/api-keys/key_1/revoke",
			check: func(t *testing.T, got any) {
				k := got.(*APIKey)
				eq(t, k.Status, KeyRevoked)
				eq(t, *k.RevokedAt, t0)
			}},
		{name: "RotateAPIKey", call: func(ctx context.Context, c *Client) (any, error) {
			return c.RotateAPIKey(ctx, "org_1", "key_1")
		}, status: 201, resp: `{"api_key":` + strings.Replace(strings.Replace(key, `"rotated_from":null`, `"rotated_from":"key_1"`, 1), `"id":"key_1"`, `"id":"key_2"`, 1) + `,"key":"sk_new"}`,
			method: "POST", path: "/api/v1/orgs/org_1/api-keys/key_1/rotate",
			check: func(t *testing.T, got any) {
				r := got.(*APIKeyCreated)
				eq(t, r.APIKey.ID, "key_2")
				eq(t, *r.APIKey.RotatedFrom, "key_1")
			}},
		{name: "KeySelf", call: func(ctx context.Context, c *Client) (any, error) { return c.KeySelf(ctx, "") },
			resp: `{"org_id":"org_1","key_id":"key_1","type":"signal_staging","name":"web"}`, method: "GET", path: "/api/v1/api-keys/self",
			check: func(t *testing.T, got any) { eq(t, got.(*KeySelf).OrgID, "org_1") }},
		{name: "IngestSignal", call: func(ctx context.Context, c *Client) (any, error) {
			return c.IngestSignal(ctx, map[string]any{"type": "track", "event": "Demo Requested", "email": "lee@globex.com"}, IngestOptions{})
		}, status: 202, resp: accepted, method: "POST", path: "/api/signal-staging/webhook",
			body: `{"type":"track","event":"Demo Requested","email":"lee@globex.com"}`,
			check: func(t *testing.T, got any) {
				a := got.(*SignalAccepted)
				eq(t, a.ID, uint64(42))
				eq(t, a.Source, "segment")
				eq(t, a.Message, "Signal received and queued for processing")
				eq(t, a.ColdStorage, false)
				eq(t, a.Duplicate, false)
			}},
		{name: "IngestSignal duplicate", call: func(ctx context.Context, c *Client) (any, error) {
			return c.IngestSignal(ctx, json.RawMessage(`{"anonymousId":"a-1","messageId":"m-1"}`), IngestOptions{})
		}, status: 202, resp: strings.Replace(accepted, `false}`, `true,"duplicate":true}`, 1), method: "POST", path: "/api/signal-staging/webhook",
			body: `{"anonymousId":"a-1","messageId":"m-1"}`,
			check: func(t *testing.T, got any) {
				a := got.(*SignalAccepted)
				eq(t, a.ColdStorage, true)
				eq(t, a.Duplicate, true)
			}},
		{name: "IngestBatch", call: func(ctx context.Context, c *Client) (any, error) {
			return c.IngestBatch(ctx, []any{map[string]any{"email": "a@globex.com"}, 42}, IngestOptions{})
		}, status: 202, resp: batchResp, method: "POST", path: "/api/signal-staging/webhook/batch",
			body: `[{"email":"a@globex.com"},42]`,
			check: func(t *testing.T, got any) {
				b := got.(*BatchAccepted)
				eq(t, b.Accepted, 1)
				eq(t, b.Rejected, 1)
				eq(t, b.Results[0].ID, uint64(7))
				eq(t, b.Results[1].Index, 1)
				if b.Results[0].Error != nil || b.Results[1].Error == nil {
					t.Fatalf("results %+v", b.Results)
				}
				eq(t, b.Results[1].Error.Code, "malformed_json")
			}},
		{name: "IngestBatch empty", call: func(ctx context.Context, c *Client) (any, error) {
			return c.IngestBatch(ctx, nil, IngestOptions{})
		}, status: 202, resp: batchResp, method: "POST", path: "/api/signal-staging/webhook/batch", body: `[]`},
		{name: "ImportSignals", call: func(ctx context.Context, c *Client) (any, error) {
			return c.ImportSignals(ctx, []any{map[string]any{"email": "a@globex.com"}, map[string]any{"type": "bogus"}}, IngestOptions{})
		}, resp: bulkResp, method: "POST", path: "/api/signal-staging/bulk",
			body: `[{"email":"a@globex.com"},{"type":"bogus"}]`,
			check: func(t *testing.T, got any) {
				s := got.(*BulkSummary)
				eq(t, s.Accepted, 1)
				eq(t, s.Rejected, 1)
				eq(t, s.Duplicates, 0)
				eq(t, s.DurationMS, int64(12))
				eq(t, len(s.Errors), 1)
				eq(t, s.Errors[0].Line, 2)
				eq(t, s.Errors[0].Error.Field, "type")
			}},
	}
}

func eq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func jsonEqual(t *testing.T, got, want string) {
	t.Helper()
	if got == "" && want == "" {
		return
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("request body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("request body\n got %s\nwant %s", got, want)
	}
}

func TestMethods(t *testing.T) {
	f, srv := newFake(t)
	c := New(srv.URL+"/", "tsp_secret", WithUserAgent("test-agent/1"))
	called := map[string]bool{}
	for _, tc := range methodCases() {
		t.Run(tc.name, func(t *testing.T) {
			status := tc.status
			if status == 0 {
				status = 200
			}
			f.set(status, tc.resp)
			got, err := tc.call(context.Background(), c)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			r := f.last(t)
			eq(t, r.Method, tc.method)
			eq(t, r.Path, tc.path)
			eq(t, r.Query, tc.query)
			jsonEqual(t, r.Body, tc.body)
			eq(t, r.Header.Get("Authorization"), "Bearer tsp_secret")
			eq(t, r.Header.Get("User-Agent"), "test-agent/1")
			if tc.body != "" {
				eq(t, r.Header.Get("Content-Type"), "application/json")
			} else if r.Body != "" {
				t.Errorf("unexpected request body %q", r.Body)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
			called[routeOf(tc.method, tc.path)] = true
		})
	}
	for _, route := range clientRoutes {
		if !called[route] {
			t.Errorf("no client method exercised %s", route)
		}
	}
}

// routeOf maps a concrete request path to the documented route it matches,
// preferring the most literal template.
func routeOf(method, path string) string {
	best, bestParams := "", 99
	for _, r := range documentedRoutes {
		m, tmpl, _ := strings.Cut(r, " ")
		if m != method {
			continue
		}
		re := "^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), `[^/]+`) + "$"
		if regexp.MustCompile(re).MatchString(path) {
			if n := strings.Count(tmpl, "{"); n < bestParams {
				best, bestParams = r, n
			}
		}
	}
	return best
}

// ---- errors ---------------------------------------------------------------------------------

func TestErrorDecode(t *testing.T) {
	f, srv := newFake(t)
	c := New(srv.URL, "tok")
	cases := []struct {
		name     string
		status   int
		body     string
		ctype    string
		want     APIError
		wantText string
	}{
		{"field error", 400,
			`{"error":{"code":"invalid_enum","message":"size must be one of 1-10, 11-50, 51-200, 201-500, 501+","field":"size"}}`, "",
			APIError{Status: 400, Code: "invalid_enum", Message: "size must be one of 1-10, 11-50, 51-200, 201-500, 501+", Field: "size", RequestID: "req_fake"},
			"size must be one of 1-10, 11-50, 51-200, 201-500, 501+ (code invalid_enum, field size, request req_fake)"},
		{"no field", 404, `{"error":{"code":"organization_not_found","message":"organization not found"}}`, "",
			APIError{Status: 404, Code: "organization_not_found", Message: "organization not found", RequestID: "req_fake"},
			"organization not found (code organization_not_found, request req_fake)"},
		{"unknown fields in the error", 409, `{"error":{"code":"subdomain_taken","message":"taken","field":"subdomain","hint":"x"},"extra":true}`, "",
			APIError{Status: 409, Code: "subdomain_taken", Message: "taken", Field: "subdomain", RequestID: "req_fake"},
			"taken (code subdomain_taken, field subdomain, request req_fake)"},
		{"not an API error", 502, "<html>Bad Gateway</html>", "text/html",
			APIError{Status: 502, Message: "HTTP 502 Bad Gateway: <html>Bad Gateway</html>", RequestID: "req_fake"},
			"HTTP 502 Bad Gateway: <html>Bad Gateway</html> (request req_fake)"},
		{"empty body", 503, "", "",
			APIError{Status: 503, Message: "HTTP 503 Service Unavailable", RequestID: "req_fake"},
			"HTTP 503 Service Unavailable (request req_fake)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.set(tc.status, tc.body)
			f.mu.Lock()
			f.ctype = tc.ctype
			f.mu.Unlock()
			_, err := c.GetOrg(context.Background(), "org_1")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %T %v is not an *APIError", err, err)
			}
			if *ae != tc.want {
				t.Errorf("got %+v\nwant %+v", *ae, tc.want)
			}
			eq(t, ae.Error(), tc.wantText)
			eq(t, StatusOf(fmt.Errorf("wrapped: %w", err)), tc.status)
			if tc.want.Code != "" {
				eq(t, IsCode(fmt.Errorf("wrapped: %w", err), tc.want.Code), true)
			}
			eq(t, IsCode(err, "something_else"), false)
		})
	}
	eq(t, IsCode(errors.New("plain"), "x"), false)
	eq(t, IsCode(nil, "x"), false)
}

func TestTransportErrorIsNotAPIError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens any more
	_, err := New(srv.URL, "").Health(context.Background())
	if err == nil {
		t.Fatal("expected an error")
	}
	var ae *APIError
	if errors.As(err, &ae) {
		t.Errorf("a connection failure should not be an *APIError: %v", err)
	}
}

func TestBadJSONInSuccess(t *testing.T) {
	f, srv := newFake(t)
	f.set(200, `{"id": 12`)
	_, err := New(srv.URL, "").GetOrg(context.Background(), "o")
	if err == nil || !strings.Contains(err.Error(), "decoding") {
		t.Fatalf("err = %v, want a decoding error", err)
	}
}

// ---- headers --------------------------------------------------------------------------------

func TestHeaders(t *testing.T) {
	f, srv := newFake(t)
	cases := []struct {
		name      string
		client    *Client
		ctx       context.Context
		wantAuth  string
		wantUA    string
		wantReqID string
	}{
		{"token sent as bearer", New(srv.URL, "tss_abc"), context.Background(), "Bearer tss_abc", DefaultUserAgent, ""},
		{"no token, no header", New(srv.URL, ""), context.Background(), "", DefaultUserAgent, ""},
		{"WithToken swaps the credential", New(srv.URL, "a").WithToken("b"), context.Background(), "Bearer b", DefaultUserAgent, ""},
		{"user agent", New(srv.URL, "t", WithUserAgent("cli/2")), context.Background(), "Bearer t", "cli/2", ""},
		{"request id from context", New(srv.URL, "t"), WithRequestID(context.Background(), "req_mine"), "Bearer t", DefaultUserAgent, "req_mine"},
		{"custom http client", New(srv.URL, "t", WithHTTPClient(&http.Client{Timeout: time.Second})), context.Background(), "Bearer t", DefaultUserAgent, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.set(200, `{"status":"ok"}`)
			if _, err := tc.client.Health(tc.ctx); err != nil {
				t.Fatal(err)
			}
			r := f.last(t)
			eq(t, r.Header.Get("Authorization"), tc.wantAuth)
			eq(t, r.Header.Get("User-Agent"), tc.wantUA)
			eq(t, r.Header.Get("X-Request-Id"), tc.wantReqID)
		})
	}
}

func TestRequestIDCaptured(t *testing.T) {
	f, srv := newFake(t)
	f.set(401, `{"error":{"code":"invalid_token","message":"invalid token"}}`)
	c := New(srv.URL, "bad")
	_, err := c.Me(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatal(err)
	}
	eq(t, ae.RequestID, "req_fake") // generated by the server
	_, err = c.Me(WithRequestID(context.Background(), "req_given"))
	if !errors.As(err, &ae) {
		t.Fatal(err)
	}
	eq(t, ae.RequestID, "req_given") // echoed back
}

func TestKeySelfSecretHeaders(t *testing.T) {
	f, srv := newFake(t)
	c := New(srv.URL, "sk_key")
	f.set(200, `{"org_id":"o","key_id":"k","type":"product_org","name":"n"}`)
	if _, err := c.KeySelf(context.Background(), "s3cr3t"); err != nil {
		t.Fatal(err)
	}
	r := f.last(t)
	eq(t, r.Header.Get("Authorization"), "Bearer sk_key")
	eq(t, r.Header.Get("X-Api-Secret"), "s3cr3t")

	f.set(200, `{"org_id":"o","key_id":"k","type":"product_org","name":"n"}`)
	at := time.Unix(1700000000, 0)
	if _, err := c.KeySelfSigned(context.Background(), "s3cr3t", at); err != nil {
		t.Fatal(err)
	}
	r = f.last(t)
	eq(t, r.Header.Get("X-Api-Secret"), "")
	eq(t, r.Header.Get("X-TrailSpark-Signature"), SignatureHeader("s3cr3t", at, nil))
}

// The ingestion calls send the optional headers, and a signature covers
// exactly the bytes sent (HTML-sensitive characters included).
func TestIngestHeaders(t *testing.T) {
	f, srv := newFake(t)
	c := New(srv.URL, "sk_key")
	ctx := context.Background()
	at := time.Unix(1700000000, 0)
	sig := map[string]any{"email": "a@globex.com", "properties": map[string]any{"q": "a<b&c>d", "n": 1.5}}
	cases := []struct {
		name    string
		status  int
		resp    string
		call    func() error
		path    string
		secret  string // X-Api-Secret
		signed  bool   // X-TrailSpark-Signature over the body with "s3cr3t" at at
		source  string
		idemKey string
	}{
		{"signal, plain", 202, accepted, func() error { _, err := c.IngestSignal(ctx, sig, IngestOptions{}); return err },
			"/api/signal-staging/webhook", "", false, "", ""},
		{"signal, every header", 202, accepted, func() error {
			_, err := c.IngestSignal(ctx, sig, IngestOptions{Secret: "s3cr3t", Source: "website", IdempotencyKey: "ik-1"})
			return err
		}, "/api/signal-staging/webhook", "s3cr3t", false, "website", "ik-1"},
		{"signal, signed", 202, accepted, func() error {
			_, err := c.IngestSignal(ctx, sig, IngestOptions{Secret: "s3cr3t", SignAt: at})
			return err
		}, "/api/signal-staging/webhook", "", true, "", ""},
		{"batch, signed", 202, batchResp, func() error {
			_, err := c.IngestBatch(ctx, []any{sig, sig}, IngestOptions{Secret: "s3cr3t", SignAt: at, IdempotencyKey: "ik-2"})
			return err
		}, "/api/signal-staging/webhook/batch", "", true, "", "ik-2"},
		{"import: never signed, no idempotency key", 200, bulkResp, func() error {
			_, err := c.ImportSignals(ctx, []any{sig}, IngestOptions{Secret: "s3cr3t", SignAt: at, Source: "crm", IdempotencyKey: "ik-3"})
			return err
		}, "/api/signal-staging/bulk", "s3cr3t", false, "crm", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.set(tc.status, tc.resp)
			if err := tc.call(); err != nil {
				t.Fatal(err)
			}
			r := f.last(t)
			eq(t, r.Path, tc.path)
			eq(t, r.Header.Get("Authorization"), "Bearer sk_key")
			eq(t, r.Header.Get("Content-Type"), "application/json")
			eq(t, r.Header.Get("X-Api-Secret"), tc.secret)
			eq(t, r.Header.Get("X-Source"), tc.source)
			eq(t, r.Header.Get("Idempotency-Key"), tc.idemKey)
			want := ""
			if tc.signed {
				want = SignatureHeader("s3cr3t", at, []byte(r.Body))
			}
			eq(t, r.Header.Get("X-TrailSpark-Signature"), want)
		})
	}

	// Refusals are *APIErrors like any other.
	f.set(401, `{"error":{"code":"key_revoked","message":"the API key was revoked"}}`)
	_, err := c.IngestSignal(ctx, sig, IngestOptions{})
	eq(t, IsCode(err, "key_revoked"), true)
	eq(t, StatusOf(err), 401)
	// A signal that cannot be encoded is not sent.
	f.set(202, accepted)
	_, err = c.IngestSignal(ctx, map[string]any{"bad": func() {}}, IngestOptions{})
	if err == nil || !strings.Contains(err.Error(), "encoding") {
		t.Errorf("err = %v, want an encoding error", err)
	}
}

// The ingestion answers decode into the client's types, and those encode
// back into bodies the document's schemas accept.
func TestIngestTypesMatchOpenAPI(t *testing.T) {
	doc := loadKinDoc(t)
	cases := []struct {
		schema string
		body   string
		into   any
	}{
		{"SignalAccepted", accepted, &SignalAccepted{}},
		{"SignalAccepted", strings.Replace(accepted, `false}`, `true,"duplicate":true}`, 1), &SignalAccepted{}},
		{"BatchAccepted", batchResp, &BatchAccepted{}},
		{"BulkSummary", bulkResp, &BulkSummary{}},
		{"BulkSummary", `{"accepted":0,"rejected":0,"duplicates":0,"errors":[],"duration_ms":0}`, &BulkSummary{}},
	}
	for _, tc := range cases {
		t.Run(tc.schema, func(t *testing.T) {
			if err := json.Unmarshal([]byte(tc.body), tc.into); err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(tc.into)
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, string(b), tc.body) // nothing lost or added on the way
			var v any
			_ = json.Unmarshal(b, &v)
			s := doc.Components.Schemas[tc.schema]
			if s == nil {
				t.Fatalf("no schema %s", tc.schema)
			}
			if err := s.Value.VisitJSON(v); err != nil {
				t.Errorf("%s does not match %s: %v", b, tc.schema, err)
			}
		})
	}
}

func TestSignatureHeader(t *testing.T) {
	// printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cr3t
	const want = "t=1700000000,v1=8dbbbbf4523b10bbb793e74d854144c45acccc2d233667b1c06b805b6ded8a84"
	eq(t, SignatureHeader("s3cr3t", time.Unix(1700000000, 0), []byte(`{"a":1}`)), want)
}

// ---- tolerance ------------------------------------------------------------------------------

func TestUnknownFieldsTolerated(t *testing.T) {
	f, srv := newFake(t)
	c := New(srv.URL, "t")
	cases := []struct {
		name string
		resp string
		call func() (any, error)
	}{
		{"organization", strings.TrimSuffix(org, "}") + `,"future":{"nested":[1,2]},"limits":7}`,
			func() (any, error) { return c.GetOrg(context.Background(), "org_1") }},
		{"api key", strings.TrimSuffix(key, "}") + `,"scopes":["a"]}`,
			func() (any, error) { return c.GetAPIKey(context.Background(), "org_1", "key_1") }},
		{"list", `{"items":[` + mem + `],"next_cursor":"","total":1}`,
			func() (any, error) { return c.ListMembers(context.Background(), "org_1", ListOptions{}) }},
		{"me", `{"operator":true,"memberships":[],"session":{"id":"s"}}`,
			func() (any, error) { return c.Me(context.Background()) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.set(200, tc.resp)
			if _, err := tc.call(); err != nil {
				t.Fatalf("unknown fields should be ignored: %v", err)
			}
		})
	}
}

// ---- paging ---------------------------------------------------------------------------------

func TestAllPages(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("cursor") {
		case "":
			io.WriteString(w, `{"items":[`+strings.Replace(org, "org_1", "org_a", 1)+`],"next_cursor":"p2"}`)
		case "p2":
			io.WriteString(w, `{"items":[`+strings.Replace(org, "org_1", "org_b", 1)+`],"next_cursor":"p3"}`)
		case "p3":
			io.WriteString(w, `{"items":[`+strings.Replace(org, "org_1", "org_c", 1)+`],"next_cursor":""}`)
		case "loop":
			io.WriteString(w, `{"items":[],"next_cursor":"loop"}`)
		}
	}))
	defer srv.Close()
	c := New(srv.URL, "t")
	orgs, err := c.AllOrgs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range orgs {
		ids = append(ids, o.ID)
	}
	eq(t, strings.Join(ids, ","), "org_a,org_b,org_c")
	mu.Lock()
	eq(t, strings.Join(seen, " "), "limit=200 cursor=p2&limit=200 cursor=p3&limit=200")
	mu.Unlock()

	// A server that repeats a cursor is reported, not followed forever.
	loop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"items":[],"next_cursor":"same"}`)
	}))
	defer loop.Close()
	if _, err := New(loop.URL, "t").AllMembers(context.Background(), "o"); err == nil || !strings.Contains(err.Error(), "repeated cursor") {
		t.Errorf("err = %v, want a repeated-cursor error", err)
	}

	// Errors on a later page come back with what was collected so far.
	fail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "" {
			io.WriteString(w, `{"items":[`+key+`],"next_cursor":"p2"}`)
			return
		}
		w.WriteHeader(500)
		io.WriteString(w, `{"error":{"code":"internal","message":"boom"}}`)
	}))
	defer fail.Close()
	keys, err := New(fail.URL, "t").AllAPIKeys(context.Background(), "o")
	if !IsCode(err, "internal") || len(keys) != 1 {
		t.Errorf("keys=%d err=%v", len(keys), err)
	}
}

func TestAllHelpersEachRoute(t *testing.T) {
	f, srv := newFake(t)
	c := New(srv.URL, "t")
	ctx := context.Background()
	cases := []struct {
		name, path, resp string
		call             func() (int, error)
	}{
		{"AllTokens", "/api/v1/me/tokens", pat, func() (int, error) { x, err := c.AllTokens(ctx); return len(x), err }},
		{"AllOrgs", "/api/v1/orgs", org, func() (int, error) { x, err := c.AllOrgs(ctx); return len(x), err }},
		{"AllMembers", "/api/v1/orgs/o/members", mem, func() (int, error) { x, err := c.AllMembers(ctx, "o"); return len(x), err }},
		{"AllInvitations", "/api/v1/orgs/o/invitations", inv, func() (int, error) { x, err := c.AllInvitations(ctx, "o"); return len(x), err }},
		{"AllAPIKeys", "/api/v1/orgs/o/api-keys", key, func() (int, error) { x, err := c.AllAPIKeys(ctx, "o"); return len(x), err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.set(200, `{"items":[`+tc.resp+`,`+tc.resp+`],"next_cursor":""}`)
			n, err := tc.call()
			if err != nil {
				t.Fatal(err)
			}
			eq(t, n, 2)
			eq(t, f.last(t).Path, tc.path)
		})
	}
}

// freeFormBody reports routes whose request bodies are inbound payloads.
func freeFormBody(path string) bool {
	for _, p := range []string{"/api/signal-staging/", "/v1/", "/api/product-orgs/"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
