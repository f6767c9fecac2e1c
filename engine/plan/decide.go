package plan

import (
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

// Error codes of quota refusals.
const (
	CodeSignalQuotaExceeded = "signal_quota_exceeded" // Kind rate_limited: HTTP 429 with Retry-After
	CodeQuotaExceeded       = "quota_exceeded"        // Kind forbidden: HTTP 403
)

// Decision is the answer to "may n more units of a meter be used now?".
type Decision struct {
	Allowed bool
	// Overage is how many of the n units fall beyond the limit (allowed
	// only with overages on); the caller counts them as overage.
	Overage int64
	// RetryAt is when the period resets (the usage period's end); set only
	// when refused.
	RetryAt time.Time
	// Err says why it was refused; nil when allowed. Signals get
	// rate_limited/signal_quota_exceeded (429: retry at RetryAt); the other
	// meters get forbidden/quota_exceeded (403: the feature is blocked until
	// the reset or a plan change, so retrying the same request is pointless
	// — not conflict, since nothing about the request itself clashes).
	Err *errs.Error
}

// AsError returns Err as an error, a true nil when allowed: return this, not
// Err, from a function whose result type is error (typed-nil trap).
func (d Decision) AsError() error {
	if d.Err == nil {
		return nil
	}
	return d.Err
}

// Decide decides whether n more units of meter may be used at now under
// plan, given the period's usage so far. Pass plan.WithOverages(org toggle).
//
//   - Unlimited (limit 0): allowed.
//   - Fits (used+n ≤ limit): allowed.
//   - Would go beyond the limit with overages on: allowed, Overage = the
//     units of n beyond the limit.
//   - Would go beyond the limit with overages off: refused whole, even if
//     part of n would fit (a batch is accepted or refused as one; callers
//     that want to accept part split it with the limit and usage in hand).
//   - n ≤ 0 asks "is the meter open?": allowed unless already at the limit
//     with overages off.
//
// If now is at or after usage.Period.End the usage belongs to a period that
// has ended: counts are taken as 0 (the reset has happened even if the
// grain has not rolled the counters yet); a refusal then (only a batch
// larger than the whole limit) has a zero RetryAt. A batch larger than the
// limit with overages off is never allowed: split it.
func Decide(p Plan, u Usage, meter Meter, n int64, now time.Time) Decision {
	limit := p.Limits.Get(meter)
	if limit <= 0 {
		return Decision{Allowed: true}
	}
	used, reset := u.Get(meter), u.Period.End
	if !reset.IsZero() && !now.Before(reset) {
		used, reset = 0, time.Time{}
	}
	after := satAdd(used, max(n, 0))
	if n <= 0 {
		if used < limit || p.Overages {
			return Decision{Allowed: true}
		}
	} else if after <= limit {
		return Decision{Allowed: true}
	} else if p.Overages {
		return Decision{Allowed: true, Overage: after - max(used, limit)}
	}
	return Decision{RetryAt: reset, Err: refusal(meter, limit, used, n, reset)}
}

// refusal says why n more units of m do not fit: the quota is used up, or
// (a batch of signals) what is left is less than n, so a smaller batch
// would fit.
func refusal(m Meter, limit, used, n int64, reset time.Time) *errs.Error {
	when := "the next billing period"
	if !reset.IsZero() {
		when = reset.UTC().Format(time.RFC3339)
	}
	kind, code, name := errs.KindForbidden, CodeQuotaExceeded, string(m)
	if m == MeterSignals {
		kind, code, name = errs.KindRateLimited, CodeSignalQuotaExceeded, "signal"
	}
	what := name + " quota of " + itoa(limit) + " for this period is used up"
	if m == MeterSignals && used < limit && n > 1 {
		what = "these " + itoa(n) + " signals would go beyond the signal quota of " + itoa(limit) +
			" for this period (" + itoa(limit-used) + " left)"
	}
	return errs.New(kind, code, what+"; it resets at "+when+" (upgrade or turn on overages to continue now)")
}
