package learn

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
)

// mixedData: a U-shaped numeric effect, a linear numeric with missing
// values that themselves predict, and a categorical with a missing level.
func mixedData(n int, seed uint64) ([]Feature, []bool) {
	rng := rand.New(rand.NewPCG(seed, 11))
	u := make([]float64, n)
	lin := make([]float64, n)
	cat := make([]int, n)
	y := make([]bool, n)
	levelEffect := []float64{-1, 0, 1.2}
	for i := 0; i < n; i++ {
		u[i] = rng.Float64()*4 - 2
		z := -0.5 + 1.5*(u[i]*u[i]-1.33) // U shape, ~zero mean
		if rng.Float64() < 0.2 {
			lin[i] = math.NaN()
			z += 1 // missing is informative
		} else {
			lin[i] = rng.NormFloat64()
			z += 0.8 * lin[i]
		}
		if rng.Float64() < 0.1 {
			cat[i] = -1
			z -= 1.5
		} else {
			cat[i] = rng.IntN(3)
			z += levelEffect[cat[i]]
		}
		y[i] = rng.Float64() < Sigmoid(z)
	}
	return []Feature{
		{Name: "u", Kind: NumericFeature, Num: u},
		{Name: "lin", Kind: NumericFeature, Num: lin},
		{Name: "cat", Kind: CategoricalFeature, Cat: cat, Levels: []string{"a", "b", "c"}},
	}, y
}

// TestGAMContributionsAddUp: intercept + Σ contributions must equal the
// logit on every row — also after Platt calibration is folded in — since
// "top reasons that add up" is the product promise.
func TestGAMContributionsAddUp(t *testing.T) {
	fs, y := mixedData(3000, 1)
	raw, err := FitGAM(fs, y, GAMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	test, _ := mixedData(1000, 2)
	for _, tc := range []struct {
		name string
		m    *GAM
	}{
		{"raw", raw},
		{"calibrated", raw.Calibrated(Platt{A: 0.7, B: -0.3})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dst []float64
			worst := 0.0
			for i := 0; i < 1000; i++ {
				var z float64
				dst, z = tc.m.Contributions(test, i, dst)
				sum := tc.m.Intercept
				for _, c := range dst {
					sum += c
				}
				worst = math.Max(worst, math.Abs(sum-z))
				worst = math.Max(worst, math.Abs(tc.m.Logit(test, i)-z))
			}
			if worst > 1e-3 {
				t.Fatalf("intercept + Σ contributions differs from the logit by %g", worst)
			}
		})
	}
	// folding Platt in is exactly σ(A·z + B)
	cal := raw.Calibrated(Platt{A: 0.7, B: -0.3})
	for i := 0; i < 100; i++ {
		want := 0.7*raw.Logit(test, i) - 0.3
		if got := cal.Logit(test, i); math.Abs(got-want) > 1e-9 {
			t.Fatalf("row %d: calibrated logit %g, want %g", i, got, want)
		}
	}
}

