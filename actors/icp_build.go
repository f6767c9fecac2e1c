package actors

import (
	"context"
	"io"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/icp"
	"github.com/trailspark/trailspark/engine/tenant"
)

// ParseICPText parses a free-text ICP description (Viewer and up; nothing
// is stored): what was and was not understood, and the definition.
func (c *Client) ParseICPText(ctx context.Context, caller tenant.Caller, org, text string) (*icp.TextResult, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	if err := checkICPText(text); err != nil {
		return nil, err
	}
	r := icp.ParseText(text)
	return &r, nil
}

// MaxICPText bounds a free-text description.
const MaxICPText = 10000

func checkICPText(text string) error {
	if len(text) == 0 {
		return errs.Invalid("text", "required", "text is required")
	}
	if len(text) > MaxICPText {
		return errs.Invalid("text", "too_long", "text is at most %d bytes", MaxICPText)
	}
	return nil
}

// CreateModelFromText parses text and stores the definition as a new
// version (source "text"), returning the parse result too.
func (c *Client) CreateModelFromText(ctx context.Context, caller tenant.Caller, org, name, text string, activate bool) (*tenant.ModelVersion, *icp.TextResult, error) {
	if err := checkICPText(text); err != nil {
		return nil, nil, err
	}
	r := icp.ParseText(text)
	m, err := c.CreateModel(ctx, caller, org, ModelInput{Name: name, Source: tenant.SourceText, Definition: &r.Definition, Activate: activate, Note: "From text: " + truncate(text, 200)})
	return m, &r, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 { // do not cut a UTF-8 sequence
		n--
	}
	return s[:n] + "…"
}

// ICPAnalysisInput is an upload-and-analyze request.
type ICPAnalysisInput struct {
	Accounts, Opportunities io.Reader
	Options                 icp.AnalyzeOptions
	PreviewOnly             bool // only read the files and report the detected columns
	Create                  bool // store the analysed definition as a new version
	Name                    string
	Activate                bool
}

// ICPAnalysisResult is a preview, an analysis, and the model when created.
type ICPAnalysisResult struct {
	Preview  *icp.Preview         `json:"preview"`
	Analysis *icp.Analysis        `json:"analysis,omitempty"`
	Model    *tenant.ModelVersion `json:"model,omitempty"`
}

// AnalyzeICP reads an accounts CSV and an opportunities CSV, finds which
// attribute values win more than the base rate, and fits weights shrunk
// towards the active model (Editor and up). The analysis learns from
// opportunities, whose win rate is not a lead's conversion rate, so the
// created model keeps the active model's intercept and behaviour weights
// and takes the fitted account criteria (decision 0008).
func (c *Client) AnalyzeICP(ctx context.Context, caller tenant.Caller, org string, in ICPAnalysisInput) (*ICPAnalysisResult, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapEditConfig); err != nil {
		return nil, err
	}
	if in.PreviewOnly {
		p, err := icp.PreviewCSVs(in.Accounts, in.Opportunities, in.Options.Import)
		if err != nil {
			return nil, err
		}
		return &ICPAnalysisResult{Preview: &p}, nil
	}
	res, err := c.analyzeAgainstActive(ctx, caller, org, func(prior icp.Definition) (icp.Analysis, error) {
		return icp.Analyze(in.Accounts, in.Opportunities, prior, in.Options)
	}, in.Create, in.Name, "ICP from upload", tenant.SourceUpload, "Upload & analyze: fitted on the uploaded outcomes, shrunk towards ", in.Activate)
	if err != nil {
		return nil, err
	}
	res.Preview = res.Analysis.Preview
	return res, nil
}

// analyzeAgainstActive runs an analysis with the active model as prior,
// keeps the prior's intercept (decision 0008) and, with create, stores the
// result as a new version of the given source. Upload & analyze and
// SparkSense (actors/conn_analyze.go) share it.
func (c *Client) analyzeAgainstActive(ctx context.Context, caller tenant.Caller, org string, analyze func(prior icp.Definition) (icp.Analysis, error),
	create bool, name, defaultName, source, notePrefix string, activate bool) (*ICPAnalysisResult, error) {
	s, _, err := c.orgScoring(org)(ctx)
	if err != nil {
		return nil, err
	}
	active := (&tenant.State{Scoring: s}).Active()
	if active == nil {
		return nil, errs.NotFound("model")
	}
	prior := active.Definition
	a, err := analyze(prior)
	if err != nil {
		return nil, err
	}
	a.Definition.Intercept = prior.Intercept
	out := &ICPAnalysisResult{Analysis: &a}
	if create {
		if name == "" {
			name = defaultName
		}
		m, err := c.CreateModel(ctx, caller, org, ModelInput{Name: name, Source: source, Definition: &a.Definition,
			ParentID: active.ID, Activate: activate, Note: notePrefix + active.Label()})
		if err != nil {
			return nil, err
		}
		out.Model = m
	}
	return out, nil
}
