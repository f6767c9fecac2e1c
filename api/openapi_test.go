package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/trailspark/trailspark/api"
	"github.com/trailspark/trailspark/api/apitest"
)

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI: %v", err)
	}
	return doc
}

// Every route the server registers is described in openapi.yaml, and
// every described operation exists: the document cannot drift.
func TestEveryRouteIsDocumented(t *testing.T) {
	doc := loadDoc(t)
	n := apitest.Start(t)
	served := map[string]bool{}
	for _, r := range n.Server.Routes() {
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		served[r.Method+" "+strings.Join(parts, "/")] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes not described in api/openapi.yaml:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("operations in api/openapi.yaml that the server does not serve:\n  %s", strings.Join(extra, "\n  "))
	}
}

// validator checks every response of a real node against the document.
type validator struct {
	t      *testing.T
	router routers.Router
	url    string
	seen   map[string]bool
}

func (v *validator) do(method, path, token string, body any) (int, map[string]any) {
	v.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, v.url+path, bytes.NewReader(raw))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	respBody, _ := io.ReadAll(resp.Body)

	// Route against the document using the path without the server prefix.
	vreq, _ := http.NewRequest(method, "http://trailspark.local"+path, bytes.NewReader(raw))
	vreq.Header = req.Header.Clone()
	route, params, err := v.router.FindRoute(vreq)
	if err != nil {
		v.t.Fatalf("%s %s: not in the document: %v", method, path, err)
	}
	v.seen[method+" "+route.Path] = true
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if body != nil && resp.StatusCode < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			v.t.Errorf("%s %s: request does not match the document: %v", method, path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
		Header: resp.Header, Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		v.t.Errorf("%s %s -> %d: response does not match the document: %v\nbody: %s", method, path, resp.StatusCode, err, respBody)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		v.t.Errorf("%s %s: no X-Request-Id", method, path)
	}
	m := map[string]any{}
	_ = json.Unmarshal(respBody, &m)
	return resp.StatusCode, m
}

func (v *validator) must(want int, method, path, token string, body any) map[string]any {
	v.t.Helper()
	got, m := v.do(method, path, token, body)
	if got != want {
		v.t.Fatalf("%s %s = %d, want %d: %v", method, path, got, want, m)
	}
	return m
}

