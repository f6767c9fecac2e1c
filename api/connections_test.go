package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/api/apitest"
	"github.com/trailspark/trailspark/store"
)

// End-to-end tests of CRM connections with real plugin processes: the SDK's
// example CSV connector (its own module, built as a third party would) and
// the Salesforce connector against a fake Salesforce (httptest).

// buildConnPlugins builds trailspark-connector-csv (its own module, as a
// third party builds it) and -salesforce into a fresh plugins directory
// (the Go build cache makes rebuilds a link step).
func buildConnPlugins(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	builds := []struct{ out, workdir, pkg string }{
		{"trailspark-connector-csv", "../sdk/examples/csvconnector", "."},
		{"trailspark-connector-salesforce", "..", "./plugins/salesforce"},
	}
	for _, b := range builds {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = b.workdir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.out, err, out)
		}
	}
	return dir
}

// pluginOptions are node options with a plugins directory holding the
// connectors (each node its own: pins live with the node).
func pluginOptions(t *testing.T, opts ...apitest.Options) apitest.Options {
	t.Helper()
	var o apitest.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o.PluginsDir = buildConnPlugins(t)
	return o
}

// pluginNode starts a node with the connector plugins.
func pluginNode(t *testing.T, opts ...apitest.Options) *tenv {
	t.Helper()
	return newEnv(t, pluginOptions(t, opts...))
}

type connView struct {
	ID             string            `json:"id"`
	Provider       string            `json:"provider"`
	Status         string            `json:"status"`
	BaseURL        string            `json:"base_url"`
	CredentialKeys []string          `json:"credential_keys"`
	Cursors        map[string]string `json:"cursors"`
	LastError      string            `json:"last_error"`
	LastSyncJob    string            `json:"last_sync_job"`
	SyncRunning    bool              `json:"sync_running"`
	NextSyncAt     *time.Time        `json:"next_sync_at"`
}

type syncKind struct {
	Kind       string `json:"kind"`
	Done       bool   `json:"done"`
	Read       int    `json:"read"`
	Accounts   int    `json:"accounts"`
	Signals    int    `json:"signals"`
	Duplicates int    `json:"duplicates"`
	Outcomes   int    `json:"outcomes"`
	Skipped    int    `json:"skipped"`
}

type syncJob struct {
	ID      string     `json:"id"`
	Kind    string     `json:"kind"`
	Status  string     `json:"status"`
	Trigger string     `json:"trigger"`
	Kinds   []syncKind `json:"kinds"`
	Error   *struct {
		Code string `json:"code"`
	} `json:"error"`
}

func (j syncJob) kind(k string) syncKind {
	for _, x := range j.Kinds {
		if x.Kind == k {
			return x
		}
	}
	return syncKind{Kind: k}
}

type acctView struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Domain     string         `json:"domain"`
	Industry   string         `json:"industry"`
	Employees  *int           `json:"employees"`
	Region     string         `json:"region"`
	ExternalID string         `json:"external_id"`
	Inferred   bool           `json:"inferred"`
	Source     string         `json:"source"`
	Attributes map[string]any `json:"attributes"`
}

// connTest records every response body, to check that no secret is ever
// answered.
type connTest struct {
	*tenv
	bodies []string
}

func (c *connTest) call(method, path, token string, body any, status int, out any) resp {
	c.t.Helper()
	r := c.do(method, path, token, body)
	c.bodies = append(c.bodies, string(r.Body), fmt.Sprint(r.Header))
	if status != 0 {
		c.ok(r, status, out)
	}
	return r
}

type syncState struct {
	ConnectionID string   `json:"connection_id"`
	Running      bool     `json:"running"`
	Job          *syncJob `json:"job"`
}

// lastSync is the connection's latest sync job (zero before the first).
func (c *connTest) lastSync(base, token string) syncJob {
	c.t.Helper()
	var st syncState
	c.call("GET", base+"/sync", token, nil, 200, &st)
	if st.Job == nil {
		return syncJob{}
	}
	return *st.Job
}

