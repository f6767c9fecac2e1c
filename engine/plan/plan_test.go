package plan_test

import (
	"strings"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/errs/errstest"
	"github.com/trailspark/trailspark/engine/plan"
)

func validPlan() plan.Plan {
	return plan.Plan{
		ID: "pro", Name: "Pro", PriceMonthlyCents: 1000, PriceYearlyCents: 9600,
		Limits:        plan.Limits{Signals: 10, Models: 1, ActiveLeads: 5, Evaluations: 3, Refinements: 1},
		RetentionDays: 30, Overages: true,
		OverageUnitCents: plan.UnitPrices{Signals: 10, Models: 100, ActiveLeads: 1, Evaluations: 1, Refinements: 10},
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*plan.Plan)
		code   string
		field  string
	}{
		{"id required", func(p *plan.Plan) { p.ID = "" }, "required", "id"},
		{"id format", func(p *plan.Plan) { p.ID = "Pro Plan" }, "invalid_format", "id"},
		{"id too long", func(p *plan.Plan) { p.ID = "abcdefghijklmnopqrstuvwxyz0123456" }, "invalid_format", "id"},
		{"name required", func(p *plan.Plan) { p.Name = "  " }, "required", "name"},
		{"name too long", func(p *plan.Plan) { p.Name = strings.Repeat("é", 65) }, "too_long", "name"},
		{"monthly price", func(p *plan.Plan) { p.PriceMonthlyCents = -1 }, "negative", "price_monthly_cents"},
		{"yearly price", func(p *plan.Plan) { p.PriceYearlyCents = -1 }, "negative", "price_yearly_cents"},
		{"retention", func(p *plan.Plan) { p.RetentionDays = -1 }, "negative", "retention_days"},
		{"overages on a free plan", func(p *plan.Plan) { p.PriceMonthlyCents, p.PriceYearlyCents = 0, 0 }, "overages_paid_only", "overages"},
		{"signals limit", func(p *plan.Plan) { p.Limits.Signals = -1 }, "negative", "limits.signals"},
		{"models limit", func(p *plan.Plan) { p.Limits.Models = -1 }, "negative", "limits.models"},
		{"active leads limit", func(p *plan.Plan) { p.Limits.ActiveLeads = -1 }, "negative", "limits.active_leads"},
		{"evaluations limit", func(p *plan.Plan) { p.Limits.Evaluations = -1 }, "negative", "limits.evaluations"},
		{"refinements limit", func(p *plan.Plan) { p.Limits.Refinements = -1 }, "negative", "limits.refinements"},
		{"signal overage price", func(p *plan.Plan) { p.OverageUnitCents.Signals = -1 }, "negative", "overage_unit_cents.signals"},
		{"evaluation overage price", func(p *plan.Plan) { p.OverageUnitCents.Evaluations = -1 }, "negative", "overage_unit_cents.evaluations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPlan()
			tc.mutate(&p)
			errstest.Want(t, p.Validate(), errs.KindInvalid, tc.code, tc.field)
		})
	}
}

func TestValidateValid(t *testing.T) {
	errstest.NoErr(t, validPlan().Validate())
	free := validPlan()
	free.PriceMonthlyCents, free.PriceYearlyCents, free.Overages = 0, 0, false
	free.Limits = plan.Limits{} // all unlimited
	free.RetentionDays = 0      // kept forever
	errstest.NoErr(t, free.Validate())
}

func TestValidatePlans(t *testing.T) {
	errstest.NoErr(t, plan.ValidatePlans(plan.DefaultPlans()))
	errstest.Want(t, plan.ValidatePlans(nil), errs.KindInvalid, "required", "plans")
	bad := plan.DefaultPlans()
	bad[2].Limits.Models = -3
	errstest.Want(t, plan.ValidatePlans(bad), errs.KindInvalid, "negative", "plans[2].limits.models")
	dup := append(plan.DefaultPlans(), validPlan())
	dup[4].ID = "starter"
	errstest.Want(t, plan.ValidatePlans(dup), errs.KindInvalid, "duplicate", "plans[4].id")
}

func TestDefaultPlans(t *testing.T) {
	ps := plan.DefaultPlans()
	ids := []string{"free", "starter", "growth", "scale"}
	if len(ps) != len(ids) {
		t.Fatalf("%d default plans", len(ps))
	}
	for i, p := range ps {
		if p.ID != ids[i] {
			t.Fatalf("plan %d is %q, want %q", i, p.ID, ids[i])
		}
		if p.PriceYearlyCents*100 != p.PriceMonthlyCents*12*80 {
			t.Errorf("%s: yearly %d is not 20%% off 12 × %d", p.ID, p.PriceYearlyCents, p.PriceMonthlyCents)
		}
		if i > 0 && p.PriceMonthlyCents <= ps[i-1].PriceMonthlyCents {
			t.Errorf("%s is not dearer than %s", p.ID, ps[i-1].ID)
		}
		if (i > 0) != p.Paid() || (i > 0) != p.Overages {
			t.Errorf("%s: paid=%v overages=%v", p.ID, p.Paid(), p.Overages)
		}
	}
	// Mutating a returned slice does not leak into the next call.
	ps[0].Limits.Signals = 1
	if plan.DefaultPlans()[0].Limits.Signals != 10_000 {
		t.Fatalf("DefaultPlans shares state")
	}
}

func TestMeters(t *testing.T) {
	for _, m := range plan.Meters() {
		if !m.Valid() {
			t.Errorf("%s not valid", m)
		}
	}
	if _, ok := plan.Find(plan.DefaultPlans(), "enterprise"); ok {
		t.Errorf("Find found an absent plan")
	}
	if plan.Meter("raw_signals").Valid() {
		t.Errorf("unknown meter valid")
	}
	if !plan.Monthly.Valid() || !plan.Yearly.Valid() || plan.Cycle("weekly").Valid() {
		t.Errorf("cycle validity")
	}
	p := validPlan()
	if p.Price(plan.Yearly) != 9600 || p.Price(plan.Monthly) != 1000 {
		t.Errorf("Price")
	}
}
