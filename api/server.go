// Package api is the HTTP front of a node: Gin routes, middleware (request
// id, recovery, logging, body limits, authentication) and handlers that turn
// requests into calls on actors.Client. It never touches the store and never
// imports protoactor. Role checks happen in the org grain, from the one
// capability table in engine/tenant.
package api

import (
	_ "embed"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
)

//go:embed openapi.yaml
var openapiDoc []byte

// OpenAPI returns the API description served at /openapi.yaml.
func OpenAPI() []byte { return openapiDoc }

// Options configures the HTTP layer.
type Options struct {
	// OperatorTokenHash is the keyed hash of the operator credential.
	OperatorTokenHash []byte
	Hasher            *credential.Hasher
	// MaxBodyBytes limits management request bodies (default 1 MiB).
	MaxBodyBytes int64
	Logger       hclog.Logger
	// Now is the clock for signature tolerance checks (default time.Now).
	Now func() time.Time
	// Pprof serves Go's profiler at /debug/pprof/ to the operator.
	Pprof bool
	// IngestLimits are the per-key and per-organization ingestion rate
	// limits (api/ratelimit.go; zero rates: unlimited).
	IngestLimits IngestLimits
}

// Server is the HTTP API of one node.
type Server struct {
	client       *actors.Client
	hasher       *credential.Hasher
	operatorHash []byte
	log          hclog.Logger
	now          func() time.Time
	metrics      *metrics
	limits       *ingestLimiter
	engine       *gin.Engine
}

