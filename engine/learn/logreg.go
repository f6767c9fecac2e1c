// Package learn fits and evaluates scoring models: L2-regularised logistic
// regression shrunk towards a prior (Fit), a generalised additive model with
// exactly additive per-feature contributions (FitGAM, FitGAMAuto), the
// one-hot logistic baseline (FitOneHot), held-out quality metrics (AUC, log
// loss, Brier, reliability, top-decile lift) with stratified k-fold and
// time-split cross-validation (CrossValidate, QualityReport), per-signal
// half-lives learned from outcomes (HalfLives) and win-rate insights with
// Wilson intervals. Pure: no goroutines, no I/O, no clock reads; every result is a
// deterministic function of its arguments.
package learn

import (
	"math"

	"github.com/trailspark/trailspark/engine/errs"
)

// Defaults used when FitOptions leaves a field at zero.
const (
	DefaultLambda  = 1.0
	DefaultMaxIter = 100
	DefaultTol     = 1e-8
	// InterceptLambda is a tiny, fixed ridge on the intercept (towards 0) so a
	// one-class training set (all won, or all lost — common at cold start)
	// still yields a finite model. It is negligible otherwise.
	InterceptLambda = 1e-4
)

// FitOptions configures Fit.
type FitOptions struct {
	// Lambda is the L2 penalty strength: the objective is
	//   Σ log-likelihood − (Lambda/2)·‖w − Prior‖² − (InterceptLambda/2)·b².
	// Zero means DefaultLambda; negative is an error. Larger values keep the
	// weights closer to the prior; the data's pull grows with the row count,
	// so the prior is shrunk away as outcomes arrive.
	Lambda float64
	// Prior is the mean the weights shrink towards (e.g. a starter ICP). nil
	// means all zeros; otherwise its length must equal the feature count.
	Prior []float64
	// MaxIter bounds Newton iterations (zero: DefaultMaxIter).
	MaxIter int
	// Tol stops when the largest Newton step component is below it (zero:
	// DefaultTol).
	Tol float64
}

// Model is a fitted logistic regression: P(y) = σ(Intercept + Weights·x).
type Model struct {
	Intercept float64   `json:"intercept"`
	Weights   []float64 `json:"weights"`
	// Iterations is how many Newton steps the fit took.
	Iterations int `json:"iterations"`
}

// Logit returns Intercept + Weights·x. x must have len(Weights) entries.
func (m Model) Logit(x []float64) float64 {
	z := m.Intercept
	for j, w := range m.Weights {
		z += w * x[j]
	}
	return z
}

// Predict returns σ(Logit(x)).
func (m Model) Predict(x []float64) float64 { return Sigmoid(m.Logit(x)) }

