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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// ---- a fake for the data routes -----------------------------------------------------------------

const (
	testKey    = "sk_TestKey0123456789"  // a key without a secret
	testKeyS   = "sk_SecretKey012345678" // a key with the secret testSecret
	testSecret = "the-key-secret"
)

var (
	fSig1 = `{"id":1,"status":"completed","source":"segment","type":"track","event":"Demo Requested","timestamp":` + ts +
		`,"received_at":` + ts + `,"rule_id":"rule_1","lead_id":"lead_1","account_id":"acct_1","processed_at":` + ts +
		`,"payload":{"event":"Demo Requested","email":"lee@globex.com","n":1.50}}`
	fSig2  = `{"id":2,"status":"failed","source":"hubspot","timestamp":` + ts + `,"received_at":` + ts + `,"error":"boom","attempts":3,"processed_at":` + ts + `,"payload":{}}`
	fSig3  = `{"id":3,"status":"skipped","source":"segment","type":"page","timestamp":` + ts + `,"received_at":` + ts + `,"lead_id":"lead_2","processed_at":` + ts + `,"payload":{}}`
	fStats = `{"pending":7,"by_status":{"pending":7,"completed":40,"failed":2,"weird":1},"truncated":false}`
	fRule  = `{"id":"rule_1","name":"Demo request","signal_type":"form_fill","description":"","high_intent":true,"negative":false,` +
		`"conditions":{"path":"event","op":"equals","value":"Demo Requested"},"priority":10,"mappings":[{"path":"email","target":"email"}],` +
		`"weight":5,"created_at":` + ts + `,"updated_at":` + ts + `}`
	fAcct = `{"id":"acct_1","name":"Globex","domain":"globex.com","industry":"Manufacturing","employees":1200,"region":"EU","inferred":false,"source":"api","created_at":` + ts + `,"updated_at":` + ts + `}`
	fLead = func() string {
		var tl []string
		for i := 1; i <= 12; i++ {
			e := fmt.Sprintf(`{"signal_id":%d,"at":%s,"source":"segment","event":"ev-%02d"}`, i, ts, i)
			if i == 12 {
				e = fmt.Sprintf(`{"signal_id":12,"at":%s,"source":"segment","event":"ev-12","rule_id":"rule_1","rule_name":"Demo request","signal_type":"form_fill","high_intent":true,"weight":5}`, ts)
			}
			tl = append(tl, e)
		}
		return `{"id":"lead_1","email":"lee@globex.com","identifiers":[{"kind":"email","value":"lee@globex.com"},{"kind":"user_id","value":"u42"}],` +
			`"account":{"account_id":"acct_1","how":"domain"},"signal_count":12,"mapped_count":3,"counts_by_type":{"page_view":2,"form_fill":1},` +
			`"first_seen_at":` + ts + `,"last_seen_at":` + ts + `,"timeline":[` + strings.Join(tl, ",") + `],"created_at":` + ts + `,"updated_at":` + ts + `}`
	}()
	fLead2   = `{"id":"lead_2","identifiers":[{"kind":"user_id","value":"u7"}],"account":null,"unmatched_reason":"free_email_domain","signal_count":1,"mapped_count":0,"counts_by_type":{},"first_seen_at":` + ts + `,"last_seen_at":` + ts + `,"timeline":[],"created_at":` + ts + `,"updated_at":` + ts + `}`
	fSummary = `{"accepted":9997,"rejected":2,"duplicates":1,"errors":[{"line":3,"error":{"code":"malformed_json","message":"line 3: invalid character 'x'"}},` +
		`{"line":7,"error":{"code":"required","message":"a signal needs an identifier","field":"email"}}],"duration_ms":1234}`
)

type dreq struct {
	Method, Path, Query, URI, Body string
	Header                         http.Header
	ContentLength                  int64
	TransferEncoding               []string
	Reads                          int // how many reads the body took
}

type dataFake struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []dreq

	// notifyAt, when set, closes reached once a request body has reached that many bytes.
	notifyAt int64
	reached  chan struct{}
}

// notifyWhen returns a channel closed once a request body reaches n bytes.
func (f *dataFake) notifyWhen(n int64) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notifyAt, f.reached = n, make(chan struct{})
	return f.reached
}

func (f *dataFake) received(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.notifyAt > 0 && n >= f.notifyAt {
		f.notifyAt = 0
		close(f.reached)
	}
}

func (f *dataFake) requests() []dreq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]dreq(nil), f.reqs...)
}

func (f *dataFake) since(n int) []dreq { return f.requests()[n:] }

