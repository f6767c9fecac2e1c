package api_test

import (
	"encoding/json"
	"fmt"
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

	// 429 with Retry-After: 120 s on the test clock; then a 404 parks,
	// and a redrive delivers. (A 410 disables the whole destination:
	// TestWebhookGoneDisablesDestination.)
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
	a.script("", 404)
	e.n.Clock.Advance(61 * time.Second)
	parked := e.waitDelivery(base, ann.Token, da.ID, cy.Evaluation.ID, "parked")
	if parked.ErrorKind != "not_found" || !strings.Contains(parked.Error, "404") {
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

// webhookOrg makes an organization with the starter rules and model (so
// signals evaluate), an ingestion key and a webhook destination to url.
func webhookOrg(e *tenv, u *user, url string) (base, key string, d actors.DestinationView) {
	e.t.Helper()
	var o orgView
	e.ok(e.do("POST", "/api/v1/orgs", u.Token, map[string]any{"name": "Hooks", "subdomain": e.sub("hooks"),
		"size": "11-50", "industry": "Technology", "plan": "scale"}), http.StatusCreated, &o)
	base = "/api/v1/orgs/" + o.ID
	key = e.key(o.ID, u.Token, map[string]any{"name": "web"}).Key
	e.ok(e.do("POST", base+"/destinations", u.Token, map[string]any{"kind": "webhook", "name": "hook", "url": url}), http.StatusCreated, &d)
	return base, key, d
}

// receipt is one evaluation a receiver accepted (answered 2xx).
type receipt struct {
	id, lead, eval string
	evaluatedAt    time.Time
}

// flakyReceiver answers every POST with its current status and records
// what it accepted.
type flakyReceiver struct {
	mu       sync.Mutex
	status   int
	posts    int
	accepted []receipt
	srv      *httptest.Server
}

func newFlakyReceiver(t *testing.T, status int) *flakyReceiver {
	f := &flakyReceiver{status: status}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.posts++
		if f.status < 300 {
			var ev outbox.WebhookEvent
			var x actors.Evaluation
			if json.Unmarshal(b, &ev) == nil && ev.Type == outbox.EventEvaluation && json.Unmarshal(ev.Evaluation, &x) == nil {
				if ev.ID != r.Header.Get("TrailSpark-Delivery") {
					t.Errorf("body id %s, header %s", ev.ID, r.Header.Get("TrailSpark-Delivery"))
				}
				f.accepted = append(f.accepted, receipt{id: ev.ID, lead: ev.Lead.ID, eval: x.ID, evaluatedAt: x.EvaluatedAt})
			}
		}
		w.WriteHeader(f.status)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *flakyReceiver) set(status int) {
	f.mu.Lock()
	f.status = status
	f.mu.Unlock()
}

func (f *flakyReceiver) counts() (posts int, accepted []receipt) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts, append([]receipt(nil), f.accepted...)
}

// deliveries lists all of a destination's deliveries.
func (e *tenv) deliveries(base, token, dest string) []actors.Delivery {
	e.t.Helper()
	var out []actors.Delivery
	after := ""
	for {
		var l list[actors.Delivery]
		e.ok(e.do("GET", base+"/destinations/"+dest+"/deliveries?limit=200&cursor="+after, token, nil), http.StatusOK, &l)
		out = append(out, l.Items...)
		if l.NextCursor == "" {
			return out
		}
		after = l.NextCursor
	}
}

// waitQueueEmpty waits until a destination has nothing queued.
func (e *tenv) waitQueueEmpty(base, token, dest string) []actors.Delivery {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds := e.deliveries(base, token, dest)
		queued := 0
		for _, d := range ds {
			if outbox.Queued(d.Status) {
				queued++
			}
		}
		if queued == 0 {
			return ds
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d deliveries still queued: %+v", queued, ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitNewEvaluation waits until the lead with email has an evaluation
// other than prev.
func (e *tenv) waitNewEvaluation(org, token, email, prev string) actors.Lead {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := e.waitEvaluated(org, token, email)
		if l.Evaluation.ID != prev {
			return l
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("lead %s: no evaluation after %s", email, prev)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// TestWebhookVendorDownThenBack: the receiver answers 503 for a while
// (retries back off), evaluations of the same and of different leads pile
// up, then it recovers. Every evaluation then has a final delivery record;
// each one delivered reached the receiver exactly once (by delivery id);
// a lead's evaluations reach the receiver in evaluation order. The
// guarantee: the newest evaluation of every lead is delivered (or skipped
// as unchanged); an older one still queued when a newer one of the same
// lead is queued is skipped as superseded, never sent after the newer.
func TestWebhookVendorDownThenBack(t *testing.T) {
	e := newEnv(t)
	t.Cleanup(e.n.Client.Close)
	ann := e.user("ann")
	rcv := newFlakyReceiver(t, 200)
	base, key, d := webhookOrg(e, ann, rcv.srv.URL+"/hook")
	org := strings.TrimPrefix(base, "/api/v1/orgs/")
	n := 0
	signal := func(email string, body map[string]any) {
		n++
		body["email"], body["messageId"] = email, fmt.Sprintf("m%d", n)
		e.ok(e.do("POST", "/api/signal-staging/webhook/"+key, "", body), http.StatusAccepted, nil)
	}
	pricing, form := map[string]any{"type": "page", "name": "Pricing"}, map[string]any{"event": "Form Submitted"}
	seed := func(email string, bodies ...map[string]any) { // three signals evaluate a lead
		for _, b := range bodies {
			c := map[string]any{}
			for k, v := range b {
				c[k] = v
			}
			signal(email, c)
		}
	}
	tick := func() { e.n.Clock.Advance(time.Second) } // distinct evaluation times

	// Healthy: a and b get their first delivery.
	seed("a@globex.com", pricing, pricing, form)
	seed("b@initech.com", pricing, form, map[string]any{"event": "Demo Requested"})
	a := e.waitEvaluated(org, ann.Token, "a@globex.com")
	b := e.waitEvaluated(org, ann.Token, "b@initech.com")
	e.waitQueueEmpty(base, ann.Token, d.ID)
	if _, acc := rcv.counts(); len(acc) != 2 {
		t.Fatalf("before the outage the receiver accepted %d, want 2", len(acc))
	}

	// Down: new evaluations of a (its reasons change), b, c and d, with
	// retries failing in between.
	rcv.set(503)
	tick()
	signal("a@globex.com", map[string]any{"event": "Demo Requested"})
	a = e.waitNewEvaluation(org, ann.Token, "a@globex.com", a.Evaluation.ID)
	tick()
	seed("c@umbrella.com", pricing, form, form)
	c := e.waitEvaluated(org, ann.Token, "c@umbrella.com")
	for round := 0; round < 4; round++ {
		for _, id := range []string{a.ID, b.ID, c.ID} {
			tick()
			e.ok(e.do("POST", base+"/leads/"+id+"/evaluate", ann.Token, nil), http.StatusCreated, nil)
		}
		if round == 1 {
			tick()
			seed("d@hooli.com", pricing, pricing, form)
			e.waitEvaluated(org, ann.Token, "d@hooli.com")
		}
		// Let the worker fail some attempts, then move the clock so more
		// fall due (backoff 5 s doubling, with jitter).
		deadline := time.Now().Add(5 * time.Second)
		for {
			if posts, _ := rcv.counts(); posts > 2+round || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		e.n.Clock.Advance(7 * time.Second)
	}
	posts, acc := rcv.counts()
	if len(acc) != 2 || posts <= 3 {
		t.Fatalf("during the outage: %d posts, %d accepted", posts, len(acc))
	}

	// Back: every retry falls due within the longest backoff so far.
	rcv.set(200)
	e.n.Clock.Advance(2 * time.Hour)
	e.login(ann)
	ds := e.waitQueueEmpty(base, ann.Token, d.ID)
	time.Sleep(300 * time.Millisecond) // nothing more arrives
	_, acc = rcv.counts()

	byEval := map[string]actors.Delivery{}
	for _, x := range ds {
		if x.Status == outbox.StatusParked || x.Status == outbox.StatusFailed {
			t.Errorf("delivery %s ended %s: %s", x.Seq, x.Status, x.Error)
		}
		byEval[x.EvaluationID] = x
	}
	seen := map[string]int{}
	for _, r := range acc {
		seen[r.id]++
	}
	delivered := 0
	for _, x := range ds {
		if x.Status == outbox.StatusDelivered {
			delivered++
			if seen[x.Seq] != 1 {
				t.Errorf("delivery %s (%s) reached the receiver %d times", x.Seq, x.EvaluationID, seen[x.Seq])
			}
		}
	}
	if delivered != len(acc) {
		t.Errorf("%d deliveries delivered, the receiver accepted %d", delivered, len(acc))
	}
	// Per lead: accepted in evaluation order.
	last := map[string]receipt{}
	perLead := map[string]int{}
	for _, r := range acc {
		if p, ok := last[r.lead]; ok && !r.evaluatedAt.After(p.evaluatedAt) {
			t.Errorf("lead %s: evaluation %s (%v) accepted after %s (%v)", r.lead, r.eval, r.evaluatedAt, p.eval, p.evaluatedAt)
		}
		last[r.lead] = r
		perLead[r.lead]++
	}
	if perLead[a.ID] != 2 {
		t.Errorf("lead a: %d accepted, want its first and its newest (changed) evaluation", perLead[a.ID])
	}
	// Every evaluation has its final record; the newest of each lead is
	// never superseded.
	var evs list[actors.Evaluation]
	e.ok(e.do("GET", base+"/evaluations?limit=200", ann.Token, nil), http.StatusOK, &evs)
	newest := map[string]actors.Evaluation{}
	superseded := 0
	for _, ev := range evs.Items {
		x, ok := byEval[ev.ID]
		if !ok {
			t.Errorf("evaluation %s has no delivery", ev.ID)
			continue
		}
		if strings.Contains(x.Note, "superseded") {
			superseded++
		}
		if n, ok := newest[ev.LeadID]; !ok || ev.EvaluatedAt.After(n.EvaluatedAt) {
			newest[ev.LeadID] = ev
		}
	}
	for lead, ev := range newest {
		x := byEval[ev.ID]
		if x.Status != outbox.StatusDelivered && x.Status != outbox.StatusSkipped || strings.Contains(x.Note, "superseded") {
			t.Errorf("lead %s: newest evaluation %s ended %s (%s)", lead, ev.ID, x.Status, x.Note)
		}
	}
	if len(newest) != 4 || superseded == 0 || len(evs.Items) < 16 {
		t.Errorf("%d leads, %d evaluations, %d superseded", len(newest), len(evs.Items), superseded)
	}
}

// TestWebhookGoneDisablesDestination: a receiver's 410 disables the
// destination (status, reason and time on GET); nothing is sent while it
// is disabled, evaluations still queue; PATCH status active sends them.
func TestWebhookGoneDisablesDestination(t *testing.T) {
	e := newEnv(t)
	t.Cleanup(e.n.Client.Close)
	ann := e.user("ann")
	rcv := newFlakyReceiver(t, 410)
	base, key, d := webhookOrg(e, ann, rcv.srv.URL+"/hook")
	org := strings.TrimPrefix(base, "/api/v1/orgs/")
	if d.Status != "active" || d.DisabledAt != nil {
		t.Fatalf("new destination %+v", d)
	}
	three := func(email string) {
		for i, b := range []map[string]any{{"type": "page", "name": "Pricing"}, {"event": "Form Submitted"}, {"event": "Demo Requested"}} {
			b["email"], b["messageId"] = email, fmt.Sprint(email, i)
			e.ok(e.do("POST", "/api/signal-staging/webhook/"+key, "", b), http.StatusAccepted, nil)
		}
	}
	three("x@globex.com")
	x := e.waitEvaluated(org, ann.Token, "x@globex.com")
	failed := e.waitDelivery(base, ann.Token, d.ID, x.Evaluation.ID, "failed")
	if failed.ErrorKind != "not_found" || !strings.Contains(failed.Error, "410") || !strings.Contains(failed.Note, "disabled") {
		t.Fatalf("the 410'd delivery %+v", failed)
	}
	var got actors.DestinationView
	deadline := time.Now().Add(5 * time.Second)
	for got.Status != "disabled" && time.Now().Before(deadline) {
		e.ok(e.do("GET", base+"/destinations/"+d.ID, ann.Token, nil), http.StatusOK, &got)
	}
	if got.Status != "disabled" || !strings.Contains(got.DisabledReason, "410") || got.DisabledAt == nil || !got.DisabledAt.Equal(e.n.Clock.Now()) {
		t.Fatalf("after a 410: %+v", got)
	}

	// Disabled: a new evaluation queues, nothing is sent, even when due.
	rcv.set(200)
	e.n.Clock.Advance(time.Second)
	three("y@initech.com")
	y := e.waitEvaluated(org, ann.Token, "y@initech.com")
	e.waitDelivery(base, ann.Token, d.ID, y.Evaluation.ID, "pending")
	e.n.Clock.Advance(time.Hour)
	time.Sleep(600 * time.Millisecond)
	if posts, _ := rcv.counts(); posts != 1 {
		t.Fatalf("a disabled destination was sent %d posts", posts)
	}
	e.fails(e.do("PATCH", base+"/destinations/"+d.ID, ann.Token, map[string]any{"status": "paused"}), 400, "invalid_value", "status")

	// Re-enabled: the queue goes.
	got = actors.DestinationView{}
	e.ok(e.do("PATCH", base+"/destinations/"+d.ID, ann.Token, map[string]any{"status": "active"}), http.StatusOK, &got)
	if got.Status != "active" || got.DisabledReason != "" || got.DisabledAt != nil {
		t.Fatalf("re-enabled %+v", got)
	}
	e.waitDelivery(base, ann.Token, d.ID, x.Evaluation.ID, "delivered")
	e.waitDelivery(base, ann.Token, d.ID, y.Evaluation.ID, "delivered")
	if posts, acc := rcv.counts(); posts != 3 || len(acc) != 2 {
		t.Fatalf("after re-enabling: %d posts, %d accepted", posts, len(acc))
	}
	// An administrator may disable too.
	got = actors.DestinationView{}
	e.ok(e.do("PATCH", base+"/destinations/"+d.ID, ann.Token, map[string]any{"status": "disabled"}), http.StatusOK, &got)
	if got.Status != "disabled" || got.DisabledReason == "" {
		t.Fatalf("disabled by PATCH %+v", got)
	}
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
