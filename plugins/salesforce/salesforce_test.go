package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/trailspark/trailspark/sdk/connector"
	"github.com/trailspark/trailspark/sdk/sdktest"
)

var binary string

// TestMain builds the connector as `task plugins` does, for the conformance
// suite to run the real binary.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "salesforce-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "trailspark-connector-salesforce")
	cmd := exec.Command("go", "build", "-o", binary, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func cfgFor(f *fakeSF) connector.Config {
	return connector.Config{
		Tenant:  "acme",
		BaseURL: f.URL,
		Credentials: map[string]string{
			credAccessToken: fakeToken, credRefreshToken: "5Aep-refresh", credClientID: fakeClientID, credClientSecret: fakeSecret,
		},
		Options: map[string]string{optLoginURL: f.URL},
	}
}

func fields(kv ...any) json.RawMessage {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return b
}

func TestConformance(t *testing.T) {
	f := newFakeSF(t)
	cfg := cfgFor(f)
	noToken := cfgFor(f)
	noToken.Credentials = map[string]string{}
	sdktest.Run(t, binary, sdktest.Options{
		Config: cfg,
		InvalidConfigs: []connector.Config{
			noToken,
			{Credentials: map[string]string{credAccessToken: "x"}}, // no instance URL
			{BaseURL: "not a url", Credentials: map[string]string{credAccessToken: "x"}},
			{BaseURL: f.URL, Credentials: map[string]string{credAccessToken: "x"}, Options: map[string]string{optSandbox: "maybe"}},
			{BaseURL: f.URL, Credentials: map[string]string{credAccessToken: "x"}, Options: map[string]string{optAPIVersion: "v62"}},
			{BaseURL: f.URL, Credentials: map[string]string{credAccessToken: "x"}, Options: map[string]string{"extra_fields.accounts": "Name; DROP"}},
		},
		Write: []sdktest.WriteCase{{
			Name: "lead batch",
			Request: connector.WriteRequest{Object: "Lead", Updates: []connector.ScoreUpdate{
				{RecordID: sfid("00Q", 1), Fields: fields("TrailSpark_Score__c", 87)},
				{RecordID: sfid("00Q", 999), Fields: fields("TrailSpark_Score__c", 10)},
				{RecordID: sfid("00Q", 3), Fields: fields("TrailSpark_Score__c", 55)}, // converted: goes to its Contact
				{RecordID: sfid("00Q", 2), Fields: fields("No_Such__c", 1)},
				{Email: "nobody@nowhere.test", Fields: fields("TrailSpark_Score__c", 1)},
			}},
			Want: []connector.ErrorKind{connector.KindUnknown, connector.KindPermanent, connector.KindUnknown, connector.KindPermanent, connector.KindNotFound},
		}},
		MetadataObjects: []string{"Lead", "Contact", "Account", "Opportunity"},
		OAuth:           &connector.AuthURLRequest{RedirectURI: "https://app.example/api/oauth/callback/salesforce", State: "st-123", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256"},
	})
}

func readAll(t *testing.T, s *Salesforce, cfg connector.Config, kind connector.Kind, cur string, limit int) ([]connector.Record, string) {
	t.Helper()
	var out []connector.Record
	for range 100 {
		res, err := s.Read(context.Background(), cfg, connector.ReadRequest{Kind: kind, Cursor: cur, Limit: limit}, func(r connector.Record) error {
			out = append(out, r)
			return nil
		})
		if err != nil {
			t.Fatalf("Read(%s, %q): %v", kind, cur, err)
		}
		if res.NextCursor != "" {
			cur = res.NextCursor
		}
		if !res.More {
			return out, cur
		}
	}
	t.Fatal("Read did not finish")
	return nil, ""
}

func recIDs(rs []connector.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestReadMapping(t *testing.T) {
	f := newFakeSF(t)
	s := New()
	recs, _ := readAll(t, s, cfgFor(f), connector.KindAccounts, "", 0)
	if got, want := recIDs(recs), []string{sfid("001", 1), sfid("001", 2), sfid("001", 3), sfid("001", 4), sfid("001", 5)}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v (SystemModstamp, then Id)", got, want)
	}
	var acct map[string]any
	_ = json.Unmarshal(recs[0].Fields, &acct)
	for _, k := range []string{"Name", "Website", "Industry", "NumberOfEmployees", "BillingCountry"} {
		if acct[k] == nil {
			t.Errorf("account lacks %s: %s", k, recs[0].Fields)
		}
	}
	if _, ok := acct["attributes"]; ok {
		t.Error("attributes not stripped")
	}
	if !recs[0].UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("UpdatedAt %s", recs[0].UpdatedAt)
	}
	if !recs[3].Deleted || recs[2].Deleted {
		t.Errorf("tombstones: %v %v", recs[3].Deleted, recs[2].Deleted)
	}
	leads, _ := readAll(t, s, cfgFor(f), connector.KindLeads, "", 0)
	var conv map[string]any
	_ = json.Unmarshal(leads[2].Fields, &conv)
	if conv["IsConverted"] != true || conv["ConvertedContactId"] != sfid("003", 1) || conv["Company"] != "Initech" {
		t.Errorf("converted lead fields: %s", leads[2].Fields)
	}
	opps, _ := readAll(t, s, cfgFor(f), connector.KindOpportunities, "", 0)
	var won map[string]any
	_ = json.Unmarshal(opps[0].Fields, &won)
	if won["IsWon"] != true || won["IsClosed"] != true || won["StageName"] != "Closed Won" || won["Amount"] != 12000.0 || won["AccountId"] != sfid("001", 1) || won["CloseDate"] != "2026-04-01" {
		t.Errorf("opportunity outcome fields: %s", opps[0].Fields)
	}
	// Extra fields come from options, and the fake rejects unknown columns.
	cfg := cfgFor(f)
	cfg.Options["extra_fields.accounts"] = "TrailSpark_Propensity__c, Name"
	if _, err := s.Read(context.Background(), cfg, connector.ReadRequest{Kind: connector.KindAccounts, Limit: 1}, func(connector.Record) error { return nil }); err != nil {
		t.Fatal(err)
	}
	cfg.Options["extra_fields.accounts"] = "Nope__c"
	_, err := s.Read(context.Background(), cfg, connector.ReadRequest{Kind: connector.KindAccounts}, func(connector.Record) error { return nil })
	if connector.KindOf(err) != connector.KindPermanent {
		t.Errorf("unknown extra field: %v, want permanent (INVALID_FIELD)", err)
	}
}

// TestReadResume pages through nextRecordsUrl, fails mid-stream in several
// ways and resumes from the last returned cursor: nothing may be lost.
func TestReadResume(t *testing.T) {
	tests := []struct {
		name  string
		limit int
		fail  func(calls *int) func(r *http.Request) (int, string)
	}{
		{"server error on nextRecordsUrl page", 0, func(calls *int) func(r *http.Request) (int, string) {
			return func(r *http.Request) (int, string) {
				if strings.Contains(r.URL.Path, "/query/") {
					*calls++
					if *calls == 2 {
						return 503, `[{"message":"Service Unavailable","errorCode":"SERVER_UNAVAILABLE"}]`
					}
				}
				return 0, ""
			}
		}},
		{"session expiry mid-paging, limit 3", 3, func(calls *int) func(r *http.Request) (int, string) {
			return func(r *http.Request) (int, string) {
				*calls++
				if *calls == 3 {
					return 401, `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`
				}
				return 0, ""
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSF(t)
			f.pageSize = 2
			// 30 more leads, several sharing one SystemModstamp.
			for i := range 30 {
				f.records["Lead"] = append(f.records["Lead"], map[string]any{
					"Id": sfid("00Q", 200+i), "SystemModstamp": t0.Add(time.Duration(10+i/4) * time.Minute), "IsDeleted": false,
					"Email": fmt.Sprintf("l%d@x.test", i), "LastName": "L", "Company": "X", "IsConverted": false,
				})
			}
			s := New()
			cfg := cfgFor(f)
			want, _ := readAll(t, s, cfg, connector.KindLeads, "", 0)
			if len(want) != 35 {
				t.Fatalf("baseline read %d leads", len(want))
			}
			calls := 0
			f.mu.Lock()
			f.fail = tc.fail(&calls)
			f.mu.Unlock()
			var got []connector.Record
			cur := ""
			errs := 0
			for range 200 {
				var page []connector.Record
				res, err := s.Read(context.Background(), cfg, connector.ReadRequest{Kind: connector.KindLeads, Cursor: cur, Limit: tc.limit}, func(r connector.Record) error {
					page = append(page, r)
					return nil
				})
				if err != nil {
					// The host keeps what it consumed (consumers are idempotent)
					// and retries from the last cursor it was given.
					errs++
					if !connector.IsRetryable(err) && connector.KindOf(err) != connector.KindUnauthorized {
						t.Fatalf("mid-stream failure is %v", err)
					}
					got = append(got, page...)
					continue
				}
				got = append(got, page...)
				cur = res.NextCursor
				if !res.More {
					break
				}
			}
			if calls < 2 {
				t.Fatal("the failure was never injected")
			}
			_ = errs
			seen := map[string]bool{}
			for _, r := range got {
				seen[r.ID] = true
			}
			for _, r := range want {
				if !seen[r.ID] {
					t.Errorf("lead %s lost after resuming", r.ID)
				}
			}
		})
	}
}

// TestReadPartialOnOutage: an outage after records were emitted ends the
// call with what was read and a cursor, not an error, so the host does not
// redo those pages.
func TestReadPartialOnOutage(t *testing.T) {
	f := newFakeSF(t)
	f.pageSize = 2
	n := 0
	f.fail = func(r *http.Request) (int, string) {
		if strings.Contains(r.URL.Path, "/query/") {
			if n++; n == 2 {
				return 503, `[{"message":"Service Unavailable","errorCode":"SERVER_UNAVAILABLE"}]`
			}
		}
		return 0, ""
	}
	s := New()
	var got []connector.Record
	res, err := s.Read(context.Background(), cfgFor(f), connector.ReadRequest{Kind: connector.KindLeads}, func(r connector.Record) error {
		got = append(got, r)
		return nil
	})
	if err != nil || !res.More || len(got) != 4 || res.NextCursor == "" {
		t.Fatalf("partial read: %d records, %+v, %v", len(got), res, err)
	}
	rest, _ := readAll(t, s, cfgFor(f), connector.KindLeads, res.NextCursor, 0)
	if ids := recIDs(append(got, rest...)); len(ids) != 5 || ids[4] != sfid("00Q", 5) {
		t.Fatalf("after resuming: %v", ids)
	}
	// The same outage before anything was emitted is an error.
	f.mu.Lock()
	f.fail = func(*http.Request) (int, string) {
		return 503, `[{"message":"Service Unavailable","errorCode":"SERVER_UNAVAILABLE"}]`
	}
	f.mu.Unlock()
	if _, err := s.Read(context.Background(), cfgFor(f), connector.ReadRequest{Kind: connector.KindLeads}, func(connector.Record) error { return nil }); connector.KindOf(err) != connector.KindRetryable {
		t.Fatalf("outage on the first page: %v", err)
	}
}

// TestReadIncremental: a record changed after a full read comes again, and
// only it.
func TestReadIncremental(t *testing.T) {
	f := newFakeSF(t)
	s := New()
	cfg := cfgFor(f)
	_, cur := readAll(t, s, cfg, connector.KindContacts, "", 2)
	again, cur2 := readAll(t, s, cfg, connector.KindContacts, cur, 2)
	if len(again) != 0 || cur2 != cur {
		t.Fatalf("nothing changed, yet read %v (cursor %q -> %q)", recIDs(again), cur, cur2)
	}
	f.mu.Lock()
	row := f.find("Contact", sfid("003", 2))
	row["Title"] = "SVP Sales"
	row["SystemModstamp"] = t0.Add(2 * time.Hour)
	f.mu.Unlock()
	changed, _ := readAll(t, s, cfg, connector.KindContacts, cur, 2)
	if !slices.Equal(recIDs(changed), []string{sfid("003", 2)}) {
		t.Fatalf("after one change read %v", recIDs(changed))
	}
	if _, err := s.Read(context.Background(), cfg, connector.ReadRequest{Kind: connector.KindContacts, Cursor: "garbage"}, func(connector.Record) error { return nil }); connector.KindOf(err) != connector.KindPermanent {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestWriteBatching(t *testing.T) {
	f := newFakeSF(t)
	for i := range 450 {
		f.records["Contact"] = append(f.records["Contact"], map[string]any{"Id": sfid("003", 1000+i), "SystemModstamp": t0, "IsDeleted": false, "LastName": "C"})
	}
	var ups []connector.ScoreUpdate
	for i := range 450 {
		ups = append(ups, connector.ScoreUpdate{RecordID: sfid("003", 1000+i), Fields: fields("TrailSpark_Score__c", i%100)})
	}
	res, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "Contact", Updates: ups})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.batchLens, []int{200, 200, 50}) {
		t.Fatalf("composite calls carried %v records, want [200 200 50]", f.batchLens)
	}
	for i, r := range res {
		if r.Err != nil || r.Index != i || r.RecordID != sfid("003", 1000+i) {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if got := f.find("Contact", sfid("003", 1449))["TrailSpark_Score__c"]; got != 49.0 {
		t.Errorf("last record score %v", got)
	}
}

func TestWriteErrorClassification(t *testing.T) {
	tests := []struct {
		code string
		want connector.ErrorKind
	}{
		{"INVALID_FIELD", connector.KindPermanent},
		{"ENTITY_IS_DELETED", connector.KindPermanent},
		{"INVALID_CROSS_REFERENCE_KEY", connector.KindPermanent},
		{"FIELD_CUSTOM_VALIDATION_EXCEPTION", connector.KindPermanent},
		{"UNABLE_TO_LOCK_ROW", connector.KindRetryable},
		{"REQUEST_LIMIT_EXCEEDED", connector.KindRateLimited},
		{"SERVER_UNAVAILABLE", connector.KindRetryable},
	}
	f := newFakeSF(t)
	var ups []connector.ScoreUpdate
	for i, tc := range tests {
		id := sfid("003", 500+i)
		f.records["Contact"] = append(f.records["Contact"], map[string]any{"Id": id, "SystemModstamp": t0, "IsDeleted": false})
		f.recErr[id] = tc.code
		ups = append(ups, connector.ScoreUpdate{RecordID: id, Fields: fields("TrailSpark_Score__c", 1)})
	}
	ups = append(ups, connector.ScoreUpdate{RecordID: sfid("003", 1), Fields: fields("TrailSpark_Score__c", 1)})
	res, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "Contact", Updates: ups})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		if res[i].Err == nil || res[i].Err.Kind != tc.want {
			t.Errorf("%s: got %v, want %s", tc.code, res[i].Err, tc.want)
		}
		if !strings.Contains(res[i].Err.Error(), tc.code) {
			t.Errorf("%s: message %q lacks the code", tc.code, res[i].Err)
		}
	}
	if res[len(tests)].Err != nil {
		t.Errorf("the good record failed: %v", res[len(tests)].Err)
	}

	// Whole-request failures before anything is written fail the batch.
	batch := []struct {
		name   string
		status int
		body   string
		want   connector.ErrorKind
	}{
		{"expired session", 401, `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`, connector.KindUnauthorized},
		{"API limit", 403, `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`, connector.KindRateLimited},
		{"maintenance", 503, `[{"message":"Service Unavailable","errorCode":"SERVER_UNAVAILABLE"}]`, connector.KindRetryable},
		{"malformed", 400, `[{"message":"bad json","errorCode":"JSON_PARSER_ERROR"}]`, connector.KindPermanent},
	}
	for _, tc := range batch {
		t.Run(tc.name, func(t *testing.T) {
			f.mu.Lock()
			f.fail = func(*http.Request) (int, string) { return tc.status, tc.body }
			f.mu.Unlock()
			_, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "Contact", Updates: ups[len(ups)-1:]})
			if connector.KindOf(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}

	// A failure after a first chunk was written becomes per-record errors.
	t.Run("second chunk fails", func(t *testing.T) {
		f := newFakeSF(t)
		var ups []connector.ScoreUpdate
		for i := range 250 {
			f.records["Contact"] = append(f.records["Contact"], map[string]any{"Id": sfid("003", 3000+i), "SystemModstamp": t0, "IsDeleted": false})
			ups = append(ups, connector.ScoreUpdate{RecordID: sfid("003", 3000+i), Fields: fields("TrailSpark_Score__c", 1)})
		}
		n := 0
		f.fail = func(r *http.Request) (int, string) {
			if r.Method == "PATCH" {
				if n++; n == 2 {
					return 503, `[{"message":"Service Unavailable","errorCode":"SERVER_UNAVAILABLE"}]`
				}
			}
			return 0, ""
		}
		res, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "Contact", Updates: ups})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil || res[199].Err != nil || res[200].Err == nil || res[200].Err.Kind != connector.KindRetryable || res[249].Err == nil {
			t.Fatalf("results %v / %v / %v", res[0].Err, res[200].Err, res[249].Err)
		}
	})
}

