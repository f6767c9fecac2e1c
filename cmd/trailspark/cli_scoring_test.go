package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
)

// ---- a fake for the scoring and plugin routes ---------------------------------------------------

const scOperator = "the-operator-token"

var (
	scDef    = `{"intercept":-2.5,"signals":[{"type":"form_fill","weight":1.25}]}`
	scModel1 = `{"id":"icp_starter","name":"Starter","version":1,"status":"active","source":"starter","definition":` + scDef + `,"created_at":` + ts + `}`
	scModel2 = `{"id":"icp_2","name":"Mine","version":2,"status":"inactive","source":"refinement","definition":` + scDef +
		`,"fitted":{"intercept":-2.4,"weights":{"industry=software":0.7,"form_fill":1.5}},"parent_id":"icp_starter","note":"from feedback","created_at":` + ts + `}`
	scParse = `{"definition":{"account":{"industries":[{"value":"software"}]}},"understood":[{"text":"SaaS companies","field":"account.industries","value":"software"}],"not_understood":["purple"]}`
	scEval  = `{"id":"ev_1","lead_id":"lead_1","account_id":"acct_1","model_id":"icp_starter","trigger":"high_intent","grade":"hot","model_grade":"hot",` +
		`"held_back":false,"score":82,"probability":0.8176,"logit":1.5,"intercept":-2.5,"fit_score":8,"intent_score":96,"confidence":89,` +
		`"contributions":[{"feature":"form_fill","kind":"intent","value":5,"points":1.25,"label":"form submitted today"},` +
		`{"feature":"demo_request","kind":"intent","value":1,"points":2.75,"label":"demo requested today"}],` +
		`"top_signals":[],"reasoning":"Hot (score 82): demo requested today (+2.8); form submitted today (+1.2).","model_version":"icp_starter@1","evaluated_at":` + ts + `}`
	scEvalHeld = `{"id":"ev_2","lead_id":"lead_2","model_id":"icp_starter","trigger":"signals","grade":"cold","model_grade":"warm","held_back":true,"score":55,` +
		`"probability":0.55,"logit":0.2,"intercept":-2.5,"fit_score":0,"intent_score":60,"confidence":40,"contributions":[],"reasoning":"Cold: confidence 40% is below 70%.",` +
		`"model_version":"icp_starter@1","evaluated_at":` + ts + `}`
	scFeedback = `{"evaluation_id":"ev_1","lead_id":"lead_1","reason":"They signed last week, clearly hot","expected_grade":"hot","original_grade":"warm","given_by":"usr_1","created_at":` + ts + `,"status":"pending"}`
	scPreview  = `{"base_model_id":"icp_starter","feedback":2,"matched_before":0,"matched_after":2,` +
		`"rows":[{"evaluation_id":"ev_1","lead_id":"lead_1","old_grade":"warm","new_grade":"hot","expected_grade":"hot","old_score":55,"new_score":81}],` +
		`"changes":[{"feature":"form_fill","old":1.25,"new":1.5}],"summary":"2 feedback leads; 2 graded as expected after (0 before)"}`
	scSettings = `{"min_signals":3,"min_signal_types":2,"lookback_days":90,"min_confidence":70,"cooling_off":true,"cooldown_hot_hours":168,"cooldown_warm_hours":72,"cooldown_cold_hours":336}`
	scPlugin   = `{"name":"salesforce","version":"1.2.0","capabilities":["read","write","translate"],"checksum":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",` +
		`"state":"running","pid":4242,"protocol":1,"restarts":2,"last_error":"health ping timed out"}`
	scPlugin2 = `{"name":"hubspot","capabilities":[],"checksum":"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210","pinned_checksum":"aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999","state":"unapproved","restarts":0}`
	scJob     = func(status string, processed int) string {
		return fmt.Sprintf(`{"id":"job_9","kind":"rescore","status":%q,"accepted":0,"rejected":0,"duplicates":0,"bytes_read":0,"scanned":4,"processed":%d,"changed":%d,"errors":[],"started_at":%s,"updated_at":%s}`,
			status, processed, processed, ts, ts)
	}
	scAnalysis = `{"preview":{"account_columns":["Name","Industry"],"opportunity_columns":["Account","Stage"],"account_mapping":{"name":"Name","industry":"Industry"},` +
		`"opportunity_mapping":{"account":"Account","stage":"Stage"},"account_delimiter":",","opportunity_delimiter":";","account_rows":120,"opportunity_rows":340,` +
		`"account_sample":[["Acme","Software"]],"opportunity_sample":[["Acme","Closed Won"]],"won":150,"lost":130,"open":60,"matched_opportunities":330,"unmatched_opportunities":10,"accounts_with_outcomes":110}`
	scInsights = `"analysis":{"insights":[{"id":"industry:software","attribute":"industry","value":"Software","n":1420,"wins":1008,"rate":0.71,"lo":0.68,"hi":0.74,"base_rate":0.63,"lift":1.13,` +
		`"significant":true,"text":"Software accounts win 71% vs 63% overall (n=1,420, 95% interval 68–74%)","enabled":true,"weight":0.42},` +
		`{"id":"region:emea","attribute":"region","value":"EMEA","n":40,"wins":26,"rate":0.65,"lo":0.5,"hi":0.78,"base_rate":0.63,"lift":1.03,"significant":false,` +
		`"text":"EMEA accounts win 65% vs 63% overall (n=40, 95% interval 50–78%)","enabled":false,"weight":0}],"definition":` + scDef + `,"stats":{"rows":340}}`
)

