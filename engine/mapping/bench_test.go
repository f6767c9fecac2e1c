package mapping_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/mapping"
)

// benchPayload is a ~300-byte Segment track call.
const benchPayload = `{"type":"track","event":"Demo Requested","userId":"u_8812","anonymousId":"a-77f1",` +
	`"messageId":"m-1","timestamp":"2025-03-10T09:30:00Z","properties":{"plan":"Pro","seats":25,` +
	`"url":"https://acme.io/pricing","path":"/pricing"},"context":{"traits":{"email":"ada@acme.io",` +
	`"title":"VP Sales"},"ip":"203.0.113.9"}}`

const benchTargetID = "target"

// benchRuleSet builds n realistic rules of mixed shapes, none of which
// matches benchPayload except one ranked third from last.
func benchRuleSet(t testing.TB, n int) *mapping.RuleSet {
	t.Helper()
	email := []mapping.IdentifierMapping{
		{Path: "context.traits.email", Target: mapping.TargetEmail},
		{Path: "userId", Target: mapping.TargetProductUserID},
		{Path: "anonymousId", Target: mapping.TargetCDPID},
	}
	rules := make([]mapping.Rule, 0, n)
	for i := range n {
		r := mapping.Rule{
			ID: fmt.Sprintf("r%03d", i), Name: fmt.Sprintf("Rule %d", i), SignalType: mapping.ProductActivity,
			Priority: n - i, Mappings: email, CreatedAt: t0.Add(time.Duration(i) * time.Minute),
		}
		switch i % 5 {
		case 0:
			r.Source = "segment"
			r.Conditions = leaf("event", mapping.OpEquals, fmt.Sprintf("Feature %d Used", i))
		case 1:
			r.SignalType = mapping.PageView
			r.Conditions = all(leaf("type", mapping.OpEquals, "page"),
				leaf("properties.url", mapping.OpContains, fmt.Sprintf("/docs/page-%d", i)))
		case 2:
			r.Conditions = anyOf(
				leaf("event", mapping.OpIn, []any{fmt.Sprintf("Report %d Exported", i), fmt.Sprintf("Report %d Shared", i),
					fmt.Sprintf("Dashboard %d Viewed", i), fmt.Sprintf("Alert %d Created", i), fmt.Sprintf("Seat %d Added", i)}),
				all(leaf("properties.plan", mapping.OpEquals, fmt.Sprintf("plan-%d", i)), leaf("properties.seats", mapping.OpGTE, 10)),
			)
		case 3:
			r.Conditions = all(leaf("event", mapping.OpStartsWith, fmt.Sprintf("feature_%d_", i)),
				leaf("properties.seats", mapping.OpGTE, float64(i)), leaf("context.traits.email", mapping.OpNotContains, "@example.com"))
		case 4:
			r.Source = "segment"
			r.Conditions = all(leaf("properties.path", mapping.OpMatches, fmt.Sprintf(`^/docs/section-%d(/|$)`, i)),
				leaf("context.traits.email", mapping.OpExists, nil))
		}
		if i == n-3 {
			r.ID, r.Name, r.SignalType, r.HighIntent = benchTargetID, "Demo Requested", mapping.FormFill, true
			r.Conditions = all(
				leaf("type", mapping.OpEquals, "track"),
				leaf("event", mapping.OpEquals, "demo requested"),
				anyOf(leaf("properties.plan", mapping.OpIn, []any{"pro", "enterprise"}), leaf("properties.seats", mapping.OpGT, 50)),
				leaf("context.traits.email", mapping.OpExists, nil),
			)
		}
		rules = append(rules, r)
	}
	rs, err := mapping.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func benchMatch(b *testing.B, n int, useNumber bool) {
	rs := benchRuleSet(b, n)
	p := decode(b, benchPayload, useNumber)
	b.ReportAllocs()
	for b.Loop() {
		if r := rs.Match(p, "segment"); r == nil || r.ID != benchTargetID {
			b.Fatalf("Match = %v", r)
		}
	}
}

// BenchmarkMatch200Rules: the matching rule is the 198th of 200.
func BenchmarkMatch200Rules(b *testing.B) {
	b.Run("float64", func(b *testing.B) { benchMatch(b, 200, false) })
	b.Run("json.Number", func(b *testing.B) { benchMatch(b, 200, true) })
}

// BenchmarkMatch20Rules is the same with 20 rules, to show the cost grows
// with the number of rules and allocations do not.
func BenchmarkMatch20Rules(b *testing.B) {
	b.Run("float64", func(b *testing.B) { benchMatch(b, 20, false) })
	b.Run("json.Number", func(b *testing.B) { benchMatch(b, 20, true) })
}

func BenchmarkCompile200Rules(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchRuleSet(b, 200)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	rs := benchRuleSet(t, 200)
	for _, useNumber := range []bool{false, true} {
		p := decode(t, benchPayload, useNumber)
		if n := testing.AllocsPerRun(200, func() { rs.Match(p, "segment") }); n != 0 {
			t.Errorf("useNumber=%v: Match allocates %v times per signal", useNumber, n)
		}
		miss := decode(t, `{"type":"page","properties":{"url":"https://X.io/a","path":"/docs/section-999","seats":"7"},"context":{"traits":{"email":"a@b.c"}}}`, useNumber)
		if n := testing.AllocsPerRun(200, func() { rs.Match(miss, "segment") }); n != 0 {
			t.Errorf("useNumber=%v: non-matching Match allocates %v times", useNumber, n)
		}
	}
}