func newDataFake(t *testing.T) *dataFake {
	t.Helper()
	f := &dataFake{}
	mux := http.NewServeMux()
	reply := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	page := func(items, next string) string { return `{"items":[` + items + `],"next_cursor":"` + next + `"}` }

	mux.HandleFunc("GET /api/v1/api-keys/self", func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Authorization") {
		case "Bearer " + testKey:
			io.WriteString(w, `{"org_id":"org_1","key_id":"key_1","type":"signal_staging","name":"import"}`)
		case "Bearer " + testKeyS:
			if r.Header.Get("X-Api-Secret") != testSecret {
				apiError(w, 401, "secret_required", "this key needs its secret (X-Api-Secret)", "")
				return
			}
			io.WriteString(w, `{"org_id":"org_1","key_id":"key_1","type":"signal_staging","name":"import"}`)
		case "Bearer sk_productKey":
			io.WriteString(w, `{"org_id":"org_1","key_id":"key_2","type":"product_org","name":"product"}`)
		default:
			apiError(w, 401, "key_invalid", "the API key is not valid", "")
		}
	})
	mux.HandleFunc("GET /api/v1/orgs/{org}/signals", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "" {
			io.WriteString(w, page(fSig1+","+fSig2, "2"))
			return
		}
		io.WriteString(w, page(fSig3, ""))
	})
	mux.HandleFunc("GET /api/v1/orgs/{org}/signals/stats", reply(200, fStats))
	mux.HandleFunc("GET /api/v1/orgs/{org}/signals/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "1" {
			apiError(w, 404, "signal_not_found", "signal not found", "")
			return
		}
		io.WriteString(w, fSig1)
	})
	mux.HandleFunc("GET /api/v1/orgs/{org}/signal-rules", reply(200, page(fRule, "")))
	mux.HandleFunc("GET /api/v1/orgs/{org}/signal-rules/{id}", reply(200, fRule))
	ruleWrite := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if bytes.Contains(b, []byte(`"op":"nearly"`)) {
				apiError(w, 400, "invalid_enum", "op must be one of equals, …", "conditions.op")
				return
			}
			w.WriteHeader(status)
			io.WriteString(w, fRule)
		}
	}
	mux.HandleFunc("POST /api/v1/orgs/{org}/signal-rules", ruleWrite(201))
	mux.HandleFunc("PUT /api/v1/orgs/{org}/signal-rules/{id}", ruleWrite(200))
	mux.HandleFunc("DELETE /api/v1/orgs/{org}/signal-rules/{id}", reply(204, ""))
	mux.HandleFunc("GET /api/v1/orgs/{org}/leads", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Has("email") && strings.EqualFold(q.Get("email"), "lee@globex.com"):
			io.WriteString(w, page(fLead, ""))
		case q.Has("email"):
			io.WriteString(w, page("", ""))
		case q.Get("cursor") == "":
			io.WriteString(w, page(fLead, "lead_1"))
		default:
			io.WriteString(w, page(fLead2, ""))
		}
	})
	mux.HandleFunc("GET /api/v1/orgs/{org}/leads/{id}", reply(200, fLead))
	mux.HandleFunc("GET /api/v1/orgs/{org}/accounts", reply(200, page(fAcct, "")))
	mux.HandleFunc("GET /api/v1/orgs/{org}/accounts/{id}", reply(200, fAcct))
	mux.HandleFunc("POST /api/v1/orgs/{org}/accounts", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		if n, ok := in["employees"].(float64); ok && n < 0 {
			apiError(w, 400, "out_of_range", "employees must be from 0 to 10000000", "employees")
			return
		}
		w.WriteHeader(201)
		io.WriteString(w, fAcct)
	})
	mux.HandleFunc("POST /api/v1/orgs/{org}/accounts/import", reply(200,
		`{"created":2,"failed":1,"errors":[{"row":2,"error":{"code":"required","message":"name is required","field":"name"}}]}`))
	mux.HandleFunc("POST /api/signal-staging/bulk", reply(200, fSummary))

	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := dreq{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, URI: r.RequestURI, Header: r.Header.Clone(),
			ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding}
		// Read the body incrementally, as the server's bulk reader does.
		var body bytes.Buffer
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				d.Reads++
				body.Write(buf[:n])
				f.received(int64(body.Len()))
			}
			if err != nil {
				break
			}
		}
		d.Body = body.String()
		r.Body = io.NopCloser(bytes.NewReader(body.Bytes()))
		f.mu.Lock()
		f.reqs = append(f.reqs, d)
		n := len(f.reqs)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", fmt.Sprintf("req_%d", n))
		if r.URL.Path != "/api/v1/api-keys/self" && !strings.HasPrefix(r.URL.Path, "/api/signal-staging/") &&
			r.Header.Get("Authorization") != "Bearer tsp_x" {
			apiError(w, 401, "invalid_token", "the token is not valid", "")
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// runCLI is execCLI with any stdin.
func runCLI(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	root := &cobra.Command{Use: "trailspark", SilenceUsage: true, SilenceErrors: true}
	addClientCommands(root)
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(stdin)
	root.SetArgs(args)
	err := root.Execute()
	return result{out.String(), errb.String(), err}
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("not valid JSON (%v):\n%s", err, s)
	}
	return b.String()
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ---- the command tree ---------------------------------------------------------------------------

func TestSignalsRulesLeadsAccountsCommandTree(t *testing.T) {
	root := &cobra.Command{Use: "trailspark"}
	addClientCommands(root)
	for _, path := range []string{
		"signals import", "signals get", "signals list", "signals stats",
		"rules list", "rules get", "rules create", "rules update", "rules delete",
		"leads list", "leads get", "leads find",
		"accounts list", "accounts get", "accounts create", "accounts import",
		"signal list", "rule get", "lead find", "account import", // singular aliases
	} {
		f := strings.Fields(path)
		cmd, rest, err := root.Find(f)
		if err != nil || len(rest) != 0 || cmd.Name() != f[len(f)-1] {
			t.Errorf("command %q not found (%v)", path, err)
		}
	}
	imp, _, _ := root.Find([]string{"signals", "import"})
	for _, want := range []string{"Exit status: 0 whenever the server answered", "never in the URL", "never loaded in memory"} {
		if !strings.Contains(strings.Join(strings.Fields(imp.Long), " "), want) {
			t.Errorf("signals import help lacks %q", want)
		}
	}
}

// ---- requests and output of each command ------------------------------------------------------

func TestSignalsRulesLeadsAccountsRequestsAndOutput(t *testing.T) {
	isolate(t)
	f := newDataFake(t)
	ruleIn := `{"name":"Demo request","signal_type":"form_fill","conditions":{"path":"event","op":"equals","value":"Demo Requested"},"priority":10,"mappings":[{"path":"email","target":"email"}],"weight":5}`
	// What `rules get --output json` prints: server-set fields included.
	ruleSaved := `{"id":"rule_1","created_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-01T12:00:00Z",` + ruleIn[1:]
	ruleFile := writeFile(t, "rule.json", ruleSaved)
	csvFile := writeFile(t, "accounts.csv", "name,website,employees\nInitech,initech.com,\"1,200\"\n,nameless.io,3\n")
	jsonFile := writeFile(t, "accounts.json", `[{"name":"Initech"},{"domain":"x.io"}]`)
	base := "/api/v1/orgs/org_1"

	cases := []struct {
		name     string
		args     []string
		stdin    string
		reqs     []string // "METHOD PATH?QUERY", every request of one run
		body     string   // the last request's body (compared as JSON; exact for CSV)
		ctype    string   // the last request's Content-Type
		table    []string // in the table output
		notTable []string // not in the table output
		json     []string // in the compacted JSON output
		stderr   string   // in stderr (table run)
	}{
		{name: "signals get", args: []string{"signals", "get", "org_1", "1"},
			reqs:  []string{"GET " + base + "/signals/1"},
			table: []string{"ID ", "1\n", "STATUS ", "completed", "EVENT ", "Demo Requested", "RULE ", "rule_1", "LEAD ", "lead_1", "ACCOUNT ", "acct_1", "ATTEMPTS ", `{"event":"Demo Requested","email":"lee@globex.com","n":1.50}`},
			json:  []string{`"id":1,`, `"payload":{"event":"Demo Requested","email":"lee@globex.com","n":1.50}`}},
		{name: "signals list follows next_cursor", args: []string{"signals", "list", "org_1"},
			reqs:  []string{"GET " + base + "/signals?limit=50", "GET " + base + "/signals?cursor=2&limit=48"},
			table: []string{"ID  STATUS", "1   completed", "2   failed", "3   skipped", "hubspot", "lead_2"},
			json:  []string{`[{"id":1,`, `{"id":2,`, `{"id":3,`}},
		{name: "signals list filters and limit", args: []string{"signals", "list", "org_1", "--status", "completed", "--source", "segment", "--rule", "rule_1", "--lead", "lead_1", "--limit", "2"},
			reqs:     []string{"GET " + base + "/signals?lead_id=lead_1&limit=2&rule_id=rule_1&source=segment&status=completed"},
			table:    []string{"1   completed", "2   failed"},
			notTable: []string{"skipped"},
			json:     []string{`{"id":2,`},
			stderr:   "the first 2 signals; pass a larger --limit, or --limit 0 for all"},
		{name: "signals list all", args: []string{"signals", "list", "org_1", "--limit", "0"},
			reqs:  []string{"GET " + base + "/signals?limit=200", "GET " + base + "/signals?cursor=2&limit=200"},
			table: []string{"3   skipped"}},
		{name: "signals stats", args: []string{"signals", "stats", "org_1"},
			reqs:  []string{"GET " + base + "/signals/stats"},
			table: []string{"PENDING  7", "pending             7", "completed           40", "failed              2", "permanently_failed  0", "weird               1"},
			json:  []string{`"pending":7`, `"weird":1`}},
		{name: "rules list", args: []string{"rules", "list", "org_1"},
			reqs:  []string{"GET " + base + "/signal-rules?limit=200"},
			table: []string{"ID", "SIGNAL TYPE", "rule_1", "Demo request", "form_fill", "10", "yes", "email→email"},
			json:  []string{`[{"id":"rule_1",`}},
		{name: "rules get", args: []string{"rules", "get", "org_1", "rule_1"},
			reqs:  []string{"GET " + base + "/signal-rules/rule_1"},
			table: []string{"NAME ", "Demo request", "HIGH INTENT ", "WEIGHT ", "HALF-LIFE (H)  default", `{"path":"event","op":"equals","value":"Demo Requested"}`},
			json:  []string{`"id":"rule_1"`, `"weight":5`}},
		{name: "rules create drops server fields", args: []string{"rules", "create", "org_1", "--file", ruleFile},
			reqs: []string{"POST " + base + "/signal-rules"}, body: ruleIn, ctype: "application/json",
			table: []string{"ID ", "rule_1"}, json: []string{`"id":"rule_1"`}},
		{name: "rules update from stdin", args: []string{"rules", "update", "org_1", "rule_1", "--file", "-"}, stdin: ruleSaved,
			reqs: []string{"PUT " + base + "/signal-rules/rule_1"}, body: ruleIn, ctype: "application/json",
			table: []string{"rule_1"}, json: []string{`"id":"rule_1"`}},
		{name: "rules delete", args: []string{"rules", "delete", "org_1", "rule_1"},
			reqs:  []string{"DELETE " + base + "/signal-rules/rule_1"},
			table: []string{"Deleted rule rule_1."}, json: []string{`"ok":true`, `"id":"rule_1"`}},
		{name: "leads list", args: []string{"leads", "list", "org_1"},
			reqs:  []string{"GET " + base + "/leads?limit=50", "GET " + base + "/leads?cursor=lead_1&limit=49"},
			table: []string{"ID", "EMAIL", "lead_1", "lee@globex.com", "acct_1 (domain)", "12", "lead_2", "- (free_email_domain)"},
			json:  []string{`[{"id":"lead_1",`, `{"id":"lead_2",`}},
		{name: "leads get", args: []string{"leads", "get", "org_1", "lead_1"},
			reqs: []string{"GET " + base + "/leads/lead_1"},
			table: []string{"IDENTIFIERS ", "email=lee@globex.com, user_id=u42", "ACCOUNT ", "acct_1 (domain)", "SIGNALS ", "MAPPED ",
				"BY TYPE ", "form_fill=1, page_view=2", "the latest 10 of 12", "ev-03", "ev-12", "rule_1 (Demo request)", "form_fill"},
			notTable: []string{"ev-01", "ev-02"},
			json:     []string{`"id":"lead_1"`, `"event":"ev-01"`, `"how":"domain"`}},
		{name: "leads get whole timeline", args: []string{"leads", "get", "org_1", "lead_1", "--timeline", "0"},
			reqs:  []string{"GET " + base + "/leads/lead_1"},
			table: []string{"Timeline: 12 entries", "ev-01", "ev-12"}},
		{name: "leads find", args: []string{"leads", "find", "org_1", "--email", "Lee@Globex.com"},
			reqs:  []string{"GET " + base + "/leads?email=Lee%40Globex.com"},
			table: []string{"lead_1", "acct_1 (domain)", "ev-12"}, json: []string{`"id":"lead_1"`}},
		{name: "accounts list", args: []string{"accounts", "list", "org_1"},
			reqs:  []string{"GET " + base + "/accounts?limit=200"},
			table: []string{"ID", "DOMAIN", "acct_1", "Globex", "globex.com", "Manufacturing", "1200", "EU", "api"},
			json:  []string{`[{"id":"acct_1",`}},
		{name: "accounts get", args: []string{"accounts", "get", "org_1", "acct_1"},
			reqs:  []string{"GET " + base + "/accounts/acct_1"},
			table: []string{"NAME ", "Globex", "EMPLOYEES ", "1200", "INFERRED ", "no"}, json: []string{`"employees":1200`}},
		{name: "accounts create all flags", args: []string{"accounts", "create", "org_1", "--name", "Globex", "--domain", "www.globex.com",
			"--industry", "Manufacturing", "--employees", "0", "--region", "EU", "--external-id", "crm-9"},
			reqs: []string{"POST " + base + "/accounts"}, ctype: "application/json",
			body:  `{"name":"Globex","domain":"www.globex.com","industry":"Manufacturing","employees":0,"region":"EU","external_id":"crm-9"}`,
			table: []string{"acct_1"}, json: []string{`"id":"acct_1"`}},
		{name: "accounts create minimal", args: []string{"accounts", "create", "org_1", "--name", "Globex"},
			reqs: []string{"POST " + base + "/accounts"}, body: `{"name":"Globex"}`, table: []string{"acct_1"}},
		{name: "accounts import csv", args: []string{"accounts", "import", "org_1", csvFile},
			reqs: []string{"POST " + base + "/accounts/import"}, ctype: "text/csv",
			body:  "name,website,employees\nInitech,initech.com,\"1,200\"\n,nameless.io,3\n",
			table: []string{"CREATED  2", "FAILED   1", "ROW  CODE", "2    required  name   name is required"},
			json:  []string{`"created":2`, `"row":2`}},
		{name: "accounts import json", args: []string{"accounts", "import", "org_1", jsonFile},
			reqs: []string{"POST " + base + "/accounts/import"}, ctype: "application/json",
			body: `[{"name":"Initech"},{"domain":"x.io"}]`, table: []string{"CREATED  2"}},
		{name: "accounts import json from stdin", args: []string{"accounts", "import", "org_1", "-"}, stdin: "\n [{\"name\":\"A\"}]",
			reqs: []string{"POST " + base + "/accounts/import"}, ctype: "application/json", body: `[{"name":"A"}]`},
		{name: "accounts import csv from stdin", args: []string{"accounts", "import", "org_1", "-"}, stdin: "name\nA\n",
			reqs: []string{"POST " + base + "/accounts/import"}, ctype: "text/csv", body: "name\nA\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, output := range []string{"table", "json"} {
				n := len(f.requests())
				r := runCLI(t, strings.NewReader(tc.stdin), append([]string{"--server", f.URL, "--token", "tsp_x", "--output", output}, tc.args...)...)
				if r.err != nil {
					t.Fatalf("%s: %v\nstderr: %s", output, r.err, r.stderr)
				}
				got := f.since(n)
				var lines []string
				for _, q := range got {
					l := q.Method + " " + q.Path
					if q.Query != "" {
						l += "?" + q.Query
					}
					lines = append(lines, l)
					if q.Header.Get("Authorization") != "Bearer tsp_x" {
						t.Errorf("%s: Authorization %q", l, q.Header.Get("Authorization"))
					}
				}
				if strings.Join(lines, "\n") != strings.Join(tc.reqs, "\n") {
					t.Errorf("%s: requests\n got %q\nwant %q", output, lines, tc.reqs)
				}
				if len(got) == 0 {
					continue
				}
				last := got[len(got)-1]
				switch {
				case tc.body == "" && last.Body != "":
					t.Errorf("%s: unexpected body %s", output, last.Body)
				case tc.body != "" && last.Body != tc.body && !sameJSON(last.Body, tc.body):
					t.Errorf("%s: body\n got %s\nwant %s", output, last.Body, tc.body)
				}
				if tc.ctype != "" && last.Header.Get("Content-Type") != tc.ctype {
					t.Errorf("%s: Content-Type %q, want %q", output, last.Header.Get("Content-Type"), tc.ctype)
				}
				if output == "json" {
					out := compactJSON(t, r.stdout)
					for _, want := range tc.json {
						if !strings.Contains(out, want) {
							t.Errorf("json output lacks %s:\n%s", want, out)
						}
					}
					continue
				}
				for _, want := range tc.table {
					if !strings.Contains(r.stdout, want) {
						t.Errorf("table output lacks %q:\n%s", want, r.stdout)
					}
				}
				for _, not := range tc.notTable {
					if strings.Contains(r.stdout, not) {
						t.Errorf("table output holds %q:\n%s", not, r.stdout)
					}
				}
				if !strings.Contains(r.stderr, tc.stderr) {
					t.Errorf("stderr lacks %q:\n%s", tc.stderr, r.stderr)
				}
			}
		})
	}
}

