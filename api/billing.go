package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/plan"
)

// Billing and usage routes (SPEC §5), Owner/Admin.
func (s *Server) billingRoutes(authed *gin.RouterGroup) {
	authed.GET("/orgs/:org/billing", s.getBilling)
	authed.POST("/orgs/:org/billing/change-plan", s.changePlan)
	authed.POST("/orgs/:org/billing/cancel-change", s.cancelPlanChange)
	authed.PUT("/orgs/:org/billing/overages", s.setOverages)
	authed.GET("/orgs/:org/usage", s.getUsage)
	authed.GET("/orgs/:org/invoices", s.listInvoices)
}

func (s *Server) getBilling(c *gin.Context) {
	v, err := s.client.Billing(c.Request.Context(), caller(c), c.Param("org"))
	respond(c, http.StatusOK, v, err)
}

type changePlanReq struct {
	PlanID string     `json:"plan_id"`
	Cycle  plan.Cycle `json:"cycle"`
}

func (s *Server) changePlan(c *gin.Context) {
	var req changePlanReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.PlanID == "" {
		fail(c, errs.Invalid("plan_id", "required", "plan_id is required"))
		return
	}
	v, err := s.client.ChangePlan(c.Request.Context(), caller(c), c.Param("org"), req.PlanID, req.Cycle)
	respond(c, http.StatusOK, v, err)
}

func (s *Server) cancelPlanChange(c *gin.Context) {
	v, err := s.client.CancelPlanChange(c.Request.Context(), caller(c), c.Param("org"))
	respond(c, http.StatusOK, v, err)
}

type overagesReq struct {
	Enabled *bool `json:"enabled"`
}

func (s *Server) setOverages(c *gin.Context) {
	var req overagesReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Enabled == nil {
		fail(c, errs.Invalid("enabled", "required", "enabled is required (true or false)"))
		return
	}
	v, err := s.client.SetOverages(c.Request.Context(), caller(c), c.Param("org"), *req.Enabled)
	respond(c, http.StatusOK, v, err)
}

// getUsage serves ?period=YYYY-MM-DD (any day of the wanted period;
// default: the current one).
func (s *Server) getUsage(c *gin.Context) {
	var at time.Time
	if p := c.Query("period"); p != "" {
		t, err := time.Parse("2006-01-02", p)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, p); err != nil {
				fail(c, errs.Invalid("period", "invalid_format", "period is a date (YYYY-MM-DD) within the wanted period"))
				return
			}
		}
		at = t.Add(12 * time.Hour) // midday: a period starting that day contains it whatever its anchor hour
	}
	v, err := s.client.Usage(c.Request.Context(), caller(c), c.Param("org"), at)
	respond(c, http.StatusOK, v, err)
}

func (s *Server) listInvoices(c *gin.Context) {
	v, err := s.client.Invoices(c.Request.Context(), caller(c), c.Param("org"))
	respondList(c, v, err)
}
