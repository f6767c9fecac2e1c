package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
	dir, err := os.MkdirTemp("", "marketo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "trailspark-connector-marketo")
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

func cfgFor(f *fakeMkto) connector.Config {
	return connector.Config{
		Tenant:      "acme",
		BaseURL:     f.URL + "/rest",
		Credentials: map[string]string{credClientID: mkClientID, credClientSecret: mkSecret},
		Options:     map[string]string{optSince: "2026-05-01T00:00:00Z"},
	}
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func derivedID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "mkto-" + hex.EncodeToString(h[:12])
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func translateCases(t testing.TB) []sdktest.TranslateCase {
	return []sdktest.TranslateCase{
		{Name: "form fill template", Payload: fixture(t, "webhook_form.json"), Want: []connector.Signal{{
			Source: "marketo", Type: "track", Event: "Filled Out Form", Email: "dana@hooli.xyz", UserID: "marketo:1234",
			MessageID:  derivedID("1234", "dana@hooli.xyz", "Filled Out Form", "Demo Request Form", "Demo Request - Alert", "2026-05-01 09:15:00"),
			Timestamp:  ts("2026-05-01T14:15:00Z"), // 09:15 in Chicago (CDT)
			Traits:     []byte(`{"email":"dana@hooli.xyz","firstName":"Dana","lastName":"Ng","company":"Hooli","title":"VP Sales"}`),
			Properties: []byte(`{"leadId":"1234","asset":"Demo Request Form","campaign":"Demo Request - Alert","program":"2026 Demo Requests"}`),
		}}},
		{Name: "array with an unfilled token", Payload: fixture(t, "webhook_batch.json"), Want: []connector.Signal{
			{Source: "marketo", Type: "track", Event: "Clicked Email", Email: "ann@acme.test", UserID: "marketo:77", MessageID: "mkto-ext-1",
				Timestamp: ts("2026-05-02T08:00:00Z"), Properties: []byte(`{"leadId":"77","asset":"May Newsletter"}`)},
			{Source: "marketo", Type: "track", Event: "Visited Pricing", UserID: "marketo:78", MessageID: derivedID("78", "", "Visited Pricing", "", "", ""),
				Properties: []byte(`{"leadId":"78"}`), Traits: []byte(`{}`)},
		}},
		{Name: "asset names the event", Payload: []byte(`{"email":"x@y.z","asset":"Pricing Page","timestamp":"2026-01-15 08:00:00"}`), Want: []connector.Signal{
			{Source: "marketo", Type: "track", Event: "Pricing Page", Email: "x@y.z", Timestamp: ts("2026-01-15T14:00:00Z"), // CST
				MessageID: derivedID("", "x@y.z", "Pricing Page", "Pricing Page", "", "2026-01-15 08:00:00")},
		}},
		{Name: "no identity", Payload: []byte(`{"email":"{{lead.Email Address}}","event":"x"}`), WantErr: connector.KindPermanent},
		{Name: "bad email", Payload: []byte(`{"email":"not-an-email","event":"x"}`), WantErr: connector.KindPermanent},
		{Name: "bad timestamp", Payload: []byte(`{"email":"a@b.c","timestamp":"yesterday"}`), WantErr: connector.KindPermanent},
		{Name: "form encoded", Payload: []byte(`email=a%40b.c`), WantErr: connector.KindPermanent},
	}
}

func TestConformance(t *testing.T) {
	f := newFakeMkto(t, 40)
	sdktest.Run(t, binary, sdktest.Options{
		Config: cfgFor(f),
		InvalidConfigs: []connector.Config{
			{Credentials: map[string]string{credClientID: mkClientID}},
			{Credentials: map[string]string{credClientID: mkClientID, credClientSecret: mkSecret}}, // no endpoint
			{Credentials: map[string]string{credWebhookSecret: ""}},
			{Options: map[string]string{optMunchkinID: "acme"}},
			{Options: map[string]string{optActivityTypes: "1,2,3,4,5,6,7,8,9,10,11"}},
			{Options: map[string]string{optSince: "last week"}},
			{Options: map[string]string{optWebhookTZ: "Mars/Olympus"}},
		},
		Translate: translateCases(t),
	})
}

func TestTranslate(t *testing.T) {
	m := New()
	for _, tc := range translateCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := m.Translate(context.Background(), connector.Config{}, connector.TranslateRequest{Payload: tc.Payload})
			if tc.WantErr != connector.KindUnknown {
				if connector.KindOf(err) != tc.WantErr {
					t.Fatalf("got %v, want %s", err, tc.WantErr)
				}
				return
			}
			if err != nil || len(got) != len(tc.Want) {
				t.Fatalf("%d signals, %v", len(got), err)
			}
			for i, w := range tc.Want {
				g := got[i]
				if g.Source != w.Source || g.Type != w.Type || g.Event != w.Event || g.Email != w.Email || g.UserID != w.UserID || g.MessageID != w.MessageID || !g.Timestamp.Equal(w.Timestamp) {
					t.Errorf("signal %d:\n got %+v\nwant %+v", i, g, w)
				}
				if w.Properties != nil && !sdktest.JSONEqual(g.Properties, w.Properties) {
					t.Errorf("properties %s, want %s", g.Properties, w.Properties)
				}
				if w.Traits != nil && !sdktest.JSONEqual(g.Traits, w.Traits) {
					t.Errorf("traits %s, want %s", g.Traits, w.Traits)
				}
			}
		})
	}
	t.Run("shared secret header", func(t *testing.T) {
		cfg := connector.Config{Credentials: map[string]string{credWebhookSecret: "s3cret"}}
		body := fixture(t, "webhook_form.json")
		for _, tc := range []struct {
			header string
			ok     bool
		}{{"s3cret", true}, {"other", false}, {"", false}} {
			h := http.Header{}
			if tc.header != "" {
				h.Set(webhookSecretHeader, tc.header)
			}
			_, err := m.Translate(context.Background(), cfg, connector.TranslateRequest{Payload: body, Headers: h})
			if tc.ok != (err == nil) || (err != nil && connector.KindOf(err) != connector.KindUnauthorized) {
				t.Errorf("header %q: %v", tc.header, err)
			}
		}
	})
	t.Run("time zone option", func(t *testing.T) {
		cfg := connector.Config{Options: map[string]string{optWebhookTZ: "Europe/Berlin"}}
		got, err := m.Translate(context.Background(), cfg, connector.TranslateRequest{Payload: []byte(`{"email":"a@b.c","timestamp":"2026-05-01 09:15:00"}`)})
		if err != nil || !got[0].Timestamp.Equal(ts("2026-05-01T07:15:00Z")) {
			t.Fatalf("%v %v", got, err)
		}
	})
}

