package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/icp"
	"github.com/trailspark/trailspark/engine/plan"
	"github.com/trailspark/trailspark/engine/refine"
	"github.com/trailspark/trailspark/engine/rules"
	"github.com/trailspark/trailspark/engine/score"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// loadEvaluation reads one evaluation.
func (e *Env) loadEvaluation(ctx context.Context, org, id string) (*Evaluation, error) {
	if !credential.ValidID(id, "ev_") {
		return nil, errs.NotFound("evaluation")
	}
	var ev Evaluation
	if _, err := e.loadJSON(ctx, keyEval(org, id), &ev); err != nil {
		return nil, notFoundIf(err, "evaluation")
	}
	return &ev, nil
}

// Evaluation reads one evaluation (Viewer and up).
func (c *Client) Evaluation(ctx context.Context, caller tenant.Caller, org, id string) (*Evaluation, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	return c.env.loadEvaluation(ctx, org, id)
}

// Evaluations lists evaluations newest first: a lead's when leadID is
// set, else the organization's.
func (c *Client) Evaluations(ctx context.Context, caller tenant.Caller, org, leadID, after string, limit int) ([]Evaluation, string, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, "", err
	}
	base := store.TenantKey(org, "evt")
	if leadID != "" {
		if !strings.HasPrefix(leadID, "lead_") {
			return []Evaluation{}, "", nil
		}
		base = store.TenantKey(org, "leval", leadID)
	}
	return listIndexed(ctx, c.env, base, after, limit, func(id string) (*Evaluation, error) {
		return c.env.loadEvaluation(ctx, org, id)
	})
}

// scoringFor loads an organization's compiled scoring configuration.
func (c *Client) scoringFor(ctx context.Context, org string) (*scoringConfig, error) {
	s, _, err := c.orgScoring(org)(ctx)
	if err != nil {
		return nil, err
	}
	cfg := compileScoring(s)
	if cfg == nil {
		return nil, errs.NotFound("organization")
	}
	return cfg, nil
}

// EvaluateNow evaluates one lead at once with the active model, ignoring
// the gates and cooldown (Editor and up); evaluation rules still apply.
func (c *Client) EvaluateNow(ctx context.Context, caller tenant.Caller, org, leadID string) (*Evaluation, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapEditConfig); err != nil {
		return nil, err
	}
	if err := c.checkQuota(ctx, org, plan.MeterEvaluations); err != nil {
		return nil, err
	}
	cfg, err := c.scoringFor(ctx, org)
	if err != nil {
		return nil, err
	}
	ev, err := c.env.reevaluate(ctx, org, leadID, cfg, rules.TriggerManual)
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// reevaluate evaluates a stored lead and writes the evaluation with the
// lead (compare-and-set; a concurrent write by ingestion retries),
// counting it in the period's "api" usage counter.
func (e *Env) reevaluate(ctx context.Context, org, leadID string, cfg *scoringConfig, trigger string) (*Evaluation, error) {
	snap, err := e.client.billingSnapshot(ctx, org)
	if err != nil {
		return nil, err
	}
	return e.reevaluateCounted(ctx, org, leadID, cfg, trigger, snap, "api")
}

