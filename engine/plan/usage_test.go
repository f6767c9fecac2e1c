package plan_test

import (
	"math"
	"reflect"
	"testing"

	"github.com/trailspark/trailspark/engine/plan"
)

func TestState(t *testing.T) {
	tests := []struct {
		used, limit int64
		want        plan.Level
	}{
		{0, 0, plan.LevelOK},
		{1 << 40, 0, plan.LevelOK}, // unlimited is always ok
		{0, 10, plan.LevelOK},
		{7, 10, plan.LevelOK},
		{8, 10, plan.LevelWarning}, // exactly 80%
		{9, 10, plan.LevelWarning},
		{10, 10, plan.LevelExceeded}, // exactly 100%
		{11, 10, plan.LevelExceeded},
		{799, 1000, plan.LevelOK},
		{800, 1000, plan.LevelWarning},
		{999, 1000, plan.LevelWarning},
		{1000, 1000, plan.LevelExceeded},
		{2, 3, plan.LevelOK}, // 66.7%
		{3, 3, plan.LevelExceeded},
		{0, 1, plan.LevelOK},
		{1, 1, plan.LevelExceeded},
		{3, 4, plan.LevelOK},      // 75%
		{4, 5, plan.LevelWarning}, // 80%
		{80, 101, plan.LevelOK},   // 79.2%: ceil(80.8) = 81 needed
		{81, 101, plan.LevelWarning},
		{math.MaxInt64 / 5 * 4, math.MaxInt64 / 5 * 5, plan.LevelWarning}, // no overflow
		{math.MaxInt64 - 1, math.MaxInt64, plan.LevelWarning},
		{math.MaxInt64, math.MaxInt64, plan.LevelExceeded},
	}
	for _, tc := range tests {
		if got := plan.State(tc.used, tc.limit); got != tc.want {
			t.Errorf("State(%d, %d) = %s, want %s", tc.used, tc.limit, got, tc.want)
		}
	}
}

func TestCrossed(t *testing.T) {
	tests := []struct {
		name                 string
		before, after, limit int64
		want                 []int
	}{
		{"unlimited", 0, 1000, 0, nil},
		{"nothing", 0, 7, 10, nil},
		{"land on 80", 7, 8, 10, []int{80}},
		{"already at 80", 8, 9, 10, nil},
		{"land on 100", 9, 10, 10, []int{100}},
		{"both at once", 0, 10, 10, []int{80, 100}},
		{"both, past the limit", 5, 50, 10, []int{80, 100}},
		{"beyond 100 again", 10, 12, 10, nil},
		{"no increment", 8, 8, 10, nil},
		{"decrease", 10, 5, 10, nil},
		{"odd limit 101: 80 needs 81", 80, 81, 101, []int{80}},
		{"odd limit 101: 80 is not enough", 79, 80, 101, nil},
		{"limit 1", 0, 1, 1, []int{80, 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := plan.Crossed(tc.before, tc.after, tc.limit); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Crossed(%d, %d, %d) = %v, want %v", tc.before, tc.after, tc.limit, got, tc.want)
			}
		})
	}
}

func TestUsageAdd(t *testing.T) {
	var u plan.Usage // nil map
	u.Add(plan.MeterSignals, 5)
	u.Add(plan.MeterSignals, 3)
	u.Add(plan.MeterModels, 0)
	u.Add(plan.MeterModels, -2) // meters never go down
	u.Add(plan.MeterEvaluations, 1)
	if got := u.Get(plan.MeterSignals); got != 8 {
		t.Fatalf("signals = %d, want 8", got)
	}
	if got := u.Get(plan.MeterModels); got != 0 {
		t.Fatalf("models = %d, want 0", got)
	}
	if got := u.Get(plan.MeterEvaluations); got != 1 {
		t.Fatalf("evaluations = %d", got)
	}
	u.Add(plan.MeterSignals, math.MaxInt64)
	if got := u.Get(plan.MeterSignals); got != math.MaxInt64 {
		t.Fatalf("saturation: %d", got)
	}
}

func TestOverage(t *testing.T) {
	for _, tc := range []struct{ used, limit, want int64 }{
		{5, 0, 0}, {5, 10, 0}, {10, 10, 0}, {11, 10, 1}, {250, 100, 150},
	} {
		if got := plan.Overage(tc.used, tc.limit); got != tc.want {
			t.Errorf("Overage(%d, %d) = %d, want %d", tc.used, tc.limit, got, tc.want)
		}
	}
}

func TestCharges(t *testing.T) {
	p := plan.Plan{
		ID: "p", Name: "P", PriceMonthlyCents: 1000, Overages: true,
		Limits:           plan.Limits{Signals: 1000, Models: 2, ActiveLeads: 100, Evaluations: 0, Refinements: 10},
		OverageUnitCents: plan.UnitPrices{Signals: 45, Models: 1000, ActiveLeads: 2, Evaluations: 5, Refinements: 0},
	}
	tests := []struct {
		name string
		used map[plan.Meter]int64
		want map[plan.Meter]int64
	}{
		{"under every limit", map[plan.Meter]int64{plan.MeterSignals: 1000, plan.MeterModels: 2}, map[plan.Meter]int64{}},
		// 1,500 signals over at 45¢ per 1,000 = 67.5¢ → 68 (half up).
		{"signals half up", map[plan.Meter]int64{plan.MeterSignals: 2500}, map[plan.Meter]int64{plan.MeterSignals: 68}},
		// 1,010 over: 45.45¢ → 45.
		{"signals round down", map[plan.Meter]int64{plan.MeterSignals: 2010}, map[plan.Meter]int64{plan.MeterSignals: 45}},
		// 10 over: 0.45¢ → 0, omitted.
		{"signals below a cent", map[plan.Meter]int64{plan.MeterSignals: 1010}, map[plan.Meter]int64{}},
		{"per-unit meters", map[plan.Meter]int64{plan.MeterModels: 3, plan.MeterActiveLeads: 150}, map[plan.Meter]int64{plan.MeterModels: 1000, plan.MeterActiveLeads: 100}},
		{"unlimited never charged", map[plan.Meter]int64{plan.MeterEvaluations: 1 << 30}, map[plan.Meter]int64{}},
		{"free overage price", map[plan.Meter]int64{plan.MeterRefinements: 20}, map[plan.Meter]int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := plan.Charges(p, plan.Usage{Used: tc.used})
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Charges = %v, want %v", got, tc.want)
			}
		})
	}
	got := plan.Charges(p, plan.Usage{Used: map[plan.Meter]int64{plan.MeterModels: 3, plan.MeterActiveLeads: 150, plan.MeterSignals: 2500}})
	if total := plan.Total(got); total != 1000+100+68 {
		t.Fatalf("Total = %d", total)
	}
}
