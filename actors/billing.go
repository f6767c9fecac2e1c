package actors

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/plan"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// Plans, billing and usage (SPEC §5). The org grain owns the plan state and
// counts the meters it is the single writer for (models, refinements); the
// ingest partition grains count signals, active leads and evaluations in
// per-partition counters written atomically with the leads they concern
// (usage_counters.go); usage is the sum.

func (e *Env) plans() []plan.Plan {
	if len(e.Plans) > 0 {
		return e.Plans
	}
	return plan.DefaultPlans()
}

const (
	opBillingGet      = "billing.get"
	opBillingChange   = "billing.change"
	opBillingCancel   = "billing.cancel"
	opBillingOverages = "billing.overages"
	opBillingSnapshot = "billing.snapshot"
)

// BillingView is an organization's plan state.
type BillingView struct {
	Plan      plan.Plan             `json:"plan"`
	Cycle     plan.Cycle            `json:"cycle"`
	Overages  bool                  `json:"overages"`
	Period    plan.Period           `json:"period"`
	Term      plan.Period           `json:"term"`
	Scheduled *plan.ScheduledChange `json:"scheduled,omitempty"`
	Changes   []tenant.PlanChange   `json:"changes"`
}

// billingSnapshot is what other grains need of the plan state.
type billingSnapshot struct {
	Plan     plan.Plan             `json:"plan"`
	Anchor   time.Time             `json:"anchor"`
	Counts   *tenant.OrgCounts     `json:"counts"`
	Period   plan.Period           `json:"period"`
	Cycle    plan.Cycle            `json:"cycle"`
	Overages bool                  `json:"overages"`
	Sched    *plan.ScheduledChange `json:"scheduled,omitempty"`
	Changes  []tenant.PlanChange   `json:"changes"`
}

type changePlanBody struct {
	PlanID string     `json:"plan_id"`
	Cycle  plan.Cycle `json:"cycle"`
	Usage  plan.Usage `json:"usage"`
}

type overagesBody struct {
	On bool `json:"on"`
}

func billingViewOf(st *tenant.State, plans []plan.Plan, now time.Time) BillingView {
	v := BillingView{Plan: st.CurrentPlan(plans), Cycle: st.Billing.Cycle, Overages: st.Billing.Overages,
		Period: st.UsagePeriod(now), Term: plan.BillingPeriod(st.Billing.Anchor, now, st.Billing.Cycle),
		Scheduled: st.Billing.Scheduled, Changes: st.Billing.Changes}
	if v.Changes == nil {
		v.Changes = []tenant.PlanChange{}
	}
	return v
}

func init() {
	orgOps[opBillingSnapshot] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if t.state == nil || t.state.Deleted {
			return nil, errs.NotFound("organization")
		}
		plans := g.env.plans()
		st := stateWithBilling(t.state, plans, t.now)
		p := st.UsagePeriod(t.now)
		counts := tenant.OrgCounts{}
		if c := st.Billing.Counts[tenant.PeriodKey(p)]; c != nil {
			counts = *c
		}
		return billingSnapshot{Plan: st.CurrentPlan(plans), Anchor: st.Billing.Anchor, Counts: &counts, Period: p,
			Cycle: st.Billing.Cycle, Overages: st.Billing.Overages, Sched: st.Billing.Scheduled, Changes: st.Billing.Changes}, nil
	}}
	orgOps[opBillingGet] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapManageOrg); err != nil {
			return nil, err
		}
		st := stateWithBilling(t.state, g.env.plans(), t.now)
		return billingViewOf(&st, g.env.plans(), t.now), nil
	}}
	orgOps[opBillingChange] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapManageOrg); err != nil {
			return nil, err
		}
		var b changePlanBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		res, err := t.state.ChangePlan(g.env.plans(), b.PlanID, b.Cycle, b.Usage, t.now)
		if err != nil {
			return nil, err
		}
		// Grains cache the plan with the configuration.
		t.state.ConfigVersion++
		t.configChanged(g.id)
		return struct {
			*tenant.ChangeResult
			Billing BillingView `json:"billing"`
		}{res, billingViewOf(t.state, g.env.plans(), t.now)}, nil
	}}
	orgOps[opBillingCancel] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapManageOrg); err != nil {
			return nil, err
		}
		t.state.EnsureBilling(g.env.plans(), t.now)
		if err := t.state.CancelScheduled(t.now); err != nil {
			return nil, err
		}
		return billingViewOf(t.state, g.env.plans(), t.now), nil
	}}
	orgOps[opBillingOverages] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapManageOrg); err != nil {
			return nil, err
		}
		var b overagesBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		if err := t.state.SetOverages(g.env.plans(), b.On, t.now); err != nil {
			return nil, err
		}
		t.state.ConfigVersion++
		t.configChanged(g.id)
		return billingViewOf(t.state, g.env.plans(), t.now), nil
	}}
}

