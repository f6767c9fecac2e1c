package api_test

import (
	"bytes"
	"fmt"
	"math"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/tenant"
)

// waitEvaluated polls a lead by email until it has an evaluation.
func (e *tenv) waitEvaluated(org, token, email string) actors.Lead {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var l list[actors.Lead]
	for time.Now().Before(deadline) {
		e.ok(e.do("GET", "/api/v1/orgs/"+org+"/leads?email="+email, token, nil), http.StatusOK, &l)
		if len(l.Items) == 1 && l.Items[0].Evaluation != nil {
			return l.Items[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("lead %s not evaluated within 10 s: %+v", email, l.Items)
	return actors.Lead{}
}

// TestScoringEndToEnd is the user's path through scoring: a new org's
// starter rules and starter ICP evaluate a lead from its first signals,
// with contributions that add up; then evaluate-now, feedback, a
// refinement preview and apply, settings and the account's propensity.
func TestScoringEndToEnd(t *testing.T) {
	e := newEnv(t)
	ann := e.user("ann")
	var o orgView
	e.ok(e.do("POST", "/api/v1/orgs", ann.Token, map[string]any{"name": "Scorers", "subdomain": e.sub("score"),
		"size": "11-50", "industry": "Technology"}), http.StatusCreated, &o)
	base := "/api/v1/orgs/" + o.ID
	k := e.key(o.ID, ann.Token, map[string]any{"name": "web"})

	var acct actors.Account
	e.ok(e.do("POST", base+"/accounts", ann.Token, map[string]any{"name": "Globex", "domain": "globex.com", "industry": "Software", "employees": 500}),
		http.StatusCreated, &acct)

	// Two signals: below the starter minimum of 3, so no evaluation yet.
	for _, body := range []map[string]any{
		{"email": "bob@globex.com", "type": "page", "name": "Pricing"},
		{"email": "bob@globex.com", "event": "Form Submitted"},
	} {
		e.ok(e.do("POST", "/api/signal-staging/webhook/"+k.Key, "", body), http.StatusAccepted, nil)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var l list[actors.Lead]
		e.ok(e.do("GET", base+"/leads?email=bob@globex.com", ann.Token, nil), http.StatusOK, &l)
		if len(l.Items) == 1 && l.Items[0].MappedCount == 2 {
			if l.Items[0].Evaluation != nil {
				t.Fatalf("evaluated below the minimum signals: %+v", l.Items[0].Evaluation)
			}
			if !strings.Contains(l.Items[0].EvaluationNote, "2 of the 3 signals") {
				t.Errorf("evaluation note %q, want the gate explained", l.Items[0].EvaluationNote)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("signals not processed: %+v", l.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.ok(e.do("POST", "/api/signal-staging/webhook/"+k.Key, "", map[string]any{"email": "bob@globex.com", "event": "Demo Requested"}), http.StatusAccepted, nil)
	lead := e.waitEvaluated(o.ID, ann.Token, "bob@globex.com")
	sum := lead.Evaluation
	if sum.Trigger != "high_intent" || sum.ModelID != tenant.StarterModelID || sum.Grade != "hot" {
		t.Errorf("summary %+v: want a hot high_intent evaluation by the starter model", sum)
	}

	var ev actors.Evaluation
	e.ok(e.do("GET", base+"/evaluations/"+sum.ID, ann.Token, nil), http.StatusOK, &ev)
	total := ev.Intercept
	kinds := map[string]int{}
	for _, c := range ev.Contributions {
		total += c.Points
		kinds[string(c.Kind)]++
	}
	if math.Abs(total-ev.Logit) > 1e-9 {
		t.Errorf("contributions sum to %v, logit %v", total, ev.Logit)
	}
	if kinds["intent"] != 3 || ev.AccountID != acct.ID || ev.Score < 0 || ev.Score > 100 || ev.Confidence < 70 {
		t.Errorf("evaluation %+v: want 3 intent contributions, account %s, score in 0–100, confidence ≥ 70", ev, acct.ID)
	}
	if !strings.HasPrefix(ev.Reasoning, "Hot (score ") || !strings.Contains(ev.Reasoning, "demo requested today (+2.0)") || len(ev.TopSignals) == 0 {
		t.Errorf("reasoning %q / top signals %v", ev.Reasoning, ev.TopSignals)
	}

	// Evaluate now: a manual evaluation, listed first for the lead.
	var now actors.Evaluation
	e.ok(e.do("POST", base+"/leads/"+lead.ID+"/evaluate", ann.Token, nil), http.StatusCreated, &now)
	if now.Trigger != "manual" || now.ID == ev.ID {
		t.Errorf("evaluate-now: %+v", now)
	}
	var evs list[actors.Evaluation]
	e.ok(e.do("GET", base+"/leads/"+lead.ID+"/evaluations", ann.Token, nil), http.StatusOK, &evs)
	// (The test clock stands still, so both share a time: order is by id.)
	if len(evs.Items) != 2 || (evs.Items[0].ID != now.ID && evs.Items[1].ID != now.ID) {
		t.Errorf("lead evaluations %+v: want the signal-triggered and the manual one", evs.Items)
	}

	// Feedback: rules, once per evaluation, Editors and up.
	viewer := e.user("vic")
	e.join(o.ID, ann.Token, viewer, "viewer")
	fb := base + "/evaluations/" + ev.ID + "/feedback"
	e.fails(e.do("POST", fb, ann.Token, map[string]any{"reason": "too short", "expected_grade": "cold"}), 400, "invalid_length", "reason")
	e.fails(e.do("POST", fb, ann.Token, map[string]any{"reason": "Student project, never buys", "expected_grade": "frozen"}), 400, "invalid_grade", "expected_grade")
	e.fails(e.do("POST", fb, viewer.Token, map[string]any{"reason": "Student project, never buys", "expected_grade": "cold"}), 403, "forbidden", "")
	e.ok(e.do("POST", fb, ann.Token, map[string]any{"reason": "Student project, never buys", "expected_grade": "cold"}), http.StatusCreated, nil)
	e.fails(e.do("POST", fb, ann.Token, map[string]any{"reason": "Student project, never buys", "expected_grade": "cold"}), 409, "feedback_exists", "")

	// Refinement: preview shows old vs new grade; apply activates version 2.
	var pv actors.RefinementPreview
	e.ok(e.do("POST", base+"/refinements/preview", ann.Token, nil), http.StatusOK, &pv)
	if pv.Feedback != 1 || len(pv.Rows) != 1 || pv.Rows[0].OldGrade != "hot" || pv.Rows[0].NewScore >= pv.Rows[0].OldScore || len(pv.Changes) == 0 {
		t.Errorf("preview %+v: want one row whose score drops towards cold", pv)
	}
	var ap actors.RefinementApplied
	e.ok(e.do("POST", base+"/refinements", ann.Token, nil), http.StatusCreated, &ap)
	if ap.Model.Status != "active" || ap.Model.Version != 2 || ap.Model.ParentID != tenant.StarterModelID || ap.Job == nil {
		t.Errorf("applied %+v", ap)
	}
	var models list[tenant.ModelVersion]
	e.ok(e.do("GET", base+"/icp-models", ann.Token, nil), http.StatusOK, &models)
	if len(models.Items) != 2 || models.Items[1].Status != "inactive" {
		t.Errorf("models %+v: want v2 active, starter inactive", models.Items)
	}
	e.fails(e.do("POST", base+"/refinements/preview", ann.Token, nil), 409, "no_pending_feedback", "")
	// The re-score job re-evaluates the lead with the new model.
	deadline = time.Now().Add(10 * time.Second)
	for {
		var j actors.Job
		e.ok(e.do("GET", base+"/jobs/"+ap.Job.ID, ann.Token, nil), http.StatusOK, &j)
		if j.Status == "completed" {
			if j.Processed != 1 || j.Changed != 1 {
				t.Errorf("rescore job %+v: want the one lead re-scored", j)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rescore job still %s", j.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Settings: defaults, a partial update, a clear error out of range.
	var set map[string]any
	e.ok(e.do("GET", base+"/settings", ann.Token, nil), http.StatusOK, &set)
	if set["min_signals"] != 3.0 || set["cooldown_hot_hours"] != 168.0 {
		t.Errorf("settings %v", set)
	}
	e.fails(e.do("PUT", base+"/settings", ann.Token, map[string]any{"min_signals": 0}), 400, "out_of_range", "min_signals")
	e.fails(e.do("PUT", base+"/settings", ann.Token, map[string]any{"cooldown_warm_hours": 3000}), 400, "out_of_range", "cooldown_warm_hours")
	e.fails(e.do("PUT", base+"/settings", viewer.Token, map[string]any{"min_signals": 5}), 403, "forbidden", "")
	e.ok(e.do("PUT", base+"/settings", ann.Token, map[string]any{"min_signals": 5}), http.StatusOK, &set)
	if set["min_signals"] != 5.0 || set["lookback_days"] != 90.0 {
		t.Errorf("after a partial update: %v", set)
	}

	// Feedback is accepted only within 30 days of the evaluation.
	e.n.Clock.Advance(31 * 24 * time.Hour)
	e.login(ann)
	e.fails(e.do("POST", base+"/evaluations/"+now.ID+"/feedback", ann.Token, map[string]any{"reason": "Too late to say so now", "expected_grade": "warm"}),
		409, "feedback_window_closed", "")

	// The account's propensity comes from its people's intent.
	var a actors.Account
	e.ok(e.do("GET", base+"/accounts/"+acct.ID, ann.Token, nil), http.StatusOK, &a)
	if a.Propensity == nil || a.Propensity.Leads != 1 || !strings.HasSuffix(a.Propensity.Propensity, "_propensity") {
		t.Errorf("account propensity %+v", a.Propensity)
	}
}

// TestEvaluationRulesAndModels covers evaluation rules (validation,
// exclusion with allow-if-empty) and manual models.
func TestEvaluationRulesAndModels(t *testing.T) {
	e := newEnv(t)
	ann := e.user("ann")
	o := e.org(ann, "Rules")
	base := "/api/v1/orgs/" + o.ID

	e.fails(e.do("PUT", base+"/evaluation-rules", ann.Token, map[string]any{"rules": []map[string]any{
		{"integration": "trailspark", "object": "account", "field": "employees", "field_type": "number", "operator": "contains", "value": "5"}}}),
		400, "operator_not_allowed", "rules[0].operator")
	e.fails(e.do("PUT", base+"/evaluation-rules", ann.Token, map[string]any{"rules": []map[string]any{
		{"integration": "zoho", "object": "Lead", "field": "x", "operator": "equals", "value": "5"}}}),
		400, "unknown_integration", "rules[0].integration")
	var rr struct {
		Rules []map[string]any `json:"rules"`
	}
	e.ok(e.do("PUT", base+"/evaluation-rules", ann.Token, map[string]any{"rules": []map[string]any{
		{"integration": "trailspark", "object": "account", "field": "employees", "field_type": "number", "operator": "gte", "value": "50", "allow_if_empty": false}}}),
		http.StatusOK, &rr)
	if len(rr.Rules) != 1 || rr.Rules[0]["id"] == "" {
		t.Fatalf("rules %+v", rr)
	}

	// A manual model: validation names the field; a valid one activates.
	e.fails(e.do("POST", base+"/icp-models", ann.Token, map[string]any{"name": "Bad", "definition": map[string]any{
		"personas": map[string]any{"seniorities": []map[string]any{{"value": "emperor"}}}}}), 400, "unknown_value", "personas.seniorities[0].value")
	e.fails(e.do("POST", base+"/icp-models", ann.Token, map[string]any{"name": "Bad", "definition": map[string]any{"colour": "red"}}), 400, "unknown_field", "definition.colour")
	var m tenant.ModelVersion
	e.ok(e.do("POST", base+"/icp-models", ann.Token, map[string]any{"name": "SaaS", "activate": true, "definition": map[string]any{
		"intercept": -2,
		"account":   map[string]any{"industries": []map[string]any{{"value": "Software", "weight": 1.5}}},
		"signals":   []map[string]any{{"type": "form_fill", "weight": 0.5}}}}), http.StatusCreated, &m)
	if m.Status != "active" || m.Version != 2 || m.Source != "manual" {
		t.Errorf("model %+v", m)
	}
}

// TestICPFromTextAndUpload builds models the two other ways: free text and
// an accounts + opportunities upload (the Maven CRM sample when present).
func TestICPFromTextAndUpload(t *testing.T) {
	e := newEnv(t)
	ann := e.user("ann")
	o := e.org(ann, "Builders")
	base := "/api/v1/orgs/" + o.ID

	var parsed struct {
		Definition    map[string]any   `json:"definition"`
		Understood    []map[string]any `json:"understood"`
		NotUnderstood []string         `json:"not_understood"`
	}
	text := "B2B SaaS companies in fintech, 50-1000 employees, in North America, using Salesforce; targeting VPs of Sales; blorfs"
	e.ok(e.do("POST", base+"/icp-models/parse-text", ann.Token, map[string]any{"text": text}), http.StatusOK, &parsed)
	if len(parsed.Understood) < 4 || len(parsed.NotUnderstood) != 1 || parsed.NotUnderstood[0] != "blorfs" {
		t.Errorf("parse: understood %v, not understood %v", parsed.Understood, parsed.NotUnderstood)
	}
	var m struct {
		tenant.ModelVersion
		Parsed map[string]any `json:"parsed"`
	}
	e.ok(e.do("POST", base+"/icp-models", ann.Token, map[string]any{"name": "From text", "text": text}), http.StatusCreated, &m)
	if m.Source != "text" || m.Status != "inactive" || len(m.Definition.Account.Industries) == 0 || m.Parsed == nil {
		t.Errorf("model from text: %+v", m)
	}
	e.fails(e.do("POST", base+"/icp-models", ann.Token, map[string]any{"text": text, "definition": map[string]any{}}), 400, "conflicting_fields", "text")

	accounts := "account,sector,employees,office_location\nAcme,software,120,United States\nBeta,retail,40,Germany\n"
	opps := "opportunity_id,account,deal_stage,close_value\n1,Acme,Won,100\n2,Acme,Won,50\n3,Beta,Lost,0\n4,Beta,Won,10\n"
	upload := func(fields map[string]string, files map[string]string) resp {
		body, ctype := multipartBody(t, fields, files)
		return e.do("POST", base+"/icp-models/analyze", ann.Token, rawBody(body), withHeader("Content-Type", ctype))
	}
	var pv struct {
		Preview map[string]any `json:"preview"`
	}
	e.ok(upload(map[string]string{"preview_only": "true"}, map[string]string{"accounts": accounts, "opportunities": opps}), http.StatusOK, &pv)
	if pv.Preview["won"] != 3.0 || pv.Preview["lost"] != 1.0 {
		t.Errorf("preview %v", pv.Preview)
	}
	e.fails(upload(nil, map[string]string{"accounts": accounts}), 400, "required", "opportunities")
	if r := upload(nil, map[string]string{"accounts": "a;b\n1;2\n", "opportunities": opps}); r.Status != 400 || !strings.Contains(string(r.Body), "column") {
		t.Errorf("accounts without a name column: %s", r)
	}

	accts, err1 := os.ReadFile("../../shared/data/maven_crm_sales_opportunities/accounts.csv")
	pipe, err2 := os.ReadFile("../../shared/data/maven_crm_sales_opportunities/sales_pipeline.csv")
	if err1 != nil || err2 != nil {
		t.Skip("Maven CRM sample not present")
	}
	var res struct {
		Analysis struct {
			Insights []map[string]any `json:"insights"`
		} `json:"analysis"`
		Model *tenant.ModelVersion `json:"model"`
	}
	e.ok(upload(map[string]string{"create": "true", "activate": "true", "name": "Maven"}, map[string]string{"accounts": string(accts), "opportunities": string(pipe)}),
		http.StatusCreated, &res)
	if len(res.Analysis.Insights) < 10 || res.Model == nil || res.Model.Source != "upload" || res.Model.Status != "active" {
		t.Fatalf("analysis: %d insights, model %+v", len(res.Analysis.Insights), res.Model)
	}
	if res.Model.Definition.Intercept != -2.5 {
		t.Errorf("intercept %v: an upload keeps the lead-level intercept of the prior", res.Model.Definition.Intercept)
	}
}

// multipartBody encodes form fields and files as multipart/form-data.
func multipartBody(t *testing.T, fields, files map[string]string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range files {
		f, err := w.CreateFormFile(k, k+".csv")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

// TestModelQualityFromFeedback: with enough feedback the quality report
// has metrics, and a model that ranks the "should be hot" leads first
// scores a high AUC.
func TestModelQualityFromFeedback(t *testing.T) {
	e := newEnv(t)
	ann := e.user("ann")
	var o orgView
	e.ok(e.do("POST", "/api/v1/orgs", ann.Token, map[string]any{"name": "Quality", "subdomain": e.sub("q"),
		"size": "11-50", "industry": "Technology"}), http.StatusCreated, &o)
	base := "/api/v1/orgs/" + o.ID
	k := e.key(o.ID, ann.Token, map[string]any{"name": "web"})
	var q actors.ModelQuality
	e.ok(e.do("GET", base+"/icp-models/icp_starter/quality", ann.Token, nil), http.StatusOK, &q)
	if q.Labelled != 0 || q.Metrics != nil || q.Note == "" {
		t.Errorf("no labels yet: %+v", q)
	}
	for i := 0; i < 12; i++ {
		email := fmt.Sprintf("p%d@corp%d.com", i, i)
		event := "Email Opened"
		if i%2 == 0 {
			event = "Demo Requested"
		}
		e.ok(e.do("POST", "/api/signal-staging/webhook/"+k.Key, "", map[string]any{"email": email, "event": event}), http.StatusAccepted, nil)
		var l list[actors.Lead]
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			e.ok(e.do("GET", base+"/leads?email="+email, ann.Token, nil), http.StatusOK, &l)
			if len(l.Items) == 1 && l.Items[0].MappedCount == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("lead %s not processed", email)
			}
		}
		var ev actors.Evaluation
		e.ok(e.do("POST", base+"/leads/"+l.Items[0].ID+"/evaluate", ann.Token, nil), http.StatusCreated, &ev)
		grade := "cold"
		if i%2 == 0 {
			grade = "hot"
		}
		e.ok(e.do("POST", base+"/evaluations/"+ev.ID+"/feedback", ann.Token, map[string]any{"reason": "sales says so, really", "expected_grade": grade}), http.StatusCreated, nil)
	}
	e.ok(e.do("GET", base+"/icp-models/icp_starter/quality", ann.Token, nil), http.StatusOK, &q)
	if q.Labelled != 12 || q.Positives != 6 || q.FromFeedback != 12 || q.Metrics == nil || len(q.Reliability) != 10 {
		t.Fatalf("quality %+v", q)
	}
	if q.Metrics.AUC != 1 || q.Metrics.Brier <= 0 || q.Metrics.LogLoss <= 0 {
		t.Errorf("metrics %+v: the demo requests should rank first", q.Metrics)
	}
}

// TestRefinementUsesOutcomes: CRM outcomes on accounts (won/lost) label
// their evaluated people for refinement and model quality.
func TestRefinementUsesOutcomes(t *testing.T) {
	e := newEnv(t)
	ann := e.user("ann")
	o := e.org(ann, "Outcomes")
	base := "/api/v1/orgs/" + o.ID
	k := e.key(o.ID, ann.Token, map[string]any{"name": "web"})
	for _, a := range []map[string]any{
		{"name": "Won Co", "domain": "won-co.com", "attributes": map[string]any{"outcome": "won"}},
		{"name": "Lost Co", "domain": "lost-co.com", "attributes": map[string]any{"outcome": "Closed Lost"}},
	} {
		e.ok(e.do("POST", base+"/accounts", ann.Token, a), http.StatusCreated, nil)
	}
	var evs []actors.Evaluation
	for _, email := range []string{"a@won-co.com", "b@lost-co.com", "c@other-co.com"} {
		e.ok(e.do("POST", "/api/signal-staging/webhook/"+k.Key, "", map[string]any{"email": email, "event": "Viewed"}), http.StatusAccepted, nil)
		var l list[actors.Lead]
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			e.ok(e.do("GET", base+"/leads?email="+email, ann.Token, nil), http.StatusOK, &l)
			if len(l.Items) == 1 && l.Items[0].SignalCount == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("lead %s not processed", email)
			}
		}
		var ev actors.Evaluation
		e.ok(e.do("POST", base+"/leads/"+l.Items[0].ID+"/evaluate", ann.Token, nil), http.StatusCreated, &ev)
		evs = append(evs, ev)
	}
	e.ok(e.do("POST", base+"/evaluations/"+evs[2].ID+"/feedback", ann.Token, map[string]any{"reason": "talked to them, keen", "expected_grade": "warm"}), http.StatusCreated, nil)
	var pv actors.RefinementPreview
	e.ok(e.do("POST", base+"/refinements/preview", ann.Token, nil), http.StatusOK, &pv)
	if pv.Feedback != 1 || pv.Outcomes != 2 || !strings.Contains(pv.Summary, "2 CRM outcomes") {
		t.Errorf("preview %+v: want 1 feedback and 2 outcome labels", pv)
	}
	var q actors.ModelQuality
	e.ok(e.do("GET", base+"/icp-models/icp_starter/quality", ann.Token, nil), http.StatusOK, &q)
	if q.FromOutcomes != 2 || q.FromFeedback != 1 || q.Labelled != 3 {
		t.Errorf("quality %+v: want 2 outcome and 1 feedback labels", q)
	}
}
