package api

import (
	"html"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/errs"
)

// CRM connections (SPEC §4): connect (stored credentials or OAuth with
// PKCE), test, field mapping from the CRM's metadata, sync (manual or
// scheduled), disconnect; SparkSense on the connection's records.
// Owner/Admin except list/get/sync status (Viewer and up). Secrets are
// accepted, never returned.
func (s *Server) connectionRoutes(authed *gin.RouterGroup) {
	authed.GET("/orgs/:org/connections", s.listConnections)
	authed.POST("/orgs/:org/connections", s.createConnection)
	authed.GET("/orgs/:org/connections/:id", s.getConnection)
	authed.PATCH("/orgs/:org/connections/:id", s.updateConnection)
	authed.DELETE("/orgs/:org/connections/:id", s.deleteConnection)
	authed.POST("/orgs/:org/connections/:id/test", s.testConnection)
	authed.GET("/orgs/:org/connections/:id/metadata", s.connectionMetadata)
	authed.PUT("/orgs/:org/connections/:id/mapping", s.setConnectionMapping)
	authed.POST("/orgs/:org/connections/:id/oauth/start", s.startConnectionOAuth)
	authed.POST("/orgs/:org/connections/:id/sync", s.startConnectionSync)
	authed.GET("/orgs/:org/connections/:id/sync", s.getConnectionSync)
	authed.POST("/orgs/:org/connections/:id/sync/cancel", s.cancelConnectionSync)
	authed.POST("/orgs/:org/connections/:id/disconnect", s.disconnectConnection)
	authed.POST("/orgs/:org/connections/:id/analyze", s.analyzeConnection)
}

func (s *Server) listConnections(c *gin.Context) {
	v, err := s.client.Connections(c.Request.Context(), caller(c), c.Param("org"))
	respondList(c, v, err)
}

type connectionReq struct {
	Provider            string            `json:"provider"`
	Name                *string           `json:"name"`
	BaseURL             *string           `json:"base_url"`
	Options             map[string]string `json:"options"`
	Credentials         map[string]string `json:"credentials"`
	SyncIntervalMinutes *int              `json:"sync_interval_minutes"`
}

func (r connectionReq) input() actors.ConnectionInput {
	return actors.ConnectionInput{Provider: r.Provider, Name: r.Name, BaseURL: r.BaseURL, Options: r.Options,
		Credentials: r.Credentials, SyncIntervalMinutes: r.SyncIntervalMinutes}
}

func (s *Server) createConnection(c *gin.Context) {
	var req connectionReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.CreateConnection(c.Request.Context(), caller(c), c.Param("org"), req.input())
	respond(c, http.StatusCreated, v, err)
}

