package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/icp"
	"github.com/trailspark/trailspark/engine/plan"
	"github.com/trailspark/trailspark/engine/rules"
	"github.com/trailspark/trailspark/engine/score"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// WindowSignal is one mapped signal kept on the lead for scoring: its
// type, time, rule weight and half-life (decision 0007).
type WindowSignal struct {
	SignalID   uint64    `json:"id"`
	Type       string    `json:"type"`
	At         time.Time `json:"at"`
	Weight     float64   `json:"weight"`
	HalfLifeH  float64   `json:"half_life_hours"`
	HighIntent bool      `json:"high_intent,omitempty"`
	// Rule names the mapping rule, for the reasoning text.
	Rule string `json:"rule,omitempty"`
}

// maxWindow bounds the scoring window kept on a lead: the newest mapped
// signals. 200 covers far more than the gates need; intent of older
// signals has decayed to nothing at any sensible half-life.
const maxWindow = 200

// maxWindowAge drops signals older than the longest lookback allowed.
const maxWindowAge = 365 * 24 * time.Hour

// addWindow adds a mapped signal, keeping the window ordered and bounded.
func (l *Lead) addWindow(w WindowSignal) {
	// Signals mostly arrive in time order: insert from the end instead of
	// sorting the whole window on every signal.
	l.Window = append(l.Window, w)
	for i := len(l.Window) - 1; i > 0 && l.Window[i].At.Before(l.Window[i-1].At); i-- {
		l.Window[i], l.Window[i-1] = l.Window[i-1], l.Window[i]
	}
	if len(l.Window) > maxWindow {
		l.Window = l.Window[len(l.Window)-maxWindow:]
	}
	// Nothing older than the longest lookback can count again.
	newest := l.Window[len(l.Window)-1].At
	drop := 0
	for drop < len(l.Window) && newest.Sub(l.Window[drop].At) > maxWindowAge {
		drop++
	}
	l.Window = l.Window[drop:]
}

// EvaluationSummary is a lead's latest evaluation, kept on the lead.
type EvaluationSummary struct {
	ID           string      `json:"id"`
	Grade        score.Grade `json:"grade"`
	Score        int         `json:"score"`
	Probability  float64     `json:"probability"`
	FitScore     int         `json:"fit_score"`
	IntentScore  int         `json:"intent_score"`
	Confidence   int         `json:"confidence"`
	HeldBack     bool        `json:"held_back"`
	Reasoning    string      `json:"reasoning"`
	ModelID      string      `json:"model_id"`
	ModelVersion string      `json:"model_version"`
	Trigger      string      `json:"trigger"`
	EvaluatedAt  time.Time   `json:"evaluated_at"`
}

// Evaluation is one stored evaluation: the explained result, what
// triggered it, and everything needed to reproduce it (the contributions
// carry each feature's value; the model version names the weights).
type Evaluation struct {
	ID        string `json:"id"`
	LeadID    string `json:"lead_id"`
	AccountID string `json:"account_id,omitempty"`
	ModelID   string `json:"model_id"`
	Trigger   string `json:"trigger"`
	score.Evaluation
	// FitKnown is the data-completeness count the confidence used.
	FitKnown int `json:"fit_known"`
}

func (e *Evaluation) summary() *EvaluationSummary {
	return &EvaluationSummary{ID: e.ID, Grade: e.Grade, Score: e.Score, Probability: e.Probability, FitScore: e.FitScore,
		IntentScore: e.IntentScore, Confidence: e.Confidence, HeldBack: e.HeldBack, Reasoning: e.Reasoning,
		ModelID: e.ModelID, ModelVersion: e.ModelVersion, Trigger: e.Trigger, EvaluatedAt: e.EvaluatedAt}
}

// Evaluations are stored under their id, with two time-ordered indexes
// (newest first in a forward scan): per organization and per lead.
func keyEval(org, id string) []byte { return store.TenantKey(org, "eval", id) }
func keyEvalByTime(org string, at time.Time, id string) []byte {
	return store.TenantKey(org, "evt", invTime(at), id)
}
func keyEvalByLead(org, lead string, at time.Time, id string) []byte {
	return store.TenantKey(org, "leval", lead, invTime(at), id)
}

// keyPropensity is a lead's latest intent, under its account, for the
// account's propensity (one key per lead: no write contention).
func keyPropensity(org, acct, lead string) []byte { return store.TenantKey(org, "aprop", acct, lead) }
func keyPropensityPrefix(org, acct string) []byte {
	return append(store.TenantKey(org, "aprop", acct), '/')
}

// invTime encodes t so that later times sort first.
func invTime(t time.Time) string { return fmt.Sprintf("%016x", uint64(math.MaxInt64-t.UnixNano())) }

// propensityEntry is what an account needs of one of its leads.
type propensityEntry struct {
	IntentScore int       `json:"intent_score"`
	FitScore    int       `json:"fit_score"`
	At          time.Time `json:"at"`
}

// scoringConfig is an organization's compiled scoring configuration.
type scoringConfig struct {
	settings  score.Settings
	evalRules []rules.Rule
	model     *icp.Compiled
	modelID   string
}

