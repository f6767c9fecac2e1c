package score

import (
	"strconv"
	"testing"
	"time"
)

// benchInput: 50 features — 40 fit features and 10 signal types with 3
// signals each.
func benchInput() Input {
	m := Model{Version: "bench", Intercept: -1.5, Weights: map[string]float64{}, HalfLives: map[string]time.Duration{}}
	in := Input{Settings: DefaultSettings(), Now: now}
	for i := 0; i < 40; i++ {
		name := "fit" + strconv.Itoa(i)
		m.Weights[name] = float64(i%7-3) / 10
		in.Fit = append(in.Fit, FitFeature{Name: name, Value: float64(i % 2), Label: "fit feature " + strconv.Itoa(i)})
	}
	for i := 0; i < 10; i++ {
		typ := "signal" + strconv.Itoa(i)
		m.Weights[typ] = float64(i%5-1) / 5
		m.HalfLives[typ] = time.Duration(7+i) * 24 * time.Hour
		for k := 0; k < 3; k++ {
			in.Signals = append(in.Signals, Signal{Type: typ, Weight: 1, At: now.Add(-time.Duration(k*5+i) * 24 * time.Hour)})
		}
	}
	in.Model = m
	return in
}

// BenchmarkEvaluate: the package-level Evaluate (fresh result, labels and
// reasoning text included).
func BenchmarkEvaluate(b *testing.B) {
	in := benchInput()
	b.ReportAllocs()
	for b.Loop() {
		_ = Evaluate(in)
	}
}

// BenchmarkEvaluatorHotPath: one evaluation (feature vector → explained
// score, without the text) reusing an Evaluator and an Evaluation. Target
// (issue "Scoring"): ≤ 20 µs and 0 allocs/op.
func BenchmarkEvaluatorHotPath(b *testing.B) {
	in := benchInput()
	var e Evaluator
	var out Evaluation
	b.ReportAllocs()
	for b.Loop() {
		e.Evaluate(&in, &out)
	}
}

// BenchmarkEvaluatorExplain: as the hot path, with intent labels and the
// reasoning text (the strings are the only allocations).
func BenchmarkEvaluatorExplain(b *testing.B) {
	in := benchInput()
	var e Evaluator
	var out Evaluation
	b.ReportAllocs()
	for b.Loop() {
		e.Explain(&in, &out)
	}
}
