package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/outbox"
	"github.com/trailspark/trailspark/engine/score"
	"github.com/trailspark/trailspark/sdk/connector"
)

// fakeHubSpot implements the CRM v3 endpoints the HubSpot connector's
// Write and Metadata use, with HubSpot's documented shapes: property
// definitions (GET /crm/v3/properties/{object}), batch update by record id
// or by a unique property (idProperty=email), and batch upsert by email.
// A batch with per-input failures answers 207 Multi-Status with an errors
// list naming the inputs in its context; a fully successful one 200.
type fakeHubSpot struct {
	mu      sync.Mutex
	objects map[string]map[string]map[string]string // object → id → properties
	n       int
	calls   []string // path and input count of each batch call
}

func (f *fakeHubSpot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer hs-token" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"status":"error","category":"INVALID_AUTHENTICATION","message":"bad token"}`))
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && len(parts) == 4 && parts[1] == "v3" && parts[2] == "properties":
		props := []map[string]any{{"name": "email", "label": "Email", "type": "string", "fieldType": "text"}}
		switch parts[3] {
		case "contacts":
			props = append(props,
				map[string]any{"name": "trailspark_score", "label": "Score", "type": "number", "fieldType": "number"},
				map[string]any{"name": "trailspark_grade", "label": "Grade", "type": "enumeration", "fieldType": "select",
					"options": []map[string]string{{"label": "Hot", "value": "hot"}, {"label": "Warm", "value": "warm"}, {"label": "Cold", "value": "cold"}}},
				map[string]any{"name": "trailspark_reasoning", "label": "Reasoning", "type": "string", "fieldType": "textarea"},
				map[string]any{"name": "trailspark_evaluation_date", "label": "Evaluated", "type": "date", "fieldType": "date"})
		case "companies":
			props = append(props, map[string]any{"name": "trailspark_propensity", "label": "Propensity", "type": "string", "fieldType": "text"})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"results": props})
	case r.Method == http.MethodPost && len(parts) == 6 && parts[4] == "batch" && (parts[5] == "update" || parts[5] == "upsert"):
		object := parts[3]
		var body struct {
			Inputs []struct {
				ID         string            `json:"id"`
				IDProperty string            `json:"idProperty"`
				Properties map[string]string `json:"properties"`
			} `json:"inputs"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Inputs) > 100 {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"status":"error","category":"VALIDATION_ERROR","message":"bad batch (%d inputs)"}`, len(body.Inputs))
			return
		}
		f.calls = append(f.calls, fmt.Sprintf("%s %d", r.URL.Path, len(body.Inputs)))
		type result struct {
			ID         string            `json:"id"`
			New        bool              `json:"new,omitempty"`
			Properties map[string]string `json:"properties"`
		}
		type apiErr struct {
			Status   string              `json:"status"`
			Category string              `json:"category"`
			Message  string              `json:"message"`
			Context  map[string][]string `json:"context"`
		}
		var results []result
		var errors []apiErr
		recs := f.objects[object]
		for _, in := range body.Inputs {
			id := in.ID
			if in.IDProperty == "email" {
				id = ""
				for rid, p := range recs {
					if strings.EqualFold(p["email"], in.ID) {
						id = rid
					}
				}
			}
			created := false
			if _, ok := recs[id]; !ok {
				if parts[5] != "upsert" {
					errors = append(errors, apiErr{Status: "error", Category: "OBJECT_NOT_FOUND", Message: "Could not get some " + object + " objects",
						Context: map[string][]string{"ids": {in.ID}}})
					continue
				}
				f.n++
				id = fmt.Sprintf("%d", 9000+f.n)
				recs[id] = map[string]string{"email": strings.ToLower(in.ID)}
				created = true
			}
			for k, v := range in.Properties {
				recs[id][k] = v
			}
			results = append(results, result{ID: id, New: created, Properties: map[string]string{"email": recs[id]["email"]}})
		}
		if len(errors) > 0 {
			w.WriteHeader(http.StatusMultiStatus)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "COMPLETE", "results": results, "numErrors": len(errors), "errors": errors})
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"status":"error","category":"OBJECT_NOT_FOUND","message":"no such endpoint"}`))
	}
}

func (f *fakeHubSpot) props(object, id string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.objects[object][id] {
		out[k] = v
	}
	return out
}

func (f *fakeHubSpot) byEmail(email string) (string, map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, p := range f.objects["contacts"] {
		if p["email"] == email {
			return id, p
		}
	}
	return "", nil
}

// TestHubSpotWriteBackThroughConnector: evaluations reach a (fake) HubSpot
// through the real connector binary: a known contact by email, one by its
// CRM id, a hot unknown person created by upsert, a warm unknown one left
// alone, and the company's propensity by its id.
func TestHubSpotWriteBackThroughConnector(t *testing.T) {
	env, c, clk := outboxEnvWithConnector(t, "hubspot")

	hs := &fakeHubSpot{objects: map[string]map[string]map[string]string{
		"contacts":  {"501": {"email": "known@globex.com"}, "777": {"email": "byid@globex.com"}},
		"companies": {"9001": {"name": "Globex"}},
	}}
	srv := httptest.NewServer(hs)
	defer srv.Close()
	c.SetConnectionResolver(func(ctx context.Context, org, id string) (string, connector.Config, error) {
		return "hubspot", connector.Config{BaseURL: srv.URL, Credentials: map[string]string{"access_token": "hs-token"}}, nil
	})

	fields := map[string]outbox.ObjectFields{"contacts": {Score: "trailspark_score", Grade: "trailspark_grade",
		Reasoning: "trailspark_reasoning", EvaluationDate: "trailspark_evaluation_date"}}
	conn := "conn_hs"
	d := crmDestination(t, c, outbox.KindHubSpot, conn, "trailspark_propensity", fields)
	bad := map[string]outbox.ObjectFields{"contacts": {Score: "no_such_property"}}
	if _, err := c.applyDestination(t.Context(), obxOrg, &Destination{Kind: outbox.KindHubSpot}, DestinationInput{ConnectionID: &conn, Fields: bad}, true); err == nil ||
		!strings.Contains(err.Error(), "no_such_property") {
		t.Fatalf("unknown property: %v", err)
	}

	acct := Account{ID: "acct_hs", Name: "Globex", ExternalID: "9001"}
	saveAccount(t, env, acct)
	evs := []*Evaluation{
		evaluateForTest(t, env, &Lead{ID: "lead_k", Email: "known@globex.com"}, score.GradeWarm, 45, "Warm (score 45): pricing page viewed today (+0.8).", "acct_hs"),
		evaluateForTest(t, env, &Lead{ID: "lead_i", Email: "other@globex.com", Identifiers: []LeadIdentifier{{Kind: "crm_id", Value: "777"}}},
			score.GradeCold, 5, "Cold: quiet.", ""),
		evaluateForTest(t, env, &Lead{ID: "lead_h", Email: "hot@initech.com"}, score.GradeHot, 90, "Hot (score 90): trial started today (+2.2).", ""),
		evaluateForTest(t, env, &Lead{ID: "lead_w", Email: "warm@initech.com"}, score.GradeWarm, 30, "Warm: blog.", ""),
	}
	clk.Advance(outboxWindow + time.Second)
	for i, want := range []string{outbox.StatusDelivered, outbox.StatusDelivered, outbox.StatusDelivered, outbox.StatusSkipped} {
		waitItem(t, env, d.ID, evs[i], want)
	}
	at := clk.Now().Add(-outboxWindow - time.Second).UTC()
	check := func(id, grade, sc, reasoning string) {
		t.Helper()
		p := hs.props("contacts", id)
		if p["trailspark_grade"] != grade || p["trailspark_score"] != sc || p["trailspark_reasoning"] != reasoning {
			t.Errorf("contact %s holds %v", id, p)
		}
		// A HubSpot date property takes midnight UTC of the day, in ms.
		day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
		if p["trailspark_evaluation_date"] != fmt.Sprint(day.UnixMilli()) && p["trailspark_evaluation_date"] != day.Format("2006-01-02") {
			t.Errorf("contact %s evaluation date %q, want the day %s", id, p["trailspark_evaluation_date"], day.Format("2006-01-02"))
		}
	}
	check("501", "warm", "45", "Warm (score 45): pricing page viewed today (+0.8).")
	check("777", "cold", "5", "Cold: quiet.")
	if id, p := hs.byEmail("hot@initech.com"); id == "" || p["trailspark_grade"] != "hot" {
		t.Errorf("hot unknown person: %s %v", id, p)
	}
	if id, _ := hs.byEmail("warm@initech.com"); id != "" {
		t.Error("a warm unknown person was created")
	}
	// The company is written after the people of its round are recorded.
	pr, _ := c.AccountPropensity(t.Context(), obxOrg, "acct_hs")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		p := hs.props("companies", "9001")
		if p["trailspark_propensity"] == outbox.PropensityLabel(pr.Propensity) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("company %v, want propensity %s", p, pr.Propensity)
		}
	}

	// Change-only: the same grade again within the score band costs no call.
	hs.mu.Lock()
	before := len(hs.calls)
	hs.mu.Unlock()
	again := evaluateForTest(t, env, &Lead{ID: "lead_k", Email: "known@globex.com"}, score.GradeWarm, 47, "Warm (score 45): pricing page viewed today (+0.8).", "acct_hs")
	clk.Advance(outboxWindow + time.Second)
	waitItem(t, env, d.ID, again, outbox.StatusSkipped)
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if len(hs.calls) != before {
		t.Errorf("an unchanged evaluation made calls: %v", hs.calls[before:])
	}
}
