package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/trailspark/trailspark/sdk/connector"
)

// batchSize is the sObject Collections limit per request.
const batchSize = 200

// lookupChunk bounds the ids or emails in one SOQL IN (...) clause: one
// query covers a whole 200-record batch.
const lookupChunk = batchSize

// maxQueryBytes bounds the URL-encoded IN list of one lookup, keeping the
// request line under Salesforce's 16,384-byte URI limit (the rest of the
// line — method, path, SELECT … ORDER BY — is under 300 bytes): 200
// emails of up to ~60 characters fit in one query (a 30-character email
// encodes to ~42 bytes, 200 of them ~8.5 KB), but 200 long ones would
// not, so a chunk is also cut where its encoded list would pass this.
const maxQueryBytes = 15_000

// convertedCode is the per-record error Salesforce answers an update of a
// converted Lead with.
const convertedCode = "CANNOT_UPDATE_CONVERTED_LEAD"

// target is one record to write after resolution.
type target struct {
	index  int    // in WriteRequest.Updates
	object string // sObject type actually written (Contact for a converted Lead)
	id     string // empty: create
	fields map[string]json.RawMessage
}

// saveResult is one entry of an sObject Collections answer.
type saveResult struct {
	ID      string `json:"id"`
	Success bool   `json:"success"`
	Errors  []struct {
		StatusCode string   `json:"statusCode"`
		Message    string   `json:"message"`
		Fields     []string `json:"fields"`
	} `json:"errors"`
}

// Write applies score updates through sObject Collections (PATCH to update,
// POST to create), at most 200 records a call, allOrNone=false so one bad
// record does not fail its batch. A converted Lead is never written:
// Salesforce refuses it (CANNOT_UPDATE_CONVERTED_LEAD), and then its
// Contact is written (options.converted_leads=contact, the default) or the
// update fails permanently (skip); conversion is looked up only for the
// refused records. Updates without a RecordID are matched by Email (one
// SOQL query per 200 emails).
func (s *Salesforce) Write(ctx context.Context, cfg connector.Config, req connector.WriteRequest) ([]connector.WriteResult, error) {
	if !fieldNameRe.MatchString(req.Object) {
		return nil, connector.Permanent("%q is not an sObject API name", req.Object)
	}
	api, err := s.api(cfg)
	if err != nil {
		return nil, err
	}
	res := make([]connector.WriteResult, len(req.Updates))
	for i := range res {
		res[i].Index = i
	}
	var targets []*target
	byEmail := map[string][]*target{}
	for i, u := range req.Updates {
		t := &target{index: i, object: req.Object, id: u.RecordID}
		if err := json.Unmarshal(u.Fields, &t.fields); err != nil || t.fields == nil {
			res[i].Err = connector.Permanent("fields must be a JSON object")
			continue
		}
		if bad := badField(t.fields); bad != "" {
			res[i].Err = connector.Permanent("%q cannot be written", bad)
			continue
		}
		switch {
		case t.id != "" && !sfIDRe.MatchString(t.id):
			res[i].Err = connector.Permanent("%q is not a Salesforce id", t.id)
			continue
		case t.id == "" && !strings.Contains(u.Email, "@"):
			res[i].Err = connector.Permanent("neither a record id nor an email to match")
			continue
		case t.id == "" && !strings.EqualFold(req.Object, "Lead") && !strings.EqualFold(req.Object, "Contact"):
			res[i].Err = connector.Permanent("%s records can only be written by id", req.Object)
			continue
		case t.id == "":
			e := strings.ToLower(strings.TrimSpace(u.Email))
			byEmail[e] = append(byEmail[e], t)
		}
		targets = append(targets, t)
	}

	// Resolve emails to ids (newest record wins); unknown ones are created
	// when the update allows it.
	if len(byEmail) > 0 {
		found, err := s.lookupEmails(ctx, api, req.Object, keys(byEmail))
		if err != nil {
			return nil, err
		}
		for e, ts := range byEmail {
			for _, t := range ts {
				if id, ok := found[e]; ok {
					t.id = id
				} else if req.Updates[t.index].CreateIfMissing {
					t.fields["Email"], _ = json.Marshal(req.Updates[t.index].Email)
				} else {
					res[t.index].Err = connector.NotFound("no %s with that email", req.Object)
				}
			}
		}
	}

	var updates, creates []*target
	for _, t := range targets {
		switch {
		case res[t.index].Err != nil:
		case t.id == "":
			creates = append(creates, t)
		default:
			updates = append(updates, t)
		}
	}

	w := &writer{s: s, api: api, cfg: cfg, res: res}
	for start := 0; start < len(updates); start += batchSize {
		if err := w.send(ctx, "PATCH", updates[start:min(start+batchSize, len(updates))]); err != nil {
			return nil, err
		}
	}
	// Never write a converted Lead: Lead updates go optimistically, and
	// Salesforce refuses a converted one (CANNOT_UPDATE_CONVERTED_LEAD,
	// nothing written); only those are looked up and sent to their Contact
	// (or failed, converted_leads=skip).
	if strings.EqualFold(req.Object, "Lead") && len(w.converted) > 0 {
		s.redirectConverted(ctx, api, cfg, w)
	}
	for start := 0; start < len(creates); start += batchSize {
		if err := w.send(ctx, "POST", creates[start:min(start+batchSize, len(creates))]); err != nil {
			return nil, err
		}
	}
	s.log.Debug("write", "tenant", cfg.Tenant, "object", req.Object, "updates", len(req.Updates), "calls", w.calls)
	return res, nil
}

