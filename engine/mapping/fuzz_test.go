package mapping_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/mapping"
)

// Seed inputs are also committed under testdata/fuzz.
var ruleSeeds = []string{
	`{"id":"a","name":"Demo","signal_type":"form_fill","conditions":{"all":[{"path":"event","op":"equals","value":"Demo Requested"}]},"mappings":[{"path":"context.traits.email","target":"email"}]}`,
	`{"name":"x","signal_type":"page_view","conditions":{"any":[{"path":"properties.url","op":"matches","value":"(?i)/pricing"},{"path":"properties.seats","op":"gte","value":10},{"path":"timestamp","op":"lt","value":"2025-01-01T00:00:00Z"}]},"mappings":[{"path":"userId","target":"product_user_id"}],"weight":2.5,"half_life_hours":48,"priority":3}`,
	`{"name":"x","signal_type":"email_open","conditions":{"path":"properties.plan","op":"in","value":["a",1,true]},"mappings":[{"path":"anonymousId","target":"cdp_id"}]}`,
	`{"name":"x","signal_type":"sales_event","conditions":{"path":"a","op":"exists","all":[{}]},"mappings":[{"path":"a..b","target":"crm_id"}]}`,
	`{"name":"x","signal_type":"product_activity","conditions":{"all":[{"any":[{"all":[{"path":"a","op":"matches","value":"(a)\\1"}]}]}]},"mappings":[{"path":"email","target":"email"}],"negative":true}`,
	`{"name":"","signal_type":"nope","conditions":{"path":"a","op":"like"},"mappings":[],"weight":1e999}`,
	`{"name":"x","signal_type":"email_click","conditions":{"path":"a","op":"gt","value":"2025-02-30"},"mappings":[{"path":"email","target":"email"}],"priority":-1001}`,
	`{"conditions":{"value":{"a":[1,2]}},"mappings":null,"source":"segment"}`,
	`[]`,
	`null`,
}

func FuzzCompileRule(f *testing.F) {
	for _, s := range ruleSeeds {
		f.Add([]byte(s))
	}
	payloads := []map[string]any{
		decode(f, opPayload, false), decode(f, opPayload, true), decode(f, benchPayload, true), {}, nil,
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, useNumber := range []bool{false, true} {
			var r mapping.Rule
			d := json.NewDecoder(bytes.NewReader(data))
			if useNumber {
				d.UseNumber()
			}
			if d.Decode(&r) != nil {
				continue
			}
			r.ID = "fz"
			verr := r.Validate()
			checkErr(t, verr, "")
			rs, cerr := mapping.Compile([]mapping.Rule{r})
			if (verr == nil) != (cerr == nil) {
				t.Fatalf("Validate = %v but Compile = %v", verr, cerr)
			}
			checkErr(t, cerr, "rules[0]")
			_ = r.EffectiveWeight()
			_ = r.EffectiveHalfLife()
			_, perr := (*mapping.RuleSet)(nil).Preview(r, payloads, []string{"segment"})
			if (perr == nil) != (verr == nil) {
				t.Fatalf("Preview error %v, Validate error %v", perr, verr)
			}
			if cerr != nil {
				continue
			}
			if r.EffectiveHalfLife() <= 0 {
				t.Fatalf("valid rule with half-life %v", r.EffectiveHalfLife())
			}
			for _, p := range payloads {
				m := rs.Match(p, "segment")
				if ids := rs.MatchAll(p, "segment"); (m == nil) != (len(ids) == 0) {
					t.Fatalf("Match %v vs MatchAll %v", m, ids)
				}
				_ = mapping.Extract(&r, p)
			}
			// A valid rule survives a JSON round trip.
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatalf("marshal valid rule: %v", err)
			}
			var back mapping.Rule
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("unmarshal %s: %v", b, err)
			}
			if err := back.Validate(); err != nil {
				t.Fatalf("round-tripped rule invalid: %v\n%s", err, b)
			}
		}
	})
}

func checkErr(t *testing.T, err error, prefix string) {
	t.Helper()
	if err == nil {
		return
	}
	var e *errs.Error
	if !errors.As(err, &e) || e == nil {
		t.Fatalf("error %v (%T) is not an *errs.Error", err, err)
	}
	if e.Kind != errs.KindInvalid || e.Code == "" || e.Message == "" || !strings.HasPrefix(e.Field, prefix) {
		t.Fatalf("bad error %+v", e)
	}
}

var payloadSeeds = []string{
	opPayload,
	benchPayload,
	`{}`,
	`{"type":"page","name":"Pricing","properties":{"url":"https://x.io/pricing","seats":"12"}}`,
	`{"event":null,"properties":{"tags":[1,"Pricing",null,{"a":[]}]},"items":[[],[[]]]}`,
	`{"properties":{"created":"2025-03-01T10:00:00.123456789123-02:00","seats":1e308,"neg":-0}}`,
	`{"event":"\u212Aelvin","properties":{"url":"\u00dfTRASSE","plan":"\ud800"}}`,
	`{"context":{"traits":{"email":12345678901234567890123}},"userId":-1.5e-300}`,
	`{"type":"track","event":"Demo Requested","properties":{"plan":"PRO","seats":51}}`,
}

