package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/trailspark/trailspark/sdk/connector"
)

// objectSpec is what Read asks for one record kind.
type objectSpec struct {
	object   string // CRM object type in URLs
	modified string // last-modified property: contacts differ from the rest
	props    []string
}

var objects = map[connector.Kind]objectSpec{
	connector.KindContacts: {"contacts", "lastmodifieddate", []string{
		"email", "firstname", "lastname", "jobtitle", "company", "lifecyclestage", "hs_lead_status", "associatedcompanyid", "createdate", "lastmodifieddate",
	}},
	connector.KindAccounts: {"companies", "hs_lastmodifieddate", []string{
		"name", "domain", "website", "industry", "numberofemployees", "annualrevenue", "country", "state", "lifecyclestage", "createdate", "hs_lastmodifieddate",
	}},
	connector.KindOpportunities: {"deals", "hs_lastmodifieddate", []string{
		"dealname", "dealstage", "pipeline", "amount", "closedate", "hs_is_closed_won", "hs_is_closed", "createdate", "hs_lastmodifieddate",
	}},
}

// pageSize is the search page size. HubSpot's reference has allowed 100
// and, more recently, 200 per page; 100 works under both.
const pageSize = 100

// maxPerCall bounds one Read without a Limit.
const maxPerCall = 5000

// searchWindow is HubSpot's cap on one search's results (after + limit).
const searchWindow = 10000

