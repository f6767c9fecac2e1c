package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

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

// routeAliases maps router templates that stand for differently named
// documented paths. The router cannot tell {apiKey}/batch from
// {source}/{apiKey} (one handler does: "batch" is never a key), so its two
// webhook templates stand for three documented paths. Nothing else may
// differ.
var routeAliases = map[string][]string{
	"POST /api/signal-staging/webhook/{a}": {
		"POST /api/signal-staging/webhook/{apiKey}",
	},
	"POST /api/signal-staging/webhook/{a}/{b}": {
		"POST /api/signal-staging/webhook/{source}/{apiKey}",
		"POST /api/signal-staging/webhook/{apiKey}/batch",
	},
}

// Every route the server registers is described in openapi.yaml, and
// every described operation exists: the document cannot drift.
func TestEveryRouteIsDocumented(t *testing.T) {
	doc := loadDoc(t)
	n := apitest.Start(t)
	served := map[string]bool{}
	aliased := map[string]bool{}
	for _, r := range n.Server.Routes() {
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		k := r.Method + " " + strings.Join(parts, "/")
		if docPaths, ok := routeAliases[k]; ok {
			aliased[k] = true
			for _, d := range docPaths {
				served[d] = true
			}
			continue
		}
		served[k] = true
	}
	for k := range routeAliases {
		if !aliased[k] {
			t.Errorf("routeAliases: the server no longer registers %s; remove the alias", k)
		}
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

// call is one request of the walk.
type call struct {
	method, path, token string
	// json is marshalled as an application/json body; the request is
	// checked against the document when the server accepts it.
	json any
	// raw is sent as is with Content-Type ctype (json must be nil). Only
	// the response is checked: the document describes CSV and NDJSON
	// bodies as strings, which says nothing worth validating.
	raw   []byte
	ctype string
	// header adds request headers.
	header map[string]string
}

func (v *validator) send(c call) (int, map[string]any) {
	v.t.Helper()
	method, path, body := c.method, c.path, c.json
	raw := c.raw
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, v.url+path, bytes.NewReader(raw))
	switch {
	case body != nil:
		req.Header.Set("Content-Type", "application/json")
	case c.ctype != "":
		req.Header.Set("Content-Type", c.ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, val := range c.header {
		req.Header.Set(k, val)
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
	return v.mustSend(want, call{method: method, path: path, token: token, json: body})
}

func (v *validator) mustSend(want int, c call) map[string]any {
	v.t.Helper()
	got, m := v.send(c)
	if got != want {
		v.t.Fatalf("%s %s = %d, want %d: %v", c.method, c.path, got, want, m)
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
	if plans := v.must(200, "GET", "/api/v1/plans", ann, nil); len(plans["items"].([]any)) != 4 {
		t.Errorf("default plans: %v", plans)
	}
	v.must(401, "GET", "/api/v1/plans", "", nil)
	if cl := v.must(200, "GET", "/api/v1/cluster", op, nil); len(cl["members"].([]any)) != 1 {
		t.Errorf("single-node cluster view: %v", cl)
	}
	v.must(403, "GET", "/api/v1/cluster", ann, nil)
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

	// ---- signals in, mapping rules, leads and accounts
	base := "/api/v1/orgs/" + orgID
	ing := v.must(201, "POST", base+"/api-keys", ann, map[string]any{"name": "ingest"})["key"].(string)
	rule := v.must(201, "POST", base+"/signal-rules", ann, map[string]any{
		"name": "Demo requests", "signal_type": "form_fill", "description": "Demo form or enterprise pricing",
		"high_intent": true, "priority": 10, "weight": 6.5,
		"conditions": map[string]any{"any": []any{
			map[string]any{"path": "event", "op": "equals", "value": "Demo Requested"},
			map[string]any{"all": []any{
				map[string]any{"path": "properties.plan", "op": "in", "value": []any{"enterprise", "team"}},
				map[string]any{"path": "email", "op": "exists"},
			}},
		}},
		"mappings": []any{
			map[string]any{"path": "email", "target": "email"},
			map[string]any{"path": "properties.title", "target": "title"},
		},
	})
	ruleID := rule["id"].(string)
	v.must(400, "POST", base+"/signal-rules", ann, map[string]any{"name": "Anonymous", "signal_type": "page_view",
		"mappings": []any{map[string]any{"path": "anonymousId", "target": "cdp_id"}}})
	v.must(400, "POST", base+"/signal-rules", ann, map[string]any{"name": "Typo", "signal_type": "page_view", "wieght": 1,
		"mappings": []any{map[string]any{"path": "email", "target": "email"}}})
	v.must(200, "GET", base+"/signal-rules", ann, nil)
	v.must(200, "GET", base+"/signal-rules?limit=1", bob, nil)
	v.must(200, "GET", base+"/signal-rules/"+ruleID, ann, nil)
	v.must(404, "GET", base+"/signal-rules/rule_missing", ann, nil)

	hook := "/api/signal-staging/webhook/"
	demo := map[string]any{"type": "track", "event": "Demo Requested", "email": "lee@globex.com", "messageId": "msg-1",
		"properties": map[string]any{"title": "CTO", "plan": "enterprise"}, "timestamp": "2030-01-01T12:00:00Z"}
	first := v.must(202, "POST", hook+ing, "", demo)
	sigID := fmt.Sprintf("%.0f", first["id"].(float64))
	if dup := v.must(202, "POST", hook+ing, "", demo); dup["duplicate"] != true || dup["id"] != first["id"] {
		t.Errorf("a repeated messageId: %v, want a duplicate of %v", dup, first)
	}
	v.must(202, "POST", hook+"HubSpot/"+ing, "", map[string]any{"email": "kim@initech.com", "event": "Form Submitted", "portalId": 42})
	v.mustSend(202, call{method: "POST", path: hook + ing, json: map[string]any{"event": "Signed Up", "userId": 1234, "sentAt": 1893499200},
		header: map[string]string{"X-Source": "website", "Idempotency-Key": "signup-1234"}})
	v.mustSend(202, call{method: "POST", path: hook + rot["key"].(string), json: map[string]any{"anonymousId": "anon-1", "event": "Visited"},
		header: map[string]string{"X-Api-Secret": rot["secret"].(string)}})
	v.must(401, "POST", hook+rot["key"].(string), "", map[string]any{"anonymousId": "anon-1"})
	v.must(401, "POST", hook+"sk_nope", "", demo)
	v.must(401, "POST", hook+plain["key"].(string), "", demo)
	v.must(400, "POST", hook+"bad.source/"+ing, "", demo)
	v.must(400, "POST", hook+ing, "", map[string]any{"type": "bogus", "email": "lee@globex.com"})
	v.mustSend(400, call{method: "POST", path: hook + ing, raw: []byte(`[{"email":"lee@globex.com"}]`), ctype: "application/json"})
	v.mustSend(415, call{method: "POST", path: hook + ing, raw: []byte(`<signal/>`), ctype: "application/xml"})
	v.mustSend(413, call{method: "POST", path: hook + ing, raw: []byte(`{"pad":"` + strings.Repeat("x", 33<<10) + `"}`), ctype: "application/json"})

	batch := v.must(202, "POST", hook+ing+"/batch", "", []any{
		map[string]any{"type": "page", "name": "Pricing", "email": "lee@globex.com", "messageId": "msg-2"},
		map[string]any{"type": "bogus", "email": "max@globex.com"},
		map[string]any{"anonymousId": "anon-2", "event": "Visited"},
	})
	if batch["accepted"] != 2.0 || batch["rejected"] != 1.0 {
		t.Errorf("batch: %v, want 2 accepted and 1 rejected", batch)
	}
	v.mustSend(202, call{method: "POST", path: hook + ing + "/batch",
		json:   map[string]any{"batch": []any{map[string]any{"type": "identify", "userId": "u-7", "traits": map[string]any{"email": "pat@umbrella.com"}}}, "sentAt": "2030-01-01T12:00:00Z"},
		header: map[string]string{"X-Source": "segment", "Idempotency-Key": "batch-1"}})
	v.must(400, "POST", hook+ing+"/batch", "", map[string]any{"batch": []any{}})
	v.must(401, "POST", hook+"sk_nope/batch", "", []any{demo})

	// The same with the key as a bearer token.
	bearerHook := "/api/signal-staging/webhook"
	if a := v.must(202, "POST", bearerHook, ing, map[string]any{"type": "track", "event": "Demo Requested",
		"email": "kim@initech.com", "messageId": "msg-bearer-1"}); a["source"] != "segment" || a["cold_storage"] != false {
		t.Errorf("bearer webhook: %v", a)
	}
	if dup := v.must(202, "POST", bearerHook, ing, demo); dup["duplicate"] != true || dup["id"] != first["id"] {
		t.Errorf("bearer webhook, repeated messageId: %v, want a duplicate of %v", dup, first)
	}
	v.mustSend(202, call{method: "POST", path: bearerHook, token: rot["key"].(string), json: map[string]any{"anonymousId": "anon-3"},
		header: map[string]string{"X-Api-Secret": rot["secret"].(string), "X-Source": "website", "Idempotency-Key": "bearer-1"}})
	v.must(401, "POST", bearerHook, "", demo)
	v.must(401, "POST", bearerHook, plain["key"].(string), demo)
	v.must(401, "POST", bearerHook, rot["key"].(string), demo)
	v.mustSend(400, call{method: "POST", path: bearerHook, token: ing, json: demo, header: map[string]string{"X-Source": "not a source"}})
	v.mustSend(400, call{method: "POST", path: bearerHook, token: ing, raw: []byte(`{"email":`), ctype: "application/json"})
	v.mustSend(415, call{method: "POST", path: bearerHook, token: ing, raw: []byte(`<signal/>`), ctype: "application/xml"})
	v.mustSend(413, call{method: "POST", path: bearerHook, token: ing, raw: []byte(`{"pad":"` + strings.Repeat("x", 33<<10) + `"}`), ctype: "application/json"})
	// The batch form with a bearer key, POST /api/signal-staging/webhook/batch,
	// is served (by the {apiKey} route: "batch" is never a key) but has no
	// operation of its own in the document: its router would take it for
	// ingestSignal with apiKey "batch" and check the batch answer against
	// SignalAccepted. It is exercised outside the validator here (and in
	// api_ingest_test.go).
	{
		req, _ := http.NewRequest("POST", n.URL+bearerHook+"/batch", strings.NewReader(`[{"email":"lee@globex.com","event":"Batched"}]`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+ing)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&b)
		resp.Body.Close()
		if resp.StatusCode != 202 || b["accepted"] != 1.0 {
			t.Errorf("POST %s/batch with a bearer key: %d %v", bearerHook, resp.StatusCode, b)
		}
	}

	bulk := "/api/signal-staging/bulk/"
	ndjson := `{"type":"track","event":"Demo Requested","email":"ann.lee@globex.com","messageId":"msg-3"}` + "\n" +
		`{"type":"track","event":"Demo Requested","email":"lee@globex.com","messageId":"msg-1"}` + "\n" +
		`{"type": "track",` + "\n" +
		"\n" +
		`{"email":"bo@initech.com","event":"Webinar Attended"}` + "\n"
	sum := v.mustSend(200, call{method: "POST", path: bulk + ing, raw: []byte(ndjson), ctype: "application/x-ndjson"})
	if sum["accepted"] != 2.0 || sum["duplicates"] != 1.0 || sum["rejected"] != 1.0 {
		t.Errorf("bulk NDJSON: %v, want 2 accepted, 1 duplicate, 1 rejected", sum)
	}
	// Each import is a job.
	jobID, _ := sum["job_id"].(string)
	v.must(200, "GET", base+"/jobs/"+jobID, ann, nil)
	v.must(200, "GET", base+"/jobs?limit=1", ann, nil)
	v.must(400, "GET", base+"/jobs?limit=0", ann, nil)
	v.must(404, "GET", base+"/jobs/job_nope", ann, nil)
	v.must(401, "GET", base+"/jobs", "", nil)
	v.must(200, "POST", bulk+ing, "", []any{map[string]any{"email": "ann.lee@globex.com", "event": "Pricing Viewed", "source": "website"}})
	v.mustSend(400, call{method: "POST", path: bulk + ing, raw: []byte(ndjson), ctype: "application/x-ndjson",
		header: map[string]string{"X-TrailSpark-Signature": "t=1,v1=00"}})
	v.mustSend(401, call{method: "POST", path: bulk + "sk_nope", raw: []byte(ndjson), ctype: "application/x-ndjson"})

	// Bulk with the key as a bearer token.
	bearerBulk := "/api/signal-staging/bulk"
	sum = v.mustSend(200, call{method: "POST", path: bearerBulk, token: ing, raw: []byte(ndjson), ctype: "application/x-ndjson"})
	if sum["accepted"] != 1.0 || sum["duplicates"] != 2.0 || sum["rejected"] != 1.0 {
		t.Errorf("bearer bulk NDJSON: %v, want 1 accepted (the line without a messageId), 2 duplicates, 1 rejected", sum)
	}
	v.mustSend(200, call{method: "POST", path: bearerBulk, token: rot["key"].(string), json: []any{map[string]any{"email": "max@globex.com", "event": "Trial Started"}},
		header: map[string]string{"X-Api-Secret": rot["secret"].(string), "X-Source": "website"}})
	v.mustSend(400, call{method: "POST", path: bearerBulk, token: ing, raw: []byte(ndjson), ctype: "application/x-ndjson",
		header: map[string]string{"X-TrailSpark-Signature": "t=1,v1=00"}})
	v.mustSend(401, call{method: "POST", path: bearerBulk, raw: []byte(ndjson), ctype: "application/x-ndjson"})
	v.mustSend(401, call{method: "POST", path: bearerBulk, token: rot["key"].(string), raw: []byte(ndjson), ctype: "application/x-ndjson"})

	// The 202 came once the signal was durable; processing follows.
	var sig map[string]any
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		sig = v.must(200, "GET", base+"/signals/"+sigID, ann, nil)
		if sig["status"] == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("signal %s is still %v after 5 s", sigID, sig["status"])
		}
	}
	if sig["rule_id"] != ruleID {
		t.Errorf("signal %s: rule_id %v, want %s", sigID, sig["rule_id"], ruleID)
	}
	leadID := sig["lead_id"].(string)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st := v.must(200, "GET", base+"/signals/stats", ann, nil); st["pending"] == 0.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("signals still pending after 5 s")
		}
	}
	v.must(200, "GET", base+"/signals", ann, nil)
	v.must(200, "GET", base+"/signals?status=completed&source=segment&rule_id="+ruleID+"&lead_id="+leadID+"&limit=10", bob, nil)
	v.must(400, "GET", base+"/signals?cursor=abc", ann, nil)
	v.must(400, "GET", base+"/signals?limit=0", ann, nil)
	v.must(404, "GET", base+"/signals/999999", ann, nil)

	v.must(200, "GET", base+"/leads", ann, nil)
	v.must(200, "GET", base+"/leads?limit=1", ann, nil)
	if found := v.must(200, "GET", base+"/leads?email=LEE@globex.com", ann, nil); len(found["items"].([]any)) != 1 {
		t.Errorf("leads by email: %v, want one", found)
	}
	v.must(200, "GET", base+"/leads/"+leadID, ann, nil)
	v.must(404, "GET", base+"/leads/lead_missing", ann, nil)
	v.must(400, "GET", base+"/leads?limit=500", ann, nil)

	// Merge two leads and undo it.
	all := v.must(200, "GET", base+"/leads?limit=200", ann, nil)["items"].([]any)
	var other string
	for _, it := range all {
		if id := it.(map[string]any)["id"].(string); id != leadID {
			other = id
			break
		}
	}
	if other == "" {
		t.Fatal("the walk needs two leads to merge")
	}
	m := v.must(201, "POST", base+"/leads/"+leadID+"/merge", ann, map[string]any{"merge_lead_id": other, "reason": "same person, two emails"})
	mergeID := m["id"].(string)
	v.must(400, "POST", base+"/leads/"+leadID+"/merge", ann, map[string]any{"merge_lead_id": leadID, "reason": "self"})
	v.must(200, "GET", base+"/merges", ann, nil)
	v.must(200, "GET", base+"/merges/"+mergeID, ann, nil)
	v.must(200, "POST", base+"/merges/"+mergeID+"/undo", ann, nil)
	v.must(409, "POST", base+"/merges/"+mergeID+"/undo", ann, nil)

	acct := v.must(201, "POST", base+"/accounts", ann, map[string]any{"name": "Initech", "domain": "https://www.initech.com/about",
		"industry": "Software", "employees": 1200, "region": "US", "external_id": "crm-42", "attributes": map[string]any{"tier": "gold"}})
	v.must(201, "POST", base+"/accounts", bob, map[string]any{"name": "Vandelay", "employees": nil, "attributes": nil})
	v.must(400, "POST", base+"/accounts", ann, map[string]any{"name": "Initech", "website": "initech.com"})
	v.mustSend(415, call{method: "POST", path: base + "/accounts", token: ann, raw: []byte("name\nInitech\n"), ctype: "text/csv"})
	imp := v.mustSend(200, call{method: "POST", path: base + "/accounts/import", token: ann, ctype: "text/csv",
		raw: []byte("Company,Website,Employees,Country\nUmbrella,umbrella.com,\"5,000\",UK\n,nameless.com,3,FR\n")})
	if imp["created"] != 1.0 || imp["failed"] != 1.0 {
		t.Errorf("CSV import: %v, want 1 created and 1 failed", imp)
	}
	imp = v.must(200, "POST", base+"/accounts/import", ann, []any{
		map[string]any{"name": "Hooli", "domain": "hooli.xyz", "employees": 30000},
		map[string]any{"name": "Nowhere", "domain": "not a domain"},
	})
	if imp["created"] != 1.0 || imp["failed"] != 1.0 {
		t.Errorf("JSON import: %v, want 1 created and 1 failed", imp)
	}
	v.mustSend(400, call{method: "POST", path: base + "/accounts/import", token: ann, raw: []byte("website\numbrella.com\n"), ctype: "text/csv"})
	v.mustSend(415, call{method: "POST", path: base + "/accounts/import", token: ann, raw: []byte("<accounts/>"), ctype: "application/xml"})
	v.must(200, "GET", base+"/accounts", ann, nil)
	v.must(200, "GET", base+"/accounts?limit=2", ann, nil)
	v.must(200, "GET", base+"/accounts/"+acct["id"].(string), ann, nil)
	if id, ok := sig["account_id"].(string); ok {
		v.must(200, "GET", base+"/accounts/"+id, ann, nil) // inferred from globex.com
	}
	v.must(404, "GET", base+"/accounts/acct_missing", ann, nil)

	v.must(200, "PUT", base+"/signal-rules/"+ruleID, ann, map[string]any{
		"name": "Demo requests (Segment)", "signal_type": "sales_event", "source": "segment", "weight": nil,
		"half_life_hours": 72, "negative": false, "conditions": map[string]any{},
		"mappings": []any{map[string]any{"path": "email", "target": "email"}},
	})
	v.must(404, "PUT", base+"/signal-rules/rule_missing", ann, map[string]any{"name": "x", "signal_type": "page_view",
		"mappings": []any{map[string]any{"path": "email", "target": "email"}}})
	v.must(200, "GET", base+"/signal-queue?scan=100", ann, nil)
	v.must(400, "GET", base+"/signal-queue?scan=0", ann, nil)
	v.must(200, "POST", base+"/signal-rules/preview", ann, map[string]any{"rule": map[string]any{
		"name": "Preview", "signal_type": "page_view",
		"conditions": map[string]any{"path": "event", "op": "equals", "value": "Viewed"},
		"mappings":   []any{map[string]any{"path": "email", "target": "email"}}}, "last": 100})
	v.must(400, "POST", base+"/signal-rules/preview", ann, map[string]any{"rule": map[string]any{"name": ""}})
	v.must(200, "POST", base+"/signals/process?wait=5", ann, nil)
	rj := v.must(202, "POST", base+"/signal-rules/"+ruleID+"/reprocess", ann, map[string]any{"last": 50})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if j := v.must(200, "GET", base+"/jobs/"+rj["job_id"].(string), ann, nil); j["status"] != "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("reprocess job still running after 10 s")
		}
	}
	v.must(204, "DELETE", base+"/signal-rules/"+ruleID, ann, nil)
	v.must(404, "DELETE", base+"/signal-rules/"+ruleID, ann, nil)

	v.must(200, "POST", "/api/v1/orgs/"+orgID+"/transfer-ownership", ann, map[string]any{"user_id": bobUser})
	v.must(404, "GET", "/api/v1/orgs/"+orgID, ann, nil)
	v.must(409, "DELETE", "/api/v1/orgs/"+orgID+"/members/"+bobUser, bob, nil)
	v.must(204, "DELETE", "/api/v1/orgs/"+orgID, bob, nil)
	v.must(404, "GET", "/api/v1/orgs/"+orgID, bob, nil)
	v.must(204, "POST", "/api/v1/auth/logout", bob, nil)
	v.must(401, "GET", "/api/v1/me", bob, nil)

	// Every documented operation was exercised at least once, here or by
	// the walk that owns it (each of those checks its own operations).
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if walk := otherWalk(path); walk != "" {
				continue
			}
			if !v.seen[method+" "+path] {
				t.Errorf("operation %s %s not exercised by this test", method, path)
			}
		}
	}
}

