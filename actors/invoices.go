package actors

import (
	"context"
	"sort"
	"time"

	"github.com/trailspark/trailspark/engine/plan"
	"github.com/trailspark/trailspark/engine/tenant"
)

// Invoice is a computed billing record for one usage period (SPEC §5;
// provider-neutral: nothing is charged — a billing connector would take
// these). The plan is the one in force at the period's end; lines are the
// base price, prorated upgrade charges made in the period, and overage
// per meter.
type Invoice struct {
	Period     plan.Period   `json:"period"`
	Plan       string        `json:"plan"`
	Cycle      plan.Cycle    `json:"cycle"`
	Lines      []InvoiceLine `json:"lines"`
	TotalCents int64         `json:"total_cents"`
	// Status: "open" for the current period (it still changes), "final"
	// for ended ones.
	Status string `json:"status"`
}

// InvoiceLine is one amount on an invoice.
type InvoiceLine struct {
	Kind        string     `json:"kind"` // base | proration | overage
	Description string     `json:"description"`
	Meter       plan.Meter `json:"meter,omitempty"`
	Units       int64      `json:"units,omitempty"`
	UnitCents   int64      `json:"unit_cents,omitempty"`
	AmountCents int64      `json:"amount_cents"`
}

// Invoices computes the invoices of the current and past periods, newest
// first (Owner/Admin).
func (c *Client) Invoices(ctx context.Context, caller tenant.Caller, org string) ([]Invoice, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapManageOrg); err != nil {
		return nil, err
	}
	cur, err := c.usage(ctx, org, time.Time{})
	if err != nil {
		return nil, err
	}
	snap := cur.snap
	hist, err := c.usageHistory(ctx, org, cur.Period, snap.Anchor)
	if err != nil {
		return nil, err
	}
	plans := c.env.plans()
	periods := []UsageSummary{{Period: cur.Period, Used: cur.usage.Used}}
	periods = append(periods, hist...)
	out := make([]Invoice, 0, len(periods))
	for _, u := range periods {
		planID, cycle := planAt(snap, cur.Plan, u.Period.End.Add(-time.Nanosecond)) // the plan billed for the period
		p, ok := plan.Find(plans, planID)
		if !ok {
			p, _ = plan.Find(plans, tenant.DefaultPlan)
		}
		inv := Invoice{Period: u.Period, Plan: p.ID, Cycle: cycle, Lines: []InvoiceLine{}, Status: "final"}
		if u.Period == cur.Period {
			inv.Status = "open"
		}
		base := p.PriceMonthlyCents
		desc := p.Name + ", monthly"
		if cycle == plan.Yearly {
			base, desc = p.PriceYearlyCents/12, p.Name+", yearly (a twelfth)"
		}
		inv.Lines = append(inv.Lines, InvoiceLine{Kind: "base", Description: desc, AmountCents: base})
		for _, ch := range snap.Changes {
			if ch.ChargeCents > 0 && u.Period.Contains(ch.At) {
				inv.Lines = append(inv.Lines, InvoiceLine{Kind: "proration", Description: ch.Kind + " " + ch.From + " → " + ch.To, AmountCents: ch.ChargeCents})
			}
		}
		usage := plan.Usage{Period: u.Period, Used: u.Used}
		for _, m := range plan.Meters() {
			charges := plan.Charges(p, usage)
			if amt := charges[m]; amt > 0 {
				inv.Lines = append(inv.Lines, InvoiceLine{Kind: "overage", Description: string(m) + " over the plan's limit", Meter: m,
					Units: plan.Overage(usage.Get(m), p.Limits.Get(m)), UnitCents: p.OverageUnitCents.Get(m), AmountCents: amt})
			}
		}
		for _, l := range inv.Lines {
			inv.TotalCents += l.AmountCents
		}
		out = append(out, inv)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Period.Start.After(out[j].Period.Start) })
	return out, nil
}

// planAt is the plan and cycle in force at t, from the recorded changes
// (the current plan when nothing changed after t).
func planAt(snap *billingSnapshot, current string, t time.Time) (string, plan.Cycle) {
	id, cycle := current, snap.Cycle
	// Walk back from the newest change: a change after t means the plan
	// before it was in force at t.
	for i := len(snap.Changes) - 1; i >= 0; i-- {
		ch := snap.Changes[i]
		if !ch.At.After(t) {
			break
		}
		switch ch.Kind {
		case "upgrade", "downgrade_applied", "cycle":
			id = ch.From
		}
	}
	return id, cycle
}