// New builds the router.
func New(client *actors.Client, opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{client: client, hasher: opts.Hasher, operatorHash: opts.OperatorTokenHash,
		log: opts.Logger.Named("http"), now: opts.Now, metrics: newMetrics(client), limits: newIngestLimiter(opts.IngestLimits)}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(requestID(), accessLog(s.log, s.metrics), recovery(s.log))
	r.NoRoute(func(c *gin.Context) { fail(c, errs.New(errs.KindNotFound, "route_not_found", "no such route")) })
	r.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, errorBody{Error: errorDetail{Code: "method_not_allowed", Message: "method not allowed on this route"}})
	})

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		if !s.client.Ready() {
			fail(c, errs.Unavailable("the node is starting or stopping", nil))
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))
	r.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", openapiDoc) })

	// Ingestion sets its own limits (32 KB a signal, 500 KB a batch, a
	// streamed bulk import); everything else gets the management limit.
	ing := r.Group("/api")
	ing.POST("/signal-staging/webhook", s.webhookBearer)
	ing.POST("/signal-staging/webhook/:a", s.webhookOne)
	ing.POST("/signal-staging/webhook/:a/:b", s.webhookTwo)
	ing.POST("/signal-staging/connector/:connector/:apiKey", s.connectorWebhook) // translated by a connector plugin (api/translate.go)
	ing.POST("/signal-staging/bulk", s.bulk)
	ing.POST("/signal-staging/bulk/:apiKey", s.bulk)
	ing.POST("/product-orgs/webhook", s.productOrgWebhook)
	ing.POST("/product-orgs/webhook/:apiKey", s.productOrgWebhook)

	// Segment-compatible tracking API (api/segment.go), 32 KB a call, 500 KB a batch.
	seg := r.Group("/v1")
	seg.POST("/track", s.segmentCall("track"))
	seg.POST("/identify", s.segmentCall("identify"))
	seg.POST("/page", s.segmentCall("page"))
	seg.POST("/screen", s.segmentCall("screen"))
	seg.POST("/group", s.segmentCall("group"))
	seg.POST("/alias", s.segmentCall("alias"))
	seg.POST("/batch", s.segmentBatch)

	// Imports may be larger than other management requests.
	r.POST("/api/v1/orgs/:org/accounts/import", bodyLimit(10<<20), s.authenticate(), s.importAccounts)
	r.POST("/api/v1/orgs/:org/icp-models/analyze", bodyLimit(maxICPUpload), s.authenticate(), s.analyzeICP)
	r.GET("/api/oauth/callback/:provider", s.oauthCallback) // OAuth redirect target: the state is the credential (api/connections.go)

	v1 := r.Group("/api/v1", bodyLimit(opts.MaxBodyBytes))
	v1.POST("/auth/register", s.register)
	v1.POST("/auth/login", s.login)
	v1.GET("/api-keys/self", s.keySelf)

	authed := v1.Group("", s.authenticate())
	authed.POST("/auth/logout", s.logout)
	authed.GET("/me", s.me)
	authed.GET("/plans", s.listPlans)
	s.pluginRoutes(authed)
	authed.GET("/cluster", s.getCluster)
	authed.POST("/me/tokens", s.createPAT)
	authed.GET("/me/tokens", s.listPATs)
	authed.DELETE("/me/tokens/:id", s.revokePAT)

	authed.GET("/orgs/subdomain-check", s.subdomainCheck)
	authed.POST("/orgs", s.createOrg)
	authed.GET("/orgs", s.listOrgs)
	authed.GET("/orgs/:org", s.getOrg)
	authed.PATCH("/orgs/:org", s.updateOrg)
	authed.DELETE("/orgs/:org", s.deleteOrg)

	authed.GET("/orgs/:org/members", s.listMembers)
	authed.PATCH("/orgs/:org/members/:user", s.setRole)
	authed.DELETE("/orgs/:org/members/:user", s.removeMember)
	authed.POST("/orgs/:org/transfer-ownership", s.transferOwnership)

	authed.POST("/orgs/:org/invitations", s.invite)
	authed.GET("/orgs/:org/invitations", s.listInvitations)
	authed.POST("/orgs/:org/invitations/accept", s.acceptInvitation)
	authed.POST("/orgs/:org/invitations/:id/resend", s.resendInvitation)
	authed.POST("/orgs/:org/invitations/:id/cancel", s.cancelInvitation)

	authed.POST("/orgs/:org/api-keys", s.createKey)
	authed.GET("/orgs/:org/api-keys", s.listKeys)
	authed.GET("/orgs/:org/api-keys/:id", s.getKey)
	authed.POST("/orgs/:org/api-keys/:id/revoke", s.revokeKey)
	authed.POST("/orgs/:org/api-keys/:id/rotate", s.rotateKey)

	authed.GET("/orgs/:org/jobs", s.listJobs)
	authed.GET("/orgs/:org/jobs/:id", s.getJob)

	authed.GET("/orgs/:org/signals", s.listSignals)
	authed.GET("/orgs/:org/signals/stats", s.signalStats)
	authed.GET("/orgs/:org/signals/:id", s.getSignal)
	authed.POST("/orgs/:org/signals/process", s.processSignals)
	authed.GET("/orgs/:org/signal-queue", s.signalQueue)
	authed.POST("/orgs/:org/signal-rules/preview", s.previewRule)
	authed.GET("/orgs/:org/signal-rules", s.listRules)
	authed.POST("/orgs/:org/signal-rules", s.createRule)
	authed.GET("/orgs/:org/signal-rules/:id", s.getRule)
	authed.POST("/orgs/:org/signal-rules/:id/reprocess", s.reprocessRule)
	authed.Use(s.reprocessAfterRuleUpdate) // ?reprocess=true on the PUT below (api/reprocess.go); a no-op for other routes
	authed.PUT("/orgs/:org/signal-rules/:id", s.updateRule)
	authed.DELETE("/orgs/:org/signal-rules/:id", s.deleteRule)
	authed.GET("/orgs/:org/leads", s.listLeads)
	authed.GET("/orgs/:org/leads/:id", s.getLead)
	authed.POST("/orgs/:org/leads/:id/merge", s.mergeLead)
	authed.GET("/orgs/:org/merges", s.listMerges)
	authed.GET("/orgs/:org/merges/:id", s.getMerge)
	authed.POST("/orgs/:org/merges/:id/undo", s.undoMerge)
	authed.GET("/orgs/:org/accounts", s.listAccounts)
	authed.POST("/orgs/:org/accounts", s.createAccount)
	authed.GET("/orgs/:org/accounts/:id", s.getAccount)
	s.scoringRoutes(authed)
	s.billingRoutes(authed)
	s.connectionRoutes(authed)
	s.destinationRoutes(authed) // api/destinations.go
	authed.GET("/orgs/:org/product-orgs", s.listProductOrgs)
	authed.GET("/orgs/:org/product-orgs/:id", s.getProductOrg)

	if opts.Pprof {
		dbg := r.Group("/debug/pprof", s.authenticate(), operatorOnly)
		dbg.GET("/*name", gin.WrapF(func(w http.ResponseWriter, req *http.Request) {
			switch strings.TrimPrefix(req.URL.Path, "/debug/pprof/") {
			case "profile":
				pprof.Profile(w, req)
			case "trace":
				pprof.Trace(w, req)
			case "symbol":
				pprof.Symbol(w, req)
			default:
				pprof.Index(w, req)
			}
		}))
	}
	s.engine = r
	return s
}

// Handler is the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.engine }

// Routes lists every registered method and path (for the OpenAPI check).
func (s *Server) Routes() []gin.RouteInfo { return s.engine.Routes() }

// operatorOnly refuses everyone but the operator (debug endpoints).
func operatorOnly(c *gin.Context) {
	if !caller(c).Operator {
		fail(c, errs.Forbidden("only the operator may use this endpoint"))
		return
	}
	c.Next()
}