func readPage(t *testing.T, m *Marketo, cfg connector.Config, cur string, limit, stopAfter int) ([]connector.Record, connector.ReadResult, error) {
	var out []connector.Record
	stop := errors.New("host went away")
	res, err := m.Read(context.Background(), cfg, connector.ReadRequest{Kind: connector.KindActivities, Cursor: cur, Limit: limit}, func(r connector.Record) error {
		if stopAfter > 0 && len(out) == stopAfter {
			return stop
		}
		out = append(out, r)
		return nil
	})
	return out, res, err
}

// TestReadResume: pages through activities with paging tokens while the host
// dies mid-stream every other call and resumes from its last cursor.
func TestReadResume(t *testing.T) {
	for _, limit := range []int{0, 1, 7, 50} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			f := newFakeMkto(t, 700)
			m := New()
			cfg := cfgFor(f)
			want := f.wantedIDs([]int{1, 2, 3, 10, 11, 12})
			seen := map[string]bool{}
			var order []string
			cur := ""
			for call := 0; call < 3000; call++ {
				stop := 0
				if call%2 == 1 {
					stop = 3
				}
				recs, res, err := readPage(t, m, cfg, cur, limit, stop)
				for _, r := range recs {
					if !seen[r.ID] {
						order = append(order, r.ID)
					}
					seen[r.ID] = true
				}
				if err != nil {
					if stop > 0 && strings.Contains(err.Error(), "host went away") {
						continue // resume from cur
					}
					t.Fatal(err)
				}
				if limit > 0 && len(recs) > limit {
					t.Fatalf("%d records for limit %d", len(recs), limit)
				}
				cur = res.NextCursor
				if !res.More {
					break
				}
			}
			if !slices.Equal(order, want) {
				t.Fatalf("read %d activities, want %d (first missing: %v)", len(order), len(want), firstMissing(want, seen))
			}
			for _, b := range f.lastBatches {
				if b > 300 || (limit > 0 && b > limit) {
					t.Fatalf("batchSize %d", b)
				}
			}
			// New activities after the end are picked up from the last cursor.
			f.mu.Lock()
			f.acts = append(f.acts, map[string]any{"id": 99999, "marketoGUID": "99999", "leadId": 101, "activityDate": "2026-06-01T00:00:00Z", "activityTypeId": 2, "attributes": []map[string]any{}})
			f.mu.Unlock()
			recs, _, err := readPage(t, m, cfg, cur, 0, 0)
			if err != nil || len(recs) != 1 || recs[0].ID != "99999" {
				t.Fatalf("after new activity: %v %v", recIDs(recs), err)
			}
		})
	}
}