// stateWithBilling is a read's view of the plan state: defaults and a due
// scheduled change applied on a copy (the next write persists them), so
// reads never write the org document.
func stateWithBilling(s *tenant.State, plans []plan.Plan, now time.Time) tenant.State {
	st := *s
	if st.Billing != nil {
		b := *st.Billing
		st.Billing = &b
	}
	st.EnsureBilling(plans, now)
	return st
}

// countOrgMeter decides and counts one unit of an org-level meter (models,
// refinements) inside an org grain write: refused with quota_exceeded at
// the limit with overages off.
func (g *orgGrain) countOrgMeter(t *orgTx, m plan.Meter) error {
	plans := g.env.plans()
	t.state.EnsureBilling(plans, t.now)
	p := t.state.UsagePeriod(t.now)
	c := t.state.OrgCountsFor(p)
	u := plan.Usage{Period: p, Used: map[plan.Meter]int64{plan.MeterModels: c.Models, plan.MeterRefinements: c.Refinements}}
	if d := plan.Decide(t.state.CurrentPlan(plans), u, m, 1, t.now); !d.Allowed {
		return d.AsError()
	}
	before := u.Get(m)
	switch m {
	case plan.MeterModels:
		c.Models++
	case plan.MeterRefinements:
		c.Refinements++
	}
	g.env.usageCrossed(g.id, m, before, before+1, t.state.CurrentPlan(plans).Limits.Get(m))
	g.env.countUnits(g.id, string(m), 1)
	return nil
}

// Billing returns the plan state (Owner/Admin).
func (c *Client) Billing(ctx context.Context, caller tenant.Caller, org string) (*BillingView, error) {
	var out BillingView
	return &out, c.call(ctx, caller, org, opBillingGet, nil, &out)
}

// ChangePlanResult is a plan change and the billing state after it.
type ChangePlanResult struct {
	tenant.ChangeResult
	Billing BillingView `json:"billing"`
}

// ChangePlan upgrades at once (prorated) or schedules a downgrade for the
// end of the term, warning about meters above the lower plan's limits
// (Owner/Admin).
func (c *Client) ChangePlan(ctx context.Context, caller tenant.Caller, org, planID string, cycle plan.Cycle) (*ChangePlanResult, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapManageOrg); err != nil {
		return nil, err
	}
	u, err := c.usage(ctx, org, time.Time{})
	if err != nil {
		return nil, err
	}
	var out ChangePlanResult
	return &out, c.call(ctx, caller, org, opBillingChange, changePlanBody{PlanID: planID, Cycle: cycle, Usage: u.usage}, &out)
}

// CancelPlanChange keeps the current plan (drops a scheduled downgrade).
func (c *Client) CancelPlanChange(ctx context.Context, caller tenant.Caller, org string) (*BillingView, error) {
	var out BillingView
	return &out, c.call(ctx, caller, org, opBillingCancel, nil, &out)
}

// SetOverages turns overages on or off (paid plans only).
func (c *Client) SetOverages(ctx context.Context, caller tenant.Caller, org string, on bool) (*BillingView, error) {
	var out BillingView
	return &out, c.call(ctx, caller, org, opBillingOverages, overagesBody{On: on}, &out)
}

func (c *Client) billingSnapshot(ctx context.Context, org string) (*billingSnapshot, error) {
	var out billingSnapshot
	return &out, c.call(ctx, tenantCallerSystem, org, opBillingSnapshot, nil, &out)
}

// MeterView is one meter of a period.
type MeterView struct {
	Meter        plan.Meter `json:"meter"`
	Used         int64      `json:"used"`
	Limit        int64      `json:"limit"` // 0: unlimited
	State        plan.Level `json:"state"`
	Percent      float64    `json:"percent"`
	Overage      int64      `json:"overage"`
	OverageCents int64      `json:"overage_cents"`
	UnitCents    int64      `json:"unit_cents"`
}

// UsageView is an organization's usage for one period.
type UsageView struct {
	Period       plan.Period    `json:"period"`
	Plan         string         `json:"plan"`
	Current      bool           `json:"current"`
	Meters       []MeterView    `json:"meters"`
	OverageCents int64          `json:"overage_cents"`
	BaseCents    int64          `json:"base_cents"`
	TotalCents   int64          `json:"total_cents"`
	History      []UsageSummary `json:"history,omitempty"`
	usage        plan.Usage
	snap         *billingSnapshot // the plan state the view was computed with
}

// UsageSummary is a past period in the history.
type UsageSummary struct {
	Period plan.Period          `json:"period"`
	Used   map[plan.Meter]int64 `json:"used"`
}

