package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/productorg"
	"github.com/trailspark/trailspark/engine/signal"
	"github.com/trailspark/trailspark/engine/tenant"
)

// Product orgs (SPEC §2.6): POST /api/product-orgs/webhook/{apiKey} (or
// /api/product-orgs/webhook with the key as a bearer token) takes one JSON
// object of at most 32 KB, maps it through the product_org key's payload
// template (engine/productorg) and upserts the product org, linked to an
// account. The answer, 202, comes once the product org is stored:
//
//	{"id": "<product org id>", "message": "Product org received",
//	 "account_id": "<linked account>" | null, "created": bool,
//	 "link": {"account_id", "how"} | null, "unmatched_reason": "..."}
//
// A signal_staging key answers 401 key_wrong_type; a mapping problem 400
// naming the product-org field (the message names the template path).

// productOrgAccepted is the webhook's 202 body.
type productOrgAccepted struct {
	ID        string              `json:"id"`
	Message   string              `json:"message"`
	AccountID *string             `json:"account_id"`
	Created   bool                `json:"created"`
	Link      *actors.AccountLink `json:"link"`
	Unmatched string              `json:"unmatched_reason,omitempty"`
}

// productOrgAuth authenticates a product_org key (path or bearer).
func (s *Server) productOrgAuth(c *gin.Context, body []byte) (*actors.KeyIdentity, error) {
	id, err := s.authenticateKey(c, keyFrom(c, c.Param("apiKey")), body)
	if err != nil {
		return nil, err
	}
	if id.Type != string(tenant.KeyProductOrg) {
		return nil, errs.Unauthenticated("key_wrong_type", "this key is a "+id.Type+" key; the product-org endpoint needs a product_org key")
	}
	return id, nil
}

func (s *Server) productOrgWebhook(c *gin.Context) {
	body, err := readIngestBody(c, signal.MaxSignalBytes, "a product org update")
	if err != nil {
		fail(c, err)
		return
	}
	id, err := s.productOrgAuth(c, body)
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(ctxOrg, id.OrgID)
	payload, err := decodeObject(body)
	if err != nil {
		fail(c, err)
		return
	}
	tpl, err := s.client.KeyTemplate(c.Request.Context(), id.OrgID, id.KeyID)
	if err != nil {
		fail(c, err)
		return
	}
	upd, err := productorg.Apply(tpl, payload)
	if err != nil {
		fail(c, err)
		return
	}
	got, err := s.client.ReceiveProductOrg(c.Request.Context(), id.OrgID, id.KeyID, upd)
	if err != nil {
		fail(c, err)
		return
	}
	r := got.Record
	out := productOrgAccepted{ID: r.ID, Message: "Product org received", Created: got.Created, Link: r.Link, Unmatched: r.Unmatched}
	if r.Link != nil {
		out.AccountID = &r.Link.AccountID
	}
	c.JSON(http.StatusAccepted, out)
}

// decodeObject decodes a JSON object, keeping numbers exact (json.Number).
func decodeObject(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errs.Invalid("", "malformed_json", "the body is empty: send a JSON object")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, errs.Invalid("", "malformed_json", "the body is not valid JSON: %s", err.Error())
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, errs.Invalid("", "malformed_json", "the body has data after its JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errs.Invalid("", "malformed_json", "the body must be a JSON object")
	}
	return m, nil
}

func (s *Server) listProductOrgs(c *gin.Context) {
	after, limit, err := pageParams(c)
	if err != nil {
		fail(c, err)
		return
	}
	items, next, err := s.client.ProductOrgs(c.Request.Context(), caller(c), c.Param("org"), after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[actors.ProductOrgRecord]{Items: items, NextCursor: next})
}

func (s *Server) getProductOrg(c *gin.Context) {
	v, err := s.client.ProductOrg(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}
