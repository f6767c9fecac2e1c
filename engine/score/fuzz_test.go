package score

import (
	"math"
	"reflect"
	"testing"
	"time"
)

// FuzzEvaluate: whatever the numbers, the evaluation is finite, in range,
// and its contributions add up to the logit.
// Seed corpus is also committed under testdata/fuzz/FuzzEvaluate/.
func FuzzEvaluate(f *testing.F) {
	f.Add(-2.0, 1.2, 1.0, 0.9, 1.0, int64(48), int64(90*24), 70)
	f.Add(0.0, 0.0, 0.0, 0.0, 0.0, int64(0), int64(0), 0)
	f.Add(1e308, -1e308, 1e308, 1e308, -1e308, int64(-1), int64(1), 100)
	f.Add(math.NaN(), math.Inf(1), math.Inf(-1), math.NaN(), 5.0, int64(1<<40), int64(-5), -3)
	f.Fuzz(func(t *testing.T, intercept, w1, v1, w2, sigW float64, ageHours, halfLifeHours int64, minConf int) {
		age := time.Duration(ageHours) * time.Hour // may wrap: any duration is fair game
		in := Input{
			Model: Model{
				Intercept: intercept,
				Weights:   map[string]float64{"f": w1, "s": w2},
				HalfLives: map[string]time.Duration{"s": time.Duration(halfLifeHours) * time.Hour},
			},
			Fit:      []FitFeature{{Name: "f", Value: v1}, {Name: "g", Value: v1 * 2}},
			Signals:  []Signal{{Type: "s", Weight: sigW, At: now.Add(-age)}, {Type: "s", Weight: 1, At: now}, {Type: "t", Weight: sigW, At: now.Add(-age / 2)}},
			Settings: Settings{MinConfidence: minConf},
			Now:      now,
		}
		ev := Evaluate(in)
		for name, v := range map[string]float64{"logit": ev.Logit, "probability": ev.Probability, "intercept": ev.Intercept} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s = %v", name, v)
			}
		}
		for _, c := range ev.Contributions {
			if math.IsNaN(c.Points) || math.IsInf(c.Points, 0) || math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
				t.Fatalf("contribution %+v", c)
			}
		}
		sumCheck(t, ev)
		for name, v := range map[string]int{"score": ev.Score, "fit": ev.FitScore, "intent": ev.IntentScore, "confidence": ev.Confidence} {
			if v < 0 || v > 100 {
				t.Fatalf("%s = %d", name, v)
			}
		}
		if ev.Grade != GradeHot && ev.Grade != GradeWarm && ev.Grade != GradeCold {
			t.Fatalf("grade %q", ev.Grade)
		}
		if ev.Reasoning == "" {
			t.Fatal("empty reasoning")
		}
		if again := Evaluate(in); again.Reasoning != ev.Reasoning || again.Logit != ev.Logit {
			t.Fatal("not deterministic")
		}
		if want := legacyEvaluate(in); !reflect.DeepEqual(ev, want) {
			t.Fatalf("differs from the original implementation:\n got %+v\nwant %+v", ev, want)
		}
		var e Evaluator
		var hot Evaluation
		e.Evaluate(&in, &hot)
		if hot.Logit != ev.Logit || hot.Score != ev.Score || hot.Grade != ev.Grade || len(hot.Contributions) != len(ev.Contributions) {
			t.Fatalf("hot path %+v, Evaluate %+v", hot, ev)
		}
	})
}
