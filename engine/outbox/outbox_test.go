package outbox

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/sdk/connector"
)

func TestChanged(t *testing.T) {
	base := &State{Grade: "warm", Score: 50, Reasoning: "demo requested", Propensity: "Medium"}
	cases := []struct {
		name string
		last *State
		next State
		band int
		want bool
		why  string
	}{
		{"first", nil, State{Grade: "cold"}, 5, true, "first delivery"},
		{"same", base, *base, 5, false, "nothing"},
		{"score within band", base, State{Grade: "warm", Score: 54, Reasoning: "demo requested"}, 5, false, "nothing"},
		{"score at band edge", base, State{Grade: "warm", Score: 45, Reasoning: "demo requested"}, 5, false, "nothing"},
		{"score past band", base, State{Grade: "warm", Score: 56, Reasoning: "demo requested"}, 5, true, "score"},
		{"score band zero", base, State{Grade: "warm", Score: 51, Reasoning: "demo requested"}, 0, true, "score"},
		{"grade", base, State{Grade: "hot", Score: 50, Reasoning: "demo requested"}, 5, true, "grade"},
		{"reasoning", base, State{Grade: "warm", Score: 50, Reasoning: "pricing page"}, 5, true, "reasoning"},
		{"reasoning whitespace", base, State{Grade: "warm", Score: 50, Reasoning: " demo requested\n"}, 5, false, "nothing"},
		{"reasoning points drift", &State{Grade: "hot", Score: 82, Reasoning: "Hot (score 82): demo requested today (+2.0); pricing page viewed today (+0.8)."},
			State{Grade: "hot", Score: 81, Reasoning: "Hot (score 81): demo requested today (+2.0); pricing page viewed today (+0.7)."}, 5, false, "nothing"},
		{"reasoning recency", &State{Grade: "hot", Score: 82, Reasoning: "Hot (score 82): demo requested today (+2.0)."},
			State{Grade: "hot", Score: 82, Reasoning: "Hot (score 82): demo requested 2 days ago (+1.1)."}, 5, true, "reasoning"},
		{"propensity", base, State{Grade: "warm", Score: 50, Reasoning: "demo requested", Propensity: "High"}, 5, true, "propensity"},
		{"no propensity known", base, State{Grade: "warm", Score: 50, Reasoning: "demo requested"}, 5, false, "nothing"},
	}
	for _, c := range cases {
		got, why := Changed(c.last, c.next, c.band)
		if got != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%s: Changed = %v %q, want %v %q", c.name, got, why, c.want, c.why)
		}
	}
}

func TestBatchesAndReady(t *testing.T) {
	items := make([]int, 450)
	b := Batches(items, BatchLimit(KindSalesforce))
	if len(b) != 3 || len(b[0]) != 200 || len(b[2]) != 50 {
		t.Fatalf("salesforce batches: %d", len(b))
	}
	if b := Batches(items, BatchLimit(KindHubSpot)); len(b) != 5 || len(b[4]) != 50 {
		t.Fatalf("hubspot batches: %d", len(b))
	}
	if BatchLimit(KindWebhook) != 1 {
		t.Fatal("webhook batch")
	}
	now := time.Unix(1000, 0)
	cases := []struct {
		n, limit int
		oldest   time.Time
		want     bool
	}{
		{0, 200, now.Add(-time.Hour), false},
		{200, 200, now, true},
		{10, 200, now.Add(-time.Second), false},
		{10, 200, now.Add(-2 * time.Second), true},
	}
	for _, c := range cases {
		if got := Ready(c.n, c.limit, c.oldest, now, DefaultWindow); got != c.want {
			t.Errorf("Ready(%d,%d,%v) = %v", c.n, c.limit, now.Sub(c.oldest), got)
		}
	}
	kept, sup := Coalesce([]string{"a1", "b1", "a2", "c1", "b2"}, func(s string) string { return s[:1] })
	if strings.Join(kept, ",") != "a2,c1,b2" || strings.Join(sup, ",") != "a1,b1" {
		t.Fatalf("coalesce %v %v", kept, sup)
	}
}

