package tenant

import (
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/plan"
)

// Billing is an organization's plan state (SPEC §5): the plan itself is
// Org.Plan; this holds the cycle, the anchor of its periods, the overage
// switch, a scheduled downgrade, the org-level meters the org grain counts
// (models, refinements) per usage period, and the history of changes.
// Provider-neutral: amounts are computed records, never charges.
type Billing struct {
	Cycle     plan.Cycle            `json:"cycle"`
	Anchor    time.Time             `json:"anchor"`
	Overages  bool                  `json:"overages"`
	Scheduled *plan.ScheduledChange `json:"scheduled,omitempty"`
	// Counts are per usage period, keyed by the period start (RFC 3339).
	Counts map[string]*OrgCounts `json:"counts,omitempty"`
	// Changes is the history of plan and cycle changes with their amounts.
	Changes []PlanChange `json:"changes,omitempty"`
}

// OrgCounts are the meters the org grain counts itself.
type OrgCounts struct {
	Models      int64 `json:"models"`
	Refinements int64 `json:"refinements"`
}

// PlanChange is one recorded change.
type PlanChange struct {
	At          time.Time  `json:"at"`
	Kind        string     `json:"kind"` // upgrade | downgrade_scheduled | downgrade_applied | downgrade_cancelled | cycle | overages_on | overages_off
	From        string     `json:"from"`
	To          string     `json:"to"`
	Cycle       plan.Cycle `json:"cycle"`
	ChargeCents int64      `json:"charge_cents"`
}

// PeriodKey names a usage period in storage.
func PeriodKey(p plan.Period) string { return p.Start.UTC().Format(time.RFC3339) }

// EnsureBilling gives an organization its billing state (monthly, periods
// anchored at its creation) and applies a scheduled change that is due.
// It reports whether it changed anything.
func (s *State) EnsureBilling(plans []plan.Plan, now time.Time) bool {
	changed := false
	if s.Billing == nil {
		s.Billing = &Billing{Cycle: plan.Monthly, Anchor: s.Org.CreatedAt.UTC()}
		changed = true
	}
	if sc := s.Billing.Scheduled; sc != nil && sc.Due(now) {
		from := s.Org.Plan
		if _, ok := plan.Find(plans, sc.PlanID); ok {
			s.Org.Plan = sc.PlanID
		}
		s.Billing.Cycle = sc.Cycle
		s.Billing.Changes = append(s.Billing.Changes, PlanChange{At: sc.Effective, Kind: "downgrade_applied", From: from, To: sc.PlanID, Cycle: sc.Cycle})
		s.Billing.Scheduled = nil
		if p, ok := plan.Find(plans, s.Org.Plan); ok && !p.Overages {
			s.Billing.Overages = false
		}
		changed = true
	}
	return changed
}

// CurrentPlan is the organization's plan (the default plan when its id is
// no longer offered) with the org's overage switch applied.
func (s *State) CurrentPlan(plans []plan.Plan) plan.Plan {
	p, ok := plan.Find(plans, s.Org.Plan)
	if !ok {
		p, _ = plan.Find(plans, DefaultPlan)
	}
	on := s.Billing != nil && s.Billing.Overages
	return p.WithOverages(on)
}

// UsagePeriod is the current monthly usage period.
func (s *State) UsagePeriod(now time.Time) plan.Period {
	anchor := s.Org.CreatedAt
	if s.Billing != nil && !s.Billing.Anchor.IsZero() {
		anchor = s.Billing.Anchor
	}
	return plan.PeriodFor(anchor.UTC(), now.UTC())
}

// OrgCountsFor returns (creating) the org-level counts of a period.
func (s *State) OrgCountsFor(p plan.Period) *OrgCounts {
	if s.Billing.Counts == nil {
		s.Billing.Counts = map[string]*OrgCounts{}
	}
	k := PeriodKey(p)
	c := s.Billing.Counts[k]
	if c == nil {
		c = &OrgCounts{}
		s.Billing.Counts[k] = c
	}
	return c
}

// ChangeResult is what a plan change did.
type ChangeResult struct {
	Kind        string                `json:"kind"` // upgrade | downgrade_scheduled | cycle
	ChargeCents int64                 `json:"charge_cents"`
	Effective   time.Time             `json:"effective"`
	Warnings    []plan.Meter          `json:"warnings"` // meters above the lower plan's limits
	Scheduled   *plan.ScheduledChange `json:"scheduled,omitempty"`
}

