package learn

import (
	"math/rand/v2"
	"testing"
)

// synthData draws n rows (seed) from one fixed true model:
// n rows of d standard-normal features with a known
// logistic model, the shape of a large tenant's training set.
func synthData(n, d int, seed uint64) ([][]float64, []bool) {
	wr := rand.New(rand.NewPCG(7, 7)) // the same true model for every seed
	w := make([]float64, d)
	for j := range w {
		w[j] = wr.NormFloat64() * 0.3
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	X := make([][]float64, n)
	y := make([]bool, n)
	flat := make([]float64, n*d)
	for i := range X {
		x := flat[i*d : (i+1)*d]
		z := -0.5
		for j := range x {
			x[j] = rng.NormFloat64()
			z += w[j] * x[j]
		}
		X[i] = x
		y[i] = rng.Float64() < Sigmoid(z)
	}
	return X, y
}

func toFeatures(X [][]float64) []Feature {
	d := len(X[0])
	fs := make([]Feature, d)
	for j := range fs {
		v := make([]float64, len(X))
		for i := range X {
			v[i] = X[i][j]
		}
		fs[j] = Feature{Name: "f" + itoa(j), Kind: NumericFeature, Num: v}
	}
	return fs
}

// BenchmarkFit100kx100 is the fitting speed target: 100,000 rows × 100
// features in under 3 s on one core (run with -cpu 1).
func BenchmarkFit100kx100(b *testing.B) {
	X, y := synthData(100_000, 100, 1)
	b.ResetTimer()
	for b.Loop() {
		m, err := Fit(X, y, FitOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(m.Iterations), "iterations")
	}
}

// BenchmarkFitGAM100kx100 is the same target for the GAM the backtest
// uses: 100 numeric features, 32 quantile bins each (3,300 parameters).
func BenchmarkFitGAM100kx100(b *testing.B) {
	X, y := synthData(100_000, 100, 1)
	fs := toFeatures(X)
	b.ResetTimer()
	for b.Loop() {
		m, err := FitGAM(fs, y, GAMOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(m.Iterations), "iterations")
	}
}