func TestWriteConvertedLead(t *testing.T) {
	up := []connector.ScoreUpdate{{RecordID: sfid("00Q", 3), Fields: fields("TrailSpark_Score__c", 70)}, {RecordID: sfid("00Q", 1), Fields: fields("TrailSpark_Score__c", 20)}}
	t.Run("write the contact", func(t *testing.T) {
		f := newFakeSF(t)
		res, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "Lead", Updates: up})
		if err != nil || res[0].Err != nil || res[1].Err != nil {
			t.Fatalf("%v %+v", err, res)
		}
		if res[0].RecordID != sfid("003", 1) {
			t.Errorf("converted lead written to %s, want its contact", res[0].RecordID)
		}
		if f.find("Contact", sfid("003", 1))["TrailSpark_Score__c"] != 70.0 || f.find("Lead", sfid("00Q", 3))["TrailSpark_Score__c"] != nil {
			t.Error("score not moved to the contact")
		}
		// Optimistic: the Lead batch goes as is; only the refused converted
		// Lead is looked up, then its Contact written.
		if f.count("PATCH /composite/sobjects") != 2 || f.count("GET /query") != 1 {
			t.Errorf("%d composite calls and %d queries, want 2 and 1", f.count("PATCH /composite/sobjects"), f.count("GET /query"))
		}
	})
	t.Run("no converted lead: no lookup", func(t *testing.T) {
		f := newFakeSF(t)
		res, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "Lead", Updates: up[1:]})
		if err != nil || res[0].Err != nil || res[0].RecordID != sfid("00Q", 1) {
			t.Fatalf("%v %+v", err, res)
		}
		if f.count("PATCH /composite/sobjects") != 1 || f.count("GET /query") != 0 {
			t.Errorf("%d composite calls and %d queries, want 1 and 0", f.count("PATCH /composite/sobjects"), f.count("GET /query"))
		}
	})
	t.Run("skip", func(t *testing.T) {
		f := newFakeSF(t)
		cfg := cfgFor(f)
		cfg.Options[optConvertedLeads] = "skip"
		res, err := New().Write(context.Background(), cfg, connector.WriteRequest{Object: "Lead", Updates: up})
		if err != nil || res[0].Err == nil || res[0].Err.Kind != connector.KindPermanent || res[1].Err != nil {
			t.Fatalf("%v %+v", err, res)
		}
		if f.find("Contact", sfid("003", 1))["TrailSpark_Score__c"] != nil || f.find("Lead", sfid("00Q", 3))["TrailSpark_Score__c"] != nil {
			t.Error("contact or converted lead written with converted_leads=skip")
		}
		if !strings.Contains(res[0].Err.Error(), "converted") || f.count("GET /query") != 0 {
			t.Errorf("skip: %v, %d queries", res[0].Err, f.count("GET /query"))
		}
	})
}

