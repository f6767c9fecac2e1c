package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
)

// Admin lead merges (actors/merges.go, SPEC §2.4): Admin and up merge one
// lead into another and undo merges; every member reads them.

type mergeReq struct {
	MergeLeadID string `json:"merge_lead_id"`
	Reason      string `json:"reason"`
}

// mergeLead serves POST /api/v1/orgs/:org/leads/:id/merge: merge_lead_id
// is folded into :id (the survivor).
func (s *Server) mergeLead(c *gin.Context) {
	var req mergeReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.MergeLeads(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"), req.MergeLeadID, req.Reason)
	respond(c, http.StatusCreated, v, err)
}

// undoMerge serves POST /api/v1/orgs/:org/merges/:id/undo.
func (s *Server) undoMerge(c *gin.Context) {
	v, err := s.client.UndoMerge(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

// getMerge serves GET /api/v1/orgs/:org/merges/:id.
func (s *Server) getMerge(c *gin.Context) {
	v, err := s.client.Merge(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

// listMerges serves GET /api/v1/orgs/:org/merges: newest first, paged.
func (s *Server) listMerges(c *gin.Context) {
	after, limit, err := pageParams(c)
	if err != nil {
		fail(c, err)
		return
	}
	items, next, err := s.client.Merges(c.Request.Context(), caller(c), c.Param("org"), after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[actors.MergeRecord]{Items: items, NextCursor: next})
}
