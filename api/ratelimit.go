package api

import (
	dlist "container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/errs"
)

// Ingestion rate limits (SPEC §2.1: 429 with Retry-After).
//
// Every signal-staging endpoint charges two token buckets once its key is
// authenticated: the API key's and the organization's. Both count SIGNALS:
//   - a single-signal webhook costs 1 (so for single calls the limit is a
//     request rate);
//   - a batch costs its number of items, once it has parsed (a batch refused
//     as malformed costs nothing; rejected and duplicate items do count);
//   - a bulk import costs each chunk of up to 500 signals, just before the
//     chunk is appended.
//
// A webhook or batch over either limit is refused whole and charges nothing:
// 429, code rate_limited, a message naming the limit (API key or
// organization) and its rate, and Retry-After in whole seconds (≥ 1) until
// the request would fit. A bulk import is never refused for its rate: it is
// throttled instead — each chunk waits for its tokens (reading of the body
// pauses, which slows the sender down) — because a historical import would
// otherwise fail part-way as soon as it outran the limit. Its waits use the
// tokens of the same buckets, so a running import slows (and can 429) the
// webhooks of the same key and organization.
//
// A charge larger than a bucket's burst is capped at the burst: such a batch
// passes when the bucket is full rather than never.
//
// The buckets are per node (reference/stack.md §6): a cluster of N nodes
// admits up to N times the rate, so set the rates to the quota divided by N.
// They live in bounded LRU maps (IngestLimits.MaxTracked per kind, default
// 10,000), so memory stays bounded however many keys and organizations
// send; a bucket evicted after a quiet spell comes back full.

// IngestLimits configures the ingestion rate limits. A zero rate is
// unlimited; a zero burst with a non-zero rate means a burst of one second
// of rate.
type IngestLimits struct {
	// KeyRate is signals per second per API key; KeyBurst the bucket size.
	KeyRate  float64
	KeyBurst int
	// OrgRate is signals per second per organization; OrgBurst the bucket size.
	OrgRate  float64
	OrgBurst int
	// MaxTracked bounds the buckets kept per kind (0 = 10,000).
	MaxTracked int
}

const defaultMaxTrackedLimiters = 10000

// ingestLimiter holds the per-key and per-organization buckets.
type ingestLimiter struct {
	key, org *limiterSet // nil: unlimited
}

func newIngestLimiter(l IngestLimits) *ingestLimiter {
	n := l.MaxTracked
	if n <= 0 {
		n = defaultMaxTrackedLimiters
	}
	return &ingestLimiter{
		key: newLimiterSet("this API key", l.KeyRate, l.KeyBurst, n),
		org: newLimiterSet("this organization", l.OrgRate, l.OrgBurst, n),
	}
}

// rateLimitError is a refusal (a KindRateLimited *errs.Error) with the wait
// after which the request would fit.
type rateLimitError struct {
	err  *errs.Error
	wait time.Duration
}

func (e *rateLimitError) Error() string { return e.err.Error() }
func (e *rateLimitError) Unwrap() error { return e.err }

// retryAfterSeconds is the Retry-After value: whole seconds, rounded up, ≥ 1.
func (e *rateLimitError) retryAfterSeconds() int {
	return max(1, int(math.Ceil(e.wait.Seconds())))
}

// charge is what a reserve took from the buckets.
type charge struct {
	rs   []*rate.Reservation
	wait time.Duration // until the tokens are there (0: now)
}

// cancel gives the tokens back (as far as later reservations allow).
func (c charge) cancel(now time.Time) {
	for _, r := range c.rs {
		r.CancelAt(now)
	}
}

// reserve charges n signals to the key's and the organization's buckets at
// now. When either could only serve them after more than maxWait, nothing is
// charged and the error names that limit.
func (l *ingestLimiter) reserve(now time.Time, keyID, org string, n int, maxWait time.Duration) (charge, error) {
	var ch charge
	for _, b := range []struct {
		set *limiterSet
		id  string
	}{{l.key, keyID}, {l.org, org}} {
		if b.set == nil {
			continue
		}
		r := b.set.get(b.id).ReserveN(now, min(n, b.set.burst))
		d := r.DelayFrom(now)
		if d > maxWait {
			r.CancelAt(now)
			ch.cancel(now)
			return charge{}, b.set.refusal(d)
		}
		ch.rs = append(ch.rs, r)
		ch.wait = max(ch.wait, d)
	}
	return ch, nil
}