func TestSignalsRulesLeadsAccountsEmptyListsPrintArrays(t *testing.T) {
	isolate(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"items":[],"next_cursor":""}`)
	}))
	defer srv.Close()
	for _, args := range [][]string{{"signals", "list", "o"}, {"rules", "list", "o"}, {"leads", "list", "o"}, {"accounts", "list", "o"}} {
		r := runCLI(t, strings.NewReader(""), append([]string{"--server", srv.URL, "--token", "t", "--output", "json"}, args...)...)
		if r.err != nil || strings.TrimSpace(r.stdout) != "[]" {
			t.Errorf("%v: err %v, stdout %q", args, r.err, r.stdout)
		}
	}
	r := runCLI(t, strings.NewReader(""), "--server", srv.URL, "--token", "t", "leads", "find", "o", "--email", "nobody@x.io")
	if r.err == nil || !strings.Contains(r.err.Error(), "no lead is known by the email nobody@x.io") || r.stdout != "" {
		t.Errorf("leads find without a match: err %v, stdout %q", r.err, r.stdout)
	}
}

// ---- the streamed bulk import -------------------------------------------------------------------

// bigNDJSON is n signals, one a line (about 120 bytes each).
func bigNDJSON(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"type":"track","event":"Page Viewed {%d}","email":"user%06d@globex.com","messageId":"m-%08d","properties":{"q":"a\"}"}}`+"\n", i, i, i)
	}
	return b.String()
}