func (c *connTest) waitSync(base, token string) syncJob {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		j := c.lastSync(base, token)
		if j.Status != "running" {
			return j
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("sync %s still running: %+v", j.ID, j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *connTest) accounts(org, token string) map[string]acctView {
	c.t.Helper()
	var l list[acctView]
	c.call("GET", "/api/v1/orgs/"+org+"/accounts?limit=200", token, nil, 200, &l)
	out := map[string]acctView{}
	for _, a := range l.Items {
		k := a.ExternalID
		if k == "" {
			k = "domain:" + a.Domain
		}
		out[k] = a
	}
	return out
}

// waitLead waits until email's lead exists (signals are processed
// asynchronously) and returns it.
func (c *connTest) waitLead(org, token, email string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var l list[map[string]any]
		c.call("GET", "/api/v1/orgs/"+org+"/leads?email="+url.QueryEscape(email), token, nil, 200, &l)
		if len(l.Items) == 1 {
			return l.Items[0]
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no lead for %s", email)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// crmSignals counts the organization's accepted signals from source crm
// (by scanning the signal log's processed statuses and the backlog).
// signalTotal is how many signals the organization's log holds: the sum
// of the stats' counts by status, pending included, which count each
// signal once even while processing runs (one snapshot).
func (c *connTest) signalTotal(org, token string) int {
	c.t.Helper()
	var st struct {
		ByStatus  map[string]int `json:"by_status"`
		Truncated bool           `json:"truncated"`
	}
	c.call("GET", "/api/v1/orgs/"+org+"/signals/stats", token, nil, 200, &st)
	if st.Truncated {
		c.t.Fatalf("stats truncated: %+v", st)
	}
	n := 0
	for _, v := range st.ByStatus {
		n += v
	}
	return n
}

func writeCSV(t *testing.T, path string, rows ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendCSV(t *testing.T, path string, rows ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(rows, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

// TestConnectionCSVSync: a connection with stored credentials to the CSV
// connector: test, metadata, mapping (bad fields refused), sync (accounts
// with firmographics taking over an inferred account, contacts onto leads
// with CRM ids), incremental and repeated syncs without duplicates, resume
// after a crash (cursor behind the applied data) and after a cancel,
// disconnect keeping the data; secrets never answered nor stored in clear.
func TestConnectionCSVSync(t *testing.T) {
	e := pluginNode(t)
	c := &connTest{tenv: e}
	owner := e.user("owner")
	org := e.org(owner, "Acme Sales")
	admin := e.user("admin")
	e.join(org.ID, owner.Token, admin, "admin")
	viewer := e.user("viewer")
	e.join(org.ID, owner.Token, viewer, "viewer")
	tok := admin.Token
	orgBase := "/api/v1/orgs/" + org.ID

	// A signal first: acme.com gets an inferred account the sync takes over.
	key := e.key(org.ID, owner.Token, nil)
	c.call("POST", "/api/signal-staging/webhook/"+key.Key, "", map[string]any{"email": "early@acme.com", "event": "Visited"}, 202, nil)
	c.waitLead(org.ID, tok, "early@acme.com")
	var inferredID string
	for _, a := range c.accounts(org.ID, tok) {
		if a.Domain == "acme.com" && a.Inferred {
			inferredID = a.ID
		}
	}
	if inferredID == "" {
		t.Fatal("no inferred account for acme.com")
	}

	dir := t.TempDir()
	writeCSV(t, filepath.Join(dir, "accounts.csv"),
		"id,name,domain,industry,employees,segment",
		"acc-1,Acme Corp,acme.com,Manufacturing,1200,Enterprise",
		"acc-2,Globex,globex.com,Energy,350,Mid-Market",
		"acc-3,Initech,initech.com,Software,80,SMB")
	writeCSV(t, filepath.Join(dir, "contacts.csv"),
		"id,email,first_name,last_name,title,account_id",
		"c-1,ann@acme.com,Ann,Lee,VP Sales,acc-1",
		"c-2,bob@globex.com,Bob,Ng,CTO,acc-2",
		"c-3,cy@initech.com,Cy,Ray,Engineer,acc-3",
		"c-4,,No,Email,Nobody,acc-3")
	const apiSecret = "csv-api-secret-7QvX2pLm"

	// Viewers cannot connect.
	e.fails(c.call("POST", orgBase+"/connections", viewer.Token, map[string]any{"provider": "csv"}, 0, nil), 403, "forbidden", "")
	e.fails(c.call("POST", orgBase+"/connections", tok, map[string]any{"provider": "nope"}, 0, nil), 400, "unknown_provider", "provider")
	e.fails(c.call("POST", orgBase+"/connections", tok, map[string]any{"provider": "csv", "options": map[string]string{"directory": "relative"}}, 0, nil),
		400, "invalid_config", "options.directory")

	var conn connView
	c.call("POST", orgBase+"/connections", tok, map[string]any{"provider": "csv", "name": "CSV CRM",
		"options": map[string]string{"directory": dir}, "credentials": map[string]string{"api_key": apiSecret}}, 201, &conn)
	if conn.Status != "connected" || len(conn.CredentialKeys) != 1 || conn.CredentialKeys[0] != "api_key" {
		t.Fatalf("created: %+v", conn)
	}
	base := orgBase + "/connections/" + conn.ID

	var list1 list[connView]
	c.call("GET", orgBase+"/connections", viewer.Token, nil, 200, &list1)
	if len(list1.Items) != 1 || list1.Items[0].ID != conn.ID {
		t.Fatalf("list: %+v", list1)
	}
	var tr struct {
		OK     bool   `json:"ok"`
		Status string `json:"status"`
	}
	c.call("POST", base+"/test", tok, nil, 200, &tr)
	if !tr.OK || tr.Status != "connected" {
		t.Fatalf("test: %+v", tr)
	}
	e.fails(c.call("POST", base+"/test", viewer.Token, nil, 0, nil), 403, "forbidden", "")

	var md struct {
		Objects []struct {
			Name   string `json:"name"`
			Kind   string `json:"kind"`
			Fields []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"fields"`
		} `json:"objects"`
		Suggested struct {
			Account map[string]map[string]string `json:"account"`
			Lead    map[string]map[string]string `json:"lead"`
		} `json:"suggested_mapping"`
	}
	c.call("GET", base+"/metadata", tok, nil, 200, &md)
	if len(md.Objects) != 2 || md.Suggested.Lead["email"]["field"] != "email" || md.Suggested.Account["employees"]["field"] != "employees" {
		t.Fatalf("metadata: %+v", md)
	}

	good := map[string]any{
		"account": map[string]any{"name": map[string]string{"field": "name"}, "domain": map[string]string{"field": "domain"},
			"industry": map[string]string{"field": "industry"}, "employees": map[string]string{"field": "employees"},
			"segment": map[string]string{"field": "segment"}},
		"lead": map[string]any{"email": map[string]string{"field": "email"}, "first_name": map[string]string{"field": "first_name"},
			"last_name": map[string]string{"field": "last_name"}, "title": map[string]string{"field": "title"},
			"account_ref": map[string]string{"field": "account_id"}},
	}
	bad := func(mut func(m map[string]any)) map[string]any {
		b, _ := json.Marshal(good)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		mut(m)
		return m
	}
	e.fails(c.call("PUT", base+"/mapping", tok, bad(func(m map[string]any) {
		m["account"].(map[string]any)["industry"] = map[string]string{"field": "sector"}
	}), 0, nil), 400, "unknown_field", "account.industry.field")
	e.fails(c.call("PUT", base+"/mapping", tok, bad(func(m map[string]any) {
		m["account"].(map[string]any)["domain"] = map[string]string{"field": "employees"}
	}), 0, nil), 400, "wrong_type", "account.domain.field")
	e.fails(c.call("PUT", base+"/mapping", tok, bad(func(m map[string]any) {
		delete(m["lead"].(map[string]any), "email")
	}), 0, nil), 400, "required", "lead.email")
	e.fails(c.call("PUT", base+"/mapping", tok, bad(func(m map[string]any) {
		m["account"].(map[string]any)["name"] = map[string]string{"field": "name", "fallback": "Company"}
	}), 0, nil), 400, "not_supported", "account.name.fallback")
	e.fails(c.call("POST", base+"/sync", tok, nil, 0, nil), 409, "mapping_required", "")
	c.call("PUT", base+"/mapping", tok, good, 200, nil)

	// First sync, two records a page.
	var started syncJob
	c.call("POST", base+"/sync", tok, map[string]any{"page_size": 2}, 202, &started)
	if started.Kind != "crm_sync" || started.Status != "running" {
		t.Fatalf("started: %+v", started)
	}
	e.fails(c.call("POST", base+"/sync", viewer.Token, nil, 0, nil), 403, "forbidden", "")
	j := c.waitSync(base, viewer.Token)
	if j.Status != "completed" || j.kind("accounts").Read != 3 || j.kind("accounts").Accounts != 3 ||
		j.kind("contacts").Read != 4 || j.kind("contacts").Signals != 3 || j.kind("contacts").Skipped != 1 {
		t.Fatalf("first sync: %+v", j)
	}
	accts := c.accounts(org.ID, tok)
	acme := accts["acc-1"]
	if acme.ID != inferredID || acme.Inferred || acme.Source != "crm" || acme.Industry != "Manufacturing" ||
		acme.Employees == nil || *acme.Employees != 1200 || acme.Attributes["segment"] != "Enterprise" {
		t.Fatalf("acme after sync (inferred %s): %+v", inferredID, acme)
	}
	if len(accts) != 3 {
		t.Fatalf("accounts: %+v", accts)
	}
	ann := c.waitLead(org.ID, tok, "ann@acme.com")
	bob := c.waitLead(org.ID, tok, "bob@globex.com")
	if acct, _ := ann["account"].(map[string]any); acct == nil || acct["account_id"] != inferredID {
		t.Errorf("ann's account: %v", ann["account"])
	}
	if acct, _ := bob["account"].(map[string]any); acct == nil || acct["account_id"] != accts["acc-2"].ID || acct["how"] != "explicit" {
		t.Errorf("bob's account: %v", bob["account"])
	}
	if !strings.Contains(fmt.Sprint(ann["identifiers"]), "c-1") {
		t.Errorf("ann's identifiers lack the CRM id: %v", ann["identifiers"])
	}
	c.waitLead(org.ID, tok, "cy@initech.com")
	total := c.signalTotal(org.ID, tok)

	// Again: incremental, nothing new.
	c.call("POST", base+"/sync", tok, nil, 202, nil)
	j = c.waitSync(base, tok)
	if j.Status != "completed" || j.kind("accounts").Read != 0 || j.kind("contacts").Read != 0 {
		t.Fatalf("second sync: %+v", j)
	}
	// A full resync reads everything again and changes nothing.
	c.call("POST", base+"/sync", tok, map[string]any{"full_resync": true}, 202, nil)
	j = c.waitSync(base, tok)
	if j.Status != "completed" || j.kind("contacts").Read != 4 || j.kind("contacts").Signals != 0 || j.kind("contacts").Duplicates != 3 ||
		j.kind("accounts").Accounts != 0 {
		t.Fatalf("full resync: %+v", j)
	}
	if n := c.signalTotal(org.ID, tok); n != total {
		t.Fatalf("signals after a full resync: %d, want %d", n, total)
	}

	// New rows come with the next sync.
	appendCSV(t, filepath.Join(dir, "accounts.csv"), "acc-4,Umbrella,umbrella.com,Pharma,9000,Enterprise")
	appendCSV(t, filepath.Join(dir, "contacts.csv"), "c-5,dee@umbrella.com,Dee,Fox,Head of Growth,acc-4")
	c.call("POST", base+"/sync", tok, nil, 202, nil)
	j = c.waitSync(base, tok)
	if j.kind("accounts").Read != 1 || j.kind("contacts").Read != 1 || j.kind("contacts").Signals != 1 {
		t.Fatalf("incremental sync: %+v", j)
	}
	dee := c.waitLead(org.ID, tok, "dee@umbrella.com")
	total++

	// A crash after a page was applied but before its cursor was saved:
	// the cursor is behind. The next sync re-reads and duplicates nothing.
	rewindCursor(t, e, org.ID, conn.ID, "contacts", "1")
	c.call("POST", base+"/sync", tok, nil, 202, nil)
	j = c.waitSync(base, tok)
	if j.Status != "completed" || j.kind("contacts").Read != 4 || j.kind("contacts").Signals != 0 || j.kind("contacts").Duplicates != 3 {
		t.Fatalf("sync after the rewind: %+v", j)
	}
	if n := c.signalTotal(org.ID, tok); n != total {
		t.Fatalf("signals after resuming: %d, want %d", n, total)
	}

	// Cancel a long sync mid-way, then resume: every row once.
	rows := make([]string, 0, 300)
	for i := 0; i < 300; i++ {
		rows = append(rows, fmt.Sprintf("b-%d,bulk%d@acme.com,B,%d,Rep,acc-1", i, i, i))
	}
	appendCSV(t, filepath.Join(dir, "contacts.csv"), rows...)
	c.call("POST", base+"/sync", tok, map[string]any{"page_size": 1}, 202, nil)
	cancelled := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		cur := c.lastSync(base, tok)
		if cur.Status != "running" {
			break
		}
		if cur.kind("contacts").Read > 0 {
			var st syncState
			c.call("POST", base+"/sync/cancel", tok, nil, 200, &st)
			cancelled = st.Running
			break
		}
	}
	j = c.waitSync(base, tok)
	first := j.kind("contacts").Signals
	if cancelled {
		if j.Status != "failed" || j.Error == nil || j.Error.Code != "sync_cancelled" || first >= 300 {
			t.Fatalf("cancelled sync: %+v", j)
		}
	} else {
		t.Logf("the sync finished before it could be cancelled (%d signals)", first)
	}
	var after connView
	c.call("GET", base, tok, nil, 200, &after)
	if after.SyncRunning || after.Cursors["contacts"] == "" {
		t.Fatalf("after cancel: %+v", after)
	}
	c.call("POST", base+"/sync", tok, map[string]any{"page_size": 100}, 202, nil)
	j = c.waitSync(base, tok)
	if j.Status != "completed" || first+j.kind("contacts").Signals != 300 {
		t.Fatalf("resumed sync: first %d + %+v, want 300 signals", first, j)
	}
	total += 300
	if n := c.signalTotal(org.ID, tok); n != total {
		t.Fatalf("signals after cancel and resume: %d, want %d", n, total)
	}

	// Disconnect: no more syncs, the data stays.
	var disc connView
	c.call("POST", base+"/disconnect", tok, nil, 200, &disc)
	if disc.Status != "disconnected" {
		t.Fatalf("disconnect: %+v", disc)
	}
	e.fails(c.call("POST", base+"/sync", tok, nil, 0, nil), 409, "connection_not_connected", "")
	if got := c.accounts(org.ID, tok); len(got) != 4 || got["acc-1"].ID != inferredID {
		t.Fatalf("accounts after disconnect: %+v", got)
	}
	if l := c.waitLead(org.ID, tok, "dee@umbrella.com"); l["id"] != dee["id"] {
		t.Fatalf("lead after disconnect: %v", l)
	}
	e.fails(c.call("DELETE", base, viewer.Token, nil, 0, nil), 403, "forbidden", "")
	c.call("DELETE", base, tok, nil, 204, nil)
	e.fails(c.call("GET", base, tok, nil, 0, nil), 404, "connection_not_found", "")
	if got := c.accounts(org.ID, tok); len(got) != 4 {
		t.Fatalf("accounts after delete: %+v", got)
	}

	secrets := map[string]string{"api key": apiSecret}
	assertAbsent(t, "responses", c.bodies, secrets)
	assertAbsent(t, "store", e.storeDump(), secrets)
	assertAbsent(t, "logs", []string{e.n.Logs.String()}, secrets)
}

// rewindCursor sets a connection's saved cursor of kind in the store, as a
// crash between applying a page and saving its cursor would leave it.
func rewindCursor(t *testing.T, e *tenv, org, conn, kind, cursor string) {
	t.Helper()
	editConn(t, e, org, conn, func(m map[string]any) { m["cursors"].(map[string]any)[kind] = cursor })
}

// editConn changes a connection's stored record (what another node or a
// crash would leave behind).
func editConn(t *testing.T, e *tenv, org, conn string, fn func(m map[string]any)) {
	t.Helper()
	ctx := context.Background()
	key := store.TenantKey(org, "conn", conn)
	for i := 0; i < 10; i++ {
		b, ver, err := e.n.Store.Load(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		fn(m)
		nb, _ := json.Marshal(m)
		if _, err := e.n.Store.Save(ctx, key, nb, ver); err == nil {
			return
		}
	}
	t.Fatal("could not change the connection record")
}

// ---- a fake Salesforce

type fakeSF struct {
	srv *httptest.Server
	mu  sync.Mutex
	// OAuth
	clientID    string
	challenge   string // from the authorization URL the host built
	redirectURI string
	verifier    string // as received
	valid       map[string]bool
	refreshes   int
	records     map[string][]map[string]any
}

const sfStampFmt = "2006-01-02T15:04:05.000+0000"

var soqlRe = regexp.MustCompile(`^SELECT .+ FROM (\w+)(?: WHERE SystemModstamp > (\S+) OR \(SystemModstamp = \S+ AND Id > '(\w+)'\))? ORDER BY SystemModstamp ASC, Id ASC LIMIT (\d+)$`)

func newFakeSF(t *testing.T) *fakeSF {
	f := &fakeSF{clientID: "sf-client-id-3MVG9", valid: map[string]bool{}, records: map[string][]map[string]any{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSF) add(object, id string, stamp time.Time, fields map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := map[string]any{"attributes": map[string]any{"type": object}, "Id": id, "SystemModstamp": stamp.UTC().Format(sfStampFmt), "IsDeleted": false}
	for k, v := range fields {
		r[k] = v
	}
	for i, old := range f.records[object] {
		if old["Id"] == id { // an update
			f.records[object][i] = r
			return
		}
	}
	f.records[object] = append(f.records[object], r)
}

func (f *fakeSF) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/services/oauth2/token" {
		f.token(w, r)
		return
	}
	if !f.valid[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] {
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`))
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/services/data/v62.0")
	switch {
	case p == "/limits":
		_, _ = w.Write([]byte(`{"DailyApiRequests":{"Max":15000,"Remaining":14000}}`))
	case strings.HasPrefix(p, "/sobjects/") && strings.HasSuffix(p, "/describe"):
		obj := strings.TrimSuffix(strings.TrimPrefix(p, "/sobjects/"), "/describe")
		fields, ok := sfDescribe[obj]
		if !ok {
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`[{"message":"not found","errorCode":"NOT_FOUND"}]`))
			return
		}
		var out []map[string]any
		for _, fd := range fields {
			name, typ, _ := strings.Cut(fd, ":")
			m := map[string]any{"name": name, "label": name, "type": typ, "updateable": typ != "id", "createable": true, "nillable": true}
			if typ == "reference" {
				m["referenceTo"] = []string{"Account"}
			}
			if typ == "picklist" {
				m["picklistValues"] = []map[string]any{{"active": true, "label": "A", "value": "A"}}
			}
			out = append(out, m)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"name": obj, "label": obj, "fields": out})
	case p == "/queryAll":
		m := soqlRe.FindStringSubmatch(r.URL.Query().Get("q"))
		if m == nil {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`[{"message":"malformed query","errorCode":"MALFORMED_QUERY"}]`))
			return
		}
		recs := append([]map[string]any(nil), f.records[m[1]]...)
		sort.Slice(recs, func(i, j int) bool {
			a, b := recs[i]["SystemModstamp"].(string), recs[j]["SystemModstamp"].(string)
			if a != b {
				return a < b
			}
			return recs[i]["Id"].(string) < recs[j]["Id"].(string)
		})
		limit, _ := strconv.Atoi(m[4])
		var out []map[string]any
		for _, rec := range recs {
			ts, _ := time.Parse(sfStampFmt, rec["SystemModstamp"].(string))
			if m[2] != "" {
				after, _ := time.Parse(time.RFC3339, m[2])
				ts = ts.Truncate(time.Second)
				if ts.Before(after) || (ts.Equal(after) && rec["Id"].(string) <= m[3]) {
					continue
				}
			}
			if len(out) < limit {
				out = append(out, rec)
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"totalSize": len(out), "done": true, "records": out})
	default:
		w.WriteHeader(404)
		_, _ = w.Write([]byte(`[{"message":"no such resource","errorCode":"NOT_FOUND"}]`))
	}
}

func (f *fakeSF) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	fail := func(code, desc string) {
		w.WriteHeader(400)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.PostForm.Get("client_id") != f.clientID {
		fail("invalid_client_id", "client identifier invalid")
		return
	}
	issue := func(access, refresh string) {
		f.valid = map[string]bool{access: true}
		out := map[string]string{"access_token": access, "instance_url": f.srv.URL, "token_type": "Bearer",
			"id": f.srv.URL + "/id/00D/005", "issued_at": "1767600000000", "scope": "api refresh_token"}
		if refresh != "" {
			out["refresh_token"] = refresh
		}
		_ = json.NewEncoder(w).Encode(out)
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		v := r.PostForm.Get("code_verifier")
		sum := sha256.Sum256([]byte(v))
		if r.PostForm.Get("code") != "sf-auth-code-1" || r.PostForm.Get("redirect_uri") != f.redirectURI ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != f.challenge {
			fail("invalid_grant", "authorization code or PKCE verifier invalid")
			return
		}
		f.verifier = v
		issue("sf-access-token-1-Zx81", "sf-refresh-token-Qp27")
	case "refresh_token":
		if r.PostForm.Get("refresh_token") != "sf-refresh-token-Qp27" {
			fail("invalid_grant", "expired access/refresh token")
			return
		}
		f.refreshes++
		issue(fmt.Sprintf("sf-access-token-%d-Zx81", f.refreshes+1), "")
	default:
		fail("unsupported_grant_type", "")
	}
}

var sfDescribe = map[string][]string{
	"Account": {"Id:id", "Name:string", "Website:url", "Industry:picklist", "NumberOfEmployees:int", "BillingCountry:string",
		"AnnualRevenue:currency", "Type:picklist"},
	"Contact": {"Id:id", "Email:email", "FirstName:string", "LastName:string", "Title:string", "AccountId:reference"},
	"Lead": {"Id:id", "Email:email", "FirstName:string", "LastName:string", "Title:string", "Company:string", "Website:url",
		"Industry:picklist", "NumberOfEmployees:int", "Country:string", "IsConverted:boolean"},
	"Opportunity": {"Id:id", "Name:string", "AccountId:reference", "StageName:picklist", "IsWon:boolean", "IsClosed:boolean",
		"Amount:currency", "CloseDate:date"},
}

// TestConnectionSalesforceOAuth: Salesforce through OAuth with PKCE against
// a fake Salesforce; token refresh on unauthorized; the primary Account /
// fallback Lead mapping; a sync with opportunities becoming won/lost
// outcomes; SparkSense on the same records (and refused without the plan).
func TestConnectionSalesforceOAuth(t *testing.T) {
	e := pluginNode(t)
	c := &connTest{tenv: e}
	f := newFakeSF(t)
	owner := e.user("owner")
	org := e.org(owner, "Initrode")
	tok := owner.Token
	orgBase := "/api/v1/orgs/" + org.ID

	var conn connView
	c.call("POST", orgBase+"/connections", tok, map[string]any{"provider": "salesforce", "name": "Salesforce sandbox",
		"options":     map[string]string{"sandbox": "true", "login_url": f.srv.URL},
		"credentials": map[string]string{"client_id": f.clientID}}, 201, &conn)
	if conn.Status != "pending_auth" {
		t.Fatalf("created: %+v", conn)
	}
	base := orgBase + "/connections/" + conn.ID
	e.fails(c.call("POST", base+"/sync", tok, nil, 0, nil), 409, "connection_not_connected", "")

	var start struct {
		AuthorizationURL string `json:"authorization_url"`
		RedirectURI      string `json:"redirect_uri"`
	}
	c.call("POST", base+"/oauth/start", tok, nil, 200, &start)
	u, err := url.Parse(start.AuthorizationURL)
	if err != nil || !strings.HasPrefix(start.AuthorizationURL, f.srv.URL+"/services/oauth2/authorize?") {
		t.Fatalf("authorization url %q", start.AuthorizationURL)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("state") == "" ||
		q.Get("client_id") != f.clientID || q.Get("redirect_uri") != e.n.URL+"/api/oauth/callback/salesforce" || start.RedirectURI != q.Get("redirect_uri") {
		t.Fatalf("authorization url parameters: %v", q)
	}
	f.mu.Lock()
	f.challenge, f.redirectURI = q.Get("code_challenge"), q.Get("redirect_uri")
	f.mu.Unlock()
	state := q.Get("state")

	cb := "/api/oauth/callback/salesforce?code=sf-auth-code-1&state=" + url.QueryEscape(state)
	e.fails(c.call("GET", "/api/oauth/callback/hubspot?code=sf-auth-code-1&state=nope", "", nil, 0, nil), 400, "invalid_state", "state")
	var done struct {
		Status       string `json:"status"`
		ConnectionID string `json:"connection_id"`
	}
	c.call("GET", cb, "", nil, 200, &done)
	if done.Status != "connected" || done.ConnectionID != conn.ID {
		t.Fatalf("callback: %+v", done)
	}
	e.fails(c.call("GET", cb, "", nil, 0, nil), 400, "invalid_state", "state") // one use
	c.call("GET", base, tok, nil, 200, &conn)
	if conn.Status != "connected" || conn.BaseURL != f.srv.URL || strings.Join(conn.CredentialKeys, ",") != "access_token,client_id,refresh_token" {
		t.Fatalf("after callback: %+v", conn)
	}
	// A browser gets a page.
	r := c.do("GET", "/api/oauth/callback/salesforce?code=x&state=unknown", "", nil, func(r *http.Request) { r.Header.Set("Accept", "text/html") })
	if r.Status != 400 || !strings.Contains(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.Body), "Connection failed") {
		t.Fatalf("html callback: %s", r)
	}

	// The access token expires: the host refreshes it once and carries on.
	f.mu.Lock()
	f.valid = map[string]bool{}
	f.mu.Unlock()
	var tr struct {
		OK bool `json:"ok"`
	}
	c.call("POST", base+"/test", tok, nil, 200, &tr)
	f.mu.Lock()
	refreshes := f.refreshes
	f.mu.Unlock()
	if !tr.OK || refreshes != 1 {
		t.Fatalf("test after expiry: ok %v, refreshes %d", tr.OK, refreshes)
	}

	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	f.add("Account", "001000000000001", t0, map[string]any{"Name": "Hooli", "Website": "https://www.hooli.com", "Industry": "Software",
		"NumberOfEmployees": 5000, "BillingCountry": "US"})
	f.add("Account", "001000000000002", t0, map[string]any{"Name": "Pied Piper", "Website": "piedpiper.com", "Industry": "Software",
		"NumberOfEmployees": 12, "BillingCountry": "US"})
	f.add("Contact", "003000000000001", t0.Add(time.Minute), map[string]any{"Email": "gavin@hooli.com", "FirstName": "Gavin",
		"LastName": "Belson", "Title": "CEO", "AccountId": "001000000000001"})
	f.add("Lead", "00Q000000000001", t0.Add(time.Minute), map[string]any{"Email": "russ@aviato.com", "FirstName": "Russ",
		"LastName": "Hanneman", "Company": "Aviato", "Website": "aviato.com", "Industry": "Media", "NumberOfEmployees": 40,
		"Country": "US", "IsConverted": false})
	f.add("Opportunity", "006000000000001", t0.Add(2*time.Minute), map[string]any{"Name": "Hooli platform", "AccountId": "001000000000001",
		"StageName": "Closed Won", "IsWon": true, "IsClosed": true, "Amount": 120000, "CloseDate": "2025-12-01"})
	f.add("Opportunity", "006000000000002", t0.Add(2*time.Minute), map[string]any{"Name": "PP pilot", "AccountId": "001000000000002",
		"StageName": "Closed Lost", "IsWon": false, "IsClosed": true, "Amount": 5000, "CloseDate": "2025-11-15"})
	f.add("Opportunity", "006000000000003", t0.Add(2*time.Minute), map[string]any{"Name": "PP renewal", "AccountId": "001000000000002",
		"StageName": "Prospecting", "IsWon": false, "IsClosed": false, "Amount": 9000, "CloseDate": "2026-03-01"})

	var md struct {
		Suggested map[string]map[string]map[string]string `json:"suggested_mapping"`
	}
	c.call("GET", base+"/metadata", tok, nil, 200, &md)
	if md.Suggested["account"]["industry"]["field"] != "Industry" || md.Suggested["account"]["industry"]["fallback"] != "Industry" ||
		md.Suggested["lead"]["email"]["field"] != "Email" {
		t.Fatalf("suggested mapping: %v", md.Suggested)
	}
	mapping := map[string]any{
		"account": map[string]any{
			"name":      map[string]string{"field": "Name", "fallback": "Company"},
			"domain":    map[string]string{"field": "Website", "fallback": "Website"},
			"industry":  map[string]string{"field": "Industry", "fallback": "Industry"},
			"employees": map[string]string{"field": "NumberOfEmployees", "fallback": "NumberOfEmployees"},
			"region":    map[string]string{"field": "BillingCountry", "fallback": "Country"},
		},
		"lead": map[string]any{"email": map[string]string{"field": "Email"}, "first_name": map[string]string{"field": "FirstName"},
			"last_name": map[string]string{"field": "LastName"}, "title": map[string]string{"field": "Title"},
			"company": map[string]string{"field": "Company"}},
	}
	badFallback := map[string]any{"account": map[string]any{"industry": map[string]string{"field": "Industry", "fallback": "Sector__c"}},
		"lead": map[string]any{"email": map[string]string{"field": "Email"}}}
	e.fails(c.call("PUT", base+"/mapping", tok, badFallback, 0, nil), 400, "unknown_field", "account.industry.fallback")
	wrongType := map[string]any{"account": map[string]any{"employees": map[string]string{"field": "Industry"}},
		"lead": map[string]any{"email": map[string]string{"field": "Email"}}}
	e.fails(c.call("PUT", base+"/mapping", tok, wrongType, 0, nil), 400, "wrong_type", "account.employees.field")
	c.call("PUT", base+"/mapping", tok, mapping, 200, nil)

	c.call("POST", base+"/sync", tok, nil, 202, nil)
	j := c.waitSync(base, tok)
	if j.Status != "completed" || j.kind("accounts").Accounts != 2 || j.kind("contacts").Signals != 1 || j.kind("leads").Signals != 1 ||
		j.kind("leads").Accounts != 1 || j.kind("opportunities").Read != 3 {
		t.Fatalf("salesforce sync: %+v", j)
	}
	accts := c.accounts(org.ID, tok)
	hooli, pp, aviato := accts["001000000000001"], accts["001000000000002"], accts["domain:aviato.com"]
	if hooli.Domain != "hooli.com" || hooli.Attributes["outcome"] != "won" || hooli.Attributes["outcome_amount"] != 120000.0 ||
		hooli.Attributes["outcome_close_date"] != "2025-12-01" {
		t.Errorf("hooli: %+v", hooli)
	}
	if pp.Attributes["outcome"] != "lost" || pp.Attributes["opportunities_lost"] != 1.0 {
		t.Errorf("pied piper: %+v", pp)
	}
	if aviato.Name != "Aviato" || aviato.Industry != "Media" || aviato.Region != "US" || aviato.Source != "crm" {
		t.Errorf("aviato (from the Lead's fallback fields): %+v", aviato)
	}
	gavin := c.waitLead(org.ID, tok, "gavin@hooli.com")
	if acct, _ := gavin["account"].(map[string]any); acct == nil || acct["account_id"] != hooli.ID {
		t.Errorf("gavin's account: %v", gavin["account"])
	}
	c.waitLead(org.ID, tok, "russ@aviato.com")

	// An opportunity is won later: the next sync reads only it.
	f.add("Opportunity", "006000000000003", t0.Add(time.Hour), map[string]any{"Name": "PP renewal", "AccountId": "001000000000002",
		"StageName": "Closed Won", "IsWon": true, "IsClosed": true, "Amount": 9000, "CloseDate": "2026-01-03"})
	c.call("POST", base+"/sync", tok, nil, 202, nil)
	j = c.waitSync(base, tok)
	if j.kind("opportunities").Read != 1 || j.kind("accounts").Read != 0 {
		t.Fatalf("incremental salesforce sync: %+v", j)
	}
	if pp := c.accounts(org.ID, tok)["001000000000002"]; pp.Attributes["outcome"] != "won" || pp.Attributes["opportunities_won"] != 1.0 {
		t.Errorf("pied piper after the win: %+v", pp)
	}

	// SparkSense on the same records.
	var ss struct {
		Analysis struct {
			Stats struct {
				Rows int `json:"rows"`
			} `json:"stats"`
		} `json:"analysis"`
		Model *struct {
			ID     string `json:"id"`
			Source string `json:"source"`
		} `json:"model"`
		AccountsRead      int `json:"accounts_read"`
		OpportunitiesRead int `json:"opportunities_read"`
	}
	// Not before the scores have a destination (SPEC §3.1).
	e.fails(c.call("POST", base+"/analyze", tok, nil, 0, nil), 409, "destination_required", "")
	c.call("POST", "/api/v1/orgs/"+org.ID+"/destinations", tok, map[string]any{"kind": "webhook", "url": "http://127.0.0.1:9/sparksense"}, 201, nil)
	c.call("POST", base+"/analyze", tok, nil, 200, &ss)
	if ss.AccountsRead != 2 || ss.OpportunitiesRead != 3 || ss.Model != nil {
		t.Fatalf("sparksense: %+v", ss)
	}
	c.call("POST", base+"/analyze", tok, map[string]any{"create": true, "name": "From Salesforce"}, 201, &ss)
	if ss.Model == nil || ss.Model.Source != "sparksense" {
		t.Fatalf("sparksense model: %+v", ss.Model)
	}
	// Not in the plan: refused.
	free := e.user("free")
	var fo orgView
	e.ok(e.do("POST", "/api/v1/orgs", free.Token, map[string]any{"name": "Free Co", "subdomain": e.sub("free"), "size": "1-10",
		"industry": "Technology", "plan": "free"}), 201, &fo)
	var fconn connView
	c.call("POST", "/api/v1/orgs/"+fo.ID+"/connections", free.Token, map[string]any{"provider": "salesforce",
		"credentials": map[string]string{"client_id": f.clientID}}, 201, &fconn)
	e.fails(c.call("POST", "/api/v1/orgs/"+fo.ID+"/connections/"+fconn.ID+"/analyze", free.Token, nil, 0, nil), 403, "sparksense_not_in_plan", "")

	f.mu.Lock()
	verifier := f.verifier
	f.mu.Unlock()
	secrets := map[string]string{"access token": "sf-access-token-1-Zx81", "refreshed token": "sf-access-token-2-Zx81",
		"refresh token": "sf-refresh-token-Qp27", "pkce verifier": verifier, "auth code": "sf-auth-code-1"}
	delete(secrets, "auth code") // the test sent it in callback URLs; no response echoes it either way
	assertAbsent(t, "responses", c.bodies, secrets)
	secrets["client id"] = f.clientID
	assertAbsent(t, "store", e.storeDump(), secrets)
	assertAbsent(t, "logs", []string{e.n.Logs.String()}, secrets)
}

// TestConnectionScheduledSync: a connection with a schedule is synced by
// the background scheduler once due; a sync never runs twice at once (the
// lease on the connection); disconnecting stops the schedule.
func TestConnectionScheduledSync(t *testing.T) {
	old := actors.SyncSchedulerTick
	actors.SyncSchedulerTick = 20 * time.Millisecond
	t.Cleanup(func() { actors.SyncSchedulerTick = old })
	e := pluginNode(t)
	c := &connTest{tenv: e}
	owner := e.user("owner")
	org := e.org(owner, "Scheduled")
	tok := owner.Token
	orgBase := "/api/v1/orgs/" + org.ID

	dir := t.TempDir()
	writeCSV(t, filepath.Join(dir, "accounts.csv"), "id,name,domain", "acc-1,Acme,acme.com")
	rows := []string{"id,email,account_id"}
	for i := 0; i < 200; i++ {
		rows = append(rows, fmt.Sprintf("c-%d,p%d@acme.com,acc-1", i, i))
	}
	writeCSV(t, filepath.Join(dir, "contacts.csv"), rows...)
	var conn connView
	e.fails(c.call("POST", orgBase+"/connections", tok, map[string]any{"provider": "csv", "options": map[string]string{"directory": dir},
		"sync_interval_minutes": 1}, 0, nil), 400, "out_of_range", "sync_interval_minutes")
	c.call("POST", orgBase+"/connections", tok, map[string]any{"provider": "csv", "options": map[string]string{"directory": dir},
		"sync_interval_minutes": 60}, 201, &conn)
	base := orgBase + "/connections/" + conn.ID
	if conn.NextSyncAt == nil || !conn.NextSyncAt.Equal(e.n.Clock.Now().Add(time.Hour)) {
		t.Fatalf("next sync: %v", conn.NextSyncAt)
	}
	c.call("PUT", base+"/mapping", tok, map[string]any{"account": map[string]any{"name": map[string]string{"field": "name"},
		"domain": map[string]string{"field": "domain"}}, "lead": map[string]any{"email": map[string]string{"field": "email"},
		"account_ref": map[string]string{"field": "account_id"}}}, 200, nil)

	// One sync at a time: a second start while the first runs is refused.
	c.call("POST", base+"/sync", tok, map[string]any{"page_size": 1}, 202, nil)
	r := c.call("POST", base+"/sync", tok, nil, 0, nil)
	first := c.waitSync(base, tok)
	if r.Status != 409 && first.kind("contacts").Read < 200 {
		t.Fatalf("second start: %s", r)
	}
	if r.Status == 409 {
		e.fails(r, 409, "sync_running", "")
	}
	if first.Status != "completed" || first.Trigger != "manual" || first.kind("contacts").Signals != 200 {
		t.Fatalf("manual sync: %+v", first)
	}

	// Not due yet: nothing starts.
	time.Sleep(100 * time.Millisecond)
	j := c.lastSync(base, tok)
	if j.ID != first.ID {
		t.Fatalf("a sync started before it was due: %+v", j)
	}
	// Due: the scheduler starts it (and moves the next run on).
	appendCSV(t, filepath.Join(dir, "contacts.csv"), "c-new,new@acme.com,acc-1")
	e.n.Clock.Advance(61 * time.Minute)
	deadline := time.Now().Add(20 * time.Second)
	for {
		j = c.lastSync(base, tok)
		if j.ID != first.ID && j.Status == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled sync: %+v", j)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if j.Trigger != "schedule" || j.kind("contacts").Read != 1 || j.kind("contacts").Signals != 1 {
		t.Fatalf("scheduled sync: %+v", j)
	}
	c.call("GET", base, tok, nil, 200, &conn)
	if conn.NextSyncAt == nil || !conn.NextSyncAt.After(e.n.Clock.Now()) {
		t.Fatalf("next sync after the scheduled one: %v (now %v)", conn.NextSyncAt, e.n.Clock.Now())
	}

	// A lease held by a sync on another node (its job unknown here) blocks
	// starts until it expires; then a sync takes over and resumes.
	editConn(t, e, org.ID, conn.ID, func(m map[string]any) {
		m["lease"] = map[string]any{"job": "job_othernode0000000000", "until": e.n.Clock.Now().Add(5 * time.Minute)}
	})
	e.fails(c.call("POST", base+"/sync", tok, nil, 0, nil), 409, "sync_running", "")
	var held connView
	c.call("GET", base, tok, nil, 200, &held)
	if !held.SyncRunning {
		t.Fatalf("lease not shown: %+v", held)
	}
	e.n.Clock.Advance(11 * time.Minute) // past the lease (10 min TTL)
	c.call("POST", base+"/sync", tok, nil, 202, nil)
	if j := c.waitSync(base, tok); j.Status != "completed" || j.kind("contacts").Read != 0 {
		t.Fatalf("sync after the lease expired: %+v", j)
	}
	j = c.lastSync(base, tok)

	// Disconnected: due again, but nothing runs.
	var disc connView
	c.call("POST", base+"/disconnect", tok, nil, 200, &disc)
	if disc.NextSyncAt != nil || disc.Status != "disconnected" {
		t.Fatalf("disconnected with a next sync: %+v", disc)
	}
	e.n.Clock.Advance(2 * time.Hour)
	time.Sleep(150 * time.Millisecond)
	if last := c.lastSync(base, tok); last.ID != j.ID {
		t.Fatalf("a sync ran after the disconnect: %+v", last)
	}
}

// ---- role matrix helpers (api_roles_test.go rows "… connection")

var matrixConns sync.Map // org id → the shared connection's id

// matrixCSVDir is the SDK example's CSV fixture (accounts and contacts).
func matrixCSVDir() string {
	d, _ := filepath.Abs("../sdk/examples/csvconnector/testdata/crm")
	return d
}

var matrixMapping = map[string]any{
	"account": map[string]any{"name": map[string]string{"field": "name"}, "domain": map[string]string{"field": "domain"}},
	"lead":    map[string]any{"email": map[string]string{"field": "email"}, "account_ref": map[string]string{"field": "account_id"}},
}

// matrixConnection creates a mapped CSV connection as the fixture's
// Owner; shared: one per organization, reused.
func matrixConnection(e *tenv, u *roleUsers, f *roleFixture, shared bool) string {
	if shared {
		if id, ok := matrixConns.Load(f.org.ID); ok {
			return id.(string)
		}
	}
	var v connView
	e.ok(e.do("POST", "/api/v1/orgs/"+f.org.ID+"/connections", u.owner.Token, map[string]any{"provider": "csv",
		"options": map[string]string{"directory": matrixCSVDir()}}), http.StatusCreated, &v)
	e.ok(e.do("PUT", "/api/v1/orgs/"+f.org.ID+"/connections/"+v.ID+"/mapping", u.owner.Token, matrixMapping), http.StatusOK, nil)
	if shared {
		matrixConns.Store(f.org.ID, v.ID)
	}
	return v.ID
}

func matrixConn(shared bool) func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
	return func(e *tenv, u *roleUsers, f *roleFixture) (map[string]string, any) {
		return map[string]string{"conn": matrixConnection(e, u, f, shared)}, nil
	}
}

// matrixOAuthConnection is a Salesforce connection waiting for OAuth.
func matrixOAuthConnection(e *tenv, u *roleUsers, f *roleFixture) string {
	var v connView
	e.ok(e.do("POST", "/api/v1/orgs/"+f.org.ID+"/connections", u.owner.Token, map[string]any{"provider": "salesforce",
		"credentials": map[string]string{"client_id": "matrix-client"}}), http.StatusCreated, &v)
	return v.ID
}

// matrixSalesforceConnection is a connected, mapped Salesforce connection
// (stored token) on a fake Salesforce that lives as long as the cell.
func matrixSalesforceConnection(e *tenv, u *roleUsers, f *roleFixture) string {
	sf := newFakeSF(e.t)
	sf.valid["matrix-token"] = true
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	sf.add("Account", "001000000000001", t0, map[string]any{"Name": "Hooli", "Industry": "Software"})
	sf.add("Opportunity", "006000000000001", t0, map[string]any{"AccountId": "001000000000001", "IsWon": true, "IsClosed": true})
	var v connView
	e.ok(e.do("POST", "/api/v1/orgs/"+f.org.ID+"/connections", u.owner.Token, map[string]any{"provider": "salesforce",
		"base_url": sf.srv.URL, "credentials": map[string]string{"access_token": "matrix-token"}}), http.StatusCreated, &v)
	e.ok(e.do("PUT", "/api/v1/orgs/"+f.org.ID+"/connections/"+v.ID+"/mapping", u.owner.Token, map[string]any{
		"account": map[string]any{"industry": map[string]string{"field": "Industry"}}, "lead": map[string]any{"email": map[string]string{"field": "Email"}}}),
		http.StatusOK, nil)
	return v.ID
}
