package plan_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/errs/errstest"
	"github.com/trailspark/trailspark/engine/plan"
)

var (
	anchor = utc(2025, 3, 10, 9, 30)
	period = plan.PeriodFor(anchor, anchor)
	mid    = utc(2025, 3, 20, 0, 0)
)

func quotaPlan(overages bool) plan.Plan {
	return plan.Plan{
		ID: "q", Name: "Q", PriceMonthlyCents: 100, Overages: overages,
		Limits: plan.Limits{Signals: 100, Models: 2, ActiveLeads: 50, Evaluations: 10, Refinements: 0},
	}
}

func usage(m plan.Meter, used int64) plan.Usage {
	u := plan.Usage{Period: period}
	u.Add(m, used)
	return u
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name     string
		overages bool
		meter    plan.Meter
		used, n  int64
		now      time.Time
		allowed  bool
		overage  int64
		code     string // when refused
		kind     errs.Kind
	}{
		{"unlimited meter", false, plan.MeterRefinements, 1 << 40, 1000, mid, true, 0, "", ""},
		{"fits", false, plan.MeterSignals, 50, 10, mid, true, 0, "", ""},
		{"lands exactly on the limit", false, plan.MeterSignals, 99, 1, mid, true, 0, "", ""},
		{"batch lands exactly on the limit", false, plan.MeterSignals, 0, 100, mid, true, 0, "", ""},
		{"one over, signals, overages off", false, plan.MeterSignals, 100, 1, mid, false, 0, plan.CodeSignalQuotaExceeded, errs.KindRateLimited},
		{"batch crossing refused whole", false, plan.MeterSignals, 95, 10, mid, false, 0, plan.CodeSignalQuotaExceeded, errs.KindRateLimited},
		{"models at limit", false, plan.MeterModels, 2, 1, mid, false, 0, plan.CodeQuotaExceeded, errs.KindForbidden},
		{"evaluations at limit", false, plan.MeterEvaluations, 10, 1, mid, false, 0, plan.CodeQuotaExceeded, errs.KindForbidden},
		{"active leads at limit", false, plan.MeterActiveLeads, 50, 1, mid, false, 0, plan.CodeQuotaExceeded, errs.KindForbidden},
		{"overages on: crossing counts the excess", true, plan.MeterSignals, 95, 10, mid, true, 5, "", ""},
		{"overages on: already over, all excess", true, plan.MeterSignals, 120, 10, mid, true, 10, "", ""},
		{"overages on: fits, no overage", true, plan.MeterSignals, 10, 10, mid, true, 0, "", ""},
		{"peek under limit", false, plan.MeterEvaluations, 9, 0, mid, true, 0, "", ""},
		{"peek at limit", false, plan.MeterEvaluations, 10, 0, mid, false, 0, plan.CodeQuotaExceeded, errs.KindForbidden},
		{"peek at limit, overages on", true, plan.MeterEvaluations, 10, 0, mid, true, 0, "", ""},
		{"stale usage: the period has reset", false, plan.MeterSignals, 100, 1, period.End, true, 0, "", ""},
		{"one ns before reset still refused", false, plan.MeterSignals, 100, 1, period.End.Add(-1), false, 0, plan.CodeSignalQuotaExceeded, errs.KindRateLimited},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := plan.Decide(quotaPlan(tc.overages), usage(tc.meter, tc.used), tc.meter, tc.n, tc.now)
			if d.Allowed != tc.allowed || d.Overage != tc.overage {
				t.Fatalf("Decide = %+v, want allowed=%v overage=%d", d, tc.allowed, tc.overage)
			}
			if tc.allowed {
				errstest.NoErr(t, d.AsError())
				if d.Err != nil || !d.RetryAt.IsZero() {
					t.Fatalf("allowed decision carries %v / %s", d.Err, d.RetryAt)
				}
				return
			}
			e := errstest.Want(t, d.AsError(), tc.kind, tc.code, "")
			if !d.RetryAt.Equal(period.End) {
				t.Fatalf("RetryAt = %s, want period end %s", d.RetryAt, period.End)
			}
			if !strings.Contains(e.Message, "2025-04-10T09:30:00Z") {
				t.Fatalf("message does not say when it resets: %q", e.Message)
			}
		})
	}
}