// cursor resumes a read: everything modified before T has been emitted, and
// of what was modified exactly at T, the records in IDs. After is the paging
// offset inside the search "modified >= T" and is only used while a run of
// records shares T (a bulk import), where re-searching from T would not
// advance. The search is re-run from T after each page instead of following
// the offset, so a record modified while we page (and so moved to the end
// of the order) cannot shift an unread one out of view.
type cursor struct {
	T     int64    `json:"t"` // milliseconds since the epoch
	IDs   []string `json:"ids,omitempty"`
	After string   `json:"a,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseCursor(s string) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.T < 0 {
		return cursor{}, connector.Permanent("invalid cursor %q", s)
	}
	return c, nil
}

// searchResult is one object of a search or batch answer.
type searchResult struct {
	ID         string             `json:"id"`
	Properties map[string]*string `json:"properties"`
	CreatedAt  string             `json:"createdAt"`
	UpdatedAt  string             `json:"updatedAt"`
	Archived   bool               `json:"archived"`
}

type searchResponse struct {
	Total   int            `json:"total"`
	Results []searchResult `json:"results"`
	Paging  *struct {
		Next *struct {
			After string `json:"after"`
		} `json:"next"`
	} `json:"paging"`
}

func (r searchResponse) next() string {
	if r.Paging == nil || r.Paging.Next == nil {
		return ""
	}
	return r.Paging.Next.After
}

func modifiedAt(r searchResult, prop string) (time.Time, error) {
	v := r.UpdatedAt
	if p := r.Properties[prop]; p != nil && *p != "" {
		v = *p
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	return time.Parse(time.RFC3339Nano, v)
}

// Read streams records of req.Kind modified after req.Cursor, oldest first,
// through the CRM search API. Records modified in the last settle_seconds
// are left for the next read: the search index lags writes by a few
// seconds, and reading past that lag could skip a record that appears late.
func (h *HubSpot) Read(ctx context.Context, cfg connector.Config, req connector.ReadRequest, emit func(connector.Record) error) (connector.ReadResult, error) {
	spec, ok := objects[req.Kind]
	if !ok {
		return connector.ReadResult{}, connector.Unsupported("hubspot does not read %s", req.Kind)
	}
	cur, err := parseCursor(req.Cursor)
	if err != nil {
		return connector.ReadResult{}, err
	}
	extra, err := splitProps(cfg.Options[optExtraProperties+string(req.Kind)])
	if err != nil {
		return connector.ReadResult{}, connector.InvalidConfig("options."+optExtraProperties+string(req.Kind), "%v", err)
	}
	props := slices.Clone(spec.props)
	for _, p := range extra {
		if !slices.Contains(props, p) {
			props = append(props, p)
		}
	}
	api, err := h.api(cfg)
	if err != nil {
		return connector.ReadResult{}, err
	}
	settle, _ := strconv.Atoi(cfg.Option(optSettleSeconds, "60"))
	until := h.now().Add(-time.Duration(settle) * time.Second).UnixMilli()
	limit := maxPerCall
	if req.Limit > 0 {
		limit = min(req.Limit, maxPerCall)
	}
	seen := map[string]bool{}
	for _, id := range cur.IDs {
		seen[id] = true
	}
	n, searches := 0, 0
	for {
		filters := []map[string]string{{"propertyName": spec.modified, "operator": "LT", "value": strconv.FormatInt(until, 10)}}
		if cur.T > 0 {
			filters = append(filters, map[string]string{"propertyName": spec.modified, "operator": "GTE", "value": strconv.FormatInt(cur.T, 10)})
		}
		body := map[string]any{
			"filterGroups": []map[string]any{{"filters": filters}},
			"sorts":        []map[string]string{{"propertyName": spec.modified, "direction": "ASCENDING"}},
			"properties":   props,
			"limit":        pageSize,
		}
		if cur.After != "" {
			body["after"] = cur.After
		}
		if searches > 0 {
			// The search endpoints allow a few requests a second per
			// account, shared with every other integration.
			select {
			case <-ctx.Done():
				return connector.ReadResult{}, ctx.Err()
			case <-time.After(h.searchGap):
			}
		}
		searches++
		var page searchResponse
		_, err := api.do(ctx, "POST", "/crm/v3/objects/"+spec.object+"/search", body, &page)
		var assoc map[string][]string
		if err == nil && spec.object == "deals" && len(page.Results) > 0 {
			assoc, err = h.dealCompanies(ctx, api, page.Results)
		}
		if err != nil {
			if n > 0 && ctx.Err() == nil && connector.IsRetryable(err) {
				// Keep what was emitted: the host resumes from here.
				h.log.Warn("read stopped early", "tenant", cfg.Tenant, "kind", req.Kind, "records", n, "error", err)
				return connector.ReadResult{NextCursor: cur.encode(), More: true}, nil
			}
			return connector.ReadResult{}, fmt.Errorf("search %s: %w", spec.object, err)
		}
		moved := false
		for i, r := range page.Results {
			ts, err := modifiedAt(r, spec.modified)
			if err != nil {
				return connector.ReadResult{}, connector.Retryable("%s %s: bad %s: %v", spec.object, r.ID, spec.modified, err)
			}
			ms := ts.UnixMilli()
			if ms < cur.T || (ms == cur.T && seen[r.ID]) {
				continue // already emitted
			}
			if err := emit(toRecord(req.Kind, r, ts, assoc)); err != nil {
				return connector.ReadResult{}, err
			}
			n++
			if ms > cur.T {
				cur.T, cur.IDs, cur.After, moved = ms, nil, "", true
				clear(seen)
			}
			cur.IDs = append(cur.IDs, r.ID)
			seen[r.ID] = true
			if n >= limit {
				more := i < len(page.Results)-1 || page.next() != ""
				h.log.Debug("read", "tenant", cfg.Tenant, "kind", req.Kind, "records", n)
				return connector.ReadResult{NextCursor: cur.encode(), More: more}, nil
			}
		}
		next := page.next()
		if next == "" {
			break
		}
		if !moved {
			// The whole page shared T: page on inside this search.
			if off, _ := strconv.Atoi(next); off >= searchWindow {
				return connector.ReadResult{}, connector.Permanent("more than %d %s share the modification time %d: the search API cannot page past them", searchWindow, spec.object, cur.T)
			}
			cur.After = next
		}
	}
	h.log.Debug("read", "tenant", cfg.Tenant, "kind", req.Kind, "records", n)
	next := ""
	if cur.T > 0 {
		next = cur.encode()
	}
	return connector.ReadResult{NextCursor: next, More: false}, nil
}

// toRecord keeps HubSpot's property names (field mappings use the names
// Metadata returns) and adds the companies a deal is associated with.
func toRecord(kind connector.Kind, r searchResult, ts time.Time, assoc map[string][]string) connector.Record {
	fields := map[string]any{}
	for k, v := range r.Properties {
		if v == nil {
			fields[k] = nil
		} else {
			fields[k] = *v
		}
	}
	if kind == connector.KindOpportunities {
		ids := assoc[r.ID]
		if ids == nil {
			ids = []string{}
		}
		fields["associated_company_ids"] = ids
	}
	b, _ := json.Marshal(fields)
	return connector.Record{ID: r.ID, Kind: kind, Fields: b, UpdatedAt: ts, Deleted: r.Archived}
}

// dealCompanies reads the deal → company associations of one page (v4
// batch read). Deals without companies are simply absent.
func (h *HubSpot) dealCompanies(ctx context.Context, api *client, deals []searchResult) (map[string][]string, error) {
	inputs := make([]map[string]string, len(deals))
	for i, d := range deals {
		inputs[i] = map[string]string{"id": d.ID}
	}
	var out struct {
		Results []struct {
			From struct {
				ID string `json:"id"`
			} `json:"from"`
			To []struct {
				ToObjectID json.Number `json:"toObjectId"`
			} `json:"to"`
		} `json:"results"`
	}
	if _, err := api.do(ctx, "POST", "/crm/v4/associations/deals/companies/batch/read", map[string]any{"inputs": inputs}, &out); err != nil {
		return nil, fmt.Errorf("deal associations: %w", err)
	}
	m := map[string][]string{}
	for _, r := range out.Results {
		for _, t := range r.To {
			m[r.From.ID] = append(m[r.From.ID], t.ToObjectID.String())
		}
	}
	return m, nil
}