// bigArray is the same signals as one JSON array, pretty-printed over several lines.
func bigArray(n int) string {
	var b strings.Builder
	b.WriteString("\xef\xbb\xbf \n[\n")
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `  {"type":"track","event":"Page Viewed [%d]","email":"user%06d@globex.com","context":{"ip":"10.0.0.1","tags":["a","]"]}}`, i, i)
	}
	b.WriteString("\n]\n")
	return b.String()
}

var finalLineRe = regexp.MustCompile(`^import: sent (\S+ \S+)(?: / (\S+ \S+) \((\d+)%\))?, (\d+) signals in \S+ \(\d+ signals/s\)$`)

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestSignalsImportStreamsTheFile(t *testing.T) {
	isolate(t)
	f := newDataFake(t)
	nd := bigNDJSON(10000)
	arr := bigArray(9000)
	ndFile := writeFile(t, "signals.ndjson", nd)
	arrFile := writeFile(t, "signals.json", arr)
	for _, s := range []string{nd, arr} {
		if len(s) <= 1<<20 {
			t.Fatalf("the test file is only %d bytes; it must be larger than 1 MiB", len(s))
		}
	}
	cases := []struct {
		name           string
		file, content  string
		flags          []string
		ctype          string
		secret, source string
		signals        string
		errorsHeader   string
	}{
		{"ndjson", ndFile, nd, nil, "application/x-ndjson", "", "", "10000", "LINE"},
		{"ndjson with secret and source", ndFile, nd, []string{"--secret", testSecret, "--source", "HubSpot"}, "application/x-ndjson", testSecret, "HubSpot", "10000", "LINE"},
		{"json array", arrFile, arr, []string{"--secret", testSecret}, "application/json", testSecret, "", "9000", "ELEMENT"},
		{"secret from the environment", arrFile, arr, nil, "application/json", testSecret, "", "9000", "ELEMENT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, output := range []string{"table", "json"} {
				n := len(f.requests())
				key := testKey
				if tc.secret != "" {
					key = testKeyS
				}
				t.Setenv(envKeySecret, "")
				if tc.secret != "" && len(tc.flags) == 0 {
					t.Setenv(envKeySecret, tc.secret)
				}
				args := append([]string{"--server", f.URL, "--output", output, "signals", "import", tc.file, "--key", key}, tc.flags...)
				r := runCLI(t, strings.NewReader(""), args...)
				if r.err != nil {
					t.Fatalf("%v\nstderr: %s", r.err, r.stderr)
				}
				reqs := f.since(n)
				if len(reqs) != 2 || reqs[0].Path != "/api/v1/api-keys/self" || reqs[1].Path != "/api/signal-staging/bulk" {
					t.Fatalf("requests %v", reqs)
				}
				for _, q := range reqs {
					if strings.Contains(q.URI, key) || q.Query != "" {
						t.Errorf("the key or a query is in the URL: %s", q.URI)
					}
					if got := q.Header.Get("Authorization"); got != "Bearer "+key {
						t.Errorf("%s: Authorization %q", q.Path, got)
					}
					if got := q.Header.Get("X-Api-Secret"); got != tc.secret {
						t.Errorf("%s: X-Api-Secret %q", q.Path, got)
					}
				}
				bulk := reqs[1]
				if bulk.Method != "POST" || bulk.Header.Get("Content-Type") != tc.ctype || bulk.Header.Get("X-Source") != tc.source {
					t.Errorf("bulk request: %s, Content-Type %q, X-Source %q", bulk.Method, bulk.Header.Get("Content-Type"), bulk.Header.Get("X-Source"))
				}
				if bulk.Body != tc.content {
					t.Errorf("the body differs from the file (%d bytes, want %d)", len(bulk.Body), len(tc.content))
				}
				if bulk.ContentLength != int64(len(tc.content)) {
					t.Errorf("Content-Length %d, want the file size %d", bulk.ContentLength, len(tc.content))
				}
				if bulk.Reads < 2 {
					t.Errorf("the body came in %d reads", bulk.Reads)
				}
				// The progress ends with a summary line on a non-terminal stderr.
				if !strings.Contains(r.stderr, "Importing "+tc.file+" into organization org_1 (key import).") {
					t.Errorf("stderr lacks the target:\n%s", r.stderr)
				}
				m := finalLineRe.FindStringSubmatch(lastLine(r.stderr))
				if m == nil {
					t.Fatalf("final progress line %q", lastLine(r.stderr))
				}
				if want := fmtBytes(int64(len(tc.content))); m[1] != want || m[2] != want || m[3] != "100" || m[4] != tc.signals {
					t.Errorf("final progress line %q: want %s / %s (100%%), %s signals", lastLine(r.stderr), want, want, tc.signals)
				}
				if strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "\x1b") {
					t.Errorf("terminal control characters on a non-terminal stderr: %q", r.stderr)
				}
				if output == "json" {
					if !sameJSON(r.stdout, fSummary) {
						t.Errorf("json output:\n%s", r.stdout)
					}
					continue
				}
				for _, want := range []string{"ACCEPTED    9997", "REJECTED    2", "DUPLICATES  1", "DURATION    1.234s",
					tc.errorsHeader + "  CODE", "3  ", "malformed_json", "line 3: invalid character 'x'", "7  ", "required", "email", "a signal needs an identifier"} {
					if !strings.Contains(r.stdout, want) {
						t.Errorf("table lacks %q:\n%s", want, r.stdout)
					}
				}
			}
		})
	}
}

