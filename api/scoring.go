package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/rules"
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
	Activate   bool            `json:"activate"`
	Note       string          `json:"note"`
}

func (s *Server) createModel(c *gin.Context) {
	var req createModelReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
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