// TestGAMLearnsShapes: the GAM must find the U shape a linear model cannot,
// give the informative missing value its own effect, and beat the linear
// one-hot baseline on held-out data.
func TestGAMLearnsShapes(t *testing.T) {
	fs, y := mixedData(6000, 3)
	m, err := FitGAM(fs, y, GAMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// centred: contributions average to zero on the training rows
	for j := range m.Terms {
		s := 0.0
		for i := range y {
			s += m.Terms[j].Contribution(&fs[j], i)
		}
		if mean := s / float64(len(y)); math.Abs(mean) > 1e-9 {
			t.Errorf("term %s: training mean contribution %g, want 0", m.Terms[j].Name, mean)
		}
	}
	probe := []Feature{
		{Name: "u", Kind: NumericFeature, Num: []float64{-1.9, 0, 1.9}},
		{Name: "lin", Kind: NumericFeature, Num: []float64{0, math.NaN(), 0}},
		{Name: "cat", Kind: CategoricalFeature, Cat: []int{0, 2, -1}},
	}
	cu := func(i int) float64 { return m.Terms[0].Contribution(&probe[0], i) }
	if !(cu(0) > cu(1)+1.5 && cu(2) > cu(1)+1.5) {
		t.Errorf("U shape not learned: f(-1.9)=%.2f f(0)=%.2f f(1.9)=%.2f", cu(0), cu(1), cu(2))
	}
	if d := m.Terms[1].Contribution(&probe[1], 1) - m.Terms[1].Contribution(&probe[1], 0); d < 0.5 {
		t.Errorf("informative missing value: effect %.2f over x=0, want ≥ 0.5 (true 1.0)", d)
	}
	if d := m.Terms[2].Contribution(&probe[2], 1) - m.Terms[2].Contribution(&probe[2], 2); d < 1.5 {
		t.Errorf("level c vs missing: %.2f, want ≥ 1.5 (true 2.7)", d)
	}
	test, ty := mixedData(4000, 4)
	gp, err := m.PredictRows(test)
	if err != nil {
		t.Fatal(err)
	}
	base, err := FitOneHot(fs, y, 1)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := base.PredictRows(test)
	if err != nil {
		t.Fatal(err)
	}
	ga, _ := AUC(gp, ty)
	ba, _ := AUC(bp, ty)
	if ga < ba+0.05 {
		t.Errorf("GAM held-out AUC %.4f, one-hot baseline %.4f: the U shape should give ≥ 0.05", ga, ba)
	}
}

func TestGAMDeterministic(t *testing.T) {
	fs, y := mixedData(2000, 5)
	a, err := FitGAM(fs, y, GAMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := FitGAM(fs, y, GAMOptions{})
	if a.Intercept != b.Intercept || a.Iterations != b.Iterations {
		t.Fatal("two fits of the same data differ")
	}
	for j := range a.Terms {
		for k := range a.Terms[j].Values {
			if a.Terms[j].Values[k] != b.Terms[j].Values[k] {
				t.Fatalf("term %d value %d differs", j, k)
			}
		}
	}
}

func TestGAMInvalid(t *testing.T) {
	fs, y := mixedData(50, 6)
	short := []Feature{fs[0], {Name: "x", Kind: NumericFeature, Num: []float64{1}}}
	for _, tc := range []struct {
		name  string
		fs    []Feature
		y     []bool
		opts  GAMOptions
		field string
	}{
		{"no features", nil, y, GAMOptions{}, "features"},
		{"label count", fs, y[:10], GAMOptions{}, "y"},
		{"ragged feature", short, y, GAMOptions{}, "features[1]"},
		{"negative lambda", fs, y, GAMOptions{Lambda: -1}, "opts.Lambda"},
		{"bins", fs, y, GAMOptions{Bins: -3}, "opts.Bins"},
		{"kind", []Feature{{Name: "k", Num: []float64{1}}}, []bool{true}, GAMOptions{}, "features[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FitGAM(tc.fs, tc.y, tc.opts)
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.KindInvalid || e.Field != tc.field {
				t.Fatalf("got %v, want an invalid-argument error on %s", err, tc.field)
			}
		})
	}
}

func TestQuantileEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals []float64
		bins int
		want int // number of edges
	}{
		{"few distinct: one bin each", []float64{1, 1, 2, 3, 3, math.NaN()}, 32, 2},
		// 90% zeros: the first nine quantiles are all 0 and merge into one edge
		{"heavy ties collapse", append(make([]float64, 900), seq(100)...), 10, 2},
		{"continuous", seq(1000), 10, 9},
		{"all missing", []float64{math.NaN()}, 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := quantileEdges(tc.vals, tc.bins)
			if len(e) != tc.want {
				t.Fatalf("%d edges %v, want %d", len(e), e, tc.want)
			}
			for i := 1; i < len(e); i++ {
				if !(e[i] > e[i-1]) {
					t.Fatalf("edges not increasing: %v", e)
				}
			}
		})
	}
}

func seq(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i + 1)
	}
	return v
}

func TestStratifiedKFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	y := make([]bool, 1003)
	pos := 0
	for i := range y {
		y[i] = rng.Float64() < 0.2
		if y[i] {
			pos++
		}
	}
	folds, err := StratifiedKFold(y, 5, 42)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]int, len(y))
	for f, fold := range folds {
		p := 0
		for _, i := range fold {
			seen[i]++
			if y[i] {
				p++
			}
		}
		if d := float64(p) - float64(pos)/5; math.Abs(d) > 1 {
			t.Errorf("fold %d has %d positives, want %.1f ± 1", f, p, float64(pos)/5)
		}
		if d := len(fold) - len(y)/5; d < 0 || d > 1 {
			t.Errorf("fold %d has %d rows", f, len(fold))
		}
	}
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("row %d in %d folds", i, c)
		}
	}
	again, _ := StratifiedKFold(y, 5, 42)
	other, _ := StratifiedKFold(y, 5, 43)
	same, diff := true, false
	for f := range folds {
		for k := range folds[f] {
			same = same && again[f][k] == folds[f][k]
			diff = diff || k >= len(other[f]) || other[f][k] != folds[f][k]
		}
	}
	if !same || !diff {
		t.Errorf("same seed same folds: %v; another seed differs: %v", same, diff)
	}
	if _, err := StratifiedKFold([]bool{true, false, true}, 2, 1); err == nil {
		t.Error("2 folds with one negative: want an error")
	}
}

func TestTimeSplit(t *testing.T) {
	days := []float64{5, 1, math.NaN(), 3, 3, 4, 2, 3}
	for _, tc := range []struct {
		frac float64
		want []int
	}{
		{0.25, []int{0, 5}},         // two latest dates
		{0.4, []int{0, 3, 4, 5, 7}}, // cut would split day 3: the whole day moves to test
	} {
		got, err := TimeSplit(days, tc.frac)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("frac %.2f: test rows %v, want %v", tc.frac, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("frac %.2f: test rows %v, want %v", tc.frac, got, tc.want)
			}
		}
	}
	if _, err := TimeSplit([]float64{1, 1, 1}, 0.3); err == nil {
		t.Error("one date: want an error")
	}
}

