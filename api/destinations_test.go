package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/api/apitest"
	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/outbox"
)

// sharedDestinations holds the role matrix's shared destination per fixture.
var sharedDestinations sync.Map // *roleFixture → id

func sharedDestination(e *tenv, u *roleUsers, f *roleFixture) string {
	if id, ok := sharedDestinations.Load(f); ok {
		return id.(string)
	}
	id := freshDestination(e, u, f)
	sharedDestinations.Store(f, id)
	return id
}

func freshDestination(e *tenv, u *roleUsers, f *roleFixture) string {
	var d actors.DestinationView
	e.ok(e.do("POST", "/api/v1/orgs/"+f.org.ID+"/destinations", u.owner.Token,
		map[string]any{"kind": "webhook", "url": "http://127.0.0.1:9/matrix"}), http.StatusCreated, &d)
	return d.ID
}

// hookReceiver is a webhook receiver answering a script of statuses.
type hookReceiver struct {
	mu     sync.Mutex
	codes  []int
	ra     string
	bodies [][]byte
	sigs   []string
	srv    *httptest.Server
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.sigs = append(h.sigs, r.Header.Get("TrailSpark-Signature"))
		code := 200
		if len(h.codes) > 0 {
			code, h.codes = h.codes[0], h.codes[1:]
		}
		ra := h.ra
		h.mu.Unlock()
		if ra != "" && code == 429 {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) script(ra string, codes ...int) {
	h.mu.Lock()
	h.codes, h.ra = codes, ra
	h.mu.Unlock()
}

func (h *hookReceiver) received() ([][]byte, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...), append([]string(nil), h.sigs...)
}

