package mapping_test

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/mapping"
)

func nested(depth int, inner mapping.Condition) mapping.Condition {
	c := inner
	for range depth {
		c = all(c)
	}
	return c
}

func leaves(n int) mapping.Condition {
	cs := make([]mapping.Condition, n)
	for i := range cs {
		cs[i] = leaf("event", mapping.OpExists, nil)
	}
	return all(cs...)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	m := func(p string, tg mapping.Target) mapping.IdentifierMapping {
		return mapping.IdentifierMapping{Path: p, Target: tg}
	}
	email := m("email", mapping.TargetEmail)
	cond := func(c mapping.Condition) func(*mapping.Rule) { return func(r *mapping.Rule) { r.Conditions = c } }
	tests := []struct {
		name        string
		edit        func(*mapping.Rule)
		code, field string // code "" = valid
	}{
		{"valid", func(*mapping.Rule) {}, "", ""},
		{"no id is fine for Validate", func(r *mapping.Rule) { r.ID = "" }, "", ""},
		{"id too long", func(r *mapping.Rule) { r.ID = repeat("x", 129) }, "too_long", "id"},
		// name
		{"name required", func(r *mapping.Rule) { r.Name = "" }, "required", "name"},
		{"name blank", func(r *mapping.Rule) { r.Name = "  \t" }, "required", "name"},
		{"name 100 chars multibyte", func(r *mapping.Rule) { r.Name = repeat("é", 100) }, "", ""},
		{"name too long", func(r *mapping.Rule) { r.Name = repeat("a", 101) }, "too_long", "name"},
		{"name bad utf8", func(r *mapping.Rule) { r.Name = "a\xffb" }, "invalid_format", "name"},
		// signal type
		{"signal_type required", func(r *mapping.Rule) { r.SignalType = "" }, "required", "signal_type"},
		{"signal_type unknown", func(r *mapping.Rule) { r.SignalType = "pageview" }, "invalid_enum", "signal_type"},
		{"signal_type email_click", func(r *mapping.Rule) { r.SignalType = mapping.EmailClick }, "", ""},
		// description, source
		{"description 1000", func(r *mapping.Rule) { r.Description = repeat("d", 1000) }, "", ""},
		{"description too long", func(r *mapping.Rule) { r.Description = repeat("d", 1001) }, "too_long", "description"},
		{"source too long", func(r *mapping.Rule) { r.Source = repeat("s", 101) }, "too_long", "source"},
		// numbers
		{"priority max", func(r *mapping.Rule) { r.Priority = 1000 }, "", ""},
		{"priority min", func(r *mapping.Rule) { r.Priority = -1000 }, "", ""},
		{"priority too high", func(r *mapping.Rule) { r.Priority = 1001 }, "out_of_range", "priority"},
		{"priority too low", func(r *mapping.Rule) { r.Priority = -1001 }, "out_of_range", "priority"},
		{"weight bounds", func(r *mapping.Rule) { r.Weight = ptr(-100.0) }, "", ""},
		{"weight zero", func(r *mapping.Rule) { r.Weight = ptr(0.0) }, "", ""},
		{"weight too high", func(r *mapping.Rule) { r.Weight = ptr(100.5) }, "out_of_range", "weight"},
		{"weight too low", func(r *mapping.Rule) { r.Weight = ptr(-101.0) }, "out_of_range", "weight"},
		{"weight NaN", func(r *mapping.Rule) { r.Weight = ptr(math.NaN()) }, "out_of_range", "weight"},
		{"half-life bounds", func(r *mapping.Rule) { r.HalfLifeHours = ptr(1.0) }, "", ""},
		{"half-life year", func(r *mapping.Rule) { r.HalfLifeHours = ptr(8760.0) }, "", ""},
		{"half-life too short", func(r *mapping.Rule) { r.HalfLifeHours = ptr(0.5) }, "out_of_range", "half_life_hours"},
		{"half-life too long", func(r *mapping.Rule) { r.HalfLifeHours = ptr(8761.0) }, "out_of_range", "half_life_hours"},
		{"half-life inf", func(r *mapping.Rule) { r.HalfLifeHours = ptr(math.Inf(1)) }, "out_of_range", "half_life_hours"},
		// mappings
		{"mappings required", func(r *mapping.Rule) { r.Mappings = nil }, "required", "mappings"},
		{"title is not an identifier", func(r *mapping.Rule) {
			r.Mappings = []mapping.IdentifierMapping{m("traits.title", mapping.TargetTitle)}
		}, "required", "mappings"},
		{"cdp_id alone", func(r *mapping.Rule) { r.Mappings = []mapping.IdentifierMapping{m("anonymousId", mapping.TargetCDPID)} }, "cdp_only", "mappings"},
		{"cdp_id with title", func(r *mapping.Rule) {
			r.Mappings = []mapping.IdentifierMapping{m("anonymousId", mapping.TargetCDPID), m("traits.title", mapping.TargetTitle)}
		}, "cdp_only", "mappings"},
		{"cdp_id with crm_id", func(r *mapping.Rule) {
			r.Mappings = []mapping.IdentifierMapping{m("anonymousId", mapping.TargetCDPID), m("crmId", mapping.TargetCRMID)}
		}, "", ""},
		{"map_id alone", func(r *mapping.Rule) { r.Mappings = []mapping.IdentifierMapping{m("mktLeadId", mapping.TargetMapID)} }, "", ""},
		{"product_user_id alone", func(r *mapping.Rule) {
			r.Mappings = []mapping.IdentifierMapping{m("userId", mapping.TargetProductUserID)}
		}, "", ""},
		{"mapping path empty", func(r *mapping.Rule) { r.Mappings = []mapping.IdentifierMapping{email, m("", mapping.TargetCRMID)} }, "required", "mappings[1].path"},
		{"mapping path double dot", func(r *mapping.Rule) { r.Mappings = []mapping.IdentifierMapping{email, m("a..b", mapping.TargetCRMID)} }, "invalid_path", "mappings[1].path"},
		{"mapping path leading dot", func(r *mapping.Rule) { r.Mappings = []mapping.IdentifierMapping{m(".email", mapping.TargetEmail)} }, "invalid_path", "mappings[0].path"},
		{"mapping path trailing dot", func(r *mapping.Rule) { r.Mappings = []mapping.IdentifierMapping{m("email.", mapping.TargetEmail)} }, "invalid_path", "mappings[0].path"},
		{"mapping path space", func(r *mapping.Rule) { r.Mappings = []mapping.IdentifierMapping{m("first name", mapping.TargetEmail)} }, "invalid_path", "mappings[0].path"},
		{"mapping path brackets", func(r *mapping.Rule) {
			r.Mappings = []mapping.IdentifierMapping{m("items[0].sku", mapping.TargetEmail)}
		}, "invalid_path", "mappings[0].path"},
		{"mapping path special chars ok", func(r *mapping.Rule) {
			r.Mappings = []mapping.IdentifierMapping{m("$ajs.@id-x_1.0", mapping.TargetEmail)}
		}, "", ""},
		{"mapping path 16 segments", func(r *mapping.Rule) {
			r.Mappings = []mapping.IdentifierMapping{m(strings.Repeat("a.", 15)+"a", mapping.TargetEmail)}
		}, "", ""},
		{"mapping path 17 segments", func(r *mapping.Rule) {
			r.Mappings = []mapping.IdentifierMapping{m(strings.Repeat("a.", 16)+"a", mapping.TargetEmail)}
		}, "invalid_path", "mappings[0].path"},
		{"mapping path 256 chars", func(r *mapping.Rule) {
			r.Mappings = []mapping.IdentifierMapping{m(repeat("p", 256), mapping.TargetEmail)}
		}, "", ""},
		{"mapping path 257 chars", func(r *mapping.Rule) {
			r.Mappings = []mapping.IdentifierMapping{m(repeat("p", 257), mapping.TargetEmail)}
		}, "invalid_path", "mappings[0].path"},
		{"mapping target unknown", func(r *mapping.Rule) { r.Mappings = []mapping.IdentifierMapping{email, m("phone", "phone")} }, "invalid_enum", "mappings[1].target"},
		{"mapping target empty", func(r *mapping.Rule) { r.Mappings = []mapping.IdentifierMapping{m("email", "")} }, "required", "mappings[0].target"},
		{"too many mappings", func(r *mapping.Rule) {
			r.Mappings = make([]mapping.IdentifierMapping, 51)
			for i := range r.Mappings {
				r.Mappings[i] = email
			}
		}, "too_long", "mappings"},
		// conditions: structure
		{"leaf at root", cond(leaf("event", mapping.OpExists, nil)), "", ""},
		{"empty root", cond(mapping.Condition{}), "", ""},
		{"unknown op", cond(all(leaf("event", mapping.OpEquals, "x"), leaf("event", "like", "x"))), "invalid_enum", "conditions.all[1].op"},
		{"op required", cond(leaf("event", "", "x")), "required", "conditions.op"},
		{"path required", cond(leaf("", mapping.OpEquals, "x")), "required", "conditions.path"},
		{"path invalid", cond(anyOf(leaf("a b", mapping.OpEquals, "x"))), "invalid_path", "conditions.any[0].path"},
		{"value only is a leaf without path", cond(mapping.Condition{Value: "x"}), "required", "conditions.path"},
		{"leaf and group mixed at root", cond(mapping.Condition{Path: "event", Op: mapping.OpExists, All: []mapping.Condition{leaf("a", mapping.OpExists, nil)}}), "invalid_condition", "conditions"},
		{"leaf and group mixed nested", cond(all(leaf("a", mapping.OpExists, nil), mapping.Condition{Op: mapping.OpEquals, Any: []mapping.Condition{leaf("a", mapping.OpExists, nil)}})), "invalid_condition", "conditions.all[1]"},
		{"all and any together", cond(mapping.Condition{All: []mapping.Condition{leaf("a", mapping.OpExists, nil)}, Any: []mapping.Condition{leaf("b", mapping.OpExists, nil)}}), "invalid_condition", "conditions"},
		{"nested empty", cond(all(mapping.Condition{})), "invalid_condition", "conditions.all[0]"},
		{"deep field path", cond(all(anyOf(leaf("a", mapping.OpExists, nil), all(leaf("b", mapping.OpEquals, nil))))), "required", "conditions.all[0].any[1].all[0].value"},
		{"depth 8", cond(nested(8, leaf("a", mapping.OpExists, nil))), "", ""},
		{"depth 9", cond(nested(9, leaf("a", mapping.OpExists, nil))), "too_complex", "conditions" + strings.Repeat(".all[0]", 8)},
		{"100 leaves", cond(leaves(100)), "", ""},
		{"101 leaves", cond(leaves(101)), "too_complex", "conditions"},
		// conditions: values
		{"equals needs value", cond(leaf("event", mapping.OpEquals, nil)), "required", "conditions.value"},
		{"contains needs value", cond(leaf("event", mapping.OpContains, nil)), "required", "conditions.value"},
		{"equals empty string ok", cond(leaf("event", mapping.OpEquals, "")), "", ""},
		{"equals object", cond(leaf("event", mapping.OpEquals, map[string]any{"a": 1})), "invalid_value", "conditions.value"},
		{"equals list", cond(leaf("event", mapping.OpEquals, []any{"a"})), "invalid_value", "conditions.value"},
		{"equals NaN", cond(leaf("event", mapping.OpEquals, math.NaN())), "invalid_value", "conditions.value"},
		{"equals json.Number", cond(leaf("event", mapping.OpEquals, json.Number("12"))), "", ""},
		{"equals bad json.Number", cond(leaf("event", mapping.OpEquals, json.Number("x"))), "invalid_value", "conditions.value"},
		{"value too long", cond(leaf("event", mapping.OpEquals, repeat("v", 1001))), "too_long", "conditions.value"},
		{"exists with value", cond(leaf("event", mapping.OpExists, true)), "invalid_value", "conditions.value"},
		{"not_exists with value", cond(leaf("event", mapping.OpNotExists, "x")), "invalid_value", "conditions.value"},
		{"regex ok", cond(leaf("event", mapping.OpMatches, `^Demo (Requested|Booked)$`)), "", ""},
		{"regex broken", cond(leaf("event", mapping.OpMatches, `(`)), "invalid_regex", "conditions.value"},
		{"regex backreference", cond(leaf("event", mapping.OpMatches, `(a)\1`)), "invalid_regex", "conditions.value"},
		{"regex lookahead", cond(leaf("event", mapping.OpMatches, `a(?=b)`)), "invalid_regex", "conditions.value"},
		{"regex 512", cond(leaf("event", mapping.OpMatches, repeat("a", 512))), "", ""},
		{"regex too long", cond(leaf("event", mapping.OpMatches, repeat("a", 513))), "invalid_regex", "conditions.value"},
		{"regex not a string", cond(leaf("event", mapping.OpMatches, 42)), "invalid_regex", "conditions.value"},
		{"regex missing", cond(leaf("event", mapping.OpMatches, nil)), "required", "conditions.value"},
		{"in not a list", cond(leaf("event", mapping.OpIn, "a")), "invalid_value", "conditions.value"},
		{"in empty", cond(leaf("event", mapping.OpIn, []any{})), "invalid_value", "conditions.value"},
		{"in 1000", cond(leaf("event", mapping.OpIn, manyValues(1000))), "", ""},
		{"in null element", cond(leaf("event", mapping.OpIn, []any{"a", nil})), "required", "conditions.value[1]"},
		{"in too long", cond(leaf("event", mapping.OpIn, manyValues(1001))), "invalid_value", "conditions.value"},
		{"in object element", cond(leaf("event", mapping.OpIn, []any{"a", map[string]any{}})), "invalid_value", "conditions.value[1]"},
		{"in nested list", cond(all(leaf("event", mapping.OpIn, []any{"a", 1.0, true, []any{"b"}}))), "invalid_value", "conditions.all[0].value[3]"},
		{"in mixed scalars ok", cond(leaf("event", mapping.OpIn, []any{"a", 1.0, true, json.Number("2")})), "", ""},
		{"gt number", cond(leaf("properties.seats", mapping.OpGT, 10)), "", ""},
		{"gt numeric string", cond(leaf("properties.seats", mapping.OpGTE, "10.5")), "", ""},
		{"gt timestamp", cond(leaf("timestamp", mapping.OpLT, "2025-03-01T00:00:00+01:00")), "", ""},
		{"gt date", cond(leaf("timestamp", mapping.OpLTE, "2025-03-01")), "", ""},
		{"gt text", cond(leaf("properties.seats", mapping.OpGT, "many")), "invalid_value", "conditions.value"},
		{"gt bad date", cond(leaf("timestamp", mapping.OpGT, "2025-02-30")), "invalid_value", "conditions.value"},
		{"gt bool", cond(leaf("properties.seats", mapping.OpLT, true)), "invalid_value", "conditions.value"},
		{"gt missing", cond(leaf("properties.seats", mapping.OpLT, nil)), "required", "conditions.value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validRule()
			tt.edit(&r)
			err := r.Validate()
			if tt.code == "" {
				wantNoErr(t, err)
				return
			}
			wantErr(t, err, errs.KindInvalid, tt.code, tt.field)
			// Compile reports the same problem under rules[i].
			if r.ID == "" || r.ID == "r1" {
				r.ID = "r2"
			}
			_, cerr := mapping.Compile([]mapping.Rule{validRule(), r})
			wantErr(t, cerr, errs.KindInvalid, tt.code, "rules[1]."+tt.field)
		})
	}
}

