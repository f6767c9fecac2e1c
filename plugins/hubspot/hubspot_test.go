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

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hubspot-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "trailspark-connector-hubspot")
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

func cfgFor(f *fakeHS) connector.Config {
	return connector.Config{
		Tenant:      "acme",
		BaseURL:     f.URL,
		Credentials: map[string]string{credAccessToken: hsToken, credClientID: hsClientID, credClientSecret: hsSecret},
		Options:     map[string]string{optAuthorizeURL: f.URL + "/oauth/authorize"},
	}
}

func props(kv ...any) json.RawMessage {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return b
}

func TestConformance(t *testing.T) {
	f := newFakeHS(t)
	sdktest.Run(t, binary, sdktest.Options{
		Config: cfgFor(f),
		InvalidConfigs: []connector.Config{
			{},
			{Credentials: map[string]string{credPrivateAppToken: " "}},
			{BaseURL: "api.hubapi.com", Credentials: map[string]string{credPrivateAppToken: "x"}},
			{Credentials: map[string]string{credPrivateAppToken: "x"}, Options: map[string]string{optSettleSeconds: "-1"}},
			{Credentials: map[string]string{credPrivateAppToken: "x"}, Options: map[string]string{"extra_properties.contacts": "Bad Name"}},
		},
		Write: []sdktest.WriteCase{{
			Name: "contacts",
			Request: connector.WriteRequest{Object: "contacts", Updates: []connector.ScoreUpdate{
				{RecordID: "1005", Fields: props("trailspark_score", 87, "trailspark_reasoning", "visited pricing")},
				{RecordID: "999999", Fields: props("trailspark_score", 1)},
				{Email: "Dana@Hooli.xyz", Fields: props("trailspark_score", 55)},
				{RecordID: "1007", Fields: props("trailspark_score", "lots")},
				{Email: "new@delta.test", CreateIfMissing: true, Fields: props("trailspark_score", 12)},
			}},
			Want: []connector.ErrorKind{connector.KindUnknown, connector.KindNotFound, connector.KindUnknown, connector.KindPermanent, connector.KindUnknown},
		}},
		MetadataObjects: []string{"contacts", "companies", "deals"},
		OAuth:           &connector.AuthURLRequest{RedirectURI: "https://app.example/api/oauth/callback/hubspot", State: "st-9", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256"},
	})
}

func read(t *testing.T, h *HubSpot, cfg connector.Config, kind connector.Kind, cur string, limit int, stopAfter int) ([]connector.Record, string, bool) {
	t.Helper()
	var out []connector.Record
	stop := errors.New("host went away")
	res, err := h.Read(context.Background(), cfg, connector.ReadRequest{Kind: kind, Cursor: cur, Limit: limit}, func(r connector.Record) error {
		if stopAfter > 0 && len(out) == stopAfter {
			return stop
		}
		out = append(out, r)
		return nil
	})
	if errors.Is(err, stop) {
		return out, "", false
	}
	if err != nil {
		t.Fatalf("Read(%s, %q): %v", kind, cur, err)
	}
	return out, res.NextCursor, res.More
}

func readAll(t *testing.T, h *HubSpot, cfg connector.Config, kind connector.Kind, cur string, limit int) ([]connector.Record, string) {
	t.Helper()
	var all []connector.Record
	for range 1000 {
		recs, next, more := read(t, h, cfg, kind, cur, limit, 0)
		all = append(all, recs...)
		if next != "" {
			cur = next
		}
		if !more {
			return all, cur
		}
	}
	t.Fatal("Read never finished")
	return nil, ""
}

func TestReadMapping(t *testing.T) {
	f := newFakeHS(t)
	h := New()
	deals, _ := readAll(t, h, cfgFor(f), connector.KindOpportunities, "", 0)
	if len(deals) != 3 {
		t.Fatalf("%d deals", len(deals))
	}
	var won map[string]any
	_ = json.Unmarshal(deals[0].Fields, &won)
	if won["dealstage"] != "closedwon" || won["hs_is_closed_won"] != "true" || won["amount"] != "12000" || fmt.Sprint(won["associated_company_ids"]) != "[1001]" {
		t.Errorf("won deal: %s", deals[0].Fields)
	}
	byID := map[string]map[string]any{}
	for _, d := range deals {
		var m map[string]any
		_ = json.Unmarshal(d.Fields, &m)
		byID[d.ID] = m
	}
	if fmt.Sprint(byID["1010"]["associated_company_ids"]) != "[1002 1003]" || fmt.Sprint(byID["1011"]["associated_company_ids"]) != "[]" {
		t.Errorf("deal associations: %v", byID)
	}
	if !deals[0].UpdatedAt.Equal(h0.Add(time.Minute)) {
		t.Errorf("UpdatedAt %s", deals[0].UpdatedAt)
	}
	companies, _ := readAll(t, h, cfgFor(f), connector.KindAccounts, "", 0)
	var c map[string]any
	_ = json.Unmarshal(companies[0].Fields, &c)
	for _, k := range []string{"name", "domain", "industry", "numberofemployees", "country"} {
		if c[k] == nil {
			t.Errorf("company lacks %s: %s", k, companies[0].Fields)
		}
	}
	cfg := cfgFor(f)
	cfg.Options["extra_properties.accounts"] = "trailspark_propensity, name"
	readAll(t, h, cfg, connector.KindAccounts, "", 0)
	if got := f.lastProps; !slices.Contains(got, "trailspark_propensity") || !slices.Contains(got, "numberofemployees") || len(got) != len(objects[connector.KindAccounts].props)+1 {
		t.Errorf("search properties %v", got)
	}
}

// bulk adds n contacts; groups of `tie` share one modification time.
func (f *fakeHS) bulk(n, tie int, from time.Time) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for i := range n {
		ids = append(ids, f.add("contacts", from.Add(time.Duration(i/tie)*time.Second), map[string]string{"email": fmt.Sprintf("c%d@bulk.test", i)}))
	}
	return ids
}

