package mapping_test

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/mapping"
)

func catchAll(id string, prio int, created time.Time) mapping.Rule {
	r := validRule()
	r.ID, r.Priority, r.CreatedAt = id, prio, created
	r.Conditions = mapping.Condition{}
	return r
}

func TestPriorityAndTieBreak(t *testing.T) {
	t.Parallel()
	rules := []mapping.Rule{
		catchAll("low", 1, t0),
		catchAll("b-new", 5, t0.Add(time.Hour)),
		catchAll("z-old", 5, t0),
		catchAll("neg", -3, t0.Add(-time.Hour)),
		catchAll("y-old", 5, t0),
	}
	rs := mustCompile(t, rules...)
	if rs.Len() != 5 {
		t.Fatalf("Len = %d", rs.Len())
	}
	p := map[string]any{"event": "x"}
	// Priority first; equal priority → older first; same age → id.
	want := []string{"y-old", "z-old", "b-new", "low", "neg"}
	if got := rs.MatchAll(p, ""); !reflect.DeepEqual(got, want) {
		t.Fatalf("MatchAll = %v, want %v", got, want)
	}
	if got := rs.Match(p, ""); got == nil || got.ID != "y-old" {
		t.Fatalf("Match = %v", got)
	}
	var ids []string
	for _, r := range rs.Rules() {
		ids = append(ids, r.ID)
	}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("Rules order = %v", ids)
	}
	// The input order does not matter.
	rev := make([]mapping.Rule, len(rules))
	for i := range rules {
		rev[i] = rules[len(rules)-1-i]
	}
	if got := mustCompile(t, rev...).MatchAll(p, ""); !reflect.DeepEqual(got, want) {
		t.Fatalf("reversed MatchAll = %v", got)
	}
}

func TestFirstMatchWins(t *testing.T) {
	t.Parallel()
	demo := validRule()
	demo.ID, demo.Priority = "demo", 10
	pricing := validRule()
	pricing.ID, pricing.SignalType, pricing.Priority = "pricing", mapping.PageView, 20
	pricing.Conditions = all(leaf("type", mapping.OpEquals, "page"), leaf("properties.path", mapping.OpStartsWith, "/pricing"))
	fallback := catchAll("fallback", -10, t0)
	fallback.Source = "segment"
	rs := mustCompile(t, demo, pricing, fallback)
	tests := []struct {
		name, payload, source, want string
	}{
		{"demo", `{"type":"track","event":"Demo Requested"}`, "segment", "demo"},
		{"pricing", `{"type":"page","properties":{"path":"/Pricing/teams"}}`, "segment", "pricing"},
		{"fallback", `{"type":"track","event":"Other"}`, "segment", "fallback"},
		{"source filter is case-insensitive", `{"event":"Other"}`, "SEGMENT", "fallback"},
		{"skipped: other source", `{"type":"track","event":"Other"}`, "hubspot", ""},
		{"rules without source match any source", `{"event":"Demo Requested"}`, "hubspot", "demo"},
		{"empty payload", `{}`, "marketo", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := rs.Match(decode(t, tt.payload, false), tt.source)
			gotID := ""
			if got != nil {
				gotID = got.ID
			}
			if gotID != tt.want {
				t.Fatalf("Match = %q, want %q", gotID, tt.want)
			}
		})
	}
	if rs.Match(nil, "segment").ID != "fallback" {
		t.Error("nil payload should still match the catch-all")
	}
	var nilSet *mapping.RuleSet
	if nilSet.Match(map[string]any{}, "") != nil || nilSet.MatchAll(nil, "") != nil || nilSet.Len() != 0 || nilSet.Rules() != nil {
		t.Error("nil RuleSet should be empty")
	}
}

func TestCompileCopiesRules(t *testing.T) {
	t.Parallel()
	r := validRule()
	r.Weight = ptr(2.0)
	rules := []mapping.Rule{r}
	rs := mustCompile(t, rules...)
	rules[0].Mappings[0].Path = "changed"
	*rules[0].Weight = 9
	rules[0].Conditions.All[0].Value = "Changed"
	got := rs.Match(map[string]any{"event": "Demo Requested"}, "")
	if got == nil {
		t.Fatal("compiled conditions changed with the input")
	}
	if got.Mappings[0].Path != "context.traits.email" || *got.Weight != 2 || got.Conditions.All[0].Value != "Demo Requested" {
		t.Fatalf("compiled rule shares memory with input: %+v", got)
	}
}

