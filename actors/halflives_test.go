package actors

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// Leads whose recent demo requests convert and whose old ones do not:
// the learned half-life of that type is short; too few labels learn
// nothing.
func TestLearnHalfLives(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 7))
	var items []labelledWindow
	for i := 0; i < 400; i++ {
		age := time.Duration(rng.IntN(60*24)) * time.Hour // 0–60 days
		// The chance to convert halves every 3 days of age.
		p := 0.9 * math.Exp2(-age.Hours()/24/3)
		items = append(items, labelledWindow{
			window:      []WindowSignal{{Type: "sales_event", At: now.Add(-age), Weight: 8}},
			evaluatedAt: now, converts: rng.Float64() < p,
		})
	}
	hl := learnHalfLives(items)
	if hl == nil || hl["sales_event"] > 7 {
		t.Fatalf("learned %v: want a short half-life (≤ 7 days) for sales_event", hl)
	}
	if learnHalfLives(items[:MinHalfLifeLabels-1]) != nil {
		t.Error("learned half-lives from fewer than the minimum labels")
	}
}
