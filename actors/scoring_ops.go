package actors

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/icp"
	"github.com/trailspark/trailspark/engine/plan"
	"github.com/trailspark/trailspark/engine/rules"
	"github.com/trailspark/trailspark/engine/score"
	"github.com/trailspark/trailspark/engine/tenant"
)

// Org grain operations on the scoring configuration (SPEC §3.1, §3.3,
// §3.4). The org grain is the single writer; every change bumps the
// configuration version the processing grains compare against.
const (
	opScoringSnapshot = "scoring.snapshot"
	opSettingsGet     = "settings.get"
	opSettingsPut     = "settings.put"
	opEvalRulesGet    = "evalrules.get"
	opEvalRulesPut    = "evalrules.put"
	opModelsList      = "models.list"
	opModelGet        = "models.get"
	opModelCreate     = "models.create"
	opModelActivate   = "models.activate"
)

type scoringSnapshot struct {
	Scoring *tenant.Scoring `json:"scoring"`
	Version uint64          `json:"version"`
}

type settingsBody struct {
	Settings json.RawMessage `json:"settings"`
}

type evalRulesBody struct {
	Rules []rules.Rule `json:"rules"`
}

// ModelInput creates a model version.
type ModelInput struct {
	Name       string          `json:"name"`
	Source     string          `json:"source,omitempty"`
	Definition *icp.Definition `json:"definition"`
	Fitted     *icp.Fitted     `json:"fitted,omitempty"`
	ParentID   string          `json:"parent_id,omitempty"`
	Note       string          `json:"note,omitempty"`
	Activate   bool            `json:"activate"`
	CreatedBy  string          `json:"created_by,omitempty"`
}

// configChanged records the new configuration version for the grains that
// cache it.
func (t *orgTx) configChanged(org string) {
	t.put(keyConfigVersion(org), strconv.FormatUint(t.state.ConfigVersion, 10))
}

func init() {
	orgOps[opScoringSnapshot] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if t.state == nil || t.state.Deleted {
			return scoringSnapshot{}, nil
		}
		st := *t.state
		st.EnsureScoring(t.now) // on a copy: an old org's defaults, not persisted by a read
		return scoringSnapshot{Scoring: st.Scoring, Version: t.state.ConfigVersion}, nil
	}}
	orgOps[opSettingsGet] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapRead); err != nil {
			return nil, err
		}
		if t.state.Scoring == nil {
			return score.DefaultSettings(), nil
		}
		return t.state.Scoring.Settings, nil
	}}
	orgOps[opSettingsPut] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapIntegrations); err != nil { // Owner/Admin (SPEC §3.3)
			return nil, err
		}
		var b settingsBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		t.state.EnsureScoring(t.now)
		set := t.state.Scoring.Settings // a partial document changes only what it names
		if err := json.Unmarshal(b.Settings, &set); err != nil {
			return nil, errs.Invalid("settings", "invalid_json", "settings: %v", err)
		}
		if err := t.state.SetSettings(set, t.now); err != nil {
			return nil, err
		}
		t.configChanged(g.id)
		return set, nil
	}}
	orgOps[opEvalRulesGet] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapRead); err != nil {
			return nil, err
		}
		if t.state.Scoring == nil {
			return []rules.Rule{}, nil
		}
		return t.state.Scoring.EvalRules, nil
	}}
	orgOps[opEvalRulesPut] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapEditConfig); err != nil {
			return nil, err
		}
		var b evalRulesBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		out, err := t.state.SetEvalRules(b.Rules, func() (string, error) { return credential.NewID(g.env.Rand, "evr_") }, t.now)
		if err != nil {
			return nil, err
		}
		t.configChanged(g.id)
		return out, nil
	}}
	orgOps[opModelsList] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapRead); err != nil {
			return nil, err
		}
		st := *t.state
		st.EnsureScoring(t.now)
		return st.SortedModels(), nil
	}}
	orgOps[opModelGet] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapRead); err != nil {
			return nil, err
		}
		var b idBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		st := *t.state
		st.EnsureScoring(t.now)
		m, ok := st.Scoring.Models[b.ID]
		if !ok {
			return nil, errs.NotFound("model")
		}
		return m, nil
	}}
	orgOps[opModelCreate] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapEditConfig); err != nil {
			return nil, err
		}
		var in ModelInput
		if err := t.decode(&in); err != nil {
			return nil, err
		}
		if in.Definition == nil {
			return nil, errs.Invalid("definition", "required", "definition is required (or build one from text or an analysis first)")
		}
		switch in.Source {
		case "":
			in.Source = tenant.SourceManual
		case tenant.SourceManual, tenant.SourceText, tenant.SourceUpload, tenant.SourceSparkSense, tenant.SourceRefinement:
		default:
			return nil, errs.Invalid("source", "invalid_source", "source must be manual, text, upload, sparksense or refinement")
		}
		id, err := credential.NewID(g.env.Rand, "icp_")
		if err != nil {
			return nil, errs.Internal(err)
		}
		mv := tenant.ModelVersion{Name: in.Name, Source: in.Source, Definition: *in.Definition, Fitted: in.Fitted,
			ParentID: in.ParentID, Note: in.Note, CreatedBy: t.caller.UserID}
		m, err := t.state.AddModel(mv, id, in.Activate, t.now)
		if err != nil {
			return nil, err
		}
		// Creating a model uses a "models" unit of the plan; a refinement
		// uses a "refinements" unit instead (SPEC §3.1, §3.5).
		meter := plan.MeterModels
		if in.Source == tenant.SourceRefinement {
			meter = plan.MeterRefinements
		}
		if err := g.countOrgMeter(t, meter); err != nil {
			return nil, err
		}
		t.configChanged(g.id)
		return m, nil
	}}
	orgOps[opModelActivate] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapEditConfig); err != nil {
			return nil, err
		}
		var b idBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		m, err := t.state.ActivateModel(b.ID, t.now)
		if err != nil {
			return nil, err
		}
		t.configChanged(g.id)
		return m, nil
	}}
}

