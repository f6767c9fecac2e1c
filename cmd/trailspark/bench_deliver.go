package main

// `trailspark bench deliver`: evaluations delivered to Salesforce (issue
// targets: 100,000 evaluations delivered to the fake Salesforce in < 30 s
// with ≤ 500 API calls, the engine still evaluating at full speed
// meanwhile; evaluation → delivered p99 < 2 s when the vendor is healthy).
// It starts an in-process fake Salesforce, the real Salesforce connector
// binary (built into a temporary plugins directory unless bin/plugins has
// it), and a node; creates a connection to the fake and a Salesforce
// destination; then drives the leads through the batch ingestion path
// (three mapped signals each, so the starter rules and ICP evaluate every
// one) and measures delivery: time to drain, API calls, and the
// evaluation → delivered latency of every delivery (evaluated_at →
// delivered_at from GET …/deliveries). A second, paced phase measures the
// latency when evaluations arrive at a steady rate rather than as a
// backlog. With --with-crm-ids every person's signals carry their
// Salesforce Contact id (crmId, as people synced from the CRM have), so
// deliveries go by id without email lookups: the realistic write-back case.
// With --hold the destination is disabled while the backlog is evaluated
// (items are still enqueued) and enabled once processing finished, so the
// time to drain is delivering the whole backlog on its own.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/trailspark/trailspark/plugins/salesforce/sffake"
)

func newBenchDeliverCmd() *cobra.Command {
	var leads, paced int
	var rate float64
	var withIDs, hold bool
	cmd := &cobra.Command{
		Use:   "deliver",
		Short: "Measure delivering evaluations to a (fake) Salesforce through the real connector",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchDeliver(cmd.OutOrStdout(), leads, paced, rate, withIDs, hold)
		},
	}
	cmd.Flags().BoolVar(&hold, "hold", false, "hold deliveries (destination disabled) until the backlog is evaluated, then time delivering all of it alone")
	cmd.Flags().BoolVar(&withIDs, "with-crm-ids", false, "send each person with their Salesforce Contact id (crmId): deliveries go by id, no email lookups")
	cmd.Flags().IntVar(&leads, "leads", 100_000, "leads to evaluate and deliver as one backlog")
	cmd.Flags().IntVar(&paced, "paced-leads", 2000, "leads of the paced latency phase (0: skip it)")
	cmd.Flags().Float64Var(&rate, "rate", 100, "leads a second in the paced phase")
	return cmd
}

// benchSalesforce is the part of the Salesforce REST API the connector's
// Write and Metadata use: sObject describe, SOQL email matches (every
// person is an existing Contact, id benchContactID) and sObject
// Collections PATCH with per-record results: an update of a Contact id it
// does not have fails (INVALID_CROSS_REFERENCE_KEY), and of a Lead id is
// refused as a converted Lead (CANNOT_UPDATE_CONVERTED_LEAD), as
// Salesforce does (the bench has no unconverted Leads). It counts every
// call.
type benchSalesforce struct {
	calls   atomic.Int64
	records atomic.Int64
	patches atomic.Int64
	queries atomic.Int64
	failed  atomic.Int64 // records a PATCH refused
	mu      sync.Mutex
	odd     map[string]int // unexpected routes, for the report
}

var (
	bsfFrom    = regexp.MustCompile(`FROM (\w+)`)
	bsfIn      = regexp.MustCompile(`IN \(([^)]*)\)`)
	bsfStr     = regexp.MustCompile(`'([^']*)'`)
	bsfVPath   = regexp.MustCompile(`^/services/data/v[0-9.]+`)
	bsfPerson  = regexp.MustCompile(`^p(\d+)@c\d+-bench\.com$`)
	bsfContact = regexp.MustCompile(`^003\d{15}$`)
)

// benchContactID is the Contact id of bench person i.
func benchContactID(i int) string { return fmt.Sprintf("003%015d", i+1) }

// contactID is the Contact with email ("": none).
func (f *benchSalesforce) contactID(email string) string {
	m := bsfPerson.FindStringSubmatch(email)
	if m == nil {
		return ""
	}
	var i int
	fmt.Sscan(m[1], &i)
	return benchContactID(i)
}