// TestReadResume: the host dies at arbitrary points and resumes from the
// last cursor it got; records are modified between calls. Nothing is lost,
// including across a run of 450 records sharing one timestamp (more than a
// search page) and ties returned in an arbitrary order.
func TestReadResume(t *testing.T) {
	tests := []struct {
		name      string
		n, tie    int
		limit     int
		stopEvery int
	}{
		{"ties of 7, limit 50", 300, 7, 50, 37},
		{"one bulk import of 450", 450, 450, 0, 120},
		{"bulk import, limit 64", 450, 450, 64, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHS(t)
			ids := f.bulk(tc.n, tc.tie, h0.Add(time.Hour))
			h := New()
			h.searchGap = 0 // pacing has its own test
			cfg := cfgFor(f)
			seen := map[string]bool{}
			cur := ""
			calls := 0
			for ; calls < 2000; calls++ {
				stop := 0
				if calls%2 == 1 {
					stop = tc.stopEvery // every other call the host dies mid-stream
				}
				recs, next, more := read(t, h, cfg, connector.KindContacts, cur, tc.limit, stop)
				for _, r := range recs {
					seen[r.ID] = true
				}
				if next == "" && more {
					t.Fatal("More without a cursor")
				}
				if stop > 0 && next == "" && len(recs) == stop {
					// The host crashed mid-stream: it resumes from cur.
					if calls == 5 {
						// Meanwhile someone edits a record not read yet and one read already.
						f.mu.Lock()
						f.touch("contacts", f.find("contacts", ids[len(ids)-1]), h0.Add(3*time.Hour))
						f.touch("contacts", f.find("contacts", ids[0]), h0.Add(3*time.Hour))
						f.mu.Unlock()
					}
					continue
				}
				cur = next
				if !more {
					break
				}
			}
			for _, id := range ids {
				if !seen[id] {
					t.Fatalf("contact %s lost (%d of %d seen, %d calls)", id, len(seen), len(ids)+4, calls)
				}
			}
			// Nothing new: the next read is empty and keeps the cursor.
			recs, next, more := read(t, h, cfg, connector.KindContacts, cur, tc.limit, 0)
			if len(recs) != 0 || more || next != cur {
				t.Errorf("idle read: %d records, more %v, cursor changed %v", len(recs), more, next != cur)
			}
		})
	}
}

