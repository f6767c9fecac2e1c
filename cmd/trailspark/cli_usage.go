package main

// Plans, usage and billing (SPEC §5): `trailspark usage` prints each meter
// as a bar; `trailspark billing` shows and changes the plan.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// usageDoc is the part of GET …/usage the CLI prints.
type usageDoc struct {
	Period struct {
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	} `json:"period"`
	Plan    string `json:"plan"`
	Current bool   `json:"current"`
	Meters  []struct {
		Meter        string  `json:"meter"`
		Used         int64   `json:"used"`
		Limit        int64   `json:"limit"`
		State        string  `json:"state"`
		Percent      float64 `json:"percent"`
		Overage      int64   `json:"overage"`
		OverageCents int64   `json:"overage_cents"`
	} `json:"meters"`
	OverageCents int64 `json:"overage_cents"`
	BaseCents    int64 `json:"base_cents"`
	TotalCents   int64 `json:"total_cents"`
	History      []struct {
		Period struct {
			Start time.Time `json:"start"`
		} `json:"period"`
		Used map[string]int64 `json:"used"`
	} `json:"history"`
}

// bar draws used/limit in width cells: "█" used, "░" left; past the
// limit the bar is full and marked.
func bar(used, limit int64, width int) string {
	if limit <= 0 {
		return strings.Repeat("·", width) + " unlimited"
	}
	filled := int(float64(used) / float64(limit) * float64(width))
	over := filled > width
	filled = min(max(filled, 0), width)
	s := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	if over {
		s += " over"
	}
	return s
}

func money(cents int64) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }

func usageTable(w io.Writer, u *usageDoc) {
	fmt.Fprintf(w, "plan %s, period %s – %s\n\n", u.Plan, u.Period.Start.Format("2006-01-02"), u.Period.End.Format("2006-01-02"))
	for _, m := range u.Meters {
		limit := "∞"
		if m.Limit > 0 {
			limit = fmt.Sprint(m.Limit)
		}
		line := fmt.Sprintf("%-13s %s %d / %s  %s", m.Meter, bar(m.Used, m.Limit, 30), m.Used, limit, m.State)
		if m.Overage > 0 {
			line += fmt.Sprintf("  (+%d over, %s)", m.Overage, money(m.OverageCents))
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "\nbase %s + overage %s = %s (estimate)\n", money(u.BaseCents), money(u.OverageCents), money(u.TotalCents))
	if len(u.History) > 0 {
		fmt.Fprintln(w, "\nhistory:")
		for _, h := range u.History {
			fmt.Fprintf(w, "  %s  signals %d, active leads %d, evaluations %d, models %d, refinements %d\n", h.Period.Start.Format("2006-01-02"),
				h.Used["signals"], h.Used["active_leads"], h.Used["evaluations"], h.Used["models"], h.Used["refinements"])
		}
	}
}

func newUsageCmd() *cobra.Command {
	var period string
	cmd := &cobra.Command{
		Use:   "usage ORG",
		Short: "Show the organization's usage meters as bars (Admin)",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			q := url.Values{}
			if period != "" {
				q.Set("period", period)
			}
			var u usageDoc
			raw, err := c.getRaw(orgPath(args[0], "usage"), q, &u)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { usageTable(w, &u) })
		}),
	}
	cmd.Flags().StringVar(&period, "period", "", "a date (YYYY-MM-DD) within the period to show (default: the current one)")
	return cmd
}

type billingDoc struct {
	Plan struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"plan"`
	Cycle     string `json:"cycle"`
	Overages  bool   `json:"overages"`
	Scheduled *struct {
		PlanID    string    `json:"plan_id"`
		Cycle     string    `json:"cycle"`
		Effective time.Time `json:"effective"`
	} `json:"scheduled"`
	Kind        string    `json:"kind"`
	ChargeCents int64     `json:"charge_cents"`
	Effective   time.Time `json:"effective"`
	Warnings    []string  `json:"warnings"`
}

func billingTable(w io.Writer, b *billingDoc) {
	if b.Kind != "" {
		row(w, "CHANGE", b.Kind)
		row(w, "EFFECTIVE", b.Effective.Format(time.RFC3339))
		row(w, "CHARGE (prorated)", money(b.ChargeCents))
		if len(b.Warnings) > 0 {
			row(w, "ABOVE THE NEW LIMITS", strings.Join(b.Warnings, ", "))
		}
		return
	}
	row(w, "PLAN", b.Plan.ID)
	row(w, "CYCLE", b.Cycle)
	row(w, "OVERAGES", fmt.Sprint(b.Overages))
	if b.Scheduled != nil {
		row(w, "SCHEDULED", fmt.Sprintf("%s (%s) on %s", b.Scheduled.PlanID, b.Scheduled.Cycle, b.Scheduled.Effective.Format("2006-01-02")))
	}
}

func newBillingCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "billing", Short: "Show and change an organization's plan (Admin)"}
	show := func(use, short, method, path string, body func(args []string) (any, error)) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.MinimumNArgs(1),
			RunE: run(func(c *cli, args []string) error {
				var b billingDoc
				var in any
				if body != nil {
					var err error
					if in, err = body(args); err != nil {
						return err
					}
				}
				raw, err := c.callRaw(method, orgPath(args[0], strings.Split(path, "/")...), nil, in, &b)
				if err != nil {
					return err
				}
				return c.emit(raw, func(w io.Writer) { billingTable(w, &b) })
			}),
		}
	}
	var cycle string
	change := show("change ORG PLAN", "Upgrade now (prorated) or schedule a downgrade for the period's end", http.MethodPost, "billing/change-plan",
		func(args []string) (any, error) {
			if len(args) != 2 {
				return nil, fmt.Errorf("give the organization and the plan id")
			}
			return map[string]any{"plan_id": args[1], "cycle": cycle}, nil
		})
	change.Flags().StringVar(&cycle, "cycle", "", "monthly or yearly (default: the current cycle)")
	overages := show("overages ORG on|off", "Turn overages on or off (paid plans)", http.MethodPut, "billing/overages",
		func(args []string) (any, error) {
			if len(args) != 2 || (args[1] != "on" && args[1] != "off") {
				return nil, fmt.Errorf("give the organization and on or off")
			}
			return map[string]any{"enabled": args[1] == "on"}, nil
		})
	cmd.AddCommand(
		show("show ORG", "Show the plan, cycle and any scheduled change", http.MethodGet, "billing", nil),
		change,
		show("cancel-change ORG", "Keep the current plan (drop a scheduled downgrade)", http.MethodPost, "billing/cancel-change", nil),
		overages,
	)
	return cmd
}
