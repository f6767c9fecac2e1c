package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/icp"
	"github.com/trailspark/trailspark/engine/rules"
	"github.com/trailspark/trailspark/engine/tenant"
)

// Scoring routes (SPEC §3): settings, evaluation rules, ICP models,
// evaluations, feedback and refinement.
func (s *Server) scoringRoutes(authed *gin.RouterGroup) {
	authed.GET("/orgs/:org/settings", s.getSettings)
	authed.PUT("/orgs/:org/settings", s.putSettings)
	authed.GET("/orgs/:org/evaluation-rules", s.getEvalRules)
	authed.PUT("/orgs/:org/evaluation-rules", s.putEvalRules)
	authed.GET("/orgs/:org/icp-models", s.listModels)
	authed.POST("/orgs/:org/icp-models", s.createModel)
	authed.GET("/orgs/:org/icp-models/:id", s.getModel)
	authed.POST("/orgs/:org/icp-models/:id/activate", s.activateModel)
	authed.GET("/orgs/:org/icp-models/:id/quality", s.modelQuality)
	authed.POST("/orgs/:org/icp-models/parse-text", s.parseICPText)
	authed.GET("/orgs/:org/evaluations", s.listEvaluations)
	authed.GET("/orgs/:org/evaluations/:id", s.getEvaluation)
	authed.POST("/orgs/:org/evaluations/:id/feedback", s.giveFeedback)
	authed.GET("/orgs/:org/leads/:id/evaluations", s.leadEvaluations)
	authed.POST("/orgs/:org/leads/:id/evaluate", s.evaluateNow)
	authed.GET("/orgs/:org/feedback", s.listFeedback)
	authed.POST("/orgs/:org/refinements/preview", s.previewRefinement)
	authed.POST("/orgs/:org/refinements", s.applyRefinement)
}

// settingsReq is the settings document: every field optional (a PUT
// changes what it names), unknown fields rejected.
type settingsReq struct {
	MinSignals     *int  `json:"min_signals,omitempty"`
	MinSignalTypes *int  `json:"min_signal_types,omitempty"`
	LookbackDays   *int  `json:"lookback_days,omitempty"`
	MinConfidence  *int  `json:"min_confidence,omitempty"`
	CoolingOff     *bool `json:"cooling_off,omitempty"`
	CooldownHotH   *int  `json:"cooldown_hot_hours,omitempty"`
	CooldownWarmH  *int  `json:"cooldown_warm_hours,omitempty"`
	CooldownColdH  *int  `json:"cooldown_cold_hours,omitempty"`
}