type scFake struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []req
	// multipart is the last analyze upload: form fields, and file name → "filename:content".
	fields map[string]string
	files  map[string]string
	// jobPolls counts GET …/jobs/{id}; jobFails makes the job end failed.
	jobPolls int
	jobFails bool
}

func (f *scFake) requests() []req {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]req(nil), f.reqs...)
}

func (f *scFake) last(t *testing.T) req {
	t.Helper()
	r := f.requests()
	if len(r) == 0 {
		t.Fatal("no request reached the fake server")
	}
	return r[len(r)-1]
}

func newScoringFake(t *testing.T) *scFake {
	t.Helper()
	f := &scFake{}
	mux := http.NewServeMux()
	reply := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	page := func(items ...string) string { return `{"items":[` + strings.Join(items, ",") + `],"next_cursor":""}` }
	o := "/api/v1/orgs/{org}"

	mux.HandleFunc("GET "+o+"/icp-models", reply(200, page(scModel2, scModel1)))
	mux.HandleFunc("GET "+o+"/icp-models/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("id") {
		case "icp_2":
			io.WriteString(w, scModel2)
		case "icp_starter":
			io.WriteString(w, scModel1)
		default:
			apiError(w, 404, "model_not_found", "model not found", "")
		}
	})
	mux.HandleFunc("POST "+o+"/icp-models", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]json.RawMessage
		json.NewDecoder(r.Body).Decode(&body)
		if _, ok := body["text"]; ok {
			w.WriteHeader(201)
			io.WriteString(w, strings.TrimSuffix(strings.Replace(scModel2, `"source":"refinement"`, `"source":"text"`, 1), "}")+`,"parsed":`+scParse+`}`)
			return
		}
		if bytes.Contains(body["definition"], []byte(`"bogus"`)) {
			apiError(w, 400, "unknown_field", "unknown field bogus", "definition.bogus")
			return
		}
		w.WriteHeader(201)
		io.WriteString(w, scModel2)
	})
	mux.HandleFunc("POST "+o+"/icp-models/{id}/activate", reply(200, strings.Replace(scModel2, `"inactive"`, `"active"`, 1)))
	mux.HandleFunc("GET "+o+"/icp-models/{id}/quality", reply(200, `{"model_id":"icp_2","model_version":"icp_2@2","labelled":24,"positives":9,"from_feedback":20,"from_outcomes":4,`+
		`"metrics":{"auc":0.8126,"log_loss":0.51,"brier":0.17,"top_decile_lift":2.4,"top_decile_precision":0.9},`+
		`"reliability":[{"lo":0,"hi":0.1,"mean_predicted":0.05,"observed_rate":0,"count":3},{"lo":0.1,"hi":0.2,"count":0}]}`))
	mux.HandleFunc("POST "+o+"/icp-models/parse-text", reply(200, scParse))
	mux.HandleFunc("POST "+o+"/icp-models/analyze", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			apiError(w, 400, "malformed_multipart", err.Error(), "")
			return
		}
		f.mu.Lock()
		f.fields, f.files = map[string]string{}, map[string]string{}
		for k, v := range r.MultipartForm.Value {
			f.fields[k] = strings.Join(v, "|")
		}
		for k, fhs := range r.MultipartForm.File {
			fh := fhs[0]
			rd, _ := fh.Open()
			b, _ := io.ReadAll(rd)
			rd.Close()
			f.files[k] = fh.Filename + ":" + fh.Header.Get("Content-Type") + ":" + string(b)
		}
		f.mu.Unlock()
		if r.FormValue("won_stages") == "nope" {
			apiError(w, 400, "unknown_stage", "no opportunity has the stage nope", "won_stages")
			return
		}
		switch {
		case r.FormValue("preview_only") == "true":
			io.WriteString(w, scAnalysis+`}`)
		case r.FormValue("create") == "true":
			w.WriteHeader(201)
			io.WriteString(w, scAnalysis+`,`+scInsights+`,"model":`+strings.Replace(strings.Replace(scModel2, `"inactive"`, `"active"`, 1), `"refinement"`, `"upload"`, 1)+`}`)
		default:
			io.WriteString(w, scAnalysis+`,`+scInsights+`}`)
		}
	})
	mux.HandleFunc("GET "+o+"/evaluations", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("lead_id") == "lead_2" {
			io.WriteString(w, page(scEvalHeld))
			return
		}
		io.WriteString(w, page(scEval, scEvalHeld))
	})
	mux.HandleFunc("GET "+o+"/evaluations/{id}", reply(200, scEval))
	mux.HandleFunc("POST "+o+"/leads/{id}/evaluate", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "lead_x" {
			apiError(w, 409, "excluded_by_rules", "the evaluation rules exclude this lead", "")
			return
		}
		w.WriteHeader(201)
		io.WriteString(w, scEval)
	})
	mux.HandleFunc("POST "+o+"/evaluations/{id}/feedback", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Reason string }
		json.NewDecoder(r.Body).Decode(&body)
		if len(body.Reason) < 10 {
			apiError(w, 400, "invalid_length", fmt.Sprintf("reason must be 10 to 1000 characters (got %d)", len(body.Reason)), "reason")
			return
		}
		w.WriteHeader(201)
		io.WriteString(w, scFeedback)
	})
	mux.HandleFunc("GET "+o+"/feedback", reply(200, `{"items":[`+scFeedback+`]}`))
	mux.HandleFunc("POST "+o+"/refinements/preview", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("org") == "org_none" {
			apiError(w, 409, "no_pending_feedback", "there is no pending feedback to learn from", "")
			return
		}
		io.WriteString(w, scPreview)
	})
	mux.HandleFunc("POST "+o+"/refinements", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		io.WriteString(w, `{"model":`+strings.Replace(scModel2, `"inactive"`, `"active"`, 1)+`,"preview":`+scPreview+`,"job":`+scJob("running", 0)+`}`)
	})
	mux.HandleFunc("GET "+o+"/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.jobPolls++
		n, fails := f.jobPolls, f.jobFails
		f.mu.Unlock()
		switch {
		case n < 4:
			io.WriteString(w, scJob("running", n))
		case fails:
			io.WriteString(w, strings.TrimSuffix(scJob("failed", 3), "}")+`,"error":{"code":"unavailable","message":"the node stopped during the job"}}`)
		default:
			io.WriteString(w, scJob("completed", 4))
		}
	})
	mux.HandleFunc("GET "+o+"/settings", reply(200, scSettings))
	mux.HandleFunc("PUT "+o+"/settings", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		if n, ok := body["min_signals"].(float64); ok && n > 50 {
			apiError(w, 400, "out_of_range", "min_signals must be from 1 to 50", "min_signals")
			return
		}
		io.WriteString(w, strings.Replace(strings.Replace(scSettings, `"min_signals":3`, `"min_signals":5`, 1), `"cooldown_hot_hours":168`, `"cooldown_hot_hours":24`, 1))
	})
	operator := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+scOperator {
				apiError(w, 403, "operator_only", "only the operator manages plugins", "")
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/v1/plugins", operator(reply(200, `{"items":[`+scPlugin+`,`+scPlugin2+`]}`)))
	mux.HandleFunc("POST /api/v1/plugins/{name}/{action}", operator(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") != "salesforce" {
			apiError(w, 404, "plugin_not_found", "plugin not found", "")
			return
		}
		state := map[string]string{"start": "running", "stop": "stopped", "approve": "running"}[r.PathValue("action")]
		io.WriteString(w, strings.Replace(scPlugin, `"running"`, `"`+state+`"`, 1))
	}))

	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		body := string(b)
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			body = "(multipart)"
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, req{r.Method, r.URL.Path, r.URL.RawQuery, body, r.Header.Get("Authorization")})
		n := len(f.reqs)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", fmt.Sprintf("req_%d", n))
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func scWrite(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ---- tests --------------------------------------------------------------------------------------

func TestModelsEvaluationsFeedbackRefineSettingsPluginsCommandTree(t *testing.T) {
	root := &cobra.Command{Use: "trailspark"}
	addClientCommands(root)
	for _, path := range []string{
		"models list", "models get", "models create", "models activate", "models quality", "models parse-text", "models analyze",
		"evaluations list", "evaluations get", "evaluations evaluate",
		"feedback give", "feedback list",
		"refine preview", "refine apply",
		"settings get", "settings set",
		"plugins list", "plugins start", "plugins stop", "plugins approve",
		"model get", "evals list", "plugin list", // aliases
	} {
		fl := strings.Fields(path)
		cmd, rest, err := root.Find(fl)
		if err != nil || len(rest) != 0 || cmd.Name() != fl[len(fl)-1] {
			t.Errorf("command %q not found (%v)", path, err)
		}
	}
}

func TestModelsEvaluationsFeedbackRefineSettingsPluginsRequestsAndOutput(t *testing.T) {
	isolate(t)
	f := newScoringFake(t)
	defFile := scWrite(t, "def.json", "{\n  \"intercept\": -2.5,\n  \"signals\": [{\"type\": \"form_fill\", \"weight\": 1.25}]\n}\n")
	// What `models get --output json` prints: the definition is taken from it.
	modelFile := scWrite(t, "model.json", scModel2)
	cases := []struct {
		name         string
		args         []string
		stdin        string
		auth         string // "" = tsp_x
		method, path string
		query        string
		body         string
		want         []string
		notWant      []string
	}{
		{name: "models list", args: []string{"models", "list", "org_1"}, method: "GET", path: "/api/v1/orgs/org_1/icp-models", query: "limit=200",
			want: []string{"ID", "VERSION", "STATUS", "icp_2", "inactive", "refinement", "icp_starter", "active", "starter"}},
		{name: "models get", args: []string{"models", "get", "org_1", "icp_2"}, method: "GET", path: "/api/v1/orgs/org_1/icp-models/icp_2",
			want: []string{"icp_2", "Mine", "PARENT", "icp_starter", "from feedback", `{"intercept":-2.5,"signals":[{"type":"form_fill","weight":1.25}]}`,
				"FITTED INTERCEPT", "-2.4", "FITTED WEIGHTS", "form_fill=1.5, industry=software=0.7"}},
		{name: "models create --file", args: []string{"models", "create", "org_1", "--file", defFile, "--name", "Mine", "--activate"},
			method: "POST", path: "/api/v1/orgs/org_1/icp-models",
			body: `{"name":"Mine","definition":{"intercept":-2.5,"signals":[{"type":"form_fill","weight":1.25}]},"activate":true}`, want: []string{"icp_2"}},
		{name: "models create --file a model", args: []string{"models", "create", "org_1", "--file", modelFile},
			method: "POST", path: "/api/v1/orgs/org_1/icp-models", body: `{"name":"Mine","definition":` + scDef + `}`},
		{name: "models create --file stdin", args: []string{"models", "create", "org_1", "--file", "-", "--note", "hand-made"}, stdin: scDef,
			method: "POST", path: "/api/v1/orgs/org_1/icp-models", body: `{"definition":` + scDef + `,"note":"hand-made"}`},
		{name: "models create --text", args: []string{"models", "create", "org_1", "--text", "SaaS companies, purple", "--activate"},
			method: "POST", path: "/api/v1/orgs/org_1/icp-models", body: `{"text":"SaaS companies, purple","activate":true}`,
			want: []string{"text", "Understood: 1", "SaaS companies", "account.industries", "software", `Not understood: "purple"`}},
		{name: "models activate", args: []string{"models", "activate", "org_1", "icp_2"}, method: "POST", path: "/api/v1/orgs/org_1/icp-models/icp_2/activate",
			want: []string{"STATUS", "active"}, notWant: []string{"inactive"}},
		{name: "models quality", args: []string{"models", "quality", "org_1", "icp_2"}, method: "GET", path: "/api/v1/orgs/org_1/icp-models/icp_2/quality",
			want: []string{"icp_2@2", "LABELLED", "24", "ROC AUC", "0.813", "LOG LOSS", "0.510", "TOP-DECILE PRECISION", "90.0%", "0.0–0.1", "5.0%"}},
		{name: "models parse-text", args: []string{"models", "parse-text", "org_1", "SaaS companies, purple"}, method: "POST",
			path: "/api/v1/orgs/org_1/icp-models/parse-text", body: `{"text":"SaaS companies, purple"}`,
			want: []string{"TEXT", "FIELD", "VALUE", "SaaS companies", "account.industries", `"purple"`, `DEFINITION  {"account":{"industries":[{"value":"software"}]}}`}},
		{name: "models parse-text stdin", args: []string{"models", "parse-text", "org_1", "-"}, stdin: "B2B SaaS", method: "POST",
			path: "/api/v1/orgs/org_1/icp-models/parse-text", body: `{"text":"B2B SaaS"}`},

		{name: "evaluations list", args: []string{"evaluations", "list", "org_1"}, method: "GET", path: "/api/v1/orgs/org_1/evaluations", query: "limit=50",
			want: []string{"ID", "GRADE", "SCORE", "CONFIDENCE", "ev_1", "hot", "82", "89%", "ev_2", "cold (held back)", "icp_starter@1"}},
		{name: "evaluations list --lead", args: []string{"evaluations", "list", "org_1", "--lead", "lead_2", "--limit", "0"}, method: "GET",
			path: "/api/v1/orgs/org_1/evaluations", query: "lead_id=lead_2&limit=200", want: []string{"ev_2"}, notWant: []string{"ev_1"}},
		{name: "evaluations get", args: []string{"evaluations", "get", "org_1", "ev_1"}, method: "GET", path: "/api/v1/orgs/org_1/evaluations/ev_1",
			want: []string{"GRADE", "hot", "SCORE", "82", "CONFIDENCE", "89%", "PROBABILITY", "81.8%", "REASONING", "Hot (score 82): demo requested today",
				"FEATURE", "POINTS", "intercept", "-2.50", "form_fill", "intent", "+1.25", "form submitted today", "demo_request", "+2.75", "= logit", "+1.50"}},
		{name: "evaluations evaluate", args: []string{"evaluations", "evaluate", "org_1", "lead_1"}, method: "POST", path: "/api/v1/orgs/org_1/leads/lead_1/evaluate",
			want: []string{"ev_1", "hot", "82", "+1.25"}},

		{name: "feedback give", args: []string{"feedback", "give", "org_1", "ev_1", "--grade", "HOT", "--reason", "They signed last week, clearly hot"},
			method: "POST", path: "/api/v1/orgs/org_1/evaluations/ev_1/feedback", body: `{"reason":"They signed last week, clearly hot","expected_grade":"hot"}`,
			want: []string{"EXPECTED GRADE", "hot", "ORIGINAL GRADE", "warm", "pending"}},
		{name: "feedback list", args: []string{"feedback", "list", "org_1"}, method: "GET", path: "/api/v1/orgs/org_1/feedback", query: "limit=200",
			want: []string{"EVALUATION", "ev_1", "lead_1", "warm", "hot", "pending", "They signed last week"}},
		{name: "feedback list --status", args: []string{"feedback", "list", "org_1", "--status", "applied"}, method: "GET", path: "/api/v1/orgs/org_1/feedback",
			query: "limit=200&status=applied"},

		{name: "refine preview", args: []string{"refine", "preview", "org_1"}, method: "POST", path: "/api/v1/orgs/org_1/refinements/preview",
			want: []string{"BASE MODEL", "icp_starter", "MATCHED BEFORE", "0 of 2", "MATCHED AFTER", "2 of 2", "OLD GRADE", "warm", "81", "form_fill", "1.25", "1.50", "+0.25"}},
		{name: "refine apply", args: []string{"refine", "apply", "org_1"}, method: "POST", path: "/api/v1/orgs/org_1/refinements",
			want: []string{"MODEL", "icp_2@2 (active)", "PARENT", "icp_starter", "RESCORE JOB", "job_9"}},

		{name: "settings get", args: []string{"settings", "get", "org_1"}, method: "GET", path: "/api/v1/orgs/org_1/settings",
			want: []string{"SETTING", "min_signals", "3", "cooling_off", "true", "cooldown_cold_hours", "336"}},
		{name: "settings set", args: []string{"settings", "set", "org_1", "min_signals=5", "cooldown_hot_hours=24", "cooling_off=false"},
			method: "PUT", path: "/api/v1/orgs/org_1/settings", body: `{"min_signals":5,"cooling_off":false,"cooldown_hot_hours":24}`,
			want: []string{"min_signals          5", "cooldown_hot_hours   24"}},

		{name: "plugins list", args: []string{"plugins", "list"}, auth: scOperator, method: "GET", path: "/api/v1/plugins", query: "limit=200",
			want: []string{"NAME", "VERSION", "STATE", "PID", "RESTARTS", "CAPABILITIES", "CHECKSUM", "LAST ERROR",
				"salesforce", "1.2.0", "running", "4242", "read,write,translate", "0123456789ab", "health ping timed out",
				"hubspot", "unapproved", "fedcba987654 (approved aaaabbbbcccc)"},
			notWant: []string{"0123456789abc"}},
		{name: "plugins start", args: []string{"plugins", "start", "salesforce"}, auth: scOperator, method: "POST", path: "/api/v1/plugins/salesforce/start",
			want: []string{"STATE", "running", "PID", "4242", "CHECKSUM", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
		{name: "plugins stop", args: []string{"plugins", "stop", "salesforce"}, auth: scOperator, method: "POST", path: "/api/v1/plugins/salesforce/stop",
			want: []string{"stopped"}},
		{name: "plugins approve", args: []string{"plugins", "approve", "salesforce"}, auth: scOperator, method: "POST", path: "/api/v1/plugins/salesforce/approve"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			auth := tc.auth
			if auth == "" {
				auth = "tsp_x"
			}
			r := execCLI(t, tc.stdin, append([]string{"--server", f.URL, "--token", auth}, tc.args...)...)
			if r.err != nil {
				t.Fatalf("err: %v\nstderr: %s", r.err, r.stderr)
			}
			got := f.last(t)
			if got.Method != tc.method || got.Path != tc.path || got.Query != tc.query || got.Body != tc.body || got.Auth != "Bearer "+auth {
				t.Errorf("request %+v\nwant %s %s?%s body %s", got, tc.method, tc.path, tc.query, tc.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(r.stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

func TestModelsAnalyzeUploadsMultipart(t *testing.T) {
	isolate(t)
	f := newScoringFake(t)
	accounts := scWrite(t, "accounts.csv", "Name,Industry\nAcme,Software\n")
	opps := scWrite(t, "opps.csv", "Account;Stage\nAcme;Closed Won\n")
	cases := []struct {
		name       string
		flags      []string
		fields     map[string]string
		want       []string
		notWant    []string
		wantStdout string
	}{
		{name: "analysis", flags: []string{"--disable", "region:emea,size:1-10", "--only-significant"},
			fields: map[string]string{"disabled": "region:emea,size:1-10", "only_significant": "true"},
			want: []string{"ID", "TEXT", "N", "SIGNIFICANT", "industry:software", "Software accounts win 71% vs 63% overall (n=1,420, 95% interval 68–74%)", "1420",
				"region:emea", "40", "yes", "no", "0.42", "150 won, 130 lost, 60 open"},
			notWant: []string{"Created model"}},
		{name: "preview", flags: []string{"--preview", "--account-columns", `{"industry":"Industry"}`},
			fields:  map[string]string{"preview_only": "true", "account_columns": `{"industry":"Industry"}`},
			want:    []string{"120 rows", `delimiter ";"`, `industry="Industry"`, "Accounts: first 1 rows", "Closed Won"},
			notWant: []string{"SIGNIFICANT"}},
		{name: "create", flags: []string{"--create", "--name", "From CRM", "--activate", "--won-stages", "Closed Won,Signed", "--unit", "account"},
			fields: map[string]string{"create": "true", "name": "From CRM", "activate": "true", "won_stages": "Closed Won,Signed", "unit": "account"},
			want:   []string{"industry:software", "Created model icp_2@2 (Mine, now active)."}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--server", f.URL, "--token", "tsp_x", "models", "analyze", "org_1", "--accounts", accounts, "--opportunities", opps}, tc.flags...)
			r := execCLI(t, "", args...)
			if r.err != nil {
				t.Fatalf("err: %v", r.err)
			}
			got := f.last(t)
			if got.Method != "POST" || got.Path != "/api/v1/orgs/org_1/icp-models/analyze" || got.Body != "(multipart)" || got.Auth != "Bearer tsp_x" {
				t.Errorf("request %+v", got)
			}
			f.mu.Lock()
			fields, files := f.fields, f.files
			f.mu.Unlock()
			if fmt.Sprint(fields) != fmt.Sprint(tc.fields) {
				t.Errorf("fields %v, want %v", fields, tc.fields)
			}
			if files["accounts"] != "accounts.csv:text/csv:Name,Industry\nAcme,Software\n" || files["opportunities"] != "opps.csv:text/csv:Account;Stage\nAcme;Closed Won\n" {
				t.Errorf("files %q", files)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(r.stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

func TestRefineApplyWaitPollsTheJob(t *testing.T) {
	isolate(t)
	for _, fails := range []bool{false, true} {
		t.Run(fmt.Sprintf("fails=%v", fails), func(t *testing.T) {
			f := newScoringFake(t)
			f.jobFails = fails
			r := execCLI(t, "", "--server", f.URL, "--token", "tsp_x", "refine", "apply", "org_1", "--wait", "--interval", "1ms")
			var paths []string
			for _, q := range f.requests() {
				paths = append(paths, q.Method+" "+q.Path)
			}
			want := []string{"POST /api/v1/orgs/org_1/refinements"}
			for i := 0; i < 4; i++ {
				want = append(want, "GET /api/v1/orgs/org_1/jobs/job_9")
			}
			if strings.Join(paths, "\n") != strings.Join(want, "\n") {
				t.Errorf("requests:\n%s", strings.Join(paths, "\n"))
			}
			for _, w := range []string{"job job_9 (rescore): running, 1/4 (25%)", "2/4 (50%)", "3/4 (75%)"} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if !strings.Contains(r.stdout, "RESCORE JOB") || !strings.Contains(r.stdout, "icp_2@2 (active)") {
				t.Errorf("stdout:\n%s", r.stdout)
			}
			if !fails {
				if r.err != nil {
					t.Fatal(r.err)
				}
				if !strings.Contains(r.stdout, "Rescore completed: 4/4 (100%).") {
					t.Errorf("stdout:\n%s", r.stdout)
				}
				return
			}
			if r.err == nil || r.err.Error() != "the rescore job job_9 failed: the node stopped during the job" {
				t.Errorf("err = %v", r.err)
			}
		})
	}

	// JSON: one document, the job replaced by the finished one.
	f := newScoringFake(t)
	r := execCLI(t, "", "--server", f.URL, "--token", "tsp_x", "--output", "json", "refine", "apply", "org_1", "--wait", "--interval", "1ms")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var doc struct {
		Model struct{ ID string }
		Job   struct{ Status string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Model.ID != "icp_2" || doc.Job.Status != "completed" {
		t.Errorf("json %v %+v:\n%s", err, doc, r.stdout)
	}
}

func TestModelsEvaluationsFeedbackRefineSettingsPluginsJSONOutput(t *testing.T) {
	isolate(t)
	f := newScoringFake(t)
	accounts := scWrite(t, "a.csv", "Name\nAcme\n")
	cases := []struct {
		args []string
		// check is a key of the printed object, or "[]" for an array
		check string
	}{
		{[]string{"models", "list", "org_1"}, "[]"},
		{[]string{"models", "get", "org_1", "icp_2"}, "fitted"},
		{[]string{"models", "create", "org_1", "--text", "SaaS"}, "parsed"},
		{[]string{"models", "activate", "org_1", "icp_2"}, "status"},
		{[]string{"models", "quality", "org_1", "icp_2"}, "reliability"},
		{[]string{"models", "parse-text", "org_1", "SaaS"}, "not_understood"},
		{[]string{"models", "analyze", "org_1", "--accounts", accounts, "--opportunities", accounts}, "analysis"},
		{[]string{"evaluations", "list", "org_1"}, "[]"},
		{[]string{"evaluations", "get", "org_1", "ev_1"}, "contributions"},
		{[]string{"evaluations", "evaluate", "org_1", "lead_1"}, "contributions"},
		{[]string{"feedback", "give", "org_1", "ev_1", "--grade", "hot", "--reason", "long enough reason"}, "expected_grade"},
		{[]string{"feedback", "list", "org_1"}, "[]"},
		{[]string{"refine", "preview", "org_1"}, "rows"},
		{[]string{"refine", "apply", "org_1"}, "job"},
		{[]string{"settings", "get", "org_1"}, "min_signals"},
		{[]string{"settings", "set", "org_1", "min_signals=5"}, "min_signals"},
		{[]string{"plugins", "list"}, "[]"},
		{[]string{"plugins", "start", "salesforce"}, "pid"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := execCLI(t, "", append([]string{"--server", f.URL, "--token", scOperator, "--output", "json"}, tc.args...)...)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if tc.check == "[]" {
				var arr []json.RawMessage
				if err := json.Unmarshal([]byte(r.stdout), &arr); err != nil || len(arr) == 0 {
					t.Errorf("want a non-empty array (%v):\n%s", err, r.stdout)
				}
				return
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil {
				t.Fatalf("%v:\n%s", err, r.stdout)
			}
			if _, ok := obj[tc.check]; !ok {
				keys := make([]string, 0, len(obj))
				for k := range obj {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				t.Errorf("no %q in %v", tc.check, keys)
			}
		})
	}
}

func TestModelsEvaluationsFeedbackRefineSettingsPluginsAPIErrors(t *testing.T) {
	isolate(t)
	f := newScoringFake(t)
	bad := scWrite(t, "bad.json", `{"bogus":1}`)
	csv := scWrite(t, "a.csv", "Name\nAcme\n")
	cases := []struct {
		name  string
		token string
		args  []string
		want  string
	}{
		{"feedback reason too short", "tsp_x", []string{"feedback", "give", "org_1", "ev_1", "--grade", "cold", "--reason", "meh"},
			"error: reason must be 10 to 1000 characters (got 3) (code invalid_length, field reason, request req_%d)\n"},
		{"setting out of range", "tsp_x", []string{"settings", "set", "org_1", "min_signals=99"},
			"error: min_signals must be from 1 to 50 (code out_of_range, field min_signals, request req_%d)\n"},
		{"bad definition", "tsp_x", []string{"models", "create", "org_1", "--file", bad},
			"error: unknown field bogus (code unknown_field, field definition.bogus, request req_%d)\n"},
		{"unknown model", "tsp_x", []string{"models", "get", "org_1", "icp_404"},
			"error: model not found (code model_not_found, request req_%d)\n"},
		{"excluded lead", "tsp_x", []string{"evaluations", "evaluate", "org_1", "lead_x"},
			"error: the evaluation rules exclude this lead (code excluded_by_rules, request req_%d)\n"},
		{"no pending feedback", "tsp_x", []string{"refine", "preview", "org_none"},
			"error: there is no pending feedback to learn from (code no_pending_feedback, request req_%d)\n"},
		{"analyze field error", "tsp_x", []string{"models", "analyze", "org_1", "--accounts", csv, "--opportunities", csv, "--won-stages", "nope"},
			"error: no opportunity has the stage nope (code unknown_stage, field won_stages, request req_%d)\n"},
		{"plugins need the operator", "tsp_x", []string{"plugins", "list"},
			"error: only the operator manages plugins (code operator_only, request req_%d)\n"},
		{"unknown plugin", scOperator, []string{"plugins", "stop", "nope"},
			"error: plugin not found (code plugin_not_found, request req_%d)\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := execCLI(t, "", append([]string{"--server", f.URL, "--token", tc.token}, tc.args...)...)
			if r.err == nil {
				t.Fatal("expected an error")
			}
			if got, want := printed(r.err), fmt.Sprintf(tc.want, len(f.requests())); got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
			if r.stdout != "" {
				t.Errorf("nothing should be printed on stdout: %q", r.stdout)
			}
		})
	}
}

func TestModelsEvaluationsFeedbackRefineSettingsPluginsLocalErrors(t *testing.T) {
	isolate(t)
	f := newScoringFake(t)
	csv := scWrite(t, "a.csv", "Name\nAcme\n")
	notJSON := scWrite(t, "def.json", `[1,2]`)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"create needs file or text", []string{"models", "create", "org_1"}, "at least one of the flags"},
		{"create file and text", []string{"models", "create", "org_1", "--file", notJSON, "--text", "x"}, "none of the others can be"},
		{"definition not an object", []string{"models", "create", "org_1", "--file", notJSON}, "must hold a JSON object"},
		{"definition missing", []string{"models", "create", "org_1", "--file", "/does/not/exist.json"}, "reading the definition"},
		{"analyze needs both files", []string{"models", "analyze", "org_1", "--accounts", csv}, `required flag(s) "opportunities" not set`},
		{"analyze missing file", []string{"models", "analyze", "org_1", "--accounts", csv, "--opportunities", "/does/not/exist.csv"}, "reading the opportunities"},
		{"analyze name without create", []string{"models", "analyze", "org_1", "--accounts", csv, "--opportunities", csv, "--name", "X"}, "need --create"},
		{"analyze preview and create", []string{"models", "analyze", "org_1", "--accounts", csv, "--opportunities", csv, "--preview", "--create"}, "none of the others can be"},
		{"analyze bad columns", []string{"models", "analyze", "org_1", "--accounts", csv, "--opportunities", csv, "--account-columns", "industry=Sector"}, "must be a JSON object"},
		{"analyze bad unit", []string{"models", "analyze", "org_1", "--accounts", csv, "--opportunities", csv, "--unit", "lead"}, "--unit must be opportunity or account"},
		{"feedback bad grade", []string{"feedback", "give", "org_1", "ev_1", "--grade", "lukewarm", "--reason", "long enough reason"}, "--grade must be hot, warm or cold"},
		{"feedback needs reason", []string{"feedback", "give", "org_1", "ev_1", "--grade", "hot"}, `required flag(s) "reason" not set`},
		{"feedback bad status", []string{"feedback", "list", "org_1", "--status", "done"}, "--status must be pending or applied"},
		{"evaluations bad limit", []string{"evaluations", "list", "org_1", "--limit", "-1"}, "--limit must be 0"},
		{"settings need a pair", []string{"settings", "set", "org_1"}, "requires at least 2 arg(s)"},
		{"settings not key=value", []string{"settings", "set", "org_1", "min_signals"}, "want key=value"},
		{"settings unknown key", []string{"settings", "set", "org_1", "min_signalz=3"}, `unknown setting "min_signalz": use one of min_signals, min_signal_types`},
		{"settings not a number", []string{"settings", "set", "org_1", "min_signals=many"}, "min_signals must be a whole number"},
		{"settings not a bool", []string{"settings", "set", "org_1", "cooling_off=maybe"}, "cooling_off must be true or false"},
		{"settings twice", []string{"settings", "set", "org_1", "min_signals=3", "min_signals=4"}, "min_signals is given twice"},
		{"refine bad interval", []string{"refine", "apply", "org_1", "--wait", "--interval", "0s"}, "--interval must be positive"},
		{"plugins take a name", []string{"plugins", "start"}, "accepts 1 arg(s)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := len(f.requests())
			r := execCLI(t, "", append([]string{"--server", f.URL, "--token", "tsp_x"}, tc.args...)...)
			if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", r.err, tc.want)
			}
			if len(f.requests()) != n {
				t.Errorf("a request was sent: %+v", f.last(t))
			}
		})
	}
	// Without a credential nothing is sent either.
	if r := execCLI(t, "", "--server", f.URL, "plugins", "list"); r.err == nil || !strings.Contains(r.err.Error(), "not signed in") {
		t.Errorf("err = %v", r.err)
	}
}
