package mapping_test

import (
	"testing"

	"github.com/trailspark/trailspark/engine/mapping"
)

// opPayload exercises every value shape encoding/json produces.
const opPayload = `{
 "type": "track", "event": "Demo Requested", "userId": "u1",
 "properties": {
  "plan": "Pro", "seats": 25, "seats_str": "25", "price": "19.99",
  "page_url": "https://Example.com/Pricing?x=1",
  "tags": ["Pricing", "b2b", 3, true],
  "active": true, "active_str": "TRUE", "nothing": null,
  "created": "2025-03-01T10:00:00+02:00", "day": "2025-03-01",
  "empty": "", "obj": {"a": 1}, "big": 12345678901234567890, "neg": -0.5,
  "kelvin": "\u212Aelvin", "zero": 0
 },
 "context": {"traits": {"email": "Ada@Example.com"}},
 "items": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 0}]
}`

// matchCond compiles a one-condition rule and evaluates it against the
// payload decoded both ways; the two must agree.
func matchCond(t *testing.T, c mapping.Condition, payload string) bool {
	t.Helper()
	r := validRule()
	r.Conditions = c
	rs := mustCompile(t, r)
	got := rs.Match(decode(t, payload, false), "") != nil
	if gotNum := rs.Match(decode(t, payload, true), "") != nil; gotNum != got {
		t.Fatalf("float64 decoding gives %v, json.Number decoding gives %v", got, gotNum)
	}
	return got
}

