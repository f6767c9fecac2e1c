package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/api/apitest"
	"github.com/trailspark/trailspark/engine/plan"
)

// tinyPlans make limits reachable in a test.
func tinyPlans() []plan.Plan {
	return []plan.Plan{
		{ID: "free", Name: "Free", Limits: plan.Limits{Signals: 6, Models: 1, ActiveLeads: 3, Evaluations: 2, Refinements: 1}, RetentionDays: 30},
		{ID: "pro", Name: "Pro", PriceMonthlyCents: 3_000, PriceYearlyCents: 28_800,
			Limits: plan.Limits{Signals: 8, Models: 2, ActiveLeads: 100, Evaluations: 100, Refinements: 5}, RetentionDays: 90,
			Overages: true, OverageUnitCents: plan.UnitPrices{Signals: 10, Models: 500, ActiveLeads: 1, Evaluations: 2, Refinements: 100}},
	}
}

func meterOf(u actors.UsageView, m plan.Meter) actors.MeterView {
	for _, v := range u.Meters {
		if v.Meter == m {
			return v
		}
	}
	return actors.MeterView{}
}

// waitUsage polls the usage until cond holds.
func (e *tenv) waitUsage(base, token string, cond func(actors.UsageView) bool) actors.UsageView {
	e.t.Helper()
	var u actors.UsageView
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		e.ok(e.do("GET", base+"/usage", token, nil), http.StatusOK, &u)
		if cond(u) {
			return u
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("usage never reached the expected state: %+v", u)
		}
	}
}