// TestSignalsImportStreamsStdin proves the upload is streamed: stdin is a
// pipe whose second half is written only once the server has received part of
// the first; a CLI that read its input whole before sending would stall.
func TestSignalsImportStreamsStdin(t *testing.T) {
	isolate(t)
	f := newDataFake(t)
	data := bigNDJSON(10000)
	half := len(data) / 2
	reached := f.notifyWhen(256 << 10)
	pr, pw := io.Pipe()
	stalled := make(chan bool, 1)
	go func() {
		io.WriteString(pw, data[:half])
		select {
		case <-reached:
			stalled <- false
		case <-time.After(15 * time.Second):
			stalled <- true
		}
		io.WriteString(pw, data[half:])
		pw.Close()
	}()
	r := runCLI(t, pr, "--server", f.URL, "signals", "import", "-", "--key", testKeyS, "--secret", testSecret)
	if r.err != nil {
		t.Fatalf("%v\nstderr: %s", r.err, r.stderr)
	}
	if <-stalled {
		t.Fatal("nothing reached the server before stdin ended: the input is not streamed")
	}
	reqs := f.requests()
	bulk := reqs[len(reqs)-1]
	if bulk.Body != data || bulk.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("body %d bytes (want %d), Content-Type %q", len(bulk.Body), len(data), bulk.Header.Get("Content-Type"))
	}
	if bulk.ContentLength != -1 || len(bulk.TransferEncoding) == 0 || bulk.TransferEncoding[0] != "chunked" {
		t.Errorf("stdin of unknown size should be sent chunked: Content-Length %d, Transfer-Encoding %v", bulk.ContentLength, bulk.TransferEncoding)
	}
	m := finalLineRe.FindStringSubmatch(lastLine(r.stderr))
	if m == nil || m[1] != fmtBytes(int64(len(data))) || m[2] != "" || m[4] != "10000" {
		t.Errorf("final progress line %q (no total, no percentage for stdin)", lastLine(r.stderr))
	}
	if !strings.Contains(r.stderr, "Importing stdin into organization org_1") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "ACCEPTED") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

