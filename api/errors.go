package api

import (
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/engine/errs"
)

// statusOf is the one place error kinds become HTTP statuses.
var statusOf = map[errs.Kind]int{
	errs.KindInvalid:         http.StatusBadRequest,
	errs.KindUnauthenticated: http.StatusUnauthorized,
	errs.KindForbidden:       http.StatusForbidden,
	errs.KindNotFound:        http.StatusNotFound,
	errs.KindConflict:        http.StatusConflict,
	errs.KindGone:            http.StatusGone,
	errs.KindTooLarge:        http.StatusRequestEntityTooLarge,
	errs.KindUnsupportedType: http.StatusUnsupportedMediaType,
	errs.KindRateLimited:     http.StatusTooManyRequests,
	errs.KindUnavailable:     http.StatusServiceUnavailable,
	errs.KindInternal:        http.StatusInternalServerError,
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// fail answers with the error body and stops the chain. Internal causes are
// logged with the request id, never shown.
func fail(c *gin.Context, err error) {
	e := errs.As(err)
	status, ok := statusOf[e.Kind]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		c.Set(ctxCause, err)
	}
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="trailspark"`)
	}
	switch {
	case e.RetryAfter > 0:
		c.Header("Retry-After", strconv.FormatInt(int64(math.Ceil(e.RetryAfter.Seconds())), 10))
	case status == http.StatusServiceUnavailable:
		c.Header("Retry-After", "1")
	}
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, Field: e.Field}})
}