// reevaluateCounted is reevaluate with the plan state given and the usage
// counted under the counter key shard (period/shard).
func (e *Env) reevaluateCounted(ctx context.Context, org, leadID string, cfg *scoringConfig, trigger string, snap *billingSnapshot, shard string) (*Evaluation, error) {
	if !strings.HasPrefix(leadID, "lead_") {
		return nil, errs.NotFound("lead")
	}
	for attempt := 0; attempt < 8; attempt++ {
		l, ver, err := e.loadLead(ctx, org, leadID)
		if err != nil {
			return nil, storeErr(err)
		}
		if l == nil {
			return nil, errs.NotFound("lead")
		}
		var acct *Account
		if l.Account != nil && l.Account.AccountID != "" {
			var a Account
			if _, err := e.loadJSON(ctx, keyAccount(org, l.Account.AccountID), &a); err == nil {
				acct = &a
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, storeErr(err)
			}
		}
		ev, why, err := e.evaluateLead(cfg, l, acct, trigger, e.now())
		if err != nil {
			return nil, errs.Internal(err)
		}
		if ev == nil {
			return nil, errs.Conflict("excluded_by_rules", "", "the lead is excluded by the evaluation rules: "+why)
		}
		writes, err := evaluationWrites(org, l, ev)
		if err != nil {
			return nil, errs.Internal(err)
		}
		if writes, err = appendOutbox(ctx, e, org, ev, l, writes); err != nil { // actors/outbox.go
			return nil, storeErr(err)
		}
		uw, counted, err := e.countAPIEvaluation(ctx, org, snap, shard)
		if err != nil {
			return nil, err
		}
		writes = append(writes, uw)
		buf, err := encodeLead(l)
		if err != nil {
			return nil, errs.Internal(err)
		}
		writes = append(writes, store.Write{Key: keyLead(org, l.ID), Value: buf, Expected: ver})
		// Re-scoring reserved its evaluation in the quota view; evaluate-now
		// ("api") checked the exact counters instead and reserved nothing.
		var reserved map[plan.Meter]int64
		if shard != "api" {
			reserved = map[plan.Meter]int64{plan.MeterEvaluations: 1}
		}
		quota := e.quotaFor(org)
		landing := quota.expect(counted.period, counted.shard, counted.cur, reserved)
		_, err = e.Store.SaveBatch(ctx, writes)
		quota.landed(landing, err == nil)
		if err != nil {
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			return nil, storeErr(err)
		}
		return ev, nil
	}
	return nil, errs.Unavailable("the lead is being updated; retry", nil)
}

// Propensity is an account's propensity (SPEC §3.2) from its fit and the
// latest intent of its people.
type Propensity struct {
	Propensity string `json:"propensity"`
	FitScore   int    `json:"fit_score"`
	Leads      int    `json:"leads_evaluated"`
	TopIntent  int    `json:"top_intent_score"`
}

// AccountPropensity computes an account's propensity.
func (c *Client) AccountPropensity(ctx context.Context, org, acct string) (*Propensity, error) {
	var intents []float64
	out := &Propensity{}
	err := c.env.Store.Scan(ctx, keyPropensityPrefix(org, acct), nil, func(it store.Item) error {
		var p propensityEntry
		if err := json.Unmarshal(it.Value, &p); err != nil {
			return err
		}
		intents = append(intents, float64(p.IntentScore)/100)
		out.FitScore = max(out.FitScore, p.FitScore)
		out.TopIntent = max(out.TopIntent, p.IntentScore)
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	out.Leads = len(intents)
	out.Propensity = score.Propensity(float64(out.FitScore)/100, intents)
	return out, nil
}

// Feedback is a person's verdict on an evaluation (SPEC §3.5).
type Feedback struct {
	EvaluationID  string      `json:"evaluation_id"`
	LeadID        string      `json:"lead_id"`
	Reason        string      `json:"reason"`
	ExpectedGrade score.Grade `json:"expected_grade"`
	OriginalGrade score.Grade `json:"original_grade"`
	GivenBy       string      `json:"given_by"`
	CreatedAt     time.Time   `json:"created_at"`
	Status        string      `json:"status"` // pending | applied
	AppliedModel  string      `json:"applied_model,omitempty"`
}

// Feedback statuses.
const (
	FeedbackPending = "pending"
	FeedbackApplied = "applied"
)

// Feedback rules (SPEC §3.5).
const (
	MinFeedbackReason = 10
	MaxFeedbackReason = 1000
	FeedbackWindow    = 30 * 24 * time.Hour
)

func keyFeedback(org, evalID string) []byte { return store.TenantKey(org, "fb", evalID) }

// FeedbackInput is what a person says about an evaluation.
type FeedbackInput struct {
	Reason        string      `json:"reason"`
	ExpectedGrade score.Grade `json:"expected_grade"`
}

// GiveFeedback records feedback on an evaluation: Editors and up, reason
// of 10–1000 characters, within 30 days of the evaluation, once per
// evaluation, never edited.
func (c *Client) GiveFeedback(ctx context.Context, caller tenant.Caller, org, evalID string, in FeedbackInput) (*Feedback, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapFeedback); err != nil {
		return nil, err
	}
	n := utf8.RuneCountInString(strings.TrimSpace(in.Reason))
	if n < MinFeedbackReason || n > MaxFeedbackReason {
		return nil, errs.Invalid("reason", "invalid_length", "reason must be %d to %d characters (got %d)", MinFeedbackReason, MaxFeedbackReason, n)
	}
	switch in.ExpectedGrade {
	case score.GradeHot, score.GradeWarm, score.GradeCold:
	default:
		return nil, errs.Invalid("expected_grade", "invalid_grade", "expected_grade must be hot, warm or cold")
	}
	ev, err := c.env.loadEvaluation(ctx, org, evalID)
	if err != nil {
		return nil, err
	}
	now := c.env.now()
	if now.Sub(ev.EvaluatedAt) > FeedbackWindow {
		return nil, errs.Conflict("feedback_window_closed", "", "feedback is accepted only within 30 days of the evaluation")
	}
	fb := Feedback{EvaluationID: ev.ID, LeadID: ev.LeadID, Reason: strings.TrimSpace(in.Reason), ExpectedGrade: in.ExpectedGrade,
		OriginalGrade: ev.Grade, GivenBy: caller.UserID, CreatedAt: now, Status: FeedbackPending}
	b, err := json.Marshal(fb)
	if err != nil {
		return nil, errs.Internal(err)
	}
	if _, err := c.env.Store.Save(ctx, keyFeedback(org, ev.ID), b, 0); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, errs.Conflict("feedback_exists", "", "this evaluation already has feedback; feedback cannot be edited")
		}
		return nil, storeErr(err)
	}
	return &fb, nil
}

