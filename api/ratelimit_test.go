package api

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/trailspark/trailspark/engine/clocktest"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/errs"
)

// Unit tests of the ingestion limiter on a fake clock; they start no node
// (safe under -race). The limits through a real node are in jobs_test.go
// (TestIngestRateLimit*).

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// refused asserts err is a rate-limit refusal of the named limit with the
// given Retry-After.
func refused(t *testing.T, err error, what string, retryAfter int) {
	t.Helper()
	var rl *rateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("got %v, want a rate-limit refusal", err)
	}
	e := errs.As(err)
	if e.Kind != errs.KindRateLimited || e.Code != "rate_limited" {
		t.Errorf("kind %s code %s, want rate_limited", e.Kind, e.Code)
	}
	if !strings.Contains(e.Message, what) {
		t.Errorf("message %q does not name %q", e.Message, what)
	}
	if got := rl.retryAfterSeconds(); got != retryAfter {
		t.Errorf("Retry-After %d, want %d (wait %s)", got, retryAfter, rl.wait)
	}
}

func TestRateLimiterPerKey(t *testing.T) {
	l := newIngestLimiter(IngestLimits{KeyRate: 10, KeyBurst: 20})
	if l.org != nil {
		t.Fatal("a zero organization rate must mean no organization limit")
	}
	// A full bucket takes the burst at once, then nothing.
	if err := l.admit(t0, "key_a", "org_a", 20); err != nil {
		t.Fatalf("burst refused: %v", err)
	}
	err := l.admit(t0, "key_a", "org_a", 1)
	refused(t, err, "this API key", 1) // 0.1 s away: rounded up to 1 s
	if msg := errs.As(err).Message; !strings.Contains(msg, "10 signals/s (burst 20)") {
		t.Errorf("message %q does not give the rate", msg)
	}
	// Another key has its own bucket.
	if err := l.admit(t0, "key_b", "org_a", 20); err != nil {
		t.Fatalf("key_b: %v", err)
	}
	// A refusal charges nothing: 100 ms later exactly one token is back.
	if err := l.admit(t0.Add(100*time.Millisecond), "key_a", "org_a", 1); err != nil {
		t.Fatalf("after 100 ms: %v", err)
	}
	refused(t, l.admit(t0.Add(100*time.Millisecond), "key_a", "org_a", 1), "this API key", 1)
	// Retry-After is how long until the whole request fits, rounded up.
	refused(t, l.admit(t0.Add(100*time.Millisecond), "key_a", "org_a", 15), "this API key", 2) // 1.5 s
	if err := l.admit(t0.Add(1600*time.Millisecond), "key_a", "org_a", 15); err != nil {
		t.Fatalf("after the announced wait: %v", err)
	}
}

