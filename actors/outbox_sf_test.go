package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/clocktest"
	"github.com/trailspark/trailspark/engine/outbox"
	"github.com/trailspark/trailspark/engine/score"
	"github.com/trailspark/trailspark/plugins/host"
	"github.com/trailspark/trailspark/plugins/salesforce/sffake"
	"github.com/trailspark/trailspark/sdk/connector"
)

// fakeSalesforce implements the REST endpoints the connector's Write and
// Metadata use: sObject describe, SOQL query (email matches, conversion
// lookups) and sObject Collections PATCH/POST.
type fakeSalesforce struct {
	mu      sync.Mutex
	recs    map[string]map[string]any // id → fields (with "type")
	n       int
	batches []int // records per collections call
	queries []string
	refused int // converted Lead updates refused
}

var (
	soqlFrom = regexp.MustCompile(`FROM (\w+)`)
	soqlIn   = regexp.MustCompile(`IN \(([^)]*)\)`)
	soqlStr  = regexp.MustCompile(`'([^']*)'`)
)

func (f *fakeSalesforce) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, "/services/data/v62.0")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == "GET" && strings.HasSuffix(p, "/describe"):
		obj := strings.TrimSuffix(strings.TrimPrefix(p, "/sobjects/"), "/describe")
		sffake.WriteDescribe(w, obj)
	case r.Method == "GET" && p == "/query":
		q := r.URL.Query().Get("q")
		f.queries = append(f.queries, q)
		obj := soqlFrom.FindStringSubmatch(q)[1]
		in := map[string]bool{}
		for _, m := range soqlStr.FindAllStringSubmatch(soqlIn.FindStringSubmatch(q)[1], -1) {
			in[strings.ToLower(m[1])] = true
		}
		var out []map[string]any
		for id, rec := range f.recs {
			if rec["type"] != obj {
				continue
			}
			email, _ := rec["Email"].(string)
			if strings.Contains(q, "WHERE Email") && in[strings.ToLower(email)] && !(strings.Contains(q, "IsConverted = false") && rec["IsConverted"] == true) ||
				strings.Contains(q, "WHERE Id") && in[strings.ToLower(id)] {
				out = append(out, map[string]any{"Id": id, "Email": email, "IsConverted": rec["IsConverted"] == true, "ConvertedContactId": rec["ConvertedContactId"]})
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"totalSize": len(out), "done": true, "records": out})
	case p == "/composite/sobjects" && (r.Method == "PATCH" || r.Method == "POST"):
		var body struct {
			Records []map[string]any `json:"records"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.batches = append(f.batches, len(body.Records))
		var res []map[string]any
		for _, rec := range body.Records {
			typ := rec["attributes"].(map[string]any)["type"].(string)
			id, _ := rec["id"].(string)
			if r.Method == "POST" {
				f.n++
				id = fmt.Sprintf("00Q%015d", 900+f.n)
				f.recs[id] = map[string]any{"type": typ}
			}
			cur, ok := f.recs[id]
			if ok && cur["type"] == typ && cur["IsConverted"] == true {
				// As Salesforce does: a converted Lead is not updated.
				f.refused++
				res = append(res, map[string]any{"id": id, "success": false, "errors": []map[string]any{{"statusCode": "CANNOT_UPDATE_CONVERTED_LEAD", "message": "cannot reference converted lead"}}})
				continue
			}
			if !ok || cur["type"] != typ {
				res = append(res, map[string]any{"id": id, "success": false, "errors": []map[string]any{{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted"}}})
				continue
			}
			for k, v := range rec {
				if k != "attributes" && k != "id" {
					cur[k] = v
				}
			}
			res = append(res, map[string]any{"id": id, "success": true})
		}
		_ = json.NewEncoder(w).Encode(res)
	default:
		w.WriteHeader(404)
		_, _ = w.Write([]byte(`[{"errorCode":"NOT_FOUND","message":"no such route"}]`))
	}
}

func (f *fakeSalesforce) rec(id string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]any{}
	for k, v := range f.recs[id] {
		out[k] = v
	}
	return out
}

func (f *fakeSalesforce) byEmail(email string) (string, map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, r := range f.recs {
		if r["Email"] == email {
			return id, r
		}
	}
	return "", nil
}

// outboxEnvWithConnector is outboxEnv with the real connector binary of
// plugins/<name> (built into a temporary plugins directory) behind a host.
func outboxEnvWithConnector(t *testing.T, name string) (*Env, *Client, *clocktest.Clock) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the " + name + " connector")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "plugins", "trailspark-connector-"+name)
	if out, err := exec.Command("go", "build", "-o", bin, "../plugins/"+name).CombinedOutput(); err != nil {
		t.Fatalf("build the %s connector: %v\n%s", name, err, out)
	}
	h, err := host.New(host.Options{Dir: filepath.Dir(bin), Pins: host.NewFilePinStore(filepath.Join(dir, host.PinFileName))})
	if err != nil {
		t.Fatal(err)
	}
	env, c, clk := outboxEnv(t)
	t.Cleanup(func() { _ = h.Close() }) // after the worker stops (cleanups run last-in first-out)
	env.Plugins = h
	return env, c, clk
}

// TestSalesforceWriteBackThroughConnector: evaluations reach a fake
// Salesforce through the real connector binary: Contacts for converted
// people (never the converted Lead), Leads otherwise, a new Lead for a hot
// unknown person, the propensity on the Account.
func TestSalesforceWriteBackThroughConnector(t *testing.T) {
	env, c, clk := outboxEnvWithConnector(t, "salesforce")

	sf := &fakeSalesforce{recs: map[string]map[string]any{
		"003000000000001AAA": {"type": "Contact", "Email": "conv@globex.com"},
		"00Q000000000002AAA": {"type": "Lead", "Email": "open@globex.com"},
		"00Q000000000003AAA": {"type": "Lead", "Email": "old@globex.com", "IsConverted": true, "ConvertedContactId": "003000000000004AAA"},
		"003000000000004AAA": {"type": "Contact", "Email": "old@globex.com"},
		"001000000000009AAA": {"type": "Account"},
	}}
	srv := httptest.NewServer(sf)
	defer srv.Close()
	c.SetConnectionResolver(func(ctx context.Context, org, id string) (string, connector.Config, error) {
		return "salesforce", connector.Config{BaseURL: srv.URL, Credentials: map[string]string{"access_token": "tok"}}, nil
	})

	conn := "conn_1"
	d := crmDestination(t, c, outbox.KindSalesforce, conn, "TrailSpark_Propensity__c", sfFields())
	bad := sfFields()
	bad["Lead"] = outbox.ObjectFields{Score: "Nope__c"}
	if _, err := c.applyDestination(t.Context(), obxOrg, &Destination{Kind: outbox.KindSalesforce}, DestinationInput{ConnectionID: &conn, Fields: bad}, true); err == nil ||
		!strings.Contains(err.Error(), `Lead has no field "Nope__c"`) {
		t.Fatalf("unknown field: %v", err)
	}

	acct := Account{ID: "acct_1", Name: "Globex", ExternalID: "001000000000009AAA"}
	saveAccount(t, env, acct)
	evs := []*Evaluation{
		evaluateForTest(t, env, &Lead{ID: "lead_c", Email: "conv@globex.com"}, score.GradeHot, 85, "Hot (score 85): demo requested today (+2.0).", "acct_1"),
		evaluateForTest(t, env, &Lead{ID: "lead_l", Email: "open@globex.com"}, score.GradeWarm, 45, "Warm (score 45): pricing page viewed today (+0.8).", ""),
		evaluateForTest(t, env, &Lead{ID: "lead_o", Email: "old@globex.com", Identifiers: []LeadIdentifier{{Kind: "crm_id", Value: "00Q000000000003AAA"}}},
			score.GradeWarm, 50, "Warm: webinar.", ""),
		evaluateForTest(t, env, &Lead{ID: "lead_n", Email: "new.person@initech.com"}, score.GradeHot, 91, "Hot: trial started.", ""),
		evaluateForTest(t, env, &Lead{ID: "lead_w", Email: "warm.person@initech.com"}, score.GradeWarm, 40, "Warm: blog.", ""),
	}
	clk.Advance(outboxWindow + time.Second)
	for i, want := range []string{outbox.StatusDelivered, outbox.StatusDelivered, outbox.StatusDelivered, outbox.StatusDelivered, outbox.StatusSkipped} {
		waitItem(t, env, d.ID, evs[i], want)
	}
	at := clk.Now().Add(-outboxWindow - time.Second).UTC().Format(time.RFC3339)
	check := func(id string, grade string, sc float64, reasoning string) {
		t.Helper()
		r := sf.rec(id)
		if r["TrailSpark_Grade__c"] != grade || r["TrailSpark_Score__c"] != sc || r["TrailSpark_Reasoning__c"] != reasoning || r["TrailSpark_Evaluation_Date__c"] != at {
			t.Errorf("%s holds %v", id, r)
		}
	}
	check("003000000000001AAA", "hot", 85, "Hot (score 85): demo requested today (+2.0).")
	check("00Q000000000002AAA", "warm", 45, "Warm (score 45): pricing page viewed today (+0.8).")
	check("003000000000004AAA", "warm", 50, "Warm: webinar.")
	if r := sf.rec("00Q000000000003AAA"); r["TrailSpark_Grade__c"] != nil {
		t.Errorf("the converted Lead was written: %v", r)
	}
	nid, nr := sf.byEmail("new.person@initech.com")
	if nid == "" || nr["type"] != "Lead" || nr["LastName"] != "new.person" || nr["Company"] != "initech.com" || nr["TrailSpark_Grade__c"] != "hot" {
		t.Errorf("created lead %s %v", nid, nr)
	}
	if id, _ := sf.byEmail("warm.person@initech.com"); id != "" {
		t.Error("a warm unknown person was created")
	}
	// The account is written after the people of its round are recorded
	// (checking at once failed under load).
	pr, _ := c.AccountPropensity(t.Context(), obxOrg, "acct_1")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		r := sf.rec("001000000000009AAA")
		if r["TrailSpark_Propensity__c"] == outbox.PropensityLabel(pr.Propensity) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("account %v, want propensity %s", r, pr.Propensity)
		}
	}
	sf.mu.Lock()
	for _, n := range sf.batches {
		if n > outbox.SalesforceBatch {
			t.Errorf("a collections call carried %d records", n)
		}
	}
	// The converted Lead was tried optimistically and refused, never written.
	refused, queries := sf.refused, len(sf.queries)
	sf.mu.Unlock()
	if refused != 1 {
		t.Errorf("%d converted Lead updates refused, want 1", refused)
	}

	// Second deliveries go by the remembered ids: no email match, and the
	// converted person's Lead id goes straight to the Contact it was
	// written as (no refusal, no conversion lookup).
	evs2 := []*Evaluation{
		evaluateForTest(t, env, &Lead{ID: "lead_c", Email: "conv@globex.com"}, score.GradeWarm, 60, "Warm: pricing.", "acct_1"),
		evaluateForTest(t, env, &Lead{ID: "lead_o", Email: "old@globex.com", Identifiers: []LeadIdentifier{{Kind: "crm_id", Value: "00Q000000000003AAA"}}},
			score.GradeHot, 80, "Hot: demo.", ""),
	}
	clk.Advance(outboxWindow + time.Second)
	for _, ev := range evs2 {
		waitItem(t, env, d.ID, ev, outbox.StatusDelivered)
	}
	if r := sf.rec("003000000000001AAA"); r["TrailSpark_Grade__c"] != "warm" {
		t.Errorf("contact after the second delivery: %v", r)
	}
	if r := sf.rec("003000000000004AAA"); r["TrailSpark_Grade__c"] != "hot" {
		t.Errorf("converted person's contact after the second delivery: %v", r)
	}
	if r := sf.rec("00Q000000000003AAA"); r["TrailSpark_Grade__c"] != nil {
		t.Errorf("the converted Lead was written: %v", r)
	}
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if sf.refused != refused || len(sf.queries) != queries {
		t.Errorf("second deliveries made %d queries %q and %d refusals, want none", len(sf.queries)-queries, sf.queries[queries:], sf.refused-refused)
	}
}