func TestValidateIsNilInterface(t *testing.T) {
	t.Parallel()
	r := validRule()
	var err error = r.Validate()
	if err != nil {
		t.Fatalf("valid rule: %v", err)
	}
	rs, err := mapping.Compile(nil)
	if err != nil || rs.Len() != 0 {
		t.Fatalf("Compile(nil) = %v, %v", rs, err)
	}
	_, err = (*mapping.RuleSet)(nil).Preview(r, nil, nil)
	if err != nil {
		t.Fatalf("Preview: %v", err)
	}
}

func TestCompileIDs(t *testing.T) {
	t.Parallel()
	a, b := validRule(), validRule()
	_, err := mapping.Compile([]mapping.Rule{a, b})
	wantErr(t, err, errs.KindInvalid, "duplicate", "rules[1].id")
	b.ID = ""
	_, err = mapping.Compile([]mapping.Rule{a, b})
	wantErr(t, err, errs.KindInvalid, "required", "rules[1].id")
	b.ID, b.Name = "r2", ""
	_, err = mapping.Compile([]mapping.Rule{a, b})
	wantErr(t, err, errs.KindInvalid, "required", "rules[1].name")
}

func TestEffectiveWeightAndHalfLife(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ      mapping.SignalType
		weight   float64
		halfLife time.Duration
	}{
		{mapping.PageView, 1.0, 7 * 24 * time.Hour},
		{mapping.FormFill, 5.0, 30 * 24 * time.Hour},
		{mapping.ProductActivity, 3.0, 14 * 24 * time.Hour},
		{mapping.SalesEvent, 8.0, 30 * 24 * time.Hour},
		{mapping.EmailOpen, 0.5, 7 * 24 * time.Hour},
		{mapping.EmailClick, 1.5, 14 * 24 * time.Hour},
	}
	if len(tests) != len(mapping.SignalTypes()) {
		t.Fatal("a signal type has no default test")
	}
	for _, tt := range tests {
		r := mapping.Rule{SignalType: tt.typ}
		if got := r.EffectiveWeight(); got != tt.weight {
			t.Errorf("%s weight = %v, want %v", tt.typ, got, tt.weight)
		}
		if got := r.EffectiveHalfLife(); got != tt.halfLife {
			t.Errorf("%s half-life = %v, want %v", tt.typ, got, tt.halfLife)
		}
		r.Negative = true
		if got := r.EffectiveWeight(); got != -tt.weight {
			t.Errorf("negative %s weight = %v, want %v", tt.typ, got, -tt.weight)
		}
	}
	r := mapping.Rule{SignalType: mapping.PageView, Weight: ptr(2.5), HalfLifeHours: ptr(1.5)}
	if r.EffectiveWeight() != 2.5 || r.EffectiveHalfLife() != 90*time.Minute {
		t.Errorf("explicit: %v %v", r.EffectiveWeight(), r.EffectiveHalfLife())
	}
	r.Negative = true
	if r.EffectiveWeight() != -2.5 {
		t.Errorf("negative explicit: %v", r.EffectiveWeight())
	}
	r.Weight = ptr(-4.0)
	if r.EffectiveWeight() != -4 {
		t.Errorf("negative with negative weight: %v", r.EffectiveWeight())
	}
	r = mapping.Rule{SignalType: "bogus"}
	if r.EffectiveWeight() != 0 || r.EffectiveHalfLife() <= 0 {
		t.Errorf("unknown type: %v %v", r.EffectiveWeight(), r.EffectiveHalfLife())
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	for _, tg := range mapping.Targets() {
		wantID := tg != mapping.TargetTitle
		wantPersistent := wantID && tg != mapping.TargetCDPID
		if tg.IsIdentifying() != wantID || tg.IsPersistent() != wantPersistent {
			t.Errorf("%s: identifying=%v persistent=%v", tg, tg.IsIdentifying(), tg.IsPersistent())
		}
	}
	if mapping.Target("phone").IsIdentifying() {
		t.Error("unknown target is identifying")
	}
	for _, op := range mapping.Ops() {
		if !op.Valid() {
			t.Errorf("%s not valid", op)
		}
	}
}