func (s *Server) getConnection(c *gin.Context) {
	v, err := s.client.Connection(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) updateConnection(c *gin.Context) {
	var req connectionReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.UpdateConnection(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"), req.input())
	respond(c, http.StatusOK, v, err)
}

func (s *Server) deleteConnection(c *gin.Context) {
	err := s.client.DeleteConnection(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusNoContent, nil, err)
}

func (s *Server) testConnection(c *gin.Context) {
	v, err := s.client.TestConnection(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) connectionMetadata(c *gin.Context) {
	v, err := s.client.ConnectionMetadata(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) setConnectionMapping(c *gin.Context) {
	var req actors.FieldMapping
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.SetConnectionMapping(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"), req)
	respond(c, http.StatusOK, v, err)
}

// optionalJSON binds a body when there is one (these POSTs take none by
// default).
func optionalJSON(c *gin.Context, v any) error {
	if c.Request.ContentLength == 0 {
		return nil
	}
	return bindJSON(c, v)
}

type oauthStartReq struct {
	RedirectURI string   `json:"redirect_uri"`
	Scopes      []string `json:"scopes"`
}

// callbackBase is this deployment's public origin as the client reached
// it (X-Forwarded-Proto/Host from a proxy, else the request itself).
func callbackBase(c *gin.Context) string {
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	if p := strings.ToLower(c.GetHeader("X-Forwarded-Proto")); p == "https" || p == "http" {
		scheme = p
	}
	host := c.Request.Host
	if h := c.GetHeader("X-Forwarded-Host"); h != "" && !strings.ContainsAny(h, "/ ,") {
		host = h
	}
	return scheme + "://" + host
}

func (s *Server) startConnectionOAuth(c *gin.Context) {
	var req oauthStartReq
	if err := optionalJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	if req.RedirectURI == "" {
		conn, err := s.client.Connection(ctx, caller(c), c.Param("org"), c.Param("id"))
		if err != nil {
			fail(c, err)
			return
		}
		req.RedirectURI = callbackBase(c) + "/api/oauth/callback/" + conn.Provider
	}
	v, err := s.client.StartOAuth(ctx, caller(c), c.Param("org"), c.Param("id"), actors.OAuthStartInput{RedirectURI: req.RedirectURI, Scopes: req.Scopes})
	respond(c, http.StatusOK, v, err)
}

func (s *Server) startConnectionSync(c *gin.Context) {
	var req actors.SyncInput
	if err := optionalJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.StartSync(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"), req)
	if err == nil {
		c.Header("Location", "/api/v1/orgs/"+c.Param("org")+"/connections/"+c.Param("id")+"/sync")
	}
	respond(c, http.StatusAccepted, v, err)
}

func (s *Server) getConnectionSync(c *gin.Context) {
	v, err := s.client.ConnectionSync(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) cancelConnectionSync(c *gin.Context) {
	v, err := s.client.CancelSync(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) disconnectConnection(c *gin.Context) {
	v, err := s.client.DisconnectConnection(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

type analyzeConnReq struct {
	Create          bool     `json:"create"`
	Name            string   `json:"name"`
	Activate        bool     `json:"activate"`
	Unit            string   `json:"unit"`
	MinN            int      `json:"min_n"`
	Disabled        []string `json:"disabled"`
	OnlySignificant bool     `json:"only_significant"`
}

func (s *Server) analyzeConnection(c *gin.Context) {
	var req analyzeConnReq
	if err := optionalJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.MinN < 0 || req.MinN > 1_000_000 {
		fail(c, errs.Invalid("min_n", "out_of_range", "min_n must be from 0 to 1000000"))
		return
	}
	in := actors.SparkSenseInput{Create: req.Create, Name: req.Name, Activate: req.Activate}
	in.Options.Unit, in.Options.MinN, in.Options.Disabled, in.Options.OnlySignificant = req.Unit, req.MinN, req.Disabled, req.OnlySignificant
	v, err := s.client.AnalyzeConnection(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"), in)
	status := http.StatusOK
	if v != nil && v.Model != nil {
		status = http.StatusCreated
	}
	respond(c, status, v, err)
}

// oauthCallback is where the CRM sends the user back
// (GET /api/oauth/callback/{provider}?code=&state=). It is not
// authenticated: the one-time state is the credential. It answers a small
// HTML page to browsers and JSON to everyone else.
func (s *Server) oauthCallback(c *gin.Context) {
	provider := c.Param("provider")
	var res *actors.OAuthResult
	var err error
	if !actors.OAuthProviderOK(provider) {
		err = errs.NotFound("route")
	} else {
		remote := c.Query("error")
		if d := c.Query("error_description"); remote != "" && d != "" {
			remote += ": " + d
		}
		res, err = s.client.OAuthCallback(c.Request.Context(), provider, c.Query("code"), c.Query("state"), remote)
	}
	if !wantsHTML(c) {
		respond(c, http.StatusOK, res, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	if err != nil {
		e := errs.As(err)
		status, ok := statusOf[e.Kind]
		if !ok {
			status = http.StatusInternalServerError
		}
		if status >= 500 {
			c.Set(ctxCause, err)
		}
		c.Data(status, "text/html; charset=utf-8", []byte(callbackPage("Connection failed", e.Message)))
		return
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(callbackPage("Connected",
		"Your "+res.Provider+" connection is "+res.Status+". You can close this window and return to TrailSpark.")))
}

func wantsHTML(c *gin.Context) bool {
	a := c.GetHeader("Accept")
	return strings.Contains(a, "text/html") && !strings.Contains(a, "application/json")
}

func callbackPage(title, msg string) string {
	return "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + html.EscapeString(title) +
		"</title></head><body><h1>" + html.EscapeString(title) + "</h1><p>" + html.EscapeString(msg) + "</p></body></html>\n"
}