// A refusal says whether the quota is used up or, for a batch that does
// not fit, how many signals are left.
func TestRefusalMessage(t *testing.T) {
	tests := []struct {
		name    string
		used, n int64
		want    string
	}{
		{"used up", 100, 1, "signal quota of 100 for this period is used up; it resets at "},
		{"used up, a batch", 100, 10, "signal quota of 100 for this period is used up; it resets at "},
		{"a batch bigger than what is left", 95, 10, "these 10 signals would go beyond the signal quota of 100 for this period (5 left); it resets at "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := plan.Decide(quotaPlan(false), usage(plan.MeterSignals, tc.used), plan.MeterSignals, tc.n, mid)
			if d.Allowed || d.Err == nil || !strings.HasPrefix(d.Err.Message, tc.want) {
				t.Fatalf("Decide(used %d, n %d) = %+v; want a refusal starting %q", tc.used, tc.n, d.Err, tc.want)
			}
		})
	}
}

func TestDecideWithOrgOverageToggle(t *testing.T) {
	p := quotaPlan(true)
	u := usage(plan.MeterSignals, 100)
	if d := plan.Decide(p.WithOverages(false), u, plan.MeterSignals, 1, mid); d.Allowed {
		t.Fatalf("org toggle off must refuse: %+v", d)
	}
	if d := plan.Decide(p.WithOverages(true), u, plan.MeterSignals, 1, mid); !d.Allowed || d.Overage != 1 {
		t.Fatalf("org toggle on must allow as overage: %+v", d)
	}
	// The toggle cannot enable what the plan does not allow.
	if d := plan.Decide(quotaPlan(false).WithOverages(true), u, plan.MeterSignals, 1, mid); d.Allowed {
		t.Fatalf("plan without overages must refuse: %+v", d)
	}
}

func TestDecisionErrIs(t *testing.T) {
	d := plan.Decide(quotaPlan(false), usage(plan.MeterSignals, 100), plan.MeterSignals, 1, mid)
	sentinel := errs.New(errs.KindRateLimited, plan.CodeSignalQuotaExceeded, "")
	if !errors.Is(d.AsError(), sentinel) {
		t.Fatalf("errors.Is does not match the sentinel")
	}
	var nilDecision plan.Decision
	nilDecision.Allowed = true
	if err := nilDecision.AsError(); err != nil {
		t.Fatalf("AsError returned a typed nil: %#v", err)
	}
}

// The ingest-path check must stay well under 1 µs per signal.
func BenchmarkDecideSignal(b *testing.B) {
	p := quotaPlan(false)
	p.Limits.Signals = 1 << 40
	u := usage(plan.MeterSignals, 12345)
	b.ReportAllocs()
	for b.Loop() {
		d := plan.Decide(p, u, plan.MeterSignals, 1, mid)
		if !d.Allowed {
			b.Fatal("refused")
		}
	}
}

func TestDecideStaleBatchLargerThanLimit(t *testing.T) {
	d := plan.Decide(quotaPlan(false), usage(plan.MeterSignals, 100), plan.MeterSignals, 101, period.End)
	errstest.Want(t, d.AsError(), errs.KindRateLimited, plan.CodeSignalQuotaExceeded, "")
	if !d.RetryAt.IsZero() {
		t.Fatalf("stale usage refusal has RetryAt %s in the past", d.RetryAt)
	}
}

func TestDecideWithoutPeriod(t *testing.T) {
	u := plan.Usage{}
	u.Add(plan.MeterModels, 2)
	d := plan.Decide(quotaPlan(false), u, plan.MeterModels, 1, mid)
	e := errstest.Want(t, d.AsError(), errs.KindForbidden, plan.CodeQuotaExceeded, "")
	if !d.RetryAt.IsZero() || !strings.Contains(e.Message, "next billing period") {
		t.Fatalf("zero period: RetryAt %s, message %q", d.RetryAt, e.Message)
	}
}
