// Package refine turns people's feedback ("this lead should have been hot")
// and CRM outcomes into a refined model (SPEC §3.5): a logistic regression
// on the stored feature vectors of the evaluations concerned, with soft
// targets from the grade each should have had, shrunk towards the current
// weights so a handful of feedback nudges the model instead of replacing
// it. Pure: no goroutines, no I/O, no clock reads.
package refine

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/mat"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/score"
)

// Example is one labelled evaluation: its feature values (contribution
// feature → value) and the probability it should have had.
type Example struct {
	Values map[string]float64
	Target float64 // in (0, 1)
}

// TargetFor is the probability a lead of the given grade should get: the
// middle of the grade's band under the thresholds (cold: half of warm).
func TargetFor(g score.Grade, th score.Thresholds) float64 {
	if th == (score.Thresholds{}) {
		th = score.DefaultThresholds
	}
	switch g {
	case score.GradeHot:
		return (th.Hot + 1) / 2
	case score.GradeWarm:
		return (th.Warm + th.Hot) / 2
	}
	return th.Warm / 2
}

// Options tune a refinement.
type Options struct {
	// Lambda is the pull towards the current weights (and intercept):
	// the objective is Σ cross-entropy + Lambda/2·‖θ − θ₀‖². Zero: 1.
	Lambda float64
	// MaxIter bounds Newton steps (zero: 50).
	MaxIter int
}

// Result is the refined intercept and weights (only features that appear
// in the current model or the examples).
type Result struct {
	Intercept  float64
	Weights    map[string]float64
	Iterations int
}

// Fit refines (intercept, weights) on the examples. Features of the
// examples unknown to the current model start at weight 0.
func Fit(intercept float64, weights map[string]float64, ex []Example, opt Options) (Result, error) {
	if len(ex) == 0 {
		return Result{}, errs.Invalid("feedback", "no_examples", "there is no pending feedback or outcome to learn from")
	}
	lambda := opt.Lambda
	if lambda == 0 {
		lambda = 1
	}
	if lambda < 0 || math.IsNaN(lambda) {
		return Result{}, errs.Invalid("lambda", "out_of_range", "lambda must be positive")
	}
	iters := opt.MaxIter
	if iters <= 0 {
		iters = 50
	}
	// Columns: the intercept, then every feature in a fixed order.
	seen := map[string]bool{}
	for f := range weights {
		seen[f] = true
	}
	for _, e := range ex {
		for f := range e.Values {
			seen[f] = true
		}
	}
	names := make([]string, 0, len(seen))
	for f := range seen {
		names = append(names, f)
	}
	sort.Strings(names)
	p := len(names) + 1
	theta0 := make([]float64, p)
	theta0[0] = intercept
	for j, f := range names {
		theta0[j+1] = weights[f]
	}
	x := make([][]float64, len(ex))
	for i, e := range ex {
		row := make([]float64, p)
		row[0] = 1
		for j, f := range names {
			row[j+1] = e.Values[f]
		}
		x[i] = row
		if !(e.Target > 0 && e.Target < 1) {
			return Result{}, errs.Invalid("target", "out_of_range", "targets must be in (0, 1)")
		}
	}
	theta := append([]float64(nil), theta0...)
	grad := mat.NewVecDense(p, nil)
	hess := mat.NewSymDense(p, nil)
	var step mat.VecDense
	it := 0
	for ; it < iters; it++ {
		// Gradient and Hessian of the penalised cross-entropy.
		for j := 0; j < p; j++ {
			grad.SetVec(j, lambda*(theta[j]-theta0[j]))
			for k := j; k < p; k++ {
				v := 0.0
				if j == k {
					v = lambda
				}
				hess.SetSym(j, k, v)
			}
		}
		for i, row := range x {
			z := 0.0
			for j, v := range row {
				z += theta[j] * v
			}
			q := sigmoid(z)
			r := q - ex[i].Target
			w := q * (1 - q)
			for j, vj := range row {
				if vj == 0 {
					continue
				}
				grad.SetVec(j, grad.AtVec(j)+r*vj)
				for k := j; k < p; k++ {
					if row[k] != 0 {
						hess.SetSym(j, k, hess.At(j, k)+w*vj*row[k])
					}
				}
			}
		}
		var chol mat.Cholesky
		if !chol.Factorize(hess) {
			return Result{}, errs.Internal(errs.New(errs.KindInternal, "singular", "refinement: Hessian not positive definite"))
		}
		if err := chol.SolveVecTo(&step, grad); err != nil {
			return Result{}, errs.Internal(err)
		}
		maxStep := 0.0
		for j := range theta {
			theta[j] -= step.AtVec(j)
			maxStep = math.Max(maxStep, math.Abs(step.AtVec(j)))
		}
		if maxStep < 1e-10 {
			it++
			break
		}
	}
	res := Result{Intercept: theta[0], Weights: make(map[string]float64, len(names)), Iterations: it}
	for j, f := range names {
		res.Weights[f] = theta[j+1]
	}
	return res, nil
}

// Logit scores a feature vector under (intercept, weights): what the
// evaluation would have had with those weights.
func Logit(intercept float64, weights map[string]float64, values map[string]float64) float64 {
	z := intercept
	for f, v := range values {
		z += weights[f] * v
	}
	return z
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
