package learn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/errs/errstest"
)

// synth draws n rows of d standard-normal features and labels from the true
// logistic model.
func synth(seed uint64, n int, intercept float64, w []float64) ([][]float64, []bool) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	X := make([][]float64, n)
	y := make([]bool, n)
	for i := range X {
		row := make([]float64, len(w))
		z := intercept
		for j := range row {
			row[j] = r.NormFloat64()
			z += w[j] * row[j]
		}
		X[i] = row
		y[i] = r.Float64() < Sigmoid(z)
	}
	return X, y
}

func TestFitRecoversTrueWeights(t *testing.T) {
	trueW := []float64{1.5, -2, 0.5, 0}
	X, y := synth(1, 20000, -0.5, trueW)
	m, err := Fit(X, y, FitOptions{Lambda: 1})
	errstest.NoErr(t, err)
	if math.Abs(m.Intercept-(-0.5)) > 0.08 {
		t.Errorf("intercept = %.3f, want ≈ -0.5", m.Intercept)
	}
	for j, w := range trueW {
		if math.Abs(m.Weights[j]-w) > 0.1 {
			t.Errorf("w[%d] = %.3f, want ≈ %.2f", j, m.Weights[j], w)
		}
	}
	t.Logf("fitted %+v in %d iterations", m.Weights, m.Iterations)
	// deterministic
	m2, _ := Fit(X, y, FitOptions{Lambda: 1})
	for j := range m.Weights {
		if m.Weights[j] != m2.Weights[j] {
			t.Fatal("fit is not deterministic")
		}
	}
}

func TestFitPriorPullsWhenDataScarce(t *testing.T) {
	prior := []float64{2, -2}
	trueW := []float64{0.3, 0.3}
	Xs, ys := synth(2, 15, 0, trueW)
	withPrior, err := Fit(Xs, ys, FitOptions{Lambda: 5, Prior: prior})
	errstest.NoErr(t, err)
	noPrior, err := Fit(Xs, ys, FitOptions{Lambda: 5})
	errstest.NoErr(t, err)
	for j := range prior {
		if math.Abs(withPrior.Weights[j]-prior[j]) >= math.Abs(noPrior.Weights[j]-prior[j]) {
			t.Errorf("w[%d]: with prior %.3f not closer to prior %.1f than without %.3f", j, withPrior.Weights[j], prior[j], noPrior.Weights[j])
		}
		if math.Abs(withPrior.Weights[j]-prior[j]) > 1 {
			t.Errorf("w[%d] = %.3f: scarce data should stay near the prior %.1f", j, withPrior.Weights[j], prior[j])
		}
	}
	// With plenty of data the prior is shrunk away.
	Xl, yl := synth(3, 20000, 0, trueW)
	big, err := Fit(Xl, yl, FitOptions{Lambda: 5, Prior: prior})
	errstest.NoErr(t, err)
	for j, w := range trueW {
		if math.Abs(big.Weights[j]-w) > 0.1 {
			t.Errorf("large data w[%d] = %.3f, want ≈ %.2f despite prior %.1f", j, big.Weights[j], w, prior[j])
		}
	}
}

func TestFitSeparableStaysFinite(t *testing.T) {
	X := [][]float64{{-2}, {-1}, {-0.5}, {0.5}, {1}, {2}}
	y := []bool{false, false, false, true, true, true}
	for _, lambda := range []float64{1e-6, 1e-3, 1} {
		m, err := Fit(X, y, FitOptions{Lambda: lambda, MaxIter: 500})
		errstest.NoErr(t, err)
		if math.IsNaN(m.Weights[0]) || math.IsInf(m.Weights[0], 0) || math.IsNaN(m.Intercept) {
			t.Fatalf("lambda %g: non-finite model %+v", lambda, m)
		}
		if m.Weights[0] <= 0 || m.Predict([]float64{2}) < 0.5 || m.Predict([]float64{-2}) > 0.5 {
			t.Errorf("lambda %g: wrong direction %+v", lambda, m)
		}
	}
	// One class only (cold start: every outcome so far is a win).
	m, err := Fit([][]float64{{1}, {0}, {1}}, []bool{true, true, true}, FitOptions{})
	errstest.NoErr(t, err)
	if math.IsInf(m.Intercept, 0) || math.IsNaN(m.Intercept) || m.Intercept <= 0 {
		t.Errorf("one-class intercept = %v", m.Intercept)
	}
}

func TestFitErrors(t *testing.T) {
	X := [][]float64{{1, 2}, {3, 4}}
	y := []bool{true, false}
	cases := []struct {
		name  string
		X     [][]float64
		y     []bool
		opts  FitOptions
		code  string
		field string
	}{
		{"empty", nil, nil, FitOptions{}, "empty", "X"},
		{"labels", X, []bool{true}, FitOptions{}, "shape_mismatch", "y"},
		{"ragged", [][]float64{{1, 2}, {3}}, y, FitOptions{}, "shape_mismatch", "X[1]"},
		{"nan", [][]float64{{1, 2}, {math.NaN(), 1}}, y, FitOptions{}, "not_finite", "X[1]"},
		{"prior", X, y, FitOptions{Prior: []float64{1}}, "shape_mismatch", "opts.Prior"},
		{"lambda", X, y, FitOptions{Lambda: -1}, "out_of_range", "opts.Lambda"},
		{"maxiter", X, y, FitOptions{MaxIter: -1}, "out_of_range", "opts.MaxIter"},
		{"tol", X, y, FitOptions{Tol: -1}, "out_of_range", "opts.Tol"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Fit(c.X, c.y, c.opts)
			errstest.Want(t, err, errs.KindInvalid, c.code, c.field)
		})
	}
}

func BenchmarkFit(b *testing.B) {
	w := make([]float64, 20)
	for j := range w {
		w[j] = float64(j%5-2) / 2
	}
	X, y := synth(7, 10000, -1, w)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Fit(X, y, FitOptions{Lambda: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
