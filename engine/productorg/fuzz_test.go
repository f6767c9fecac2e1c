package productorg

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/errs"
)

// Seed corpora are also committed under testdata/fuzz/FuzzApply/.

// FuzzApply feeds arbitrary templates and payloads (both JSON) to Apply:
// it never panics; it fails only with invalid *errs.Error values naming a
// field; what it accepts satisfies the documented ranges, survives a JSON
// round trip and merges into nothing as itself.
func FuzzApply(f *testing.F) {
	seeds := [][2]string{
		{`{"product_org_id":"workspace_id","name":"workspace_name","user_count":"user_count","mrr_cents":"mrr"}`,
			`{"workspace_id":"ws_9931","workspace_name":"Northwind","user_count":14,"mrr":49900}`},
		{`{"product_org_id":"groupId","trial_status":"traits.trial","last_active_at":"traits.seen","feature_flags":"traits.flags"}`,
			`{"groupId":12345678901234567890,"traits":{"trial":"Converted","seen":"2030-01-02T03:04:05Z","flags":["sso"]}}`},
		{`{"product_org_id":"data.tenant.id","domain":"data.site","custom":"a.0.b"}`,
			`{"data":{"tenant":{"id":"t/1"},"site":"https://www.acme.co.uk/x"},"a":[{"b":null}]}`},
		{`{"product_org_id":"id","user_count":"n","mrr_cents":"n","last_active_at":"n"}`, `{"id":"x","n":1e300}`},
		{`{"product_org_id":"id","user_count":"n"}`, `{"id":" ","n":"-0"}`},
		{`{"product_org_id":"a..b"}`, `{}`},
		{`{"product_org_id":5}`, `{"5":1}`},
		{`{"name":"n"}`, `{"n":"x"}`},
		{`{"product_org_id":"id","feature_flags":"f","account_id":"a","crm_id":"c","plan_id":"p"}`,
			`{"id":"\u00e9t\u00e9","f":{"x":{"y":[1,2]}},"a":"acct_1","c":1.5,"p":true}`},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, tplJSON, payloadJSON string) {
		var tpl map[string]any
		if json.Unmarshal([]byte(tplJSON), &tpl) != nil {
			return
		}
		var payload map[string]any
		d := json.NewDecoder(strings.NewReader(payloadJSON))
		d.UseNumber()
		if d.Decode(&payload) != nil {
			return
		}
		verr := Validate(tpl)
		po, err := Apply(tpl, payload)
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.KindInvalid || e.Code == "" || e.Message == "" {
				t.Fatalf("Apply error %#v is not a user error", err)
			}
			if e.Field == "" && e.Code != CodeInvalidTemplate {
				t.Fatalf("Apply error %v names no field", e)
			}
			if (verr != nil) != (e.Code == CodeInvalidTemplate) {
				t.Fatalf("Validate %v but Apply %v", verr, e)
			}
			return
		}
		if verr != nil {
			t.Fatalf("Validate refused (%v) a template Apply used", verr)
		}
		if po.ID == "" || utf8.RuneCountInString(po.ID) > MaxIDLen || strings.ContainsRune(po.ID, '/') || strings.TrimSpace(po.ID) != po.ID {
			t.Fatalf("bad id %q", po.ID)
		}
		if po.UserCount != nil && (*po.UserCount < 0 || *po.UserCount > MaxUserCount) {
			t.Fatalf("user_count %d", *po.UserCount)
		}
		if po.MRRCents != nil && (*po.MRRCents < 0 || *po.MRRCents > MaxMRRCents) {
			t.Fatalf("mrr_cents %d", *po.MRRCents)
		}
		switch po.TrialStatus {
		case "", TrialActive, TrialExpired, TrialConverted:
		default:
			t.Fatalf("trial_status %q", po.TrialStatus)
		}
		if po.LastActiveAt != nil && (po.LastActiveAt.Before(minTime) || po.LastActiveAt.After(maxTime)) {
			t.Fatalf("last_active_at %v", po.LastActiveAt)
		}
		for name := range po.Custom {
			if KnownField(name) {
				t.Fatalf("known field %q among custom attributes", name)
			}
			if _, ok := tpl[name]; !ok {
				t.Fatalf("custom %q is not in the template", name)
			}
		}
		for name := range po.Given {
			if _, ok := tpl[name]; !ok {
				t.Fatalf("given %q is not in the template", name)
			}
		}
		// Deterministic.
		again, err := Apply(tpl, payload)
		if err != nil || !reflect.DeepEqual(po, again) {
			t.Fatalf("second Apply differs: %+v / %v", again, err)
		}
		// Stored form round-trips.
		m := Merge(ProductOrg{}, po)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back ProductOrg
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if back.ID != m.ID || back.TrialStatus != m.TrialStatus || back.Domain != m.Domain {
			t.Fatalf("round trip %+v → %+v", m, back)
		}
		// Merging the same update twice changes nothing more.
		if twice := Merge(m, po); !reflect.DeepEqual(twice, m) {
			t.Fatalf("Merge is not idempotent:\n%+v\n%+v", m, twice)
		}
	})
}