func TestFitPlatt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	n := 20000
	z := make([]float64, n)
	y := make([]bool, n)
	for i := range z {
		z[i] = rng.NormFloat64() * 2
		y[i] = rng.Float64() < Sigmoid(0.5*z[i]+0.4) // over-confident scores
	}
	p, err := FitPlatt(z, y)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(p.A-0.5) > 0.05 || math.Abs(p.B-0.4) > 0.06 {
		t.Errorf("Platt A=%.3f B=%.3f, want ≈ 0.5, 0.4", p.A, p.B)
	}
}

// TestFitGAMAutoPlatt: Platt calibration must be chosen only when it helps.
// With too little smoothing and a tiny ridge the fit is over-confident on
// small data, which Platt repairs; on plenty of well-specified data it
// should not be applied.
func TestFitGAMAuto(t *testing.T) {
	fs, y := mixedData(5000, 8)
	a, err := FitGAMAuto(fs, y, AutoGAMOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if a.Platt {
		t.Errorf("well-specified large sample: Platt chosen (inner log loss %.4f)", a.InnerLogLoss)
	}
	test, ty := mixedData(3000, 9)
	p, _ := a.Model.PredictRows(test)
	ll, _ := LogLoss(p, ty)
	if ll > a.InnerLogLoss*1.1 {
		t.Errorf("held-out log loss %.4f far above inner %.4f", ll, a.InnerLogLoss)
	}
}

func TestCrossValidate(t *testing.T) {
	fs, y := mixedData(1500, 10)
	folds, _ := StratifiedKFold(y, 3, 1)
	calls := 0
	rep, err := CrossValidate("gam", "stratified 3-fold", fs, y, folds, func(tr []Feature, ty []bool, fold int) (func([]Feature) ([]float64, error), string, error) {
		calls++
		if len(ty) != len(y)-len(folds[fold]) {
			t.Errorf("fold %d trains on %d rows, want %d", fold, len(ty), len(y)-len(folds[fold]))
		}
		m, err := FitGAM(tr, ty, GAMOptions{})
		if err != nil {
			return nil, "", err
		}
		return m.PredictRows, "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 3 || len(rep.Folds) != 3 {
		t.Fatalf("%d calls, %d folds", calls, len(rep.Folds))
	}
	v := []float64{rep.Folds[0].AUC, rep.Folds[1].AUC, rep.Folds[2].AUC}
	if s := MeanSD(v); s != rep.AUC {
		t.Errorf("AUC stat %+v, want %+v", rep.AUC, s)
	}
	total := 0
	for _, b := range rep.Reliability {
		total += b.Count
	}
	if total != len(y) {
		t.Errorf("reliability covers %d rows, want every out-of-fold row (%d)", total, len(y))
	}
	if rep.AUC.Mean < 0.75 {
		t.Errorf("mean AUC %.3f: the signal is strong, want ≥ 0.75", rep.AUC.Mean)
	}
}

func TestMeanSD(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		want Stat
	}{
		{nil, Stat{}},
		{[]float64{3}, Stat{Mean: 3}},
		{[]float64{1, 2, 3, 4}, Stat{Mean: 2.5, SD: math.Sqrt(5.0 / 3)}},
	} {
		if got := MeanSD(tc.v); math.Abs(got.Mean-tc.want.Mean) > 1e-12 || math.Abs(got.SD-tc.want.SD) > 1e-12 {
			t.Errorf("MeanSD(%v) = %+v, want %+v", tc.v, got, tc.want)
		}
	}
}

// TestOneHotWideMatchesNewton: a many-level column sends FitOneHot down the
// sparse L-BFGS path; it must land on the same penalised optimum Newton's
// method finds on the dense encoding.
func TestOneHotWideMatchesNewton(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	n, levels := 6000, newtonMaxWidth+50
	cat := make([]int, n)
	num := make([]float64, n)
	y := make([]bool, n)
	eff := make([]float64, levels)
	for k := range eff {
		eff[k] = rng.NormFloat64()
	}
	for i := range y {
		cat[i] = rng.IntN(levels)
		num[i] = rng.NormFloat64()*3 + 10
		if rng.Float64() < 0.1 {
			num[i] = math.NaN()
		}
		z := eff[cat[i]]
		if !math.IsNaN(num[i]) {
			z += 0.3 * (num[i] - 10)
		}
		y[i] = rng.Float64() < Sigmoid(z)
	}
	fs := []Feature{{Name: "c", Kind: CategoricalFeature, Cat: cat}, {Name: "x", Kind: NumericFeature, Num: num}}
	m, err := FitOneHot(fs, y, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.width <= newtonMaxWidth {
		t.Fatalf("width %d does not exercise the sparse path", m.width)
	}
	X := make([][]float64, n)
	for i := range X {
		X[i] = m.encode(fs, i)
	}
	ref, err := Fit(X, y, FitOptions{Lambda: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := m.PredictRows(fs)
	worst := 0.0
	for i := range X {
		worst = math.Max(worst, math.Abs(got[i]-ref.Predict(X[i])))
	}
	if worst > 1e-3 {
		t.Errorf("sparse L-BFGS and Newton predictions differ by up to %g", worst)
	}
}
