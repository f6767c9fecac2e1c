package learn

import (
	"math"
	"sort"

	"github.com/trailspark/trailspark/engine/errs"
)

// Event is one signal in a lead's history: its type and how old it was
// (in days) at the moment the outcome is scored.
type Event struct {
	Type    string
	AgeDays float64
}

// DefaultHalfLifeCandidates are the half-lives (days) HalfLives chooses from.
var DefaultHalfLifeCandidates = []float64{1, 3, 7, 14, 30, 60, 90}

// HalfLifeOptions configures HalfLives.
type HalfLifeOptions struct {
	// Candidates are the half-lives tried per type (nil: the defaults).
	Candidates []float64
	// Lambda is the L2 penalty of the logistic model (0: DefaultLambda).
	Lambda float64
	// Holdout is the held-out fraction judged on (0: 0.3).
	Holdout float64
	// Sweeps bounds the coordinate-search passes (0: 4).
	Sweeps int
	// Seed makes the held-out split deterministic.
	Seed uint64
}

// HalfLifeResult is the chosen half-life per signal type and the held-out
// log loss of the model using them.
type HalfLifeResult struct {
	HalfLives map[string]float64 `json:"half_lives"`
	// Weights is the fitted logistic weight per type (decayed-count units).
	Weights map[string]float64 `json:"weights"`
	// HeldOutLogLoss is the mean held-out log loss at the chosen half-lives;
	// InitialLogLoss the same with every type at the starting half-life.
	HeldOutLogLoss float64 `json:"held_out_log_loss"`
	InitialLogLoss float64 `json:"initial_log_loss"`
	Sweeps         int     `json:"sweeps"`
}

// HalfLives learns a per-signal-type half-life from outcomes. Each lead's
// score feature for type k is its exponentially decayed count
// Σ 0.5^(age/h_k) — exactly what a running score updated in O(1) per event
// holds — and a logistic regression on those features is fitted on a
// stratified training split. Coordinate search: for each type in turn,
// every candidate half-life is tried with the others fixed and the one with
// the best held-out log-likelihood kept; passes repeat until nothing
// changes. Starts every type at the median candidate. Ties keep the
// current value, then the shorter half-life, so the result is
// deterministic.
func HalfLives(histories [][]Event, y []bool, opts HalfLifeOptions) (*HalfLifeResult, error) {
	if len(histories) == 0 {
		return nil, errs.Invalid("histories", "empty", "at least one lead is required")
	}
	if len(y) != len(histories) {
		return nil, errs.Invalid("y", "shape_mismatch", "y has %d labels but there are %d histories", len(y), len(histories))
	}
	cands := opts.Candidates
	if cands == nil {
		cands = DefaultHalfLifeCandidates
	}
	if len(cands) == 0 {
		return nil, errs.Invalid("opts.Candidates", "empty", "at least one candidate half-life is required")
	}
	cands = append([]float64(nil), cands...)
	sort.Float64s(cands)
	for _, h := range cands {
		if !(h > 0) || math.IsInf(h, 0) {
			return nil, errs.Invalid("opts.Candidates", "out_of_range", "half-lives must be finite and > 0")
		}
	}
	hold := opts.Holdout
	if hold == 0 {
		hold = 0.3
	}
	if !(hold > 0 && hold < 1) {
		return nil, errs.Invalid("opts.Holdout", "out_of_range", "holdout must be in (0, 1)")
	}
	sweeps := opts.Sweeps
	if sweeps < 0 {
		return nil, errs.Invalid("opts.Sweeps", "out_of_range", "sweeps must be ≥ 0")
	}
	if sweeps == 0 {
		sweeps = 4
	}
	// types in sorted order, events grouped per type per lead
	typeIdx := map[string]int{}
	for i, h := range histories {
		for _, e := range h {
			if math.IsNaN(e.AgeDays) || math.IsInf(e.AgeDays, 0) || e.AgeDays < 0 {
				return nil, errs.Invalid(fieldIdx("histories", i), "out_of_range", "event ages must be finite and ≥ 0")
			}
			typeIdx[e.Type] = 0
		}
	}
	if len(typeIdx) == 0 {
		return nil, errs.Invalid("histories", "empty", "no events")
	}
	types := make([]string, 0, len(typeIdx))
	for k := range typeIdx {
		types = append(types, k)
	}
	sort.Strings(types)
	for k, name := range types {
		typeIdx[name] = k
	}
	K := len(types)
	ages := make([][][]float64, len(histories)) // lead → type → ages
	for i, h := range histories {
		ages[i] = make([][]float64, K)
		for _, e := range h {
			k := typeIdx[e.Type]
			ages[i][k] = append(ages[i][k], e.AgeDays)
		}
	}
	// stratified split: every ⌈1/hold⌉-th row of each class, after a
	// seeded shuffle, is held out
	nFolds := int(math.Round(1 / hold))
	folds, err := StratifiedKFold(y, max(nFolds, 2), opts.Seed)
	if err != nil {
		return nil, err
	}
	test := folds[0]
	inTest := make([]bool, len(y))
	for _, i := range test {
		inTest[i] = true
	}
	var train []int
	for i := range y {
		if !inTest[i] {
			train = append(train, i)
		}
	}
	// column cache: decayed counts per (type, candidate)
	col := make([][][]float64, K)
	for k := range col {
		col[k] = make([][]float64, len(cands))
		for c, h := range cands {
			v := make([]float64, len(histories))
			for i := range histories {
				s := 0.0
				for _, a := range ages[i][k] {
					s += math.Exp2(-a / h)
				}
				v[i] = s
			}
			col[k][c] = v
		}
	}
	choice := make([]int, K)
	for k := range choice {
		choice[k] = (len(cands) - 1) / 2
	}
	trY, teY := SubsetLabels(y, train), SubsetLabels(y, test)
	evaluate := func() (float64, Model, error) {
		X := make([][]float64, len(train))
		for r, i := range train {
			x := make([]float64, K)
			for k := range x {
				x[k] = col[k][choice[k]][i]
			}
			X[r] = x
		}
		m, err := Fit(X, trY, FitOptions{Lambda: opts.Lambda})
		if err != nil {
			return 0, Model{}, err
		}
		probs := make([]float64, len(test))
		x := make([]float64, K)
		for r, i := range test {
			for k := range x {
				x[k] = col[k][choice[k]][i]
			}
			probs[r] = m.Predict(x)
		}
		ll, err := LogLoss(probs, teY)
		return ll, m, err
	}
	cur, model, err := evaluate()
	if err != nil {
		return nil, err
	}
	res := &HalfLifeResult{InitialLogLoss: cur}
	for res.Sweeps < sweeps {
		res.Sweeps++
		changed := false
		for k := 0; k < K; k++ {
			keep := choice[k]
			best, bestC, bestM := cur, keep, model
			for c := range cands {
				if c == keep {
					continue
				}
				choice[k] = c
				ll, m, err := evaluate()
				if err != nil {
					return nil, err
				}
				// strictly better only: ties keep the current value, and
				// candidates are tried shortest first
				if ll < best-1e-12 {
					best, bestC, bestM = ll, c, m
				}
			}
			choice[k] = bestC
			if bestC != keep {
				changed = true
			}
			cur, model = best, bestM
		}
		if !changed {
			break
		}
	}
	res.HeldOutLogLoss = cur
	res.HalfLives = make(map[string]float64, K)
	res.Weights = make(map[string]float64, K)
	for k, name := range types {
		res.HalfLives[name] = cands[choice[k]]
		res.Weights[name] = model.Weights[k]
	}
	return res, nil
}
