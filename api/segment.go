package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/signal"
)

// Segment-compatible tracking API (SPEC §2.1): POST /v1/track, /v1/identify,
// /v1/page, /v1/screen, /v1/group, /v1/alias and /v1/batch, so Segment and
// RudderStack SDKs (and anything that speaks Segment's HTTP tracking API)
// can point straight at TrailSpark.
//
//   - Auth: HTTP basic with a signal_staging key as the user name (the
//     "write key"); a non-empty password is taken as the key's secret when
//     the key has one (Segment SDKs cannot send X-Api-Secret). Authorization:
//     Bearer sk_… works too, with X-Api-Secret / X-TrailSpark-Signature as on
//     the webhook.
//   - Every call is stored with source "segment". A single call's type comes
//     from the path: added to the payload when absent ("type":"track" is
//     inserted into the stored JSON), and a contradicting "type" is refused
//     (400, field type). Bodies are at most 32 KB a call (including the
//     inserted type) and 500 KB a batch.
//   - Success answers 200 {"success": true} (Segment SDKs only look at the
//     status): the calls are durably stored, as a webhook's 202 promises. A
//     duplicate messageId is a success too (stored once).
//   - A batch ({"batch": [...], "sentAt": ..., "context": ...}, or a bare
//     array) has each call accepted on its own. The wrapper's sentAt
//     corrects clock skew of calls without their own; the wrapper's context
//     is given to calls that have none (a call's own context wins whole, it
//     is not merged key by key). Every call must carry its type. When some
//     calls are refused, the good ones are STILL STORED and the answer is
//     400 with the standard error body about the first refused call: field
//     "batch[i]" or "batch[i].<field>", a message saying how many were
//     refused. Retrying the whole batch is safe when the calls carry
//     messageIds (Segment SDKs always send one): stored calls are
//     deduplicated for 24 hours.
//   - group calls with a groupId and non-empty traits also upsert the
//     group's account (actors.Client.UpsertGroupAccount) before the call is
//     stored, so the group call itself and every later call carrying that
//     groupId (or context.groupId) link their lead to it explicitly.

// segmentOK is Segment's success body.
type segmentOK struct {
	Success bool `json:"success"`
}

// segmentCall serves one single-call route; typ is the call type of the path.
func (s *Server) segmentCall(typ string) gin.HandlerFunc {
	return func(c *gin.Context) { s.segmentSingle(c, typ) }
}

// segmentAuth authenticates a Segment request: basic auth (write key as
// user name, optional password = the key's secret) or a bearer key.
func (s *Server) segmentAuth(c *gin.Context, body []byte) (*actors.KeyIdentity, error) {
	key := ""
	if user, pass, ok := c.Request.BasicAuth(); ok {
		key = strings.TrimSpace(user)
		if pass != "" && c.GetHeader("X-Api-Secret") == "" && c.GetHeader("X-TrailSpark-Signature") == "" {
			c.Request.Header.Set("X-Api-Secret", pass)
		}
	} else {
		key = bearer(c)
	}
	if key == "" {
		return nil, errs.Unauthenticated("missing_credential",
			"send the write key (a signal_staging API key, sk_...) as the HTTP basic auth user name, or as Authorization: Bearer sk_...")
	}
	return s.ingestAuth(c, key, body)
}

func (s *Server) segmentOptions(c *gin.Context, id *actors.KeyIdentity) actors.AcceptOptions {
	return actors.AcceptOptions{Org: id.OrgID, KeyID: id.KeyID, ForcedSource: signal.SourceSegment,
		IdempotencyKey: c.GetHeader("Idempotency-Key"), ReceivedAt: s.now()}
}

func (s *Server) segmentSingle(c *gin.Context, typ string) {
	body, err := readIngestBody(c, signal.MaxSignalBytes, "a Segment call")
	if err != nil {
		fail(c, err)
		return
	}
	id, err := s.segmentAuth(c, body)
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(ctxOrg, id.OrgID)
	if !s.admitIngest(c, id, 1) {
		return
	}
	body, e := withCallType(body, typ)
	if e != nil {
		fail(c, e)
		return
	}
	opts := s.segmentOptions(c, id)
	if err := s.segmentGroupAccount(c.Request.Context(), opts, body); err != nil {
		fail(c, err)
		return
	}
	res, err := s.client.Ingest().Accept(c.Request.Context(), opts, [][]byte{body})
	if err != nil {
		fail(c, err)
		return
	}
	if r := res[0]; r.Err != nil {
		fail(c, r.Err)
		return
	}
	c.JSON(http.StatusOK, segmentOK{Success: true})
}