// TestWriteEmailLookupChunks: one SOQL query matches a whole 200-record
// batch by email; long emails are split so no request line passes the
// 16,384-byte limit.
func TestWriteEmailLookupChunks(t *testing.T) {
	tests := []struct {
		name        string
		n           int
		local       int // length of the email's local part
		wantQueries int
	}{
		{"200 typical emails: one query", 200, 12, 1},
		{"201 emails: two", 201, 12, 2},
		{"200 long emails: split under the URI limit", 200, 120, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSF(t)
			var ups []connector.ScoreUpdate
			for i := range tc.n {
				email := fmt.Sprintf("%s%04d@a-rather-long-company-domain.example", strings.Repeat("x", tc.local-4), i)
				f.records["Contact"] = append(f.records["Contact"], map[string]any{"Id": sfid("003", 5000+i), "SystemModstamp": t0, "IsDeleted": false, "Email": email})
				ups = append(ups, connector.ScoreUpdate{Email: email, Fields: fields("TrailSpark_Score__c", 1)})
			}
			res, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "Contact", Updates: ups})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r.Err != nil || r.RecordID != sfid("003", 5000+i) {
					t.Fatalf("result %d: %+v", i, r)
				}
			}
			if got := f.count("GET /query"); got != tc.wantQueries || f.count("too long") != 0 {
				t.Errorf("%d queries (%d too long), want %d", got, f.count("too long"), tc.wantQueries)
			}
		})
	}
}

