package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
)

// Destination routes (SPEC §4): webhook and CRM destinations, their
// deliveries and redrive. Owner and Admin change them; every member reads.
func (s *Server) destinationRoutes(authed *gin.RouterGroup) {
	if s.metrics != nil && s.client != nil {
		s.metrics.reg.MustRegister(s.client.OutboxCollectors()...)
	}
	authed.GET("/orgs/:org/destinations", s.listDestinations)
	authed.POST("/orgs/:org/destinations", s.createDestination)
	authed.GET("/orgs/:org/destinations/suggest-fields", s.suggestFields)
	authed.GET("/orgs/:org/destinations/:id", s.getDestination)
	authed.PATCH("/orgs/:org/destinations/:id", s.updateDestination)
	authed.DELETE("/orgs/:org/destinations/:id", s.deleteDestination)
	authed.GET("/orgs/:org/destinations/:id/deliveries", s.listDeliveries)
	authed.POST("/orgs/:org/destinations/:id/redrive", s.redriveDestination)
}

func (s *Server) listDestinations(c *gin.Context) {
	v, err := s.client.Destinations(c.Request.Context(), caller(c), c.Param("org"))
	respondList(c, v, err)
}

func (s *Server) createDestination(c *gin.Context) {
	var req actors.DestinationInput
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.CreateDestination(c.Request.Context(), caller(c), c.Param("org"), req)
	respond(c, http.StatusCreated, v, err)
}

func (s *Server) getDestination(c *gin.Context) {
	v, err := s.client.Destination(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) updateDestination(c *gin.Context) {
	var req actors.DestinationInput
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.UpdateDestination(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"), req)
	respond(c, http.StatusOK, v, err)
}

func (s *Server) deleteDestination(c *gin.Context) {
	err := s.client.DeleteDestination(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusNoContent, nil, err)
}

func (s *Server) listDeliveries(c *gin.Context) {
	after, limit, err := pageParams(c)
	if err != nil {
		fail(c, err)
		return
	}
	items, next, err := s.client.Deliveries(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"), c.Query("status"), after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[actors.Delivery]{Items: items, NextCursor: next})
}

func (s *Server) redriveDestination(c *gin.Context) {
	v, err := s.client.Redrive(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) suggestFields(c *gin.Context) {
	v, err := s.client.SuggestFields(c.Request.Context(), caller(c), c.Param("org"), c.Query("provider"))
	respond(c, http.StatusOK, v, err)
}
