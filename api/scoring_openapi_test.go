package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/trailspark/trailspark/api/apitest"
)

// scoringPath reports whether a documented path belongs to the scoring
// walk below.
func scoringPath(path string) bool {
	for _, p := range []string{"/settings", "/evaluation-rules", "/icp-models", "/evaluations", "/feedback", "/refinements", "/evaluate"} {
		if strings.Contains(path, p) {
			return true
		}
	}
	return false
}

// TestScoringOpenAPI validates every scoring operation's responses
// (success and errors) against api/openapi.yaml.
func TestScoringOpenAPI(t *testing.T) {
	doc := loadDoc(t)
	doc.Servers = openapi3.Servers{{URL: "http://trailspark.local"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	n := apitest.Start(t)
	v := &validator{t: t, router: router, url: n.URL, seen: map[string]bool{}}
	v.must(201, "POST", "/api/v1/auth/register", "", map[string]any{"email": "sam@acme.io", "password": "correct horse", "name": "Sam"})
	tok := v.must(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": "sam@acme.io", "password": "correct horse"})["token"].(string)
	orgID := v.must(201, "POST", "/api/v1/orgs", tok, map[string]any{"name": "Acme", "size": "11-50", "industry": "Technology", "plan": "scale"})["id"].(string)
	base := "/api/v1/orgs/" + orgID
	key := v.must(201, "POST", base+"/api-keys", tok, map[string]any{"name": "web"})["key"].(string)

	v.must(200, "GET", base+"/settings", tok, nil)
	v.must(200, "PUT", base+"/settings", tok, map[string]any{"min_signals": 2, "min_signal_types": 1})
	v.must(400, "PUT", base+"/settings", tok, map[string]any{"lookback_days": 0})
	v.must(401, "GET", base+"/settings", "", nil)

	v.must(200, "GET", base+"/evaluation-rules", tok, nil)
	v.must(200, "PUT", base+"/evaluation-rules", tok, map[string]any{"rules": []any{map[string]any{
		"integration": "trailspark", "object": "lead", "field": "email_domain", "operator": "not_equals", "value": "competitor.com"}}})
	v.must(400, "PUT", base+"/evaluation-rules", tok, map[string]any{"rules": []any{map[string]any{"integration": "x"}}})

	models := v.must(200, "GET", base+"/icp-models", tok, nil)
	starter := models["items"].([]any)[0].(map[string]any)["id"].(string)
	v.must(200, "GET", base+"/icp-models/"+starter, tok, nil)
	v.must(200, "GET", base+"/icp-models/"+starter+"/quality", tok, nil)
	v.must(404, "GET", base+"/icp-models/icp_nope/quality", tok, nil)
	v.must(404, "GET", base+"/icp-models/icp_nope", tok, nil)
	m := v.must(201, "POST", base+"/icp-models", tok, map[string]any{"name": "v2", "definition": map[string]any{
		"account": map[string]any{"industries": []any{map[string]any{"value": "Software"}}}}})
	v.must(400, "POST", base+"/icp-models", tok, map[string]any{"definition": map[string]any{"intercept": 99}})
	v.must(200, "POST", base+"/icp-models/"+m["id"].(string)+"/activate", tok, nil)
	v.must(200, "POST", base+"/icp-models/parse-text", tok, map[string]any{"text": "software companies in Germany"})
	v.must(400, "POST", base+"/icp-models/parse-text", tok, map[string]any{"text": ""})
	v.must(201, "POST", base+"/icp-models", tok, map[string]any{"text": "fintech, 50-500 employees"})
	body, ctype := multipartBody(t, map[string]string{"create": "true"}, map[string]string{
		"accounts": "account,sector\nAcme,software\n", "opportunities": "account,deal_stage\nAcme,Won\nAcme,Lost\n"})
	v.mustSend(201, call{method: "POST", path: base + "/icp-models/analyze", token: tok, raw: body, ctype: ctype})
	body, ctype = multipartBody(t, map[string]string{"preview_only": "true"}, map[string]string{
		"accounts": "account,sector\nAcme,software\n", "opportunities": "account,deal_stage\nAcme,Won\n"})
	v.mustSend(200, call{method: "POST", path: base + "/icp-models/analyze", token: tok, raw: body, ctype: ctype})
	v.mustSend(400, call{method: "POST", path: base + "/icp-models/analyze", token: tok, raw: body[:len(body)/2], ctype: ctype})
	v.must(200, "POST", base+"/icp-models/"+starter+"/activate", tok, nil)

	v.must(202, "POST", "/api/signal-staging/webhook/"+key, "", map[string]any{"email": "lee@globex.com", "event": "Form Submitted"})
	v.must(202, "POST", "/api/signal-staging/webhook/"+key, "", map[string]any{"email": "lee@globex.com", "event": "Trial Started"})
	var leadID, evID string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		l := v.must(200, "GET", base+"/leads?email=lee@globex.com", tok, nil)["items"].([]any)
		if len(l) == 1 {
			if ev, ok := l[0].(map[string]any)["evaluation"].(map[string]any); ok {
				leadID, evID = l[0].(map[string]any)["id"].(string), ev["id"].(string)
				break
			}
		}
	}
	if evID == "" {
		t.Fatal("lead not evaluated")
	}
	v.must(200, "GET", base+"/leads/"+leadID, tok, nil)
	v.must(200, "GET", base+"/evaluations", tok, nil)
	v.must(200, "GET", base+"/evaluations?lead_id="+leadID, tok, nil)
	v.must(200, "GET", base+"/evaluations/"+evID, tok, nil)
	v.must(404, "GET", base+"/evaluations/ev_nope", tok, nil)
	v.must(200, "GET", base+"/leads/"+leadID+"/evaluations", tok, nil)
	v.must(201, "POST", base+"/leads/"+leadID+"/evaluate", tok, nil)
	v.must(404, "POST", base+"/leads/lead_nope/evaluate", tok, nil)

	v.must(409, "POST", base+"/refinements/preview", tok, nil)
	v.must(400, "POST", base+"/evaluations/"+evID+"/feedback", tok, map[string]any{"reason": "short", "expected_grade": "hot"})
	v.must(201, "POST", base+"/evaluations/"+evID+"/feedback", tok, map[string]any{"reason": "Their CTO asked for a quote", "expected_grade": "hot"})
	v.must(409, "POST", base+"/evaluations/"+evID+"/feedback", tok, map[string]any{"reason": "Their CTO asked for a quote", "expected_grade": "hot"})
	v.must(200, "GET", base+"/feedback", tok, nil)
	v.must(400, "GET", base+"/feedback?status=maybe", tok, nil)
	v.must(200, "POST", base+"/refinements/preview", tok, nil)
	v.must(201, "POST", base+"/refinements", tok, nil)
	v.must(409, "POST", base+"/refinements", tok, nil)

	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if otherWalk(path) == "TestScoringOpenAPI" && !v.seen[method+" "+path] {
				t.Errorf("operation %s %s not exercised by this test", method, path)
			}
		}
	}
}