func TestWriteByEmail(t *testing.T) {
	f := newFakeSF(t)
	res, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "Lead", Updates: []connector.ScoreUpdate{
		{Email: "Ann@Acme.test", Fields: fields("TrailSpark_Score__c", 91)},
		{Email: "peter@initech.com", Fields: fields("TrailSpark_Score__c", 5)}, // only a converted lead: not matched
		{Email: "new@delta.test", CreateIfMissing: true, Fields: fields("TrailSpark_Score__c", 77, "LastName", "New", "Company", "Delta")},
		{Email: "o'brien@delta.test", CreateIfMissing: true, Fields: fields("TrailSpark_Score__c", 60)}, // Lead needs LastName, Company
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].RecordID != sfid("00Q", 1) || res[0].Created {
		t.Errorf("match by email: %+v", res[0])
	}
	if res[1].Err == nil || res[1].Err.Kind != connector.KindNotFound {
		t.Errorf("converted lead matched by email: %+v", res[1])
	}
	if res[2].Err != nil || !res[2].Created || res[2].RecordID == "" {
		t.Errorf("create: %+v", res[2])
	}
	if res[3].Err == nil || res[3].Err.Kind != connector.KindPermanent || !strings.Contains(res[3].Err.Message, "REQUIRED_FIELD_MISSING") {
		t.Errorf("create without required fields: %+v", res[3])
	}
	if r := f.find("Lead", res[2].RecordID); r == nil || r["Email"] != "new@delta.test" {
		t.Errorf("created lead %v", r)
	}
}