func TestReadSettle(t *testing.T) {
	f := newFakeHS(t)
	h := New()
	now := time.Now()
	h.now = func() time.Time { return now }
	f.mu.Lock()
	fresh := f.add("contacts", now.Add(-10*time.Second), map[string]string{"email": "fresh@x.test"})
	f.mu.Unlock()
	cfg := cfgFor(f)
	recs, cur := readAll(t, h, cfg, connector.KindContacts, "", 0)
	for _, r := range recs {
		if r.ID == fresh {
			t.Fatal("a record younger than settle_seconds was read")
		}
	}
	now = now.Add(time.Minute)
	recs, _ = readAll(t, h, cfg, connector.KindContacts, cur, 0)
	if len(recs) != 1 || recs[0].ID != fresh {
		t.Fatalf("after settling: %v", recs)
	}
}

func TestWriteBatching(t *testing.T) {
	f := newFakeHS(t)
	ids := f.bulk(250, 1, h0)
	var ups []connector.ScoreUpdate
	for i, id := range ids {
		ups = append(ups, connector.ScoreUpdate{RecordID: id, Fields: props("trailspark_score", i)})
	}
	ups = append(ups, connector.ScoreUpdate{RecordID: ids[240], Fields: props("trailspark_score", 999)}) // a second update of a record in the same batch
	res, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "contacts", Updates: ups})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.batchLens, []int{100, 100, 50, 1}) {
		t.Fatalf("batches %v, want [100 100 50 1]", f.batchLens)
	}
	for i, r := range res {
		if r.Err != nil || r.Index != i || r.RecordID != ups[i].RecordID {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if got := f.find("contacts", ids[240]).props["trailspark_score"]; got != "999" {
		t.Errorf("the later update did not win: %s", got)
	}
}

func TestWriteErrors(t *testing.T) {
	f := newFakeHS(t)
	f.recErr["1006"] = "VALIDATION_ERROR"
	f.recErr["1007"] = "LOCKED"
	ups := []connector.ScoreUpdate{
		{RecordID: "1005", Fields: props("trailspark_score", 1)},
		{RecordID: "1006", Fields: props("trailspark_score", 2)},
		{RecordID: "1007", Fields: props("trailspark_score", 3)},
		{RecordID: "424242", Fields: props("trailspark_score", 4)},
		{RecordID: "1008", Fields: props("trailspark_score", "NaN-ish")}, // whole-batch 400: bisected
		{RecordID: "1008", Fields: props("trailspark_score", nil)},
		{Fields: props("trailspark_score", 1)},
		{RecordID: "1005", Fields: props("nested", map[string]int{"a": 1})},
	}
	want := []connector.ErrorKind{connector.KindUnknown, connector.KindPermanent, connector.KindRetryable, connector.KindNotFound, connector.KindPermanent, connector.KindUnknown, connector.KindPermanent, connector.KindPermanent}
	res, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "contacts", Updates: ups})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		var got connector.ErrorKind
		if r.Err != nil {
			got = r.Err.Kind
		}
		if got != want[i] {
			t.Errorf("update %d: %v, want %s", i, r.Err, want[i])
		}
	}
	if f.find("contacts", "1005").props["trailspark_score"] != "1" {
		t.Error("good record not written despite a bad one in its batch")
	}

	batch := []struct {
		name   string
		status int
		header http.Header
		want   connector.ErrorKind
		delay  time.Duration
	}{
		{"429 with Retry-After", 429, http.Header{"Retry-After": {"7"}}, connector.KindRateLimited, 7 * time.Second},
		{"429 with the window only", 429, http.Header{"X-Hubspot-Ratelimit-Interval-Milliseconds": {"10000"}}, connector.KindRateLimited, 10 * time.Second},
		{"expired token", 401, nil, connector.KindUnauthorized, 0},
		{"missing scopes", 403, nil, connector.KindUnauthorized, 0},
		{"outage", 502, nil, connector.KindRetryable, 0},
	}
	for _, tc := range batch {
		t.Run(tc.name, func(t *testing.T) {
			f.mu.Lock()
			f.fail = func(*http.Request) (int, http.Header, string) {
				return tc.status, tc.header, `{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"x","policyName":"TEN_SECONDLY_ROLLING"}`
			}
			f.mu.Unlock()
			defer func() { f.mu.Lock(); f.fail = nil; f.mu.Unlock() }()
			_, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "companies", Updates: []connector.ScoreUpdate{{RecordID: "1001", Fields: props("trailspark_propensity", 0.7)}}})
			if connector.KindOf(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
			if d, _ := connector.RetryAfter(err); d != tc.delay {
				t.Errorf("retry after %s, want %s", d, tc.delay)
			}
		})
	}
}