// otherWalk names the validating walk that exercises the operations under
// path when it is not TestResponsesMatchOpenAPI; each of those walks fails
// on its own operations left unexercised.
func otherWalk(path string) string {
	switch {
	case strings.HasPrefix(path, "/v1/"), strings.HasPrefix(path, "/api/product-orgs/"),
		strings.HasPrefix(path, "/api/v1/orgs/{org}/product-orgs"):
		return "TestProductOrgAndSegmentOpenAPI"
	case strings.Contains(path, "/destinations"):
		return "TestDestinationsOpenAPI"
	case strings.Contains(path, "/billing") || strings.HasSuffix(path, "/usage") || strings.HasSuffix(path, "/invoices"):
		return "TestBillingOpenAPI"
	case strings.HasPrefix(path, "/api/signal-staging/connector/"):
		return "TestConnectorTranslatedIngestion"
	case scoringPath(path):
		return "TestScoringOpenAPI"
	case strings.Contains(path, "/connections") || strings.HasPrefix(path, "/api/oauth/"):
		return "TestConnectionsOpenAPI"
	case strings.HasPrefix(path, "/api/v1/plugins"):
		// Needs a node with a plugins directory and a built connector.
		return "TestPluginsAdministration (cmd/trailspark; validates against the Plugin schema)"
	}
	return ""
}