func TestBackoff(t *testing.T) {
	p := Policy{Base: time.Second, Max: 10 * time.Second, MaxAttempts: 5}
	cases := []struct {
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{1, 0, 500 * time.Millisecond},
		{1, 0.999999, time.Second - time.Microsecond},
		{2, 0, time.Second},
		{3, 0.5, 3 * time.Second},
		{4, 0, 4 * time.Second},
		{5, 0, 5 * time.Second}, // capped at 10 s
		{50, 0.5, 7500 * time.Millisecond},
		{0, 0, 500 * time.Millisecond},
	}
	for _, c := range cases {
		got := p.Backoff(c.attempt, c.rnd)
		if d := got - c.want; d > time.Millisecond || d < -time.Millisecond {
			t.Errorf("Backoff(%d, %v) = %v, want %v", c.attempt, c.rnd, got, c.want)
		}
	}
}

func TestDecide(t *testing.T) {
	p := Policy{Base: time.Second, Max: time.Minute, MaxAttempts: 3}
	cases := []struct {
		name     string
		err      error
		attempts int
		park     bool
		delay    time.Duration
		kind     string
	}{
		{"retryable", connector.Retryable("503"), 1, false, 500 * time.Millisecond, "retryable"},
		{"untyped", errors.New("connection reset"), 2, false, time.Second, "unknown"},
		{"rate limited with retry-after", connector.RateLimited(30*time.Second, "429"), 1, false, 30 * time.Second, "rate_limited"},
		{"rate limited no retry-after", connector.RateLimited(0, "429"), 1, false, 500 * time.Millisecond, "rate_limited"},
		{"permanent", connector.Permanent("bad field"), 1, true, 0, "permanent"},
		{"deleted record", connector.NotFound("entity is deleted"), 1, true, 0, "not_found"},
		{"unauthorized", connector.Unauthorized("token revoked"), 1, true, 0, "unauthorized"},
		{"out of attempts", connector.Retryable("503"), 3, true, 0, "retryable"},
	}
	for _, c := range cases {
		o := p.Decide(c.err, c.attempts, 0)
		if o.Park != c.park || o.Delay != c.delay || o.Kind != c.kind {
			t.Errorf("%s: %+v", c.name, o)
		}
	}
}

func TestHTTPError(t *testing.T) {
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		status int
		ra     string
		kind   connector.ErrorKind
		after  time.Duration
	}{
		{200, "", connector.KindUnknown, 0},
		{204, "", connector.KindUnknown, 0},
		{429, "17", connector.KindRateLimited, 17 * time.Second},
		{429, now.Add(time.Minute).Format(time.RFC1123), connector.KindRateLimited, time.Minute},
		{429, "soon", connector.KindRateLimited, 0},
		{500, "", connector.KindRetryable, 0},
		{503, "9", connector.KindRetryable, 9 * time.Second},
		{408, "", connector.KindRetryable, 0},
		{401, "", connector.KindUnauthorized, 0},
		{410, "", connector.KindNotFound, 0},
		{404, "", connector.KindNotFound, 0},
		{400, "", connector.KindPermanent, 0},
		{301, "", connector.KindPermanent, 0},
	}
	for _, c := range cases {
		err := HTTPError(c.status, c.ra, "nope", now)
		if c.status < 300 {
			if err != nil {
				t.Errorf("%d: %v", c.status, err)
			}
			continue
		}
		if connector.KindOf(err) != c.kind {
			t.Errorf("%d: kind %v", c.status, connector.KindOf(err))
		}
		if ra, _ := connector.RetryAfter(err); ra != c.after {
			t.Errorf("%d: retry after %v, want %v", c.status, ra, c.after)
		}
		if !strings.Contains(err.Error(), "nope") {
			t.Errorf("%d: body not in %v", c.status, err)
		}
		if gone := errors.Is(err, ErrGone); gone != (c.status == 410) {
			t.Errorf("%d: gone %v", c.status, gone)
		}
	}
}

