package productorg

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

// decode reads JSON the way the API does: numbers stay json.Number.
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

func i64(n int64) *int64 { return &n }

func wantErr(t *testing.T, err error, field, code string) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *errs.Error %s/%s", err, err, field, code)
	}
	if e.Kind != errs.KindInvalid || e.Field != field || e.Code != code || e.Message == "" {
		t.Fatalf("error %+v, want invalid field %q code %q with a message", e, field, code)
	}
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("a.", 100) + "b"
	many := map[string]any{"product_org_id": "id"}
	for i := 0; i < MaxTemplateFields; i++ {
		many["f"+strings.Repeat("x", i%60)+string(rune('a'+i%26))+string(rune('a'+i/26))] = "x"
	}
	deep := strings.TrimSuffix(strings.Repeat("a.", MaxPathSegments+1), ".")
	cases := []struct {
		name     string
		template map[string]any
		field    string // "" = valid
		code     string
	}{
		{"minimal", map[string]any{"product_org_id": "workspace_id"}, "", ""},
		{"all known and custom", map[string]any{"product_org_id": "data.tenant.id", "name": "traits.name", "plan_id": "plan",
			"plan_name": "plan_name", "user_count": "traits.employees", "mrr_cents": "mrr", "trial_status": "trial",
			"last_active_at": "activity.last_seen", "feature_flags": "data.features", "account_id": "acct",
			"domain": "traits.website", "crm_id": "sf.id", "projects_count": "metrics.total_projects", "Storage GB": "usage.gb"}, "", ""},
		{"array index and odd characters", map[string]any{"product_org_id": "items.0.$id", "x": "a b.c-d"}, "", ""},
		{"empty", map[string]any{}, "payload_template", "required"},
		{"nil", nil, "payload_template", "required"},
		{"no id", map[string]any{"name": "workspace_name"}, "payload_template.product_org_id", "required"},
		{"not a string", map[string]any{"product_org_id": 5}, "payload_template.product_org_id", "wrong_type"},
		{"object path", map[string]any{"product_org_id": "id", "name": map[string]any{"path": "x"}}, "payload_template.name", "wrong_type"},
		{"blank path", map[string]any{"product_org_id": "  "}, "payload_template.product_org_id", "invalid_format"},
		{"leading dot", map[string]any{"product_org_id": ".id"}, "payload_template.product_org_id", "invalid_format"},
		{"double dot", map[string]any{"product_org_id": "id", "plan_id": "a..b"}, "payload_template.plan_id", "invalid_format"},
		{"trailing dot", map[string]any{"product_org_id": "id", "mrr_cents": "mrr."}, "payload_template.mrr_cents", "invalid_format"},
		{"long path", map[string]any{"product_org_id": long}, "payload_template.product_org_id", "invalid_format"},
		{"deep path", map[string]any{"product_org_id": deep}, "payload_template.product_org_id", "invalid_format"},
		{"empty name", map[string]any{"product_org_id": "id", "": "x"}, "payload_template.", "invalid_format"},
		{"spaced name", map[string]any{"product_org_id": "id", " plan": "x"}, "payload_template. plan", "invalid_format"},
		{"control name", map[string]any{"product_org_id": "id", "a\nb": "x"}, "payload_template.a\nb", "invalid_format"},
		{"long name", map[string]any{"product_org_id": "id", strings.Repeat("n", 65): "x"}, "payload_template." + strings.Repeat("n", 65), "invalid_format"},
		{"too many", many, "payload_template", "too_many"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.template)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			wantErr(t, err, tc.field, tc.code)
		})
	}
}