// admit charges n signals now or refuses them (webhooks and batches).
func (l *ingestLimiter) admit(now time.Time, keyID, org string, n int) error {
	_, err := l.reserve(now, keyID, org, n, 0)
	return err
}

// limiterSet is one kind of bucket (per key or per organization) in a
// bounded LRU map.
type limiterSet struct {
	what  string // "this API key", "this organization"
	limit rate.Limit
	burst int
	max   int

	mu    sync.Mutex
	ll    *dlist.List // front: most recently used
	items map[string]*dlist.Element
}

type limiterEntry struct {
	id  string
	lim *rate.Limiter
}

func newLimiterSet(what string, r float64, burst, maxTracked int) *limiterSet {
	if r <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(1, int(math.Ceil(r)))
	}
	return &limiterSet{what: what, limit: rate.Limit(r), burst: burst, max: maxTracked, ll: dlist.New(), items: map[string]*dlist.Element{}}
}

// get returns id's bucket, creating it (full) when absent and evicting the
// least recently used one beyond max.
func (s *limiterSet) get(id string) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.items[id]; ok {
		s.ll.MoveToFront(e)
		return e.Value.(*limiterEntry).lim
	}
	lim := rate.NewLimiter(s.limit, s.burst)
	s.items[id] = s.ll.PushFront(&limiterEntry{id: id, lim: lim})
	for s.ll.Len() > s.max {
		last := s.ll.Back()
		s.ll.Remove(last)
		delete(s.items, last.Value.(*limiterEntry).id)
	}
	return lim
}

// len is how many buckets are kept (for tests).
func (s *limiterSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ll.Len()
}

func (s *limiterSet) refusal(wait time.Duration) *rateLimitError {
	e := &rateLimitError{err: &errs.Error{Kind: errs.KindRateLimited, Code: "rate_limited"}, wait: wait}
	e.err.Message = fmt.Sprintf("the ingestion rate limit of %s is reached: %s signals/s (burst %d); retry after %d s",
		s.what, strconv.FormatFloat(float64(s.limit), 'f', -1, 64), s.burst, e.retryAfterSeconds())
	return e
}

// admitIngest charges n signals to the key and its organization; over a
// limit it answers 429 with Retry-After and returns false.
func (s *Server) admitIngest(c *gin.Context, id *actors.KeyIdentity, n int) bool {
	if err := s.limits.admit(s.now(), id.KeyID, id.OrgID, n); err != nil {
		failRateLimited(c, err)
		return false
	}
	return true
}

// failRateLimited is fail plus the Retry-After of a rate-limit refusal.
func failRateLimited(c *gin.Context, err error) {
	var rl *rateLimitError
	if errors.As(err, &rl) {
		c.Header("Retry-After", strconv.Itoa(rl.retryAfterSeconds()))
	}
	fail(c, err)
}

// waitIngest charges n signals of a bulk import, waiting (on the server's
// clock, which tests set) until the buckets have them. Cancelling ctx gives
// the tokens back.
func (s *Server) waitIngest(ctx context.Context, id *actors.KeyIdentity, n int) error {
	now := s.now()
	ch, err := s.limits.reserve(now, id.KeyID, id.OrgID, n, time.Duration(math.MaxInt64))
	if err != nil {
		return err
	}
	until := now.Add(ch.wait)
	for {
		left := until.Sub(s.now())
		if left <= 0 {
			return nil
		}
		// Re-read the clock at least every 100 ms: an injected clock may
		// jump ahead.
		t := time.NewTimer(min(left, 100*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			ch.cancel(s.now())
			return errs.Unavailable("the import was cancelled while it waited for the rate limit", ctx.Err())
		case <-t.C:
		}
	}
}
