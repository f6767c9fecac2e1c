package plan_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/errs/errstest"
	"github.com/trailspark/trailspark/engine/plan"
)

func mustFind(t *testing.T, id string) plan.Plan {
	t.Helper()
	p, ok := plan.Find(plan.DefaultPlans(), id)
	if !ok {
		t.Fatalf("no default plan %q", id)
	}
	return p
}

func priced(monthly, yearly int64) plan.Plan {
	return plan.Plan{ID: "x", Name: "X", PriceMonthlyCents: monthly, PriceYearlyCents: yearly}
}

func TestUpgradeProration(t *testing.T) {
	starter, growth := mustFind(t, "starter"), mustFind(t, "growth")
	march := plan.Period{Start: utc(2025, 3, 10, 9, 30), End: utc(2025, 4, 10, 9, 30)} // 31 days
	april := plan.Period{Start: utc(2025, 4, 10, 9, 30), End: utc(2025, 5, 10, 9, 30)} // 30 days
	leapFeb := plan.Period{Start: utc(2024, 2, 10, 0, 0), End: utc(2024, 3, 10, 0, 0)} // 29 days
	year := plan.Period{Start: utc(2025, 3, 10, 9, 30), End: utc(2026, 3, 10, 9, 30)}  // 365 days
	tests := []struct {
		name     string
		from, to plan.Plan
		cycle    plan.Cycle
		period   plan.Period
		now      time.Time
		want     int64
	}{
		// (19900-4900) × 21/31 days = 10161.29… → 10161.
		{"starter→growth, 21 of 31 days left", starter, growth, plan.Monthly, march, utc(2025, 3, 20, 9, 30), 10161},
		// 101 × 15/30 = 50.5 → 51 (half up).
		{"half a cent rounds up", priced(100, 0), priced(201, 0), plan.Monthly, april, utc(2025, 4, 25, 9, 30), 51},
		// 101 × 15/30 minus one second: 50.49998… → 50.
		{"just under half rounds down", priced(100, 0), priced(201, 0), plan.Monthly, april, utc(2025, 4, 25, 9, 30).Add(time.Second), 50},
		// February 2024 has 29 days: Feb 24 → Mar 10 is 15 days; 2900 × 15/29 = 1500.
		{"leap February", priced(0, 0), priced(2900, 0), plan.Monthly, leapFeb, utc(2024, 2, 24, 0, 0), 1500},
		// Yearly: (191040-47040) × 181/365 days (Sep 10 → Mar 10) = 71408.21… → 71408.
		{"yearly term", starter, growth, plan.Yearly, year, utc(2025, 9, 10, 9, 30), 71408},
		{"at period start: the full difference", starter, growth, plan.Monthly, march, march.Start, 15000},
		{"before period start: clamped to full", starter, growth, plan.Monthly, march, march.Start.Add(-time.Hour), 15000},
		{"at period end: nothing", starter, growth, plan.Monthly, march, march.End, 0},
		{"after period end: nothing", starter, growth, plan.Monthly, march, march.End.Add(time.Hour), 0},
		{"cheaper target: never negative", growth, starter, plan.Monthly, march, utc(2025, 3, 20, 9, 30), 0},
		{"same price: nothing", starter, starter, plan.Monthly, march, utc(2025, 3, 20, 9, 30), 0},
		{"from free", mustFind(t, "free"), starter, plan.Monthly, march, utc(2025, 3, 20, 9, 30), 3319}, // 4900 × 21/31 = 3319.35…
		{"empty period", starter, growth, plan.Monthly, plan.Period{}, utc(2025, 3, 20, 9, 30), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := plan.Upgrade(tc.from, tc.to, tc.cycle, tc.period, tc.now); got != tc.want {
				t.Fatalf("Upgrade = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestScheduleDowngrade(t *testing.T) {
	starter, growth := mustFind(t, "starter"), mustFind(t, "growth")
	march := plan.Period{Start: utc(2025, 3, 10, 9, 30), End: utc(2025, 4, 10, 9, 30)}
	now := utc(2025, 3, 20, 0, 0)

	sc, err := plan.ScheduleDowngrade(growth, starter, plan.Monthly, march, now)
	errstest.NoErr(t, err)
	want := plan.ScheduledChange{PlanID: "starter", Cycle: plan.Monthly, Effective: march.End}
	if !reflect.DeepEqual(sc, want) {
		t.Fatalf("ScheduleDowngrade = %+v, want %+v", sc, want)
	}
	if sc.Due(march.End.Add(-1)) {
		t.Fatalf("due before the period end")
	}
	if !sc.Due(march.End) {
		t.Fatalf("not due at the period end")
	}
	if (plan.ScheduledChange{}).Due(now) {
		t.Fatalf("a cancelled (zero) change is due")
	}

	_, err = plan.ScheduleDowngrade(growth, growth, plan.Monthly, march, now)
	errstest.Want(t, err, errs.KindConflict, "same_plan", "plan")
	_, err = plan.ScheduleDowngrade(starter, growth, plan.Monthly, march, now)
	errstest.Want(t, err, errs.KindConflict, "not_a_downgrade", "plan")

	// Yearly term: effective at the end of the year, not the month.
	year := plan.Period{Start: utc(2025, 3, 10, 9, 30), End: utc(2026, 3, 10, 9, 30)}
	sc, err = plan.ScheduleDowngrade(growth, starter, plan.Yearly, year, now)
	errstest.NoErr(t, err)
	if !sc.Effective.Equal(year.End) {
		t.Fatalf("yearly downgrade effective %s", sc.Effective)
	}
}

func TestExceeds(t *testing.T) {
	free := mustFind(t, "free") // 10,000 signals, 1 model, 1,000 leads, 500 evaluations, 5 refinements
	scale := mustFind(t, "scale")
	u := plan.Usage{Used: map[plan.Meter]int64{
		plan.MeterSignals:     10_000, // at the limit: not above it
		plan.MeterModels:      3,
		plan.MeterActiveLeads: 999,
		plan.MeterEvaluations: 501,
		plan.MeterRefinements: 6,
	}}
	want := []plan.Meter{plan.MeterModels, plan.MeterEvaluations, plan.MeterRefinements}
	if got := plan.Exceeds(u, free); !reflect.DeepEqual(got, want) {
		t.Fatalf("Exceeds = %v, want %v", got, want)
	}
	if got := plan.Exceeds(u, scale); got != nil {
		t.Fatalf("Exceeds(scale) = %v, want none", got)
	}
}

func TestSwitchCycle(t *testing.T) {
	starter := mustFind(t, "starter") // 4900/month, 47040/year
	march := plan.Period{Start: utc(2025, 3, 10, 9, 30), End: utc(2025, 4, 10, 9, 30)}
	year := plan.Period{Start: utc(2025, 3, 10, 9, 30), End: utc(2026, 3, 10, 9, 30)}
	now := utc(2025, 3, 20, 9, 30)
	tests := []struct {
		name     string
		from, to plan.Cycle
		period   plan.Period
		want     plan.CycleChange
	}{
		// Credit 4900 × 21/31 = 3319.35… → 3319; 47040 − 3319 = 43721, now.
		{"monthly→yearly at once with credit", plan.Monthly, plan.Yearly, march, plan.CycleChange{Effective: now, ChargeCents: 43721}},
		{"yearly→monthly at term end", plan.Yearly, plan.Monthly, year, plan.CycleChange{Effective: year.End}},
		{"same cycle", plan.Monthly, plan.Monthly, march, plan.CycleChange{Effective: now}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := plan.SwitchCycle(starter, tc.from, tc.to, tc.period, now)
			if !got.Effective.Equal(tc.want.Effective) || got.ChargeCents != tc.want.ChargeCents {
				t.Fatalf("SwitchCycle = %+v, want %+v", got, tc.want)
			}
		})
	}
	// A credit larger than the yearly price never yields a negative charge.
	odd := priced(10_000, 5_000)
	if got := plan.SwitchCycle(odd, plan.Monthly, plan.Yearly, march, march.Start); got.ChargeCents != 0 {
		t.Fatalf("negative-capped charge = %d", got.ChargeCents)
	}
}
