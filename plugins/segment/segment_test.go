package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/trailspark/trailspark/sdk/connector"
	"github.com/trailspark/trailspark/sdk/sdktest"
)

var binary string

// TestMain builds the connector as `task plugins` does, for the conformance
// suite to run the real binary.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "segment-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "trailspark-connector-segment")
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

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// cases are the Segment spec examples (testdata/) and what each becomes.
func cases(t testing.TB) []sdktest.TranslateCase {
	const mid = "022bb90c-bbac-11e4-8dfc-aa07a5b093db"
	return []sdktest.TranslateCase{
		{Name: "track", Payload: fixture(t, "track.json"), Want: []connector.Signal{{
			Source: "segment", Type: "track", Event: "Course Clicked", UserID: "AiUGstSDIg",
			AnonymousID: "23adfd82-aa0f-45a7-a756-24f2a7a4c895", MessageID: "ajs-f8ca1e4de5024d9430b3928bd8ac6b96",
			Timestamp: ts("2015-12-12T19:11:01.249Z"), SentAt: ts("2015-12-12T19:11:01.169Z"),
			Properties: []byte(`{"title":"Intro to Analytics"}`),
		}}},
		{Name: "identify", Payload: fixture(t, "identify.json"), Want: []connector.Signal{{
			Source: "segment", Type: "identify", Email: "peter@example.com", UserID: "97980cfea0067",
			AnonymousID: "507f191e810c19729de860ea", MessageID: mid, Timestamp: ts("2015-02-23T22:28:55.111Z"),
			Traits: []byte(`{"name":"Peter Gibbons","email":"Peter@Example.com","plan":"premium","logins":5,"address":{"street":"6th St","city":"San Francisco","state":"CA","postalCode":"94103","country":"USA"}}`),
		}}},
		{Name: "page", Payload: fixture(t, "page.json"), Want: []connector.Signal{{
			Source: "segment", Type: "page", Event: "Home", Email: "visitor@initech.com", UserID: "97980cfea0067",
			AnonymousID: "507f191e810c19729de860ea", MessageID: mid, Timestamp: ts("2015-02-23T22:28:55.111Z"),
			Properties: []byte(`{"title":"Welcome | Initech","url":"http://www.initech.com"}`),
		}}},
		{Name: "screen", Payload: fixture(t, "screen.json"), Want: []connector.Signal{{
			Source: "segment", Type: "screen", Event: "Home", UserID: "97980cfea0067",
			AnonymousID: "3a12eab0-bca7-11e4-8dfc-aa07a5b093db", MessageID: mid, Timestamp: ts("2015-02-23T22:28:55.111Z"),
			Properties: []byte(`{"Feed Type":"private"}`),
		}}},
		{Name: "group routes to product orgs", Payload: fixture(t, "group.json"), Want: []connector.Signal{{
			Source: "segment", Type: "group", Email: "peter@initech.com", UserID: "97980cfea0067", GroupID: "0e8c78ea9d97a7b8185e8632",
			AnonymousID: "507f191e810c19729de860ea", MessageID: mid, Timestamp: ts("2015-02-23T22:28:55.111Z"), Route: connector.RouteProductOrg,
			Traits: []byte(`{"name":"Initech","industry":"Technology","employees":329,"plan":"enterprise","total billed":830,"email":"billing@initech.com"}`),
		}}},
		{Name: "alias", Payload: fixture(t, "alias.json"), Want: []connector.Signal{{
			Source: "segment", Type: "alias", UserID: "507f191e81", AnonymousID: "507f191e810c19729de860ea", MessageID: mid,
			Timestamp: ts("2015-02-23T22:28:55.111Z"), Properties: []byte(`{"previousId":"39239-239239-239239-23923"}`),
		}}},
		{Name: "batch envelope", Payload: fixture(t, "batch.json"), Want: []connector.Signal{
			{Source: "segment", Type: "identify", Email: "jake@yahoo.com", UserID: "019mr8mf4r", Timestamp: ts("2012-12-02T00:30:08.276Z"), SentAt: ts("2012-12-02T00:30:14Z")},
			{Source: "segment", Type: "track", Event: "Song Played", UserID: "019mr8mf4r", Timestamp: ts("2012-12-02T00:30:12.984Z"), SentAt: ts("2012-12-02T00:30:14Z"),
				Properties: []byte(`{"name":"Fallin for You","artist":"Dierks Bentley"}`)},
			{Source: "segment", Type: "identify", Email: "cindy@example.com", UserID: "971mj8mk7p", Timestamp: ts("2012-12-02T00:30:09.276Z")},
			{Source: "segment", Type: "track", Event: "Song Played", UserID: "971mj8mk7p", Timestamp: ts("2012-12-02T00:30:13.984Z")},
		}},
		{Name: "webhooks actions batch", Payload: fixture(t, "actions_batch.json"), Want: []connector.Signal{
			{Source: "segment", Type: "track", Event: "Demo Requested", Email: "dana@hooli.xyz", UserID: "u-42", AnonymousID: "anon-42",
				GroupID: "hooli-org", MessageID: "api-2Lz2tQ8K", Timestamp: ts("2026-05-01T10:00:00Z"), SentAt: ts("2026-05-01T10:00:01Z")},
			{Source: "segment", Type: "page", Event: "Pricing", AnonymousID: "anon-42", MessageID: "api-2Lz2tQ8L", Timestamp: ts("2026-05-01T10:00:05Z")},
		}},
		{Name: "actions mapping without type", Payload: []byte(`{"event":"Signed Up","userId":12345}`), Want: []connector.Signal{
			{Source: "segment", Type: "track", Event: "Signed Up", UserID: "12345"},
		}},
		{Name: "unknown type", Payload: []byte(`{"type":"explode","userId":"u"}`), WantErr: connector.KindPermanent},
		{Name: "bad timestamp", Payload: []byte(`{"type":"track","event":"x","timestamp":"last tuesday"}`), WantErr: connector.KindPermanent},
		{Name: "one bad item fails the payload", Payload: []byte(`[{"type":"track","event":"x"},{"type":"nope"}]`), WantErr: connector.KindPermanent},
	}
}