func recIDs(rs []connector.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func firstMissing(want []string, seen map[string]bool) string {
	for _, w := range want {
		if !seen[w] {
			return w
		}
	}
	return ""
}

func TestReadMapping(t *testing.T) {
	f := newFakeMkto(t, 20)
	recs, _, err := readPage(t, New(), cfgFor(f), "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	_ = json.Unmarshal(recs[0].Fields, &r)
	if r["email"] != "lead0@example.com" || r["activityType"] != "Visit Webpage" || r["primaryAttributeValue"] != "pricing.html" ||
		r["attributes"].(map[string]any)["Client IP Address"] != "203.0.113.9" || r["lead"].(map[string]any)["firstName"] != "F0" {
		t.Errorf("record %s", recs[0].Fields)
	}
	if !recs[0].UpdatedAt.Equal(m0) {
		t.Errorf("UpdatedAt %s", recs[0].UpdatedAt)
	}
	for _, rec := range recs {
		var x map[string]any
		_ = json.Unmarshal(rec.Fields, &x)
		if x["leadId"] == 999.0 && x["email"] != "" {
			t.Errorf("deleted lead has an email: %s", rec.Fields)
		}
	}
	if f.calls["/rest/v1/leads.json"] != 1 {
		t.Errorf("%d lead lookups for one page", f.calls["/rest/v1/leads.json"])
	}
}

func TestTokenCache(t *testing.T) {
	f := newFakeMkto(t, 30)
	m := New()
	cfg := cfgFor(f)
	for range 3 {
		if _, _, err := readPage(t, m, cfg, "", 5, 0); err != nil {
			t.Fatal(err)
		}
	}
	if f.tokenCalls != 1 {
		t.Errorf("%d token calls for one tenant", f.tokenCalls)
	}
	other := cfgFor(f)
	other.Tenant = "globex"
	if _, _, err := readPage(t, m, other, "", 5, 0); err != nil {
		t.Fatal(err)
	}
	if f.tokenCalls != 2 {
		t.Errorf("tenants share a token: %d calls", f.tokenCalls)
	}
	// 602: expired on the server before our expiry says so: renew and retry.
	f.expireAll()
	if _, _, err := readPage(t, m, cfg, "", 5, 0); err != nil {
		t.Fatalf("after 602: %v", err)
	}
	if f.tokenCalls != 3 {
		t.Errorf("602 did not renew the token: %d calls", f.tokenCalls)
	}
	// A token about to expire is renewed before use.
	m.now = func() time.Time { return time.Now().Add(3599*time.Second - 30*time.Second) }
	if err := m.Check(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if f.tokenCalls != 4 {
		t.Errorf("near-expiry token reused: %d calls", f.tokenCalls)
	}
	// 601 twice in a row: unauthorized after one renewal.
	m.now = time.Now
	f.mu.Lock()
	f.fail = func(*http.Request) string { return "601" }
	f.mu.Unlock()
	if _, _, err := readPage(t, m, cfg, "", 5, 0); connector.KindOf(err) != connector.KindUnauthorized {
		t.Errorf("persistent 601: %v", err)
	}
	bad := cfgFor(f)
	bad.Tenant = "bad"
	bad.Credentials[credClientSecret] = "wrong"
	if err := m.Check(context.Background(), bad); connector.KindOf(err) != connector.KindUnauthorized {
		t.Errorf("bad credentials: %v", err)
	}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		code  string
		want  connector.ErrorKind
		delay time.Duration
	}{
		{"606", connector.KindRateLimited, 20 * time.Second},
		{"615", connector.KindRateLimited, 5 * time.Second},
		{"607", connector.KindRateLimited, time.Hour},
		{"604", connector.KindRetryable, 0},
		{"611", connector.KindRetryable, 0},
		{"603", connector.KindUnauthorized, 0},
		{"1003", connector.KindPermanent, 0},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			f := newFakeMkto(t, 10)
			f.fail = func(r *http.Request) string {
				if r.URL.Path == "/rest/v1/activities.json" {
					return tc.code
				}
				return ""
			}
			_, _, err := readPage(t, New(), cfgFor(f), "", 0, 0)
			if connector.KindOf(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
			if d, _ := connector.RetryAfter(err); d != tc.delay {
				t.Errorf("retry after %s, want %s", d, tc.delay)
			}
			if !strings.Contains(err.Error(), tc.code) {
				t.Errorf("message %q lacks the code", err)
			}
		})
	}
	t.Run("HTTP 503", func(t *testing.T) {
		m := New()
		_, _, err := readPage(t, m, connector.Config{BaseURL: "http://127.0.0.1:1", Credentials: map[string]string{credClientID: "a", credClientSecret: "b"}}, "", 0, 0)
		if !connector.IsRetryable(err) {
			t.Errorf("unreachable endpoint: %v", err)
		}
		if strings.Contains(err.Error(), "client_secret=b") {
			t.Errorf("error leaks the secret: %v", err)
		}
	})
}

func TestConfigure(t *testing.T) {
	tests := []struct {
		name  string
		cfg   connector.Config
		field string
	}{
		{"webhook only", connector.Config{}, ""},
		{"api", connector.Config{BaseURL: "https://123-ABC-456.mktorest.com", Credentials: map[string]string{credClientID: "a", credClientSecret: "b"}}, ""},
		{"munchkin", connector.Config{Credentials: map[string]string{credClientID: "a", credClientSecret: "b"}, Options: map[string]string{optMunchkinID: "123-ABC-456"}}, ""},
		{"secret only", connector.Config{Credentials: map[string]string{credClientSecret: "b"}}, "credentials.client_id"},
		{"id only", connector.Config{BaseURL: "https://x.mktorest.com", Credentials: map[string]string{credClientID: "a"}}, "credentials.client_secret"},
		{"no endpoint", connector.Config{Credentials: map[string]string{credClientID: "a", credClientSecret: "b"}}, "base_url"},
		{"bad munchkin", connector.Config{Options: map[string]string{optMunchkinID: "123abc"}}, "options.munchkin_id"},
		{"bad identity", connector.Config{Options: map[string]string{optIdentityURL: "x"}}, "options.identity_url"},
		{"types", connector.Config{Options: map[string]string{optActivityTypes: "1,x"}}, "options.activity_type_ids"},
		{"since", connector.Config{Options: map[string]string{optSince: "2026-05-01"}}, "options.since"},
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
	if got := baseURL(connector.Config{Options: map[string]string{optMunchkinID: "123-ABC-456"}}); got != "https://123-ABC-456.mktorest.com" {
		t.Errorf("munchkin base %s", got)
	}
	if got := identityURL(connector.Config{BaseURL: "https://123-ABC-456.mktorest.com/rest/"}); got != "https://123-ABC-456.mktorest.com/identity" {
		t.Errorf("identity %s", got)
	}
}

func TestNoSecretsInLogs(t *testing.T) {
	f := newFakeMkto(t, 10)
	var buf bytes.Buffer
	m := New()
	m.SetLogger(hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace, JSONFormat: true}))
	cfg := cfgFor(f)
	_, _, _ = readPage(t, m, cfg, "", 0, 0)
	f.expireAll()
	_, _, _ = readPage(t, m, cfg, "", 0, 0)
	bad := cfgFor(f)
	bad.Credentials[credClientSecret] = "wrong-secret"
	_ = m.Check(context.Background(), bad)
	if buf.Len() == 0 {
		t.Fatal("nothing logged")
	}
	for _, s := range []string{mkSecret, "wrong-secret", "cdf01657"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("log contains %q", s)
		}
	}
}

