package score

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Grade is the reported temperature of a lead.
type Grade string

const (
	GradeHot  Grade = "hot"
	GradeWarm Grade = "warm"
	GradeCold Grade = "cold"
)

// Thresholds map a probability to a grade: p ≥ Hot is hot, p ≥ Warm is
// warm, anything lower is cold. The zero value means DefaultThresholds.
type Thresholds struct {
	Hot  float64 `json:"hot"`
	Warm float64 `json:"warm"`
}

// DefaultThresholds: hot ≥ 0.6, warm ≥ 0.3.
var DefaultThresholds = Thresholds{Hot: 0.6, Warm: 0.3}

// Grade returns the grade for probability p.
func (t Thresholds) Grade(p float64) Grade {
	switch {
	case p >= t.Hot:
		return GradeHot
	case p >= t.Warm:
		return GradeWarm
	}
	return GradeCold
}

const (
	// DefaultHalfLife applies to a signal type the model has no half-life for.
	DefaultHalfLife = 30 * 24 * time.Hour
	// MaxPoints bounds one contribution (and the intercept) to ±50 logits;
	// the probability saturates long before, and the bound keeps every sum
	// finite whatever the inputs.
	MaxPoints = 50
	// DefaultExpectedFit is how many non-zero fit features count as a
	// complete profile for confidence when Input.ExpectedFit is 0.
	DefaultExpectedFit = 3
	// MaxReasons / MaxDetractors / MaxTopSignals bound the reasoning text and
	// the top-signal list.
	MaxReasons    = 3
	MaxDetractors = 2
	MaxTopSignals = 3
	// MinReasonPoints: contributions smaller than this (in absolute logits)
	// are too small to mention (they would print as ±0.0).
	MinReasonPoints = 0.05
)

// Model is the scoring view of an ICP model version: a logistic model whose
// weights are keyed by feature name. Fit features are named by the caller
// (e.g. "industry=Software", "seniority=vp"); intent features are named by
// signal type (e.g. "demo_requested") and their value is the decayed sum of
// that type's signals.
type Model struct {
	Version   string                   `json:"version"`
	Intercept float64                  `json:"intercept"`
	Weights   map[string]float64       `json:"weights"`
	HalfLives map[string]time.Duration `json:"half_lives"` // per signal type
}

// FitFeature is one firmographic/persona feature value (0/1 for a one-hot
// attribute, or a number) with the human label used in reasoning.
type FitFeature struct {
	Name  string
	Value float64
	Label string // e.g. "VP of Sales"; empty: Name is used
}

// Signal is one mapped behavioural signal.
type Signal struct {
	Type   string
	Weight float64 // the mapping rule's weight (1 for a plain occurrence)
	At     time.Time
	// HalfLife is the mapping rule's half-life, used when the model sets
	// none for the type (zero: DefaultHalfLife).
	HalfLife time.Duration
}

// Input is everything one evaluation needs.
type Input struct {
	Model        Model
	Fit          []FitFeature
	Signals      []Signal
	SignalLabels map[string]string // signal type → "demo requested"; empty: the type
	Settings     Settings          // zero minimums fall back to DefaultSettings
	Thresholds   Thresholds        // zero: DefaultThresholds
	ExpectedFit  int               // zero: DefaultExpectedFit
	// FitKnown is how many profile attributes are known (data
	// completeness for confidence); zero: the count of non-zero Fit values.
	FitKnown int
	Now      time.Time
}

// Kind says which sub-score a contribution belongs to.
type Kind string

const (
	KindFit    Kind = "fit"
	KindIntent Kind = "intent"
)

// Contribution is one feature's share of the logit: Points = weight × Value
// (clamped to ±MaxPoints). Intercept + Σ Points == Logit.
type Contribution struct {
	Feature string  `json:"feature"`
	Kind    Kind    `json:"kind"`
	Value   float64 `json:"value"`
	Points  float64 `json:"points"`
	Label   string  `json:"label"`
}