// FeedbackList lists feedback (status "" for all), oldest evaluation id
// first.
func (c *Client) FeedbackList(ctx context.Context, caller tenant.Caller, org, status string) ([]Feedback, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	return c.env.feedback(ctx, org, status)
}

func (e *Env) feedback(ctx context.Context, org, status string) ([]Feedback, error) {
	out := []Feedback{}
	err := e.Store.Scan(ctx, append(store.TenantKey(org, "fb"), '/'), nil, func(it store.Item) error {
		var f Feedback
		if err := json.Unmarshal(it.Value, &f); err != nil {
			return err
		}
		if status == "" || f.Status == status {
			out = append(out, f)
		}
		return nil
	})
	return out, storeErr(err)
}

// RefinementRow compares one feedback lead's grade before and after.
type RefinementRow struct {
	EvaluationID  string      `json:"evaluation_id"`
	LeadID        string      `json:"lead_id"`
	OldGrade      score.Grade `json:"old_grade"`
	NewGrade      score.Grade `json:"new_grade"`
	ExpectedGrade score.Grade `json:"expected_grade"`
	OldScore      int         `json:"old_score"`
	NewScore      int         `json:"new_score"`
}

// WeightChange is one feature whose weight the refinement moved.
type WeightChange struct {
	Feature string  `json:"feature"`
	Old     float64 `json:"old"`
	New     float64 `json:"new"`
}

// RefinementPreview is what applying pending feedback would do.
type RefinementPreview struct {
	BaseModelID string `json:"base_model_id"`
	Feedback    int    `json:"feedback"`
	Outcomes    int    `json:"outcomes"` // leads labelled by their account's CRM outcome
	// HalfLifeDays are learned per signal type when there are at least
	// MinHalfLifeLabels labels (and they beat the current ones held out).
	HalfLifeDays  map[string]float64 `json:"half_life_days,omitempty"`
	MatchedBefore int                `json:"matched_before"` // rows whose grade equalled the expected one
	MatchedAfter  int                `json:"matched_after"`
	Rows          []RefinementRow    `json:"rows"`
	Changes       []WeightChange     `json:"changes"` // largest moves first
	Summary       string             `json:"summary"`
	fitted        *icp.Fitted
	base          *tenant.ModelVersion
	pending       []Feedback
}

