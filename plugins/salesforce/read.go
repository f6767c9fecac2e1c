package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/trailspark/trailspark/sdk/connector"
)

// objectSpec is what Read selects for one record kind.
type objectSpec struct {
	object string
	fields []string // besides Id, SystemModstamp and IsDeleted
}

// objects maps record kinds to sObjects and the fields TrailSpark reads:
// firmographics for accounts, person fields for contacts and leads (with
// conversion), outcomes for opportunities.
var objects = map[connector.Kind]objectSpec{
	connector.KindAccounts: {"Account", []string{
		"Name", "Website", "Industry", "NumberOfEmployees", "AnnualRevenue", "BillingCountry", "BillingState", "Type", "OwnerId", "CreatedDate",
	}},
	connector.KindContacts: {"Contact", []string{
		"Email", "FirstName", "LastName", "Title", "AccountId", "LeadSource", "OwnerId", "CreatedDate",
	}},
	connector.KindLeads: {"Lead", []string{
		"Email", "FirstName", "LastName", "Title", "Company", "Website", "Industry", "NumberOfEmployees", "Country",
		"Status", "LeadSource", "IsConverted", "ConvertedContactId", "ConvertedAccountId", "ConvertedOpportunityId", "ConvertedDate", "OwnerId", "CreatedDate",
	}},
	connector.KindOpportunities: {"Opportunity", []string{
		"Name", "AccountId", "StageName", "IsWon", "IsClosed", "Amount", "CloseDate", "Probability", "Type", "LeadSource", "OwnerId", "CreatedDate",
	}},
}

// maxPerCall bounds one Read without a Limit, so a restart repeats little.
const maxPerCall = 10000

// sfTime is Salesforce's datetime format in REST answers.
const sfTime = "2006-01-02T15:04:05.000-0700"

// cursor is the last record emitted: SystemModstamp then Id, the order of
// the query. Records modified after a read have a later SystemModstamp and
// come again; nothing at or before the cursor is skipped.
type cursor struct {
	ts time.Time
	id string
}

func (c cursor) String() string {
	if c.id == "" {
		return ""
	}
	return c.ts.UTC().Format(time.RFC3339) + "|" + c.id
}

func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	a, id, ok := strings.Cut(s, "|")
	ts, err := time.Parse(time.RFC3339, a)
	if !ok || err != nil || !sfIDRe.MatchString(id) {
		return cursor{}, connector.Permanent("invalid cursor %q", s)
	}
	return cursor{ts: ts, id: id}, nil
}

