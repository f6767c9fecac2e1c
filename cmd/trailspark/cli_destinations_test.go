package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestDestinationsCLI(t *testing.T) {
	isolate(t)
	var mu sync.Mutex
	var bodies []map[string]any
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		mu.Lock()
		bodies, paths = append(bodies, m), append(paths, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/destinations"):
			w.WriteHeader(201)
			io.WriteString(w, `{"id":"dst_1","name":"hook","kind":"webhook","send_evaluations":true,"create_if_not_found":false,"create_grades":[],"score_band":5,"daily_budget":0,"url":"https://x.test/h","secret_hint":"whsec_AbCd…","secret":"whsec_AbCdEfGhIjKlMnOpQrStUvWxYz0123","created_at":"2026-01-05T09:00:00Z","updated_at":"2026-01-05T09:00:00Z"}`)
		case strings.HasSuffix(r.URL.Path, "/deliveries"):
			io.WriteString(w, `{"items":[{"id":"1887-ev1","destination_id":"dst_1","evaluation_id":"ev_1","lead_id":"lead_1","grade":"hot","score":82,"status":"failed","attempts":2,"next_attempt_at":"2026-01-05T09:01:00Z","error":"receiver answered 500","created_at":"2026-01-05T09:00:00Z","updated_at":"2026-01-05T09:00:00Z"}],"next_cursor":""}`)
		case strings.HasSuffix(r.URL.Path, "/redrive"):
			io.WriteString(w, `{"requeued":3}`)
		default:
			io.WriteString(w, `{"items":[],"next_cursor":""}`)
		}
	}))
	defer srv.Close()
	base := []string{"--server", srv.URL, "--token", "tsp_x", "destinations"}

	r := execCLI(t, "", append(base, "create", "org_1", "--kind", "webhook", "--url", "https://x.test/h", "--name", "hook")...)
	if r.err != nil || !strings.Contains(r.stdout, "whsec_AbCdEfGhIjKlMnOpQrStUvWxYz0123") || !strings.Contains(r.stderr, "not be shown again") {
		t.Fatalf("create: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	mu.Lock()
	if paths[0] != "POST /api/v1/orgs/org_1/destinations?" || bodies[0]["kind"] != "webhook" || bodies[0]["url"] != "https://x.test/h" {
		t.Errorf("create request %v %v", paths[0], bodies[0])
	}
	mu.Unlock()

	r = execCLI(t, "", append(base, "create", "org_1", "--kind", "salesforce", "--connection", "conn_1",
		"--field", "Lead.score=TrailSpark_Score__c", "--field", "Contact.grade=TrailSpark_Grade__c",
		"--propensity-field", "TrailSpark_Propensity__c", "--create-if-not-found", "--create-grades", "hot,warm", "--daily-budget", "5000")...)
	if r.err != nil {
		t.Fatal(r.err)
	}
	mu.Lock()
	b := bodies[len(bodies)-1]
	mu.Unlock()
	f := b["fields"].(map[string]any)
	if f["Lead"].(map[string]any)["score"] != "TrailSpark_Score__c" || f["Contact"].(map[string]any)["grade"] != "TrailSpark_Grade__c" ||
		b["connection_id"] != "conn_1" || b["daily_budget"] != float64(5000) || len(b["create_grades"].([]any)) != 2 {
		t.Errorf("crm body %v", b)
	}
	if r := execCLI(t, "", append(base, "create", "org_1", "--kind", "salesforce", "--field", "Lead=oops")...); r.err == nil {
		t.Error("bad --field accepted")
	}

	r = execCLI(t, "", append(base, "deliveries", "org_1", "dst_1", "--status", "failed")...)
	if r.err != nil || !strings.Contains(r.stdout, "receiver answered 500") || !strings.Contains(r.stdout, "2026-01-05T09:01:00Z") {
		t.Fatalf("deliveries: %v\n%s", r.err, r.stdout)
	}
	mu.Lock()
	if !strings.Contains(paths[len(paths)-1], "status=failed") {
		t.Errorf("deliveries request %s", paths[len(paths)-1])
	}
	mu.Unlock()
	if r := execCLI(t, "", append(base, "deliveries", "org_1", "dst_1", "--status", "lost")...); r.err == nil {
		t.Error("bad --status accepted")
	}
	r = execCLI(t, "", append(base, "redrive", "org_1", "dst_1")...)
	if r.err != nil || !strings.Contains(r.stdout, "Requeued 3") {
		t.Fatalf("redrive: %v %s", r.err, r.stdout)
	}
	r = execCLI(t, "", append(base, "list", "org_1")...)
	if r.err != nil || !strings.Contains(r.stdout, "KIND") {
		t.Fatalf("list: %v %s", r.err, r.stdout)
	}

	r = execCLI(t, "", "destinations", "suggest-fields")
	for _, want := range []string{"TrailSpark_Score__c", "TrailSpark_Evaluation_Date__c", "TrailSpark_Reasoning__c", "TrailSpark_Propensity__c",
		"trailspark_score", "trailspark_propensity", "Object Manager", "Field-Level"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("suggest-fields lacks %q", want)
		}
	}
	r = execCLI(t, "", "destinations", "suggest-fields", "--provider", "hubspot")
	if r.err != nil || strings.Contains(r.stdout, "__c") || !strings.Contains(r.stdout, "trailspark_evaluation_date") {
		t.Fatalf("hubspot: %v %s", r.err, r.stdout)
	}
	if r := execCLI(t, "", "destinations", "suggest-fields", "--provider", "airtable"); r.err == nil {
		t.Error("unknown provider accepted")
	}
}