// TestReadPartialOnRateLimit: a 606 after activities were emitted ends the
// call with the token reached; on the first page it is a rate-limited error.
func TestReadPartialOnRateLimit(t *testing.T) {
	f := newFakeMkto(t, 700)
	pages := 0
	f.fail = func(r *http.Request) string {
		if r.URL.Path == "/rest/v1/activities.json" {
			if pages++; pages >= 2 {
				return "606"
			}
		}
		return ""
	}
	m := New()
	recs, res, err := readPage(t, m, cfgFor(f), "", 0, 0)
	if err != nil || !res.More || len(recs) == 0 || res.NextCursor == "" {
		t.Fatalf("partial: %d records %+v %v", len(recs), res, err)
	}
	_, _, err = readPage(t, m, cfgFor(f), res.NextCursor, 0, 0)
	if connector.KindOf(err) != connector.KindRateLimited {
		t.Fatalf("606 on the first page: %v", err)
	}
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.ID] = true
	}
	cur := res.NextCursor
	for {
		more, r, err := readPage(t, m, cfgFor(f), cur, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range more {
			seen[x.ID] = true
		}
		cur = r.NextCursor
		if !r.More {
			break
		}
	}
	if want := f.wantedIDs([]int{1, 2, 3, 10, 11, 12}); len(seen) != len(want) {
		t.Fatalf("%d activities, want %d", len(seen), len(want))
	}
}