// fuzzRules covers every operator and nesting shape.
func fuzzRules(t testing.TB) *mapping.RuleSet {
	base := func(id string, prio int, c mapping.Condition) mapping.Rule {
		r := validRule()
		r.ID, r.Priority, r.Conditions = id, prio, c
		return r
	}
	rules := []mapping.Rule{
		base("eq", 20, leaf("event", mapping.OpEquals, "Demo Requested")),
		base("ne", 19, leaf("properties.plan", mapping.OpNotEquals, 3)),
		base("has", 18, all(leaf("properties.url", mapping.OpContains, "pricing"), leaf("properties.tags", mapping.OpContains, "Pricing"))),
		base("hasnt", 17, leaf("properties.url", mapping.OpNotContains, "ß")),
		base("sw", 16, leaf("properties.url", mapping.OpStartsWith, "HTTPS://")),
		base("ew", 15, leaf("context.traits.email", mapping.OpEndsWith, "@example.com")),
		base("cmp", 14, anyOf(leaf("properties.seats", mapping.OpGT, 50), leaf("properties.seats", mapping.OpLTE, "0"),
			all(leaf("properties.neg", mapping.OpGTE, -1), leaf("properties.neg", mapping.OpLT, 1)))),
		base("time", 13, leaf("properties.created", mapping.OpGT, "2025-01-01")),
		base("ex", 12, all(leaf("items.1.0", mapping.OpExists, nil), leaf("items.0.sku", mapping.OpNotExists, nil))),
		base("re", 11, leaf("event", mapping.OpMatches, `^\p{Lu}\w+$`)),
		base("in", 10, leaf("properties.plan", mapping.OpIn, []any{"pro", 2.0, false})),
		base("type", 9, leaf("type", mapping.OpEquals, "page")),
	}
	return mustCompile(t, rules...)
}

func FuzzMatch(f *testing.F) {
	for _, s := range payloadSeeds {
		f.Add([]byte(s), "segment")
	}
	rs := fuzzRules(f)
	ruleList := rs.Rules()
	paths := []string{"event", "properties.url", "items.0.sku", "items.1.0", "properties.tags.3.a", "context.traits.email"}
	draftRule := validRule()
	draftRule.Mappings = append(draftRule.Mappings,
		mapping.IdentifierMapping{Path: "userId", Target: mapping.TargetProductUserID},
		mapping.IdentifierMapping{Path: "properties.seats", Target: mapping.TargetCRMID})
	f.Fuzz(func(t *testing.T, data []byte, source string) {
		var results [][]string
		for _, useNumber := range []bool{false, true} {
			p, err := decodeErr(data, useNumber)
			if err != nil {
				results = append(results, nil)
				continue
			}
			m := rs.Match(p, source)
			ids := rs.MatchAll(p, source)
			if (m == nil) != (len(ids) == 0) || m != nil && m.ID != ids[0] {
				t.Fatalf("Match %v disagrees with MatchAll %v", m, ids)
			}
			results = append(results, append(ids, "ok"))
			// Each rule on its own (Preview: no shared lookups) agrees
			// with the set's answer.
			for _, r := range ruleList {
				n, err := (*mapping.RuleSet)(nil).Preview(r, []map[string]any{p}, []string{source})
				if err != nil || (n == 1) != slices.Contains(ids, r.ID) {
					t.Fatalf("rule %s: Preview %d, %v; MatchAll %v", r.ID, n, err, ids)
				}
			}
			for _, path := range paths {
				mapping.Lookup(p, path)
			}
			_ = mapping.Extract(&draftRule, p)
			var gs mapping.Groups
			key := mapping.KeyFor(source, p)
			gs.Add(key, p, data, t0)
			g, ok := gs.Get(key)
			if !ok || g.Count != 1 || len(g.SamplePaths) > mapping.MaxSamplePaths {
				t.Fatalf("group %+v", g)
			}
			for _, sp := range g.SamplePaths {
				if _, found := mapping.Lookup(p, sp); !found {
					t.Fatalf("sample path %q does not resolve", sp)
				}
			}
			draft := mapping.DraftRule(g)
			var de *errs.Error
			if err := draft.Validate(); err != nil && !(errors.As(err, &de) && de.Field == "source") {
				t.Fatalf("draft from %q invalid: %v\n%+v", data, err, draft)
			}
		}
		// float64 and json.Number decoding give the same matches.
		if results[0] != nil && results[1] != nil && !reflect.DeepEqual(results[0], results[1]) {
			t.Fatalf("float64 matches %v, json.Number matches %v", results[0], results[1])
		}
	})
}