func TestSignalsImportKeyFromEnvironment(t *testing.T) {
	isolate(t)
	f := newDataFake(t)
	t.Setenv(envKey, testKeyS)
	t.Setenv(envKeySecret, testSecret)
	file := writeFile(t, "s.ndjson", `{"email":"a@b.co"}`)
	r := runCLI(t, strings.NewReader(""), "--server", f.URL, "signals", "import", file)
	if r.err != nil {
		t.Fatal(r.err)
	}
	last := f.requests()[len(f.requests())-1]
	if last.Header.Get("Authorization") != "Bearer "+testKeyS || last.Header.Get("X-Api-Secret") != testSecret || last.Body != `{"email":"a@b.co"}` {
		t.Errorf("request %+v", last)
	}
	if got := lastLine(r.stderr); !strings.Contains(got, "1 signals") {
		t.Errorf("a last line without a newline is a signal: %q", got)
	}
}

func TestSignalsImportCountsSignals(t *testing.T) {
	cases := []struct {
		name  string
		array bool
		in    string
		want  int64
	}{
		{"ndjson", false, "{}\n{}\n", 2},
		{"ndjson blank lines and no final newline", false, "\n{\"a\":1}\n  \r\n\t\n{\"b\":2}", 2},
		{"array", true, `[{"a":"}"},{"b":{"c":[1,{"d":2}]}},{"e":"\"}"}]`, 3},
		{"array over lines", true, "[\n {\"a\":1},\n {\"a\":2}\n]\n", 2},
		{"empty array", true, "[]", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{1, 3, 1 << 10} { // however the transport slices the body
				p := newImportProgress(io.Discard, false, -1, tc.array)
				for i := 0; i < len(tc.in); i += chunk {
					p.add([]byte(tc.in[i:min(i+chunk, len(tc.in))]))
				}
				p.eof()
				if got := p.signals.Load(); got != tc.want {
					t.Errorf("chunk %d: %d signals, want %d", chunk, got, tc.want)
				}
			}
		})
	}
}