func TestWriteByEmail(t *testing.T) {
	f := newFakeHS(t)
	res, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "Contact", Updates: []connector.ScoreUpdate{
		{Email: "TONY@stark.com", Fields: props("trailspark_score", 90)},
		{Email: "ghost@nowhere.test", Fields: props("trailspark_score", 1)},
		{Email: "fresh@new.test", CreateIfMissing: true, Fields: props("trailspark_score", 40)},
		{Email: "peter@initech.com", CreateIfMissing: true, Fields: props("trailspark_score", 41)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].RecordID != "1008" {
		t.Errorf("update by email: %+v", res[0])
	}
	if res[1].Err == nil || res[1].Err.Kind != connector.KindNotFound {
		t.Errorf("unknown email: %+v", res[1])
	}
	if res[2].Err != nil || !res[2].Created || res[2].RecordID == "" {
		t.Errorf("upsert new: %+v", res[2])
	}
	if res[3].Err != nil || res[3].Created || res[3].RecordID != "1005" {
		t.Errorf("upsert existing: %+v", res[3])
	}
	if _, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "tickets"}); connector.KindOf(err) != connector.KindPermanent {
		t.Errorf("unknown object: %v", err)
	}
	res, _ = New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "companies", Updates: []connector.ScoreUpdate{{Email: "a@b.c", Fields: props("x", 1)}}})
	if res[0].Err == nil || res[0].Err.Kind != connector.KindPermanent {
		t.Errorf("company by email: %+v", res[0])
	}
}