func TestLookup(t *testing.T) {
	p := decode(t, `{"a":{"b":[{"c":1},{"c":null}],"0":"zero","x.y":2},"s":"str"}`)
	cases := []struct {
		path string
		want any
		ok   bool
	}{
		{"a.b.0.c", json.Number("1"), true},
		{"a.b.1.c", nil, true},
		{"a.b.2.c", nil, false},
		{"a.b.-1.c", nil, false},
		{"a.b.01.c", nil, false},
		{"a.0", "zero", true},
		{"s", "str", true},
		{"s.x", nil, false},
		{"a.x.y", nil, false}, // dots always separate segments
		{"missing", nil, false},
		{"", nil, false},
	}
	for _, tc := range cases {
		got, ok := Lookup(p, tc.path)
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := Lookup(nil, "a"); ok {
		t.Error("Lookup(nil) found something")
	}
}

// The hosted docs' flat example, mapped field by field.
func TestApplyFlatExample(t *testing.T) {
	tpl := map[string]any{
		"product_org_id": "workspace_id", "name": "workspace_name", "plan_id": "plan_id", "plan_name": "plan_name",
		"user_count": "user_count", "mrr_cents": "mrr", "trial_status": "trial_status", "last_active_at": "last_active_at",
		"feature_flags": "feature_flags", "projects_count": "metrics.total_projects", "api_calls_30d": "usage.api_calls_last_30_days",
		"domain": "website", "crm_id": "crm.id", "account_id": "ts_account",
	}
	p := decode(t, `{
	  "workspace_id": "ws_9931", "workspace_name": " Northwind Analytics ", "plan_id": "pro_monthly", "plan_name": "Pro",
	  "user_count": 14, "mrr": 49900, "trial_status": "Converted", "last_active_at": "2025-03-01T17:40:00+01:00",
	  "feature_flags": {"sso": true, "api_access": false}, "metrics": {"total_projects": 27},
	  "website": "https://www.northwind.co.uk/app", "crm": {"id": 12345678901234567890}
	}`)
	po, err := Apply(tpl, p)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 1, 16, 40, 0, 0, time.UTC)
	want := ProductOrg{ID: "ws_9931", Name: "Northwind Analytics", PlanID: "pro_monthly", PlanName: "Pro",
		UserCount: i64(14), MRRCents: i64(49900), TrialStatus: "converted", LastActiveAt: &at,
		FeatureFlags: map[string]any{"sso": true, "api_access": false}, Domain: "northwind.co.uk",
		CRMID: "12345678901234567890", Custom: map[string]any{"projects_count": json.Number("27")},
		Given: map[string]bool{"product_org_id": true, "name": true, "plan_id": true, "plan_name": true, "user_count": true,
			"mrr_cents": true, "trial_status": true, "last_active_at": true, "feature_flags": true, "projects_count": true,
			"domain": true, "crm_id": true}}
	if !reflect.DeepEqual(po, want) {
		t.Fatalf("Apply:\n got %+v\nwant %+v", po, want)
	}
	// Absent paths (api_calls_30d, account_id) are not Given: they leave stored values alone.
	if _, ok := po.Given["api_calls_30d"]; ok {
		t.Error("an absent custom path is marked given")
	}
	b, err := json.Marshal(po)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"custom":{"projects_count":27}`)) || bytes.Contains(b, []byte("Given")) {
		t.Errorf("JSON %s", b)
	}
}

func TestApplyConversions(t *testing.T) {
	tpl := func(field string) map[string]any { return map[string]any{"product_org_id": "id", field: "v"} }
	cases := []struct {
		name, field, payload string
		check                func(ProductOrg) bool
	}{
		{"numeric id", "", `{"id": 123456789012345678901234567890}`, func(p ProductOrg) bool { return p.ID == "123456789012345678901234567890" }},
		{"trimmed id", "", `{"id": "  ws 1 "}`, func(p ProductOrg) bool { return p.ID == "ws 1" }},
		{"numeric name", "name", `{"id":"x","v": 42}`, func(p ProductOrg) bool { return p.Name == "42" }},
		{"numeric plan id", "plan_id", `{"id":"x","v": 7.5}`, func(p ProductOrg) bool { return p.PlanID == "7.5" }},
		{"user count float", "user_count", `{"id":"x","v": 14.0}`, func(p ProductOrg) bool { return *p.UserCount == 14 }},
		{"user count string", "user_count", `{"id":"x","v": " 14 "}`, func(p ProductOrg) bool { return *p.UserCount == 14 }},
		{"user count exponent", "user_count", `{"id":"x","v": 1e3}`, func(p ProductOrg) bool { return *p.UserCount == 1000 }},
		{"user count zero", "user_count", `{"id":"x","v": 0}`, func(p ProductOrg) bool { return p.UserCount != nil && *p.UserCount == 0 }},
		{"mrr big", "mrr_cents", `{"id":"x","v": 900000000000000}`, func(p ProductOrg) bool { return *p.MRRCents == 900000000000000 }},
		{"trial upper", "trial_status", `{"id":"x","v": " ACTIVE"}`, func(p ProductOrg) bool { return p.TrialStatus == "active" }},
		{"unix seconds", "last_active_at", `{"id":"x","v": 1700000000}`, func(p ProductOrg) bool {
			return p.LastActiveAt.Equal(time.Unix(1700000000, 0))
		}},
		{"unix millis", "last_active_at", `{"id":"x","v": 1700000000123}`, func(p ProductOrg) bool {
			return p.LastActiveAt.Equal(time.UnixMilli(1700000000123))
		}},
		{"fractional time", "last_active_at", `{"id":"x","v": "2030-01-02T03:04:05.123Z"}`, func(p ProductOrg) bool {
			return p.LastActiveAt.Equal(time.Date(2030, 1, 2, 3, 4, 5, 123e6, time.UTC))
		}},
		{"flag list", "feature_flags", `{"id":"x","v": ["sso", " api "]}`, func(p ProductOrg) bool {
			return reflect.DeepEqual(p.FeatureFlags, map[string]any{"sso": true, "api": true})
		}},
		{"domain from email", "domain", `{"id":"x","v": "ann@Mail.Acme.com"}`, func(p ProductOrg) bool { return p.Domain == "acme.com" }},
		{"custom object", "usage", `{"id":"x","v": {"gb": 1.5}}`, func(p ProductOrg) bool {
			return reflect.DeepEqual(p.Custom["usage"], map[string]any{"gb": json.Number("1.5")})
		}},
		{"custom false", "beta", `{"id":"x","v": false}`, func(p ProductOrg) bool { return p.Custom["beta"] == false && p.Given["beta"] }},
		{"null clears", "plan_name", `{"id":"x","v": null}`, func(p ProductOrg) bool { return p.Given["plan_name"] == false && p.PlanName == "" }},
		{"blank clears", "trial_status", `{"id":"x","v": " "}`, func(p ProductOrg) bool {
			g, ok := p.Given["trial_status"]
			return ok && !g
		}},
		{"absent is not given", "mrr_cents", `{"id":"x"}`, func(p ProductOrg) bool { _, ok := p.Given["mrr_cents"]; return !ok }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tp := map[string]any{"product_org_id": "id"}
			if tc.field != "" {
				tp = tpl(tc.field)
			}
			po, err := Apply(tp, decode(t, tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(po) {
				t.Errorf("%s: got %+v", tc.payload, po)
			}
		})
	}
	// float64 numbers (payloads decoded without UseNumber) work too.
	var plain map[string]any
	_ = json.Unmarshal([]byte(`{"id": 77, "v": 12}`), &plain)
	po, err := Apply(tpl("user_count"), plain)
	if err != nil || po.ID != "77" || *po.UserCount != 12 {
		t.Errorf("float64 payload: %+v, %v", po, err)
	}
}

func TestApplyErrors(t *testing.T) {
	base := map[string]any{"product_org_id": "data.tenant.id", "user_count": "seats", "mrr_cents": "mrr",
		"trial_status": "trial", "last_active_at": "seen", "feature_flags": "flags", "domain": "site", "name": "title",
		"crm_id": "crm"}
	cases := []struct {
		name, payload, field, code string
		inMessage                  string
	}{
		{"id missing", `{"data": {"tenant": {}}}`, "product_org_id", "required", `"data.tenant.id"`},
		{"id path blocked by a string", `{"data": "x"}`, "product_org_id", "required", `"data.tenant.id"`},
		{"id null", `{"data": {"tenant": {"id": null}}}`, "product_org_id", "required", "payload template"},
		{"id blank", `{"data": {"tenant": {"id": "  "}}}`, "product_org_id", "required", ""},
		{"id object", `{"data": {"tenant": {"id": {"v": 1}}}}`, "product_org_id", "wrong_type", "an object"},
		{"id bool", `{"data": {"tenant": {"id": true}}}`, "product_org_id", "wrong_type", "a boolean"},
		{"id slash", `{"data": {"tenant": {"id": "a/b"}}}`, "product_org_id", "invalid_format", "'/'"},
		{"id control", `{"data": {"tenant": {"id": "a\u0000b"}}}`, "product_org_id", "invalid_format", ""},
		{"id long", `{"data": {"tenant": {"id": "` + strings.Repeat("x", 257) + `"}}}`, "product_org_id", "too_long", "256"},
		{"seats text", `{"data": {"tenant": {"id": "w"}}, "seats": "many"}`, "user_count", "wrong_type", `"seats"`},
		{"seats fraction", `{"data": {"tenant": {"id": "w"}}, "seats": 1.5}`, "user_count", "wrong_type", ""},
		{"seats negative", `{"data": {"tenant": {"id": "w"}}, "seats": -1}`, "user_count", "out_of_range", ""},
		{"seats huge", `{"data": {"tenant": {"id": "w"}}, "seats": 1e12}`, "user_count", "out_of_range", ""},
		{"seats bool", `{"data": {"tenant": {"id": "w"}}, "seats": true}`, "user_count", "wrong_type", ""},
		{"mrr negative string", `{"data": {"tenant": {"id": "w"}}, "mrr": "-5"}`, "mrr_cents", "out_of_range", ""},
		{"mrr overflow", `{"data": {"tenant": {"id": "w"}}, "mrr": 99999999999999999999999}`, "mrr_cents", "out_of_range", ""},
		{"trial bogus", `{"data": {"tenant": {"id": "w"}}, "trial": "trialing"}`, "trial_status", "invalid_enum", "active, expired or converted"},
		{"trial number", `{"data": {"tenant": {"id": "w"}}, "trial": 1}`, "trial_status", "wrong_type", ""},
		{"seen text", `{"data": {"tenant": {"id": "w"}}, "seen": "yesterday"}`, "last_active_at", "invalid_format", "RFC 3339"},
		{"seen date only", `{"data": {"tenant": {"id": "w"}}, "seen": "2030-01-02"}`, "last_active_at", "invalid_format", ""},
		{"seen negative", `{"data": {"tenant": {"id": "w"}}, "seen": -5}`, "last_active_at", "invalid_format", ""},
		{"flags string", `{"data": {"tenant": {"id": "w"}}, "flags": "sso"}`, "feature_flags", "wrong_type", ""},
		{"flags mixed list", `{"data": {"tenant": {"id": "w"}}, "flags": ["sso", 1]}`, "feature_flags", "wrong_type", ""},
		{"site bad", `{"data": {"tenant": {"id": "w"}}, "site": "localhost"}`, "domain", "invalid_format", "acme.com"},
		{"site suffix", `{"data": {"tenant": {"id": "w"}}, "site": "co.uk"}`, "domain", "invalid_format", ""},
		{"site number", `{"data": {"tenant": {"id": "w"}}, "site": 5}`, "domain", "wrong_type", ""},
		{"name object", `{"data": {"tenant": {"id": "w"}}, "title": {}}`, "name", "wrong_type", ""},
		{"name long", `{"data": {"tenant": {"id": "w"}}, "title": "` + strings.Repeat("é", 1001) + `"}`, "name", "too_long", ""},
		{"crm array", `{"data": {"tenant": {"id": "w"}}, "crm": [1]}`, "crm_id", "wrong_type", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Apply(base, decode(t, tc.payload))
			wantErr(t, err, tc.field, tc.code)
			if !strings.Contains(err.Error(), tc.inMessage) {
				t.Errorf("message %q does not mention %q", err, tc.inMessage)
			}
		})
	}
	// The first error is deterministic: product_org_id, then by field name.
	_, err := Apply(base, decode(t, `{"data": {"tenant": {"id": "w"}}, "seats": "x", "mrr": "y", "flags": 1}`))
	wantErr(t, err, "feature_flags", "wrong_type")
}

func TestApplyRejectsBadTemplates(t *testing.T) {
	_, err := Apply(map[string]any{"name": "n"}, decode(t, `{"n": "x"}`))
	wantErr(t, err, "payload_template.product_org_id", CodeInvalidTemplate)
	_, err = Apply(map[string]any{"product_org_id": "a..b"}, decode(t, `{"a": {"": {"b": 1}}}`))
	wantErr(t, err, "payload_template.product_org_id", CodeInvalidTemplate)
	if !strings.Contains(err.Error(), "payload template") {
		t.Errorf("message: %v", err)
	}
}

func TestMerge(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := ProductOrg{ID: "w", Name: "Old", PlanID: "p1", PlanName: "Starter", UserCount: i64(3), MRRCents: i64(100),
		TrialStatus: "active", LastActiveAt: &at, FeatureFlags: map[string]any{"a": true}, AccountID: "acct_1",
		Domain: "acme.com", CRMID: "c1", Custom: map[string]any{"keep": 1.0, "drop": 2.0, "change": 3.0}}
	tpl := map[string]any{"product_org_id": "id", "name": "name", "plan_name": "plan_name", "user_count": "users",
		"trial_status": "trial", "domain": "domain", "drop": "drop", "change": "change", "new": "new", "keep": "keep"}
	upd, err := Apply(tpl, decode(t, `{"id": "w", "name": "New", "plan_name": null, "users": 9, "trial": "converted",
		"domain": "", "drop": null, "change": "x", "new": [1]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := Merge(prev, upd)
	want := ProductOrg{ID: "w", Name: "New", PlanID: "p1", UserCount: i64(9), MRRCents: i64(100),
		TrialStatus: "converted", LastActiveAt: &at, FeatureFlags: map[string]any{"a": true}, AccountID: "acct_1",
		CRMID: "c1", Custom: map[string]any{"keep": 1.0, "change": "x", "new": []any{json.Number("1")}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Merge:\n got %+v\nwant %+v", got, want)
	}
	if len(prev.Custom) != 3 || prev.Custom["change"] != 3.0 {
		t.Errorf("Merge changed prev's custom map: %v", prev.Custom)
	}
	// Clearing the last custom field leaves no empty map behind.
	upd, _ = Apply(map[string]any{"product_org_id": "id", "only": "only"}, decode(t, `{"id": "w", "only": null}`))
	if got := Merge(ProductOrg{ID: "w", Custom: map[string]any{"only": 1}}, upd); got.Custom != nil {
		t.Errorf("custom %v, want nil", got.Custom)
	}
	// Into nothing: the update itself.
	upd, _ = Apply(map[string]any{"product_org_id": "id", "mrr_cents": "m"}, decode(t, `{"id": "w", "m": 5}`))
	if got := Merge(ProductOrg{}, upd); got.ID != "w" || *got.MRRCents != 5 || got.Given != nil {
		t.Errorf("Merge into empty: %+v", got)
	}
}

func TestKnownField(t *testing.T) {
	for _, f := range []string{FieldID, FieldName, FieldPlanID, FieldPlanName, FieldUserCount, FieldMRRCents,
		FieldTrialStatus, FieldLastActiveAt, FieldFeatureFlags, FieldAccountID, FieldDomain, FieldCRMID} {
		if !KnownField(f) {
			t.Errorf("%s is not known", f)
		}
	}
	if KnownField("mrr") || KnownField("Name") {
		t.Error("custom names are known")
	}
}