// Evaluation is the explained result of one evaluation.
type Evaluation struct {
	Grade Grade `json:"grade"`
	// ModelGrade is the grade the probability alone gives; it differs from
	// Grade only when HeldBack.
	ModelGrade  Grade   `json:"model_grade"`
	HeldBack    bool    `json:"held_back"`
	Score       int     `json:"score"` // round(100 × Probability)
	Probability float64 `json:"probability"`
	Logit       float64 `json:"logit"`
	Intercept   float64 `json:"intercept"`
	// FitScore = round(100 × σ(intercept + Σ fit points)): the probability
	// the profile alone gives, with no behaviour.
	FitScore int `json:"fit_score"`
	// IntentScore = round(100 × max(0, 2σ(Σ intent points) − 1)), i.e.
	// 100·tanh(x/2) floored at 0: no (or net negative) intent is 0, +1.1
	// logits ≈ 50, +3 logits ≈ 91.
	IntentScore int `json:"intent_score"`
	// Confidence (0–100) measures evidence, not model certainty: the mean of
	// three ratios, each capped at 1 — signals in the lookback window /
	// Settings.MinSignals, distinct signal types / Settings.MinSignalTypes,
	// non-zero fit features / ExpectedFit.
	Confidence    int            `json:"confidence"`
	Contributions []Contribution `json:"contributions"`
	TopSignals    []Contribution `json:"top_signals"`
	Reasoning     string         `json:"reasoning"`
	ModelVersion  string         `json:"model_version"`
	EvaluatedAt   time.Time      `json:"evaluated_at"`
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func clampPoints(v float64) float64 {
	return math.Max(-MaxPoints, math.Min(MaxPoints, finite(v)))
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// Evaluate scores one lead. Deterministic: the same Input gives the same
// Evaluation, byte for byte. Never returns NaN or Inf: non-finite values
// and weights count as 0 and every contribution is clamped to ±MaxPoints.
// It is Explain on a fresh Evaluator and Evaluation: every call allocates
// the result. Use an Evaluator to evaluate many leads without allocating.
func Evaluate(in Input) Evaluation {
	// Scratch sized for a typical lead, so that it seldom grows.
	e := Evaluator{
		aggs: make([]typeAgg, 0, min(len(in.Signals), linearTypes)),
		pos:  make([]Contribution, 0, 2*MaxReasons),
		neg:  make([]Contribution, 0, 2*MaxReasons),
		buf:  make([]byte, 0, 512),
	}
	var ev Evaluation
	e.Explain(&in, &ev)
	return ev
}

// Evaluator evaluates leads reusing memory: its own scratch space and the
// slices of the Evaluation it writes into, so that in steady state
// Evaluator.Evaluate allocates nothing. The zero value is ready to use. An
// Evaluator is not safe for concurrent use (give each goroutine its own),
// and it keeps no state between calls that can change a result.
type Evaluator struct {
	aggs []typeAgg      // per signal type, for the current call
	idx  map[string]int // signal type → aggs index, once there are many types
	// spareTop parks the TopSignals backing array of an evaluation that has
	// no top signal (its TopSignals must then be nil, as Evaluate returns),
	// for the next evaluation that has some.
	spareTop []Contribution
	pos, neg []Contribution // reasoning scratch
	buf      []byte         // label and reasoning scratch
}

// typeAgg aggregates one signal type's signals.
type typeAgg struct {
	typ    string
	sum    float64
	count  int
	latest time.Duration // age of the most recent signal
}

// linearTypes: up to this many signal types a linear scan finds a type's
// aggregate faster than a map; beyond, Evaluator.idx indexes them.
const linearTypes = 16

// Evaluate scores in into out with the same numbers as the package-level
// Evaluate — grade, scores, probability, logit, confidence, contributions
// and top signals, bit for bit — but without the text: out.Reasoning is
// empty and an intent contribution's Label is the signal type's display
// name (SignalLabels[type], else the type) without the "2 times, last 3
// days ago" recency that only text needs. Use Explain for both.
//
// out's slices (Contributions, TopSignals) are reused: the previous
// evaluation held in out is overwritten, so copy it (slices included)
// first to keep it. Everything else in out is replaced. In steady state
// (out and e reused, inputs of similar size) it allocates nothing.
func (e *Evaluator) Evaluate(in *Input, out *Evaluation) {
	e.evaluate(in, out, false)
}

// Explain is Evaluate with the text: intent contributions are labelled
// with their recency ("demo requested 2 times, last today") and
// out.Reasoning is written. out then equals what the package-level
// Evaluate returns for *in. It allocates the label and reasoning strings
// only.
func (e *Evaluator) Explain(in *Input, out *Evaluation) {
	e.evaluate(in, out, true)
}

func (e *Evaluator) evaluate(in *Input, out *Evaluation, explain bool) {
	set := in.Settings.normalized()
	th := in.Thresholds
	if th == (Thresholds{}) {
		th = DefaultThresholds
	}
	expFit := in.ExpectedFit
	if expFit <= 0 {
		expFit = DefaultExpectedFit
	}
	lookback := set.Lookback()

	// Aggregate intent per signal type, in signal order (the sums add in
	// that order), then order the types by name.
	e.aggs = e.aggs[:0]
	nSignals := 0
	for i := range in.Signals {
		s := &in.Signals[i]
		age := in.Now.Sub(s.At)
		if age < -ClockSkew || age > lookback {
			continue
		}
		if age < 0 {
			age = 0
		}
		hl, ok := in.Model.HalfLives[s.Type]
		if !ok {
			hl = s.HalfLife
			if hl <= 0 {
				hl = DefaultHalfLife
			}
		}
		a := &e.aggs[e.find(s.Type, age)]
		a.sum += Decay(s.Weight, age, hl, lookback)
		a.count++
		if age < a.latest {
			a.latest = age
		}
		nSignals++
	}
	slices.SortFunc(e.aggs, func(a, b typeAgg) int { return strings.Compare(a.typ, b.typ) })

	contribs := out.Contributions[:0]
	if need := len(in.Fit) + len(e.aggs); contribs == nil || cap(contribs) < need {
		// Never nil, even when empty: it marshals as [], as it always has.
		contribs = make([]Contribution, 0, need)
	}
	intercept := clampPoints(in.Model.Intercept)
	logit := intercept
	fitKnown := 0
	for i := range in.Fit {
		f := &in.Fit[i]
		v := finite(f.Value)
		if v != 0 {
			fitKnown++
		}
		p := clampPoints(finite(in.Model.Weights[f.Name]) * v)
		label := f.Label
		if label == "" {
			label = f.Name
		}
		contribs = append(contribs, Contribution{Feature: f.Name, Kind: KindFit, Value: v, Points: p, Label: label})
		logit += p
	}
	fitLogit := logit

	intentLogit := 0.0
	for i := range e.aggs {
		a := &e.aggs[i]
		v := finite(a.sum)
		p := clampPoints(finite(in.Model.Weights[a.typ]) * v)
		label := in.SignalLabels[a.typ]
		if label == "" {
			label = a.typ
		}
		if explain {
			label = e.intentLabel(label, a)
		}
		contribs = append(contribs, Contribution{Feature: a.typ, Kind: KindIntent, Value: v, Points: p, Label: label})
		logit += p
		intentLogit += p
	}

	// Top signals: the MaxTopSignals largest positive intent contributions
	// (a stable insertion into a bounded list: the same as a stable sort
	// cut to MaxTopSignals).
	top := out.TopSignals[:0]
	if cap(top) == 0 && e.spareTop != nil {
		top, e.spareTop = e.spareTop[:0], nil
	}
	for i := len(in.Fit); i < len(contribs); i++ {
		c := &contribs[i]
		if c.Points <= 0 {
			continue
		}
		at := len(top)
		for at > 0 && cmpContribution(c, &top[at-1], true) < 0 {
			at--
		}
		if at >= MaxTopSignals {
			continue
		}
		if len(top) < MaxTopSignals {
			if cap(top) < MaxTopSignals {
				top = append(make([]Contribution, 0, MaxTopSignals), top...)
			}
			top = append(top, Contribution{})
		}
		copy(top[at+1:], top[at:len(top)-1])
		top[at] = *c
	}
	if len(top) == 0 {
		if cap(top) > 0 {
			e.spareTop = top
		}
		top = nil
	}

	if in.FitKnown > 0 {
		fitKnown = in.FitKnown
	}
	conf := (ratio(nSignals, set.MinSignals) + ratio(len(e.aggs), set.MinSignalTypes) + ratio(fitKnown, expFit)) / 3

	prob := sigmoid(logit)
	*out = Evaluation{
		Probability:   prob,
		Score:         int(math.Round(100 * prob)),
		Logit:         logit,
		Intercept:     intercept,
		FitScore:      int(math.Round(100 * sigmoid(fitLogit))),
		IntentScore:   int(math.Round(100 * math.Max(0, 2*sigmoid(intentLogit)-1))),
		Confidence:    int(math.Round(100 * conf)),
		Contributions: contribs,
		TopSignals:    top,
		ModelVersion:  in.Model.Version,
		EvaluatedAt:   in.Now,
	}
	// Grade on the score people see (the rounded probability), so a lead
	// shown as 60 is never called warm by a hot threshold of 0.6.
	out.ModelGrade = th.Grade(float64(out.Score) / 100)
	out.Grade = out.ModelGrade
	if out.Confidence < set.MinConfidence && out.ModelGrade != GradeCold {
		out.Grade = GradeCold
		out.HeldBack = true
	}
	if explain {
		e.buf = e.appendReasoning(e.buf[:0], out, set)
		out.Reasoning = string(e.buf)
	}
}

// find returns the index in e.aggs of typ's aggregate, adding one (most
// recent signal aged age) when typ is new.
func (e *Evaluator) find(typ string, age time.Duration) int {
	if len(e.aggs) <= linearTypes {
		for i := range e.aggs {
			if e.aggs[i].typ == typ {
				return i
			}
		}
	} else if i, ok := e.idx[typ]; ok {
		return i
	}
	e.aggs = append(e.aggs, typeAgg{typ: typ, latest: age})
	switch n := len(e.aggs); {
	case n == linearTypes+1: // from now on, index
		if e.idx == nil {
			e.idx = make(map[string]int, 2*linearTypes)
		}
		clear(e.idx)
		for i := range e.aggs {
			e.idx[e.aggs[i].typ] = i
		}
	case n > linearTypes+1:
		e.idx[typ] = n - 1
	}
	return len(e.aggs) - 1
}

func ratio(n, min int) float64 { return math.Min(1, float64(n)/float64(min)) }

// cmpContribution orders by points (descending when desc, else ascending),
// ties by feature name, then kind, so the order never depends on input
// order.
func cmpContribution(a, b *Contribution, desc bool) int {
	if a.Points != b.Points {
		if (a.Points > b.Points) == desc {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.Feature, b.Feature); c != 0 {
		return c
	}
	return strings.Compare(string(a.Kind), string(b.Kind))
}

func byPointsDesc(a, b Contribution) int { return cmpContribution(&a, &b, true) }
func byPointsAsc(a, b Contribution) int  { return cmpContribution(&a, &b, false) }

// intentLabel is name with the signal count and recency: "demo requested
// 2 days ago", "pricing viewed 3 times, last today".
func (e *Evaluator) intentLabel(name string, a *typeAgg) string {
	b := append(e.buf[:0], name...)
	if a.count != 1 {
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(a.count), 10)
		b = append(b, " times, last"...)
	}
	switch days := int(a.latest / (24 * time.Hour)); {
	case days == 1:
		b = append(b, " 1 day ago"...)
	case days > 1:
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(days), 10)
		b = append(b, " days ago"...)
	default:
		b = append(b, " today"...)
	}
	e.buf = b
	return string(b)
}

// appendPoints appends p as "+1.2" or "−0.4" (a minus sign, not a hyphen).
func appendPoints(b []byte, p float64) []byte {
	var tmp [32]byte
	s := strconv.AppendFloat(tmp[:0], p, 'f', 1, 64)
	if s[0] == '-' {
		return append(append(b, "\u2212"...), s[1:]...)
	}
	return append(append(b, '+'), s...)
}

func gradeWord(g Grade) string {
	switch g {
	case GradeHot:
		return "Hot"
	case GradeWarm:
		return "Warm"
	}
	return "Cold"
}

// appendReasoning appends the text built from the evaluation alone:
//
//	Hot (score 82): VP of Sales (+1.2); demo requested 2 days ago (+0.9). Held back by: free-mail address (−0.4).
//
// Up to MaxReasons positive and MaxDetractors negative contributions of at
// least MinReasonPoints, largest first. When the grade was held back for
// low confidence the header says so and which grade the model gave.
func (e *Evaluator) appendReasoning(b []byte, ev *Evaluation, set Settings) []byte {
	b = append(b, gradeWord(ev.Grade)...)
	b = append(b, " (score "...)
	b = strconv.AppendInt(b, int64(ev.Score), 10)
	if ev.HeldBack {
		b = append(b, "; held back from "...)
		b = append(b, ev.ModelGrade...)
		b = append(b, ": confidence "...)
		b = strconv.AppendInt(b, int64(ev.Confidence), 10)
		b = append(b, "% is below the "...)
		b = strconv.AppendInt(b, int64(set.MinConfidence), 10)
		b = append(b, "% minimum"...)
	}
	b = append(b, "): "...)
	pos, neg := e.pos[:0], e.neg[:0]
	for _, c := range ev.Contributions {
		switch {
		case c.Points >= MinReasonPoints:
			pos = append(pos, c)
		case c.Points <= -MinReasonPoints:
			neg = append(neg, c)
		}
	}
	slices.SortStableFunc(pos, byPointsDesc)
	slices.SortStableFunc(neg, byPointsAsc)
	if len(pos) == 0 {
		b = append(b, "no strong positive factors"...)
	}
	b = appendReasons(b, pos, MaxReasons)
	b = append(b, '.')
	if len(neg) > 0 {
		b = append(b, " Held back by: "...)
		b = appendReasons(b, neg, MaxDetractors)
		b = append(b, '.')
	}
	// Keep the scratch, but not references to this evaluation's labels.
	clear(pos)
	clear(neg)
	e.pos, e.neg = pos[:0], neg[:0]
	return b
}

// appendReasons appends up to max of cs as "label (+1.2); label (−0.4)".
func appendReasons(b []byte, cs []Contribution, max int) []byte {
	for i := range cs {
		if i == max {
			break
		}
		if i > 0 {
			b = append(b, "; "...)
		}
		b = append(b, cs[i].Label...)
		b = append(b, " ("...)
		b = appendPoints(b, cs[i].Points)
		b = append(b, ')')
	}
	return b
}