func TestRuleJSONRoundTrip(t *testing.T) {
	t.Parallel()
	r := mapping.Rule{
		ID: "rule_1", Name: "Viewed Pricing", SignalType: mapping.PageView,
		Description: "Looked at pricing", HighIntent: true, Negative: false, Source: "segment",
		Conditions: all(
			leaf("type", mapping.OpEquals, "page"),
			anyOf(
				leaf("properties.path", mapping.OpStartsWith, "/pricing"),
				leaf("properties.url", mapping.OpMatches, `(?i)/plans?\b`),
				leaf("properties.plan", mapping.OpIn, []any{"pro", 2.0, true}),
				leaf("properties.seats", mapping.OpGTE, 10.0),
			),
			leaf("context.traits.email", mapping.OpExists, nil),
		),
		Priority: 7,
		Mappings: []mapping.IdentifierMapping{
			{Path: "context.traits.email", Target: mapping.TargetEmail},
			{Path: "anonymousId", Target: mapping.TargetCDPID},
			{Path: "context.traits.title", Target: mapping.TargetTitle},
		},
		Weight: ptr(2.0), HalfLifeHours: ptr(72.0),
		CreatedAt: t0, UpdatedAt: t0.Add(time.Hour),
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"signal_type":"page_view"`, `"high_intent":true`, `"half_life_hours":72`,
		`"created_at":"2025-03-10T09:30:00Z"`, `"conditions":{"all":[`, `"op":"exists"`, `"target":"cdp_id"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
	if strings.Contains(string(b), `"value":null`) || strings.Contains(string(b), `"path":""`) {
		t.Errorf("empty condition fields not omitted: %s", b)
	}
	var back mapping.Rule
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip differs:\n got %#v\nwant %#v", back, r)
	}
	wantNoErr(t, back.Validate())
	// Decoding with UseNumber gives json.Number values, which validate and
	// behave the same.
	m, err := decodeErr(b, true)
	if err != nil {
		t.Fatal(err)
	}
	nb, _ := json.Marshal(m)
	var viaNumber mapping.Rule
	d := json.NewDecoder(strings.NewReader(string(nb)))
	d.UseNumber()
	if err := d.Decode(&viaNumber); err != nil {
		t.Fatal(err)
	}
	wantNoErr(t, viaNumber.Validate())
	rs := mustCompile(t, back, func() mapping.Rule { viaNumber.ID = "rule_2"; return viaNumber }())
	p := decode(t, `{"type":"page","properties":{"seats":"12"},"context":{"traits":{"email":"a@b.c"}}}`, false)
	if got := rs.MatchAll(p, "Segment"); !reflect.DeepEqual(got, []string{"rule_1", "rule_2"}) {
		t.Fatalf("MatchAll = %v", got)
	}
	// An empty rule marshals with an empty conditions object.
	b, _ = json.Marshal(mapping.Rule{})
	if !strings.Contains(string(b), `"conditions":{}`) {
		t.Errorf("empty conditions: %s", b)
	}
}

func manyValues(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = "v" + strconv.Itoa(i)
	}
	return out
}
