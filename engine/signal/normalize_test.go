package signal

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

func TestNormalizeExtraction(t *testing.T) {
	t.Parallel()
	long512 := strings.Repeat("x", 512)
	runes512 := strings.Repeat("é", 512) // 1024 bytes, 512 characters
	tests := []struct {
		name string
		raw  string
		want view
	}{
		{"empty object", `{}`, view{Source: "generic"}},
		{"docs form fill", `{"email":"dana@northwind.io","event":"form_submission","type":"track","timestamp":"2025-03-02T09:12:44Z","properties":{"form_name":"Talk to Sales"}}`,
			view{Source: "segment", Type: "track", Event: "form_submission", Email: "dana@northwind.io"}},

		// email
		{"email trimmed lowercased", `{"email":"  Dana@NorthWind.IO "}`, view{Source: "generic", Email: "dana@northwind.io"}},
		{"traits.email", `{"traits":{"email":"t@x.io"}}`, view{Source: "generic", Email: "t@x.io"}},
		{"properties.email", `{"properties":{"email":"p@x.io"}}`, view{Source: "generic", Email: "p@x.io"}},
		{"context.traits.email", `{"context":{"traits":{"email":"c@x.io"}}}`, view{Source: "generic", Email: "c@x.io"}},
		{"top beats traits", `{"traits":{"email":"t@x.io"},"email":"e@x.io"}`, view{Source: "generic", Email: "e@x.io"}},
		{"traits beats properties", `{"properties":{"email":"p@x.io"},"traits":{"email":"t@x.io"}}`, view{Source: "generic", Email: "t@x.io"}},
		{"properties beats context.traits", `{"context":{"traits":{"email":"c@x.io"}},"properties":{"email":"p@x.io"}}`, view{Source: "generic", Email: "p@x.io"}},
		{"implausible top falls through", `{"email":"n/a","traits":{"email":"t@x.io"}}`, view{Source: "generic", Email: "t@x.io"}},
		{"implausible only: ignored", `{"email":"Dana Smith <dana@x.io>"}`, view{Source: "generic"}},
		{"no at: ignored", `{"email":"unknown"}`, view{Source: "generic"}},
		{"email null", `{"email":null,"properties":{"email":"p@x.io"}}`, view{Source: "generic", Email: "p@x.io"}},
		{"email blank", `{"email":"  ","properties":{"email":"p@x.io"}}`, view{Source: "generic", Email: "p@x.io"}},
		{"nested email not a string skipped", `{"properties":{"email":{"value":"h@x.io"}},"context":{"traits":{"email":"c@x.io"}}}`, view{Source: "generic", Email: "c@x.io"}},
		{"email escaped", `{"email":"\u0064ana@x.io"}`, view{Source: "generic", Email: "dana@x.io"}},
		{"key escaped", `{"\u0065mail":"dana@x.io"}`, view{Source: "generic", Email: "dana@x.io"}},
		{"unicode email", `{"email":"Zoë@Exämple.de"}`, view{Source: "generic", Email: "zoë@exämple.de"}},

		// userId / anonymousId
		{"userId", `{"userId":" usr_1 "}`, view{Source: "generic", UserID: "usr_1"}},
		{"user_id", `{"user_id":"usr_2"}`, view{Source: "generic", UserID: "usr_2"}},
		{"userId beats user_id", `{"user_id":"b","userId":"a"}`, view{Source: "generic", UserID: "a"}},
		{"userId blank falls back", `{"userId":"","user_id":"b"}`, view{Source: "generic", UserID: "b"}},
		{"userId null falls back", `{"userId":null,"user_id":"b"}`, view{Source: "generic", UserID: "b"}},
		{"userId number", `{"userId":12345678901}`, view{Source: "generic", UserID: "12345678901"}},
		{"userId exponent", `{"userId":1.2345678901e10}`, view{Source: "generic", UserID: "12345678901"}},
		{"userId beyond float64", `{"userId":123456789012345678901234567890}`, view{Source: "generic", UserID: "123456789012345678901234567890"}},
		{"userId decimal", `{"userId":12.50}`, view{Source: "generic", UserID: "12.5"}},
		{"userId 512 chars", `{"userId":"` + long512 + `"}`, view{Source: "generic", UserID: long512}},
		{"userId 512 runes", `{"userId":"` + runes512 + `"}`, view{Source: "generic", UserID: runes512}},
		{"userId invalid utf8", "{\"userId\":\"a\xffb\"}", view{Source: "generic", UserID: "a\uFFFDb"}},
		{"anonymousId", `{"anonymousId":"anon-1"}`, view{Source: "generic", AnonymousID: "anon-1"}},
		{"anonymous_id", `{"anonymous_id":"anon-2"}`, view{Source: "generic", AnonymousID: "anon-2"}},
		{"anonymousId beats anonymous_id", `{"anonymous_id":"b","anonymousId":"a"}`, view{Source: "generic", AnonymousID: "a"}},

		// crmId, mapId, productUserId, mktLeadId
		{"crmId", `{"crmId":"003xx"}`, view{Source: "generic", CRMID: "003xx"}},
		{"properties.crmId", `{"properties":{"crmId":"p"}}`, view{Source: "generic", CRMID: "p"}},
		{"traits.crmId", `{"traits":{"crmId":"t"}}`, view{Source: "generic", CRMID: "t"}},
		{"crmId order", `{"traits":{"crmId":"t"},"properties":{"crmId":"p"},"crmId":"c"}`, view{Source: "generic", CRMID: "c"}},
		{"crmId properties before traits", `{"traits":{"crmId":"t"},"properties":{"crmId":"p"}}`, view{Source: "generic", CRMID: "p"}},
		{"crmId nested object skipped", `{"properties":{"crmId":{"value":"x"}},"traits":{"crmId":"t"}}`, view{Source: "generic", CRMID: "t"}},
		{"mapId", `{"mapId":"m1"}`, view{Source: "generic", MapID: "m1"}},
		{"properties.mapId", `{"properties":{"mapId":77}}`, view{Source: "generic", MapID: "77"}},
		{"traits.mapId", `{"traits":{"mapId":"m3"}}`, view{Source: "generic", MapID: "m3"}},
		{"productUserId", `{"productUserId":"pu1"}`, view{Source: "generic", ProductUserID: "pu1"}},
		{"properties.productUserId", `{"properties":{"productUserId":"pu2"}}`, view{Source: "generic", ProductUserID: "pu2"}},
		{"traits.productUserId", `{"traits":{"productUserId":"pu3"}}`, view{Source: "generic", ProductUserID: "pu3"}},
		{"mktLeadId detects marketo", `{"mktLeadId":1234}`, view{Source: "marketo", MktLeadID: "1234"}},
		{"properties.mktLeadId does not detect", `{"properties":{"mktLeadId":"55"}}`, view{Source: "generic", MktLeadID: "55"}},
		{"traits.mktLeadId", `{"traits":{"mktLeadId":"56"},"type":"identify"}`, view{Source: "segment", Type: "identify", MktLeadID: "56"}},

		// groupId, messageId
		{"groupId", `{"groupId":"acme"}`, view{Source: "generic", GroupID: "acme"}},
		{"context.groupId", `{"context":{"groupId":"ctx"}}`, view{Source: "generic", GroupID: "ctx"}},
		{"groupId beats context", `{"context":{"groupId":"ctx"},"groupId":"top"}`, view{Source: "generic", GroupID: "top"}},
		{"messageId", `{"messageId":"m-1"}`, view{Source: "generic", MessageID: "m-1"}},
		{"message_id", `{"message_id":42}`, view{Source: "generic", MessageID: "42"}},
		{"messageId beats message_id", `{"message_id":"b","messageId":"a"}`, view{Source: "generic", MessageID: "a"}},

		// event and type
		{"event trimmed", `{"event":"  Demo Requested "}`, view{Source: "generic", Event: "Demo Requested"}},
		{"type case-insensitive", `{"type":" Track "}`, view{Source: "segment", Type: "track"}},
		{"page name", `{"type":"page","name":"Pricing"}`, view{Source: "segment", Type: "page", Event: "Pricing"}},
		{"page properties.name", `{"type":"page","properties":{"name":"Docs"}}`, view{Source: "segment", Type: "page", Event: "Docs"}},
		{"page event wins", `{"type":"page","event":"page_view","name":"Pricing"}`, view{Source: "segment", Type: "page", Event: "page_view"}},
		{"screen name", `{"type":"screen","name":"Home"}`, view{Source: "segment", Type: "screen", Event: "Home"}},
		{"track ignores name", `{"type":"track","name":"x"}`, view{Source: "segment", Type: "track"}},
		{"page name not a string", `{"type":"page","name":{"first":"x"},"properties":{"name":"Docs"}}`, view{Source: "segment", Type: "page", Event: "Docs"}},
		{"generic name object ok", `{"name":{"first":"Dana"},"email":"d@x.io"}`, view{Source: "generic", Email: "d@x.io"}},
		{"every type", `{"type":"alias"}`, view{Source: "segment", Type: "alias"}},
		{"type group", `{"type":"group","groupId":"g"}`, view{Source: "segment", Type: "group", GroupID: "g"}},

		// map semantics
		{"duplicate key: last wins", `{"email":"a@x.io","email":"b@x.io"}`, view{Source: "generic", Email: "b@x.io"}},
		{"duplicate container: last wins", `{"traits":{"email":"a@x.io"},"traits":{"plan":"pro"}}`, view{Source: "generic"}},
		{"duplicate context: nested forgotten", `{"context":{"traits":{"email":"a@x.io"},"groupId":"g"},"context":{}}`, view{Source: "generic"}},
		{"container then null", `{"traits":{"email":"a@x.io"},"traits":null}`, view{Source: "generic"}},
		{"null containers", `{"properties":null,"traits":null,"context":null,"email":"a@x.io"}`, view{Source: "generic", Email: "a@x.io"}},
		{"context.traits not an object", `{"context":{"traits":"x"},"email":"a@x.io"}`, view{Source: "generic", Email: "a@x.io"}},
		{"deep unrelated keys", `{"properties":{"nested":{"email":"deep@x.io","crmId":"deep"}}}`, view{Source: "generic"}},
		{"keys are case-sensitive", `{"Email":"a@x.io","USERID":"u"}`, view{Source: "generic"}},
		{"whitespace everywhere", " \n{ \"email\" : \"a@x.io\" , \"traits\" : { } }\n ", view{Source: "generic", Email: "a@x.io"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustNormalize(t, tt.raw, opts())
			if got := viewOf(s); got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			if !bytes.Equal(s.Payload, []byte(tt.raw)) {
				t.Fatalf("payload %q, want %q", s.Payload, tt.raw)
			}
		})
	}
}