// A walk through every operation, successes and typical errors, with each
// response validated against api/openapi.yaml.
func TestResponsesMatchOpenAPI(t *testing.T) {
	doc := loadDoc(t)
	doc.Servers = openapi3.Servers{{URL: "http://trailspark.local"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	n := apitest.Start(t)
	v := &validator{t: t, router: router, url: n.URL, seen: map[string]bool{}}
	op := n.OperatorToken

	v.must(200, "GET", "/healthz", "", nil)
	v.must(200, "GET", "/readyz", "", nil)
	v.must(200, "GET", "/openapi.yaml", "", nil)
	v.must(200, "GET", "/metrics", "", nil)

	v.must(201, "POST", "/api/v1/auth/register", "", map[string]any{"email": "ann@acme.io", "password": "correct horse", "name": "Ann"})
	v.must(409, "POST", "/api/v1/auth/register", "", map[string]any{"email": "ann@acme.io", "password": "correct horse", "name": "Ann"})
	v.must(400, "POST", "/api/v1/auth/register", "", map[string]any{"email": "nope", "password": "correct horse", "name": "Ann"})
	v.must(201, "POST", "/api/v1/auth/register", "", map[string]any{"email": "bob@acme.io", "password": "correct horse", "name": "Bob"})
	v.must(401, "POST", "/api/v1/auth/login", "", map[string]any{"email": "ann@acme.io", "password": "wrong password"})
	ann := v.must(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": "ann@acme.io", "password": "correct horse"})["token"].(string)
	bob := v.must(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": "bob@acme.io", "password": "correct horse"})["token"].(string)
	bobUser := v.must(200, "GET", "/api/v1/me", bob, nil)["user"].(map[string]any)["id"].(string)
	v.must(200, "GET", "/api/v1/me", op, nil)
	v.must(401, "GET", "/api/v1/me", "", nil)

	pat := v.must(201, "POST", "/api/v1/me/tokens", ann, map[string]any{"name": "script", "expires_at": "2031-01-01T00:00:00Z"})
	v.must(200, "GET", "/api/v1/me/tokens", ann, nil)
	v.must(204, "DELETE", "/api/v1/me/tokens/"+pat["personal_access_token"].(map[string]any)["id"].(string), ann, nil)
	v.must(404, "DELETE", "/api/v1/me/tokens/pat_missing", ann, nil)

	v.must(200, "GET", "/api/v1/orgs/subdomain-check?name=Acme%20Corp", ann, nil)
	org := v.must(201, "POST", "/api/v1/orgs", ann, map[string]any{"name": "Acme Corp", "size": "11-50", "industry": "Technology"})
	orgID := org["id"].(string)
	v.must(409, "POST", "/api/v1/orgs", ann, map[string]any{"name": "Acme Corp", "size": "11-50", "industry": "Technology"})
	v.must(400, "POST", "/api/v1/orgs", ann, map[string]any{"name": "Acme", "size": "12", "industry": "Technology"})
	v.must(201, "POST", "/api/v1/orgs", op, map[string]any{"name": "Other", "size": "1-10", "industry": "Other", "owner_email": "bob@acme.io"})
	v.must(200, "GET", "/api/v1/orgs", ann, nil)
	v.must(200, "GET", "/api/v1/orgs?limit=1", op, nil)
	v.must(200, "GET", "/api/v1/orgs/"+orgID, ann, nil)
	v.must(404, "GET", "/api/v1/orgs/"+orgID, bob, nil)
	v.must(200, "PATCH", "/api/v1/orgs/"+orgID, ann, map[string]any{"name": "Acme Inc"})

	inv := v.must(201, "POST", "/api/v1/orgs/"+orgID+"/invitations", ann, map[string]any{"email": "bob@acme.io", "role": "editor"})
	invID := inv["invitation"].(map[string]any)["id"].(string)
	v.must(200, "GET", "/api/v1/orgs/"+orgID+"/invitations", ann, nil)
	tok := v.must(200, "POST", "/api/v1/orgs/"+orgID+"/invitations/"+invID+"/resend", ann, nil)["token"].(string)
	v.must(403, "POST", "/api/v1/orgs/"+orgID+"/invitations/accept", ann, map[string]any{"token": tok})
	v.must(200, "POST", "/api/v1/orgs/"+orgID+"/invitations/accept", bob, map[string]any{"token": tok})
	inv2 := v.must(201, "POST", "/api/v1/orgs/"+orgID+"/invitations", ann, map[string]any{"email": "cy@acme.io"})
	v.must(200, "POST", "/api/v1/orgs/"+orgID+"/invitations/"+inv2["invitation"].(map[string]any)["id"].(string)+"/cancel", ann, nil)

	v.must(200, "GET", "/api/v1/orgs/"+orgID+"/members", bob, nil)
	v.must(403, "PATCH", "/api/v1/orgs/"+orgID+"/members/"+bobUser, bob, map[string]any{"role": "admin"})
	v.must(200, "PATCH", "/api/v1/orgs/"+orgID+"/members/"+bobUser, ann, map[string]any{"role": "admin"})

	key := v.must(201, "POST", "/api/v1/orgs/"+orgID+"/api-keys", ann, map[string]any{"name": "prod", "with_secret": true})
	keyID := key["api_key"].(map[string]any)["id"].(string)
	v.must(200, "GET", "/api/v1/orgs/"+orgID+"/api-keys", ann, nil)
	v.must(200, "GET", "/api/v1/orgs/"+orgID+"/api-keys/"+keyID, ann, nil)
	v.must(401, "GET", "/api/v1/api-keys/self", key["key"].(string), nil)
	rot := v.must(201, "POST", "/api/v1/orgs/"+orgID+"/api-keys/"+keyID+"/rotate", ann, nil)
	v.must(200, "POST", "/api/v1/orgs/"+orgID+"/api-keys/"+keyID+"/revoke", ann, nil)
	v.must(409, "POST", "/api/v1/orgs/"+orgID+"/api-keys/"+keyID+"/rotate", ann, nil)
	plain := v.must(201, "POST", "/api/v1/orgs/"+orgID+"/api-keys", ann, map[string]any{"name": "plain", "type": "product_org",
		"payload_template": map[string]any{"product_org_id": "workspace.id"}})
	v.must(200, "GET", "/api/v1/api-keys/self", plain["key"].(string), nil)
	_ = rot

	v.must(200, "POST", "/api/v1/orgs/"+orgID+"/transfer-ownership", ann, map[string]any{"user_id": bobUser})
	v.must(404, "GET", "/api/v1/orgs/"+orgID, ann, nil)
	v.must(409, "DELETE", "/api/v1/orgs/"+orgID+"/members/"+bobUser, bob, nil)
	v.must(204, "DELETE", "/api/v1/orgs/"+orgID, bob, nil)
	v.must(404, "GET", "/api/v1/orgs/"+orgID, bob, nil)
	v.must(204, "POST", "/api/v1/auth/logout", bob, nil)
	v.must(401, "GET", "/api/v1/me", bob, nil)

	// Every documented operation was exercised at least once.
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !v.seen[method+" "+path] {
				t.Errorf("operation %s %s not exercised by this test", method, path)
			}
		}
	}
}
