package plan

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/trailspark/trailspark/engine/errs"
)

// Meter names one usage counter. The values are stable API and storage
// identifiers.
type Meter string

const (
	MeterSignals     Meter = "signals"      // signals received
	MeterModels      Meter = "models"       // ICP models created
	MeterActiveLeads Meter = "active_leads" // unique leads with signals in the period
	MeterEvaluations Meter = "evaluations"  // AI scorings of a lead
	MeterRefinements Meter = "refinements"  // model refinement iterations
)

// Meters returns every meter in display order.
func Meters() []Meter {
	return []Meter{MeterSignals, MeterModels, MeterActiveLeads, MeterEvaluations, MeterRefinements}
}

// Valid reports whether m is a known meter.
func (m Meter) Valid() bool {
	switch m {
	case MeterSignals, MeterModels, MeterActiveLeads, MeterEvaluations, MeterRefinements:
		return true
	}
	return false
}

// Limits are per-period allowances; 0 means unlimited.
type Limits struct {
	Signals     int64 `json:"signals"`
	Models      int64 `json:"models"`
	ActiveLeads int64 `json:"active_leads"`
	Evaluations int64 `json:"evaluations"`
	Refinements int64 `json:"refinements"`
}

// Get returns the limit for m (0, unlimited, for an unknown meter).
func (l Limits) Get(m Meter) int64 {
	return perMeter(l.Signals, l.Models, l.ActiveLeads, l.Evaluations, l.Refinements, m)
}

// UnitPrices are overage prices in cents. Every meter is priced per unit
// except signals, priced per SignalPriceUnit signals (a cent per signal is
// far too coarse).
type UnitPrices struct {
	Signals     int64 `json:"signals"` // cents per SignalPriceUnit signals
	Models      int64 `json:"models"`
	ActiveLeads int64 `json:"active_leads"`
	Evaluations int64 `json:"evaluations"`
	Refinements int64 `json:"refinements"`
}

// SignalPriceUnit is how many signals UnitPrices.Signals prices.
const SignalPriceUnit = 1000

// Get returns the price for m (0 for an unknown meter).
func (u UnitPrices) Get(m Meter) int64 {
	return perMeter(u.Signals, u.Models, u.ActiveLeads, u.Evaluations, u.Refinements, m)
}

func perMeter(s, mo, al, ev, re int64, m Meter) int64 {
	switch m {
	case MeterSignals:
		return s
	case MeterModels:
		return mo
	case MeterActiveLeads:
		return al
	case MeterEvaluations:
		return ev
	case MeterRefinements:
		return re
	}
	return 0
}

// Cycle is how often a subscription is charged. Usage periods are monthly
// whatever the cycle.
type Cycle string

const (
	Monthly Cycle = "monthly"
	Yearly  Cycle = "yearly"
)

// Valid reports whether c is a known cycle.
func (c Cycle) Valid() bool { return c == Monthly || c == Yearly }

// Plan is an operator-defined plan.
type Plan struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	PriceMonthlyCents int64  `json:"price_monthly_cents"`
	PriceYearlyCents  int64  `json:"price_yearly_cents"`
	Limits            Limits `json:"limits"`
	// RetentionDays is how long signals are kept; 0 keeps them forever.
	RetentionDays int  `json:"retention_days"`
	SparkSense    bool `json:"sparksense"`
	// Overages says whether the plan allows overages. Whether an org has
	// them turned on is org state: pass WithOverages(on) to Decide.
	Overages         bool       `json:"overages"`
	OverageUnitCents UnitPrices `json:"overage_unit_cents"`
}

// Price returns the plan's price for cycle c (monthly for anything but
// Yearly).
func (p Plan) Price(c Cycle) int64 {
	if c == Yearly {
		return p.PriceYearlyCents
	}
	return p.PriceMonthlyCents
}

// Paid reports whether the plan costs anything.
func (p Plan) Paid() bool { return p.PriceMonthlyCents > 0 || p.PriceYearlyCents > 0 }

// WithOverages returns p with Overages set to whether overages are both
// allowed by the plan and turned on by the org: the plan Decide needs.
func (p Plan) WithOverages(on bool) Plan {
	p.Overages = p.Overages && on
	return p
}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

const maxNameLen = 64

// Validate reports the first invalid field, with json field paths.
func (p Plan) Validate() error {
	if e := p.validate(""); e != nil {
		return e
	}
	return nil
}

