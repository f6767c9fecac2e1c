package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/signal"
)

// connectorWebhook serves POST /api/signal-staging/connector/:connector/:apiKey:
// a vendor's own payload (a Marketo webhook, a Segment Actions call, a
// third-party format) translated into canonical signals by the connector
// plugin of that name, then accepted like a batch (202 with per-item
// results). The key is checked before the body goes to the plugin.
func (s *Server) connectorWebhook(c *gin.Context) {
	name := strings.ToLower(c.Param("connector"))
	if !signal.ValidSource(name) {
		fail(c, errs.Invalid("connector", "invalid_format", "the connector in the path must be 1-32 characters of a-z, 0-9, '_' and '-'"))
		return
	}
	body, err := readIngestBody(c, signal.MaxBatchBytes, "a payload")
	if err != nil {
		fail(c, err)
		return
	}
	id, err := s.ingestAuth(c, c.Param("apiKey"), body)
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(ctxOrg, id.OrgID)
	items, err := s.client.TranslateInbound(c.Request.Context(), id.OrgID, name, body, c.Request.Header.Clone(), c.ContentType())
	if err != nil {
		fail(c, err)
		return
	}
	if len(items) == 0 {
		c.JSON(http.StatusAccepted, batchAccepted{Results: []batchItem{}})
		return
	}
	if !s.admitIngest(c, id, len(items)) {
		return
	}
	res, err := s.client.Ingest().Accept(c.Request.Context(), actors.AcceptOptions{Org: id.OrgID, KeyID: id.KeyID,
		ForcedSource: name, ReceivedAt: s.now()}, items)
	if err != nil {
		fail(c, err)
		return
	}
	writeBatchAccepted(c, res)
}
