package plan

import "time"

// Period is a half-open interval [Start, End).
type Period struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Contains reports whether t is in [Start, End).
func (p Period) Contains(t time.Time) bool { return !t.Before(p.Start) && t.Before(p.End) }

// IsZero reports whether p is the zero Period.
func (p Period) IsZero() bool { return p.Start.IsZero() && p.End.IsZero() }

// addMonths returns the anchor moved k months, always counted from the
// anchor (never chained), with the day clamped to the target month's length
// and the anchor's time of day and location: a Jan 31 anchor gives Feb 28
// (Feb 29 in leap years), Mar 31, Apr 30...
func addMonths(anchor time.Time, k int) time.Time {
	m := int(anchor.Month()) - 1 + k
	y := anchor.Year() + floorDiv(m, 12)
	m = m - floorDiv(m, 12)*12 + 1
	d := anchor.Day()
	if last := daysIn(y, time.Month(m)); d > last {
		d = last
	}
	return time.Date(y, time.Month(m), d, anchor.Hour(), anchor.Minute(), anchor.Second(), anchor.Nanosecond(), anchor.Location())
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func daysIn(y int, m time.Month) int { return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day() }

// periodFor returns the period of length `months` anchored on anchor that
// contains now.
func periodFor(anchor, now time.Time, months int) Period {
	n := now.In(anchor.Location())
	k := (n.Year()-anchor.Year())*12 + int(n.Month()) - int(anchor.Month())
	k = floorDiv(k, months) * months
	for addMonths(anchor, k).After(now) {
		k -= months
	}
	for !addMonths(anchor, k+months).After(now) {
		k += months
	}
	return Period{Start: addMonths(anchor, k), End: addMonths(anchor, k+months)}
}

// PeriodFor returns the monthly usage period containing now, for a
// subscription started at anchor. Periods start on the anchor's day of month
// at the anchor's time of day, in the anchor's location (pass a UTC anchor
// for UTC periods), clamped to short months. Usage periods are monthly on
// yearly plans too. A now before the anchor gets the period it would fall in
// counting backwards.
func PeriodFor(anchor, now time.Time) Period { return periodFor(anchor, now, 1) }

// Next returns the monthly usage period after p for the same anchor. The
// anchor is needed: from a Feb 28 – Mar 28 period alone one cannot tell a
// Jan 28 anchor from a Jan 31 one.
func Next(anchor time.Time, p Period) Period { return periodFor(anchor, p.End, 1) }

// BillingPeriod returns the billing term containing now: the monthly usage
// period for Monthly, twelve anchored months for Yearly (a Feb 29 anchor
// renews on Feb 28 in common years). Proration runs over this term.
func BillingPeriod(anchor, now time.Time, c Cycle) Period {
	if c == Yearly {
		return periodFor(anchor, now, 12)
	}
	return periodFor(anchor, now, 1)
}