func pkce() (verifier, challenge string) {
	verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestOAuth(t *testing.T) {
	f := newFakeSF(t)
	s := New()
	cfg := cfgFor(f)
	cfg.Credentials = map[string]string{credClientID: fakeClientID, credClientSecret: fakeSecret}
	cfg.BaseURL = ""
	verifier, challenge := pkce()
	const redirect = "https://app.example/api/oauth/callback/salesforce"

	authorize := func(t *testing.T) string {
		u, err := s.AuthURL(context.Background(), cfg, connector.AuthURLRequest{RedirectURI: redirect, State: "xyz", CodeChallenge: challenge, CodeChallengeMethod: "S256"})
		if err != nil {
			t.Fatal(err)
		}
		cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := cl.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("state") != "xyz" {
			t.Fatalf("authorize: %d %s", resp.StatusCode, loc)
		}
		return loc.Query().Get("code")
	}

	t.Run("code with the right verifier", func(t *testing.T) {
		tok, err := s.ExchangeCode(context.Background(), cfg, connector.ExchangeCodeRequest{Code: authorize(t), RedirectURI: redirect, CodeVerifier: verifier})
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken == "" || tok.RefreshToken == "" || tok.InstanceURL != f.URL || tok.Extra["id"] == "" {
			t.Fatalf("token %v", tok)
		}
		if strings.Contains(fmt.Sprintf("%v %+v %#v", tok, tok, tok), tok.AccessToken) {
			t.Error("token printed its secret")
		}
		// The new token works for data calls.
		c2 := cfgFor(f)
		c2.BaseURL, c2.Credentials[credAccessToken] = tok.InstanceURL, tok.AccessToken
		if err := s.Check(context.Background(), c2); err != nil {
			t.Fatalf("check with exchanged token: %v", err)
		}
		// Refresh keeps the refresh token.
		r, err := s.Refresh(context.Background(), cfg, tok.RefreshToken)
		if err != nil || r.AccessToken == "" || r.AccessToken == tok.AccessToken || r.RefreshToken != tok.RefreshToken {
			t.Fatalf("refresh: %v %v", r, err)
		}
		if f.lastForm.Get("grant_type") != "refresh_token" || f.lastForm.Get("client_secret") != fakeSecret {
			t.Errorf("refresh form %v", f.lastForm)
		}
	})
	t.Run("wrong verifier", func(t *testing.T) {
		_, err := s.ExchangeCode(context.Background(), cfg, connector.ExchangeCodeRequest{Code: authorize(t), RedirectURI: redirect, CodeVerifier: "not-the-verifier-aaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
		if connector.KindOf(err) != connector.KindUnauthorized {
			t.Fatalf("got %v, want unauthorized (invalid_grant)", err)
		}
	})
	t.Run("revoked refresh token", func(t *testing.T) {
		_, err := s.Refresh(context.Background(), cfg, "revoked")
		if connector.KindOf(err) != connector.KindUnauthorized {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("bad client id", func(t *testing.T) {
		c := cfg
		c.Credentials = map[string]string{credClientID: "nope"}
		_, err := s.Refresh(context.Background(), c, "5Aep-refresh")
		var ce *connector.Error
		if !errors.As(err, &ce) || ce.Kind != connector.KindInvalidConfig || ce.Field != "credentials.client_id" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("hosts", func(t *testing.T) {
		for _, tc := range []struct {
			opts map[string]string
			host string
		}{
			{map[string]string{}, "https://login.salesforce.com/services/oauth2/authorize?"},
			{map[string]string{optSandbox: "true"}, "https://test.salesforce.com/services/oauth2/authorize?"},
			{map[string]string{optLoginURL: "https://acme.my.salesforce.com/"}, "https://acme.my.salesforce.com/services/oauth2/authorize?"},
		} {
			c := connector.Config{Credentials: map[string]string{credClientID: "cid"}, Options: tc.opts}
			u, err := s.AuthURL(context.Background(), c, connector.AuthURLRequest{RedirectURI: redirect, State: "s", CodeChallenge: challenge})
			if err != nil || !strings.HasPrefix(u, tc.host) {
				t.Errorf("%v: %s %v", tc.opts, u, err)
			}
			q, _ := url.Parse(u)
			if q.Query().Get("code_challenge_method") != "S256" || q.Query().Get("scope") != "api refresh_token" || q.Query().Get("response_type") != "code" {
				t.Errorf("query %v", q.Query())
			}
		}
		if _, err := s.AuthURL(context.Background(), connector.Config{Credentials: map[string]string{credClientID: "cid"}}, connector.AuthURLRequest{RedirectURI: redirect, State: "s"}); err == nil {
			t.Error("AuthURL without a PKCE challenge")
		}
	})
}

func TestMetadata(t *testing.T) {
	f := newFakeSF(t)
	md, err := New().Metadata(context.Background(), cfgFor(f), connector.MetadataRequest{Objects: []string{"Lead"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Objects) != 1 || md.Objects[0].Kind != connector.KindLeads {
		t.Fatalf("%+v", md.Objects)
	}
	byName := map[string]connector.Field{}
	for _, fl := range md.Objects[0].Fields {
		byName[fl.Name] = fl
	}
	tests := []struct {
		name     string
		typ      connector.FieldType
		writable bool
		picks    int
		ref      string
	}{
		{"Email", connector.FieldEmail, true, 0, ""},
		{"Status", connector.FieldPicklist, true, 3, ""}, // the inactive value is left out
		{"IsConverted", connector.FieldBoolean, false, 0, ""},
		{"ConvertedContactId", connector.FieldReference, false, 0, "Contact"},
		{"TrailSpark_Score__c", connector.FieldNumber, true, 0, ""},
		{"TrailSpark_Reasoning__c", connector.FieldText, true, 0, ""},
		{"NumberOfEmployees", connector.FieldInteger, true, 0, ""},
		{"Id", connector.FieldID, false, 0, ""},
	}
	for _, tc := range tests {
		fl, ok := byName[tc.name]
		if !ok || fl.Type != tc.typ || fl.Writable != tc.writable || len(fl.Picklist) != tc.picks || fl.ReferenceTo != tc.ref {
			t.Errorf("%s: %+v", tc.name, fl)
		}
	}
	if !byName["LastName"].Required || byName["Email"].Required {
		t.Error("required flags")
	}
	if _, err := New().Metadata(context.Background(), cfgFor(f), connector.MetadataRequest{Objects: []string{"Nope__c"}}); connector.KindOf(err) != connector.KindNotFound {
		t.Errorf("unknown object: %v", err)
	}
}

func TestUsageCeiling(t *testing.T) {
	f := newFakeSF(t)
	f.usage = [2]int64{13499, 15000} // the next call reports 90%
	s := New()
	cfg := cfgFor(f)
	if err := s.Check(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	err := s.Check(context.Background(), cfg)
	if d, ok := connector.RetryAfter(err); connector.KindOf(err) != connector.KindRateLimited || !ok || d <= 0 {
		t.Fatalf("over the ceiling: %v", err)
	}
	calls := f.count("GET /limits")
	cfg.Options[optUsageCeiling] = "95"
	if err := s.Check(context.Background(), cfg); err != nil {
		t.Fatalf("under a higher ceiling: %v", err)
	}
	other := cfgFor(f)
	other.Tenant = "other"
	if err := s.Check(context.Background(), other); err != nil {
		t.Fatalf("another tenant is not affected: %v", err)
	}
	if f.count("GET /limits") != calls+2 {
		t.Error("calls not made")
	}
	// After the recheck window one probe goes through.
	s.now = func() time.Time { return time.Now().Add(usageRecheck + time.Second) }
	delete(cfg.Options, optUsageCeiling)
	f.usage = [2]int64{10, 15000}
	if err := s.Check(context.Background(), cfg); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestConfigure(t *testing.T) {
	ok := connector.Config{BaseURL: "https://acme.my.salesforce.com", Credentials: map[string]string{credAccessToken: "t"}}
	tests := []struct {
		name  string
		mod   func(*connector.Config)
		field string
	}{
		{"valid", func(*connector.Config) {}, ""},
		{"oauth only", func(c *connector.Config) { c.BaseURL = ""; c.Credentials = map[string]string{credClientID: "cid"} }, ""},
		{"instance in options", func(c *connector.Config) {
			c.BaseURL = ""
			c.Options = map[string]string{optInstanceURL: "https://x.my.salesforce.com"}
		}, ""},
		{"nothing", func(c *connector.Config) { c.Credentials = nil }, "credentials.access_token"},
		{"no instance", func(c *connector.Config) { c.BaseURL = "" }, "base_url"},
		{"empty secret", func(c *connector.Config) { c.Credentials[credClientSecret] = " " }, "credentials.client_secret"},
		{"sandbox", func(c *connector.Config) { c.Options = map[string]string{optSandbox: "yes"} }, "options.sandbox"},
		{"login url", func(c *connector.Config) { c.Options = map[string]string{optLoginURL: "ftp://x"} }, "options.login_url"},
		{"converted", func(c *connector.Config) { c.Options = map[string]string{optConvertedLeads: "lead"} }, "options.converted_leads"},
		{"ceiling", func(c *connector.Config) { c.Options = map[string]string{optUsageCeiling: "120"} }, "options.api_usage_ceiling"},
		{"extra kind", func(c *connector.Config) { c.Options = map[string]string{"extra_fields.tasks": "X"} }, "options.extra_fields.tasks"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.Credentials = map[string]string{credAccessToken: "t"}
			tc.mod(&c)
			err := New().Configure(context.Background(), c)
			var ce *connector.Error
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.As(err, &ce) || ce.Kind != connector.KindInvalidConfig || ce.Field != tc.field {
				t.Fatalf("got %v, want invalid config of %s", err, tc.field)
			}
		})
	}
}

// TestNoSecretsInLogs runs every operation at trace level and looks for the
// credentials in the output.
func TestNoSecretsInLogs(t *testing.T) {
	f := newFakeSF(t)
	var buf bytes.Buffer
	s := New()
	s.SetLogger(hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace, JSONFormat: true}))
	cfg := cfgFor(f)
	_ = s.Check(context.Background(), cfg)
	readAll(t, s, cfg, connector.KindLeads, "", 2)
	_, _ = s.Write(context.Background(), cfg, connector.WriteRequest{Object: "Lead", Updates: []connector.ScoreUpdate{{RecordID: sfid("00Q", 1), Fields: fields("TrailSpark_Score__c", 1)}}})
	_, _ = s.Refresh(context.Background(), cfg, "5Aep-refresh")
	_, _ = s.Refresh(context.Background(), cfg, "bad-refresh")
	if buf.Len() == 0 {
		t.Fatal("nothing logged")
	}
	for _, secret := range []string{fakeToken, fakeSecret, "5Aep-refresh", "bad-refresh", "00Dfake!access"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, buf.String())
		}
	}
}
