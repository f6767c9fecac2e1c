package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/learn"
	"github.com/trailspark/trailspark/engine/score"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// ModelQuality is how well a model version separates the organization's
// labelled leads (SPEC §3.6). Labels are the grades people gave in
// feedback (hot or warm = would convert) and account outcomes
// (attributes.outcome won/lost, which CRM sync sets); each labelled
// evaluation is re-scored with this version's weights from its stored
// feature values, so versions can be compared on the same leads.
type ModelQuality struct {
	ModelID      string             `json:"model_id"`
	ModelVersion string             `json:"model_version"`
	Labelled     int                `json:"labelled"`
	Positives    int                `json:"positives"`
	FromFeedback int                `json:"from_feedback"`
	FromOutcomes int                `json:"from_outcomes"`
	Metrics      *learn.FoldMetrics `json:"metrics,omitempty"`
	Reliability  []learn.Bin        `json:"reliability,omitempty"`
	// Note explains missing metrics (too few labels, one class only).
	Note string `json:"note,omitempty"`
}

// MinQualityLabels is the fewest labelled leads metrics are reported for.
const MinQualityLabels = 10

// ModelQuality reports a model version's quality on the organization's
// labelled leads (Viewer and up). These are in-sample for a model refined
// on the same feedback; `trailspark backtest` gives held-out numbers on a
// labelled CSV.
func (c *Client) ModelQuality(ctx context.Context, caller tenant.Caller, org, modelID string) (*ModelQuality, error) {
	m, err := c.Model(ctx, caller, org, modelID)
	if err != nil {
		return nil, err
	}
	comp := m.Compile()
	type labelled struct {
		evalID string
		y      bool
	}
	var items []labelled
	seen := map[string]bool{} // lead ids: one label per lead
	q := &ModelQuality{ModelID: m.ID, ModelVersion: m.Label()}

	fbs, err := c.env.feedback(ctx, org, "")
	if err != nil {
		return nil, err
	}
	for _, f := range fbs {
		if seen[f.LeadID] {
			continue
		}
		seen[f.LeadID] = true
		items = append(items, labelled{f.EvaluationID, f.ExpectedGrade != score.GradeCold})
		q.FromFeedback++
	}
	outcomes, err := c.env.outcomeLabels(ctx, org, seen)
	if err != nil {
		return nil, err
	}
	for _, o := range outcomes {
		items = append(items, labelled{o.evalID, o.won})
		q.FromOutcomes++
	}
	var probs []float64
	var ys []bool
	for _, it := range items {
		ev, err := c.env.loadEvaluation(ctx, org, it.evalID)
		if err != nil {
			if errs.As(err).Kind == errs.KindNotFound {
				continue
			}
			return nil, err
		}
		z := comp.Model.Intercept
		for _, ct := range ev.Contributions {
			z += comp.Model.Weights[ct.Feature] * ct.Value
		}
		probs = append(probs, 1/(1+math.Exp(-z)))
		ys = append(ys, it.y)
		if it.y {
			q.Positives++
		}
	}
	q.Labelled = len(ys)
	switch {
	case q.Labelled < MinQualityLabels:
		q.Note = fmt.Sprintf("%d labelled leads; metrics need at least %d (give feedback, or sync CRM outcomes)", q.Labelled, MinQualityLabels)
		return q, nil
	case q.Positives == 0 || q.Positives == q.Labelled:
		q.Note = "all labelled leads have the same label; metrics need both converting and non-converting leads"
		return q, nil
	}
	fm, err := learn.Evaluate(probs, ys)
	if err != nil {
		return nil, errs.Internal(err)
	}
	fm.Test = q.Labelled
	q.Metrics = &fm
	if q.Reliability, err = learn.Reliability(probs, ys, 10); err != nil {
		return nil, errs.Internal(err)
	}
	q.Note = "in-sample on feedback and outcome labels; run trailspark backtest for held-out numbers on a labelled CSV"
	return q, nil
}

// outcomeLabel is a lead labelled by its account's CRM outcome.
type outcomeLabel struct {
	leadID, evalID string
	won            bool
}

// outcomeLabels finds the accounts whose attributes say won or lost (CRM
// sync sets attributes.outcome) and labels their evaluated leads (the
// aprop index), each with its latest evaluation; leads in skip (already
// labelled by feedback) are left out and added to it.
func (e *Env) outcomeLabels(ctx context.Context, org string, skip map[string]bool) ([]outcomeLabel, error) {
	var out []outcomeLabel
	err := e.Store.Scan(ctx, append(store.TenantKey(org, "acct"), '/'), nil, func(it store.Item) error {
		var a Account
		if err := json.Unmarshal(it.Value, &a); err != nil {
			return err
		}
		var won bool
		switch strings.ToLower(attrString(a.Attributes, "outcome")) {
		case "won", "closed won", "closed_won":
			won = true
		case "lost", "closed lost", "closed_lost":
		default:
			return nil
		}
		return e.Store.Scan(ctx, keyPropensityPrefix(org, a.ID), nil, func(p store.Item) error {
			lead := string(p.Key[len(keyPropensityPrefix(org, a.ID)):])
			if skip[lead] {
				return nil
			}
			l, _, err := e.loadLead(ctx, org, lead)
			if err != nil || l == nil || l.Evaluation == nil {
				return err
			}
			skip[lead] = true
			out = append(out, outcomeLabel{leadID: lead, evalID: l.Evaluation.ID, won: won})
			return nil
		})
	})
	return out, storeErr(err)
}