// Sigmoid is the numerically stable logistic function.
func Sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// log1pExp returns log(1+e^z) without overflow.
func log1pExp(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

// Fit fits an L2-regularised logistic regression by Newton's method (IRLS)
// with step halving, so the penalised objective never increases. The
// Hessian is always positive definite (penalty ≥ InterceptLambda), so the
// weights stay finite even on perfectly separable data. Deterministic.
//
// Errors (*errs.Error, KindInvalid) name the offending argument: "X", "X[i]",
// "y", "opts.Lambda", "opts.Prior", "opts.MaxIter", "opts.Tol".
func Fit(X [][]float64, y []bool, opts FitOptions) (Model, error) {
	if len(X) == 0 {
		return Model{}, errs.Invalid("X", "empty", "at least one row is required")
	}
	if len(y) != len(X) {
		return Model{}, errs.Invalid("y", "shape_mismatch", "y has %d labels but X has %d rows", len(y), len(X))
	}
	d := len(X[0])
	for i, row := range X {
		if len(row) != d {
			return Model{}, errs.Invalid(fieldIdx("X", i), "shape_mismatch", "row %d has %d columns, row 0 has %d", i, len(row), d)
		}
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return Model{}, errs.Invalid(fieldIdx("X", i), "not_finite", "row %d contains a NaN or infinite value", i)
			}
		}
	}
	lambda := opts.Lambda
	switch {
	case math.IsNaN(lambda) || math.IsInf(lambda, 0) || lambda < 0:
		return Model{}, errs.Invalid("opts.Lambda", "out_of_range", "lambda must be a finite number ≥ 0")
	case lambda == 0:
		lambda = DefaultLambda
	}
	prior := make([]float64, d)
	if opts.Prior != nil {
		if len(opts.Prior) != d {
			return Model{}, errs.Invalid("opts.Prior", "shape_mismatch", "prior has %d weights but X has %d columns", len(opts.Prior), d)
		}
		for _, v := range opts.Prior {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return Model{}, errs.Invalid("opts.Prior", "not_finite", "prior contains a NaN or infinite value")
			}
		}
		copy(prior, opts.Prior)
	}
	maxIter := opts.MaxIter
	if maxIter < 0 {
		return Model{}, errs.Invalid("opts.MaxIter", "out_of_range", "max iterations must be ≥ 0")
	}
	if maxIter == 0 {
		maxIter = DefaultMaxIter
	}
	tol := opts.Tol
	if math.IsNaN(tol) || tol < 0 {
		return Model{}, errs.Invalid("opts.Tol", "out_of_range", "tolerance must be ≥ 0")
	}
	if tol == 0 {
		tol = DefaultTol
	}

	p := d + 1 // parameter 0 is the intercept
	beta := make([]float64, p)
	copy(beta[1:], prior)
	pen := func(b []float64) float64 {
		s := InterceptLambda * b[0] * b[0]
		for j := 1; j < p; j++ {
			dj := b[j] - prior[j-1]
			s += lambda * dj * dj
		}
		return s / 2
	}
	objective := func(b []float64) float64 { // penalised negative log-likelihood
		s := pen(b)
		for i, row := range X {
			z := b[0]
			for j, v := range row {
				z += b[j+1] * v
			}
			if y[i] {
				s += log1pExp(-z)
			} else {
				s += log1pExp(z)
			}
		}
		return s
	}

	// Mostly-zero rows (one-hot encodings) are cheapest row by row,
	// skipping zeros; dense rows go through the blocked kernel.
	nonZero := 0
	for _, row := range X {
		for _, v := range row {
			if v != 0 {
				nonZero++
			}
		}
	}
	dense := nonZero*2 > len(X)*d
	grad := make([]float64, p)
	hess := make([]float64, p*p)
	step := make([]float64, p)
	trial := make([]float64, p)
	xi := make([]float64, p)
	xi[0] = 1
	obj := objective(beta)
	iter := 0
	for iter < maxIter {
		iter++
		// gradient and Hessian of the objective
		for k := range grad {
			grad[k] = 0
		}
		for k := range hess {
			hess[k] = 0
		}
		if dense {
			accumulateDense(X, y, beta, grad, hess, p)
		} else {
			for i, row := range X {
				copy(xi[1:], row)
				z := 0.0
				for k := 0; k < p; k++ {
					z += beta[k] * xi[k]
				}
				mu := Sigmoid(z)
				r := mu
				if y[i] {
					r = mu - 1
				}
				w := mu * (1 - mu)
				for a := 0; a < p; a++ {
					xa := xi[a]
					if xa == 0 { // one-hot rows are mostly zeros
						continue
					}
					grad[a] += r * xa
					wa := w * xa
					ha := hess[a*p:]
					for b := a; b < p; b++ {
						ha[b] += wa * xi[b]
					}
				}
			}
		}
		grad[0] += InterceptLambda * beta[0]
		hess[0] += InterceptLambda
		for j := 1; j < p; j++ {
			grad[j] += lambda * (beta[j] - prior[j-1])
			hess[j*p+j] += lambda
		}
		for a := 0; a < p; a++ { // mirror the upper triangle
			for b := a + 1; b < p; b++ {
				hess[b*p+a] = hess[a*p+b]
			}
		}
		if !choleskySolve(hess, grad, step, p) {
			return Model{}, errs.Internal(errs.New(errs.KindInternal, "not_positive_definite", "Hessian is not positive definite"))
		}
		// Newton step with halving until the objective does not increase.
		t := 1.0
		var next float64
		for h := 0; h < 60; h++ {
			for k := range trial {
				trial[k] = beta[k] - t*step[k]
			}
			next = objective(trial)
			if next <= obj {
				break
			}
			t /= 2
		}
		if next > obj { // no descent possible: we are at the optimum numerically
			break
		}
		maxStep := 0.0
		for k := range beta {
			maxStep = math.Max(maxStep, math.Abs(trial[k]-beta[k]))
		}
		copy(beta, trial)
		obj = next
		if maxStep < tol {
			break
		}
	}
	return Model{Intercept: beta[0], Weights: append([]float64(nil), beta[1:]...), Iterations: iter}, nil
}