func (s *Server) segmentBatch(c *gin.Context) {
	body, err := readIngestBody(c, signal.MaxBatchBytes, "a Segment batch")
	if err != nil {
		fail(c, err)
		return
	}
	id, err := s.segmentAuth(c, body)
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(ctxOrg, id.OrgID)
	b, err := signal.ParseBatch(body)
	if err != nil {
		fail(c, err)
		return
	}
	if !s.admitIngest(c, id, len(b.Items)) {
		return
	}
	opts := s.segmentOptions(c, id)
	opts.SentAt = b.SentAt
	wctx := batchContext(body)

	n := len(b.Items)
	itemErr := make([]*errs.Error, n)
	raws := make([][]byte, 0, n)
	idx := make([]int, 0, n)
	for i, it := range b.Items {
		raw, e := prepareBatchCall(it, wctx)
		if e != nil {
			itemErr[i] = e
			continue
		}
		raws = append(raws, raw)
		idx = append(idx, i)
	}
	// Group accounts first, so the batch's own calls link to them.
	for _, raw := range raws {
		if err := s.segmentGroupAccount(c.Request.Context(), opts, raw); err != nil {
			fail(c, err)
			return
		}
	}
	if len(raws) > 0 {
		res, err := s.client.Ingest().Accept(c.Request.Context(), opts, raws)
		if err != nil {
			fail(c, err)
			return
		}
		for j, r := range res {
			if r.Err != nil {
				itemErr[idx[j]] = r.Err
			}
		}
	}
	first, rejected := -1, 0
	for i, e := range itemErr {
		if e != nil {
			rejected++
			if first < 0 {
				first = i
			}
		}
	}
	if first < 0 {
		c.JSON(http.StatusOK, segmentOK{Success: true})
		return
	}
	e := itemErr[first]
	field := fmt.Sprintf("batch[%d]", first)
	if e.Field != "" {
		field += "." + e.Field
	}
	fail(c, errs.Invalid(field, e.Code, "%d of %d calls were refused (the others were stored); the first, batch[%d]: %s",
		rejected, n, first, e.Message))
}

// withCallType checks a single call's "type" against the path's, adding it
// when absent. Bodies that are not JSON objects pass unchanged (Normalize
// refuses them with the precise reason).
func withCallType(body []byte, typ string) ([]byte, *errs.Error) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return body, nil
	}
	raw, ok := top["type"]
	if !ok {
		return injectMember(body, "type", []byte(`"`+typ+`"`)), nil
	}
	var got string
	if json.Unmarshal(raw, &got) != nil {
		return nil, errs.Invalid("type", "wrong_type", "type must be a string (%q on this endpoint), or absent", typ)
	}
	if got != typ {
		if signal.ValidType(got) {
			return nil, errs.Invalid("type", "type_mismatch", "this endpoint takes %s calls; the body says type %q (send it to /v1/%s, or in a /v1/batch)",
				typ, got, got)
		}
		return nil, errs.Invalid("type", "type_mismatch", "this endpoint takes %s calls; the body says type %q", typ, clipValue(got))
	}
	return body, nil
}

// prepareBatchCall checks that a batch call carries its type and gives it
// the batch's context when it has none. Items that are not JSON objects
// pass unchanged (Normalize refuses them).
func prepareBatchCall(item []byte, wctx []byte) ([]byte, *errs.Error) {
	var top map[string]json.RawMessage
	if json.Unmarshal(item, &top) != nil {
		return item, nil
	}
	if t, ok := top["type"]; !ok || string(t) == "null" {
		return nil, errs.Invalid("type", "required", "each call in a Segment batch needs a type: track, identify, page, screen, group or alias")
	}
	if _, ok := top["context"]; !ok && wctx != nil {
		return injectMember(item, "context", wctx), nil
	}
	return item, nil
}

// batchContext returns the batch wrapper's "context" object, nil when there
// is none (or it is empty, or the body is an array).
func batchContext(body []byte) []byte {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil
	}
	var w struct {
		Context json.RawMessage `json:"context"`
	}
	if json.Unmarshal(body, &w) != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(w.Context, &m) != nil || len(m) == 0 {
		return nil
	}
	return bytes.Clone(w.Context)
}

// injectMember returns a copy of obj (a valid JSON object) with
// "key": value as its first member.
func injectMember(obj []byte, key string, value []byte) []byte {
	i := bytes.IndexByte(obj, '{')
	k, _ := json.Marshal(key)
	out := make([]byte, 0, len(obj)+len(k)+len(value)+2)
	out = append(out, obj[:i+1]...)
	out = append(out, k...)
	out = append(out, ':')
	out = append(out, value...)
	rest := obj[i+1:]
	if r := bytes.TrimLeft(rest, " \t\r\n"); len(r) > 0 && r[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

// segmentGroupAccount upserts the account of a group call that has a
// groupId and non-empty traits. Calls that are not groups, or that
// Normalize refuses (Accept reports those), are left alone.
func (s *Server) segmentGroupAccount(ctx context.Context, opts actors.AcceptOptions, raw []byte) error {
	if !bytes.Contains(raw, []byte(`"group"`)) {
		return nil // cheap pre-filter: a group call spells its type
	}
	sig, err := signal.Normalize(raw, signal.Options{ForcedSource: opts.ForcedSource, ReceivedAt: opts.ReceivedAt, SentAt: opts.SentAt})
	if err != nil || sig.Type != signal.TypeGroup || sig.GroupID == "" {
		return nil
	}
	var call struct {
		Traits map[string]any `json:"traits"`
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&call) != nil || len(call.Traits) == 0 {
		return nil
	}
	_, err = s.client.UpsertGroupAccount(ctx, opts.Org, sig.GroupID, call.Traits)
	return err
}

func clipValue(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