// soql builds the incremental query. SOQL datetime literals are unquoted;
// ids are quoted (validated by sfIDRe, so nothing can be injected).
func soql(spec objectSpec, extra []string, after cursor, limit int) string {
	fields := append([]string{"Id", "SystemModstamp", "IsDeleted"}, spec.fields...)
	seen := map[string]bool{}
	for _, f := range fields {
		seen[strings.ToLower(f)] = true
	}
	for _, f := range extra {
		if !seen[strings.ToLower(f)] {
			seen[strings.ToLower(f)] = true
			fields = append(fields, f)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s", strings.Join(fields, ", "), spec.object)
	if after.id != "" {
		ts := after.ts.UTC().Format("2006-01-02T15:04:05Z")
		fmt.Fprintf(&b, " WHERE SystemModstamp > %s OR (SystemModstamp = %s AND Id > '%s')", ts, ts, after.id)
	}
	fmt.Fprintf(&b, " ORDER BY SystemModstamp ASC, Id ASC LIMIT %d", limit)
	return b.String()
}

// queryResponse is the answer of /query and /queryAll.
type queryResponse struct {
	TotalSize      int               `json:"totalSize"`
	Done           bool              `json:"done"`
	NextRecordsURL string            `json:"nextRecordsUrl"`
	Records        []json.RawMessage `json:"records"`
}

// Read streams records of req.Kind modified after req.Cursor. It uses
// queryAll so deleted records (still in the recycle bin) come as tombstones.
func (s *Salesforce) Read(ctx context.Context, cfg connector.Config, req connector.ReadRequest, emit func(connector.Record) error) (connector.ReadResult, error) {
	spec, ok := objects[req.Kind]
	if !ok {
		return connector.ReadResult{}, connector.Unsupported("salesforce does not read %s", req.Kind)
	}
	after, err := parseCursor(req.Cursor)
	if err != nil {
		return connector.ReadResult{}, err
	}
	extra, err := splitFields(cfg.Options[optExtraFields+string(req.Kind)])
	if err != nil {
		return connector.ReadResult{}, connector.InvalidConfig("options."+optExtraFields+string(req.Kind), "%v", err)
	}
	api, err := s.api(cfg)
	if err != nil {
		return connector.ReadResult{}, err
	}
	limit := maxPerCall
	if req.Limit > 0 {
		limit = min(req.Limit, maxPerCall)
	}
	next := api.path("/queryAll?q=" + url.QueryEscape(soql(spec, extra, after, limit)))
	n, pages := 0, 0
	last := after
	for next != "" {
		var page queryResponse
		if err := api.do(ctx, "GET", next, nil, &page); err != nil {
			if n > 0 && ctx.Err() == nil && connector.IsRetryable(err) {
				// Keep what was emitted: the host resumes from here instead
				// of redoing the pages before the failure.
				s.log.Warn("read stopped early", "tenant", cfg.Tenant, "kind", req.Kind, "records", n, "error", err)
				return connector.ReadResult{NextCursor: last.String(), More: true}, nil
			}
			return connector.ReadResult{}, fmt.Errorf("query %s: %w", spec.object, err)
		}
		pages++
		for _, raw := range page.Records {
			rec, c, err := toRecord(req.Kind, raw)
			if err != nil {
				return connector.ReadResult{}, err
			}
			if err := emit(rec); err != nil {
				return connector.ReadResult{}, err
			}
			last = c
			n++
		}
		next = ""
		if !page.Done {
			if page.NextRecordsURL == "" {
				return connector.ReadResult{}, connector.Retryable("query %s: done=false without nextRecordsUrl", spec.object)
			}
			next = page.NextRecordsURL
		}
	}
	s.log.Debug("read", "tenant", cfg.Tenant, "kind", req.Kind, "records", n, "pages", pages)
	// A full LIMIT means there may be more; a short one means we are at the end.
	return connector.ReadResult{NextCursor: last.String(), More: n >= limit}, nil
}

// toRecord turns one SOQL row into a Record: the fields keep their API names
// (field mappings use the names Metadata returns), minus "attributes".
func toRecord(kind connector.Kind, raw json.RawMessage) (connector.Record, cursor, error) {
	var row map[string]json.RawMessage
	if err := json.Unmarshal(raw, &row); err != nil {
		return connector.Record{}, cursor{}, connector.Retryable("decode record: %v", err)
	}
	var id, stamp string
	var deleted bool
	_ = json.Unmarshal(row["Id"], &id)
	_ = json.Unmarshal(row["SystemModstamp"], &stamp)
	_ = json.Unmarshal(row["IsDeleted"], &deleted)
	ts, err := time.Parse(sfTime, stamp)
	if err != nil {
		ts, err = time.Parse(time.RFC3339Nano, stamp)
	}
	if id == "" || err != nil {
		return connector.Record{}, cursor{}, connector.Retryable("record without Id or SystemModstamp (%q, %q)", id, stamp)
	}
	delete(row, "attributes")
	fields, _ := json.Marshal(row)
	fields = bytes.TrimSpace(fields)
	return connector.Record{ID: id, Kind: kind, Fields: fields, UpdatedAt: ts.UTC(), Deleted: deleted},
		cursor{ts: ts, id: id}, nil
}