// Usage reports the meters of the period containing at (zero: now), with
// states, overage and estimated charges, and the history of past periods
// (Owner/Admin).
func (c *Client) Usage(ctx context.Context, caller tenant.Caller, org string, at time.Time) (*UsageView, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapManageOrg); err != nil {
		return nil, err
	}
	v, err := c.usage(ctx, org, at)
	if err != nil {
		return nil, err
	}
	v.History, err = c.usageHistory(ctx, org, v.Period, v.snap.Anchor)
	return v, err
}

func (c *Client) usage(ctx context.Context, org string, at time.Time) (*UsageView, error) {
	snap, err := c.billingSnapshot(ctx, org)
	if err != nil {
		return nil, err
	}
	now := c.env.now()
	period := snap.Period
	if !at.IsZero() {
		period = plan.PeriodFor(snap.Anchor, at)
	}
	u := plan.Usage{Period: period, Used: map[plan.Meter]int64{}}
	pu, err := c.env.sumPartitionUsage(ctx, org, period)
	if err != nil {
		return nil, err
	}
	u.Used[plan.MeterSignals] = pu.Signals
	u.Used[plan.MeterActiveLeads] = pu.ActiveLeads
	u.Used[plan.MeterEvaluations] = pu.Evaluations + pu.APIEvaluations
	oc, err := c.orgCounts(ctx, org, period, snap)
	if err != nil {
		return nil, err
	}
	u.Used[plan.MeterModels], u.Used[plan.MeterRefinements] = oc.Models, oc.Refinements
	p := snap.Plan
	v := &UsageView{Period: period, Plan: p.ID, Current: period.Contains(now), usage: u, snap: snap}
	charges := plan.Charges(p, u)
	for _, m := range plan.Meters() {
		lim := p.Limits.Get(m)
		mv := MeterView{Meter: m, Used: u.Get(m), Limit: lim, State: plan.State(u.Get(m), lim), Overage: plan.Overage(u.Get(m), lim),
			OverageCents: charges[m], UnitCents: p.OverageUnitCents.Get(m)}
		if lim > 0 {
			mv.Percent = float64(mv.Used) * 100 / float64(lim)
		}
		v.Meters = append(v.Meters, mv)
	}
	v.OverageCents = plan.Total(charges)
	v.BaseCents = p.PriceMonthlyCents
	if snap.Cycle == plan.Yearly {
		v.BaseCents = p.PriceYearlyCents / 12
	}
	v.TotalCents = v.BaseCents + v.OverageCents
	return v, nil
}

// orgCounts reads the org-level counts of any period from the org state.
func (c *Client) orgCounts(ctx context.Context, org string, p plan.Period, snap *billingSnapshot) (tenant.OrgCounts, error) {
	if p == snap.Period && snap.Counts != nil {
		return *snap.Counts, nil
	}
	var doc orgDoc
	if _, err := c.env.loadJSON(ctx, keyOrgState(org), &doc); err != nil {
		return tenant.OrgCounts{}, storeErr(err)
	}
	if doc.State == nil || doc.State.Billing == nil {
		return tenant.OrgCounts{}, nil
	}
	if oc := doc.State.Billing.Counts[tenant.PeriodKey(p)]; oc != nil {
		return *oc, nil
	}
	return tenant.OrgCounts{}, nil
}

// usageHistory lists the periods before current that have counters.
func (c *Client) usageHistory(ctx context.Context, org string, current plan.Period, anchor time.Time) ([]UsageSummary, error) {
	byPeriod := map[string]map[plan.Meter]int64{}
	base := append(store.TenantKey(org, "usage"), '/')
	err := c.env.Store.Scan(ctx, base, nil, func(it store.Item) error {
		rest := string(it.Key[len(base):])
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return nil
		}
		pk := rest[:i]
		var pu partitionUsage
		if err := json.Unmarshal(it.Value, &pu); err != nil {
			return err
		}
		m := byPeriod[pk]
		if m == nil {
			m = map[plan.Meter]int64{}
			byPeriod[pk] = m
		}
		m[plan.MeterSignals] += pu.Signals
		m[plan.MeterActiveLeads] += pu.ActiveLeads
		m[plan.MeterEvaluations] += pu.Evaluations + pu.APIEvaluations
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	var doc orgDoc
	if _, err := c.env.loadJSON(ctx, keyOrgState(org), &doc); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, storeErr(err)
	}
	if doc.State != nil && doc.State.Billing != nil {
		for pk, oc := range doc.State.Billing.Counts {
			m := byPeriod[pk]
			if m == nil {
				m = map[plan.Meter]int64{}
				byPeriod[pk] = m
			}
			m[plan.MeterModels], m[plan.MeterRefinements] = oc.Models, oc.Refinements
		}
	}
	out := []UsageSummary{}
	for pk, used := range byPeriod {
		start, err := time.Parse(time.RFC3339, pk)
		if err != nil || !start.Before(current.Start) {
			continue
		}
		out = append(out, UsageSummary{Period: plan.PeriodFor(anchor, start), Used: used})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Period.Start.After(out[j].Period.Start) })
	return out, nil
}