// writer sends collection requests and fills results.
type writer struct {
	s       *Salesforce
	api     *client
	cfg     connector.Config
	res     []connector.WriteResult
	calls   int
	written bool  // a request succeeded: later failures become per-record errors
	failed  error // a request failed after something was written: the rest get this error
	// converted: Lead updates Salesforce refused as converted Leads.
	converted []*target
}

// send writes one chunk. It returns an error only while nothing has been
// written, so the host may retry the whole batch.
func (w *writer) send(ctx context.Context, method string, chunk []*target) error {
	if w.failed != nil {
		w.failAll(chunk, w.failed)
		return nil
	}
	recs := make([]map[string]any, len(chunk))
	for i, t := range chunk {
		r := map[string]any{"attributes": map[string]string{"type": t.object}}
		for k, v := range t.fields {
			r[k] = v
		}
		if t.id != "" {
			r["id"] = t.id
		}
		recs[i] = r
	}
	var out []saveResult
	w.calls++
	err := w.api.do(ctx, method, w.api.path("/composite/sobjects"), map[string]any{"allOrNone": false, "records": recs}, &out)
	if err != nil {
		if !w.written {
			return fmt.Errorf("%s composite/sobjects: %w", method, err)
		}
		w.failed = err
		w.failAll(chunk, err)
		return nil
	}
	w.written = true
	for i, t := range chunk {
		r := &w.res[t.index]
		if i >= len(out) {
			r.Err = connector.Retryable("no result returned for this record")
			continue
		}
		if out[i].Success {
			r.RecordID = out[i].ID
			if r.RecordID == "" {
				r.RecordID = t.id
			}
			r.Created = t.id == ""
			continue
		}
		r.RecordID = t.id
		if len(out[i].Errors) == 0 {
			r.Err = connector.Retryable("not saved, no reason given")
			continue
		}
		e := out[i].Errors[0]
		r.Err = recordError(sfError{ErrorCode: e.StatusCode, Message: e.Message, Fields: e.Fields})
		if e.StatusCode == convertedCode && strings.EqualFold(t.object, "Lead") && method == "PATCH" {
			w.converted = append(w.converted, t)
		}
	}
	return nil
}

func (w *writer) failAll(chunk []*target, err error) {
	var ce *connector.Error
	if !errors.As(err, &ce) {
		ce = connector.Retryable("%v", err)
	}
	for _, t := range chunk {
		w.res[t.index].RecordID = t.id
		w.res[t.index].Err = ce
	}
}

// badField names a field that must not be set through an update.
func badField(fields map[string]json.RawMessage) string {
	for k := range fields {
		if !fieldNameRe.MatchString(k) || strings.EqualFold(k, "id") || k == "attributes" {
			return k
		}
	}
	return ""
}

func keys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// soqlString quotes s as a SOQL string literal.
func soqlString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\t", `\t`, `"`, `\"`)
	return "'" + r.Replace(s) + "'"
}