// accumulateDense adds the log-likelihood gradient and the upper triangle
// of the Hessian (Σ w·x·xᵀ with the intercept as column 0) for all rows,
// four rows at a time: each Hessian cell is loaded and stored once per four
// rows instead of once per row, which is what bounds the speed.
func accumulateDense(X [][]float64, y []bool, beta, grad, hess []float64, p int) {
	const blk = 4
	var xs [blk][]float64
	var r, w [blk]float64
	rows := make([]float64, blk*p)
	for start := 0; start < len(X); start += blk {
		m := min(blk, len(X)-start)
		for k := 0; k < blk; k++ {
			xk := rows[k*p : (k+1)*p]
			xs[k] = xk
			if k >= m { // pad a short last block with zero-weight rows
				r[k], w[k] = 0, 0
				for a := range xk {
					xk[a] = 0
				}
				continue
			}
			xk[0] = 1
			copy(xk[1:], X[start+k])
			z := 0.0
			for a, v := range xk {
				z += beta[a] * v
			}
			mu := Sigmoid(z)
			r[k] = mu
			if y[start+k] {
				r[k] = mu - 1
			}
			w[k] = mu * (1 - mu)
		}
		x0, x1, x2, x3 := xs[0], xs[1], xs[2], xs[3]
		for a := 0; a < p; a++ {
			grad[a] += r[0]*x0[a] + r[1]*x1[a] + r[2]*x2[a] + r[3]*x3[a]
			w0, w1, w2, w3 := w[0]*x0[a], w[1]*x1[a], w[2]*x2[a], w[3]*x3[a]
			ha := hess[a*p+a : a*p+p]
			b0, b1, b2, b3 := x0[a:p], x1[a:p], x2[a:p], x3[a:p]
			b0, b1, b2, b3 = b0[:len(ha)], b1[:len(ha)], b2[:len(ha)], b3[:len(ha)]
			for b := range ha {
				ha[b] += w0*b0[b] + w1*b1[b] + w2*b2[b] + w3*b3[b]
			}
		}
	}
}

// choleskySolve solves A·x = b for symmetric positive definite A (row-major,
// n×n). A is overwritten with its Cholesky factor. Reports false when A is
// not positive definite.
func choleskySolve(a, b, x []float64, n int) bool {
	for j := 0; j < n; j++ {
		s := a[j*n+j]
		for k := 0; k < j; k++ {
			s -= a[j*n+k] * a[j*n+k]
		}
		if !(s > 0) {
			return false
		}
		l := math.Sqrt(s)
		a[j*n+j] = l
		for i := j + 1; i < n; i++ {
			t := a[i*n+j]
			for k := 0; k < j; k++ {
				t -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = t / l
		}
	}
	for i := 0; i < n; i++ { // L·z = b
		s := b[i]
		for k := 0; k < i; k++ {
			s -= a[i*n+k] * x[k]
		}
		x[i] = s / a[i*n+i]
	}
	for i := n - 1; i >= 0; i-- { // Lᵀ·x = z
		s := x[i]
		for k := i + 1; k < n; k++ {
			s -= a[k*n+i] * x[k]
		}
		x[i] = s / a[i*n+i]
	}
	return true
}

func fieldIdx(name string, i int) string {
	return name + "[" + itoa(i) + "]"
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	neg := i < 0
	if neg {
		i = -i
	}
	var buf [20]byte
	n := len(buf)
	for i > 0 {
		n--
		buf[n] = byte('0' + i%10)
		i /= 10
	}
	if neg {
		n--
		buf[n] = '-'
	}
	return string(buf[n:])
}
