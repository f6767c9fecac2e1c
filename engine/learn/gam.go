package learn

import (
	"math"
	"sort"

	"github.com/trailspark/trailspark/engine/errs"
)

// FeatureKind says how a Feature is encoded.
type FeatureKind int

const (
	// NumericFeature values are real numbers, NaN where missing.
	NumericFeature FeatureKind = iota + 1
	// CategoricalFeature values are level indexes, -1 where missing.
	CategoricalFeature
)

// Feature is one column of a columnar data set (every Feature of a set has
// the same length).
type Feature struct {
	Name string
	Kind FeatureKind
	// Num holds the values of a NumericFeature (NaN = missing).
	Num []float64
	// Cat holds the level indexes of a CategoricalFeature (-1, or an index
	// ≥ len(Levels), = missing/unknown).
	Cat    []int
	Levels []string
}

// Len is the number of rows.
func (f Feature) Len() int {
	if f.Kind == NumericFeature {
		return len(f.Num)
	}
	return len(f.Cat)
}

// Subset returns the features restricted to rows (copied, in that order).
func Subset(features []Feature, rows []int) []Feature {
	out := make([]Feature, len(features))
	for j, f := range features {
		g := Feature{Name: f.Name, Kind: f.Kind, Levels: f.Levels}
		if f.Kind == NumericFeature {
			g.Num = make([]float64, len(rows))
			for k, i := range rows {
				g.Num[k] = f.Num[i]
			}
		} else {
			g.Cat = make([]int, len(rows))
			for k, i := range rows {
				g.Cat[k] = f.Cat[i]
			}
		}
		out[j] = g
	}
	return out
}

// SubsetLabels returns y restricted to rows.
func SubsetLabels(y []bool, rows []int) []bool {
	out := make([]bool, len(rows))
	for k, i := range rows {
		out[k] = y[i]
	}
	return out
}

func checkFeatures(features []Feature, y []bool) (int, error) {
	if len(features) == 0 {
		return 0, errs.Invalid("features", "empty", "at least one feature is required")
	}
	for j, f := range features {
		if f.Kind != NumericFeature && f.Kind != CategoricalFeature {
			return 0, errs.Invalid(fieldIdx("features", j), "unknown_kind", "feature %q has no kind", f.Name)
		}
	}
	n := features[0].Len()
	if n == 0 {
		return 0, errs.Invalid("features", "empty", "at least one row is required")
	}
	if y != nil && len(y) != n {
		return 0, errs.Invalid("y", "shape_mismatch", "y has %d labels but the features have %d rows", len(y), n)
	}
	for j, f := range features {
		switch f.Kind {
		case NumericFeature:
			if len(f.Num) != n {
				return 0, errs.Invalid(fieldIdx("features", j), "shape_mismatch", "feature %q has %d rows, expected %d", f.Name, len(f.Num), n)
			}
			for _, v := range f.Num {
				if math.IsInf(v, 0) {
					return 0, errs.Invalid(fieldIdx("features", j), "not_finite", "feature %q has an infinite value", f.Name)
				}
			}
		case CategoricalFeature:
			if len(f.Cat) != n {
				return 0, errs.Invalid(fieldIdx("features", j), "shape_mismatch", "feature %q has %d rows, expected %d", f.Name, len(f.Cat), n)
			}
		default:
			return 0, errs.Invalid(fieldIdx("features", j), "unknown_kind", "feature %q has no kind", f.Name)
		}
	}
	return n, nil
}

// Defaults for GAMOptions.
const (
	DefaultGAMBins    = 32
	DefaultGAMLambda  = 1.0
	DefaultGAMSmooth  = 10.0
	DefaultGAMMaxIter = 400
	DefaultGAMTol     = 1e-7
)

// GAMOptions configures FitGAM.
type GAMOptions struct {
	// Bins is the most quantile bins per numeric feature (0: DefaultGAMBins).
	Bins int
	// Lambda is the ridge penalty on every shape value (0: DefaultGAMLambda).
	Lambda float64
	// Smooth penalises second differences of adjacent bin values of a
	// numeric feature, pulling its shape towards a straight line in rank
	// space where data is thin (0: DefaultGAMSmooth; negative: none).
	Smooth float64
	// MaxIter bounds L-BFGS iterations (0: DefaultGAMMaxIter).
	MaxIter int
	// Tol stops when the objective improves by less than Tol relative to
	// its size over an iteration (0: DefaultGAMTol).
	Tol float64
}