// ScoringSettings returns the organization's scoring settings.
func (c *Client) ScoringSettings(ctx context.Context, caller tenant.Caller, org string) (*score.Settings, error) {
	var out score.Settings
	return &out, c.call(ctx, caller, org, opSettingsGet, nil, &out)
}

// UpdateScoringSettings overlays the settings named in doc (JSON) and
// validates the result; Owner/Admin.
func (c *Client) UpdateScoringSettings(ctx context.Context, caller tenant.Caller, org string, doc json.RawMessage) (*score.Settings, error) {
	var out score.Settings
	return &out, c.call(ctx, caller, org, opSettingsPut, settingsBody{Settings: doc}, &out)
}

// EvaluationRules lists the evaluation rules.
func (c *Client) EvaluationRules(ctx context.Context, caller tenant.Caller, org string) ([]rules.Rule, error) {
	var out []rules.Rule
	return out, c.call(ctx, caller, org, opEvalRulesGet, nil, &out)
}

// SetEvaluationRules replaces the evaluation rules.
func (c *Client) SetEvaluationRules(ctx context.Context, caller tenant.Caller, org string, rs []rules.Rule) ([]rules.Rule, error) {
	var out []rules.Rule
	return out, c.call(ctx, caller, org, opEvalRulesPut, evalRulesBody{Rules: rs}, &out)
}

// Models lists ICP model versions, newest first.
func (c *Client) Models(ctx context.Context, caller tenant.Caller, org string) ([]tenant.ModelVersion, error) {
	var out []tenant.ModelVersion
	return out, c.call(ctx, caller, org, opModelsList, nil, &out)
}

// Model reads one model version.
func (c *Client) Model(ctx context.Context, caller tenant.Caller, org, id string) (*tenant.ModelVersion, error) {
	var out tenant.ModelVersion
	return &out, c.call(ctx, caller, org, opModelGet, idBody{ID: id}, &out)
}

// CreateModel stores a new model version (active when in.Activate).
func (c *Client) CreateModel(ctx context.Context, caller tenant.Caller, org string, in ModelInput) (*tenant.ModelVersion, error) {
	var out tenant.ModelVersion
	return &out, c.call(ctx, caller, org, opModelCreate, in, &out)
}

// ActivateModel makes a version the active one; new evaluations use it.
func (c *Client) ActivateModel(ctx context.Context, caller tenant.Caller, org, id string) (*tenant.ModelVersion, error) {
	var out tenant.ModelVersion
	return &out, c.call(ctx, caller, org, opModelActivate, idBody{ID: id}, &out)
}

// scoringSource fetches the scoring configuration for processing grains.
type scoringSource func(ctx context.Context) (*tenant.Scoring, uint64, error)

func (c *Client) orgScoring(org string) scoringSource {
	return func(ctx context.Context) (*tenant.Scoring, uint64, error) {
		var snap scoringSnapshot
		if err := c.call(ctx, tenantCallerSystem, org, opScoringSnapshot, nil, &snap); err != nil {
			return nil, 0, err
		}
		return snap.Scoring, snap.Version, nil
	}
}