// ChangePlan moves the organization to planID on cycle: a dearer plan at
// once (prorated charge), a cheaper one at the end of the billing term
// (scheduled; cancellable), the same plan on another cycle per
// plan.SwitchCycle. usage is the current period's usage (for warnings).
func (s *State) ChangePlan(plans []plan.Plan, planID string, cycle plan.Cycle, usage plan.Usage, now time.Time) (*ChangeResult, error) {
	s.EnsureBilling(plans, now)
	if cycle == "" {
		cycle = s.Billing.Cycle
	}
	if !cycle.Valid() {
		return nil, errs.Invalid("cycle", "invalid_enum", "cycle must be monthly or yearly")
	}
	to, ok := plan.Find(plans, planID)
	if !ok {
		return nil, errs.Invalid("plan", "unknown_plan", "no plan %q is offered", planID)
	}
	from := s.CurrentPlan(plans)
	term := plan.BillingPeriod(s.Billing.Anchor, now, s.Billing.Cycle)
	switch {
	case to.ID == from.ID && cycle == s.Billing.Cycle:
		return nil, errs.Conflict("same_plan", "plan", "the organization is already on this plan and cycle")
	case to.ID == from.ID:
		cc := plan.SwitchCycle(from, s.Billing.Cycle, cycle, term, now)
		res := &ChangeResult{Kind: "cycle", ChargeCents: cc.ChargeCents, Effective: cc.Effective, Warnings: []plan.Meter{}}
		if cc.Effective.After(now) {
			sc := plan.ScheduledChange{PlanID: to.ID, Cycle: cycle, Effective: cc.Effective}
			s.Billing.Scheduled, res.Scheduled = &sc, &sc
		} else {
			s.Billing.Cycle = cycle
			s.Billing.Scheduled = nil
		}
		s.Billing.Changes = append(s.Billing.Changes, PlanChange{At: now, Kind: "cycle", From: from.ID, To: to.ID, Cycle: cycle, ChargeCents: cc.ChargeCents})
		return res, nil
	case to.Price(cycle) > from.Price(s.Billing.Cycle) || (to.Price(cycle) == from.Price(s.Billing.Cycle) && !from.Paid() && to.Paid()):
		charge := plan.Upgrade(from, to, cycle, term, now)
		s.Org.Plan, s.Billing.Cycle, s.Billing.Scheduled = to.ID, cycle, nil
		s.Billing.Changes = append(s.Billing.Changes, PlanChange{At: now, Kind: "upgrade", From: from.ID, To: to.ID, Cycle: cycle, ChargeCents: charge})
		return &ChangeResult{Kind: "upgrade", ChargeCents: charge, Effective: now, Warnings: []plan.Meter{}}, nil
	default:
		sc, err := plan.ScheduleDowngrade(from, to, cycle, term, now)
		if err != nil {
			return nil, err
		}
		s.Billing.Scheduled = &sc
		s.Billing.Changes = append(s.Billing.Changes, PlanChange{At: now, Kind: "downgrade_scheduled", From: from.ID, To: to.ID, Cycle: cycle})
		w := plan.Exceeds(usage, to)
		if w == nil {
			w = []plan.Meter{}
		}
		return &ChangeResult{Kind: "downgrade_scheduled", Effective: sc.Effective, Warnings: w, Scheduled: &sc}, nil
	}
}

// CancelScheduled drops a scheduled change ("keep current plan").
func (s *State) CancelScheduled(now time.Time) error {
	if s.Billing == nil || s.Billing.Scheduled == nil {
		return errs.Conflict("nothing_scheduled", "", "no plan change is scheduled")
	}
	s.Billing.Changes = append(s.Billing.Changes, PlanChange{At: now, Kind: "downgrade_cancelled", From: s.Org.Plan, To: s.Billing.Scheduled.PlanID, Cycle: s.Billing.Scheduled.Cycle})
	s.Billing.Scheduled = nil
	return nil
}

// SetOverages turns overages on or off; only paid plans that allow them
// may turn them on.
func (s *State) SetOverages(plans []plan.Plan, on bool, now time.Time) error {
	s.EnsureBilling(plans, now)
	p, ok := plan.Find(plans, s.Org.Plan) // the plan as offered, not with the org's switch applied
	if !ok {
		p, _ = plan.Find(plans, DefaultPlan)
	}
	if on && (!p.Paid() || !p.Overages) {
		return errs.Conflict("overages_not_allowed", "overages", "plan "+p.Name+" does not allow overages; upgrade to a paid plan first")
	}
	if s.Billing.Overages == on {
		return nil
	}
	s.Billing.Overages = on
	kind := "overages_off"
	if on {
		kind = "overages_on"
	}
	s.Billing.Changes = append(s.Billing.Changes, PlanChange{At: now, Kind: kind, From: p.ID, To: p.ID, Cycle: s.Billing.Cycle})
	return nil
}