// TestGoneDisables: a 410 disables the destination (whatever the attempt
// count); a 404 parks the one delivery.
func TestGoneDisables(t *testing.T) {
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	for _, attempts := range []int{1, 20} {
		o := DefaultPolicy.Decide(HTTPError(410, "", "gone", now), attempts, 0.5)
		if !o.Disable || o.Park || o.Delay != 0 || o.Kind != "not_found" {
			t.Errorf("410 after %d attempts: %+v", attempts, o)
		}
	}
	if o := DefaultPolicy.Decide(HTTPError(404, "", "missing", now), 1, 0.5); o.Disable || !o.Park {
		t.Errorf("404: %+v", o)
	}
	var ce *connector.Error
	if err := HTTPError(410, "", "gone", now); !errors.As(err, &ce) || ce.Message != "receiver answered 410: gone" {
		t.Errorf("410 error %v", err)
	}
}

func TestBudget(t *testing.T) {
	now := time.Date(2026, 1, 5, 23, 0, 0, 0, time.UTC)
	b := Budget{Allowance: 100}
	b.Roll(now)
	if ok, _ := b.Allow(1, false); !ok {
		t.Fatal("fresh budget refused")
	}
	b.Spend(89)
	if b.Low() {
		t.Fatal("11% left is not low")
	}
	b.Spend(2)
	if !b.Low() {
		t.Fatal("9% left is low")
	}
	if ok, why := b.Allow(1, false); ok || !strings.Contains(why, "low") {
		t.Fatalf("low budget let a normal change through: %q", why)
	}
	if ok, _ := b.Allow(1, true); !ok {
		t.Fatal("low budget refused a hot change")
	}
	b.Spend(9)
	if ok, why := b.Allow(1, true); ok || !strings.Contains(why, "used up") {
		t.Fatalf("exhausted budget: %q", why)
	}
	b.Roll(now.Add(2 * time.Hour))
	if b.Used != 0 || b.Day != "2026-01-06" {
		t.Fatalf("roll: %+v", b)
	}
	if got := NextDay(now); !got.Equal(time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("next day %v", got)
	}
	if ok, _ := (Budget{}).Allow(1000, false); !ok {
		t.Fatal("unlimited budget refused")
	}
	if !HighPriority(nil, State{Grade: "hot"}) || HighPriority(nil, State{Grade: "warm"}) ||
		!HighPriority(&State{Grade: "hot"}, State{Grade: "cold"}) || HighPriority(&State{Grade: "warm"}, State{Grade: "cold"}) {
		t.Fatal("high priority")
	}
}

