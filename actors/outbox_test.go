package actors

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/clocktest"
	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/outbox"
	"github.com/trailspark/trailspark/engine/score"
	"github.com/trailspark/trailspark/sdk/connector"
	"github.com/trailspark/trailspark/store"
)

const obxOrg = "org_0000000000000000obxa"

func outboxEnv(t *testing.T) (*Env, *Client, *clocktest.Clock) {
	t.Helper()
	env := testEnv(t)
	clk := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	env.Clock = clk.Now
	c := &Client{env: env, jobs: newJobRegistry()}
	env.client = c
	t.Cleanup(c.Close) // before the store closes (cleanups run last-in first-out)
	return env, c, clk
}

// evaluateForTest stores an evaluation of l the way the ingest flush does:
// the evaluation, its outbox entries and the lead in one batch.
func evaluateForTest(t *testing.T, env *Env, l *Lead, grade score.Grade, sc int, reasoning, acct string) *Evaluation {
	t.Helper()
	id, _ := credential.NewID(rand.Reader, "ev_")
	ev := &Evaluation{ID: id, LeadID: l.ID, AccountID: acct, ModelID: "m", Trigger: "test",
		Evaluation: score.Evaluation{Grade: grade, Score: sc, Reasoning: reasoning, EvaluatedAt: env.now(),
			Contributions: []score.Contribution{{Feature: "demo", Points: 1.5}}}}
	w, err := evaluationWrites(obxOrg, l, ev)
	if err != nil {
		t.Fatal(err)
	}
	if w, err = appendOutbox(t.Context(), env, obxOrg, ev, l, w); err != nil {
		t.Fatal(err)
	}
	buf, _ := json.Marshal(l)
	w = append(w, store.Write{Key: keyLead(obxOrg, l.ID), Value: buf, Expected: store.AnyVersion})
	if _, err := env.Store.SaveBatch(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	return ev
}

// items lists every delivery item of a destination (queue and history).
func items(t *testing.T, env *Env, dest string) map[string]outbox.Item {
	t.Helper()
	out := map[string]outbox.Item{}
	for _, base := range [][]byte{keyOutboxBase(obxOrg, dest), keyOutboxHistBase(obxOrg, dest)} {
		err := env.Store.Scan(context.Background(), base, nil, func(it store.Item) error {
			var d outbox.Item
			if err := json.Unmarshal(it.Value, &d); err != nil {
				return err
			}
			out[d.LeadID+"/"+d.EvaluationID] = d
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// waitItem polls until the item of ev reaches status.
func waitItem(t *testing.T, env *Env, dest string, ev *Evaluation, status string) outbox.Item {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		it, ok := items(t, env, dest)[ev.LeadID+"/"+ev.ID]
		if ok && it.Status == status {
			return it
		}
		if time.Now().After(deadline) {
			t.Fatalf("item of %s: %+v, want status %s", ev.LeadID, it, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type receiver struct {
	mu     sync.Mutex
	codes  []int // answers in order; then 200
	ra     string
	bodies [][]byte
	sigs   []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.sigs = append(r.sigs, req.Header.Get(outbox.SignatureHeader))
	code := 200
	if len(r.codes) > 0 {
		code, r.codes = r.codes[0], r.codes[1:]
	}
	ra := r.ra
	r.mu.Unlock()
	if code == 429 && ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	w.WriteHeader(code)
}

func (r *receiver) script(ra string, codes ...int) {
	r.mu.Lock()
	r.codes, r.ra = codes, ra
	r.mu.Unlock()
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func webhookDest(t *testing.T, c *Client, url string) (*Destination, string) {
	t.Helper()
	id, _ := credential.NewID(rand.Reader, "dst_")
	d := &Destination{ID: id, Kind: outbox.KindWebhook, SendEvaluations: true, ScoreBand: 5}
	secret, err := c.applyDestination(t.Context(), obxOrg, d, DestinationInput{URL: &url}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.saveDestination(t.Context(), obxOrg, d, 0); err != nil {
		t.Fatal(err)
	}
	return d, secret
}

func TestOutboxWebhookDelivery(t *testing.T) {
	env, c, clk := outboxEnv(t)
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	d, secret := webhookDest(t, c, srv.URL+"/hook")
	if !outbox.ValidSecret(secret) {
		t.Fatalf("secret %q", secret)
	}

	// 500 then 200: retried after the backoff and delivered.
	rcv.script("", 500)
	l1 := &Lead{ID: "lead_1", Email: "ann@globex.com", Identifiers: []LeadIdentifier{{Kind: "crm_id", Value: "00Q000000000001"}}}
	ev1 := evaluateForTest(t, env, l1, score.GradeHot, 80, "demo requested", "")
	it := waitItem(t, env, d.ID, ev1, outbox.StatusFailed)
	if it.Attempts != 1 || it.ErrorKind != "retryable" || !strings.Contains(it.Error, "500") || !it.NextAttemptAt.After(clk.Now()) {
		t.Fatalf("after a 500: %+v", it)
	}
	clk.Advance(outboxPolicy.Base + time.Second)
	it = waitItem(t, env, d.ID, ev1, outbox.StatusDelivered)
	if rcv.count() != 2 || it.Attempts != 1 {
		t.Fatalf("deliveries %d, item %+v", rcv.count(), it)
	}
	rcv.mu.Lock()
	body, sig := rcv.bodies[1], rcv.sigs[1]
	rcv.mu.Unlock()
	if err := credential.VerifySignature(secret, sig, body, clk.Now(), 0); err != nil {
		t.Fatalf("signature %q: %v", sig, err)
	}
	var got outbox.WebhookEvent
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	var gotEv Evaluation
	_ = json.Unmarshal(got.Evaluation, &gotEv)
	if got.Type != outbox.EventEvaluation || got.Lead.ID != "lead_1" || got.Lead.Email != "ann@globex.com" || gotEv.ID != ev1.ID ||
		len(gotEv.Contributions) != 1 || gotEv.Reasoning != "demo requested" || got.Lead.CRMIDs[0] != "00Q000000000001" {
		t.Fatalf("body %s", body)
	}

	// 429 with Retry-After: 120 s, not the backoff.
	rcv.script("120", 429)
	ev2 := evaluateForTest(t, env, &Lead{ID: "lead_2", Email: "bo@globex.com"}, score.GradeWarm, 40, "pricing", "")
	it = waitItem(t, env, d.ID, ev2, outbox.StatusFailed)
	if it.ErrorKind != "rate_limited" || !it.NextAttemptAt.Equal(clk.Now().Add(120*time.Second)) {
		t.Fatalf("after a 429: %+v (now %v)", it, clk.Now())
	}
	n := rcv.count()
	clk.Advance(60 * time.Second)
	time.Sleep(3 * outboxPoll)
	if rcv.count() != n {
		t.Fatal("retried before Retry-After")
	}
	clk.Advance(61 * time.Second)
	waitItem(t, env, d.ID, ev2, outbox.StatusDelivered)

	// 404: parked at once, with the receiver's answer; redrive delivers.
	// (410 disables the destination: api TestWebhookGoneDisablesDestination.)
	rcv.script("", 404)
	ev3 := evaluateForTest(t, env, &Lead{ID: "lead_3", Email: "cy@globex.com"}, score.GradeCold, 10, "quiet", "")
	it = waitItem(t, env, d.ID, ev3, outbox.StatusParked)
	if it.ErrorKind != "not_found" || !strings.Contains(it.Error, "404") || it.Attempts != 1 {
		t.Fatalf("parked %+v", it)
	}
	if n, err := env.redrive(t.Context(), obxOrg, d.ID); err != nil || n != 1 {
		t.Fatalf("redrive %d %v", n, err)
	}
	env.outbox().nudge()
	waitItem(t, env, d.ID, ev3, outbox.StatusDelivered)

	// Change-only: same grade and reasoning, score within the band.
	n = rcv.count()
	ev4 := evaluateForTest(t, env, l1, score.GradeHot, 83, "demo requested", "")
	it = waitItem(t, env, d.ID, ev4, outbox.StatusSkipped)
	if rcv.count() != n || !strings.Contains(it.Note, "nothing") {
		t.Fatalf("unchanged evaluation delivered: %+v", it)
	}
	// A grade change goes.
	ev5 := evaluateForTest(t, env, l1, score.GradeWarm, 50, "demo requested", "")
	waitItem(t, env, d.ID, ev5, outbox.StatusDelivered)
}

func TestOutboxWritesOnlyActiveDestinations(t *testing.T) {
	env, c, _ := outboxEnv(t)
	l := &Lead{ID: "lead_x"}
	id, _ := credential.NewID(rand.Reader, "ev_")
	ev := &Evaluation{ID: id, LeadID: l.ID, Evaluation: score.Evaluation{EvaluatedAt: env.now()}}
	if w, err := outboxWrites(t.Context(), env, obxOrg, ev, l); err != nil || len(w) != 0 {
		t.Fatalf("no destinations: %v %v", w, err)
	}
	a, _ := webhookDest(t, c, "http://127.0.0.1:1/a")
	b, _ := webhookDest(t, c, "http://127.0.0.1:1/b")
	off, _ := webhookDest(t, c, "http://127.0.0.1:1/off")
	off.SendEvaluations = false
	_, ver, _ := env.loadDestination(t.Context(), obxOrg, off.ID)
	if err := c.saveDestination(t.Context(), obxOrg, off, ver); err != nil {
		t.Fatal(err)
	}
	w, err := outboxWrites(t.Context(), env, obxOrg, ev, l)
	if err != nil || len(w) != 2 {
		t.Fatalf("writes %d %v", len(w), err)
	}
	keys := string(w[0].Key) + " " + string(w[1].Key)
	if !strings.Contains(keys, a.ID) || !strings.Contains(keys, b.ID) || strings.Contains(keys, off.ID) || w[0].Expected != 0 {
		t.Fatalf("keys %s", keys)
	}
}

// fakeCRM is a connector that keeps records in memory.
type fakeCRM struct {
	mu       sync.Mutex
	reqs     []connector.WriteRequest
	contacts map[string]string // email → id
	leads    map[string]string
	md       connector.Metadata
	failAll  error
	n        int
}

func (f *fakeCRM) Metadata(context.Context, connector.Config, connector.MetadataRequest) (connector.Metadata, error) {
	return f.md, nil
}

func (f *fakeCRM) Write(_ context.Context, _ connector.Config, req connector.WriteRequest) ([]connector.WriteResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	if f.failAll != nil {
		return nil, f.failAll
	}
	res := make([]connector.WriteResult, len(req.Updates))
	for i, u := range req.Updates {
		res[i].Index = i
		switch {
		case strings.Contains(u.RecordID, "deleted"):
			res[i].Err = connector.NotFound("entity is deleted")
		case u.RecordID != "":
			res[i].RecordID = u.RecordID
		default:
			book := f.leads
			if req.Object == "Contact" {
				book = f.contacts
			}
			if id, ok := book[u.Email]; ok {
				res[i].RecordID = id
			} else if u.CreateIfMissing {
				f.n++
				res[i].RecordID, res[i].Created = "00Qnew"+strconv.Itoa(f.n), true
			} else {
				res[i].Err = connector.NotFound("no %s with that email", req.Object)
			}
		}
	}
	return res, nil
}

func (f *fakeCRM) requests() []connector.WriteRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]connector.WriteRequest(nil), f.reqs...)
}

func sfMetadata() connector.Metadata {
	person := func(name string) connector.Object {
		return connector.Object{Name: name, Fields: []connector.Field{
			{Name: "Email", Type: connector.FieldEmail, Writable: true},
			{Name: "LastName", Type: connector.FieldString, Writable: true, Required: true},
			{Name: "Company", Type: connector.FieldString, Writable: true, Required: name == "Lead"},
			{Name: "TrailSpark_Score__c", Type: connector.FieldNumber, Writable: true},
			{Name: "TrailSpark_Grade__c", Type: connector.FieldString, Writable: true},
			{Name: "TrailSpark_Reasoning__c", Type: connector.FieldText, Writable: true},
			{Name: "TrailSpark_Evaluation_Date__c", Type: connector.FieldDateTime, Writable: true},
			{Name: "TrailSpark_Formula__c", Type: connector.FieldNumber},
		}}
	}
	return connector.Metadata{Objects: []connector.Object{person("Lead"), person("Contact"),
		{Name: "Account", Fields: []connector.Field{{Name: "TrailSpark_Propensity__c", Type: connector.FieldString, Writable: true}}}}}
}

func crmSetup(t *testing.T) (*Env, *Client, *clocktest.Clock, *fakeCRM) {
	env, c, clk := outboxEnv(t)
	f := &fakeCRM{contacts: map[string]string{"conv@globex.com": "003000000000001"},
		leads: map[string]string{"open@globex.com": "00Q000000000002"}, md: sfMetadata()}
	st := env.outbox()
	st.connectorFor = func(provider string) (crmConnector, error) { return f, nil }
	c.SetConnectionResolver(func(ctx context.Context, org, id string) (string, connector.Config, error) {
		return "salesforce", connector.Config{BaseURL: "https://x.my.salesforce.com"}, nil
	})
	return env, c, clk, f
}

func sfFields() map[string]outbox.ObjectFields {
	f := outbox.ObjectFields{Score: "TrailSpark_Score__c", Grade: "TrailSpark_Grade__c", Reasoning: "TrailSpark_Reasoning__c", EvaluationDate: "TrailSpark_Evaluation_Date__c"}
	return map[string]outbox.ObjectFields{"Lead": f, "Contact": f}
}

func TestCRMDestinationValidation(t *testing.T) {
	_, c, _, _ := crmSetup(t)
	conn := "conn_1"
	mk := func(in DestinationInput) error {
		d := &Destination{Kind: outbox.KindSalesforce, SendEvaluations: true}
		in.ConnectionID = &conn
		_, err := c.applyDestination(t.Context(), obxOrg, d, in, true)
		return err
	}
	if err := mk(DestinationInput{Fields: sfFields()}); err != nil {
		t.Fatal(err)
	}
	bad := sfFields()
	bad["Lead"] = outbox.ObjectFields{Score: "TrailSpark_Missing__c"}
	if err := mk(DestinationInput{Fields: bad}); err == nil || !strings.Contains(err.Error(), `Lead has no field "TrailSpark_Missing__c"`) {
		t.Fatalf("missing field: %v", err)
	}
	bad["Lead"] = outbox.ObjectFields{Score: "TrailSpark_Formula__c"}
	if err := mk(DestinationInput{Fields: bad}); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("read-only field: %v", err)
	}
	pf := "Nope__c"
	if err := mk(DestinationInput{Fields: sfFields(), PropensityField: &pf}); err == nil || !strings.Contains(err.Error(), "Account has no field") {
		t.Fatalf("propensity field: %v", err)
	}
	if err := mk(DestinationInput{Fields: map[string]outbox.ObjectFields{"Opportunity": {Score: "X"}}}); err == nil {
		t.Fatal("opportunity accepted")
	}
	yes := true
	if err := mk(DestinationInput{Fields: sfFields(), CreateIfNotFound: &yes, CreateGrades: []string{"hot"}}); err != nil {
		t.Fatalf("create with the required fields TrailSpark fills: %v", err)
	}
}

func TestOutboxSalesforceWriteBack(t *testing.T) {
	env, c, clk, f := crmSetup(t)
	conn := "conn_1"
	d := crmDestination(t, c, outbox.KindSalesforce, conn, "TrailSpark_Propensity__c", sfFields())
	acct := Account{ID: "acct_1", Name: "Globex", ExternalID: "001000000000009"}
	saveAccount(t, env, acct)
	p, _ := json.Marshal(propensityEntry{IntentScore: 90, FitScore: 80, At: clk.Now()})
	_, _ = env.Store.Save(t.Context(), keyPropensity(obxOrg, acct.ID, "lead_other"), p, 0)

	evC := evaluateForTest(t, env, &Lead{ID: "lead_c", Email: "conv@globex.com"}, score.GradeHot, 85, "demo", "acct_1")
	evL := evaluateForTest(t, env, &Lead{ID: "lead_l", Email: "open@globex.com"}, score.GradeWarm, 45, "pricing", "")
	evN := evaluateForTest(t, env, &Lead{ID: "lead_n", Email: "new@initech.com"}, score.GradeHot, 90, "trial", "")
	evW := evaluateForTest(t, env, &Lead{ID: "lead_w", Email: "warm@initech.com"}, score.GradeWarm, 40, "blog", "")
	evD := evaluateForTest(t, env, &Lead{ID: "lead_d", Identifiers: []LeadIdentifier{{Kind: "crm_id", Value: "00Qdeleted00001"}}}, score.GradeHot, 70, "x", "")
	evK := evaluateForTest(t, env, &Lead{ID: "lead_k", Email: "k@globex.com", Identifiers: []LeadIdentifier{{Kind: "crm_id", Value: "003000000000007"}}}, score.GradeCold, 10, "y", "")
	time.Sleep(3 * outboxPoll)
	if len(f.requests()) != 0 {
		t.Fatal("a partial batch went before the window")
	}
	clk.Advance(outboxWindow + time.Second)

	it := waitItem(t, env, d.ID, evC, outbox.StatusDelivered)
	if it.Object != "Contact" || it.RecordID != "003000000000001" {
		t.Fatalf("converted person: %+v", it)
	}
	it = waitItem(t, env, d.ID, evL, outbox.StatusDelivered)
	if it.Object != "Lead" || it.RecordID != "00Q000000000002" {
		t.Fatalf("lead: %+v", it)
	}
	it = waitItem(t, env, d.ID, evN, outbox.StatusDelivered)
	if !it.Created || it.Object != "Lead" {
		t.Fatalf("created: %+v", it)
	}
	it = waitItem(t, env, d.ID, evW, outbox.StatusSkipped)
	if !strings.Contains(it.Note, "grade warm") {
		t.Fatalf("warm not created: %+v", it)
	}
	it = waitItem(t, env, d.ID, evD, outbox.StatusParked)
	if it.ErrorKind != "not_found" || !strings.Contains(it.Error, "deleted") {
		t.Fatalf("deleted record: %+v", it)
	}
	it = waitItem(t, env, d.ID, evK, outbox.StatusDelivered)
	if it.Object != "Contact" || it.RecordID != "003000000000007" {
		t.Fatalf("contact by id: %+v", it)
	}
	var sawCreate, sawAccount bool
	for _, r := range f.requests() {
		for _, u := range r.Updates {
			var fields map[string]any
			_ = json.Unmarshal(u.Fields, &fields)
			if u.CreateIfMissing {
				sawCreate = true
				if fields["LastName"] != "new" || fields["Company"] != "initech.com" || fields["TrailSpark_Grade__c"] != "hot" || u.Email != "new@initech.com" {
					t.Errorf("create fields %v", fields)
				}
			}
			if r.Object == "Account" {
				sawAccount = true
				pr, _ := c.AccountPropensity(t.Context(), obxOrg, acct.ID)
				if u.RecordID != "001000000000009" || fields["TrailSpark_Propensity__c"] != outbox.PropensityLabel(pr.Propensity) || pr.Propensity == "" {
					t.Errorf("account update %+v %v", u, fields)
				}
			}
			if u.RecordID == "003000000000001" || u.Email == "conv@globex.com" && r.Object == "Contact" {
				if fields["TrailSpark_Score__c"] != float64(85) || fields["TrailSpark_Reasoning__c"] != "demo" {
					t.Errorf("contact fields %v", fields)
				}
			}
		}
		if len(r.Updates) > outbox.SalesforceBatch {
			t.Errorf("batch of %d", len(r.Updates))
		}
	}
	if !sawCreate || !sawAccount {
		t.Fatalf("create %v account %v: %+v", sawCreate, sawAccount, f.requests())
	}

	// Unchanged: skipped without a call; a vendor outage is retried.
	n := len(f.requests())
	evC2 := evaluateForTest(t, env, &Lead{ID: "lead_c", Email: "conv@globex.com"}, score.GradeHot, 87, "demo", "acct_1")
	clk.Advance(outboxWindow + time.Second)
	waitItem(t, env, d.ID, evC2, outbox.StatusSkipped)
	if len(f.requests()) != n {
		t.Fatal("unchanged evaluation written")
	}
	f.mu.Lock()
	f.failAll = connector.RateLimited(30*time.Second, "REQUEST_LIMIT_EXCEEDED")
	f.mu.Unlock()
	evC3 := evaluateForTest(t, env, &Lead{ID: "lead_c", Email: "conv@globex.com"}, score.GradeWarm, 50, "demo", "acct_1")
	clk.Advance(outboxWindow + time.Second)
	it = waitItem(t, env, d.ID, evC3, outbox.StatusFailed)
	if !it.NextAttemptAt.Equal(clk.Now().Add(30 * time.Second)) {
		t.Fatalf("rate limited: %+v", it)
	}
	f.mu.Lock()
	f.failAll = nil
	f.mu.Unlock()
	clk.Advance(31 * time.Second)
	waitItem(t, env, d.ID, evC3, outbox.StatusDelivered)
}

func TestOutboxBudget(t *testing.T) {
	env, c, clk, f := crmSetup(t)
	conn := "conn_1"
	budget := 100
	id, _ := credential.NewID(rand.Reader, "dst_")
	d := &Destination{ID: id, Kind: outbox.KindSalesforce, SendEvaluations: true, ScoreBand: 5}
	if _, err := c.applyDestination(t.Context(), obxOrg, d, DestinationInput{ConnectionID: &conn, Fields: sfFields(), DailyBudget: &budget}, true); err != nil {
		t.Fatal(err)
	}
	if err := c.saveDestination(t.Context(), obxOrg, d, 0); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(outbox.Budget{Allowance: 100, Used: 95, Day: clk.Now().Format(time.DateOnly)})
	if _, err := env.Store.Save(t.Context(), keyOutboxBudget(obxOrg, d.ID), b, 0); err != nil {
		t.Fatal(err)
	}
	hot := evaluateForTest(t, env, &Lead{ID: "lead_h", Email: "conv@globex.com"}, score.GradeHot, 85, "demo", "")
	warm := evaluateForTest(t, env, &Lead{ID: "lead_m", Email: "open@globex.com"}, score.GradeWarm, 45, "pricing", "")
	clk.Advance(outboxWindow + time.Second)
	waitItem(t, env, d.ID, hot, outbox.StatusDelivered)
	it := waitItem(t, env, d.ID, warm, outbox.StatusPending)
	for i := 0; i < 100 && !strings.Contains(it.Note, "budget"); i++ {
		time.Sleep(20 * time.Millisecond)
		it = items(t, env, d.ID)[warm.LeadID+"/"+warm.ID]
	}
	if !strings.Contains(it.Note, "budget is low") || !it.NextAttemptAt.Equal(outbox.NextDay(clk.Now())) {
		t.Fatalf("warm change on a low budget: %+v", it)
	}
	var bud outbox.Budget
	if _, err := env.loadJSON(t.Context(), keyOutboxBudget(obxOrg, d.ID), &bud); err != nil || bud.Used < 96 {
		t.Fatalf("budget %+v %v", bud, err)
	}
	n := len(f.requests())
	clk.Set(outbox.NextDay(clk.Now()).Add(time.Minute))
	waitItem(t, env, d.ID, warm, outbox.StatusDelivered)
	if len(f.requests()) <= n {
		t.Fatal("no call the next day")
	}
}

func TestOutboxHubSpotWriteBack(t *testing.T) {
	env, c, clk := outboxEnv(t)
	f := &fakeCRM{leads: map[string]string{"known@globex.com": "501"}, md: connector.Metadata{Objects: []connector.Object{
		{Name: "contacts", Fields: []connector.Field{{Name: "email", Type: connector.FieldEmail, Writable: true},
			{Name: "trailspark_score", Type: connector.FieldNumber, Writable: true},
			{Name: "trailspark_grade", Type: connector.FieldPicklist, Writable: true, Picklist: []connector.PicklistValue{{Value: "hot"}, {Value: "warm"}, {Value: "cold"}}},
			{Name: "trailspark_evaluation_date", Type: connector.FieldDate, Writable: true}}},
		{Name: "companies", Fields: []connector.Field{{Name: "trailspark_propensity", Type: connector.FieldString, Writable: true}}}}}}
	env.outbox().connectorFor = func(string) (crmConnector, error) { return f, nil }
	c.SetConnectionResolver(func(context.Context, string, string) (string, connector.Config, error) {
		return "hubspot", connector.Config{}, nil
	})
	yes := true
	pf, conn := "trailspark_propensity", "conn_h"
	id, _ := credential.NewID(rand.Reader, "dst_")
	d := &Destination{ID: id, Kind: outbox.KindHubSpot, SendEvaluations: true, ScoreBand: 5}
	fields := map[string]outbox.ObjectFields{"contacts": {Score: "trailspark_score", Grade: "trailspark_grade", EvaluationDate: "trailspark_evaluation_date"}}
	if _, err := c.applyDestination(t.Context(), obxOrg, d, DestinationInput{ConnectionID: &conn, Fields: fields, PropensityField: &pf,
		CreateIfNotFound: &yes, CreateGrades: []string{"hot"}}, true); err != nil {
		t.Fatal(err)
	}
	if !d.Fields["contacts"].DateOnly {
		t.Fatal("a date field not recognised from the metadata")
	}
	if err := c.saveDestination(t.Context(), obxOrg, d, 0); err != nil {
		t.Fatal(err)
	}
	acct := Account{ID: "acct_h", Name: "Globex", ExternalID: "9001"}
	saveAccount(t, env, acct)

	known := evaluateForTest(t, env, &Lead{ID: "lead_k", Email: "known@globex.com"}, score.GradeWarm, 45, "pricing", "acct_h")
	byID := evaluateForTest(t, env, &Lead{ID: "lead_i", Email: "i@globex.com", Identifiers: []LeadIdentifier{{Kind: "crm_id", Value: "777"}}}, score.GradeCold, 5, "quiet", "")
	hot := evaluateForTest(t, env, &Lead{ID: "lead_h", Email: "hot@initech.com"}, score.GradeHot, 90, "trial", "")
	var many []*Evaluation
	for i := 0; i < 140; i++ {
		many = append(many, evaluateForTest(t, env, &Lead{ID: fmt.Sprintf("lead_m%03d", i), Email: fmt.Sprintf("m%d@initech.com", i)}, score.GradeWarm, 30, "blog", ""))
	}
	clk.Advance(outboxWindow + time.Second)
	if it := waitItem(t, env, d.ID, known, outbox.StatusDelivered); it.RecordID != "501" || it.Object != "contacts" {
		t.Fatalf("known %+v", it)
	}
	if it := waitItem(t, env, d.ID, byID, outbox.StatusDelivered); it.RecordID != "777" {
		t.Fatalf("by id %+v", it)
	}
	if it := waitItem(t, env, d.ID, hot, outbox.StatusDelivered); !it.Created {
		t.Fatalf("hot %+v", it)
	}
	for _, ev := range many {
		waitItem(t, env, d.ID, ev, outbox.StatusSkipped) // warm and unknown: not created
	}
	sawCompany := false
	for _, r := range f.requests() {
		if len(r.Updates) > outbox.HubSpotBatch {
			t.Errorf("a call carried %d updates", len(r.Updates))
		}
		for _, u := range r.Updates {
			var v map[string]any
			_ = json.Unmarshal(u.Fields, &v)
			switch {
			case r.Object == "companies":
				sawCompany = u.RecordID == "9001" && v["trailspark_propensity"] != ""
			case u.Email == "hot@initech.com" && (!u.CreateIfMissing || v["trailspark_evaluation_date"] != "2026-03-01"):
				t.Errorf("hot update %+v %v", u, v)
			case strings.HasPrefix(u.Email, "m") && u.CreateIfMissing:
				t.Errorf("a warm person would be created: %+v", u)
			}
		}
	}
	if !sawCompany {
		t.Errorf("no company propensity write: %+v", f.requests())
	}

	// The known contact's next delivery goes by the remembered id.
	n := len(f.requests())
	again := evaluateForTest(t, env, &Lead{ID: "lead_k", Email: "known@globex.com"}, score.GradeHot, 80, "demo", "")
	clk.Advance(outboxWindow + time.Second)
	if it := waitItem(t, env, d.ID, again, outbox.StatusDelivered); it.RecordID != "501" {
		t.Fatalf("again %+v", it)
	}
	if reqs := f.requests()[n:]; len(reqs) != 1 || len(reqs[0].Updates) != 1 || reqs[0].Updates[0].RecordID != "501" || reqs[0].Updates[0].Email != "" {
		t.Errorf("second delivery %+v, want one write by id 501", reqs)
	}
}

// sfDest saves a Salesforce destination on the fake connector of crmSetup.
func sfDest(t *testing.T, c *Client) *Destination {
	t.Helper()
	conn := "conn_1"
	id, _ := credential.NewID(rand.Reader, "dst_")
	d := &Destination{ID: id, Kind: outbox.KindSalesforce, SendEvaluations: true, ScoreBand: 5}
	if _, err := c.applyDestination(t.Context(), obxOrg, d, DestinationInput{ConnectionID: &conn, Fields: sfFields()}, true); err != nil {
		t.Fatal(err)
	}
	if err := c.saveDestination(t.Context(), obxOrg, d, 0); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestOutboxMultiBatchRound: one round reads the queue once and sends
// every vendor-sized batch of what is due: 450 people go in 3 calls
// (200 + 200 + the last 50 once the window passed), each record once,
// and every outcome is recorded (history, queue empty, state with the
// record id).
func TestOutboxMultiBatchRound(t *testing.T) {
	// Rounds only when nudged, so what one round sends is visible.
	poll := outboxPoll
	outboxPoll = time.Hour
	t.Cleanup(func() { outboxPoll = poll })
	env, c, clk, f := crmSetup(t)
	d := sfDest(t, c)
	const n = 450
	var w []store.Write
	var evs []*Evaluation
	for i := 0; i < n; i++ {
		l := &Lead{ID: fmt.Sprintf("lead_%03d", i), Email: fmt.Sprintf("p%d@globex.com", i),
			Identifiers: []LeadIdentifier{{Kind: "crm_id", Value: fmt.Sprintf("003%012d", i)}}}
		id, _ := credential.NewID(rand.Reader, "ev_")
		ev := &Evaluation{ID: id, LeadID: l.ID, ModelID: "m", Trigger: "test",
			Evaluation: score.Evaluation{Grade: score.GradeWarm, Score: 50, Reasoning: "pricing", EvaluatedAt: env.now()}}
		ew, err := evaluationWrites(obxOrg, l, ev)
		if err != nil {
			t.Fatal(err)
		}
		if ew, err = appendOutbox(t.Context(), env, obxOrg, ev, l, ew); err != nil {
			t.Fatal(err)
		}
		w = append(w, ew...)
		evs = append(evs, ev)
	}
	// One batch: the worker sees none or all of them.
	if _, err := env.Store.SaveBatch(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	// One round: both full batches go; the last 50 wait for the window.
	env.outbox().nudge()
	delivered := func() int {
		k := 0
		for _, it := range items(t, env, d.ID) {
			if it.Status == outbox.StatusDelivered {
				k++
			}
		}
		return k
	}
	for deadline := time.Now().Add(10 * time.Second); delivered() < 400; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d delivered after one round, want 400 (%d calls)", delivered(), len(f.requests()))
		}
	}
	if got := len(f.requests()); got != 2 {
		t.Fatalf("%d calls in the first round, want 2", got)
	}
	clk.Advance(outboxWindow + time.Second)
	env.outbox().nudge()
	for _, ev := range evs {
		waitItem(t, env, d.ID, ev, outbox.StatusDelivered)
	}
	reqs := f.requests()
	var sizes []int
	seen := map[string]int{}
	for _, r := range reqs {
		if r.Object != "Contact" {
			t.Errorf("a %s write", r.Object)
		}
		sizes = append(sizes, len(r.Updates))
		for _, u := range r.Updates {
			seen[u.RecordID]++
		}
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{50, 200, 200}) {
		t.Fatalf("calls carried %v records, want [50 200 200]", sizes)
	}
	for i := 0; i < n; i++ {
		if id := fmt.Sprintf("003%012d", i); seen[id] != 1 {
			t.Errorf("%s written %d times", id, seen[id])
		}
	}
	queued := 0
	if err := env.Store.Scan(t.Context(), keyOutboxBase(obxOrg, d.ID), nil, func(store.Item) error { queued++; return nil }); err != nil {
		t.Fatal(err)
	}
	if queued != 0 {
		t.Errorf("%d items still queued", queued)
	}
	for _, i := range []int{0, 199, 200, 449} {
		var st outbox.State
		if _, err := env.loadJSON(t.Context(), keyOutboxState(obxOrg, d.ID, evs[i].LeadID), &st); err != nil ||
			st.Grade != "warm" || st.RecordID != fmt.Sprintf("003%012d", i) || st.Object != "Contact" {
			t.Errorf("state of %s: %+v %v", evs[i].LeadID, st, err)
		}
	}
}

// TestOutboxIDMemory: a delivery remembers the record it wrote, and later
// deliveries of that person go by id without an email match.
func TestOutboxIDMemory(t *testing.T) {
	tests := []struct {
		name     string
		mem      *outbox.State // the lead's state before the delivery
		crmIDs   []string
		wantReqs []string // per call: Object + " id " + RecordID, or Object + " email " + Email
		wantRec  string   // delivered record
		wantObj  string
	}{
		{name: "never delivered: matched by email", wantReqs: []string{"Contact email conv@globex.com"},
			wantRec: "003000000000001", wantObj: "Contact"},
		{name: "remembered Contact: by id, no email match", mem: &outbox.State{Grade: "cold", RecordID: "003000000000001", Object: "Contact"},
			wantReqs: []string{"Contact id 003000000000001"}, wantRec: "003000000000001", wantObj: "Contact"},
		{name: "remembered Lead: by id", mem: &outbox.State{Grade: "cold", RecordID: "00Q000000000002", Object: "Lead"},
			wantReqs: []string{"Lead id 00Q000000000002"}, wantRec: "00Q000000000002", wantObj: "Lead"},
		{name: "remembered record refused: matched by email again", mem: &outbox.State{Grade: "cold", RecordID: "003deleted00001", Object: "Contact"},
			wantReqs: []string{"Contact id 003deleted00001", "Contact email conv@globex.com"}, wantRec: "003000000000001", wantObj: "Contact"},
		{name: "the person's own Contact id wins", mem: &outbox.State{Grade: "cold", RecordID: "003000000000001", Object: "Contact"},
			crmIDs: []string{"003000000000007"}, wantReqs: []string{"Contact id 003000000000007"}, wantRec: "003000000000007", wantObj: "Contact"},
		{name: "a Lead id written as its Contact before: the Contact", mem: &outbox.State{Grade: "cold", RecordID: "003000000000001", Object: "Contact"},
			crmIDs: []string{"00Q000000000002"}, wantReqs: []string{"Contact id 003000000000001"}, wantRec: "003000000000001", wantObj: "Contact"},
		{name: "a Lead id without memory: the Lead", crmIDs: []string{"00Q000000000002"},
			wantReqs: []string{"Lead id 00Q000000000002"}, wantRec: "00Q000000000002", wantObj: "Lead"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, c, clk, f := crmSetup(t)
			d := sfDest(t, c)
			if tc.mem != nil {
				buf, _ := json.Marshal(tc.mem)
				if _, err := env.Store.Save(t.Context(), keyOutboxState(obxOrg, d.ID, "lead_m"), buf, 0); err != nil {
					t.Fatal(err)
				}
			}
			l := &Lead{ID: "lead_m", Email: "conv@globex.com"}
			for _, id := range tc.crmIDs {
				l.Identifiers = append(l.Identifiers, LeadIdentifier{Kind: "crm_id", Value: id})
			}
			ev := evaluateForTest(t, env, l, score.GradeHot, 85, "demo", "")
			clk.Advance(outboxWindow + time.Second)
			it := waitItem(t, env, d.ID, ev, outbox.StatusDelivered)
			if it.RecordID != tc.wantRec || it.Object != tc.wantObj {
				t.Errorf("delivered to %s %s, want %s %s", it.Object, it.RecordID, tc.wantObj, tc.wantRec)
			}
			var got []string
			for _, r := range f.requests() {
				for _, u := range r.Updates {
					if u.RecordID != "" {
						got = append(got, r.Object+" id "+u.RecordID)
					} else {
						got = append(got, r.Object+" email "+u.Email)
					}
				}
			}
			if !slices.Equal(got, tc.wantReqs) {
				t.Errorf("writes %q, want %q", got, tc.wantReqs)
			}
			var st outbox.State
			if _, err := env.loadJSON(t.Context(), keyOutboxState(obxOrg, d.ID, "lead_m"), &st); err != nil || st.RecordID != tc.wantRec || st.Object != tc.wantObj || st.Grade != "hot" {
				t.Errorf("state %+v %v", st, err)
			}

			// The next delivery of the person goes by the remembered id.
			n := len(f.requests())
			ev2 := evaluateForTest(t, env, l, score.GradeCold, 10, "quiet", "")
			clk.Advance(outboxWindow + time.Second)
			waitItem(t, env, d.ID, ev2, outbox.StatusDelivered)
			reqs := f.requests()[n:]
			if len(reqs) != 1 || len(reqs[0].Updates) != 1 || reqs[0].Updates[0].RecordID != tc.wantRec || reqs[0].Updates[0].Email != "" {
				t.Errorf("second delivery: %+v, want one write by id %s", reqs, tc.wantRec)
			}
		})
	}
}

// TestOutboxFlushConflict: a round's outcomes go in one batch; when an
// item changed meanwhile (e.g. a redrive), the others are still recorded
// and the changed item keeps its new queued state (no history for it).
func TestOutboxFlushConflict(t *testing.T) {
	env, _, _ := outboxEnv(t)
	ctx := t.Context()
	r := &round{w: &outboxWorker{env: env, st: env.outbox()}, d: &Destination{ID: "dst_flush", Kind: outbox.KindSalesforce},
		org: obxOrg, states: map[string]*outbox.State{}}
	k := func(s string) []byte { return []byte("o/" + obxOrg + "/test/" + s) }
	v1, err := env.Store.Save(ctx, k("q1"), []byte("queued"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.Save(ctx, k("q2"), []byte("queued"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.Save(ctx, k("q2"), []byte("redriven"), 1); err != nil { // now version 2
		t.Fatal(err)
	}
	r.add(store.Write{Key: k("h1"), Value: []byte("done"), Expected: store.AnyVersion}, store.Write{Key: k("q1"), Delete: true, Expected: v1})
	r.add(store.Write{Key: k("h2"), Value: []byte("done"), Expected: store.AnyVersion}, store.Write{Key: k("q2"), Delete: true, Expected: 1})
	r.saveState("lead_1", outbox.State{Grade: "hot", RecordID: "003x", Object: "Contact"})
	r.flush(ctx)
	for _, c := range []struct {
		key   string
		value string // "": absent
	}{{"h1", "done"}, {"q1", ""}, {"h2", ""}, {"q2", "redriven"}} {
		b, _, err := env.Store.Load(ctx, k(c.key))
		switch {
		case c.value == "" && !errors.Is(err, store.ErrNotFound):
			t.Errorf("%s: %q %v, want absent", c.key, b, err)
		case c.value != "" && string(b) != c.value:
			t.Errorf("%s: %q %v, want %q", c.key, b, err, c.value)
		}
	}
	var st outbox.State
	if _, err := env.loadJSON(ctx, keyOutboxState(obxOrg, "dst_flush", "lead_1"), &st); err != nil || st.RecordID != "003x" {
		t.Errorf("state %+v %v", st, err)
	}
	if len(r.pending) != 0 {
		t.Errorf("%d groups left pending", len(r.pending))
	}
}

// crmDestination creates and saves a CRM write-back destination of kind
// through conn: evaluations into fields, the account propensity into
// propensity, and new records for hot people the CRM does not know.
func crmDestination(t *testing.T, c *Client, kind, conn, propensity string, fields map[string]outbox.ObjectFields) *Destination {
	t.Helper()
	yes := true
	id, _ := credential.NewID(rand.Reader, "dst_")
	d := &Destination{ID: id, Kind: kind, SendEvaluations: true, ScoreBand: 5}
	if _, err := c.applyDestination(t.Context(), obxOrg, d, DestinationInput{ConnectionID: &conn, Fields: fields,
		PropensityField: &propensity, CreateIfNotFound: &yes, CreateGrades: []string{"hot"}}, true); err != nil {
		t.Fatal(err)
	}
	if err := c.saveDestination(t.Context(), obxOrg, d, 0); err != nil {
		t.Fatal(err)
	}
	return d
}

// saveAccount stores an account record as the account API does.
func saveAccount(t *testing.T, env *Env, acct Account) {
	t.Helper()
	buf, _ := json.Marshal(acct)
	if _, err := env.Store.Save(t.Context(), keyAccount(obxOrg, acct.ID), buf, 0); err != nil {
		t.Fatal(err)
	}
}