func (f *benchSalesforce) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	p := bsfVPath.ReplaceAllString(r.URL.Path, "")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/5000000", f.calls.Load()))
	switch {
	case r.Method == "GET" && strings.HasPrefix(p, "/sobjects/") && strings.HasSuffix(p, "/describe"):
		obj := strings.TrimSuffix(strings.TrimPrefix(p, "/sobjects/"), "/describe")
		sffake.WriteDescribe(w, obj)
	case r.Method == "GET" && p == "/query":
		f.queries.Add(1)
		q := r.URL.Query().Get("q")
		var out []map[string]any
		if m := bsfFrom.FindStringSubmatch(q); m != nil && m[1] == "Contact" && strings.Contains(q, "WHERE Email IN") {
			if in := bsfIn.FindStringSubmatch(q); in != nil {
				for _, s := range bsfStr.FindAllStringSubmatch(in[1], -1) {
					if id := f.contactID(strings.ToLower(s[1])); id != "" {
						out = append(out, map[string]any{"Id": id, "Email": s[1]})
					}
				}
			}
		}
		if out == nil {
			out = []map[string]any{}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"totalSize": len(out), "done": true, "records": out})
	case p == "/composite/sobjects" && r.Method == "PATCH":
		var body struct {
			Records []map[string]any `json:"records"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.patches.Add(1)
		f.records.Add(int64(len(body.Records)))
		res := make([]map[string]any, 0, len(body.Records))
		for _, rec := range body.Records {
			typ, _ := rec["attributes"].(map[string]any)["type"].(string)
			id, _ := rec["id"].(string)
			switch {
			case typ == "Contact" && bsfContact.MatchString(id):
				res = append(res, map[string]any{"id": id, "success": true, "errors": []any{}})
			case typ == "Lead":
				f.failed.Add(1)
				res = append(res, map[string]any{"id": id, "success": false, "errors": []map[string]any{{"statusCode": "CANNOT_UPDATE_CONVERTED_LEAD", "message": "cannot reference converted lead"}}})
			default:
				f.failed.Add(1)
				res = append(res, map[string]any{"id": id, "success": false, "errors": []map[string]any{{"statusCode": "INVALID_CROSS_REFERENCE_KEY", "message": "invalid cross reference id"}}})
			}
		}
		_ = json.NewEncoder(w).Encode(res)
	default:
		f.mu.Lock()
		f.odd[r.Method+" "+p]++
		f.mu.Unlock()
		w.WriteHeader(404)
		_, _ = w.Write([]byte(`[{"errorCode":"NOT_FOUND","message":"no such route in the bench fake"}]`))
	}
}

// salesforcePlugins returns a plugins directory with the Salesforce
// connector: bin/plugins when it has one, else one built now.
func salesforcePlugins() (dir string, cleanup func(), err error) {
	const name = "trailspark-connector-salesforce"
	if fi, err := os.Stat(filepath.Join("bin", "plugins", name)); err == nil && !fi.IsDir() {
		abs, err := filepath.Abs(filepath.Join("bin", "plugins"))
		return abs, func() {}, err
	}
	tmp, err := os.MkdirTemp("", "trailspark-bench-plugins-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(tmp, name), "./plugins/salesforce")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("build the salesforce connector (run from the repository root, or put it in bin/plugins): %v\n%s", err, out)
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// benchDelivery is one delivery as GET …/deliveries shows it.
type benchDelivery struct {
	Status      string     `json:"status"`
	EvaluatedAt time.Time  `json:"evaluated_at"`
	DoneAt      *time.Time `json:"delivered_at"`
	Note        string     `json:"note"`
}

func runBenchDeliver(w io.Writer, leads, paced int, rate float64, withIDs, hold bool) error {
	how := "matched by email"
	if withIDs {
		how = "sent with their Contact ids (crmId)"
	}
	fmt.Fprintf(w, "machine: %d CPUs; %d leads as a backlog, then %d leads at %.0f/s; people %s\n", numCPU(), leads, paced, rate, how)
	plugins, cleanup, err := salesforcePlugins()
	if err != nil {
		return err
	}
	defer cleanup()
	sf := &benchSalesforce{odd: map[string]int{}}
	fake := httptest.NewServer(sf)
	defer fake.Close()

	// The bench node helper passes its environment on.
	os.Setenv("TRAILSPARK_PLUGINS_DIR", plugins)
	n, _, err := startBenchNode()
	if err != nil {
		return err
	}
	defer n.stop()
	const op = "bench-operator-token-0123456789"
	if _, err := n.call("POST", "/api/v1/auth/register", "", map[string]any{"email": "bench@example.com", "password": "bench-password", "name": "Bench"}); err != nil {
		return err
	}
	org, err := n.call("POST", "/api/v1/orgs", op, map[string]any{"name": "Bench Deliver", "size": "51-200", "industry": "Technology",
		"owner_email": "bench@example.com", "plan": "scale"})
	if err != nil {
		return err
	}
	orgID := org["id"].(string)
	base := "/api/v1/orgs/" + orgID
	conn, err := n.call("POST", base+"/connections", op, map[string]any{"provider": "salesforce", "name": "Fake Salesforce",
		"base_url": fake.URL, "credentials": map[string]string{"access_token": "bench-token"}})
	if err != nil {
		return err
	}
	f := map[string]string{"score": "TrailSpark_Score__c", "grade": "TrailSpark_Grade__c", "reasoning": "TrailSpark_Reasoning__c",
		"evaluation_date": "TrailSpark_Evaluation_Date__c"}
	dst, err := n.call("POST", base+"/destinations", op, map[string]any{"kind": "salesforce", "name": "Salesforce",
		"connection_id": conn["id"], "fields": map[string]any{"Lead": f, "Contact": f}})
	if err != nil {
		return err
	}
	dest := dst["id"].(string)
	k, err := n.call("POST", base+"/api-keys", op, map[string]any{"name": "bench"})
	if err != nil {
		return err
	}
	url := n.url + "/api/signal-staging/webhook/" + k["key"].(string) + "/batch"
	if hold {
		if _, err := n.call("PATCH", base+"/destinations/"+dest, op, map[string]any{"status": "disabled"}); err != nil {
			return err
		}
	}
	setupCalls := sf.calls.Load()

	// Phase 1: the backlog.
	start := time.Now()
	sent, err := sendLeadSignals(url, 0, leads, 0, withIDs)
	if err != nil {
		return err
	}
	ingested := time.Since(start)
	fmt.Fprintf(w, "ingested %d signals (%d leads) in %v\n", sent, leads, ingested.Round(time.Millisecond))
	processed := waitProcessed(n, op, orgID, int64(sent)) + ingested
	fmt.Fprintf(w, "all signals processed (leads evaluated) %v after the first batch (%.0f leads/s)\n",
		processed.Round(time.Millisecond), float64(leads)/processed.Seconds())
	if hold {
		processed = time.Since(start)
		d0 := sf.calls.Load()
		if _, err := n.call("PATCH", base+"/destinations/"+dest, op, map[string]any{"status": "active"}); err != nil {
			return err
		}
		setupCalls += sf.calls.Load() - d0 // the update describes the mapped objects again
		if dir := os.Getenv("TRAILSPARK_BENCH_PROFILE"); dir != "" {
			go saveProfile(n, op, "/debug/pprof/profile?seconds=10", dir+"/cpu-deliver.prof") // the node delivering alone
		}

		fmt.Fprintf(w, "deliveries held until now: the destination is enabled %v after the first batch\n", processed.Round(time.Millisecond))
	}
	drained, err := waitDrained(n, op, base, dest, start, time.Duration(leads/50+60)*time.Second)
	if err != nil {
		return err
	}
	calls := sf.calls.Load() - setupCalls
	ds, err := listDeliveries(n, op, base, dest)
	if err != nil {
		return err
	}
	rep := summarize(ds)
	fmt.Fprintf(w, "backlog: all deliveries done %v after the first batch (%v after processing finished)\n",
		drained.Round(time.Millisecond), (drained - processed).Round(time.Millisecond))
	fmt.Fprintf(w, "backlog: %s\n", rep)
	fmt.Fprintf(w, "backlog: %d API calls to the fake Salesforce (%d collection PATCHes carrying %d records, %d queries), %.1f records per PATCH\n",
		calls, sf.patches.Load(), sf.records.Load(), sf.queries.Load(), float64(sf.records.Load())/max(1, float64(sf.patches.Load())))

	if paced > 0 {
		// Phase 2: a steady flow of new leads.
		calls0, patches0, recs0 := sf.calls.Load(), sf.patches.Load(), sf.records.Load()
		startP := time.Now()
		sent, err := sendLeadSignals(url, leads, paced, rate, withIDs)
		if err != nil {
			return err
		}
		waitProcessed(n, op, orgID, int64(sent))
		if _, err := waitDrained(n, op, base, dest, startP, 5*time.Minute); err != nil {
			return err
		}
		all, err := listDeliveries(n, op, base, dest)
		if err != nil {
			return err
		}
		var recent []benchDelivery
		for _, d := range all {
			if !d.EvaluatedAt.Before(startP) {
				recent = append(recent, d)
			}
		}
		fmt.Fprintf(w, "paced (%.0f leads/s for %v): %s\n", rate, time.Since(startP).Round(time.Second), summarize(recent))
		fmt.Fprintf(w, "paced: %d API calls (%d PATCHes, %.1f records per PATCH)\n", sf.calls.Load()-calls0, sf.patches.Load()-patches0,
			float64(sf.records.Load()-recs0)/max(1, float64(sf.patches.Load()-patches0)))
	}
	if n := sf.failed.Load(); n > 0 {
		fmt.Fprintf(w, "records the fake refused: %d\n", n)
	}
	if len(sf.odd) > 0 {
		fmt.Fprintf(w, "unexpected calls to the fake: %v\n", sf.odd)
	}
	if m, err := memStatus(n.cmd.Process.Pid); err == nil {
		fmt.Fprintf(w, "RSS after the run: %s\n", m)
	}
	return nil
}

// sendLeadSignals sends three mapped signals of two types for leads
// first…first+count-1 (lead by lead when rate > 0, in batches of 500 at
// full speed otherwise), with each person's Contact id when withIDs.
func sendLeadSignals(url string, first, count int, rate float64, withIDs bool) (int, error) {
	events := []string{`"event":"Form Submitted"`, `"event":"Demo Requested"`, `"type":"page","name":"Pricing"`}
	var buf bytes.Buffer
	sent := 0
	flush := func() error {
		if buf.Len() == 0 {
			return nil
		}
		buf.WriteByte(']')
		resp, err := http.Post(url, "application/json", bytes.NewReader(buf.Bytes()))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("batch answered %d", resp.StatusCode)
		}
		buf.Reset()
		return nil
	}
	add := func(i, e int) {
		if buf.Len() == 0 {
			buf.WriteByte('[')
		} else {
			buf.WriteByte(',')
		}
		crm := ""
		if withIDs {
			crm = `"crmId":"` + benchContactID(i) + `",`
		}
		fmt.Fprintf(&buf, `{"email":"p%d@c%d-bench.com",%s"messageId":"d%d-%d-%d",%s}`, i, i%5000, crm, runID, e, i, events[e])
		sent++
	}
	if rate > 0 {
		start := time.Now()
		for j := 0; j < count; j++ {
			if d := time.Until(start.Add(time.Duration(float64(j) / rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
			for e := range events {
				add(first+j, e)
			}
			if err := flush(); err != nil {
				return sent, err
			}
		}
		return sent, nil
	}
	for e := range events {
		for j := 0; j < count; j++ {
			add(first+j, e)
			if sent%500 == 0 {
				if err := flush(); err != nil {
					return sent, err
				}
			}
		}
	}
	return sent, flush()
}

// waitDrained waits until the destination has nothing queued, returning
// the time since start.
func waitDrained(n *benchNode, op, base, dest string, start time.Time, limit time.Duration) (time.Duration, error) {
	var last any
	for time.Since(start) < limit {
		empty := true
		for _, st := range []string{"pending", "failed"} {
			res, err := n.call("GET", base+"/destinations/"+dest+"/deliveries?limit=1&status="+st, op, nil)
			if err != nil {
				return 0, err
			}
			if items, _ := res["items"].([]any); len(items) > 0 {
				empty, last = false, items[0]
			}
		}
		if empty {
			return time.Since(start), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("deliveries still queued after %v, e.g. %v", limit, last)
}

func listDeliveries(n *benchNode, op, base, dest string) ([]benchDelivery, error) {
	var out []benchDelivery
	after := ""
	for {
		req, _ := http.NewRequest("GET", n.url+base+"/destinations/"+dest+"/deliveries?limit=200&cursor="+after, nil)
		req.Header.Set("Authorization", "Bearer "+op)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		var page struct {
			Items      []benchDelivery `json:"items"`
			NextCursor string          `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out, nil
		}
		after = page.NextCursor
	}
}

// summarize counts deliveries by status and gives the evaluation →
// delivered latency of the delivered ones.
func summarize(ds []benchDelivery) string {
	by := map[string]int{}
	superseded := 0
	var lat []time.Duration
	for _, d := range ds {
		by[d.Status]++
		if strings.Contains(d.Note, "superseded") {
			superseded++
		}
		if d.Status == "delivered" && d.DoneAt != nil {
			lat = append(lat, d.DoneAt.Sub(d.EvaluatedAt))
		}
	}
	s := fmt.Sprintf("%d deliveries %v (%d superseded)", len(ds), by, superseded)
	if len(lat) > 0 {
		s += fmt.Sprintf("; evaluation → delivered p50 %v p99 %v max %v", pctOf(lat, 0.5).Round(time.Millisecond),
			pctOf(lat, 0.99).Round(time.Millisecond), pctOf(lat, 1).Round(time.Millisecond))
	}
	return s
}
