package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trailspark/trailspark/sdk/connector"
)

// Policy is how failed deliveries are retried.
type Policy struct {
	Base        time.Duration // first retry delay (default 5 s)
	Max         time.Duration // cap of one delay (default 1 h)
	MaxAttempts int           // attempts before a retryable failure is parked (default 15, ≈ 9 h)
}

// DefaultPolicy: 5 s doubling to 1 h, parked after 15 attempts.
var DefaultPolicy = Policy{Base: 5 * time.Second, Max: time.Hour, MaxAttempts: 15}

func (p Policy) withDefaults() Policy {
	if p.Base <= 0 {
		p.Base = DefaultPolicy.Base
	}
	if p.Max <= 0 {
		p.Max = DefaultPolicy.Max
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultPolicy.MaxAttempts
	}
	return p
}

// Backoff is the delay before retry number attempt (1-based): exponential
// from Base, capped at Max, with "equal jitter" — half fixed, half uniform
// from rnd (a value in [0,1)) — so failures of many items spread out but a
// retry never comes sooner than half the nominal delay.
func (p Policy) Backoff(attempt int, rnd float64) time.Duration {
	p = p.withDefaults()
	if attempt < 1 {
		attempt = 1
	}
	d := p.Base
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if rnd < 0 || rnd >= 1 {
		rnd = 0
	}
	half := d / 2
	return half + time.Duration(rnd*float64(d-half))
}

// Outcome is what to do with an item after a failed attempt.
type Outcome struct {
	Park  bool          // permanent (or out of attempts): stop until a redrive
	Delay time.Duration // when retrying: wait this long
	Kind  string        // the connector error kind, for the delivery record
	// RetryAfter: the delay is what the vendor asked for.
	RetryAfter bool
	// Disable: the receiver is gone (a webhook's 410): the destination is
	// disabled and the item waits, due, until it is re-enabled.
	Disable bool
}

// ErrGone marks a webhook receiver's 410 Gone (errors.Is): the receiver
// says the endpoint is gone for good, so the destination is disabled
// rather than the one delivery parked.
var ErrGone = errors.New("the receiver is gone (410)")

// goneError is a not-found connector error that also is ErrGone.
type goneError struct{ e *connector.Error }

func (g goneError) Error() string        { return g.e.Error() }
func (g goneError) Unwrap() error        { return g.e }
func (g goneError) Is(target error) bool { return target == ErrGone }

// Decide classifies err for an item that has now failed attempts times.
// ErrGone disables the destination; permanent, not-found, unauthorized, invalid-config and unsupported errors
// are parked at once; retryable and rate-limited ones wait (the vendor's
// Retry-After when it gave one, else the backoff) until MaxAttempts.
func (p Policy) Decide(err error, attempts int, rnd float64) Outcome {
	p = p.withDefaults()
	kind := connector.KindOf(err)
	o := Outcome{Kind: kind.String()}
	if errors.Is(err, ErrGone) {
		o.Disable = true
		return o
	}
	if kind == connector.KindUnknown && errors.Is(err, context.DeadlineExceeded) {
		o.Kind = connector.KindRetryable.String()
	}
	if !connector.IsRetryable(err) && !errors.Is(err, context.DeadlineExceeded) {
		o.Park = true
		return o
	}
	if attempts >= p.MaxAttempts {
		o.Park = true
		return o
	}
	if ra, ok := connector.RetryAfter(err); ok {
		o.Delay, o.RetryAfter = min(ra, 24*time.Hour), true
		return o
	}
	o.Delay = p.Backoff(attempts, rnd)
	return o
}

// ParseRetryAfter reads an HTTP Retry-After header: delay-seconds or an
// HTTP date (relative to now). ok is false when absent or unreadable.
func ParseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, 86400)) * time.Second, true
	}
	if t, err := time.Parse(time.RFC1123, h); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return min(d, 24*time.Hour), true
	}
	return 0, false
}

// HTTPError classifies a webhook receiver's answer: nil for 2xx; 429 is
// rate-limited (Retry-After honoured); 408, 425 and 5xx are retryable (a
// 503 with Retry-After waits that long); 401 and 403 are unauthorized; 404
// is not-found, 410 too and is also ErrGone (the destination is disabled);
// any other status is permanent. Redirects are not
// followed and count as permanent (the URL is wrong).
func HTTPError(status int, retryAfter string, body string, now time.Time) error {
	if status >= 200 && status < 300 {
		return nil
	}
	msg := fmt.Sprintf("receiver answered %d", status)
	if b := strings.TrimSpace(body); b != "" {
		if len(b) > 300 {
			b = b[:300] + "…"
		}
		msg += ": " + b
	}
	ra, hasRA := ParseRetryAfter(retryAfter, now)
	switch {
	case status == 429:
		return connector.RateLimited(ra, "%s", msg)
	case status == 408 || status == 425 || status >= 500:
		e := connector.Retryable("%s", msg)
		if hasRA {
			e.RetryAfter = ra
		}
		return e
	case status == 401 || status == 403:
		return connector.Unauthorized("%s", msg)
	case status == 410:
		return goneError{connector.NotFound("%s", msg)}
	case status == 404:
		return connector.NotFound("%s", msg)
	}
	return connector.Permanent("%s", msg)
}