func TestConcurrentMatch(t *testing.T) {
	t.Parallel()
	rs := benchRuleSet(t, 50)
	p := decode(t, benchPayload, false)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if r := rs.Match(p, "segment"); r == nil || r.ID != benchTargetID {
					t.Errorf("Match = %v", r)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestPreview(t *testing.T) {
	t.Parallel()
	payloads := []map[string]any{
		decode(t, `{"type":"track","event":"Demo Requested","properties":{"plan":"pro"}}`, false),
		decode(t, `{"type":"track","event":"demo requested","properties":{"plan":"free"}}`, true),
		decode(t, `{"type":"track","event":"Signed Up"}`, false),
		decode(t, `{"type":"page","name":"Pricing"}`, false),
		nil,
	}
	sources := []string{"segment", "hubspot", "segment"} // shorter: the rest are ""

	draft := validRule()
	draft.ID = ""
	n, err := (*mapping.RuleSet)(nil).Preview(draft, payloads, sources)
	wantNoErr(t, err)
	if n != 2 {
		t.Fatalf("matched %d, want 2", n)
	}
	draft.Source = "segment"
	if n, _ := (*mapping.RuleSet)(nil).Preview(draft, payloads, sources); n != 1 {
		t.Fatalf("with source: matched %d, want 1", n)
	}
	draft.Source = ""

	bad := draft
	bad.Name = ""
	n, err = (*mapping.RuleSet)(nil).Preview(bad, payloads, sources)
	wantErr(t, err, errs.KindInvalid, "required", "name")
	if n != 0 {
		t.Fatalf("invalid draft matched %d", n)
	}

	// Against existing rules: a higher-priority rule for plan=pro takes the
	// first signal; the draft only wins the second.
	pro := validRule()
	pro.ID, pro.Priority = "pro", 50
	pro.Conditions = leaf("properties.plan", mapping.OpEquals, "pro")
	low := catchAll("low", -5, t0)
	rs := mustCompile(t, pro, low)
	res, err := rs.PreviewWins(draft, payloads, sources)
	wantNoErr(t, err)
	if res != (mapping.PreviewResult{Matched: 2, Wins: 1}) {
		t.Fatalf("PreviewWins = %+v", res)
	}
	if n, _ := rs.Preview(draft, payloads, sources); n != 2 {
		t.Fatalf("Preview ignores other rules: got %d", n)
	}
	// Editing "pro" itself: its stored version is left out.
	edit := pro
	edit.Priority = 0
	edit.Conditions = leaf("event", mapping.OpContains, "demo")
	res, err = rs.PreviewWins(edit, payloads, sources)
	wantNoErr(t, err)
	if res != (mapping.PreviewResult{Matched: 2, Wins: 2}) {
		t.Fatalf("PreviewWins(edit) = %+v", res)
	}
	// A draft below an existing catch-all wins nothing.
	under := draft
	under.Priority = -100
	res, _ = rs.PreviewWins(under, payloads, sources)
	if res != (mapping.PreviewResult{Matched: 2, Wins: 0}) {
		t.Fatalf("PreviewWins(under) = %+v", res)
	}
	// Same priority as the catch-all, older: the draft wins (rule age).
	older := draft
	older.Priority, older.CreatedAt = -5, t0.Add(-time.Hour)
	res, _ = rs.PreviewWins(older, payloads, sources)
	if res.Wins != 1 {
		t.Fatalf("PreviewWins(older) = %+v", res)
	}
}

// More distinct paths than the per-match lookup cache holds: results must
// not depend on which paths are cached.
func TestManyDistinctPaths(t *testing.T) {
	t.Parallel()
	var rules []mapping.Rule
	for i := range 100 {
		r := validRule()
		r.ID, r.Priority = fmt.Sprintf("r%02d", i), 100-i
		// Each rule tests its own path and a shared one, in varying order.
		own := leaf(fmt.Sprintf("p.k%02d", i), mapping.OpEquals, "yes")
		shared := leaf("p.shared", mapping.OpEquals, fmt.Sprint(i%7))
		if i%2 == 0 {
			r.Conditions = all(own, shared)
		} else {
			r.Conditions = all(shared, own)
		}
		rules = append(rules, r)
	}
	rs := mustCompile(t, rules...)
	for _, i := range []int{0, 1, 63, 64, 65, 98, 99} {
		p := map[string]any{"p": map[string]any{fmt.Sprintf("k%02d", i): "YES", "shared": fmt.Sprint(i % 7)}}
		want := fmt.Sprintf("r%02d", i)
		if got := rs.Match(p, ""); got == nil || got.ID != want {
			t.Errorf("path %d: Match = %v", i, got)
		}
		if got := rs.MatchAll(p, ""); !reflect.DeepEqual(got, []string{want}) {
			t.Errorf("path %d: MatchAll = %v", i, got)
		}
		if n, err := rs.Preview(rules[i], []map[string]any{p}, nil); err != nil || n != 1 {
			t.Errorf("path %d: Preview = %d, %v", i, n, err)
		}
	}
}
