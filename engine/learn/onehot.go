package learn

import (
	"math"

	"github.com/trailspark/trailspark/engine/errs"
)

// OneHotModel is the plain baseline the GAM is compared with: numeric
// features standardised (missing → the training mean plus a missing
// indicator), categoricals one-hot (missing its own column), and an L2
// logistic regression (Fit) on top.
type OneHotModel struct {
	Model Model `json:"model"`
	// per feature: mean and standard deviation (numeric), first column
	means, sds []float64
	hasMiss    []bool
	col        []int
	kinds      []FeatureKind
	levels     []int
	width      int
}

// newtonMaxWidth is the widest encoding fitted by Newton's method.
const newtonMaxWidth = 400

// FitOneHot fits the one-hot baseline with penalty lambda (0: DefaultLambda).
func FitOneHot(features []Feature, y []bool, lambda float64) (*OneHotModel, error) {
	n, err := checkFeatures(features, y)
	if err != nil {
		return nil, err
	}
	T := len(features)
	m := &OneHotModel{means: make([]float64, T), sds: make([]float64, T), hasMiss: make([]bool, T),
		col: make([]int, T), kinds: make([]FeatureKind, T), levels: make([]int, T)}
	w := 0
	for j, f := range features {
		m.col[j] = w
		m.kinds[j] = f.Kind
		if f.Kind == NumericFeature {
			s, ss, c := 0.0, 0.0, 0.0
			for _, v := range f.Num {
				if math.IsNaN(v) {
					m.hasMiss[j] = true
					continue
				}
				s += v
				c++
			}
			if c > 0 {
				m.means[j] = s / c
			}
			for _, v := range f.Num {
				if !math.IsNaN(v) {
					ss += (v - m.means[j]) * (v - m.means[j])
				}
			}
			m.sds[j] = 1
			if c > 1 && ss > 0 {
				m.sds[j] = math.Sqrt(ss / (c - 1))
			}
			w++
			if m.hasMiss[j] {
				w++
			}
		} else {
			k := len(f.Levels)
			for _, c := range f.Cat {
				k = max(k, c+1)
			}
			m.levels[j] = k
			w += k + 1 // + missing
		}
	}
	m.width = w
	if w <= newtonMaxWidth {
		// Few columns: Newton (Fit) reaches the exact optimum in a handful
		// of iterations.
		X := make([][]float64, n)
		for i := range X {
			X[i] = m.encode(features, i)
		}
		mod, err := Fit(X, y, FitOptions{Lambda: lambda})
		if err != nil {
			return nil, err
		}
		m.Model = mod
		return m, nil
	}
	// Many columns: the dense Hessian would cost width² per row, so use
	// L-BFGS over sparse rows: one (column, value) pair per feature plus a missing
	// indicator, so width (which one-hot encodings of many-level columns
	// make large) costs nothing per row.
	per := 2 * T
	idx := make([]int32, n*per)
	val := make([]float64, n*per)
	for i := 0; i < n; i++ {
		m.encodeSparse(features, i, idx[i*per:(i+1)*per], val[i*per:(i+1)*per])
	}
	if lambda == 0 {
		lambda = DefaultLambda
	}
	beta := fitSparseLogistic(idx, val, per, y, w, lambda)
	m.Model = Model{Intercept: beta[0], Weights: beta[1:]}
	return m, nil
}

// encodeSparse writes row i as (parameter index, value) pairs; parameter 0
// is the intercept, so column c is parameter c+1. Unused pairs point at
// the intercept with value 0.
func (m *OneHotModel) encodeSparse(features []Feature, i int, idx []int32, val []float64) {
	for j := range features {
		c := m.col[j] + 1
		a, b := 2*j, 2*j+1
		idx[a], val[a], idx[b], val[b] = 0, 0, 0, 0
		if m.kinds[j] == NumericFeature {
			v := features[j].Num[i]
			if math.IsNaN(v) {
				if m.hasMiss[j] {
					idx[a], val[a] = int32(c+1), 1
				}
				continue
			}
			idx[a], val[a] = int32(c), (v-m.means[j])/m.sds[j]
		} else {
			v := features[j].Cat[i]
			if v < 0 || v >= m.levels[j] {
				v = m.levels[j]
			}
			idx[a], val[a] = int32(c+v), 1
		}
	}
}

// fitSparseLogistic minimises the L2-penalised (intercept: InterceptLambda)
// logistic loss over sparse rows of per (index, value) pairs by L-BFGS,
// to a tight tolerance so the baseline is the true penalised optimum.
func fitSparseLogistic(idx []int32, val []float64, per int, y []bool, width int, lambda float64) []float64 {
	n := len(y)
	p := width + 1
	obj := func(beta, grad []float64) float64 {
		for k := range grad {
			grad[k] = 0
		}
		loss := 0.0
		for i := 0; i < n; i++ {
			ri, rv := idx[i*per:(i+1)*per], val[i*per:(i+1)*per]
			z := beta[0]
			for s, k := range ri {
				z += beta[k] * rv[s]
			}
			yi := 0.0
			if y[i] {
				yi = 1
			}
			loss += log1pExp(z) - yi*z
			r := Sigmoid(z) - yi
			grad[0] += r
			for s, k := range ri {
				grad[k] += r * rv[s]
			}
		}
		loss += InterceptLambda * beta[0] * beta[0] / 2
		grad[0] += InterceptLambda * beta[0]
		for k := 1; k < p; k++ {
			loss += lambda * beta[k] * beta[k] / 2
			grad[k] += lambda * beta[k]
		}
		return loss
	}
	beta := make([]float64, p)
	lbfgs(obj, beta, 1000, 1e-10)
	return beta
}

func (m *OneHotModel) encode(features []Feature, i int) []float64 {
	x := make([]float64, m.width)
	for j := range features {
		c := m.col[j]
		if m.kinds[j] == NumericFeature {
			v := features[j].Num[i]
			if math.IsNaN(v) {
				if m.hasMiss[j] {
					x[c+1] = 1
				}
				continue
			}
			x[c] = (v - m.means[j]) / m.sds[j]
		} else {
			v := features[j].Cat[i]
			if v < 0 || v >= m.levels[j] {
				v = m.levels[j]
			}
			x[c+v] = 1
		}
	}
	return x
}

// PredictRows returns the probability for every row.
func (m *OneHotModel) PredictRows(features []Feature) ([]float64, error) {
	if len(features) != len(m.kinds) {
		return nil, errs.Invalid("features", "shape_mismatch", "model has %d features but %d were given", len(m.kinds), len(features))
	}
	n, err := checkFeatures(features, nil)
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = m.Model.Predict(m.encode(features, i))
	}
	return out, nil
}