func TestOAuth(t *testing.T) {
	f := newFakeHS(t)
	h := New()
	cfg := cfgFor(f)
	delete(cfg.Credentials, credAccessToken)
	verifier := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	const redirect = "https://app.example/api/oauth/callback/hubspot"
	code := func(t *testing.T) string {
		u, err := h.AuthURL(context.Background(), cfg, connector.AuthURLRequest{RedirectURI: redirect, State: "s1", CodeChallenge: challenge, CodeChallengeMethod: "S256"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(u, "crm.objects.contacts.write%20") {
			t.Errorf("scopes not space-separated as %%20: %s", u)
		}
		cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := cl.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc.Query().Get("state") != "s1" {
			t.Fatalf("redirect %s", loc)
		}
		return loc.Query().Get("code")
	}
	tok, err := h.ExchangeCode(context.Background(), cfg, connector.ExchangeCodeRequest{Code: code(t), RedirectURI: redirect, CodeVerifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || time.Until(tok.Expiry) < 29*time.Minute || time.Until(tok.Expiry) > 31*time.Minute {
		t.Fatalf("token %v", tok)
	}
	c2 := cfgFor(f)
	c2.Credentials = map[string]string{credAccessToken: tok.AccessToken}
	if err := h.Check(context.Background(), c2); err != nil {
		t.Fatalf("check with the new token: %v", err)
	}
	if _, err := h.ExchangeCode(context.Background(), cfg, connector.ExchangeCodeRequest{Code: code(t), RedirectURI: redirect, CodeVerifier: "wrong-verifier"}); connector.KindOf(err) != connector.KindUnauthorized {
		t.Errorf("wrong verifier: %v", err)
	}
	r, err := h.Refresh(context.Background(), cfg, tok.RefreshToken)
	if err != nil || r.AccessToken == "" || r.AccessToken == tok.AccessToken {
		t.Fatalf("refresh: %v %v", r, err)
	}
	if _, err := h.Refresh(context.Background(), cfg, "revoked"); connector.KindOf(err) != connector.KindUnauthorized {
		t.Errorf("revoked refresh token: %v", err)
	}
	bad := cfgFor(f)
	bad.Credentials[credClientSecret] = "nope"
	var ce *connector.Error
	if _, err := h.Refresh(context.Background(), bad, "hs-refresh"); !errors.As(err, &ce) || ce.Field != "credentials.client_secret" {
		t.Errorf("bad secret: %v", err)
	}
	u, _ := h.AuthURL(context.Background(), connector.Config{Credentials: map[string]string{credClientID: "cid"}}, connector.AuthURLRequest{RedirectURI: redirect, State: "s"})
	if !strings.HasPrefix(u, "https://app.hubspot.com/oauth/authorize?") {
		t.Errorf("default authorize URL %s", u)
	}
}

func TestMetadata(t *testing.T) {
	f := newFakeHS(t)
	md, err := New().Metadata(context.Background(), cfgFor(f), connector.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]connector.Field{}
	for _, o := range md.Objects {
		for _, fl := range o.Fields {
			got[o.Name+"."+fl.Name] = fl
		}
	}
	tests := []struct {
		name     string
		typ      connector.FieldType
		writable bool
		picks    int
	}{
		{"contacts.email", connector.FieldEmail, true, 0},
		{"contacts.lifecyclestage", connector.FieldPicklist, true, 3},
		{"contacts.hs_email_optout", connector.FieldBoolean, true, 0},
		{"contacts.trailspark_score", connector.FieldNumber, true, 0},
		{"contacts.trailspark_reasoning", connector.FieldText, true, 0},
		{"contacts.lastmodifieddate", connector.FieldDateTime, false, 0},
		{"contacts.hs_object_id", connector.FieldID, false, 0},
		{"contacts.associatedcompanyid", connector.FieldReference, true, 0},
		{"companies.domain", connector.FieldURL, true, 0},
		{"deals.hs_is_closed_won", connector.FieldBoolean, false, 0},
		{"deals.dealstage", connector.FieldPicklist, true, 3},
	}
	for _, tc := range tests {
		fl, ok := got[tc.name]
		if !ok || fl.Type != tc.typ || fl.Writable != tc.writable || len(fl.Picklist) != tc.picks {
			t.Errorf("%s: %+v", tc.name, fl)
		}
	}
	if md.Objects[1].Kind != connector.KindAccounts || md.Objects[2].Kind != connector.KindOpportunities {
		t.Errorf("kinds %+v", md.Objects)
	}
}

func TestConfigure(t *testing.T) {
	tests := []struct {
		name  string
		cfg   connector.Config
		field string
	}{
		{"private app", connector.Config{Credentials: map[string]string{credPrivateAppToken: "pat"}}, ""},
		{"oauth app", connector.Config{Credentials: map[string]string{credClientID: "c", credClientSecret: "s"}}, ""},
		{"nothing", connector.Config{}, "credentials.private_app_token"},
		{"blank secret", connector.Config{Credentials: map[string]string{credPrivateAppToken: "pat", credClientSecret: ""}}, "credentials.client_secret"},
		{"base url", connector.Config{BaseURL: "ftp://x", Credentials: map[string]string{credPrivateAppToken: "pat"}}, "base_url"},
		{"authorize url", connector.Config{Credentials: map[string]string{credPrivateAppToken: "pat"}, Options: map[string]string{optAuthorizeURL: "nope"}}, "options.authorize_url"},
		{"settle", connector.Config{Credentials: map[string]string{credPrivateAppToken: "pat"}, Options: map[string]string{optSettleSeconds: "x"}}, "options.settle_seconds"},
		{"extra kind", connector.Config{Credentials: map[string]string{credPrivateAppToken: "pat"}, Options: map[string]string{"extra_properties.leads": "a"}}, "options.extra_properties.leads"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := New().Configure(context.Background(), tc.cfg)
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *connector.Error
			if !errors.As(err, &ce) || ce.Kind != connector.KindInvalidConfig || ce.Field != tc.field {
				t.Fatalf("got %v, want invalid %s", err, tc.field)
			}
		})
	}
}

func TestNoSecretsInLogs(t *testing.T) {
	f := newFakeHS(t)
	var buf bytes.Buffer
	h := New()
	h.SetLogger(hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace, JSONFormat: true}))
	cfg := cfgFor(f)
	_ = h.Check(context.Background(), cfg)
	readAll(t, h, cfg, connector.KindContacts, "", 2)
	_, _ = h.Write(context.Background(), cfg, connector.WriteRequest{Object: "contacts", Updates: []connector.ScoreUpdate{{RecordID: "1005", Fields: props("trailspark_score", 1)}}})
	_, _ = h.Refresh(context.Background(), cfg, "hs-refresh")
	_, _ = h.Refresh(context.Background(), cfg, "bad-refresh")
	if buf.Len() == 0 {
		t.Fatal("nothing logged")
	}
	for _, s := range []string{hsToken, hsSecret, "hs-refresh", "bad-refresh", "CJfake-access"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("log contains %q", s)
		}
	}
}

