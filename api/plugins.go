package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// Plugin routes (operator only): the connector plugins of the node that
// answers — plugin processes are per node.
func (s *Server) pluginRoutes(authed *gin.RouterGroup) {
	authed.GET("/plugins", s.listPlugins)
	authed.POST("/plugins/:name/start", s.pluginAction("start"))
	authed.POST("/plugins/:name/stop", s.pluginAction("stop"))
	authed.POST("/plugins/:name/approve", s.pluginAction("approve"))
}

func (s *Server) listPlugins(c *gin.Context) {
	v, err := s.client.PluginList(caller(c))
	respondList(c, v, err)
}

func (s *Server) pluginAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		v, err := s.client.PluginAction(c.Request.Context(), caller(c), c.Param("name"), action)
		respond(c, http.StatusOK, v, err)
	}
}