func (s *Server) getSettings(c *gin.Context) {
	v, err := s.client.ScoringSettings(c.Request.Context(), caller(c), c.Param("org"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) putSettings(c *gin.Context) {
	var req settingsReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	doc, err := json.Marshal(req)
	if err != nil {
		fail(c, errs.Internal(err))
		return
	}
	v, err := s.client.UpdateScoringSettings(c.Request.Context(), caller(c), c.Param("org"), doc)
	respond(c, http.StatusOK, v, err)
}

type evalRulesReq struct {
	Rules []rules.Rule `json:"rules"`
}

type evalRulesResp struct {
	Rules []rules.Rule `json:"rules"`
}

func (s *Server) getEvalRules(c *gin.Context) {
	v, err := s.client.EvaluationRules(c.Request.Context(), caller(c), c.Param("org"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, evalRulesResp{Rules: v})
}

func (s *Server) putEvalRules(c *gin.Context) {
	var req evalRulesReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.SetEvaluationRules(c.Request.Context(), caller(c), c.Param("org"), req.Rules)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, evalRulesResp{Rules: v})
}

func (s *Server) listModels(c *gin.Context) {
	v, err := s.client.Models(c.Request.Context(), caller(c), c.Param("org"))
	respondList(c, v, err)
}

func (s *Server) getModel(c *gin.Context) {
	v, err := s.client.Model(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

// createModelReq: a manual model (definition). Learned weights come only
// from refinement and analysis, never from a client.
type createModelReq struct {
	Name       string          `json:"name"`
	Definition json.RawMessage `json:"definition"`
	Text       string          `json:"text"` // instead of definition: parsed deterministically
	Activate   bool            `json:"activate"`
	Note       string          `json:"note"`
}

func (s *Server) createModel(c *gin.Context) {
	var req createModelReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Text != "" {
		if len(req.Definition) > 0 {
			fail(c, errs.Invalid("text", "conflicting_fields", "give either definition or text, not both"))
			return
		}
		m, parsed, err := s.client.CreateModelFromText(c.Request.Context(), caller(c), c.Param("org"), req.Name, req.Text, req.Activate)
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(http.StatusCreated, modelFromText{ModelVersion: m, Parsed: parsed})
		return
	}
	in := actors.ModelInput{Name: req.Name, Activate: req.Activate, Note: req.Note, Source: "manual"}
	if len(req.Definition) > 0 {
		if err := decodeStrict(req.Definition, &in.Definition, "definition"); err != nil {
			fail(c, err)
			return
		}
	}
	v, err := s.client.CreateModel(c.Request.Context(), caller(c), c.Param("org"), in)
	respond(c, http.StatusCreated, v, err)
}

func (s *Server) modelQuality(c *gin.Context) {
	v, err := s.client.ModelQuality(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) activateModel(c *gin.Context) {
	v, err := s.client.ActivateModel(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) listEvaluations(c *gin.Context) {
	after, limit, err := pageParams(c)
	if err != nil {
		fail(c, err)
		return
	}
	items, next, err := s.client.Evaluations(c.Request.Context(), caller(c), c.Param("org"), c.Query("lead_id"), after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[actors.Evaluation]{Items: items, NextCursor: next})
}

func (s *Server) leadEvaluations(c *gin.Context) {
	if _, err := s.client.Lead(c.Request.Context(), caller(c), c.Param("org"), c.Param("id")); err != nil {
		fail(c, err)
		return
	}
	after, limit, err := pageParams(c)
	if err != nil {
		fail(c, err)
		return
	}
	items, next, err := s.client.Evaluations(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"), after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[actors.Evaluation]{Items: items, NextCursor: next})
}

func (s *Server) getEvaluation(c *gin.Context) {
	v, err := s.client.Evaluation(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) evaluateNow(c *gin.Context) {
	v, err := s.client.EvaluateNow(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusCreated, v, err)
}

func (s *Server) giveFeedback(c *gin.Context) {
	var req actors.FeedbackInput
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.GiveFeedback(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"), req)
	respond(c, http.StatusCreated, v, err)
}

func (s *Server) listFeedback(c *gin.Context) {
	st := c.Query("status")
	if st != "" && st != actors.FeedbackPending && st != actors.FeedbackApplied {
		fail(c, errs.Invalid("status", "invalid_status", "status must be pending or applied"))
		return
	}
	v, err := s.client.FeedbackList(c.Request.Context(), caller(c), c.Param("org"), st)
	respondList(c, v, err)
}

func (s *Server) previewRefinement(c *gin.Context) {
	v, err := s.client.PreviewRefinement(c.Request.Context(), caller(c), c.Param("org"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) applyRefinement(c *gin.Context) {
	v, err := s.client.ApplyRefinement(c.Request.Context(), caller(c), c.Param("org"))
	respond(c, http.StatusCreated, v, err)
}

// decodeStrict decodes a nested JSON document with bindJSON's rules (no
// unknown fields), prefixing error fields with where it sits.
func decodeStrict(raw json.RawMessage, v any, field string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		e := errs.As(decodeError(err))
		if e == nil {
			return err
		}
		out := *e
		if out.Field != "" {
			out.Field = field + "." + out.Field
		} else {
			out.Field = field
		}
		return &out
	}
	return nil
}

// modelFromText is a created model with what its text parse understood.
type modelFromText struct {
	*tenant.ModelVersion
	Parsed *icp.TextResult `json:"parsed"`
}

type parseTextReq struct {
	Text string `json:"text"`
}

func (s *Server) parseICPText(c *gin.Context) {
	var req parseTextReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.ParseICPText(c.Request.Context(), caller(c), c.Param("org"), req.Text)
	respond(c, http.StatusOK, v, err)
}

// maxICPUpload bounds an upload-and-analyze request (both CSVs).
const maxICPUpload = 32 << 20

// analyzeICP takes multipart/form-data: files "accounts" and
// "opportunities"; optional fields "account_columns" and
// "opportunity_columns" (JSON objects role → header), "won_stages" and
// "lost_stages" (comma lists), "unit" (opportunity|account), "disabled"
// (comma list of insight ids), "only_significant", "preview_only",
// "create", "activate" (true/false) and "name".
func (s *Server) analyzeICP(c *gin.Context) {
	in, closeFiles, err := analyzeInput(c)
	defer closeFiles()
	if err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.AnalyzeICP(c.Request.Context(), caller(c), c.Param("org"), in)
	status := http.StatusOK
	if in.Create {
		status = http.StatusCreated
	}
	respond(c, status, v, err)
}

func analyzeInput(c *gin.Context) (actors.ICPAnalysisInput, func(), error) {
	var in actors.ICPAnalysisInput
	var closers []func() error
	closeAll := func() {
		for _, f := range closers {
			_ = f()
		}
	}
	ct := c.GetHeader("Content-Type")
	if !strings.HasPrefix(ct, "multipart/form-data") {
		return in, closeAll, &errs.Error{Kind: errs.KindUnsupportedType, Code: "unsupported_media_type",
			Message: "send multipart/form-data with the files accounts and opportunities"}
	}
	if err := c.Request.ParseMultipartForm(8 << 20); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return in, closeAll, &errs.Error{Kind: errs.KindTooLarge, Code: "payload_too_large", Message: fmt.Sprintf("the upload is larger than %d bytes", mbe.Limit)}
		}
		return in, closeAll, errs.Invalid("", "malformed_multipart", "the multipart body could not be read: %v", err)
	}
	for _, name := range []string{"accounts", "opportunities"} {
		fh, err := c.FormFile(name)
		if err != nil {
			return in, closeAll, errs.Invalid(name, "required", "the %s CSV file is required (form field %q)", name, name)
		}
		f, err := fh.Open()
		if err != nil {
			return in, closeAll, errs.Invalid(name, "unreadable", "the %s file could not be read", name)
		}
		closers = append(closers, f.Close)
		if name == "accounts" {
			in.Accounts = f
		} else {
			in.Opportunities = f
		}
	}
	boolField := func(name string) (bool, error) {
		v := c.PostForm(name)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, errs.Invalid(name, "invalid_boolean", "%s must be true or false", name)
		}
		return b, nil
	}
	var err error
	for name, dst := range map[string]*bool{"preview_only": &in.PreviewOnly, "create": &in.Create, "activate": &in.Activate, "only_significant": &in.Options.OnlySignificant} {
		if *dst, err = boolField(name); err != nil {
			return in, closeAll, err
		}
	}
	for name, dst := range map[string]*map[string]string{"account_columns": &in.Options.Import.AccountOverrides, "opportunity_columns": &in.Options.Import.OpportunityOverrides} {
		if v := c.PostForm(name); v != "" {
			if err := json.Unmarshal([]byte(v), dst); err != nil {
				return in, closeAll, errs.Invalid(name, "invalid_json", "%s must be a JSON object of role → column header", name)
			}
		}
	}
	list := func(name string) []string {
		var out []string
		for _, p := range strings.Split(c.PostForm(name), ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	in.Options.Import.WonStages, in.Options.Import.LostStages = list("won_stages"), list("lost_stages")
	in.Options.Disabled = list("disabled")
	switch u := c.PostForm("unit"); u {
	case "", icp.UnitOpportunity, icp.UnitAccount:
		in.Options.Unit = u
	default:
		return in, closeAll, errs.Invalid("unit", "invalid_enum", "unit must be opportunity or account")
	}
	in.Name = c.PostForm("name")
	return in, closeAll, nil
}