func inList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = soqlString(v)
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// query runs one SOQL query to completion.
func (c *client) query(ctx context.Context, q string, each func(json.RawMessage) error) error {
	next := c.path("/query?q=" + url.QueryEscape(q))
	for next != "" {
		var page queryResponse
		if err := c.do(ctx, "GET", next, nil, &page); err != nil {
			return err
		}
		for _, r := range page.Records {
			if err := each(r); err != nil {
				return err
			}
		}
		next = ""
		if !page.Done {
			next = page.NextRecordsURL
		}
	}
	return nil
}

// lookupChunks splits vals into IN lists of at most lookupChunk values
// whose URL-encoded form stays under maxQueryBytes.
func lookupChunks(vals []string) [][]string {
	var out [][]string
	start, size := 0, 0
	for i, v := range vals {
		n := len(url.QueryEscape(soqlString(v))) + len("%2C+")
		if i > start && (i-start >= lookupChunk || size+n > maxQueryBytes) {
			out = append(out, vals[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(vals) {
		out = append(out, vals[start:])
	}
	return out
}

// lookupEmails maps lower-cased emails to the newest matching record.
// Converted Leads are left out: they must not be written.
func (s *Salesforce) lookupEmails(ctx context.Context, api *client, object string, emails []string) (map[string]string, error) {
	found := map[string]string{}
	for _, part := range lookupChunks(emails) {
		q := fmt.Sprintf("SELECT Id, Email FROM %s WHERE Email IN %s", object, inList(part))
		if strings.EqualFold(object, "Lead") {
			q += " AND IsConverted = false"
		}
		q += " ORDER BY SystemModstamp DESC"
		err := api.query(ctx, q, func(raw json.RawMessage) error {
			var r struct{ Id, Email string }
			if json.Unmarshal(raw, &r) == nil && r.Id != "" {
				e := strings.ToLower(r.Email)
				if _, ok := found[e]; !ok {
					found[e] = r.Id
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("match %s by email: %w", object, err)
		}
	}
	return found, nil
}

// redirectConverted handles the Lead updates Salesforce refused as
// converted: with converted_leads=contact (the default) it looks up their
// ConvertedContactId and writes the Contact instead; with skip, or when
// the lookup or the Contact write fails, the record keeps a permanent (or
// the lookup's) error. The converted Lead itself is never written.
func (s *Salesforce) redirectConverted(ctx context.Context, api *client, cfg connector.Config, w *writer) {
	policy := cfg.Option(optConvertedLeads, "contact")
	var ids []string
	byID := map[string][]*target{}
	for _, t := range w.converted {
		w.res[t.index].Err = connector.Permanent("lead %s is converted; not written (converted_leads=%s)", t.id, policy)
		if policy != "contact" {
			continue
		}
		if _, dup := byID[t.id]; !dup {
			ids = append(ids, t.id)
		}
		byID[t.id] = append(byID[t.id], t)
	}
	var contacts []*target
	for _, part := range lookupChunks(ids) {
		var found []*target
		q := "SELECT Id, IsConverted, ConvertedContactId FROM Lead WHERE Id IN " + inList(part)
		err := api.query(ctx, q, func(raw json.RawMessage) error {
			var r struct {
				Id                 string
				IsConverted        bool
				ConvertedContactId string
			}
			if json.Unmarshal(raw, &r) != nil || !r.IsConverted || r.ConvertedContactId == "" {
				return nil
			}
			for _, t := range byID[r.Id] {
				found = append(found, &target{index: t.index, object: "Contact", id: r.ConvertedContactId, fields: t.fields})
			}
			return nil
		})
		if err != nil {
			var ce *connector.Error
			if !errors.As(err, &ce) {
				ce = connector.Retryable("check lead conversion: %v", err)
			}
			for _, id := range part {
				for _, t := range byID[id] {
					w.res[t.index].Err = ce
				}
			}
			continue
		}
		for _, c := range found {
			w.res[c.index].Err = nil
		}
		contacts = append(contacts, found...)
	}
	for start := 0; start < len(contacts); start += batchSize {
		// Something was written already (the refusals came from a
		// successful call), so send fails records, never the batch.
		_ = w.send(ctx, "PATCH", contacts[start:min(start+batchSize, len(contacts))])
	}
}
