package learn

import (
	"math"
	"math/rand/v2"
	"sort"

	"github.com/trailspark/trailspark/engine/errs"
)

// FoldMetrics is held-out quality on one test split.
type FoldMetrics struct {
	Fold      int     `json:"fold"`
	Train     int     `json:"train"`
	Test      int     `json:"test"`
	AUC       float64 `json:"auc"`
	LogLoss   float64 `json:"log_loss"`
	Brier     float64 `json:"brier"`
	Lift      float64 `json:"top_decile_lift"`
	Precision float64 `json:"top_decile_precision"`
	// Note says how the fold's model was chosen (e.g. "smooth=10 platt").
	Note string `json:"note,omitempty"`
}

// Stat is a mean and sample standard deviation over folds.
type Stat struct {
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
}

// QualityReport is a model's held-out quality: per fold, mean ± sd over
// folds, and a reliability table of the pooled out-of-fold predictions.
// It is what the API reports for a model (SPEC §3.6).
type QualityReport struct {
	Model    string        `json:"model"`
	Split    string        `json:"split"`
	Rows     int           `json:"rows"`
	BaseRate float64       `json:"base_rate"`
	Folds    []FoldMetrics `json:"folds"`
	AUC      Stat          `json:"auc"`
	LogLoss  Stat          `json:"log_loss"`
	Brier    Stat          `json:"brier"`
	Lift     Stat          `json:"top_decile_lift"`
	// Precision is the positive rate among the top-scored 10%.
	Precision   Stat  `json:"top_decile_precision"`
	Reliability []Bin `json:"reliability"`
}

// Evaluate computes held-out metrics of probabilities against labels.
func Evaluate(probs []float64, y []bool) (FoldMetrics, error) {
	var fm FoldMetrics
	var err error
	if fm.AUC, err = AUC(probs, y); err != nil {
		return fm, err
	}
	if fm.LogLoss, err = LogLoss(probs, y); err != nil {
		return fm, err
	}
	if fm.Brier, err = Brier(probs, y); err != nil {
		return fm, err
	}
	if fm.Lift, fm.Precision, err = LiftTopDecile(probs, y); err != nil {
		return fm, err
	}
	fm.Test = len(probs)
	return fm, nil
}