func (p Plan) validate(prefix string) *errs.Error {
	f := func(name string) string { return prefix + name }
	switch {
	case p.ID == "":
		return errs.Invalid(f("id"), "required", "plan id is required")
	case !idRE.MatchString(p.ID):
		return errs.Invalid(f("id"), "invalid_format", "plan id must be 1-32 lowercase letters, digits, '-' or '_'")
	case strings.TrimSpace(p.Name) == "":
		return errs.Invalid(f("name"), "required", "plan name is required")
	case len([]rune(p.Name)) > maxNameLen:
		return errs.Invalid(f("name"), "too_long", "plan name must be at most %d characters", maxNameLen)
	case p.PriceMonthlyCents < 0:
		return errs.Invalid(f("price_monthly_cents"), "negative", "monthly price must not be negative")
	case p.PriceYearlyCents < 0:
		return errs.Invalid(f("price_yearly_cents"), "negative", "yearly price must not be negative")
	case p.RetentionDays < 0:
		return errs.Invalid(f("retention_days"), "negative", "retention days must not be negative (0 keeps signals forever)")
	case p.Overages && !p.Paid():
		return errs.Invalid(f("overages"), "overages_paid_only", "overages are only allowed on paid plans")
	}
	for _, m := range Meters() {
		if p.Limits.Get(m) < 0 {
			return errs.Invalid(f("limits."+string(m)), "negative", "%s limit must not be negative (0 is unlimited)", m)
		}
		if p.OverageUnitCents.Get(m) < 0 {
			return errs.Invalid(f("overage_unit_cents."+string(m)), "negative", "%s overage price must not be negative", m)
		}
	}
	return nil
}

// ValidatePlans validates an operator's plan list: at least one plan, each
// valid, ids unique. Fields are "plans[i].…".
func ValidatePlans(plans []Plan) error {
	if len(plans) == 0 {
		return errs.Invalid("plans", "required", "at least one plan is required")
	}
	seen := make(map[string]bool, len(plans))
	for i, p := range plans {
		prefix := "plans[" + strconv.Itoa(i) + "]."
		if e := p.validate(prefix); e != nil {
			return e
		}
		if seen[p.ID] {
			return errs.Invalid(prefix+"id", "duplicate", "plan id %q is defined twice", p.ID)
		}
		seen[p.ID] = true
	}
	return nil
}

// Find returns the plan with the given id.
func Find(plans []Plan, id string) (Plan, bool) {
	for _, p := range plans {
		if p.ID == id {
			return p, true
		}
	}
	return Plan{}, false
}

// DefaultPlans is the shipped set, used when the operator defines none. The
// numbers are our choice, not the hosted product's (its docs publish none):
// yearly is exactly 20% off twelve months; "free" matches tenant.DefaultPlan
// and cannot have overages; paid plans allow overages (orgs turn them on).
//
//	plan     $/month  $/year  signals  models  leads    evals    refinements  retention  SparkSense
//	free     0        0       10,000   1       1,000    500      5            30 d       no
//	starter  49       470.40  100,000  3       10,000   5,000    25           90 d       no
//	growth   199      1910.40 1M       10      50,000   25,000   100          365 d      yes
//	scale    799      7670.40 10M      ∞       250,000  150,000  ∞            730 d      yes
//
// Overage prices (cents): per 1,000 signals 50/40/25, per model 1000/800/-,
// per active lead 2/1/1, per evaluation 3/2/1, per refinement 100/75/-.
func DefaultPlans() []Plan {
	yearly := func(monthly int64) int64 { return monthly * 12 * 80 / 100 }
	return []Plan{
		{
			ID: "free", Name: "Free",
			Limits:        Limits{Signals: 10_000, Models: 1, ActiveLeads: 1_000, Evaluations: 500, Refinements: 5},
			RetentionDays: 30,
		},
		{
			ID: "starter", Name: "Starter",
			PriceMonthlyCents: 4_900, PriceYearlyCents: yearly(4_900),
			Limits:           Limits{Signals: 100_000, Models: 3, ActiveLeads: 10_000, Evaluations: 5_000, Refinements: 25},
			RetentionDays:    90,
			Overages:         true,
			OverageUnitCents: UnitPrices{Signals: 50, Models: 1_000, ActiveLeads: 2, Evaluations: 3, Refinements: 100},
		},
		{
			ID: "growth", Name: "Growth",
			PriceMonthlyCents: 19_900, PriceYearlyCents: yearly(19_900),
			Limits:           Limits{Signals: 1_000_000, Models: 10, ActiveLeads: 50_000, Evaluations: 25_000, Refinements: 100},
			RetentionDays:    365,
			SparkSense:       true,
			Overages:         true,
			OverageUnitCents: UnitPrices{Signals: 40, Models: 800, ActiveLeads: 1, Evaluations: 2, Refinements: 75},
		},
		{
			ID: "scale", Name: "Scale",
			PriceMonthlyCents: 79_900, PriceYearlyCents: yearly(79_900),
			Limits:           Limits{Signals: 10_000_000, Models: 0, ActiveLeads: 250_000, Evaluations: 150_000, Refinements: 0},
			RetentionDays:    730,
			SparkSense:       true,
			Overages:         true,
			OverageUnitCents: UnitPrices{Signals: 25, ActiveLeads: 1, Evaluations: 1},
		},
	}
}
