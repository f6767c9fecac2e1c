package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hashicorp/go-hclog"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
)

const (
	ctxRequestID = "ts.request_id"
	ctxCaller    = "ts.caller"
	ctxCause     = "ts.cause"
	ctxOrg       = "ts.org" // tenant of an ingestion request (from its key)
	headerReqID  = "X-Request-Id"
)

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID keeps a sane client-sent X-Request-Id or makes one, and echoes it.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(headerReqID)
		if !validRequestID.MatchString(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(ctxRequestID, id)
		c.Header(headerReqID, id)
		c.Next()
	}
}

// recovery turns a panic into a 500 with the standard body, logged with
// the stack and request id.
func recovery(log hclog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic serving request", "request_id", c.GetString(ctxRequestID),
					"route", c.FullPath(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				fail(c, errs.Internal(fmt.Errorf("panic: %v", r)))
			}
		}()
		c.Next()
	}
}

// accessLog logs one line per request. It logs the route template, never
// the raw path or query: ingestion keys travel in paths, and tokens must
// never reach a log.
func accessLog(log hclog.Logger, m *metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		status := c.Writer.Status()
		m.observe(c.Request.Method, route, status, d)
		args := []any{"method", c.Request.Method, "route", route, "status", status,
			"duration_ms", float64(d.Microseconds()) / 1000, "request_id", c.GetString(ctxRequestID)}
		if org := c.Param("org"); org != "" {
			// Log only real org ids: whatever else sits in the slot may be
			// a credential pasted into the wrong place.
			if !credential.ValidID(org, "org_") {
				org = "invalid"
			}
			args = append(args, "org", org)
		} else if org := c.GetString(ctxOrg); org != "" {
			args = append(args, "org", org)
		}
		if v, ok := c.Get(ctxCaller); ok {
			if cl := v.(tenant.Caller); cl.Operator {
				args = append(args, "caller", "operator")
			} else {
				args = append(args, "user", cl.UserID)
			}
		}
		if cause, ok := c.Get(ctxCause); ok {
			args = append(args, "error", fmt.Sprint(cause))
		}
		switch {
		case status >= 500:
			log.Error("request", args...)
		case route == "/healthz" || route == "/readyz" || route == "/metrics":
			log.Trace("request", args...)
		default:
			log.Info("request", args...)
		}
	}
}

// bodyLimit caps request bodies; reads past it fail and become 413.
func bodyLimit(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > n {
			fail(c, &errs.Error{Kind: errs.KindTooLarge, Code: "payload_too_large",
				Message: fmt.Sprintf("the body is larger than %d bytes", n)})
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}

// bearer extracts the Authorization bearer token.
func bearer(c *gin.Context) string {
	h := c.GetHeader("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// authenticate resolves the caller of a management route: the operator
// token, a session token or a personal access token.
func (s *Server) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		tok := bearer(c)
		switch {
		case tok == "":
			fail(c, errs.Unauthenticated("missing_credential", "send Authorization: Bearer <token>"))
			return
		case s.operatorHash != nil && s.hasher.Equal(tok, s.operatorHash):
			c.Set(ctxCaller, tenant.Caller{Operator: true})
		case strings.HasPrefix(tok, credential.APIKeyPrefix):
			fail(c, errs.Unauthenticated("invalid_token", "API keys authenticate ingestion endpoints only; use a session or personal access token"))
			return
		default:
			uid, err := s.client.Users().Authenticate(c.Request.Context(), tok)
			if err != nil {
				fail(c, err)
				return
			}
			c.Set(ctxCaller, tenant.Caller{UserID: uid})
		}
		c.Next()
	}
}

func caller(c *gin.Context) tenant.Caller {
	v, _ := c.Get(ctxCaller)
	cl, _ := v.(tenant.Caller)
	return cl
}