// TestTranslate runs the fixtures in process (fast, precise failures).
func TestTranslate(t *testing.T) {
	s := &Segment{}
	for _, tc := range cases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := s.Translate(context.Background(), connector.Config{}, connector.TranslateRequest{Payload: tc.Payload, Headers: tc.Headers})
			if tc.WantErr != connector.KindUnknown {
				if connector.KindOf(err) != tc.WantErr {
					t.Fatalf("got %v, want %s", err, tc.WantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.Want) {
				t.Fatalf("%d signals, want %d", len(got), len(tc.Want))
			}
			for i := range got {
				w := tc.Want[i]
				g := got[i]
				if g.Source != w.Source || g.Type != w.Type || g.Event != w.Event || g.Email != w.Email || g.UserID != w.UserID ||
					g.AnonymousID != w.AnonymousID || g.GroupID != w.GroupID || g.MessageID != w.MessageID || g.Route != w.Route ||
					!g.Timestamp.Equal(w.Timestamp) || (!w.SentAt.IsZero() && !g.SentAt.Equal(w.SentAt)) {
					t.Errorf("signal %d:\n got %+v\nwant %+v", i, g, w)
				}
				if w.Properties != nil && !sdktest.JSONEqual(g.Properties, w.Properties) {
					t.Errorf("signal %d properties %s, want %s", i, g.Properties, w.Properties)
				}
				if w.Traits != nil && !sdktest.JSONEqual(g.Traits, w.Traits) {
					t.Errorf("signal %d traits %s, want %s", i, g.Traits, w.Traits)
				}
				if !json.Valid(g.Payload) {
					t.Errorf("signal %d: payload not kept as JSON", i)
				}
			}
		})
	}
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func TestSignature(t *testing.T) {
	body := fixture(t, "track.json")
	cfg := connector.Config{Credentials: map[string]string{SecretKey: "s3cret"}}
	tests := []struct {
		name    string
		sig     string
		wantErr bool
	}{
		{"valid", sign("s3cret", body), false},
		{"wrong secret", sign("other", body), true},
		{"missing", "", true},
		{"not hex", "zz", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.sig != "" {
				h.Set("X-Signature", tc.sig)
			}
			_, err := (&Segment{}).Translate(context.Background(), cfg, connector.TranslateRequest{Payload: body, Headers: h})
			if tc.wantErr != (err != nil) || (err != nil && connector.KindOf(err) != connector.KindUnauthorized) {
				t.Fatalf("got %v, wantErr %v (unauthorized)", err, tc.wantErr)
			}
		})
	}
}

// TestConformance runs the built binary through sdktest.
func TestConformance(t *testing.T) {
	sdktest.Run(t, binary, sdktest.Options{
		Config:         connector.Config{Tenant: "acme"},
		InvalidConfigs: []connector.Config{{Credentials: map[string]string{SecretKey: " "}}},
		Translate:      cases(t),
	})
}

func FuzzTranslate(f *testing.F) {
	for _, name := range []string{"track.json", "batch.json", "actions_batch.json", "group.json"} {
		f.Add(fixture(f, name))
	}
	f.Add([]byte(`{"batch":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sigs, err := (&Segment{}).Translate(context.Background(), connector.Config{}, connector.TranslateRequest{Payload: b})
		if err != nil {
			if connector.KindOf(err) != connector.KindPermanent {
				t.Fatalf("parser error of kind %s: %v", connector.KindOf(err), err)
			}
			return
		}
		for _, s := range sigs {
			if s.Source != "segment" || !knownTypes[s.Type] {
				t.Fatalf("bad signal %+v", s)
			}
		}
	})
}
