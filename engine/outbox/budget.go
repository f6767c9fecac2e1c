package outbox

import "time"

// Budget is one destination's share of the tenant's daily CRM API
// allowance (SPEC §4; peers.md §5.2 item 7: the quota is shared with the
// tenant's other integrations, so TrailSpark spends only what it is given).
// Days are UTC. A zero Allowance means unlimited.
type Budget struct {
	Allowance int    `json:"allowance"`
	Used      int    `json:"used"`
	Day       string `json:"day"` // YYYY-MM-DD the Used count belongs to
}

// LowBudgetShare: below this share of the allowance remaining, only
// high-priority changes are delivered; the rest wait for the next day.
const LowBudgetShare = 0.10

// Roll starts a new day's count when now is past Day.
func (b *Budget) Roll(now time.Time) {
	d := now.UTC().Format(time.DateOnly)
	if b.Day != d {
		b.Day, b.Used = d, 0
	}
}

// Remaining is what is left today (-1: unlimited).
func (b Budget) Remaining() int {
	if b.Allowance <= 0 {
		return -1
	}
	return max(0, b.Allowance-b.Used)
}

// Low reports whether the remaining allowance is below LowBudgetShare.
func (b Budget) Low() bool {
	if b.Allowance <= 0 {
		return false
	}
	return float64(b.Remaining()) < LowBudgetShare*float64(b.Allowance)
}

// Allow reports whether a call costing calls may go now: always when
// unlimited; never past the allowance; when the budget is low, only for a
// high-priority batch. Scoring is never affected: only delivery waits.
func (b Budget) Allow(calls int, highPriority bool) (bool, string) {
	if b.Allowance <= 0 {
		return true, ""
	}
	if b.Remaining() < calls {
		return false, "daily CRM API budget used up; delivery resumes tomorrow (UTC)"
	}
	if b.Low() && !highPriority {
		return false, "daily CRM API budget is low: only hot-grade changes go until tomorrow (UTC)"
	}
	return true, ""
}

// Spend counts calls made.
func (b *Budget) Spend(calls int) { b.Used += calls }

// NextDay is the start of the UTC day after now: when deferred items retry.
func NextDay(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// HighPriority reports whether a change is worth spending a low budget on:
// the new grade is hot, or a record the CRM shows as hot is no longer hot
// (so sales do not chase a stale grade).
func HighPriority(last *State, next State) bool {
	return next.Grade == "hot" || (last != nil && last.Grade == "hot")
}