// Term is one feature's shape function in a GAM.
type Term struct {
	Name string      `json:"name"`
	Kind FeatureKind `json:"kind"`
	// Edges are the upper bin edges of a numeric term: a value v falls in
	// the first bin i with v ≤ Edges[i], or the last bin (len(Edges)) when
	// larger than every edge.
	Edges []float64 `json:"edges,omitempty"`
	// Levels names the levels of a categorical term.
	Levels []string `json:"levels,omitempty"`
	// Values are the logit contributions per bin (numeric) or per level
	// (categorical).
	Values []float64 `json:"values"`
	// Missing is the contribution of a missing (or unknown-level) value.
	Missing float64 `json:"missing"`
}

// slot returns the index into Values of a row, or -1 for missing.
func (t *Term) slot(f *Feature, i int) int {
	if t.Kind == NumericFeature {
		v := f.Num[i]
		if math.IsNaN(v) {
			return -1
		}
		// first edge ≥ v (an inlined sort.SearchFloat64s: this runs for
		// every row and numeric column when the design is built)
		lo, hi := 0, len(t.Edges)
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if t.Edges[mid] < v {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return lo
	}
	c := f.Cat[i]
	if c < 0 || c >= len(t.Values) {
		return -1
	}
	return c
}

// Contribution is the term's logit contribution for row i of f.
func (t *Term) Contribution(f *Feature, i int) float64 {
	if s := t.slot(f, i); s >= 0 {
		return t.Values[s]
	}
	return t.Missing
}

// GAM is a generalised additive logistic model:
//
//	logit = Intercept + Σ_j Terms[j](x_j),   P = σ(logit).
//
// Each term is centred to mean zero over the training rows, so Intercept
// is the average training logit and a contribution says how far this
// value moves the score from an average lead — the exact SHAP attribution
// for an additive model. Calibration, when applied, is folded into the
// intercept and the terms, so the contributions still add up exactly.
type GAM struct {
	Intercept float64 `json:"intercept"`
	Terms     []Term  `json:"terms"`
	// Platt records a folded-in Platt scaling (logit' = A·logit + B), nil
	// when none was applied.
	Platt *Platt `json:"platt,omitempty"`
	// Iterations is how many L-BFGS iterations the fit took.
	Iterations int `json:"iterations"`
}

// Platt is a logistic recalibration of a logit: σ(A·z + B).
type Platt struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

func (m *GAM) checkShape(features []Feature) error {
	if len(features) != len(m.Terms) {
		return errs.Invalid("features", "shape_mismatch", "model has %d terms but %d features were given", len(m.Terms), len(features))
	}
	for j := range features {
		if features[j].Kind != m.Terms[j].Kind {
			return errs.Invalid(fieldIdx("features", j), "shape_mismatch", "feature %q kind does not match the model", features[j].Name)
		}
	}
	_, err := checkFeatures(features, nil)
	return err
}

// Logit returns the model's logit for row i. features must match the
// model's terms (same order and kinds) — see Contributions.
func (m *GAM) Logit(features []Feature, i int) float64 {
	z := m.Intercept
	for j := range m.Terms {
		z += m.Terms[j].Contribution(&features[j], i)
	}
	return z
}

// Predict returns σ(Logit) for row i.
func (m *GAM) Predict(features []Feature, i int) float64 { return Sigmoid(m.Logit(features, i)) }

// Contributions writes each term's contribution for row i into dst
// (allocated when too short) and returns it together with the logit; the
// logit is computed as Intercept + Σ dst in term order, so the identity
// holds to the last bit.
func (m *GAM) Contributions(features []Feature, i int, dst []float64) ([]float64, float64) {
	if cap(dst) < len(m.Terms) {
		dst = make([]float64, len(m.Terms))
	}
	dst = dst[:len(m.Terms)]
	z := m.Intercept
	for j := range m.Terms {
		dst[j] = m.Terms[j].Contribution(&features[j], i)
		z += dst[j]
	}
	return dst, z
}

// PredictRows returns the probability for every row.
func (m *GAM) PredictRows(features []Feature) ([]float64, error) {
	if err := m.checkShape(features); err != nil {
		return nil, err
	}
	n := features[0].Len()
	out := make([]float64, n)
	for i := range out {
		out[i] = m.Predict(features, i)
	}
	return out, nil
}

// LogitRows returns the logit for every row.
func (m *GAM) LogitRows(features []Feature) ([]float64, error) {
	if err := m.checkShape(features); err != nil {
		return nil, err
	}
	out := make([]float64, features[0].Len())
	for i := range out {
		out[i] = m.Logit(features, i)
	}
	return out, nil
}

// Calibrated returns a copy of m with the Platt scaling p folded in:
// every value is multiplied by A and B is added to the intercept.
func (m *GAM) Calibrated(p Platt) *GAM {
	out := &GAM{Intercept: p.A*m.Intercept + p.B, Terms: make([]Term, len(m.Terms)), Iterations: m.Iterations}
	if m.Platt != nil { // compose: A·(a·z+b)+B
		out.Platt = &Platt{A: p.A * m.Platt.A, B: p.A*m.Platt.B + p.B}
	} else {
		out.Platt = &Platt{A: p.A, B: p.B}
	}
	for j, t := range m.Terms {
		t.Values = append([]float64(nil), t.Values...)
		for k := range t.Values {
			t.Values[k] *= p.A
		}
		t.Missing *= p.A
		out.Terms[j] = t
	}
	return out
}

// quantileSample bounds how many values quantileEdges sorts.
const quantileSample = 20000

// quantileEdges returns upper bin edges for at most bins bins: one bin per
// distinct value when there are few, else edges at quantiles (deduplicated,
// so heavy ties merge bins).
func quantileEdges(vals []float64, bins int) []float64 {
	s := make([]float64, 0, len(vals))
	for _, v := range vals {
		if !math.IsNaN(v) {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return nil
	}
	// Quantiles of an evenly strided sample are as good as exact ones for
	// bin edges and keep the sort (the fit's biggest fixed cost) bounded.
	if len(s) > quantileSample {
		for k := 0; k < quantileSample; k++ {
			s[k] = s[k*len(s)/quantileSample]
		}
		s = s[:quantileSample]
	}
	sort.Float64s(s)
	var distinct []float64
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			distinct = append(distinct, v)
			if len(distinct) > bins {
				break
			}
		}
	}
	var edges []float64
	if len(distinct) <= bins {
		for i := 0; i+1 < len(distinct); i++ {
			edges = append(edges, distinct[i]+(distinct[i+1]-distinct[i])/2)
		}
		return edges
	}
	last := s[len(s)-1]
	for k := 1; k < bins; k++ {
		q := s[k*len(s)/bins]
		if q >= last {
			break
		}
		if len(edges) == 0 || q > edges[len(edges)-1] {
			edges = append(edges, q)
		}
	}
	return edges
}