func TestOperators(t *testing.T) {
	t.Parallel()
	const (
		eq, ne       = mapping.OpEquals, mapping.OpNotEquals
		has, hasnt   = mapping.OpContains, mapping.OpNotContains
		sw, ew       = mapping.OpStartsWith, mapping.OpEndsWith
		gt, gte      = mapping.OpGT, mapping.OpGTE
		lt, lte      = mapping.OpLT, mapping.OpLTE
		ex, nex      = mapping.OpExists, mapping.OpNotExists
		re, in       = mapping.OpMatches, mapping.OpIn
		missing      = "properties.missing"
		null         = "properties.nothing"
		seats, plan  = "properties.seats", "properties.plan"
		url, created = "properties.page_url", "properties.created"
	)
	tests := []struct {
		name string
		c    mapping.Condition
		want bool
	}{
		// equals
		{"equals string folds case", leaf("event", eq, "demo REQUESTED"), true},
		{"equals string is not a prefix", leaf("event", eq, "Demo"), false},
		{"equals number", leaf(seats, eq, 25.0), true},
		{"equals int constant", leaf(seats, eq, 25), true},
		{"equals numeric-string constant vs number", leaf(seats, eq, "25"), true},
		{"equals number constant vs numeric string", leaf("properties.seats_str", eq, 25), true},
		{"equals two strings compare as text", leaf("properties.seats_str", eq, "25.0"), false},
		{"equals number vs text", leaf(seats, eq, "abc"), false},
		{"equals number constant vs text", leaf(plan, eq, 1), false},
		{"equals bool", leaf("properties.active", eq, true), true},
		{"equals bool wrong", leaf("properties.active", eq, false), false},
		{"equals bool vs \"true\" constant", leaf("properties.active", eq, "True"), true},
		{"equals bool constant vs \"TRUE\" payload", leaf("properties.active_str", eq, true), true},
		{"equals bool vs number", leaf("properties.active", eq, 1), false},
		{"equals zero vs false", leaf("properties.zero", eq, false), false},
		{"equals object never", leaf("properties.obj", eq, "x"), false},
		{"equals array never", leaf("properties.tags", eq, "Pricing"), false},
		{"equals null never", leaf(null, eq, "null"), false},
		{"equals missing", leaf(missing, eq, "x"), false},
		{"equals array index", leaf("items.1.sku", eq, "b2"), true},
		{"equals empty string", leaf("properties.empty", eq, ""), true},
		{"equals big number", leaf("properties.big", eq, 12345678901234567890.0), true},
		{"equals negative fraction", leaf("properties.neg", eq, "-0.5"), true},
		{"equals unicode fold (Kelvin sign)", leaf("properties.kelvin", eq, "kelvin"), true},
		// not_equals: exact negation
		{"not_equals other", leaf("event", ne, "x"), true},
		{"not_equals same (case)", leaf("event", ne, "demo requested"), false},
		{"not_equals number", leaf(seats, ne, 25), false},
		{"not_equals missing is true", leaf(missing, ne, "x"), true},
		{"not_equals null is true", leaf(null, ne, "x"), true},
		{"not_equals object is true", leaf("properties.obj", ne, "x"), true},
		// contains
		{"contains folds case", leaf(url, has, "PRICING"), true},
		{"contains absent", leaf(url, has, "checkout"), false},
		{"contains empty", leaf(url, has, ""), true},
		{"contains array element", leaf("properties.tags", has, "pricing"), true},
		{"contains array number element", leaf("properties.tags", has, 3), true},
		{"contains array bool element", leaf("properties.tags", has, true), true},
		{"contains array is not substring", leaf("properties.tags", has, "b2"), false},
		{"contains on number", leaf(seats, has, "2"), false},
		{"contains on bool", leaf("properties.active", has, "t"), false},
		{"contains missing", leaf(missing, has, "x"), false},
		{"contains unicode fold", leaf("properties.kelvin", has, "ELV"), true},
		{"contains ascii k vs Kelvin sign", leaf("properties.kelvin", has, "k"), true},
		{"contains number constant", leaf("properties.seats_str", has, 5), true},
		// not_contains
		{"not_contains absent", leaf(url, hasnt, "checkout"), true},
		{"not_contains present", leaf(url, hasnt, "pricing"), false},
		{"not_contains missing is true", leaf(missing, hasnt, "x"), true},
		{"not_contains null is true", leaf(null, hasnt, "x"), true},
		{"not_contains number is true", leaf(seats, hasnt, "2"), true},
		{"not_contains array element", leaf("properties.tags", hasnt, "PRICING"), false},
		// starts_with / ends_with
		{"starts_with", leaf(url, sw, "HTTPS://example"), true},
		{"starts_with wrong", leaf(url, sw, "http://"), false},
		{"starts_with longer than value", leaf("userId", sw, "u1u1"), false},
		{"starts_with number", leaf(seats, sw, "2"), false},
		{"starts_with Kelvin sign", leaf("properties.kelvin", sw, "k"), true},
		{"starts_with missing", leaf(missing, sw, ""), false},
		{"ends_with", leaf(url, ew, "X=1"), true},
		{"ends_with email domain", leaf("context.traits.email", ew, "@EXAMPLE.com"), true},
		{"ends_with wrong", leaf(url, ew, "x=2"), false},
		{"ends_with unicode", leaf("properties.kelvin", ew, "VIN"), true},
		{"ends_with whole Kelvin", leaf("properties.kelvin", ew, "KELVIN"), true},
		// numeric comparisons
		{"gt", leaf(seats, gt, 20), true},
		{"gt equal", leaf(seats, gt, 25), false},
		{"gte equal", leaf(seats, gte, 25), true},
		{"lt", leaf(seats, lt, 26), true},
		{"lte below", leaf(seats, lte, 24), false},
		{"lte negative", leaf("properties.neg", lte, -0.5), true},
		{"gt numeric string payload", leaf("properties.seats_str", gt, 20), true},
		{"gte decimal string payload", leaf("properties.price", gte, 19.99), true},
		{"gt numeric string constant", leaf(seats, gt, "20"), true},
		{"gt text payload", leaf(plan, gt, 1), false},
		{"gt bool payload", leaf("properties.active", gt, 0), false},
		{"gt missing", leaf(missing, gt, 0), false},
		{"lt null", leaf(null, lt, 0), false},
		{"gt array", leaf("properties.tags", gt, 0), false},
		// time comparisons (created is 08:00Z)
		{"gt time", leaf(created, gt, "2025-03-01T07:59:59Z"), true},
		{"lt time", leaf(created, lt, "2025-03-01T08:00:00.001Z"), true},
		{"gte time same instant other zone", leaf(created, gte, "2025-03-01T03:00:00-05:00"), true},
		{"lte time", leaf(created, lte, "2025-03-01T07:59:59Z"), false},
		{"gte full date", leaf("properties.day", gte, "2025-03-01"), true},
		{"lt date vs date-time", leaf("properties.day", lt, "2025-03-01T00:00:01Z"), true},
		{"time constant vs number", leaf(seats, gt, "2025-01-01"), false},
		{"time constant vs text", leaf(plan, gt, "2025-01-01"), false},
		// exists / not_exists
		{"exists", leaf("event", ex, nil), true},
		{"exists empty string", leaf("properties.empty", ex, nil), true},
		{"exists object", leaf("properties.obj", ex, nil), true},
		{"exists null is false", leaf(null, ex, nil), false},
		{"exists missing", leaf(missing, ex, nil), false},
		{"exists out of range index", leaf("items.5", ex, nil), false},
		{"not_exists null", leaf(null, nex, nil), true},
		{"not_exists missing", leaf(missing, nex, nil), true},
		{"not_exists present", leaf("event", nex, nil), false},
		// matches (case-sensitive RE2)
		{"matches", leaf(url, re, `^https://Example\.com/`), true},
		{"matches is case-sensitive", leaf(url, re, `example`), false},
		{"matches (?i)", leaf(url, re, `(?i)example\.com/pricing`), true},
		{"matches number", leaf(seats, re, `25`), false},
		{"matches missing", leaf(missing, re, `.*`), false},
		{"matches null", leaf(null, re, `.*`), false},
		// in
		{"in strings fold", leaf(plan, in, []any{"free", "PRO"}), true},
		{"in []string", leaf(plan, in, []string{"enterprise", "pro"}), true},
		{"in numbers", leaf(seats, in, []any{10.0, 25.0}), true},
		{"in numeric strings vs number", leaf(seats, in, []any{"25"}), true},
		{"in number vs numeric string", leaf("properties.seats_str", in, []any{25}), true},
		{"in bool", leaf("properties.active", in, []any{"x", true}), true},
		{"in none", leaf(plan, in, []any{"x", 1.0}), false},
		{"in missing", leaf(missing, in, []any{"x"}), false},
		{"in object", leaf("properties.obj", in, []any{"x"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := matchCond(t, tt.c, opPayload); got != tt.want {
				t.Fatalf("%s %s %v = %v, want %v", tt.c.Path, tt.c.Op, tt.c.Value, got, tt.want)
			}
		})
	}
}

func TestConditionTrees(t *testing.T) {
	t.Parallel()
	demo := leaf("event", mapping.OpEquals, "Demo Requested")
	other := leaf("event", mapping.OpEquals, "Other")
	pro := leaf("properties.plan", mapping.OpEquals, "pro")
	free := leaf("properties.plan", mapping.OpEquals, "free")
	many := leaf("properties.seats", mapping.OpGT, 10)
	huge := leaf("properties.seats", mapping.OpGT, 100)
	tests := []struct {
		name string
		c    mapping.Condition
		want bool
	}{
		{"empty root matches all", mapping.Condition{}, true},
		{"empty all/any lists at root match all", mapping.Condition{All: []mapping.Condition{}, Any: []mapping.Condition{}}, true},
		{"single leaf at root", demo, true},
		{"all true", all(demo, pro), true},
		{"all one false", all(demo, free), false},
		{"any one true", anyOf(other, pro), true},
		{"any none", anyOf(other, free), false},
		{"and of or", all(demo, anyOf(free, many)), true},
		{"and of or, or false", all(demo, anyOf(free, huge)), false},
		{"or of ands", anyOf(all(other, pro), all(demo, many)), true},
		{"or of ands, none", anyOf(all(other, pro), all(demo, huge)), false},
		{"deep nesting", all(all(all(all(all(all(all(all(demo)))))))), true},
		{"deep nesting false", all(all(all(anyOf(all(other))))), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := matchCond(t, tt.c, opPayload); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// Payloads built in Go (not decoded) may carry other numeric types.
func TestGoTypedPayloadNumbers(t *testing.T) {
	t.Parallel()
	p := map[string]any{"i": 25, "i64": int64(-3), "u8": uint8(7), "f32": float32(1.5), "u64": uint64(1 << 40)}
	tests := []struct {
		c    mapping.Condition
		want bool
	}{
		{leaf("i", mapping.OpEquals, "25"), true},
		{leaf("i64", mapping.OpLT, 0), true},
		{leaf("u8", mapping.OpIn, []any{7.0}), true},
		{leaf("f32", mapping.OpGTE, 1.5), true},
		{leaf("u64", mapping.OpGT, 1e12), true},
		{leaf("i", mapping.OpContains, "2"), false},
	}
	for _, tt := range tests {
		r := validRule()
		r.Conditions = tt.c
		if got := mustCompile(t, r).Match(p, "") != nil; got != tt.want {
			t.Errorf("%s %s %v = %v", tt.c.Path, tt.c.Op, tt.c.Value, got)
		}
	}
	r := validRule()
	r.Mappings = []mapping.IdentifierMapping{{Path: "i64", Target: mapping.TargetCRMID}, {Path: "f32", Target: mapping.TargetMapID}}
	if ex := mapping.Extract(&r, p); ex.CRMID != "-3" || ex.MapID != "1.5" {
		t.Errorf("Extract = %+v", ex)
	}
}