// waitDelivery polls a destination's deliveries until the evaluation's one
// has status.
func (e *tenv) waitDelivery(base, token, dest, evID, status string) actors.Delivery {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var l list[actors.Delivery]
	for time.Now().Before(deadline) {
		e.ok(e.do("GET", base+"/destinations/"+dest+"/deliveries?limit=200", token, nil), http.StatusOK, &l)
		for _, d := range l.Items {
			if d.EvaluationID == evID && d.Status == status {
				return d
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	e.t.Fatalf("delivery of %s to %s never %s: %+v", evID, dest, status, l.Items)
	return actors.Delivery{}
}

// TestWebhookDestinationsEndToEnd: signals in → an evaluation → every
// active webhook destination receives the signed body; failures retry
// with backoff, 429 waits for Retry-After, a gone receiver is parked and
// redriven; an unchanged re-evaluation is not sent; every evaluation has
// its outbox entries (they are written with it).
func TestWebhookDestinationsEndToEnd(t *testing.T) {
	e := newEnv(t)
	t.Cleanup(e.n.Client.Close) // stop the delivery worker before the node
	ann := e.user("ann")
	var o orgView // with the starter rules and model: signals evaluate
	e.ok(e.do("POST", "/api/v1/orgs", ann.Token, map[string]any{"name": "Hooks", "subdomain": e.sub("hooks"),
		"size": "11-50", "industry": "Technology", "plan": "scale"}), http.StatusCreated, &o)
	base := "/api/v1/orgs/" + o.ID
	k := e.key(o.ID, ann.Token, map[string]any{"name": "web"})
	var acct actors.Account
	e.ok(e.do("POST", base+"/accounts", ann.Token, map[string]any{"name": "Globex", "domain": "globex.com", "industry": "Software", "employees": 500}),
		http.StatusCreated, &acct)

	a, b := newHookReceiver(t), newHookReceiver(t)
	var da, db actors.DestinationView
	e.ok(e.do("POST", base+"/destinations", ann.Token, map[string]any{"kind": "webhook", "name": "A", "url": a.srv.URL + "/hook"}), http.StatusCreated, &da)
	e.ok(e.do("POST", base+"/destinations", ann.Token, map[string]any{"kind": "webhook", "name": "B", "url": b.srv.URL + "/hook"}), http.StatusCreated, &db)
	if !strings.HasPrefix(da.Secret, "whsec_") || da.SecretHint == "" {
		t.Fatalf("created destination %+v: want its whsec_ secret once", da)
	}
	var got actors.DestinationView
	e.ok(e.do("GET", base+"/destinations/"+da.ID, ann.Token, nil), http.StatusOK, &got)
	if got.Secret != "" || got.URL != a.srv.URL+"/hook" {
		t.Fatalf("read destination %+v: the secret must not be shown again", got)
	}
	e.fails(e.do("POST", base+"/destinations", ann.Token, map[string]any{"kind": "webhook", "url": "ftp://x"}), 400, "invalid_format", "url")
	e.fails(e.do("POST", base+"/destinations", ann.Token, map[string]any{"kind": "webhook", "url": "http://x", "secret": "nope"}), 400, "invalid_format", "secret")
	e.fails(e.do("POST", base+"/destinations", ann.Token, map[string]any{"kind": "pigeon"}), 400, "invalid_value", "kind")

	// A fails once (500) then takes it; B takes it at once.
	a.script("", 500)
	for _, body := range []map[string]any{
		{"email": "bob@globex.com", "type": "page", "name": "Pricing"},
		{"email": "bob@globex.com", "event": "Form Submitted"},
		{"email": "bob@globex.com", "event": "Demo Requested"},
	} {
		e.ok(e.do("POST", "/api/signal-staging/webhook/"+k.Key, "", body), http.StatusAccepted, nil)
	}
	lead := e.waitEvaluated(o.ID, ann.Token, "bob@globex.com")
	evID := lead.Evaluation.ID
	e.waitDelivery(base, ann.Token, db.ID, evID, "delivered")
	failed := e.waitDelivery(base, ann.Token, da.ID, evID, "failed")
	if failed.Attempts != 1 || failed.ErrorKind != "retryable" || !strings.Contains(failed.Error, "500") {
		t.Fatalf("failed delivery %+v", failed)
	}
	e.n.Clock.Advance(10 * time.Second)
	e.waitDelivery(base, ann.Token, da.ID, evID, "delivered")

	bodies, sigs := a.received()
	if len(bodies) != 2 {
		t.Fatalf("A received %d posts, want 2 (a failure and a retry)", len(bodies))
	}
	if err := credential.VerifySignature(da.Secret, sigs[1], bodies[1], e.n.Clock.Now(), 0); err != nil {
		t.Fatalf("signature %q: %v", sigs[1], err)
	}
	var ev outbox.WebhookEvent
	if err := json.Unmarshal(bodies[1], &ev); err != nil {
		t.Fatal(err)
	}
	var evBody actors.Evaluation
	_ = json.Unmarshal(ev.Evaluation, &evBody)
	if ev.Type != "evaluation.created" || ev.Lead.ID != lead.ID || ev.Lead.Email != "bob@globex.com" || ev.Account == nil ||
		ev.Account.ID != acct.ID || ev.Account.Propensity == "" || evBody.ID != evID || len(evBody.Contributions) == 0 || evBody.Reasoning == "" {
		t.Fatalf("webhook body %s", bodies[1])
	}
	if bb, _ := b.received(); len(bb) != 1 {
		t.Fatalf("B received %d posts", len(bb))
	}

	// Change-only: evaluate now gives the same grade and reasoning: skipped.
	var again actors.Evaluation
	e.ok(e.do("POST", base+"/leads/"+lead.ID+"/evaluate", ann.Token, nil), http.StatusCreated, &again)
	skip := e.waitDelivery(base, ann.Token, da.ID, again.ID, "skipped_unchanged")
	e.waitDelivery(base, ann.Token, db.ID, again.ID, "skipped_unchanged")
	if bb, _ := a.received(); len(bb) != 2 || skip.Note == "" {
		t.Fatalf("unchanged evaluation sent (%d posts) %+v", len(bb), skip)
	}

	// 429 with Retry-After: 120 s on the test clock; then a 410 parks,
	// and a redrive delivers.
	a.script("120", 429)
	e.ok(e.do("POST", "/api/signal-staging/webhook/"+k.Key, "", map[string]any{"email": "cy@globex.com", "event": "Demo Requested"}), http.StatusAccepted, nil)
	for _, body := range []map[string]any{{"email": "cy@globex.com", "type": "page", "name": "Pricing"}, {"email": "cy@globex.com", "event": "Form Submitted"}} {
		e.ok(e.do("POST", "/api/signal-staging/webhook/"+k.Key, "", body), http.StatusAccepted, nil)
	}
	cy := e.waitEvaluated(o.ID, ann.Token, "cy@globex.com")
	rl := e.waitDelivery(base, ann.Token, da.ID, cy.Evaluation.ID, "failed")
	if rl.ErrorKind != "rate_limited" || !rl.NextAttemptAt.Equal(e.n.Clock.Now().Add(120*time.Second)) {
		t.Fatalf("rate-limited delivery %+v (now %v)", rl, e.n.Clock.Now())
	}
	e.n.Clock.Advance(60 * time.Second)
	time.Sleep(600 * time.Millisecond)
	if bb, _ := a.received(); len(bb) != 3 {
		t.Fatalf("retried before Retry-After: %d posts", len(bb))
	}
	a.script("", 410)
	e.n.Clock.Advance(61 * time.Second)
	parked := e.waitDelivery(base, ann.Token, da.ID, cy.Evaluation.ID, "parked")
	if parked.ErrorKind != "not_found" || !strings.Contains(parked.Error, "410") {
		t.Fatalf("parked %+v", parked)
	}
	var pl list[actors.Delivery]
	e.ok(e.do("GET", base+"/destinations/"+da.ID+"/deliveries?status=parked", ann.Token, nil), http.StatusOK, &pl)
	if len(pl.Items) != 1 || pl.Items[0].Status != "parked" {
		t.Fatalf("status filter: %+v", pl.Items)
	}
	var rd actors.RedriveResult
	e.ok(e.do("POST", base+"/destinations/"+da.ID+"/redrive", ann.Token, nil), http.StatusOK, &rd)
	if rd.Requeued != 1 {
		t.Fatalf("redrive %+v", rd)
	}
	e.waitDelivery(base, ann.Token, da.ID, cy.Evaluation.ID, "delivered")

	// Crash safety: every evaluation has an outbox entry per destination,
	// written in the same batch (so none can exist without them).
	var evs list[actors.Evaluation]
	e.ok(e.do("GET", base+"/evaluations?limit=200", ann.Token, nil), http.StatusOK, &evs)
	for _, dest := range []string{da.ID, db.ID} {
		var dl list[actors.Delivery]
		e.ok(e.do("GET", base+"/destinations/"+dest+"/deliveries?limit=200", ann.Token, nil), http.StatusOK, &dl)
		have := map[string]bool{}
		for _, d := range dl.Items {
			have[d.EvaluationID] = true
		}
		for _, x := range evs.Items {
			if !have[x.ID] {
				t.Errorf("evaluation %s has no delivery to %s", x.ID, dest)
			}
		}
	}
	if len(evs.Items) < 3 {
		t.Fatalf("evaluations %d", len(evs.Items))
	}

	// Paused: nothing enqueued; metrics show deliveries and lag.
	e.ok(e.do("PATCH", base+"/destinations/"+db.ID, ann.Token, map[string]any{"send_evaluations": false}), http.StatusOK, &got)
	if got.SendEvaluations {
		t.Fatal("pause did not stick")
	}
	r := e.do("GET", "/metrics", "", nil)
	for _, m := range []string{`trailspark_deliveries_total{kind="webhook",status="delivered"}`, `trailspark_deliveries_total{kind="webhook",status="parked"}`,
		"trailspark_delivery_lag_seconds{", "trailspark_deliveries_queued{"} {
		if !strings.Contains(string(r.Body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	e.ok(e.do("DELETE", base+"/destinations/"+db.ID, ann.Token, nil), http.StatusNoContent, nil)
	e.fails(e.do("GET", base+"/destinations/"+db.ID, ann.Token, nil), 404, "destination_not_found", "")
}

// TestDestinationsOpenAPI validates every destinations operation against
// the OpenAPI document.
func TestDestinationsOpenAPI(t *testing.T) {
	doc := loadDoc(t)
	doc.Servers = openapi3.Servers{{URL: "http://trailspark.local"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	n := apitest.Start(t)
	t.Cleanup(n.Client.Close)
	v := &validator{t: t, router: router, url: n.URL, seen: map[string]bool{}}
	v.must(201, "POST", "/api/v1/auth/register", "", map[string]any{"email": "dee@acme.io", "password": "correct horse", "name": "Dee"})
	tok := v.must(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": "dee@acme.io", "password": "correct horse"})["token"].(string)
	base := "/api/v1/orgs/" + v.must(201, "POST", "/api/v1/orgs", tok, map[string]any{"name": "Acme", "size": "11-50", "industry": "Technology"})["id"].(string)

	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(410) }))
	defer rcv.Close()
	d := v.must(201, "POST", base+"/destinations", tok, map[string]any{"kind": "webhook", "name": "hook", "url": rcv.URL, "score_band": 3})
	id := d["id"].(string)
	v.must(400, "POST", base+"/destinations", tok, map[string]any{"kind": "salesforce", "connection_id": "conn_x"})
	v.must(400, "POST", base+"/destinations", tok, map[string]any{"kind": "webhook", "url": rcv.URL, "connection_id": "conn_x"})
	v.must(200, "GET", base+"/destinations", tok, nil)
	v.must(200, "GET", base+"/destinations/"+id, tok, nil)
	v.must(404, "GET", base+"/destinations/dst_nope", tok, nil)
	v.must(200, "PATCH", base+"/destinations/"+id, tok, map[string]any{"rotate_secret": true, "daily_budget": 100})
	v.must(400, "PATCH", base+"/destinations/"+id, tok, map[string]any{"kind": "hubspot"})
	v.must(200, "GET", base+"/destinations/suggest-fields?provider=salesforce", tok, nil)
	v.must(200, "GET", base+"/destinations/suggest-fields?provider=hubspot", tok, nil)
	v.must(200, "GET", base+"/destinations/suggest-fields", tok, nil)
	v.must(200, "GET", base+"/destinations/"+id+"/deliveries?status=parked", tok, nil)
	v.must(200, "GET", base+"/destinations/"+id+"/deliveries", tok, nil)
	v.must(404, "GET", base+"/destinations/dst_nope/deliveries", tok, nil)
	v.must(200, "POST", base+"/destinations/"+id+"/redrive", tok, nil)
	v.must(401, "GET", base+"/destinations", "", nil)
	v.must(204, "DELETE", base+"/destinations/"+id, tok, nil)
	v.must(404, "DELETE", base+"/destinations/"+id, tok, nil)

	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if otherWalk(path) == "TestDestinationsOpenAPI" && !v.seen[method+" "+path] {
				t.Errorf("operation %s %s not exercised by this test", method, path)
			}
		}
	}
}