func compileScoring(s *tenant.Scoring) *scoringConfig {
	if s == nil {
		return nil
	}
	st := tenant.State{Scoring: s}
	m := st.Active()
	if m == nil {
		return nil
	}
	return &scoringConfig{settings: s.Settings, evalRules: s.EvalRules, model: m.Compile(), modelID: m.ID}
}

// subjectOf is what the model sees of a lead and its account.
func subjectOf(l *Lead, a *Account) icp.Subject {
	s := icp.Subject{Title: l.Title}
	if a != nil {
		s.Industry, s.Employees, s.Region = a.Industry, a.Employees, a.Region
		s.BusinessModel = attrString(a.Attributes, "business_model")
		s.MarketSegment = attrString(a.Attributes, "market_segment")
		switch t := a.Attributes["technologies"].(type) {
		case []any:
			for _, v := range t {
				if str, ok := v.(string); ok {
					s.Technologies = append(s.Technologies, str)
				}
			}
		case string:
			for _, v := range strings.Split(t, ",") {
				if v = strings.TrimSpace(v); v != "" {
					s.Technologies = append(s.Technologies, v)
				}
			}
		}
	}
	return s
}

func attrString(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// lookupFor answers evaluation-rule field lookups for a lead. The engine's
// own records are always there; CRM and product-org records come with the
// connectors, so until a lead has one its fields are empty (and "allow if
// empty" decides).
func lookupFor(l *Lead, a *Account) rules.Lookup {
	return func(integration, object, field string) (string, bool) {
		switch {
		case integration == "trailspark" && object == "lead":
			switch field {
			case "email":
				return l.Email, true
			case "title":
				return l.Title, true
			case "signal_count":
				return strconv.Itoa(l.SignalCount), true
			case "email_domain":
				if i := strings.LastIndexByte(l.Email, '@'); i >= 0 {
					return l.Email[i+1:], true
				}
				return "", true
			}
			return "", true
		case integration == "trailspark" && object == "account":
			if a == nil {
				return "", false
			}
			switch field {
			case "name":
				return a.Name, true
			case "domain":
				return a.Domain, true
			case "industry":
				return a.Industry, true
			case "region":
				return a.Region, true
			case "employees":
				if a.Employees != nil {
					return strconv.Itoa(*a.Employees), true
				}
				return "", true
			case "inferred":
				return strconv.FormatBool(a.Inferred), true
			}
			return attrString(a.Attributes, strings.TrimPrefix(field, "attributes.")), true
		}
		if a != nil && (object == "Account" || object == "Company") {
			if v := attrString(a.Attributes, field); v != "" {
				return v, true
			}
		}
		return "", false
	}
}

// evaluateLead scores l against cfg at now. It returns nil and the reason
// when the evaluation rules exclude the lead.
func (e *Env) evaluateLead(cfg *scoringConfig, l *Lead, a *Account, trigger string, now time.Time) (*Evaluation, string, error) {
	if ok, why := rules.Passes(cfg.evalRules, lookupFor(l, a)); !ok {
		return nil, why, nil
	}
	subj := subjectOf(l, a)
	// FitKnown: how much of the profile is known (data completeness), not
	// how much of it matches the ICP.
	in := score.Input{Model: cfg.model.Model, Settings: cfg.settings, Thresholds: cfg.model.Thresholds, Now: now, FitKnown: subj.Known()}
	in.Fit = cfg.model.Features(subj, nil)
	in.Signals = make([]score.Signal, 0, len(l.Window))
	in.SignalLabels = signalLabels(l.Window)
	for _, w := range l.Window {
		in.Signals = append(in.Signals, score.Signal{Type: w.Type, Weight: w.Weight, At: w.At, HalfLife: time.Duration(w.HalfLifeH * float64(time.Hour))})
	}
	ev := score.Evaluate(in)
	id, err := credential.NewID(e.Rand, "ev_")
	if err != nil {
		return nil, "", err
	}
	out := &Evaluation{ID: id, LeadID: l.ID, ModelID: cfg.modelID, Trigger: trigger, Evaluation: ev, FitKnown: in.FitKnown}
	if a != nil {
		out.AccountID = a.ID
	}
	return out, "", nil
}

// signalLabels names each signal type in the reasoning after the rule of
// its most recent signal ("demo requested 2 days ago"), or the type when
// no rule name is known.
func signalLabels(w []WindowSignal) map[string]string {
	out := map[string]string{}
	for _, s := range w { // ordered by time: the latest wins
		if s.Rule == "" {
			continue
		}
		name := strings.TrimPrefix(s.Rule, "Starter: ")
		out[s.Type] = name
	}
	return out
}

// evaluationWrites stores an evaluation and its indexes, and updates the
// lead's summary (the caller writes the lead in the same batch).
func evaluationWrites(org string, l *Lead, ev *Evaluation) ([]store.Write, error) {
	buf, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	l.Evaluation = ev.summary()
	l.EvaluationNote = ""
	w := []store.Write{
		{Key: keyEval(org, ev.ID), Value: buf, Expected: store.AnyVersion},
		{Key: keyEvalByTime(org, ev.EvaluatedAt, ev.ID), Value: []byte(ev.ID), Expected: store.AnyVersion},
		{Key: keyEvalByLead(org, l.ID, ev.EvaluatedAt, ev.ID), Value: []byte(ev.ID), Expected: store.AnyVersion},
	}
	if ev.AccountID != "" {
		p, _ := json.Marshal(propensityEntry{IntentScore: ev.IntentScore, FitScore: ev.FitScore, At: ev.EvaluatedAt})
		w = append(w, store.Write{Key: keyPropensity(org, ev.AccountID, l.ID), Value: p, Expected: store.AnyVersion})
	}
	return w, nil
}

// windowOf counts a lead's window for the gates.
func windowOf(l *Lead, set score.Settings, now time.Time) rules.Window {
	at := make([]time.Time, len(l.Window))
	types := make([]string, len(l.Window))
	for i, w := range l.Window {
		at[i], types[i] = w.At, w.Type
	}
	return rules.CountWindow(at, types, set.Lookback(), now)
}

// lastOf is the lead's previous evaluation for the cooldown.
func lastOf(l *Lead) *rules.Last {
	if l.Evaluation == nil {
		return nil
	}
	return &rules.Last{At: l.Evaluation.EvaluatedAt, Grade: l.Evaluation.Grade}
}

// refreshScoring reloads the scoring configuration and the plan state when
// the configuration version (ver, read by refreshRules) moved since the
// last load; the plan state also every billingTTL (a period rolls over, a
// scheduled downgrade becomes due).
func (p *processor) refreshScoring(ctx context.Context, ver uint64) error {
	if p.scoring == nil {
		return nil
	}
	now := p.env.now()
	if p.scoringLoaded && ver == p.scoringVer && now.Sub(p.billingAt) < billingTTL {
		return nil
	}
	s, v, err := p.scoring(ctx)
	if err != nil {
		return err
	}
	if p.env.client != nil {
		bs, err := p.env.client.billingSnapshot(ctx, p.org)
		if err != nil {
			return err
		}
		p.billing, p.billingAt = bs, now
		q := p.env.quotaFor(p.org)
		q.mu.Lock()
		q.fetched = time.Time{} // stale: the next check re-reads it with the (possibly new) plan
		q.mu.Unlock()
	}
	p.scoringCfg, p.scoringVer, p.scoringLoaded = compileScoring(s), v, true
	return nil
}

// billingTTL bounds how stale a partition's view of the plan may be.
const billingTTL = 30 * time.Second

// evaluateInFlush decides, for a lead whose new signals this batch
// applied, whether to evaluate it now (SPEC §3.3 gates and §3.4 rules) and
// returns the writes of the evaluation. Its failure to load the account
// fails the flush, which retries: an evaluation is never silently skipped.
func (b *batch) evaluateInFlush(ctx context.Context, l *Lead) ([]store.Write, error) {
	cfg := b.p.scoringCfg
	if cfg == nil || !l.newSignals {
		return nil, nil
	}
	high := l.newHighIntent
	l.newSignals, l.newHighIntent = false, false
	now := b.p.env.now()
	trigger, why := rules.Gate(cfg.settings, windowOf(l, cfg.settings, now), lastOf(l), high, now)
	if trigger == "" {
		l.EvaluationNote = "not evaluated: " + why
		return nil, nil
	}
	// At the evaluations limit with overages off, scoring pauses for the
	// org; signals keep flowing into leads and evaluations resume when
	// the period resets or the plan changes.
	if d := b.p.env.quotaFor(b.p.org).reserve(plan.MeterEvaluations, 1, now); !d.Allowed {
		l.EvaluationNote = "not evaluated: " + d.Err.Message
		return nil, nil
	}
	var acct *Account
	if l.Account != nil && l.Account.AccountID != "" {
		a, err := b.account(ctx, l.Account.AccountID)
		if err != nil {
			return nil, err
		}
		acct = a
	}
	ev, why, err := b.p.env.evaluateLead(cfg, l, acct, trigger, now)
	if err != nil {
		return nil, err
	}
	if ev == nil {
		l.EvaluationNote = "not evaluated: " + why
		return nil, nil
	}
	w, err := evaluationWrites(b.p.org, l, ev)
	if err != nil {
		return nil, err
	}
	return appendOutbox(ctx, b.p.env, b.p.org, ev, l, w) // actors/outbox.go: same atomic batch
}

// account loads an account once per batch.
func (b *batch) account(ctx context.Context, id string) (*Account, error) {
	if a, ok := b.accounts[id]; ok {
		return a, nil
	}
	if b.accounts == nil {
		b.accounts = map[string]*Account{}
	}
	var a Account
	if _, err := b.p.env.loadJSON(ctx, keyAccount(b.p.org, id), &a); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			b.accounts[id] = nil
			return nil, nil
		}
		return nil, err
	}
	b.accounts[id] = &a
	return &a, nil
}