func TestRateLimiterPerOrg(t *testing.T) {
	l := newIngestLimiter(IngestLimits{KeyRate: 100, KeyBurst: 100, OrgRate: 5, OrgBurst: 10})
	if err := l.admit(t0, "key_a", "org_a", 6); err != nil {
		t.Fatal(err)
	}
	if err := l.admit(t0, "key_b", "org_a", 4); err != nil {
		t.Fatal(err)
	}
	err := l.admit(t0, "key_b", "org_a", 3)
	refused(t, err, "this organization", 1) // 3 tokens at 5/s: 0.6 s
	if msg := errs.As(err).Message; !strings.Contains(msg, "5 signals/s (burst 10)") {
		t.Errorf("message %q does not give the organization's rate", msg)
	}
	// The refused request gave back what it took from key_b's bucket.
	if got := l.key.get("key_b").TokensAt(t0); got != 96 {
		t.Errorf("key_b has %v tokens, want 96", got)
	}
	// Another organization is not affected.
	if err := l.admit(t0, "key_c", "org_b", 10); err != nil {
		t.Fatal(err)
	}
	// When both limits are exceeded the key's is named.
	l2 := newIngestLimiter(IngestLimits{KeyRate: 1, KeyBurst: 1, OrgRate: 1, OrgBurst: 1})
	_ = l2.admit(t0, "k", "o", 1)
	refused(t, l2.admit(t0, "k", "o", 1), "this API key", 1)
	if err := l.admit(t0.Add(600*time.Millisecond), "key_b", "org_a", 3); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

func TestRateLimiterUnlimitedAndDefaults(t *testing.T) {
	l := newIngestLimiter(IngestLimits{})
	for i := 0; i < 1000; i++ {
		if err := l.admit(t0, "k", "o", 10000); err != nil {
			t.Fatal(err)
		}
	}
	// A zero burst means one second of rate.
	l = newIngestLimiter(IngestLimits{KeyRate: 7})
	if l.key.burst != 7 {
		t.Errorf("burst %d, want 7", l.key.burst)
	}
	l = newIngestLimiter(IngestLimits{OrgRate: 0.5})
	if l.org.burst != 1 {
		t.Errorf("burst %d, want 1", l.org.burst)
	}
}

// A charge above the burst needs a full bucket instead of never passing.
func TestRateLimiterChargeAboveBurst(t *testing.T) {
	l := newIngestLimiter(IngestLimits{KeyRate: 10, KeyBurst: 50})
	if err := l.admit(t0, "k", "o", 500); err != nil {
		t.Fatalf("a full bucket refused a large batch: %v", err)
	}
	refused(t, l.admit(t0, "k", "o", 500), "this API key", 5) // refill 50 tokens at 10/s
	if err := l.admit(t0.Add(5*time.Second), "k", "o", 500); err != nil {
		t.Fatal(err)
	}
}

func TestRateLimiterBoundedLRU(t *testing.T) {
	l := newIngestLimiter(IngestLimits{KeyRate: 1, KeyBurst: 1, OrgRate: 1000, OrgBurst: 1000, MaxTracked: 3})
	for _, k := range []string{"k1", "k2", "k3"} {
		if err := l.admit(t0, k, "o", 1); err != nil {
			t.Fatal(err)
		}
	}
	refused(t, l.admit(t0, "k1", "o", 1), "this API key", 1) // k1 is now the most recent
	for _, k := range []string{"k4", "k5"} {                 // evict k2 and k3
		if err := l.admit(t0, k, "o", 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.key.len(); n != 3 {
		t.Fatalf("%d key buckets kept, want 3", n)
	}
	refused(t, l.admit(t0, "k1", "o", 1), "this API key", 1) // k1 survived: still empty
	// An evicted bucket comes back full.
	if err := l.admit(t0, "k2", "o", 1); err != nil {
		t.Fatalf("evicted key: %v", err)
	}
	if n := l.key.len(); n != 3 {
		t.Fatalf("%d key buckets kept, want 3", n)
	}
}

// Concurrent requests on one key at one instant admit exactly the burst.
func TestRateLimiterConcurrent(t *testing.T) {
	l := newIngestLimiter(IngestLimits{KeyRate: 1, KeyBurst: 100, OrgRate: 1, OrgBurst: 150, MaxTracked: 8})
	var ok, refusedN atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				key := "key_a"
				if g%2 == 1 {
					key = "key_b"
				}
				if l.admit(t0, key, "org", 1) == nil {
					ok.Add(1)
				} else {
					refusedN.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	// key_a and key_b could take 100 each, the organization only 150.
	if ok.Load() != 150 || refusedN.Load() != 250 {
		t.Fatalf("%d admitted, %d refused; want 150 and 250", ok.Load(), refusedN.Load())
	}
}

// failRateLimited answers 429 with Retry-After and the standard body.
func TestRateLimiterAnswer(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	l := newIngestLimiter(IngestLimits{OrgRate: 2, OrgBurst: 2})
	_ = l.admit(t0, "k", "o", 2)
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	failRateLimited(c, l.admit(t0, "k", "o", 2))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("status %d, Retry-After %q; want 429 and 1", w.Code, w.Header().Get("Retry-After"))
	}
	var body errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != "rate_limited" ||
		!strings.Contains(body.Error.Message, "organization") {
		t.Fatalf("body %s (%v)", w.Body.String(), err)
	}
}

// A bulk chunk waits on the server's clock for its tokens instead of being
// refused, and gives them back when the request goes away.
func TestRateLimiterBulkWaits(t *testing.T) {
	clk := clocktest.New(t0)
	s := &Server{now: clk.Now, limits: newIngestLimiter(IngestLimits{KeyRate: 100, KeyBurst: 100})}
	id := &actors.KeyIdentity{OrgID: "org_a", KeyID: "key_a"}
	ctx := context.Background()
	if err := s.waitIngest(ctx, id, 100); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.waitIngest(ctx, id, 50) }() // 0.5 s of tokens
	select {
	case err := <-done:
		t.Fatalf("returned before the clock moved: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	clk.Advance(400 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("returned 100 ms early: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	clk.Advance(100 * time.Millisecond)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still waiting after the clock passed the reservation")
	}
	// Webhooks meanwhile see the debt: the bucket is empty at t0+0.5s.
	refused(t, s.limits.admit(clk.Now(), "key_a", "org_a", 1), "this API key", 1)

	// Cancelling a wait returns its tokens.
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- s.waitIngest(cctx, id, 100) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; errs.As(err).Kind != errs.KindUnavailable {
		t.Fatalf("cancelled wait: %v", err)
	}
	if got := s.limits.key.get("key_a").TokensAt(clk.Now()); got < -0.001 || got > 0.001 {
		t.Errorf("after the cancelled wait the bucket has %v tokens, want 0", got)
	}
}
