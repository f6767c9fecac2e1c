package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/errs"
)

// Signal mapping management (SPEC §2.5): the signal queue, the preview of
// a draft rule and the explorer's "process now". The logic is in
// actors/queue.go.

// queueQueryInt reads an optional integer query parameter in [lo, hi]; absent
// gives 0 (the client's default).
func queueQueryInt(c *gin.Context, name string, lo, hi int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errs.Invalid(name, "out_of_range", "%s must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

// signalQueue answers GET /orgs/{org}/signal-queue?scan=&limit=.
func (s *Server) signalQueue(c *gin.Context) {
	var opt actors.QueueOptions
	var err error
	if opt.Scan, err = queueQueryInt(c, "scan", 1, actors.MaxQueueScan); err != nil {
		fail(c, err)
		return
	}
	if opt.Limit, err = queueQueryInt(c, "limit", 1, actors.MaxQueueLimit); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.SignalQueue(c.Request.Context(), caller(c), c.Param("org"), opt)
	respond(c, http.StatusOK, v, err)
}

// previewReq is the body of POST /orgs/{org}/signal-rules/preview. The
// rule is decoded on its own so that its errors name "rule.<field>".
type previewReq struct {
	Rule          json.RawMessage `json:"rule"`
	Last          *int            `json:"last"`
	ExcludeRuleID string          `json:"exclude_rule_id"`
}

// decodePreviewRule decodes a rule strictly, like POST /signal-rules.
func decodePreviewRule(raw json.RawMessage) (ruleReq, error) {
	var r ruleReq
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return r, errs.Invalid("rule", "required", "rule is required: the rule to preview, as for POST /signal-rules")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, underFieldErr(decodeError(err), "rule")
	}
	return r, nil
}

// underFieldErr puts a field error under prefix ("rule" + "." + field).
func underFieldErr(err error, prefix string) error {
	e := *errs.As(err)
	if e.Field == "" {
		e.Field = prefix
	} else {
		e.Field = prefix + "." + e.Field
	}
	return &e
}

func (s *Server) previewRule(c *gin.Context) {
	var req previewReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	r, err := decodePreviewRule(req.Rule)
	if err != nil {
		fail(c, err)
		return
	}
	in := actors.PreviewInput{Rule: r.rule(), ExcludeRuleID: req.ExcludeRuleID}
	if req.Last != nil {
		if *req.Last < 1 || *req.Last > actors.MaxPreviewLast {
			fail(c, errs.Invalid("last", "out_of_range", "last must be an integer from 1 to %d", actors.MaxPreviewLast))
			return
		}
		in.Last = *req.Last
	}
	v, err := s.client.PreviewRule(c.Request.Context(), caller(c), c.Param("org"), in)
	respond(c, http.StatusOK, v, err)
}

// processSignals answers POST /orgs/{org}/signals/process?wait=.
func (s *Server) processSignals(c *gin.Context) {
	wait := actors.DefaultProcessWait
	if c.Query("wait") != "" {
		n, err := queueQueryInt(c, "wait", 0, int(actors.MaxProcessWait/time.Second))
		if err != nil {
			fail(c, err)
			return
		}
		wait = time.Duration(n) * time.Second
	}
	v, err := s.client.ProcessNow(c.Request.Context(), caller(c), c.Param("org"), wait)
	respond(c, http.StatusOK, v, err)
}
