package plan

import "math"

// Usage is one org's counts for one usage period.
type Usage struct {
	Period Period          `json:"period"`
	Used   map[Meter]int64 `json:"used"`
}

// Get returns the count for m.
func (u Usage) Get(m Meter) int64 { return u.Used[m] }

// Add counts n more units of m, saturating at MaxInt64. n ≤ 0 is ignored:
// meters count what happened in the period and never go down (deleting a
// model does not give one back).
func (u *Usage) Add(m Meter, n int64) {
	if n <= 0 {
		return
	}
	if u.Used == nil {
		u.Used = make(map[Meter]int64, 5)
	}
	u.Used[m] = satAdd(u.Used[m], n)
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Level is a meter's state as users see it.
type Level string

const (
	LevelOK       Level = "ok"       // under 80%, or unlimited
	LevelWarning  Level = "warning"  // 80% up to, not including, 100%
	LevelExceeded Level = "exceeded" // 100% or more
)

// Thresholds are the percentages that raise an event when crossed.
var Thresholds = [...]int{80, 100}

// atLeast is the smallest count that reaches pct% of limit:
// ceil(limit*pct/100), computed without overflow.
func atLeast(limit int64, pct int) int64 {
	p := int64(pct)
	q, r := limit/100, limit%100
	return q*p + (r*p+99)/100
}

// State returns the level of used against limit (0 = unlimited, always ok).
// The cut-offs are exact: 8 of 10 is a warning, 10 of 10 is exceeded.
func State(used, limit int64) Level {
	switch {
	case limit <= 0:
		return LevelOK
	case used >= limit:
		return LevelExceeded
	case used >= atLeast(limit, 80):
		return LevelWarning
	}
	return LevelOK
}

// Crossed returns the thresholds (80, 100, ascending) that an increment from
// before to after reaches for the first time; nil for unlimited or when
// nothing is crossed. Landing exactly on a threshold crosses it.
func Crossed(before, after, limit int64) []int {
	if limit <= 0 || after <= before {
		return nil
	}
	var out []int
	for _, t := range Thresholds {
		if need := atLeast(limit, t); before < need && after >= need {
			out = append(out, t)
		}
	}
	return out
}

// Overage returns the units of used beyond limit (0 when unlimited).
func Overage(used, limit int64) int64 {
	if limit <= 0 || used <= limit {
		return 0
	}
	return used - limit
}

// Charges returns the estimated overage charges in cents per meter, only for
// meters with a non-zero charge. It prices every unit over the limit,
// whatever the current overage switch: usage above a limit can only have
// been accepted as overage. Signals are priced per SignalPriceUnit, rounded
// half up to the cent.
func Charges(p Plan, u Usage) map[Meter]int64 {
	out := map[Meter]int64{}
	for _, m := range Meters() {
		over := Overage(u.Get(m), p.Limits.Get(m))
		price := p.OverageUnitCents.Get(m)
		if over == 0 || price == 0 {
			continue
		}
		var c int64
		if m == MeterSignals {
			c = mulDivHalfUp(over, price, SignalPriceUnit)
		} else {
			c = mulDivHalfUp(over, price, 1)
		}
		if c > 0 {
			out[m] = c
		}
	}
	return out
}

// Total sums charges.
func Total(charges map[Meter]int64) int64 {
	var t int64
	for _, c := range charges {
		t = satAdd(t, c)
	}
	return t
}