// FitGAM fits a GAM: numeric features become up to opts.Bins quantile bins
// (plus a missing bin), categoricals one value per level (plus missing),
// and all values are fitted jointly by L2-penalised logistic regression
// with a second-difference smoothness penalty on adjacent numeric bins.
//
// Solver: L-BFGS (our own, below; gonum/optimize runs its methods in
// goroutines, which engine packages do not start). Each row touches one
// parameter per feature, so an objective+gradient evaluation costs
// O(rows × features) regardless of the number of bins; a Newton solver
// would need the dense Hessian (parameters² per row) and does not scale to
// 100 features × 32 bins.
func FitGAM(features []Feature, y []bool, opts GAMOptions) (*GAM, error) {
	n, err := checkFeatures(features, y)
	if err != nil {
		return nil, err
	}
	bins := opts.Bins
	if bins < 0 || bins > 1024 {
		return nil, errs.Invalid("opts.Bins", "out_of_range", "bins must be between 1 and 1024")
	}
	if bins == 0 {
		bins = DefaultGAMBins
	}
	lambda := opts.Lambda
	if math.IsNaN(lambda) || math.IsInf(lambda, 0) || lambda < 0 {
		return nil, errs.Invalid("opts.Lambda", "out_of_range", "lambda must be a finite number ≥ 0")
	}
	if lambda == 0 {
		lambda = DefaultGAMLambda
	}
	smooth := opts.Smooth
	if math.IsNaN(smooth) || math.IsInf(smooth, 0) {
		return nil, errs.Invalid("opts.Smooth", "out_of_range", "smooth must be finite")
	}
	if smooth == 0 {
		smooth = DefaultGAMSmooth
	}
	if smooth < 0 {
		smooth = 0
	}
	maxIter := opts.MaxIter
	if maxIter < 0 {
		return nil, errs.Invalid("opts.MaxIter", "out_of_range", "max iterations must be ≥ 0")
	}
	if maxIter == 0 {
		maxIter = DefaultGAMMaxIter
	}
	tol := opts.Tol
	if math.IsNaN(tol) || tol < 0 {
		return nil, errs.Invalid("opts.Tol", "out_of_range", "tolerance must be ≥ 0")
	}
	if tol == 0 {
		tol = DefaultGAMTol
	}

	// Layout: parameter 0 is the intercept; term j owns offset[j] ..
	// offset[j]+size[j]-1, its last parameter being the missing value.
	T := len(features)
	m := &GAM{Terms: make([]Term, T)}
	offset := make([]int, T)
	size := make([]int, T)
	p := 1
	for j := range features {
		f := &features[j]
		t := Term{Name: f.Name, Kind: f.Kind}
		var k int
		if f.Kind == NumericFeature {
			t.Edges = quantileEdges(f.Num, bins)
			k = len(t.Edges) + 1
		} else {
			t.Levels = f.Levels
			k = len(f.Levels)
			for _, c := range f.Cat {
				k = max(k, c+1) // tolerate level indexes beyond Levels
			}
		}
		t.Values = make([]float64, k)
		m.Terms[j] = t
		offset[j], size[j] = p, k+1
		p += k + 1
	}
	// Sparse design: one parameter index per (row, term).
	idx := make([]int32, n*T)
	for j := range features {
		t := &m.Terms[j]
		for i := 0; i < n; i++ {
			s := t.slot(&features[j], i)
			if s < 0 {
				s = size[j] - 1
			}
			idx[i*T+j] = int32(offset[j] + s)
		}
	}
	yf := make([]float64, n)
	pos := 0.0
	for i, v := range y {
		if v {
			yf[i] = 1
			pos++
		}
	}
	numeric := make([]bool, T)
	for j := range features {
		numeric[j] = features[j].Kind == NumericFeature
	}
	obj := func(beta, grad []float64) float64 {
		for k := range grad {
			grad[k] = 0
		}
		loss := 0.0
		b0 := beta[0]
		for i := 0; i < n; i++ {
			row := idx[i*T : i*T+T]
			z := b0
			for _, k := range row {
				z += beta[k]
			}
			var r float64
			if z >= 0 {
				e := math.Exp(-z)
				loss += math.Log1p(e) + (1-yf[i])*z
				r = 1/(1+e) - yf[i]
			} else {
				e := math.Exp(z)
				loss += math.Log1p(e) - yf[i]*z
				r = e/(1+e) - yf[i]
			}
			grad[0] += r
			for _, k := range row {
				grad[k] += r
			}
		}
		// penalties
		loss += InterceptLambda * b0 * b0 / 2
		grad[0] += InterceptLambda * b0
		for k := 1; k < p; k++ {
			loss += lambda * beta[k] * beta[k] / 2
			grad[k] += lambda * beta[k]
		}
		if smooth > 0 {
			for j := 0; j < T; j++ {
				if !numeric[j] {
					continue
				}
				o, nb := offset[j], size[j]-1 // nb bins; the missing slot is not smoothed
				for k := 1; k+1 < nb; k++ {
					d := beta[o+k+1] - 2*beta[o+k] + beta[o+k-1]
					loss += smooth * d * d / 2
					g := smooth * d
					grad[o+k+1] += g
					grad[o+k] -= 2 * g
					grad[o+k-1] += g
				}
			}
		}
		return loss
	}
	beta := make([]float64, p)
	// start at the base rate so the first iterations shape the terms
	rate := (pos + 0.5) / (float64(n) + 1)
	beta[0] = math.Log(rate / (1 - rate))
	m.Iterations = lbfgs(obj, beta, maxIter, tol)

	// Read the terms back and centre them on the training rows.
	m.Intercept = beta[0]
	for j := range m.Terms {
		t := &m.Terms[j]
		o := offset[j]
		copy(t.Values, beta[o:o+len(t.Values)])
		t.Missing = beta[o+size[j]-1]
		mean := 0.0
		for i := 0; i < n; i++ {
			mean += beta[idx[i*T+j]]
		}
		mean /= float64(n)
		for k := range t.Values {
			t.Values[k] -= mean
		}
		t.Missing -= mean
		m.Intercept += mean
	}
	return m, nil
}