// PreviewRefinement builds, without applying it, the model the pending
// feedback would give (Editors and up).
func (c *Client) PreviewRefinement(ctx context.Context, caller tenant.Caller, org string) (*RefinementPreview, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapFeedback); err != nil {
		return nil, err
	}
	return c.previewRefinement(ctx, org)
}

func (c *Client) previewRefinement(ctx context.Context, org string) (*RefinementPreview, error) {
	s, _, err := c.orgScoring(org)(ctx)
	if err != nil {
		return nil, err
	}
	st := tenant.State{Scoring: s}
	base := st.Active()
	if base == nil {
		return nil, errs.NotFound("model")
	}
	comp := base.Compile()
	pending, err := c.env.feedback(ctx, org, FeedbackPending)
	if err != nil {
		return nil, err
	}
	if len(pending) == 0 {
		return nil, errs.Conflict("no_pending_feedback", "", "there is no pending feedback to refine the model with")
	}
	th := comp.Thresholds
	if th == (score.Thresholds{}) {
		th = score.DefaultThresholds
	}
	type item struct {
		fb     Feedback
		ev     *Evaluation
		values map[string]float64
	}
	var items []item
	var ex []refine.Example
	for _, f := range pending {
		ev, err := c.env.loadEvaluation(ctx, org, f.EvaluationID)
		if err != nil {
			continue // evaluation gone (org data purged): nothing to learn from
		}
		vals := map[string]float64{}
		for _, ct := range ev.Contributions {
			vals[ct.Feature] += ct.Value
		}
		items = append(items, item{f, ev, vals})
		ex = append(ex, refine.Example{Values: vals, Target: refine.TargetFor(f.ExpectedGrade, th)})
	}
	// CRM outcomes are the other labels (SPEC §3.5): the people of won
	// accounts should score hot, of lost ones cold. Leads with feedback keep
	// the person's verdict.
	skip := map[string]bool{}
	for _, it := range items {
		skip[it.ev.LeadID] = true
	}
	outcomes, err := c.env.outcomeLabels(ctx, org, skip)
	if err != nil {
		return nil, err
	}
	var windows []labelledWindow // for learning half-lives
	addWindow := func(leadID string, ev *Evaluation, converts bool) error {
		l, _, err := c.env.loadLead(ctx, org, leadID)
		if err != nil || l == nil {
			return err
		}
		windows = append(windows, labelledWindow{window: l.Window, evaluatedAt: ev.EvaluatedAt, converts: converts})
		return nil
	}
	for _, it := range items {
		if err := addWindow(it.ev.LeadID, it.ev, it.fb.ExpectedGrade != score.GradeCold); err != nil {
			return nil, storeErr(err)
		}
	}
	for _, o := range outcomes {
		ev, err := c.env.loadEvaluation(ctx, org, o.evalID)
		if err != nil {
			continue
		}
		if err := addWindow(o.leadID, ev, o.won); err != nil {
			return nil, storeErr(err)
		}
		vals := map[string]float64{}
		for _, ct := range ev.Contributions {
			vals[ct.Feature] += ct.Value
		}
		g := score.GradeCold
		if o.won {
			g = score.GradeHot
		}
		ex = append(ex, refine.Example{Values: vals, Target: refine.TargetFor(g, th)})
	}
	res, err := refine.Fit(comp.Model.Intercept, comp.Model.Weights, ex, refine.Options{})
	if err != nil {
		return nil, err
	}
	// With enough labels, half-lives are learned per signal type (the
	// weights above were fitted on the stored decayed values; re-scoring
	// then applies both).
	hl := learnHalfLives(windows)
	p := &RefinementPreview{BaseModelID: base.ID, Feedback: len(items), Outcomes: len(outcomes), HalfLifeDays: hl, base: base, pending: pending,
		fitted: &icp.Fitted{Intercept: res.Intercept, Weights: res.Weights, HalfLifeDays: hl}, Rows: []RefinementRow{}}
	for _, it := range items {
		z := refine.Logit(res.Intercept, res.Weights, it.values)
		prob := 1 / (1 + math.Exp(-z))
		newScore := int(prob*100 + 0.5)
		row := RefinementRow{EvaluationID: it.ev.ID, LeadID: it.ev.LeadID, OldGrade: it.ev.Grade, ExpectedGrade: it.fb.ExpectedGrade,
			OldScore: it.ev.Score, NewScore: newScore, NewGrade: th.Grade(float64(newScore) / 100)}
		if row.OldGrade == row.ExpectedGrade {
			p.MatchedBefore++
		}
		if row.NewGrade == row.ExpectedGrade {
			p.MatchedAfter++
		}
		p.Rows = append(p.Rows, row)
	}
	add := func(f string, old, nw float64) {
		if d := nw - old; d > 1e-3 || d < -1e-3 {
			p.Changes = append(p.Changes, WeightChange{Feature: f, Old: old, New: nw})
		}
	}
	add("(intercept)", comp.Model.Intercept, res.Intercept)
	for f, w := range res.Weights {
		add(f, comp.Model.Weights[f], w)
	}
	sort.Slice(p.Changes, func(i, j int) bool {
		a, b := abs(p.Changes[i].New-p.Changes[i].Old), abs(p.Changes[j].New-p.Changes[j].Old)
		if a != b {
			return a > b
		}
		return p.Changes[i].Feature < p.Changes[j].Feature
	})
	p.Summary = fmt.Sprintf("%d feedback and %d CRM outcomes: the current model gives the expected grade for %d of the feedback leads, the refined model for %d; %d weights move.",
		p.Feedback, p.Outcomes, p.MatchedBefore, p.MatchedAfter, len(p.Changes))
	if len(p.Changes) > 0 {
		c0 := p.Changes[0]
		p.Summary += fmt.Sprintf(" Largest change: %s %.2f → %.2f.", c0.Feature, c0.Old, c0.New)
	}
	return p, nil
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// RefinementApplied is the outcome of applying a refinement.
type RefinementApplied struct {
	Model   *tenant.ModelVersion `json:"model"`
	Preview *RefinementPreview   `json:"preview"`
	Job     *Job                 `json:"job"`
}

// JobKindRescore re-scores recently evaluated leads after a model change.
const JobKindRescore = "rescore"

// RescoreWindow: leads evaluated this recently are re-scored on apply.
const RescoreWindow = 30 * 24 * time.Hour

// ApplyRefinement builds the refined model from pending feedback, makes
// it the active version (the old one becomes inactive), marks the
// feedback applied and re-scores, as a job, the leads evaluated in the
// last 30 days (Editors and up).
func (c *Client) ApplyRefinement(ctx context.Context, caller tenant.Caller, org string) (*RefinementApplied, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapFeedback); err != nil {
		return nil, err
	}
	p, err := c.previewRefinement(ctx, org)
	if err != nil {
		return nil, err
	}
	m, err := c.CreateModel(ctx, tenantCallerSystem, org, ModelInput{
		Name: p.base.Name, Source: tenant.SourceRefinement, Definition: &p.base.Definition, Fitted: p.fitted,
		ParentID: p.base.ID, Note: p.Summary, Activate: true, CreatedBy: caller.UserID})
	if err != nil {
		return nil, err
	}
	// Save supports no AnyVersion: mark the feedback in one batch write.
	var marks []store.Write
	for _, f := range p.pending {
		f.Status, f.AppliedModel = FeedbackApplied, m.ID
		b, err := json.Marshal(f)
		if err != nil {
			return nil, errs.Internal(err)
		}
		marks = append(marks, store.Write{Key: keyFeedback(org, f.EvaluationID), Value: b, Expected: store.AnyVersion})
	}
	if _, err := c.env.Store.SaveBatch(ctx, marks); err != nil {
		return nil, storeErr(err)
	}
	job, err := c.startRescore(ctx, org)
	if err != nil {
		return nil, err
	}
	return &RefinementApplied{Model: m, Preview: p, Job: job}, nil
}