func TestSignalsImportProgressLines(t *testing.T) {
	p := newImportProgress(io.Discard, false, 4<<20, false)
	p.began = time.Now().Add(-2 * time.Second)
	p.add(bytes.Repeat([]byte("{}\n"), 1<<20/3)) // 349525 signals
	p.add([]byte("\n"))                          // 1 MiB in all
	if s := p.status(); !regexp.MustCompile(`^1\.0 MiB / 4\.0 MiB \(25%\), 349525 signals, \d+ signals/s, ETA \d+s$`).MatchString(s) {
		t.Errorf("status %q", s)
	}
	if b := p.bar(); !regexp.MustCompile(`^\[=====>              \]  25%  1\.0 MiB / 4\.0 MiB  \d+ signals/s  ETA \d+s$`).MatchString(b) || len(b) > 79 {
		t.Errorf("bar %q", b)
	}
	p.eof()
	if s := p.status(); !strings.HasSuffix(s, "uploaded, waiting for the server's summary") {
		t.Errorf("status after the upload %q", s)
	}
	if b := p.bar(); !strings.HasSuffix(b, "waiting for the server…") {
		t.Errorf("bar after the upload %q", b)
	}

	// On a terminal the line is redrawn in place and ends with a newline.
	var buf bytes.Buffer
	p = newImportProgress(&buf, true, 100, false)
	p.start()
	p.add([]byte("{}\n"))
	p.eof()
	p.stop()
	if out := buf.String(); !strings.HasPrefix(out, "\r\x1b[K") || !finalLineRe.MatchString(strings.TrimSuffix(strings.TrimPrefix(out, "\r\x1b[K"), "\n")) {
		t.Errorf("terminal output %q", out)
	}
}

// The server may refuse a request before reading its body (as an
// authentication failure does); the refusal must still be what is reported.
func TestSignalsImportEarlyRefusal(t *testing.T) {
	isolate(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req_1")
		if r.URL.Path == "/api/v1/api-keys/self" {
			io.WriteString(w, `{"org_id":"org_1","key_id":"key_1","type":"signal_staging","name":"k"}`)
			return
		}
		apiError(w, 401, "key_revoked", "the API key was revoked", "") // the body is not read
	}))
	defer srv.Close()
	file := writeFile(t, "s.ndjson", bigNDJSON(20000))
	for i := 0; i < 3; i++ {
		r := runCLI(t, strings.NewReader(""), "--server", srv.URL, "signals", "import", file, "--key", testKey)
		if r.err == nil || printed(r.err) != "error: the API key was revoked (code key_revoked, request req_1)\n" {
			t.Fatalf("err %v", r.err)
		}
	}
}

// ---- errors -----------------------------------------------------------------------------------

func TestSignalsRulesLeadsAccountsAPIErrors(t *testing.T) {
	isolate(t)
	f := newDataFake(t)
	big := writeFile(t, "big.ndjson", bigNDJSON(10000))
	badRule := writeFile(t, "bad.json", `{"name":"x","signal_type":"form_fill","conditions":{"path":"a","op":"nearly"},"mappings":[{"path":"email","target":"email"}]}`)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"signal not found", []string{"--token", "tsp_x", "signals", "get", "org_1", "999"},
			"error: signal not found (code signal_not_found, request req_%d)\n"},
		{"rule field error", []string{"--token", "tsp_x", "rules", "create", "org_1", "--file", badRule},
			"error: op must be one of equals, … (code invalid_enum, field conditions.op, request req_%d)\n"},
		{"account field error", []string{"--token", "tsp_x", "accounts", "create", "org_1", "--name", "X", "--employees", "-1"},
			"error: employees must be from 0 to 10000000 (code out_of_range, field employees, request req_%d)\n"},
		{"bad token", []string{"--token", "tsp_wrong", "leads", "list", "org_1"},
			"error: the token is not valid (code invalid_token, request req_%d)\n"},
		{"bad token on a streamed import", []string{"--token", "tsp_wrong", "accounts", "import", "org_1", big},
			"error: the token is not valid (code invalid_token, request req_%d)\n"},
		{"bad key, before any upload", []string{"signals", "import", big, "--key", "sk_wrong"},
			"error: the API key is not valid (code key_invalid, request req_%d)\n"},
		{"missing secret", []string{"signals", "import", big, "--key", testKeyS},
			"error: this key needs its secret (X-Api-Secret) (code secret_required, request req_%d)\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := len(f.requests())
			r := runCLI(t, strings.NewReader(""), append([]string{"--server", f.URL}, tc.args...)...)
			if r.err == nil {
				t.Fatal("expected an error")
			}
			if got, want := printed(r.err), fmt.Sprintf(tc.want, len(f.requests())); got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
			if r.stdout != "" {
				t.Errorf("nothing should be printed on stdout: %q", r.stdout)
			}
			for _, q := range f.since(n) {
				if q.Path == "/api/signal-staging/bulk" {
					t.Error("the signals were uploaded although the key was refused")
				}
			}
		})
	}
}

