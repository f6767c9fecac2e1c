package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trailspark/trailspark/sdk/connector"
)

const (
	maxBatch     = 300  // activities.json and leads.json page maximum
	maxPerCall   = 3000 // records per Read without a Limit
	maxEmptyRuns = 200  // pages without matching activities scanned per Read
)

// activity is one entry of activities.json.
type activity struct {
	ID                      int64  `json:"id"`
	MarketoGUID             string `json:"marketoGUID"`
	LeadID                  int64  `json:"leadId"`
	ActivityDate            string `json:"activityDate"`
	ActivityTypeID          int    `json:"activityTypeId"`
	CampaignID              int64  `json:"campaignId"`
	PrimaryAttributeValueID any    `json:"primaryAttributeValueId"`
	PrimaryAttributeValue   any    `json:"primaryAttributeValue"`
	Attributes              []struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
	} `json:"attributes"`
}

// lead is the subset of leads.json the records carry.
type lead struct {
	ID        int64  `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Company   string `json:"company"`
	Title     string `json:"title"`
}

const leadFields = "id,email,firstName,lastName,company,title"

// Read streams activities of the configured types. The cursor is Marketo's
// nextPageToken: the first read asks pagingtoken.json for one at
// options.since. Pages are sized to what the call may still emit, so the
// token after a page is exactly where the next read starts; the token after
// the last page stays valid for activities that happen later.
func (m *Marketo) Read(ctx context.Context, cfg connector.Config, req connector.ReadRequest, emit func(connector.Record) error) (connector.ReadResult, error) {
	if req.Kind != connector.KindActivities {
		return connector.ReadResult{}, connector.Unsupported("marketo reads activities only, not %s", req.Kind)
	}
	types, err := activityTypes(cfg)
	if err != nil {
		return connector.ReadResult{}, err
	}
	token := req.Cursor
	if token == "" {
		if token, err = m.startToken(ctx, cfg); err != nil {
			return connector.ReadResult{}, err
		}
	}
	names, err := m.typeNames(ctx, cfg, false)
	if err != nil {
		return connector.ReadResult{}, err
	}
	limit := maxPerCall
	if req.Limit > 0 {
		limit = min(req.Limit, maxPerCall)
	}
	typeIDs := make([]string, len(types))
	for i, t := range types {
		typeIDs[i] = strconv.Itoa(t)
	}
	n, empty := 0, 0
	more := true
	for more && n < limit && empty < maxEmptyRuns {
		q := url.Values{
			"nextPageToken":   {token},
			"activityTypeIds": {strings.Join(typeIDs, ",")},
			"batchSize":       {strconv.Itoa(min(maxBatch, limit-n))},
		}
		env, err := m.get(ctx, cfg, "/rest/v1/activities.json", q)
		var acts []activity
		if err == nil && len(env.Result) > 0 {
			if jerr := json.Unmarshal(env.Result, &acts); jerr != nil {
				err = connector.Retryable("decode activities: %v", jerr)
			}
		}
		if err == nil && env.NextPageToken == "" {
			err = connector.Retryable("answer without nextPageToken")
		}
		var leads map[int64]lead
		if err == nil {
			leads, err = m.leads(ctx, cfg, acts)
		}
		if err != nil {
			if n > 0 && ctx.Err() == nil && connector.IsRetryable(err) {
				// Keep what was emitted: the host resumes from this token.
				m.log.Warn("read stopped early", "tenant", cfg.Tenant, "activities", n, "error", err)
				return connector.ReadResult{NextCursor: token, More: true}, nil
			}
			return connector.ReadResult{}, fmt.Errorf("activities: %w", err)
		}
		for _, a := range acts {
			rec, err := toRecord(a, names, leads[a.LeadID])
			if err != nil {
				return connector.ReadResult{}, err
			}
			if err := emit(rec); err != nil {
				return connector.ReadResult{}, err
			}
		}
		n += len(acts)
		if len(acts) == 0 {
			empty++
		}
		token, more = env.NextPageToken, env.MoreResult
	}
	m.log.Debug("read", "tenant", cfg.Tenant, "activities", n)
	// More with no records would make the host spin; when a long stretch
	// held nothing of interest, say "done for now" and resume next sync.
	return connector.ReadResult{NextCursor: token, More: more && n > 0}, nil
}

// startToken gets a paging token at options.since (default 30 days ago).
func (m *Marketo) startToken(ctx context.Context, cfg connector.Config) (string, error) {
	since := m.now().Add(-30 * 24 * time.Hour).UTC()
	if v := cfg.Options[optSince]; v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return "", connector.InvalidConfig("options."+optSince, "since %q is not an RFC 3339 time", v)
		}
		since = t
	}
	env, err := m.get(ctx, cfg, "/rest/v1/activities/pagingtoken.json", url.Values{"sinceDatetime": {since.Format(time.RFC3339)}})
	if err != nil {
		return "", fmt.Errorf("paging token: %w", err)
	}
	if env.NextPageToken == "" {
		return "", connector.Retryable("paging token: answer without nextPageToken")
	}
	return env.NextPageToken, nil
}

// leads fetches the leads of a page of activities (≤ 300 ids a call).
func (m *Marketo) leads(ctx context.Context, cfg connector.Config, acts []activity) (map[int64]lead, error) {
	var ids []string
	seen := map[int64]bool{}
	for _, a := range acts {
		if a.LeadID != 0 && !seen[a.LeadID] {
			seen[a.LeadID] = true
			ids = append(ids, strconv.FormatInt(a.LeadID, 10))
		}
	}
	out := map[int64]lead{}
	for start := 0; start < len(ids); start += maxBatch {
		part := ids[start:min(start+maxBatch, len(ids))]
		env, err := m.get(ctx, cfg, "/rest/v1/leads.json", url.Values{
			"filterType": {"id"}, "filterValues": {strings.Join(part, ",")}, "fields": {leadFields},
		})
		if err != nil {
			return nil, fmt.Errorf("leads: %w", err)
		}
		var ls []lead
		if len(env.Result) > 0 {
			if err := json.Unmarshal(env.Result, &ls); err != nil {
				return nil, connector.Retryable("decode leads: %v", err)
			}
		}
		for _, l := range ls {
			out[l.ID] = l
		}
	}
	return out, nil
}

// toRecord: the activity as Marketo sends it, attributes as an object, the
// type's name, and the lead's email and name (empty for deleted leads).
func toRecord(a activity, names map[int]string, l lead) (connector.Record, error) {
	ts, err := time.Parse(time.RFC3339, a.ActivityDate)
	if err != nil {
		return connector.Record{}, connector.Retryable("activity %d: bad activityDate %q", a.ID, a.ActivityDate)
	}
	attrs := map[string]any{}
	for _, at := range a.Attributes {
		attrs[at.Name] = at.Value
	}
	fields := map[string]any{
		"id": a.ID, "marketoGUID": a.MarketoGUID, "leadId": a.LeadID, "activityDate": a.ActivityDate,
		"activityTypeId": a.ActivityTypeID, "activityType": names[a.ActivityTypeID], "campaignId": a.CampaignID,
		"primaryAttributeValueId": a.PrimaryAttributeValueID, "primaryAttributeValue": a.PrimaryAttributeValue,
		"attributes": attrs, "email": strings.ToLower(l.Email),
		"lead": map[string]string{"firstName": l.FirstName, "lastName": l.LastName, "company": l.Company, "title": l.Title},
	}
	b, _ := json.Marshal(fields)
	id := a.MarketoGUID
	if id == "" {
		id = strconv.FormatInt(a.ID, 10)
	}
	return connector.Record{ID: id, Kind: connector.KindActivities, Fields: b, UpdatedAt: ts.UTC()}, nil
}
