package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/trailspark/trailspark/sdk/connector"
)

// batchSize is HubSpot's batch endpoint limit.
const batchSize = 100

// maxSplits bounds the extra calls spent isolating bad inputs in one Write.
const maxSplits = 16

// writeObjects maps WriteRequest.Object to the CRM object type.
var writeObjects = map[string]string{
	"contacts": "contacts", "contact": "contacts",
	"companies": "companies", "company": "companies",
	"deals": "deals", "deal": "deals",
}

// mode is how an input names its record.
type mode int

const (
	byID       mode = iota // batch/update by record id
	byEmail                // batch/update with idProperty=email
	upsertMail             // batch/upsert with idProperty=email: create when missing
)

type input struct {
	index int
	mode  mode
	key   string // record id or lower-cased email
	props map[string]string
}

// Write applies score updates with batch/update (and batch/upsert for
// contacts that may be created), 100 inputs a call. A 207 answer carries
// per-input errors; a 400 for a whole batch (one invalid property value
// fails the lot) is bisected so only the bad inputs fail.
func (h *HubSpot) Write(ctx context.Context, cfg connector.Config, req connector.WriteRequest) ([]connector.WriteResult, error) {
	object, ok := writeObjects[strings.ToLower(req.Object)]
	if !ok {
		return nil, connector.Permanent("hubspot cannot write %q (contacts, companies, deals)", req.Object)
	}
	api, err := h.api(cfg)
	if err != nil {
		return nil, err
	}
	res := make([]connector.WriteResult, len(req.Updates))
	groups := map[mode][]*input{}
	for i, u := range req.Updates {
		res[i].Index = i
		in := &input{index: i}
		if in.props, err = properties(u.Fields); err != nil {
			res[i].Err = connector.Permanent("%v", err)
			continue
		}
		email := strings.ToLower(strings.TrimSpace(u.Email))
		switch {
		case u.RecordID != "":
			in.mode, in.key = byID, u.RecordID
		case object == "contacts" && strings.Contains(email, "@") && u.CreateIfMissing:
			in.mode, in.key = upsertMail, email
		case object == "contacts" && strings.Contains(email, "@"):
			in.mode, in.key = byEmail, email
		default:
			res[i].Err = connector.Permanent("a %s update needs a record id (or, for contacts, an email)", object)
			continue
		}
		groups[in.mode] = append(groups[in.mode], in)
	}
	w := &writer{h: h, api: api, object: object, res: res}
	for _, m := range []mode{byID, byEmail, upsertMail} {
		for _, chunk := range chunks(groups[m]) {
			if err := w.send(ctx, m, chunk); err != nil {
				return nil, err
			}
		}
	}
	h.log.Debug("write", "tenant", cfg.Tenant, "object", object, "updates", len(req.Updates), "calls", w.calls)
	return res, nil
}