func TestNormalizeSource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, forced string
		source, typ       string
	}{
		{"nothing: generic", `{"email":"a@x.io"}`, "", "generic", ""},
		{"segment type", `{"type":"track"}`, "", "segment", "track"},
		{"marketo", `{"mktLeadId":"1"}`, "", "marketo", ""},
		{"hubspot portalId", `{"portalId":62515}`, "", "hubspot", ""},
		{"hubspot hs_object_id", `{"hs_object_id":"901"}`, "", "hubspot", ""},
		{"salesforce", `{"sObject":{"Id":"00Q"}}`, "", "salesforce", ""},
		{"marketo beats hubspot", `{"portalId":1,"mktLeadId":1}`, "", "marketo", ""},
		{"hubspot beats salesforce", `{"sObject":"Lead","portalId":1}`, "", "hubspot", ""},
		{"marketo beats segment type", `{"type":"track","mktLeadId":1}`, "", "marketo", "track"},
		{"salesforce beats segment type", `{"type":"identify","sObject":"Lead"}`, "", "salesforce", "identify"},
		{"null does not detect", `{"mktLeadId":null,"portalId":null}`, "", "generic", ""},
		{"blank does not detect", `{"mktLeadId":"  "}`, "", "generic", ""},
		{"payload source beats detection", `{"source":"website","mktLeadId":1,"type":"track"}`, "", "website", "track"},
		{"payload source lowercased", `{"source":" HubSpot "}`, "", "hubspot", ""},
		{"payload source blank ignored", `{"source":"","type":"page"}`, "", "segment", "page"},
		{"payload source null ignored", `{"source":null}`, "", "generic", ""},
		{"forced beats payload source", `{"source":"website"}`, "marketo", "marketo", ""},
		{"forced beats detection", `{"mktLeadId":1}`, "custom_crm", "custom_crm", ""},
		{"forced trimmed lowercased", `{}`, " Segment ", "segment", ""},
		{"forced ignores bad payload source", `{"source":"Google Ads"}`, "forms", "forms", ""},
		{"forced ignores wrong-typed payload source", `{"source":5}`, "forms", "forms", ""},
		// "type" outside Segment calls belongs to the sender's schema.
		{"hubspot type ignored", `{"portalId":1,"type":"contact.creation"}`, "", "hubspot", ""},
		{"forced hubspot: odd type ignored", `{"type":"weird"}`, "hubspot", "hubspot", ""},
		{"forced hubspot: typed type ignored", `{"type":5}`, "hubspot", "hubspot", ""},
		{"payload source: odd type ignored", `{"source":"website","type":"form"}`, "", "website", ""},
		{"forced generic: odd type ignored", `{"type":"form"}`, "generic", "generic", ""},
		{"forced website keeps segment type", `{"type":"identify"}`, "website", "website", "identify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := opts()
			o.ForcedSource = tt.forced
			s := mustNormalize(t, tt.raw, o)
			if s.Source != tt.source || s.Type != tt.typ {
				t.Fatalf("source %q type %q, want %q %q", s.Source, s.Type, tt.source, tt.typ)
			}
			if tt.forced != "" {
				return
			}
			// DetectSource on the decoded map agrees.
			var m map[string]any
			if err := json.Unmarshal([]byte(tt.raw), &m); err != nil {
				t.Fatal(err)
			}
			if got := DetectSource(m); got != tt.source {
				t.Fatalf("DetectSource = %q, want %q", got, tt.source)
			}
		})
	}
}

func TestDetectSourceIgnoresInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		m    map[string]any
		want string
	}{
		{map[string]any{}, "generic"},
		{map[string]any{"source": "Google Ads", "portalId": 1.0}, "hubspot"},
		{map[string]any{"source": 5.0}, "generic"},
		{map[string]any{"type": "bogus"}, "generic"},
		{map[string]any{"type": "PAGE"}, "segment"},
		{map[string]any{"mktLeadId": ""}, "generic"},
		{map[string]any{"mktLeadId": false}, "marketo"},
		{map[string]any(nil), "generic"},
	}
	for _, tt := range tests {
		if got := DetectSource(tt.m); got != tt.want {
			t.Errorf("DetectSource(%v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestNormalizeSkewCorrection(t *testing.T) {
	t.Parallel()
	// recv is 09:15:00Z.
	tests := []struct {
		name   string
		raw    string
		sentAt time.Time // Options.SentAt
		want   string
	}{
		// The client's clock is 10 s ahead... of nothing in particular: it
		// says it sent at 09:00:10 what happened at 09:00:00; we received it
		// at 09:15:00, so the event happened 10 s before we received it.
		{"timestamp and sentAt", `{"timestamp":"2025-03-02T09:00:00Z","sentAt":"2025-03-02T09:00:10Z"}`, time.Time{}, "2025-03-02T09:14:50Z"},
		{"client clock behind", `{"timestamp":"2025-03-02T08:00:00Z","sentAt":"2025-03-02T08:10:00Z"}`, time.Time{}, "2025-03-02T09:05:00Z"},
		{"client clock ahead", `{"timestamp":"2025-03-02T12:00:00.500Z","sentAt":"2025-03-02T12:00:01Z"}`, time.Time{}, "2025-03-02T09:14:59.5Z"},
		{"sentAt in ms", `{"timestamp":"2025-03-02T09:00:00Z","sentAt":1740906010000}`, time.Time{}, "2025-03-02T09:14:50Z"},
		{"timestamp only", `{"timestamp":"2025-03-02T09:00:00Z"}`, time.Time{}, "2025-03-02T09:00:00Z"},
		{"originalTimestamp and sentAt", `{"originalTimestamp":"2025-03-02T09:00:00Z","sentAt":"2025-03-02T09:00:10Z"}`, time.Time{}, "2025-03-02T09:14:50Z"},
		{"originalTimestamp only", `{"originalTimestamp":"2025-03-02T09:00:00Z"}`, time.Time{}, "2025-03-02T09:00:00Z"},
		{"none: received", `{"event":"x"}`, time.Time{}, "2025-03-02T09:15:00Z"},
		{"sentAt only: received", `{"sentAt":"2025-03-02T09:00:10Z"}`, time.Time{}, "2025-03-02T09:15:00Z"},
		{"nulls: received", `{"timestamp":null,"sentAt":null}`, time.Time{}, "2025-03-02T09:15:00Z"},
		{"blank: received", `{"timestamp":"  "}`, time.Time{}, "2025-03-02T09:15:00Z"},
		// Relayed by Segment: timestamp is already corrected.
		{"segment relayed", `{"timestamp":"2025-03-02T09:00:00Z","originalTimestamp":"2025-03-02T09:30:00Z","sentAt":"2025-03-02T09:30:05Z","receivedAt":"2025-03-02T09:00:05Z"}`,
			time.Time{}, "2025-03-02T09:00:00Z"},
		// The payload's receivedAt is the server that heard the sender.
		{"payload receivedAt is the reference", `{"timestamp":"2025-03-02T09:00:00Z","sentAt":"2025-03-02T09:00:10Z","receivedAt":"2025-03-02T09:00:05Z"}`,
			time.Time{}, "2025-03-02T08:59:55Z"},
		{"originalTimestamp with payload receivedAt", `{"originalTimestamp":"2025-03-02T09:00:00Z","sentAt":"2025-03-02T09:00:10Z","receivedAt":"2025-03-02T09:00:05Z"}`,
			time.Time{}, "2025-03-02T08:59:55Z"},
		{"batch sentAt", `{"timestamp":"2025-03-02T09:00:00Z"}`, ts("2025-03-02T09:00:10Z"), "2025-03-02T09:14:50Z"},
		{"own sentAt beats batch sentAt", `{"timestamp":"2025-03-02T09:00:00Z","sentAt":"2025-03-02T09:00:20Z"}`, ts("2025-03-02T09:00:10Z"), "2025-03-02T09:14:40Z"},
		{"zone converted to UTC", `{"timestamp":"2025-03-02T10:00:00+01:00"}`, time.Time{}, "2025-03-02T09:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := opts()
			o.SentAt = tt.sentAt
			s := mustNormalize(t, tt.raw, o)
			if want := ts(tt.want); !s.Timestamp.Equal(want) || s.Timestamp.Location() != time.UTC {
				t.Fatalf("Timestamp = %v, want %v (UTC)", s.Timestamp, want)
			}
			if !s.ReceivedAt.Equal(recv) {
				t.Fatalf("ReceivedAt = %v", s.ReceivedAt)
			}
		})
	}
}

func TestNormalizeReceivedAtUTC(t *testing.T) {
	t.Parallel()
	paris := time.FixedZone("CET", 3600)
	s := mustNormalize(t, `{}`, Options{ReceivedAt: recv.In(paris)})
	if s.ReceivedAt.Location() != time.UTC || s.Timestamp.Location() != time.UTC || !s.Timestamp.Equal(recv) {
		t.Fatalf("ReceivedAt %v Timestamp %v", s.ReceivedAt, s.Timestamp)
	}
}

func TestNormalizeTimestampFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string // JSON value of "timestamp"
		want  string // RFC 3339, "" = invalid_format
	}{
		{`"2024-01-15T14:30:00Z"`, "2024-01-15T14:30:00Z"},
		{`"2024-01-15T14:30:00.123Z"`, "2024-01-15T14:30:00.123Z"},
		{`"2024-01-15T14:30:00.123456789Z"`, "2024-01-15T14:30:00.123456789Z"},
		{`"2024-01-15T14:30:00+02:00"`, "2024-01-15T12:30:00Z"},
		{`"2024-01-15T14:30:00.000-05:00"`, "2024-01-15T19:30:00Z"},
		{`"2024-01-15T14:30:00.000+0000"`, "2024-01-15T14:30:00Z"},
		{`"2024-01-15T14:30:00+0100"`, "2024-01-15T13:30:00Z"},
		{`"2024-01-15T14:30:00"`, "2024-01-15T14:30:00Z"},
		{`"2024-01-15T14:30:00.5"`, "2024-01-15T14:30:00.5Z"},
		{`"2024-01-15 14:30:00"`, "2024-01-15T14:30:00Z"},
		{`"2024-01-15 14:30:00Z"`, "2024-01-15T14:30:00Z"},
		{`"2024-01-15T14:30Z"`, "2024-01-15T14:30:00Z"},
		{`"2024-01-15"`, "2024-01-15T00:00:00Z"},
		{`" 2024-01-15T14:30:00Z "`, "2024-01-15T14:30:00Z"},
		{`1705329000`, "2024-01-15T14:30:00Z"},
		{`1705329000123`, "2024-01-15T14:30:00.123Z"},
		{`1705329000.5`, "2024-01-15T14:30:00.5Z"},
		{`1.705329000123e12`, "2024-01-15T14:30:00.123Z"},
		{`"1705329000"`, "2024-01-15T14:30:00Z"},
		{`"1705329000123"`, "2024-01-15T14:30:00.123Z"},
		{`0`, "1970-01-01T00:00:00Z"},
		{`"yesterday"`, ""},
		{`"2024-13-45T00:00:00Z"`, ""},
		{`"2024-01-15T25:00:00Z"`, ""},
		{`"15/01/2024"`, ""},
		{`"1969-12-31T23:59:59Z"`, ""},
		{`"0001-01-01T00:00:00Z"`, ""},
		{`-5`, ""},
		{`1e15`, ""},
		{`99999999999999999999`, ""},
		{`"17053.2.9"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			raw := `{"timestamp":` + tt.value + `}`
			s, err := Normalize([]byte(raw), opts())
			if tt.want == "" {
				e := wantErr(t, err, errs.KindInvalid, "invalid_format", "timestamp")
				if s != nil {
					t.Fatal("signal returned with error")
				}
				_ = e
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := ts(tt.want); !s.Timestamp.Equal(want) {
				t.Fatalf("Timestamp = %v, want %v", s.Timestamp, want)
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	t.Parallel()
	nest := func(n int, open, close string) string {
		return strings.Repeat(open, n-1) + "1" + strings.Repeat(close, n-1)
	}
	big := `{"a":"` + strings.Repeat("x", MaxSignalBytes) + `"}`
	tests := []struct {
		name   string
		raw    string
		forced string
		kind   errs.Kind
		code   string
		field  string
	}{
		{"too large", big, "", errs.KindTooLarge, "payload_too_large", ""},
		{"empty", ``, "", errs.KindInvalid, "malformed_json", ""},
		{"spaces", " \n\t", "", errs.KindInvalid, "malformed_json", ""},
		{"truncated", `{"email":`, "", errs.KindInvalid, "malformed_json", ""},
		{"trailing garbage", `{"a":1} x`, "", errs.KindInvalid, "malformed_json", ""},
		{"two objects", `{}{}`, "", errs.KindInvalid, "malformed_json", ""},
		{"single quotes", `{'a':1}`, "", errs.KindInvalid, "malformed_json", ""},
		{"array", `[{"email":"a@x.io"}]`, "", errs.KindInvalid, "malformed_json", ""},
		{"string", `"x"`, "", errs.KindInvalid, "malformed_json", ""},
		{"null", `null`, "", errs.KindInvalid, "malformed_json", ""},
		{"number", `5`, "", errs.KindInvalid, "malformed_json", ""},
		{"bom", "\xef\xbb\xbf{}", "", errs.KindInvalid, "malformed_json", ""},
		{"too deep objects", `{"a":` + nest(MaxDepth+1, `{"a":`, `}`) + `}`, "", errs.KindInvalid, "too_deep", ""},
		{"too deep arrays", `{"a":` + nest(MaxDepth+1, `[`, `]`) + `}`, "", errs.KindInvalid, "too_deep", ""},
		{"too deep in properties", `{"properties":` + nest(MaxDepth+1, `{"a":`, `}`) + `}`, "", errs.KindInvalid, "too_deep", ""},
		{"too deep in context.traits", `{"context":{"traits":{"x":` + nest(MaxDepth-1, `[`, `]`) + `}}}`, "", errs.KindInvalid, "too_deep", ""},

		{"email number", `{"email":5}`, "", errs.KindInvalid, "wrong_type", "email"},
		{"email bool", `{"email":true}`, "", errs.KindInvalid, "wrong_type", "email"},
		{"email object", `{"email":{"value":"a@x.io"}}`, "", errs.KindInvalid, "wrong_type", "email"},
		{"properties string", `{"properties":"x"}`, "", errs.KindInvalid, "wrong_type", "properties"},
		{"traits array", `{"traits":[]}`, "", errs.KindInvalid, "wrong_type", "traits"},
		{"context number", `{"context":5}`, "", errs.KindInvalid, "wrong_type", "context"},
		{"timestamp bool", `{"timestamp":true}`, "", errs.KindInvalid, "wrong_type", "timestamp"},
		{"timestamp object", `{"timestamp":{}}`, "", errs.KindInvalid, "wrong_type", "timestamp"},
		{"sentAt array", `{"sentAt":[]}`, "", errs.KindInvalid, "wrong_type", "sentAt"},
		{"userId bool", `{"userId":true}`, "", errs.KindInvalid, "wrong_type", "userId"},
		{"user_id object", `{"userId":"u","user_id":{}}`, "", errs.KindInvalid, "wrong_type", "user_id"},
		{"anonymousId array", `{"anonymousId":["a"]}`, "", errs.KindInvalid, "wrong_type", "anonymousId"},
		{"crmId object", `{"crmId":{"id":1}}`, "", errs.KindInvalid, "wrong_type", "crmId"},
		{"mapId bool", `{"mapId":false}`, "", errs.KindInvalid, "wrong_type", "mapId"},
		{"productUserId array", `{"productUserId":[]}`, "", errs.KindInvalid, "wrong_type", "productUserId"},
		{"mktLeadId bool", `{"mktLeadId":true}`, "", errs.KindInvalid, "wrong_type", "mktLeadId"},
		{"groupId array", `{"groupId":[1]}`, "", errs.KindInvalid, "wrong_type", "groupId"},
		{"messageId object", `{"messageId":{}}`, "", errs.KindInvalid, "wrong_type", "messageId"},
		{"event number", `{"event":5}`, "", errs.KindInvalid, "wrong_type", "event"},
		{"type number", `{"type":5}`, "", errs.KindInvalid, "wrong_type", "type"},

		{"timestamp unparseable", `{"timestamp":"soon"}`, "", errs.KindInvalid, "invalid_format", "timestamp"},
		{"sentAt unparseable", `{"timestamp":"2025-03-02T09:00:00Z","sentAt":"x"}`, "", errs.KindInvalid, "invalid_format", "sentAt"},
		{"originalTimestamp unparseable", `{"originalTimestamp":"x"}`, "", errs.KindInvalid, "invalid_format", "originalTimestamp"},
		{"receivedAt unparseable", `{"receivedAt":"x"}`, "", errs.KindInvalid, "invalid_format", "receivedAt"},

		{"type not segment", `{"type":"form_fill"}`, "", errs.KindInvalid, "invalid_enum", "type"},
		{"type not segment with segment source", `{"type":"form_fill","source":"segment"}`, "", errs.KindInvalid, "invalid_enum", "type"},
		{"type not segment forced segment", `{"type":"form_fill"}`, "segment", errs.KindInvalid, "invalid_enum", "type"},
		{"type wrong type forced segment", `{"type":1}`, "segment", errs.KindInvalid, "wrong_type", "type"},

		{"forced source bad", `{}`, "web site", errs.KindInvalid, "invalid_format", "source"},
		{"forced source blank", `{}`, "   ", errs.KindInvalid, "invalid_format", "source"},
		{"forced source unicode", `{}`, "séance", errs.KindInvalid, "invalid_format", "source"},

		{"userId too long", `{"userId":"` + strings.Repeat("x", 513) + `"}`, "", errs.KindInvalid, "too_long", "userId"},
		{"userId runes too long", `{"userId":"` + strings.Repeat("é", 513) + `"}`, "", errs.KindInvalid, "too_long", "userId"},
		{"userId number too long", `{"userId":` + strings.Repeat("9", 513) + `}`, "", errs.KindInvalid, "too_long", "userId"},
		{"userId exponent too long", `{"userId":1e600}`, "", errs.KindInvalid, "too_long", "userId"},
		{"userId huge exponent", `{"userId":1e99999999999999999999}`, "", errs.KindInvalid, "too_long", "userId"},
		{"userId tiny exponent", `{"userId":1e-99999999999999999999}`, "", errs.KindInvalid, "too_long", "userId"},
		{"anonymous_id too long", `{"anonymous_id":"` + strings.Repeat("x", 513) + `"}`, "", errs.KindInvalid, "too_long", "anonymous_id"},
		{"properties.crmId too long", `{"properties":{"crmId":"` + strings.Repeat("x", 513) + `"}}`, "", errs.KindInvalid, "too_long", "properties.crmId"},
		{"traits.mktLeadId too long", `{"traits":{"mktLeadId":"` + strings.Repeat("x", 513) + `"}}`, "", errs.KindInvalid, "too_long", "traits.mktLeadId"},
		{"context.groupId too long", `{"context":{"groupId":"` + strings.Repeat("x", 513) + `"}}`, "", errs.KindInvalid, "too_long", "context.groupId"},
		{"messageId too long", `{"messageId":"` + strings.Repeat("x", 513) + `"}`, "", errs.KindInvalid, "too_long", "messageId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := opts()
			o.ForcedSource = tt.forced
			s, err := Normalize([]byte(tt.raw), o)
			if s != nil {
				t.Fatalf("signal returned with error %v", err)
			}
			wantErr(t, err, tt.kind, tt.code, tt.field)
		})
	}
}

func TestNormalizeErrorMessages(t *testing.T) {
	t.Parallel()
	_, err := Normalize([]byte(`{"email": "a@x.io",, }`), opts())
	e := wantErr(t, err, errs.KindInvalid, "malformed_json", "")
	if !strings.Contains(e.Message, "at byte 20") {
		t.Errorf("message %q does not say where", e.Message)
	}
	_, err = Normalize([]byte(`{"a":"`+strings.Repeat("x", MaxSignalBytes)+`"}`), opts())
	e = wantErr(t, err, errs.KindTooLarge, "payload_too_large", "")
	if !strings.Contains(e.Message, "32768") {
		t.Errorf("message %q does not give the limit", e.Message)
	}
	_, err = Normalize([]byte(`[1]`), opts())
	e = wantErr(t, err, errs.KindInvalid, "malformed_json", "")
	if !strings.Contains(e.Message, "JSON object") || !strings.Contains(e.Message, "array") {
		t.Errorf("message %q", e.Message)
	}
	_, err = Normalize([]byte(`{"email":5}`), opts())
	e = wantErr(t, err, errs.KindInvalid, "wrong_type", "email")
	if e.Message != "email must be a string or null, not a number" {
		t.Errorf("message %q", e.Message)
	}
}

func TestNormalizeDepthLimit(t *testing.T) {
	t.Parallel()
	// Exactly MaxDepth levels: the top object plus 31 nested.
	raw := strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth)
	mustNormalize(t, raw, opts())
	raw = `{"a":` + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + `}`
	mustNormalize(t, raw, opts())
	// Brackets inside strings do not count.
	raw = `{"a":"` + strings.Repeat("[{", 100) + `"}`
	mustNormalize(t, raw, opts())
	raw = strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
	_, err := Normalize([]byte(raw), opts())
	wantErr(t, err, errs.KindInvalid, "too_deep", "")
}

func TestNormalizeZeroReceivedAt(t *testing.T) {
	t.Parallel()
	s, err := Normalize([]byte(`{}`), Options{})
	if s != nil {
		t.Fatal("signal returned")
	}
	wantErr(t, err, errs.KindInternal, "internal", "")
}

func TestNormalizeBadOptionalFieldsTolerated(t *testing.T) {
	t.Parallel()
	// None of these refuse the signal.
	for _, raw := range []string{
		`{"email":"not an email"}`,
		`{"email":"a@b"}`,
		`{"email":"a@@b.io"}`,
		`{"email":"@b.io"}`,
		`{"properties":{"email":5,"crmId":true,"mapId":[],"productUserId":{},"mktLeadId":null,"name":7}}`,
		`{"traits":{"email":["a@x.io"],"crmId":{"v":1}}}`,
		`{"context":{"traits":{"email":false},"groupId":{"id":"g"}}}`,
		`{"context":{"traits":[1]}}`,
		`{"name":5,"portalId":null,"hs_object_id":[],"sObject":true}`,
		`{"properties":{"crmId":"   "}}`,
		`{"type":null,"event":null,"source":null,"timestamp":null,"sentAt":null,"originalTimestamp":null,"receivedAt":null}`,
	} {
		s := mustNormalize(t, raw, opts())
		if s.Email != "" || s.HasPersistentID() {
			t.Errorf("%s: got %+v", raw, viewOf(s))
		}
	}
}

func TestNormalizePayloadIsCopied(t *testing.T) {
	t.Parallel()
	raw := []byte(" {\"email\" : \"A@X.IO\", \"z\": [1, 2.50, {\"k\": \"v\"}]}\n")
	orig := bytes.Clone(raw)
	s, err := Normalize(raw, opts())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Payload, orig) {
		t.Fatalf("payload %q", s.Payload)
	}
	for i := range raw {
		raw[i] = 'x'
	}
	if !bytes.Equal(s.Payload, orig) || s.Email != "a@x.io" {
		t.Fatalf("signal changed with the input: %q %q", s.Payload, s.Email)
	}
}

func TestPersonKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s          Signal
		persistent bool
		key        string
	}{
		{Signal{}, false, ""},
		{Signal{AnonymousID: "a1"}, false, "a:a1"},
		{Signal{AnonymousID: "a1", GroupID: "g", MessageID: "m"}, false, "a:a1"},
		{Signal{MktLeadID: "7", AnonymousID: "a1"}, true, "a:a1"},
		{Signal{MktLeadID: "7"}, true, "k:7"},
		{Signal{MapID: "m1", MktLeadID: "7"}, true, "m:m1"},
		{Signal{CRMID: "c1", MapID: "m1"}, true, "c:c1"},
		{Signal{ProductUserID: "p1", CRMID: "c1"}, true, "p:p1"},
		{Signal{UserID: "u1", ProductUserID: "p1"}, true, "u:u1"},
		{Signal{Email: "a@x.io", UserID: "u1", AnonymousID: "a1"}, true, "a:a1"},
		{Signal{Email: "a@x.io", UserID: "u1"}, true, "e:a@x.io"},
		{Signal{GroupID: "g"}, false, ""},
	}
	for _, tt := range tests {
		if got := tt.s.HasPersistentID(); got != tt.persistent {
			t.Errorf("%+v: HasPersistentID = %v", viewOf(&tt.s), got)
		}
		if got := tt.s.PersonKey(); got != tt.key {
			t.Errorf("%+v: PersonKey = %q, want %q", viewOf(&tt.s), got, tt.key)
		}
	}
	// Same payload, same key, whatever the receive time.
	raw := `{"type":"identify","anonymousId":"a1","traits":{"email":"Dana@X.io"}}`
	a := mustNormalize(t, raw, opts())
	b := mustNormalize(t, raw, Options{ReceivedAt: recv.Add(time.Hour)})
	if a.PersonKey() != "a:a1" || a.PersonKey() != b.PersonKey() {
		t.Fatalf("keys %q %q", a.PersonKey(), b.PersonKey())
	}
}

func TestValidSource(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"generic", "segment", "marketo", "hubspot", "salesforce", "website", "forms", "custom_crm", "a", "x-1", strings.Repeat("z", 32), "0"} {
		if !ValidSource(s) {
			t.Errorf("ValidSource(%q) = false", s)
		}
	}
	for _, s := range []string{"", "Segment", "web site", "a.b", "ü", strings.Repeat("z", 33), "a/b", " a"} {
		if ValidSource(s) {
			t.Errorf("ValidSource(%q) = true", s)
		}
	}
	for _, s := range []string{"track", "page", "identify", "group", "screen", "alias"} {
		if !ValidType(s) {
			t.Errorf("ValidType(%q) = false", s)
		}
	}
	for _, s := range []string{"", "Track", "event", "batch"} {
		if ValidType(s) {
			t.Errorf("ValidType(%q) = true", s)
		}
	}
}

func TestCanonicalEmail(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"a@x.io", "a@x.io"},
		{"  Dana.Smith+tag@Sub.Example.COM \n", "dana.smith+tag@sub.example.com"},
		{"o'brien@x.ie", "o'brien@x.ie"},
		{"zoë@exämple.de", "zoë@exämple.de"},
		{"", ""},
		{"a@x", ""},
		{"a@.x", ""},
		{"a@x.", ""},
		{"a@x..io", ""},
		{"@x.io", ""},
		{"a@", ""},
		{"a@b@x.io", ""},
		{"a b@x.io", ""},
		{"a\u00a0b@x.io", ""},
		{"a\x00@x.io", ""},
		{"Dana <d@x.io>", ""},
		{"d@x.io,e@x.io", ""},
		{`"d"@x.io`, ""},
		{"d@[192.0.2.1]", ""},
		{"\xffd@x.io", ""},
		{strings.Repeat("a", 250) + "@x.io", ""},
		{"n/a", ""},
	}
	for _, tt := range tests {
		if got := CanonicalEmail(tt.in); got != tt.want {
			t.Errorf("CanonicalEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatNumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		lit, want string
		ok        bool
	}{
		{"0", "0", true},
		{"-0", "0", true},
		{"-0.0", "0", true},
		{"0e5", "0", true},
		{"7", "7", true},
		{"-12", "-12", true},
		{"12345678901", "12345678901", true},
		{"1.2345678901e10", "12345678901", true},
		{"1.2345678901E+10", "12345678901", true},
		{"12.50", "12.5", true},
		{"2.0", "2", true},
		{"1e3", "1000", true},
		{"1e-3", "0.001", true},
		{"0.5", "0.5", true},
		{"-1.5e-2", "-0.015", true},
		{"123.456e1", "1234.56", true},
		{"123.456e-5", "0.00123456", true},
		{"1e00003", "1000", true},
		{"100e-2", "1", true},
		{"1e511", "1" + strings.Repeat("0", 511), true},
		{"1e512", "", false},
		{"1e-511", "", false},
		{"1e-509", "0." + strings.Repeat("0", 508) + "1", true},
		{strings.Repeat("9", 512), strings.Repeat("9", 512), true},
		{strings.Repeat("9", 513), "", false},
		{"1e99999999999999999999999", "", false},
	}
	for _, tt := range tests {
		got, ok := formatNumber([]byte(tt.lit), MaxIDLength)
		if got != tt.want || ok != tt.ok {
			t.Errorf("formatNumber(%s) = %q, %v; want %q, %v", tt.lit, got, ok, tt.want, tt.ok)
		}
	}
}

// A payload "source" that is not a source name (marketing payloads use it
// for the lead source) is data: detection decides, the signal is accepted.
func TestPayloadSourceThatIsNotASourceName(t *testing.T) {
	t.Parallel()
	recv := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, raw := range []string{
		`{"source":"Google Ads","email":"a@b.co"}`,
		`{"source":5,"email":"a@b.co"}`,
		`{"source":"` + strings.Repeat("a", 33) + `","mktLeadId":"7"}`,
	} {
		sig, err := Normalize([]byte(raw), Options{ReceivedAt: recv})
		if err != nil {
			t.Fatalf("%s: refused: %v", raw, err)
		}
		want := SourceGeneric
		if strings.Contains(raw, "mktLeadId") {
			want = SourceMarketo
		}
		if sig.Source != want {
			t.Errorf("%s: source %q, want %q", raw, sig.Source, want)
		}
	}
	if _, err := Normalize([]byte(`{"email":"a@b.co"}`), Options{ReceivedAt: recv, ForcedSource: "Google Ads"}); err == nil {
		t.Error("an invalid forced source (path or X-Source) must still be refused")
	}
}