// TestUsageAndQuotas is the org admin's path through SPEC §5: meters
// count, limits stop signals (429) and scoring (quota_exceeded) without
// losing accepted signals, upgrades apply at once with a prorated charge,
// overages let usage continue and are charged, downgrades are scheduled
// and cancellable, and periods reset.
func TestUsageAndQuotas(t *testing.T) {
	e := newEnv(t, apitest.Options{Plans: tinyPlans()})
	ann := e.user("ann")
	var o orgView
	e.ok(e.do("POST", "/api/v1/orgs", ann.Token, map[string]any{"name": "Metered", "subdomain": e.sub("m"),
		"size": "11-50", "industry": "Technology"}), http.StatusCreated, &o)
	base := "/api/v1/orgs/" + o.ID
	k := e.key(o.ID, ann.Token, map[string]any{"name": "web"})
	send := func(email, event string) resp {
		return e.do("POST", "/api/signal-staging/webhook/"+k.Key, "", map[string]any{"email": email, "event": event})
	}

	var b actors.BillingView
	e.ok(e.do("GET", base+"/billing", ann.Token, nil), http.StatusOK, &b)
	if b.Plan.ID != "free" || b.Cycle != "monthly" || b.Overages || !b.Period.Start.Equal(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("billing %+v", b)
	}

	// Three people, two signals each: 6 signals, 3 active leads; each
	// person's third… no: evaluations need 3 signals (starter settings),
	// so lower the minimums to get evaluations from 2 signals.
	e.ok(e.do("PUT", base+"/settings", ann.Token, map[string]any{"min_signals": 2, "min_signal_types": 1}), http.StatusOK, nil)
	sendID := func(email, event, id string) resp {
		return e.do("POST", "/api/signal-staging/webhook/"+k.Key, "", map[string]any{"email": email, "event": event, "messageId": id})
	}
	for i := 0; i < 3; i++ {
		for _, ev := range []string{"Form Submitted", "Trial Started"} {
			e.ok(sendID(fmt.Sprintf("p%d@corp.io", i), ev, fmt.Sprintf("m-%d-%s", i, ev)), http.StatusAccepted, nil)
		}
	}
	u := e.waitUsage(base, ann.Token, func(u actors.UsageView) bool { return meterOf(u, plan.MeterSignals).Used == 6 })
	if m := meterOf(u, plan.MeterActiveLeads); m.Used != 3 || m.State != plan.LevelExceeded {
		t.Errorf("active leads %+v: want 3 of 3, exceeded", m)
	}
	// Evaluations stop at the limit of 2; the third lead is not scored but
	// its signals are on it.
	if m := meterOf(u, plan.MeterEvaluations); m.Used != 2 || m.State != plan.LevelExceeded {
		t.Errorf("evaluations %+v: want 2 of 2", m)
	}
	var leads list[actors.Lead]
	e.ok(e.do("GET", base+"/leads", ann.Token, nil), http.StatusOK, &leads)
	unscored := 0
	for _, l := range leads.Items {
		if l.Evaluation == nil {
			unscored++
			if l.MappedCount != 2 {
				t.Errorf("unscored lead lost signals: %+v", l)
			}
		}
	}
	if unscored != 1 {
		t.Errorf("%d leads without an evaluation, want 1 (quota)", unscored)
	}
	// Signals: the limit of 6 is used up; the 7th gets 429 with the reset.
	r := send("p9@corp.io", "Form Submitted")
	e.fails(r, http.StatusTooManyRequests, "signal_quota_exceeded", "")
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 3600 {
		t.Errorf("Retry-After %q: want the time to the period's end", r.Header.Get("Retry-After"))
	}
	// A repeat of a stored signal is still answered as a duplicate (a
	// sender retrying a request whose 202 it missed), not refused; a batch
	// with one new signal among repeats is refused.
	var dup struct {
		ID        uint64 `json:"id"`
		Duplicate bool   `json:"duplicate"`
	}
	e.ok(sendID("p0@corp.io", "Form Submitted", "m-0-Form Submitted"), http.StatusAccepted, &dup)
	if !dup.Duplicate || dup.ID == 0 {
		t.Errorf("a repeat at the limit: %+v, want a duplicate", dup)
	}
	e.fails(e.do("POST", "/api/signal-staging/webhook/"+k.Key+"/batch", "", []map[string]any{
		{"email": "p0@corp.io", "event": "Trial Started", "messageId": "m-0-Trial Started"},
		{"email": "p9@corp.io", "event": "Trial Started", "messageId": "m-9"},
	}), http.StatusTooManyRequests, "signal_quota_exceeded", "")
	// Models: 1 allowed per period.
	def := map[string]any{"intercept": -2}
	e.ok(e.do("POST", base+"/icp-models", ann.Token, map[string]any{"definition": def}), http.StatusCreated, nil)
	e.fails(e.do("POST", base+"/icp-models", ann.Token, map[string]any{"definition": def}), http.StatusForbidden, "quota_exceeded", "")
	e.fails(e.do("PUT", base+"/billing/overages", ann.Token, map[string]any{"enabled": true}), http.StatusConflict, "overages_not_allowed", "overages")

	// Upgrade mid-period: at once, prorated.
	e.n.Clock.Advance(15 * 24 * time.Hour) // Jan 20, in the Jan 5 – Feb 5 period
	e.login(ann)                           // the session expired meanwhile
	var ch actors.ChangePlanResult
	e.ok(e.do("POST", base+"/billing/change-plan", ann.Token, map[string]any{"plan_id": "pro"}), http.StatusOK, &ch)
	// 31-day period, 16 days left: 3000 × 16/31 = 1548.39 → 1548 cents.
	if ch.Kind != "upgrade" || ch.ChargeCents != 1548 || ch.Billing.Plan.ID != "pro" {
		t.Errorf("upgrade %+v", ch)
	}
	e.n.Clock.Advance(3 * time.Second) // past the edge cache
	e.ok(send("p9@corp.io", "Form Submitted"), http.StatusAccepted, nil)
	e.ok(send("p9@corp.io", "Trial Started"), http.StatusAccepted, nil)
	e.n.Clock.Advance(3 * time.Second)
	e.fails(send("p9@corp.io", "Email Opened"), http.StatusTooManyRequests, "signal_quota_exceeded", "")

	// Overages on: usage continues and is charged.
	e.ok(e.do("PUT", base+"/billing/overages", ann.Token, map[string]any{"enabled": true}), http.StatusOK, &b)
	e.n.Clock.Advance(3 * time.Second)
	e.ok(send("p9@corp.io", "Email Opened"), http.StatusAccepted, nil)
	u = e.waitUsage(base, ann.Token, func(u actors.UsageView) bool { return meterOf(u, plan.MeterSignals).Used == 9 })
	// Signals are priced per 1,000 (10 cents): one signal over is charged 0 cents (rounded).
	if m := meterOf(u, plan.MeterSignals); m.Overage != 1 || m.UnitCents != 10 || u.TotalCents != 3_000+u.OverageCents {
		t.Errorf("overage: %+v (total %d, overage %d)", m, u.TotalCents, u.OverageCents)
	}

	// Downgrade: scheduled for the period's end with a warning; cancellable.
	e.ok(e.do("POST", base+"/billing/change-plan", ann.Token, map[string]any{"plan_id": "free"}), http.StatusOK, &ch)
	if ch.Kind != "downgrade_scheduled" || ch.Scheduled == nil || !ch.Effective.Equal(time.Date(2026, 2, 5, 9, 0, 0, 0, time.UTC)) || len(ch.Warnings) == 0 {
		t.Errorf("downgrade %+v", ch)
	}
	e.ok(e.do("POST", base+"/billing/cancel-change", ann.Token, nil), http.StatusOK, &b)
	if b.Scheduled != nil || b.Plan.ID != "pro" {
		t.Errorf("after cancel: %+v", b)
	}
	e.fails(e.do("POST", base+"/billing/cancel-change", ann.Token, nil), http.StatusConflict, "nothing_scheduled", "")
	e.fails(e.do("POST", base+"/billing/change-plan", ann.Token, map[string]any{"plan_id": "gold"}), http.StatusBadRequest, "unknown_plan", "plan")

	// A new period: counters start from zero; the last one is history.
	e.ok(e.do("POST", base+"/billing/change-plan", ann.Token, map[string]any{"plan_id": "free"}), http.StatusOK, &ch)
	e.n.Clock.Set(time.Date(2026, 2, 6, 9, 0, 0, 0, time.UTC))
	e.login(ann)
	e.ok(e.do("GET", base+"/billing", ann.Token, nil), http.StatusOK, &b)
	if b.Plan.ID != "free" || b.Overages || b.Scheduled != nil {
		t.Errorf("after the scheduled downgrade: %+v", b)
	}
	e.ok(e.do("GET", base+"/usage", ann.Token, nil), http.StatusOK, &u)
	if meterOf(u, plan.MeterSignals).Used != 0 || len(u.History) != 1 || u.History[0].Used[plan.MeterSignals] != 9 {
		t.Errorf("new period %+v", u)
	}
	e.ok(send("p1@corp.io", "Form Submitted"), http.StatusAccepted, nil)
	var old actors.UsageView
	e.ok(e.do("GET", base+"/usage?period=2026-01-10", ann.Token, nil), http.StatusOK, &old)
	if old.Current || meterOf(old, plan.MeterSignals).Used != 9 {
		t.Errorf("past period %+v", old)
	}
	e.fails(e.do("GET", base+"/usage?period=soon", ann.Token, nil), http.StatusBadRequest, "invalid_format", "period")

	// Invoices: computed records; the ended period on Pro (base + the
	// prorated upgrade), the current one open on Free.
	var inv list[actors.Invoice]
	e.ok(e.do("GET", base+"/invoices", ann.Token, nil), http.StatusOK, &inv)
	if len(inv.Items) != 2 || inv.Items[0].Status != "open" || inv.Items[0].Plan != "free" || inv.Items[0].TotalCents != 0 {
		t.Fatalf("invoices %+v", inv.Items)
	}
	last := inv.Items[1]
	if last.Status != "final" || last.Plan != "pro" || last.TotalCents != 3_000+1_548 || len(last.Lines) < 2 || last.Lines[1].Kind != "proration" {
		t.Errorf("last period's invoice %+v: want Pro, base 3000 + proration 1548", last)
	}
}

