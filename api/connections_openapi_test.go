package api_test

import (
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// TestConnectionsOpenAPI validates every connection operation's responses
// (successes and typical errors) against api/openapi.yaml, on a node with
// real connector plugins (the CSV example and Salesforce against a fake).
func TestConnectionsOpenAPI(t *testing.T) {
	doc := loadDoc(t)
	doc.Servers = openapi3.Servers{{URL: "http://trailspark.local"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	e := pluginNode(t)
	f := newFakeSF(t)
	v := &validator{t: t, router: router, url: e.n.URL, seen: map[string]bool{}}
	v.must(201, "POST", "/api/v1/auth/register", "", map[string]any{"email": "sam@acme.io", "password": "correct horse", "name": "Sam"})
	tok := v.must(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": "sam@acme.io", "password": "correct horse"})["token"].(string)
	orgID := v.must(201, "POST", "/api/v1/orgs", tok, map[string]any{"name": "Acme", "size": "11-50", "industry": "Technology", "plan": "scale"})["id"].(string)
	base := "/api/v1/orgs/" + orgID + "/connections"

	dir := t.TempDir()
	writeCSV(t, filepath.Join(dir, "accounts.csv"), "id,name,domain,industry,employees,segment", "acc-1,Acme Corp,acme.com,Manufacturing,1200,Enterprise")
	writeCSV(t, filepath.Join(dir, "contacts.csv"), "id,email,first_name,last_name,title,account_id", "c-1,ann@acme.com,Ann,Lee,VP Sales,acc-1")

	v.must(200, "GET", base, tok, nil)
	v.must(401, "GET", base, "", nil)
	v.must(400, "POST", base, tok, map[string]any{"provider": "nope"})
	csv := v.must(201, "POST", base, tok, map[string]any{"provider": "csv", "name": "CSV", "options": map[string]any{"directory": dir},
		"credentials": map[string]any{"api_key": "k-123"}})["id"].(string)
	cb := base + "/" + csv
	v.must(200, "GET", cb, tok, nil)
	v.must(404, "GET", base+"/conn_00000000000000000000", tok, nil)
	v.must(200, "PATCH", cb, tok, map[string]any{"name": "CSV export", "sync_interval_minutes": 60})
	v.must(400, "PATCH", cb, tok, map[string]any{"sync_interval_minutes": 1})
	v.must(200, "POST", cb+"/test", tok, nil)
	v.must(200, "GET", cb+"/metadata", tok, nil)
	v.must(200, "GET", cb+"/sync", tok, nil)
	v.must(400, "PUT", cb+"/mapping", tok, map[string]any{"account": map[string]any{"name": map[string]any{"field": "nope"}},
		"lead": map[string]any{"email": map[string]any{"field": "email"}}})
	v.must(409, "POST", cb+"/sync", tok, nil)
	v.must(200, "PUT", cb+"/mapping", tok, map[string]any{"account": map[string]any{"name": map[string]any{"field": "name"},
		"domain": map[string]any{"field": "domain"}}, "lead": map[string]any{"email": map[string]any{"field": "email"},
		"account_ref": map[string]any{"field": "account_id"}}})
	v.must(202, "POST", cb+"/sync", tok, map[string]any{"page_size": 10})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if v.must(200, "GET", cb+"/sync", tok, nil)["running"] == false {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sync still running")
		}
	}
	v.must(200, "POST", cb+"/sync/cancel", tok, nil)
	v.must(409, "POST", cb+"/analyze", tok, nil) // the CSV connector reads no opportunities
	v.must(200, "POST", cb+"/disconnect", tok, nil)
	v.must(204, "DELETE", cb, tok, nil)
	v.must(404, "DELETE", cb, tok, nil)

	// Salesforce through OAuth.
	sf := v.must(201, "POST", base, tok, map[string]any{"provider": "salesforce", "options": map[string]any{"login_url": f.srv.URL},
		"credentials": map[string]any{"client_id": f.clientID}})["id"].(string)
	sb := base + "/" + sf
	start := v.must(200, "POST", sb+"/oauth/start", tok, map[string]any{"redirect_uri": "https://app.example.com/api/oauth/callback/salesforce"})
	v.must(400, "POST", sb+"/oauth/start", tok, map[string]any{"redirect_uri": "https://evil.example.com/elsewhere"})
	u, _ := url.Parse(start["authorization_url"].(string))
	f.mu.Lock()
	f.challenge, f.redirectURI = u.Query().Get("code_challenge"), u.Query().Get("redirect_uri")
	f.mu.Unlock()
	v.must(400, "GET", "/api/oauth/callback/salesforce?code=x&state=unknown", "", nil)
	v.must(200, "GET", "/api/oauth/callback/salesforce?code=sf-auth-code-1&state="+url.QueryEscape(u.Query().Get("state")), "", nil)
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	f.add("Account", "001000000000001", t0, map[string]any{"Name": "Hooli", "Website": "hooli.com", "Industry": "Software", "NumberOfEmployees": 5000})
	f.add("Opportunity", "006000000000001", t0, map[string]any{"Name": "Deal", "AccountId": "001000000000001", "StageName": "Closed Won",
		"IsWon": true, "IsClosed": true, "Amount": 100, "CloseDate": "2025-12-01"})
	v.must(200, "PUT", sb+"/mapping", tok, map[string]any{"account": map[string]any{"name": map[string]any{"field": "Name"},
		"industry": map[string]any{"field": "Industry", "fallback": "Industry"}}, "lead": map[string]any{"email": map[string]any{"field": "Email"}}})
	v.must(409, "POST", sb+"/analyze", tok, nil) // no destination yet
	v.must(201, "POST", "/api/v1/orgs/"+orgID+"/destinations", tok, map[string]any{"kind": "webhook", "url": "http://127.0.0.1:9/sparksense"})
	v.must(200, "POST", sb+"/analyze", tok, map[string]any{"unit": "account"})
	v.must(201, "POST", sb+"/analyze", tok, map[string]any{"create": true, "name": "From Salesforce"})

	for path, item := range doc.Paths.Map() {
		if otherWalk(path) != "TestConnectionsOpenAPI" {
			continue
		}
		for method := range item.Operations() {
			if !v.seen[method+" "+path] {
				t.Errorf("operation %s %s not exercised by this test", method, path)
			}
		}
	}
}
