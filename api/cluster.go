package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// getCluster (operator only): the members, their status and the grains
// each hosts, as the answering node sees them.
func (s *Server) getCluster(c *gin.Context) {
	v, err := s.client.Cluster(c.Request.Context(), caller(c))
	respond(c, http.StatusOK, v, err)
}