// TestBillingOpenAPI validates the billing and usage operations' responses
// against api/openapi.yaml.
func TestBillingOpenAPI(t *testing.T) {
	doc := loadDoc(t)
	doc.Servers = openapi3.Servers{{URL: "http://trailspark.local"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	n := apitest.Start(t, apitest.Options{Plans: tinyPlans()})
	v := &validator{t: t, router: router, url: n.URL, seen: map[string]bool{}}
	v.must(201, "POST", "/api/v1/auth/register", "", map[string]any{"email": "bea@acme.io", "password": "correct horse", "name": "Bea"})
	tok := v.must(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": "bea@acme.io", "password": "correct horse"})["token"].(string)
	base := "/api/v1/orgs/" + v.must(201, "POST", "/api/v1/orgs", tok, map[string]any{"name": "Acme", "size": "11-50", "industry": "Technology"})["id"].(string)

	v.must(200, "GET", base+"/billing", tok, nil)
	v.must(200, "GET", base+"/usage", tok, nil)
	v.must(200, "GET", base+"/usage?period=2026-01-06", tok, nil)
	v.must(400, "GET", base+"/usage?period=x", tok, nil)
	v.must(409, "PUT", base+"/billing/overages", tok, map[string]any{"enabled": true})
	v.must(400, "PUT", base+"/billing/overages", tok, map[string]any{})
	v.must(200, "POST", base+"/billing/change-plan", tok, map[string]any{"plan_id": "pro"})
	v.must(200, "PUT", base+"/billing/overages", tok, map[string]any{"enabled": true})
	v.must(400, "POST", base+"/billing/change-plan", tok, map[string]any{"plan_id": "nope"})
	v.must(200, "POST", base+"/billing/change-plan", tok, map[string]any{"plan_id": "free"})
	v.must(200, "POST", base+"/billing/cancel-change", tok, nil)
	v.must(409, "POST", base+"/billing/cancel-change", tok, nil)
	v.must(200, "POST", base+"/billing/change-plan", tok, map[string]any{"plan_id": "pro", "cycle": "yearly"})
	v.must(401, "GET", base+"/billing", "", nil)
	v.must(200, "GET", base+"/invoices", tok, nil)

	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if otherWalk(path) == "TestBillingOpenAPI" && !v.seen[method+" "+path] {
				t.Errorf("operation %s %s not exercised by this test", method, path)
			}
		}
	}
}

// TestUsageThresholdWebhook: a meter crossing 80% and 100% of its limit is
// delivered as a signed usage.threshold event to webhook destinations.
func TestUsageThresholdWebhook(t *testing.T) {
	e := newEnv(t, apitest.Options{Plans: tinyPlans()})
	t.Cleanup(e.n.Client.Close) // stop the delivery worker before the node
	ann := e.user("ann")
	var o orgView
	e.ok(e.do("POST", "/api/v1/orgs", ann.Token, map[string]any{"name": "Thresholds", "subdomain": e.sub("t"),
		"size": "11-50", "industry": "Technology", "plan": "pro"}), http.StatusCreated, &o)
	base := "/api/v1/orgs/" + o.ID
	hook := newHookReceiver(t)
	e.ok(e.do("POST", base+"/destinations", ann.Token, map[string]any{"kind": "webhook", "name": "ops", "url": hook.srv.URL + "/hook"}), http.StatusCreated, nil)
	// The pro plan allows 2 models: the first is 50%, the second 100%.
	def := map[string]any{"intercept": -2}
	e.ok(e.do("POST", base+"/icp-models", ann.Token, map[string]any{"definition": def}), http.StatusCreated, nil)
	e.ok(e.do("POST", base+"/icp-models", ann.Token, map[string]any{"definition": def}), http.StatusCreated, nil)
	var events []map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		bodies, sigs := hook.received()
		events = events[:0]
		for i, b := range bodies {
			var ev map[string]any
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatal(err)
			}
			if ev["type"] == "usage.threshold" {
				if sigs[i] == "" {
					t.Errorf("unsigned event %s", b)
				}
				events = append(events, ev)
			}
		}
		if len(events) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threshold events received: %v", events)
		}
	}
	pcts := map[float64]bool{}
	for _, ev := range events {
		d := ev["data"].(map[string]any)
		if d["meter"] != "models" || d["limit"] != 2.0 {
			t.Errorf("event %v", ev)
		}
		pcts[d["percent"].(float64)] = true
	}
	if !pcts[80] || !pcts[100] {
		t.Errorf("percents %v: want 80 and 100", pcts)
	}
}

// /metrics carries the per-organization usage series and the node's view
// of the cluster.
func TestMetricsSeries(t *testing.T) {
	e := newEnv(t)
	ann := e.user("ann")
	o := e.org(ann, "Metered")
	k := e.key(o.ID, ann.Token, map[string]any{"name": "web"})
	e.ok(e.do("POST", "/api/signal-staging/webhook/"+k.Key, "", map[string]any{"email": "m@corp.io", "event": "Viewed"}), http.StatusAccepted, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := string(e.do("GET", "/metrics", "", nil).Body)
		if strings.Contains(m, `trailspark_usage_units_total{meter="signals",org="`+o.ID+`"} 1`) {
			for _, want := range []string{"trailspark_cluster_members 1", "trailspark_node_ready 1", "trailspark_cluster_excluded 0"} {
				if !strings.Contains(m, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no usage series for the org in /metrics")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
