package mapping_test

import (
	"testing"

	"github.com/trailspark/trailspark/engine/mapping"
)

func TestExtract(t *testing.T) {
	t.Parallel()
	r := validRule()
	r.Mappings = []mapping.IdentifierMapping{
		{Path: "email", Target: mapping.TargetEmail},                // empty: falls through
		{Path: "traits.email", Target: mapping.TargetEmail},         // missing: falls through
		{Path: "context.traits.email", Target: mapping.TargetEmail}, // used
		{Path: "properties.email", Target: mapping.TargetEmail},     // ignored: already set
		{Path: "userId", Target: mapping.TargetProductUserID},       // number
		{Path: "crmId", Target: mapping.TargetCRMID},                // big integer
		{Path: "anonymousId", Target: mapping.TargetCDPID},          // null: ignored
		{Path: "context.anonymous.0", Target: mapping.TargetCDPID},  // array element
		{Path: "mktLeadId", Target: mapping.TargetMapID},            // exponent
		{Path: "context.traits.title", Target: mapping.TargetTitle}, // trimmed
		{Path: "properties.flag", Target: mapping.TargetMapID},      // ignored: already set
	}
	const doc = `{"email":"  ","userId":1234567,"crmId":12345678901234567890,"anonymousId":null,
	 "mktLeadId":1e3,"properties":{"email":"p@x.io","flag":true},
	 "context":{"traits":{"email":" Ada@Example.com ","title":"  VP Sales "},"anonymous":["anon-1"]}}`
	for _, useNumber := range []bool{false, true} {
		got := mapping.Extract(&r, decode(t, doc, useNumber))
		want := mapping.Extracted{
			Email: "Ada@Example.com", ProductUserID: "1234567", CRMID: "12345678901234567000",
			CDPID: "anon-1", MapID: "1000", Title: "VP Sales",
		}
		if useNumber {
			want.CRMID = "12345678901234567890" // exact with UseNumber
		}
		if got != want {
			t.Errorf("useNumber=%v\n got %+v\nwant %+v", useNumber, got, want)
		}
		if !got.HasPersistentID() || got.Get(mapping.TargetTitle) != "VP Sales" || got.Get("bogus") != "" {
			t.Errorf("helpers: %+v", got)
		}
	}
}

func TestExtractValues(t *testing.T) {
	t.Parallel()
	r := validRule()
	r.Mappings = []mapping.IdentifierMapping{{Path: "v", Target: mapping.TargetCRMID}}
	tests := []struct{ doc, want string }{
		{`{"v":"abc"}`, "abc"},
		{`{"v":0}`, "0"},
		{`{"v":-0}`, "0"},
		{`{"v":-12}`, "-12"},
		{`{"v":1.25}`, "1.25"},
		{`{"v":1e21}`, "1000000000000000000000"},
		{`{"v":2.5e-3}`, "0.0025"},
		{`{"v":true}`, ""},
		{`{"v":{"a":1}}`, ""},
		{`{"v":[1]}`, ""},
		{`{"v":null}`, ""},
		{`{}`, ""},
	}
	for _, tt := range tests {
		for _, useNumber := range []bool{false, true} {
			if got := mapping.Extract(&r, decode(t, tt.doc, useNumber)).CRMID; got != tt.want {
				t.Errorf("%s (useNumber=%v) = %q, want %q", tt.doc, useNumber, got, tt.want)
			}
		}
	}
	if (mapping.Extract(nil, nil) != mapping.Extracted{}) {
		t.Error("nil rule")
	}
	cdpOnly := mapping.Extracted{CDPID: "x", Title: "y"}
	if cdpOnly.HasPersistentID() {
		t.Error("cdp_id alone is not persistent")
	}
}