// MeanSD returns the mean and sample standard deviation (0 for one value).
func MeanSD(v []float64) Stat {
	if len(v) == 0 {
		return Stat{}
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	mean := s / float64(len(v))
	if len(v) == 1 {
		return Stat{Mean: mean}
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return Stat{Mean: mean, SD: math.Sqrt(ss / float64(len(v)-1))}
}

// Learner fits a model on training rows and returns a function giving
// probabilities for other rows.
type Learner func(train []Feature, y []bool, fold int) (predict func([]Feature) ([]float64, error), note string, err error)

// CrossValidate fits learner on the complement of each test split and
// reports held-out quality. tests are disjoint row sets (see
// StratifiedKFold, TimeSplit); rows in no test set are always trained on.
func CrossValidate(model, split string, features []Feature, y []bool, tests [][]int, learner Learner) (*QualityReport, error) {
	n, err := checkFeatures(features, y)
	if err != nil {
		return nil, err
	}
	if len(tests) == 0 {
		return nil, errs.Invalid("tests", "empty", "at least one test split is required")
	}
	rep := &QualityReport{Model: model, Split: split, Rows: n}
	pos := 0
	for _, v := range y {
		if v {
			pos++
		}
	}
	rep.BaseRate = float64(pos) / float64(n)
	var oofP []float64
	var oofY []bool
	for f, test := range tests {
		inTest := make([]bool, n)
		for _, i := range test {
			if i < 0 || i >= n || inTest[i] {
				return nil, errs.Invalid(fieldIdx("tests", f), "out_of_range", "test split %d has a bad or repeated row index", f)
			}
			inTest[i] = true
		}
		train := make([]int, 0, n-len(test))
		for i := 0; i < n; i++ {
			if !inTest[i] {
				train = append(train, i)
			}
		}
		predict, note, err := learner(Subset(features, train), SubsetLabels(y, train), f)
		if err != nil {
			return nil, err
		}
		ty := SubsetLabels(y, test)
		probs, err := predict(Subset(features, test))
		if err != nil {
			return nil, err
		}
		fm, err := Evaluate(probs, ty)
		if err != nil {
			return nil, err
		}
		fm.Fold, fm.Train, fm.Note = f+1, len(train), note
		rep.Folds = append(rep.Folds, fm)
		oofP = append(oofP, probs...)
		oofY = append(oofY, ty...)
	}
	pick := func(g func(FoldMetrics) float64) Stat {
		v := make([]float64, len(rep.Folds))
		for i, f := range rep.Folds {
			v[i] = g(f)
		}
		return MeanSD(v)
	}
	rep.AUC = pick(func(f FoldMetrics) float64 { return f.AUC })
	rep.LogLoss = pick(func(f FoldMetrics) float64 { return f.LogLoss })
	rep.Brier = pick(func(f FoldMetrics) float64 { return f.Brier })
	rep.Lift = pick(func(f FoldMetrics) float64 { return f.Lift })
	rep.Precision = pick(func(f FoldMetrics) float64 { return f.Precision })
	if rep.Reliability, err = Reliability(oofP, oofY, 10); err != nil {
		return nil, err
	}
	return rep, nil
}

// StratifiedKFold splits rows 0..len(y)-1 into k test sets with (as near
// as possible) the same positive rate: positives and negatives are each
// shuffled with the seed and dealt round-robin. Deterministic per seed.
func StratifiedKFold(y []bool, k int, seed uint64) ([][]int, error) {
	if k < 2 {
		return nil, errs.Invalid("folds", "out_of_range", "at least 2 folds are required")
	}
	var pos, neg []int
	for i, v := range y {
		if v {
			pos = append(pos, i)
		} else {
			neg = append(neg, i)
		}
	}
	if len(pos) < k || len(neg) < k {
		return nil, errs.Invalid("folds", "too_few_rows", "%d folds need at least %d positive and %d negative rows (have %d and %d)", k, k, k, len(pos), len(neg))
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	rng.Shuffle(len(pos), func(a, b int) { pos[a], pos[b] = pos[b], pos[a] })
	rng.Shuffle(len(neg), func(a, b int) { neg[a], neg[b] = neg[b], neg[a] })
	folds := make([][]int, k)
	for i, r := range pos {
		folds[i%k] = append(folds[i%k], r)
	}
	// continue the deal where the positives stopped so fold sizes differ by ≤ 1
	for i, r := range neg {
		f := (len(pos) + i) % k
		folds[f] = append(folds[f], r)
	}
	for _, f := range folds {
		sort.Ints(f)
	}
	return folds, nil
}

// TimeSplit returns the latest testFrac of dated rows as one test set
// (sorted by date, ties by row), so the model is judged on leads newer than
// any it learned from. Rows without a date (NaN) are only trained on.
func TimeSplit(days []float64, testFrac float64) ([]int, error) {
	if !(testFrac > 0 && testFrac < 1) {
		return nil, errs.Invalid("test_fraction", "out_of_range", "test fraction must be in (0, 1)")
	}
	var dated []int
	for i, d := range days {
		if !math.IsNaN(d) {
			dated = append(dated, i)
		}
	}
	sort.SliceStable(dated, func(a, b int) bool { return days[dated[a]] < days[dated[b]] })
	k := int(math.Round(float64(len(dated)) * testFrac))
	if k < 1 || k >= len(dated) {
		return nil, errs.Invalid("days", "too_few_rows", "not enough dated rows for a time split")
	}
	// Do not cut inside a day: move the cut so equal dates stay together.
	cut := len(dated) - k
	for cut > 0 && days[dated[cut-1]] == days[dated[cut]] {
		cut--
	}
	if cut == 0 {
		return nil, errs.Invalid("days", "too_few_rows", "every dated row has the same date")
	}
	test := append([]int(nil), dated[cut:]...)
	sort.Ints(test)
	return test, nil
}

// FitPlatt fits σ(A·z + B) to labels by (barely regularised) logistic
// regression on the logits z.
func FitPlatt(logits []float64, y []bool) (Platt, error) {
	if err := checkPairs("logits", logits, y); err != nil {
		return Platt{}, err
	}
	X := make([][]float64, len(logits))
	for i, z := range logits {
		X[i] = []float64{z}
	}
	m, err := Fit(X, y, FitOptions{Lambda: 1e-6})
	if err != nil {
		return Platt{}, err
	}
	return Platt{A: m.Weights[0], B: m.Intercept}, nil
}

// AutoGAMOptions configures FitGAMAuto.
type AutoGAMOptions struct {
	GAM GAMOptions
	// Smooths are the smoothness penalties tried (nil: 1, 10, 100, 1000;
	// the largest makes numeric shapes nearly straight in rank space).
	Smooths []float64
	// Seed makes the inner split deterministic.
	Seed uint64
}

// AutoGAM is a GAM with the choices made on inner validation.
type AutoGAM struct {
	Model  *GAM    `json:"model"`
	Smooth float64 `json:"smooth"`
	// Platt says whether calibration helped on inner validation.
	Platt bool `json:"platt"`
	// InnerLogLoss is the chosen setting's inner-validation log loss.
	InnerLogLoss float64 `json:"inner_log_loss"`
}

// FitGAMAuto chooses the smoothness penalty and whether Platt calibration
// helps on an inner stratified 80/20 split of the training rows, then
// refits on all of them. Platt is judged by cross-fitting on the inner
// validation rows (fit on one half, score the other, and back), because a
// calibrator scored on its own fitting rows always looks better; it is
// kept only when it lowers that log loss by more than 0.1%.
// Too few rows for an inner split (fewer than 10 of either class): the
// default smoothness and no calibration.
func FitGAMAuto(features []Feature, y []bool, opts AutoGAMOptions) (*AutoGAM, error) {
	n, err := checkFeatures(features, y)
	if err != nil {
		return nil, err
	}
	smooths := opts.Smooths
	if len(smooths) == 0 {
		smooths = []float64{1, 10, 100, 1000}
	}
	folds, err := StratifiedKFold(y, 5, opts.Seed)
	pos := 0
	for _, v := range y {
		if v {
			pos++
		}
	}
	if err != nil || pos < 10 || n-pos < 10 {
		m, err := FitGAM(features, y, opts.GAM)
		if err != nil {
			return nil, err
		}
		return &AutoGAM{Model: m, Smooth: opts.GAM.Smooth}, nil
	}
	val := folds[0]
	inVal := make([]bool, n)
	for _, i := range val {
		inVal[i] = true
	}
	var tr []int
	for i := 0; i < n; i++ {
		if !inVal[i] {
			tr = append(tr, i)
		}
	}
	trF, trY := Subset(features, tr), SubsetLabels(y, tr)
	vaF, vaY := Subset(features, val), SubsetLabels(y, val)
	best := &AutoGAM{InnerLogLoss: math.Inf(1)}
	var bestLogits []float64
	for _, s := range smooths {
		o := opts.GAM
		o.Smooth = s
		m, err := FitGAM(trF, trY, o)
		if err != nil {
			return nil, err
		}
		logits, err := m.LogitRows(vaF)
		if err != nil {
			return nil, err
		}
		probs := make([]float64, len(logits))
		for i, z := range logits {
			probs[i] = Sigmoid(z)
		}
		ll, err := LogLoss(probs, vaY)
		if err != nil {
			return nil, err
		}
		if ll < best.InnerLogLoss {
			best.InnerLogLoss, best.Smooth, bestLogits = ll, s, logits
		}
	}
	// cross-fitted Platt on the validation rows
	var half [2][]int
	for k := range vaY {
		half[k%2] = append(half[k%2], k)
	}
	var platt [2]Platt
	var plattLL float64
	plattOK := true
	for h := 0; h < 2; h++ {
		z, yy := pickF(bestLogits, half[h]), SubsetLabels(vaY, half[h])
		if platt[h], err = FitPlatt(z, yy); err != nil {
			plattOK = false
			break
		}
	}
	if plattOK {
		probs := make([]float64, 0, len(vaY))
		ys := make([]bool, 0, len(vaY))
		for h := 0; h < 2; h++ {
			pl := platt[1-h] // fitted on the other half
			for _, k := range half[h] {
				probs = append(probs, Sigmoid(pl.A*bestLogits[k]+pl.B))
				ys = append(ys, vaY[k])
			}
		}
		plattLL, _ = LogLoss(probs, ys)
		best.Platt = plattLL < best.InnerLogLoss*(1-0.001)
	}
	o := opts.GAM
	o.Smooth = best.Smooth
	m, err := FitGAM(features, y, o)
	if err != nil {
		return nil, err
	}
	if best.Platt {
		// the calibrator for the refit model: fitted on all validation
		// rows of the inner model
		pl, err := FitPlatt(bestLogits, vaY)
		if err != nil {
			return nil, err
		}
		m = m.Calibrated(pl)
		best.InnerLogLoss = plattLL
	}
	best.Model = m
	return best, nil
}

func pickF(v []float64, idx []int) []float64 {
	out := make([]float64, len(idx))
	for k, i := range idx {
		out[k] = v[i]
	}
	return out
}