// TestReadRateLimited: searches are paced; a 429 after records were emitted
// ends the call with a cursor, a 429 on the first search is a rate-limited
// error carrying the delay.
func TestReadRateLimited(t *testing.T) {
	f := newFakeHS(t)
	f.bulk(450, 1, h0.Add(time.Hour))
	h := New()
	h.searchGap = 50 * time.Millisecond
	searches := 0
	f.fail = func(r *http.Request) (int, http.Header, string) {
		if strings.HasSuffix(r.URL.Path, "/search") {
			if searches++; searches >= 3 {
				return 429, http.Header{"Retry-After": {"2"}}, `{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","policyName":"SECONDLY"}`
			}
		}
		return 0, nil, ""
	}
	begin := time.Now()
	recs, cur, more := read(t, h, cfgFor(f), connector.KindContacts, "", 0, 0)
	if len(recs) == 0 || !more || cur == "" {
		t.Fatalf("partial read: %d records, more %v", len(recs), more)
	}
	if d := time.Since(begin); d < 100*time.Millisecond {
		t.Errorf("three searches in %s: not paced", d)
	}
	_, err := h.Read(context.Background(), cfgFor(f), connector.ReadRequest{Kind: connector.KindContacts, Cursor: cur}, func(connector.Record) error { return nil })
	if d, _ := connector.RetryAfter(err); connector.KindOf(err) != connector.KindRateLimited || d != 2*time.Second {
		t.Fatalf("429 on the first search: %v", err)
	}
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	rest, _ := readAll(t, h, cfgFor(f), connector.KindContacts, cur, 0)
	seen := map[string]bool{}
	for _, r := range append(recs, rest...) {
		seen[r.ID] = true
	}
	if len(seen) != 454 {
		t.Fatalf("%d contacts after resuming, want 454", len(seen))
	}
}

// TestWrite207ByEmail: HubSpot need not echo the email in batch results;
// inputs not named by an error are written.
func TestWrite207ByEmail(t *testing.T) {
	f := newFakeHS(t)
	res, err := New().Write(context.Background(), cfgFor(f), connector.WriteRequest{Object: "contacts", Updates: []connector.ScoreUpdate{
		{Email: "tony@stark.com", Fields: props("trailspark_score", 1)},
		{Email: "ghost@nowhere.test", Fields: props("trailspark_score", 2)},
		{Email: "hans@globex.com", Fields: props("trailspark_score", 3)},
	}})
	if err != nil || res[0].Err != nil || res[1].Err == nil || res[1].Err.Kind != connector.KindNotFound || res[2].Err != nil {
		t.Fatalf("%v %+v", err, res)
	}
	if f.find("contacts", "1007").props["trailspark_score"] != "3" {
		t.Error("hans not written")
	}
}