// startRescore runs the re-scoring job in the background.
func (c *Client) startRescore(ctx context.Context, org string) (*Job, error) {
	run, err := startJob(ctx, c.env, org, JobKindRescore, "")
	if err != nil {
		return nil, err
	}
	if err := c.jobs.launch(func(jctx context.Context) { c.runRescore(jctx, org, run) }); err != nil {
		_ = run.Fail(context.WithoutCancel(ctx), JobProgress{}, err)
		return nil, err
	}
	j := run.Job()
	return &j, nil
}

// runRescore walks the evaluations of the last 30 days, newest first, and
// re-evaluates each lead once with the now active model.
func (c *Client) runRescore(ctx context.Context, org string, run *JobRun) {
	cfg, err := c.scoringFor(ctx, org)
	if err != nil {
		_ = run.Fail(context.WithoutCancel(ctx), JobProgress{}, err)
		return
	}
	cutoff := c.env.now().Add(-RescoreWindow)
	seen := map[string]bool{}
	var leads []string
	errStop := errors.New("stop")
	err = c.env.Store.Scan(ctx, append(store.TenantKey(org, "evt"), '/'), nil, func(it store.Item) error {
		ev, err := c.env.loadEvaluation(ctx, org, string(it.Value))
		if err != nil {
			return nil
		}
		if ev.EvaluatedAt.Before(cutoff) {
			return errStop
		}
		if ev.Trigger != rules.TriggerRefinement || ev.ModelID != cfg.modelID {
			if !seen[ev.LeadID] {
				seen[ev.LeadID] = true
				leads = append(leads, ev.LeadID)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		_ = run.Fail(context.WithoutCancel(ctx), JobProgress{}, err)
		return
	}
	snap, err := c.billingSnapshot(ctx, org)
	if err != nil {
		_ = run.Fail(context.WithoutCancel(ctx), JobProgress{}, err)
		return
	}
	quota := c.env.quotaFor(org)
	if err := quota.refresh(ctx, c.env, org, snap, c.env.now()); err != nil {
		_ = run.Fail(context.WithoutCancel(ctx), JobProgress{}, err)
		return
	}
	// rescoreWorkers re-evaluate in parallel; each counts its evaluations
	// in its own usage key (no contention between them).
	p := JobProgress{Errors: []JobLineError{}, Scanned: len(leads)}
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for w := 0; w < rescoreWorkers; w++ {
		wg.Add(1)
		go func(shard string) {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(leads) || ctx.Err() != nil {
					return
				}
				id := leads[i]
				var err error
				if d := quota.reserve(plan.MeterEvaluations, 1, c.env.now()); !d.Allowed {
					err = d.AsError()
				} else {
					_, err = c.env.reevaluateCounted(ctx, org, id, cfg, rules.TriggerRefinement, snap, shard)
				}
				mu.Lock()
				if err != nil {
					e := errs.As(err)
					if len(p.Errors) < maxJobErrors {
						p.Errors = append(p.Errors, JobLineError{Line: i + 1, Error: JobError{Code: e.Code, Message: id + ": " + e.Message}})
					}
				} else {
					p.Changed++
				}
				p.Processed++
				if p.Processed%1000 == 0 {
					_ = run.Update(ctx, p)
				}
				mu.Unlock()
			}
		}("rescore" + strconv.Itoa(w))
	}
	wg.Wait()
	if ctx.Err() != nil {
		_ = run.Fail(context.WithoutCancel(ctx), p, errs.Unavailable("the node stopped during the job", ctx.Err()))
		return
	}
	_ = run.Complete(context.WithoutCancel(ctx), p)
}

// rescoreWorkers is how many leads a re-scoring job evaluates at once:
// the work is store reads and one atomic write per lead, so a few in
// flight keep both cores busy.
const rescoreWorkers = 4