// chunks splits inputs into batches of at most 100 with no key twice (HubSpot
// rejects a batch naming one record twice; the later update goes in a later
// batch, so it still wins).
func chunks(ins []*input) [][]*input {
	var out [][]*input
	var cur []*input
	keys := map[string]bool{}
	for _, in := range ins {
		if len(cur) == batchSize || keys[in.key] {
			out = append(out, cur)
			cur, keys = nil, map[string]bool{}
		}
		cur = append(cur, in)
		keys[in.key] = true
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// properties turns a JSON object into HubSpot's string property values.
func properties(raw json.RawMessage) (map[string]string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errors.New("fields must be a JSON object")
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !propNameRe.MatchString(k) {
			return nil, fmt.Errorf("%q is not a HubSpot property internal name", k)
		}
		v = bytes.TrimSpace(v)
		switch {
		case string(v) == "null":
			out[k] = "" // clears the property
		case len(v) > 0 && v[0] == '"':
			var s string
			_ = json.Unmarshal(v, &s)
			out[k] = s
		case len(v) > 0 && (v[0] == '{' || v[0] == '['):
			return nil, fmt.Errorf("property %s: objects and arrays cannot be written", k)
		default:
			out[k] = string(v) // numbers and booleans as HubSpot writes them
		}
	}
	return out, nil
}

type writer struct {
	h       *HubSpot
	api     *client
	object  string
	res     []connector.WriteResult
	calls   int
	splits  int
	written bool
	failed  error
}

type batchResponse struct {
	Status  string `json:"status"`
	Results []struct {
		ID         string             `json:"id"`
		New        bool               `json:"new"`
		Properties map[string]*string `json:"properties"`
	} `json:"results"`
	NumErrors int        `json:"numErrors"`
	Errors    []apiError `json:"errors"`
}

// send writes one batch; it returns an error only while nothing has been
// written (the host may then retry the whole request).
func (w *writer) send(ctx context.Context, m mode, chunk []*input) error {
	if len(chunk) == 0 {
		return nil
	}
	if w.failed != nil {
		w.failAll(chunk, w.failed)
		return nil
	}
	inputs := make([]map[string]any, len(chunk))
	for i, in := range chunk {
		inputs[i] = map[string]any{"id": in.key, "properties": in.props}
		if m != byID {
			inputs[i]["idProperty"] = "email"
		}
	}
	path := "/crm/v3/objects/" + w.object + "/batch/update"
	if m == upsertMail {
		path = "/crm/v3/objects/" + w.object + "/batch/upsert"
	}
	var out batchResponse
	w.calls++
	status, err := w.api.do(ctx, http.MethodPost, path, map[string]any{"inputs": inputs}, &out)
	if err != nil {
		if status == http.StatusBadRequest && len(chunk) > 1 && w.splits < maxSplits {
			// One invalid input fails the whole batch: halve until the
			// bad ones stand alone (bounded: a property missing from the
			// portal fails every input, and must not cost 200 calls).
			w.splits++
			half := len(chunk) / 2
			if err := w.send(ctx, m, chunk[:half]); err != nil {
				return err
			}
			return w.send(ctx, m, chunk[half:])
		}
		if status == http.StatusBadRequest {
			w.failAll(chunk, err)
			return nil
		}
		if !w.written {
			return fmt.Errorf("%s: %w", path, err)
		}
		w.failed = err
		w.failAll(chunk, err)
		return nil
	}
	w.written = true
	w.apply(m, chunk, status, out)
	return nil
}

// apply matches results and errors to inputs: results by id (or email),
// errors by the ids in their context.
func (w *writer) apply(m mode, chunk []*input, status int, out batchResponse) {
	byKey := map[string]*input{}
	for _, in := range chunk {
		byKey[in.key] = in
	}
	done := map[*input]bool{}
	for _, r := range out.Results {
		key := r.ID
		if m != byID {
			if e := r.Properties["email"]; e != nil {
				key = strings.ToLower(*e)
			}
		}
		if in, ok := byKey[key]; ok && !done[in] {
			w.res[in.index].RecordID, w.res[in.index].Created = r.ID, r.New
			done[in] = true
		}
	}
	attributed := true // every error names the inputs it is about
	for _, e := range out.Errors {
		ce := batchError(e)
		named := false
		for _, ids := range e.Context {
			for _, id := range ids {
				if in, ok := byKey[strings.ToLower(id)]; ok && !done[in] {
					w.res[in.index].Err = ce
					if m == byID {
						w.res[in.index].RecordID = in.key
					}
					done[in] = true
					named = true
				}
			}
		}
		attributed = attributed && named
	}
	for i, in := range chunk {
		if done[in] {
			continue
		}
		switch {
		case status == http.StatusOK && len(out.Results) == len(chunk):
			// Fully successful but not matched by key: results follow inputs.
			w.res[in.index].RecordID, w.res[in.index].Created = out.Results[i].ID, out.Results[i].New
		case status == http.StatusOK || attributed:
			// Not named by any error: written (by email, HubSpot may not
			// echo the email, so the id can stay unknown).
			if m == byID {
				w.res[in.index].RecordID = in.key
			}
		default:
			w.res[in.index].Err = connector.Retryable("HubSpot returned no result for this input")
		}
	}
}

func (w *writer) failAll(chunk []*input, err error) {
	var ce *connector.Error
	if !errors.As(err, &ce) {
		ce = connector.Retryable("%v", err)
	}
	for _, in := range chunk {
		w.res[in.index].Err = ce
	}
}
