package plan

import (
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// mulDivHalfUp returns a*b/c rounded half up, for a, b ≥ 0 and c > 0,
// exactly (big arithmetic) and saturating at MaxInt64.
func mulDivHalfUp(a, b, c int64) int64 {
	num := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	num.Mul(num, big.NewInt(2)).Add(num, big.NewInt(c))
	num.Quo(num, new(big.Int).Mul(big.NewInt(c), big.NewInt(2)))
	if !num.IsInt64() {
		return math.MaxInt64
	}
	return num.Int64()
}

// unusedFraction returns (unused, length) of the period at now, with unused
// clamped to [0, length]; length 0 for an empty period.
func unusedFraction(period Period, now time.Time) (int64, int64) {
	length := period.End.Sub(period.Start)
	if length <= 0 {
		return 0, 0
	}
	unused := period.End.Sub(now)
	unused = min(max(unused, 0), length)
	return int64(unused), int64(length)
}

// prorate returns cents × unused/length of period at now, half up.
func prorate(cents int64, period Period, now time.Time) int64 {
	unused, length := unusedFraction(period, now)
	if length == 0 || cents <= 0 {
		return 0
	}
	return mulDivHalfUp(cents, unused, length)
}

// Upgrade returns the prorated charge, in cents, for moving from one plan
// to another at now, effective at once, within the current billing term
// (BillingPeriod for the cycle): the price difference for the cycle times
// the unused fraction of the term (measured to the nanosecond), rounded half
// up to the cent. It is never negative: a cheaper "to" costs 0 here (that is
// a downgrade; see ScheduleDowngrade). The full new price starts next term.
func Upgrade(from, to Plan, cycle Cycle, period Period, now time.Time) int64 {
	return prorate(to.Price(cycle)-from.Price(cycle), period, now)
}

// ScheduledChange is a plan or cycle change waiting for its effective time.
// Cancelling it ("Keep current plan") is dropping it.
type ScheduledChange struct {
	PlanID    string    `json:"plan_id"`
	Cycle     Cycle     `json:"cycle"`
	Effective time.Time `json:"effective"`
}

// Due reports whether the change applies at now.
func (s ScheduledChange) Due(now time.Time) bool {
	return !s.Effective.IsZero() && !now.Before(s.Effective)
}

// ScheduleDowngrade schedules a move from one plan to a cheaper (or equally
// priced) one at the end of the current billing term; the org keeps its
// current plan until then, and nothing is refunded. It refuses the same plan
// (conflict same_plan) and a dearer one (conflict not_a_downgrade: that is an
// Upgrade). Show Exceeds(usage, to) as the warning.
func ScheduleDowngrade(from, to Plan, cycle Cycle, period Period, now time.Time) (ScheduledChange, error) {
	if from.ID == to.ID {
		return ScheduledChange{}, errs.Conflict("same_plan", "plan", "the organization is already on plan "+to.Name)
	}
	if to.Price(cycle) > from.Price(cycle) {
		return ScheduledChange{}, errs.Conflict("not_a_downgrade", "plan", "plan "+to.Name+" costs more than "+from.Name+"; upgrade instead")
	}
	eff := period.End
	if eff.Before(now) {
		eff = now
	}
	return ScheduledChange{PlanID: to.ID, Cycle: cycle, Effective: eff}, nil
}

// Exceeds lists, in Meters order, the meters whose usage is above the
// lower plan's limit (unlimited never is): the downgrade warning.
func Exceeds(u Usage, lower Plan) []Meter {
	var out []Meter
	for _, m := range Meters() {
		if Overage(u.Get(m), lower.Limits.Get(m)) > 0 {
			out = append(out, m)
		}
	}
	return out
}

// CycleChange is the result of switching a plan between monthly and yearly.
type CycleChange struct {
	Effective   time.Time
	ChargeCents int64 // charged at Effective
}

// SwitchCycle switches plan p between billing cycles at now; period is the
// current billing term of the from cycle.
//
//   - Monthly → Yearly applies at once, like an upgrade: the yearly price,
//     less a credit for the unused part of the month at the monthly price
//     (half up), never negative. The yearly term starts at Effective; usage
//     periods keep their anchor (the grain decides whether to re-anchor).
//   - Yearly → Monthly applies at the end of the yearly term (no refund);
//     the first monthly charge is then the plain monthly price.
//   - Same cycle: no change, effective now, 0.
func SwitchCycle(p Plan, from, to Cycle, period Period, now time.Time) CycleChange {
	switch {
	case from == to:
		return CycleChange{Effective: now}
	case to == Yearly:
		credit := prorate(p.PriceMonthlyCents, period, now)
		return CycleChange{Effective: now, ChargeCents: max(p.PriceYearlyCents-credit, 0)}
	default:
		eff := period.End
		if eff.Before(now) {
			eff = now
		}
		return CycleChange{Effective: eff}
	}
}
