package learn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// synthHistories simulates leads whose conversion depends on decayed
// counts with known half-lives per signal type.
func synthHistories(n int, truth map[string]float64, weights map[string]float64, seed uint64) ([][]Event, []bool) {
	rng := rand.New(rand.NewPCG(seed, 99))
	types := []string{}
	for k := range truth {
		types = append(types, k)
	}
	// sorted for determinism
	for i := range types {
		for j := i + 1; j < len(types); j++ {
			if types[j] < types[i] {
				types[i], types[j] = types[j], types[i]
			}
		}
	}
	hist := make([][]Event, n)
	y := make([]bool, n)
	for i := range hist {
		z := -2.0
		for _, k := range types {
			m := rng.IntN(6)
			for e := 0; e < m; e++ {
				age := rng.Float64() * 180
				hist[i] = append(hist[i], Event{Type: k, AgeDays: age})
				z += weights[k] * math.Exp2(-age/truth[k])
			}
		}
		y[i] = rng.Float64() < Sigmoid(z)
	}
	return hist, y
}

func TestHalfLivesRecoversTruth(t *testing.T) {
	for _, tc := range []struct {
		name    string
		truth   map[string]float64
		weights map[string]float64
	}{
		{"short and long", map[string]float64{"pricing_view": 3, "demo_request": 60}, map[string]float64{"pricing_view": 2.5, "demo_request": 1.2}},
		{"three types", map[string]float64{"a": 7, "b": 30, "c": 90}, map[string]float64{"a": 2, "b": 1.2, "c": 0.8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hist, y := synthHistories(20000, tc.truth, tc.weights, 1)
			res, err := HalfLives(hist, y, HalfLifeOptions{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.truth {
				if got := res.HalfLives[k]; got != want {
					t.Errorf("%s: half-life %v, want %v (all: %v)", k, got, want, res.HalfLives)
				}
				if res.Weights[k] <= 0 {
					t.Errorf("%s: weight %.3f, want > 0", k, res.Weights[k])
				}
			}
			if !(res.HeldOutLogLoss <= res.InitialLogLoss) {
				t.Errorf("held-out log loss %.4f worse than the start %.4f", res.HeldOutLogLoss, res.InitialLogLoss)
			}
			again, _ := HalfLives(hist, y, HalfLifeOptions{Seed: 1})
			for k := range tc.truth {
				if again.HalfLives[k] != res.HalfLives[k] {
					t.Fatalf("not deterministic: %v vs %v", again.HalfLives, res.HalfLives)
				}
			}
		})
	}
}

func TestHalfLivesInvalid(t *testing.T) {
	h := [][]Event{{{"a", 1}}, {{"a", 2}}, {{"a", 3}}, {{"a", 4}}}
	y := []bool{true, false, true, false}
	for _, tc := range []struct {
		name string
		h    [][]Event
		y    []bool
		opts HalfLifeOptions
	}{
		{"empty", nil, nil, HalfLifeOptions{}},
		{"label count", h, y[:2], HalfLifeOptions{}},
		{"negative age", [][]Event{{{"a", -1}}, {{"a", 1}}}, []bool{true, false}, HalfLifeOptions{}},
		{"bad candidate", h, y, HalfLifeOptions{Candidates: []float64{0}}},
		{"bad holdout", h, y, HalfLifeOptions{Holdout: 1.5}},
		{"no events", [][]Event{{}, {}}, []bool{true, false}, HalfLifeOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := HalfLives(tc.h, tc.y, tc.opts); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}