func TestWebhookBodyAndSignature(t *testing.T) {
	secret, err := NewSecret(rand.Reader)
	if err != nil || !ValidSecret(secret) {
		t.Fatalf("secret %q %v", secret, err)
	}
	for _, bad := range []string{"", "whsec_short", "sk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "whsec_aaaaaaaaaaaaaaaaaaaaaaaa\n"} {
		if ValidSecret(bad) {
			t.Errorf("ValidSecret(%q)", bad)
		}
	}
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	body, err := WebhookEvent{ID: "dlv_1", CreatedAt: at, Organization: "org_1", Destination: "dst_1",
		Lead:       WebhookLead{ID: "lead_1", Email: "a@b.co"},
		Account:    &WebhookAccount{ID: "acct_1", Propensity: "high_propensity"},
		Evaluation: json.RawMessage(`{"id":"ev_1","grade":"hot","contributions":[{"feature":"demo"}],"reasoning":"r"}`)}.Body()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got["type"] != EventEvaluation || got["lead"].(map[string]any)["id"] != "lead_1" ||
		got["evaluation"].(map[string]any)["grade"] != "hot" || got["account"].(map[string]any)["propensity"] != "high_propensity" {
		t.Fatalf("body %s", body)
	}
	sig := Sign(secret, at, body)
	if !strings.HasPrefix(sig, "t=1767603600,v1=") {
		t.Fatalf("sig %s", sig)
	}
	if err := credential.VerifySignature(secret, sig, body, at.Add(time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	if err := credential.VerifySignature(secret, sig, append(body, ' '), at, 0); err == nil {
		t.Fatal("tampered body verified")
	}
	noAcct, _ := WebhookEvent{ID: "x"}.Body()
	if !strings.Contains(string(noAcct), `"account":null`) || !strings.Contains(string(noAcct), `"evaluation":null`) {
		t.Fatalf("%s", noAcct)
	}
}

func TestFieldsAndMetadata(t *testing.T) {
	md := connector.Metadata{Objects: []connector.Object{{Name: "Lead", Fields: []connector.Field{
		{Name: "Email", Type: connector.FieldEmail, Writable: true},
		{Name: "LastName", Type: connector.FieldString, Writable: true, Required: true},
		{Name: "Company", Type: connector.FieldString, Writable: true, Required: true},
		{Name: "TrailSpark_Score__c", Type: connector.FieldNumber, Writable: true},
		{Name: "TrailSpark_Grade__c", Type: connector.FieldPicklist, Writable: true, Picklist: []connector.PicklistValue{{Value: "hot"}, {Value: "warm"}}},
		{Name: "TrailSpark_Formula__c", Type: connector.FieldNumber},
		{Name: "TrailSpark_Evaluation_Date__c", Type: connector.FieldDate, Writable: true},
		{Name: "IsConverted", Type: connector.FieldBoolean, Writable: true},
	}}}}
	cases := []struct {
		object, purpose, field string
		err                    string
	}{
		{"Lead", PurposeScore, "TrailSpark_Score__c", ""},
		{"Lead", PurposeEvaluationDate, "TrailSpark_Evaluation_Date__c", ""},
		{"Lead", PurposeScore, "TrailSpark_Missing__c", "has no field"},
		{"Lead", PurposeScore, "TrailSpark_Formula__c", "not writable"},
		{"Lead", PurposeGrade, "TrailSpark_Grade__c", `without the value "cold"`},
		{"Lead", PurposeReasoning, "IsConverted", "boolean field"},
		{"Contact", PurposeScore, "TrailSpark_Score__c", "no Contact object"},
	}
	for _, c := range cases {
		_, err := CheckField(md, c.object, c.purpose, c.field)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s.%s (%s): %v, want %q", c.object, c.field, c.purpose, err, c.err)
		}
	}
	miss := RequiredMissing(md, "Lead", map[string]any{"Email": "x", "LastName": "y"})
	if strings.Join(miss, ",") != "Company" {
		t.Fatalf("missing %v", miss)
	}
	f := ObjectFields{Score: "S", Grade: "G", Reasoning: "R", EvaluationDate: "D", DateOnly: true}
	at := time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)
	v := f.Values(State{Grade: "hot", Score: 81, Reasoning: strings.Repeat("x", MaxReasoning+10)}, at)
	if v["S"] != 81 || v["G"] != "hot" || len(v["R"].(string)) != MaxReasoning || v["D"] != "2026-01-05" {
		t.Fatalf("values %v", v["D"])
	}
	f.DateOnly = false
	if v := f.Values(State{}, at); v["D"] != "2026-01-05T09:30:00Z" {
		t.Fatalf("datetime %v", v["D"])
	}
	if (ObjectFields{}).Empty() != true || len(f.ByPurpose()) != 4 {
		t.Fatal("empty/by purpose")
	}
	if PropensityLabel("high_propensity") != "High" {
		t.Fatal("label")
	}
	for _, p := range []string{KindSalesforce, KindHubSpot} {
		s, text, err := Suggest(p)
		if err != nil || len(s) == 0 || text == "" {
			t.Fatalf("%s: %v", p, err)
		}
	}
	sf, _, _ := Suggest(KindSalesforce)
	names := map[string]bool{}
	for _, s := range sf {
		names[s.Name] = true
	}
	for _, n := range []string{"TrailSpark_Score__c", "TrailSpark_Evaluation_Date__c", "TrailSpark_Reasoning__c", "TrailSpark_Propensity__c"} {
		if !names[n] {
			t.Errorf("suggestion %s missing", n)
		}
	}
	if _, _, err := Suggest("airtable"); err == nil {
		t.Fatal("unknown provider")
	}
}
