package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/errs"
)

// "Reprocess matching signals" (SPEC §2.5, actors/reprocess.go): a
// background job of kind signal_reprocess re-runs the organization's last N
// processed signals against the current rules. It is started by
//
//   - POST /orgs/{org}/signal-rules/{id}/reprocess (Editor and up), body
//     optional {"last": N} (1–200,000; default 10,000): 202 {"job_id"},
//     with the job's address in Location;
//   - PUT /orgs/{org}/signal-rules/{id}?reprocess=true: the update as
//     always, then (when it succeeded) the same job, named by the X-Job-Id
//     header; the body is the updated rule, unchanged.
//
// Progress is read with GET /orgs/{org}/jobs/{id}. One reprocess job runs
// per organization at a time: another start answers 409 job_running (for
// the PUT, before the rule is changed).

// reprocessReq is the optional body of POST …/reprocess.
type reprocessReq struct {
	Last *int `json:"last"`
}

// reprocessStarted is the 202 answer.
type reprocessStarted struct {
	JobID string `json:"job_id"`
}

// reprocessRule serves POST /api/v1/orgs/:org/signal-rules/:id/reprocess.
func (s *Server) reprocessRule(c *gin.Context) {
	in := actors.ReprocessInput{RuleID: c.Param("id")}
	if c.Request.ContentLength != 0 { // the body is optional
		var req reprocessReq
		if err := bindJSON(c, &req); err != nil {
			fail(c, err)
			return
		}
		if req.Last != nil {
			if *req.Last < 1 || *req.Last > actors.MaxReprocessLast {
				fail(c, errs.Invalid("last", "out_of_range", "last must be an integer from 1 to %d", actors.MaxReprocessLast))
				return
			}
			in.Last = *req.Last
		}
	}
	org := c.Param("org")
	job, err := s.client.StartReprocess(c.Request.Context(), caller(c), org, in)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", jobPath(org, job.ID))
	c.JSON(http.StatusAccepted, reprocessStarted{JobID: job.ID})
}

// ruleUpdatePath is the route of PUT /signal-rules/:id (server.go).
const ruleUpdatePath = "/api/v1/orgs/:org/signal-rules/:id"

// reprocessAfterRuleUpdate is middleware for ?reprocess=true on PUT
// /signal-rules/:id; every other request passes straight through (it is
// installed on the routes registered after it, see server.go).
//
// Before the update runs it authorizes the job and claims the
// organization's reprocess slot, so a 409 (another job running) or 403
// leaves the rule unchanged. The job is started when the update answers
// 200, just before the status line is written, so its id can still go
// into the X-Job-Id header; any other answer releases the slot. If
// recording the job fails then, the update stands and is answered without
// X-Job-Id (the failure is logged).
func (s *Server) reprocessAfterRuleUpdate(c *gin.Context) {
	if c.Request.Method != http.MethodPut || c.FullPath() != ruleUpdatePath {
		c.Next()
		return
	}
	v := c.Query("reprocess")
	if v == "" {
		c.Next()
		return
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		fail(c, errs.Invalid("reprocess", "invalid_format", "reprocess must be true or false"))
		return
	}
	if !on {
		c.Next()
		return
	}
	ctx := c.Request.Context()
	org := c.Param("org")
	ticket, err := s.client.PrepareReprocess(ctx, caller(c), org, actors.ReprocessInput{RuleID: c.Param("id")})
	if err != nil {
		fail(c, err)
		return
	}
	defer ticket.Release() // no-op once started
	w := &startOnStatus{ResponseWriter: c.Writer, onStatus: func(code int, h http.Header) {
		if code != http.StatusOK {
			ticket.Release()
			return
		}
		job, err := ticket.Start(ctx)
		if err != nil {
			s.log.Warn("rule updated, but its reprocess job could not start", "org", org, "rule", c.Param("id"), "error", err)
			return
		}
		h.Set("X-Job-Id", job.ID)
	}}
	c.Writer = w
	c.Next()
}

// startOnStatus calls onStatus once, with the answer's status, before the
// status line and headers are written.
type startOnStatus struct {
	gin.ResponseWriter
	onStatus func(code int, h http.Header)
	fired    bool
}

func (w *startOnStatus) fire(code int) {
	if w.fired || w.ResponseWriter.Written() {
		return
	}
	w.fired = true
	w.onStatus(code, w.ResponseWriter.Header())
}

func (w *startOnStatus) WriteHeader(code int) {
	w.fire(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *startOnStatus) WriteHeaderNow() {
	w.fire(w.ResponseWriter.Status())
	w.ResponseWriter.WriteHeaderNow()
}

func (w *startOnStatus) Write(b []byte) (int, error) {
	w.fire(w.ResponseWriter.Status())
	return w.ResponseWriter.Write(b)
}

func (w *startOnStatus) WriteString(s string) (int, error) {
	w.fire(w.ResponseWriter.Status())
	return w.ResponseWriter.WriteString(s)
}