// lbfgs minimises f (which fills the gradient) from x in place with
// limited-memory BFGS (memory 10) and a backtracking Armijo line search.
// It stops after maxIter iterations, when three iterations in a row improve
// f by less than tol·max(1, |f|) each, or when no descent step can be found. Returns the
// iterations taken.
func lbfgs(f func(x, g []float64) float64, x []float64, maxIter int, tol float64) int {
	const mem = 10
	p := len(x)
	g := make([]float64, p)
	fx := f(x, g)
	s := make([][]float64, 0, mem)
	yv := make([][]float64, 0, mem)
	rho := make([]float64, 0, mem)
	alpha := make([]float64, mem)
	d := make([]float64, p)
	xn := make([]float64, p)
	gn := make([]float64, p)
	iter, small := 0, 0
	for iter < maxIter {
		iter++
		// two-loop recursion: d = −H·g
		copy(d, g)
		for k := len(s) - 1; k >= 0; k-- {
			alpha[k] = rho[k] * dot(s[k], d)
			axpy(-alpha[k], yv[k], d)
		}
		if len(s) > 0 {
			last := len(s) - 1
			gamma := dot(s[last], yv[last]) / dot(yv[last], yv[last])
			for i := range d {
				d[i] *= gamma
			}
		} else {
			// first step: unit length
			if gn := math.Sqrt(dot(g, g)); gn > 0 {
				for i := range d {
					d[i] /= gn
				}
			}
		}
		for k := 0; k < len(s); k++ {
			b := rho[k] * dot(yv[k], d)
			axpy(alpha[k]-b, s[k], d)
		}
		for i := range d {
			d[i] = -d[i]
		}
		dg := dot(d, g)
		if !(dg < 0) { // not a descent direction: reset memory, use −g
			s, yv, rho = s[:0], yv[:0], rho[:0]
			gn := math.Sqrt(dot(g, g))
			if gn == 0 {
				break
			}
			for i := range d {
				d[i] = -g[i] / gn
			}
			dg = dot(d, g)
		}
		step := 1.0
		var fn float64
		ok := false
		for h := 0; h < 50; h++ {
			for i := range xn {
				xn[i] = x[i] + step*d[i]
			}
			fn = f(xn, gn)
			if fn <= fx+1e-4*step*dg {
				ok = true
				break
			}
			step /= 2
		}
		if !ok {
			break
		}
		// update memory
		var sk, yk []float64
		if len(s) == mem {
			sk, yk = s[0], yv[0]
			s, yv, rho = s[1:], yv[1:], rho[1:]
		} else {
			sk, yk = make([]float64, p), make([]float64, p)
		}
		for i := range sk {
			sk[i] = xn[i] - x[i]
			yk[i] = gn[i] - g[i]
		}
		if sy := dot(sk, yk); sy > 1e-12 {
			s, yv, rho = append(s, sk), append(yv, yk), append(rho, 1/sy)
		}
		improve := fx - fn
		copy(x, xn)
		copy(g, gn)
		fx = fn
		// one tiny step can be a poor line-search outcome; three in a row
		// mean the objective has flattened out
		if improve < tol*math.Max(1, math.Abs(fx)) {
			small++
			if small == 3 {
				break
			}
		} else {
			small = 0
		}
	}
	return iter
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func axpy(a float64, x, y []float64) {
	for i, v := range x {
		y[i] += a * v
	}
}
