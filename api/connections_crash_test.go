package api_test

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trailspark/trailspark/api/apitest"
)

// Connector failures during a CRM sync, with real plugin processes: the
// connector SIGKILLed mid-sync, and a connector sending malformed records.

// buildMisbehavingPlugin adds the plugin host's test connector to dir as
// trailspark-connector-<name> (it reads contacts; mode "malformed" makes
// some of them unusable).
func buildMisbehavingPlugin(t *testing.T, dir, name string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "trailspark-connector-"+name),
		"-ldflags", "-X main.name="+name, "./plugins/host/testdata/testconnector")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build the test connector: %v\n%s", err, out)
	}
}

type pluginView struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Pid      int    `json:"pid"`
	Restarts int    `json:"restarts"`
}

func (c *connTest) plugin(name string) pluginView {
	c.t.Helper()
	var l list[pluginView]
	c.call("GET", "/api/v1/plugins", c.n.OperatorToken, nil, 200, &l)
	for _, p := range l.Items {
		if p.Name == name {
			return p
		}
	}
	c.t.Fatalf("plugin %s not listed: %+v", name, l.Items)
	return pluginView{}
}

// waitSyncFor is waitSync with a longer bound (large syncs on a busy machine).
func (c *connTest) waitSyncFor(base, token string, d time.Duration) syncJob {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		j := c.lastSync(base, token)
		if j.Status != "running" {
			return j
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("sync %s still running after %s: %+v", j.ID, d, j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnectionSyncConnectorKilled: the CSV connector is SIGKILLed while a
// 3,000-contact sync runs. The host restarts it, the sync retries the page
// that was in flight (or a re-run resumes from the saved cursor) and every
// contact arrives exactly once.
func TestConnectionSyncConnectorKilled(t *testing.T) {
	e := pluginNode(t)
	c := &connTest{tenv: e}
	owner := e.user("owner")
	org := e.org(owner, "Crash Test")
	tok := owner.Token
	orgBase := "/api/v1/orgs/" + org.ID

	const people = 3000
	dir := t.TempDir()
	writeCSV(t, filepath.Join(dir, "accounts.csv"), "id,name,domain", "acc-1,Acme Corp,acme.com")
	rows := []string{"id,email,first_name,last_name,title,account_id"}
	for i := 0; i < people; i++ {
		rows = append(rows, fmt.Sprintf("p-%d,p%d@acme.com,P,%d,Rep,acc-1", i, i, i))
	}
	writeCSV(t, filepath.Join(dir, "contacts.csv"), rows...)

	var conn connView
	c.call("POST", orgBase+"/connections", tok, map[string]any{"provider": "csv", "options": map[string]string{"directory": dir}}, 201, &conn)
	base := orgBase + "/connections/" + conn.ID
	c.call("PUT", base+"/mapping", tok, map[string]any{
		"account": map[string]any{"name": map[string]string{"field": "name"}, "domain": map[string]string{"field": "domain"}},
		"lead":    map[string]any{"email": map[string]string{"field": "email"}, "account_ref": map[string]string{"field": "account_id"}},
	}, 200, nil)

	c.call("POST", base+"/sync", tok, map[string]any{"page_size": 10}, 202, nil)
	var killed int
	for deadline := time.Now().Add(60 * time.Second); killed == 0; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sync never reached the contacts")
		}
		j := c.lastSync(base, tok)
		if j.Status != "running" {
			t.Fatalf("the sync ended before the connector could be killed: %+v", j)
		}
		if n := j.kind("contacts").Read; n > 0 && n < people/2 {
			p := c.plugin("csv")
			if p.State != "running" || p.Pid == 0 {
				t.Fatalf("csv plugin while syncing: %+v", p)
			}
			if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = p.Pid
			t.Logf("killed the connector (pid %d) after %d contacts", killed, n)
		}
	}

	j := c.waitSyncFor(base, tok, 3*time.Minute)
	signals, dups := j.kind("contacts").Signals, j.kind("contacts").Duplicates
	if j.Status != "completed" {
		// Not expected (the page is retried), but the contract is that a
		// re-run resumes from the saved cursor.
		t.Logf("the sync failed after the crash (%+v); resuming", j)
		c.call("POST", base+"/sync", tok, map[string]any{"page_size": 200}, 202, nil)
		j = c.waitSyncFor(base, tok, 3*time.Minute)
		if j.Status != "completed" {
			t.Fatalf("resumed sync: %+v", j)
		}
		signals += j.kind("contacts").Signals
		dups += j.kind("contacts").Duplicates
	}
	if signals != people || dups != 0 {
		t.Fatalf("contacts: %d signals, %d duplicates; want %d and 0 (%+v)", signals, dups, people, j)
	}
	if n := c.signalTotal(org.ID, tok); n != people {
		t.Fatalf("signal log holds %d signals, want %d", n, people)
	}
	// The host restarted the connector.
	p := c.plugin("csv")
	if p.State != "running" || p.Restarts < 1 || p.Pid == killed || p.Pid == 0 {
		t.Fatalf("csv plugin after the crash: %+v (killed pid %d)", p, killed)
	}
	if syscall.Kill(killed, 0) == nil && !zombie(killed) {
		t.Errorf("killed pid %d still alive", killed)
	}

	// Nothing is read twice later either: a full resync appends nothing.
	c.call("POST", base+"/sync", tok, map[string]any{"page_size": 1000, "full_resync": true}, 202, nil)
	j = c.waitSyncFor(base, tok, 3*time.Minute)
	if j.Status != "completed" || j.kind("contacts").Read != people || j.kind("contacts").Signals != 0 {
		t.Fatalf("full resync: %+v", j)
	}
	if n := c.signalTotal(org.ID, tok); n != people {
		t.Fatalf("signal log holds %d signals after a full resync, want %d", n, people)
	}
	// Every contact became a lead (people are processed asynchronously).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n := c.countLeads(org.ID, tok)
		if n == people {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d leads, want %d", n, people)
		}
		time.Sleep(time.Second)
	}

	// The node's metrics saw it.
	m := string(e.do("GET", "/metrics", "", nil).Body)
	for _, want := range []string{`trailspark_plugin_restarts_total{connector="csv"}`, `trailspark_plugin_crashes_total{connector="csv",reason="exited"}`,
		`trailspark_plugin_state{connector="csv",state="running"} 1`, `trailspark_plugin_calls_total{connector="csv",method="read",outcome="ok"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestConnectionSyncMalformedRecords: a connector sending records the sync
// cannot use (no id, fields that are not JSON, fields that are an array):
// each is named in the job's errors, every other record syncs, the job
// completes and the connector and the node stay up.
func TestConnectionSyncMalformedRecords(t *testing.T) {
	dir := buildConnPlugins(t)
	buildMisbehavingPlugin(t, dir, "garbled")
	e := newEnv(t, apitest.Options{PluginsDir: dir})
	c := &connTest{tenv: e}
	owner := e.user("owner")
	org := e.org(owner, "Garbled")
	tok := owner.Token
	orgBase := "/api/v1/orgs/" + org.ID

	var conn connView
	c.call("POST", orgBase+"/connections", tok, map[string]any{"provider": "garbled",
		"options": map[string]string{"mode": "malformed", "count": "40"}}, 201, &conn)
	base := orgBase + "/connections/" + conn.ID
	c.call("PUT", base+"/mapping", tok, map[string]any{"lead": map[string]any{"email": map[string]string{"field": "email"}}}, 200, nil)
	c.call("POST", base+"/sync", tok, map[string]any{"page_size": 4}, 202, nil)
	j := c.waitSync(base, tok)
	if j.Status != "completed" || j.kind("contacts").Read != 40 || j.kind("contacts").Signals != 37 || j.kind("contacts").Skipped != 3 {
		t.Fatalf("sync: %+v", j)
	}
	var st struct {
		Job struct {
			Rejected int `json:"rejected"`
			Errors   []struct {
				Line  int `json:"line"`
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
					Field   string `json:"field"`
				} `json:"error"`
			} `json:"errors"`
		} `json:"job"`
	}
	c.call("GET", base+"/sync", tok, nil, 200, &st)
	want := []struct {
		line         int
		field, names string
	}{{3, "id", "contacts record 3 has no id"}, {5, "fields", `contacts record "m-5" has fields that are not a JSON object`},
		{7, "fields", `contacts record "m-7" has fields that are not a JSON object`}}
	if st.Job.Rejected != 3 || len(st.Job.Errors) != len(want) {
		t.Fatalf("job errors: %+v", st.Job)
	}
	for i, w := range want {
		got := st.Job.Errors[i]
		if got.Line != w.line || got.Error.Code != "malformed_record" || got.Error.Field != w.field || !strings.Contains(got.Error.Message, w.names) {
			t.Errorf("error %d = %+v, want line %d field %s naming %q", i, got, w.line, w.field, w.names)
		}
	}
	// The good records around the bad ones arrived; the bad ones did not.
	c.waitLead(org.ID, tok, "m4@example.com")
	c.waitLead(org.ID, tok, "m40@example.com")
	var l list[map[string]any]
	c.call("GET", orgBase+"/leads?email=m5%40example.com", tok, nil, 200, &l)
	if len(l.Items) != 0 {
		t.Errorf("a lead from a malformed record: %v", l.Items)
	}
	// Neither the connector nor the node went down.
	if p := c.plugin("garbled"); p.State != "running" || p.Restarts != 0 {
		t.Errorf("garbled plugin: %+v", p)
	}
	c.call("GET", "/healthz", "", nil, 200, nil)
	// A second sync reads nothing new and reports nothing new.
	c.call("POST", base+"/sync", tok, nil, 202, nil)
	if j := c.waitSync(base, tok); j.Status != "completed" || j.kind("contacts").Read != 0 {
		t.Fatalf("second sync: %+v", j)
	}
}

// countLeads pages through the organization's leads.
func (c *connTest) countLeads(org, token string) int {
	c.t.Helper()
	seen := map[string]bool{}
	cursor := ""
	for {
		var l list[map[string]any]
		c.call("GET", "/api/v1/orgs/"+org+"/leads?limit=200&cursor="+url.QueryEscape(cursor), token, nil, 200, &l)
		for _, x := range l.Items {
			seen[fmt.Sprint(x["id"])] = true
		}
		if l.NextCursor == "" || len(l.Items) == 0 {
			return len(seen)
		}
		cursor = l.NextCursor
	}
}

// zombie reports whether pid is a zombie (dead, not yet reaped).
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