func TestSignalsImportFailureAfterUpload(t *testing.T) {
	isolate(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req_9")
		if r.URL.Path == "/api/v1/api-keys/self" {
			io.WriteString(w, `{"org_id":"org_1","key_id":"key_1","type":"signal_staging","name":"k"}`)
			return
		}
		io.Copy(io.Discard, r.Body)
		apiError(w, 503, "unavailable", "the store is unavailable; retry", "")
	}))
	defer srv.Close()
	file := writeFile(t, "s.ndjson", bigNDJSON(100))
	r := runCLI(t, strings.NewReader(""), "--server", srv.URL, "signals", "import", file, "--key", testKey)
	if r.err == nil || printed(r.err) != "error: the store is unavailable; retry (code unavailable, request req_9)\n" {
		t.Fatalf("err %v", r.err)
	}
	if r.stdout != "" || finalLineRe.FindStringSubmatch(lastLine(r.stderr)) == nil {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

func TestSignalsRulesLeadsAccountsLocalErrors(t *testing.T) {
	isolate(t)
	f := newDataFake(t)
	notObject := writeFile(t, "arr.json", `[1,2]`)
	twoObjects := writeFile(t, "two.json", `{"name":"a"} {"name":"b"}`)
	cases := []struct {
		name string
		args []string
		env  string // TRAILSPARK_KEY
		want string
	}{
		{"import needs a key", []string{"signals", "import", "x.ndjson"}, "", "pass the ingestion API key with --key"},
		{"import refuses a user token as key", []string{"signals", "import", "x.ndjson", "--key", "tsp_abc"}, "", "--key must be an ingestion API key (sk_…)"},
		{"import of a missing file", []string{"signals", "import", "/does/not/exist.ndjson", "--key", testKey}, "", "reading the signals: open /does/not/exist.ndjson"},
		{"import of a directory", []string{"signals", "import", os.TempDir(), "--key", testKey}, "", "is a directory"},
		{"import with a bad source", []string{"signals", "import", "x", "--key", testKey, "--source", "no spaces"}, "", "--source \"no spaces\""},
		{"list with a negative limit", []string{"--token", "t", "signals", "list", "o", "--limit", "-1"}, "", "--limit must be 0 (all) or more"},
		{"rules create needs --file", []string{"--token", "t", "rules", "create", "o"}, "", `required flag(s) "file" not set`},
		{"rule file not an object", []string{"--token", "t", "rules", "create", "o", "--file", notObject}, "", "must hold a JSON object"},
		{"rule file with two objects", []string{"--token", "t", "rules", "update", "o", "r", "--file", twoObjects}, "", "nothing after it"},
		{"missing rule file", []string{"--token", "t", "rules", "create", "o", "--file", "/does/not/exist.json"}, "", "reading the rule"},
		{"accounts create needs --name", []string{"--token", "t", "accounts", "create", "o"}, "", `required flag(s) "name" not set`},
		{"leads find needs --email", []string{"--token", "t", "leads", "find", "o"}, "", `required flag(s) "email" not set`},
		{"missing accounts file", []string{"--token", "t", "accounts", "import", "o", "/does/not/exist.csv"}, "", "reading the accounts"},
		{"data commands need a token", []string{"leads", "list", "o"}, "", "not signed in"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envKey, tc.env)
			n := len(f.requests())
			r := runCLI(t, strings.NewReader(""), append([]string{"--server", f.URL}, tc.args...)...)
			if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", r.err, tc.want)
			}
			if len(f.requests()) != n {
				t.Errorf("a request was sent: %+v", f.since(n)[0].Path)
			}
		})
	}
	// A product_org key is refused after the self check, before any upload.
	file := writeFile(t, "s.ndjson", "{}\n")
	n := len(f.requests())
	r := runCLI(t, strings.NewReader(""), "--server", f.URL, "signals", "import", file, "--key", "sk_productKey")
	if r.err == nil || !strings.Contains(r.err.Error(), "is a product_org key; signal imports need a signal_staging key") {
		t.Errorf("product key: %v", r.err)
	}
	if reqs := f.since(n); len(reqs) != 1 {
		t.Errorf("requests %+v", reqs)
	}
}

func TestSignalsImportUnreachableServerHint(t *testing.T) {
	isolate(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	file := writeFile(t, "s.ndjson", "{}\n")
	r := runCLI(t, strings.NewReader(""), "--server", url, "signals", "import", file, "--key", testKey)
	if r.err == nil || !strings.Contains(r.err.Error(), "is a TrailSpark server running at "+url) {
		t.Fatalf("err = %v", r.err)
	}
}
