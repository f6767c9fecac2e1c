package score

import (
	"fmt"
	"math"
	"sort"
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
	Now          time.Time
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

type intentAgg struct {
	sum    float64
	count  int
	latest time.Duration // age of the most recent signal
}

// Evaluate scores one lead. Deterministic: the same Input gives the same
// Evaluation, byte for byte. Never returns NaN or Inf: non-finite values
// and weights count as 0 and every contribution is clamped to ±MaxPoints.
func Evaluate(in Input) Evaluation {
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

	ev := Evaluation{ModelVersion: in.Model.Version, EvaluatedAt: in.Now}
	ev.Intercept = clampPoints(in.Model.Intercept)
	ev.Contributions = make([]Contribution, 0, len(in.Fit)+4)

	logit := ev.Intercept
	fitKnown := 0
	for _, f := range in.Fit {
		v := finite(f.Value)
		if v != 0 {
			fitKnown++
		}
		p := clampPoints(finite(in.Model.Weights[f.Name]) * v)
		label := f.Label
		if label == "" {
			label = f.Name
		}
		ev.Contributions = append(ev.Contributions, Contribution{Feature: f.Name, Kind: KindFit, Value: v, Points: p, Label: label})
		logit += p
	}
	fitLogit := logit

	aggs := map[string]*intentAgg{}
	var types []string
	nSignals := 0
	for _, s := range in.Signals {
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
		a := aggs[s.Type]
		if a == nil {
			a = &intentAgg{latest: age}
			aggs[s.Type] = a
			types = append(types, s.Type)
		}
		a.sum += Decay(s.Weight, age, hl, lookback)
		a.count++
		if age < a.latest {
			a.latest = age
		}
		nSignals++
	}
	sort.Strings(types)
	intentLogit := 0.0
	for _, typ := range types {
		a := aggs[typ]
		v := finite(a.sum)
		p := clampPoints(finite(in.Model.Weights[typ]) * v)
		ev.Contributions = append(ev.Contributions, Contribution{
			Feature: typ, Kind: KindIntent, Value: v, Points: p, Label: intentLabel(in.SignalLabels, typ, a),
		})
		logit += p
		intentLogit += p
	}

	ev.Logit = logit
	ev.Probability = sigmoid(logit)
	ev.Score = int(math.Round(100 * ev.Probability))
	ev.FitScore = int(math.Round(100 * sigmoid(fitLogit)))
	ev.IntentScore = int(math.Round(100 * math.Max(0, 2*sigmoid(intentLogit)-1)))

	if in.FitKnown > 0 {
		fitKnown = in.FitKnown
	}
	ratio := func(n, min int) float64 { return math.Min(1, float64(n)/float64(min)) }
	conf := (ratio(nSignals, set.MinSignals) + ratio(len(types), set.MinSignalTypes) + ratio(fitKnown, expFit)) / 3
	ev.Confidence = int(math.Round(100 * conf))

	// Grade on the score people see (the rounded probability), so a lead
	// shown as 60 is never called warm by a hot threshold of 0.6.
	ev.ModelGrade = th.Grade(float64(ev.Score) / 100)
	ev.Grade = ev.ModelGrade
	if ev.Confidence < set.MinConfidence && ev.ModelGrade != GradeCold {
		ev.Grade = GradeCold
		ev.HeldBack = true
	}

	for _, c := range ev.Contributions {
		if c.Kind == KindIntent && c.Points > 0 {
			ev.TopSignals = append(ev.TopSignals, c)
		}
	}
	sortByPoints(ev.TopSignals, true)
	if len(ev.TopSignals) > MaxTopSignals {
		ev.TopSignals = ev.TopSignals[:MaxTopSignals]
	}
	ev.Reasoning = reasoning(ev, set)
	return ev
}

// sortByPoints orders by points (descending when desc, else ascending),
// ties by feature name, then kind, so the order never depends on input order.
func sortByPoints(cs []Contribution, desc bool) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.Points != b.Points {
			if desc {
				return a.Points > b.Points
			}
			return a.Points < b.Points
		}
		if a.Feature != b.Feature {
			return a.Feature < b.Feature
		}
		return a.Kind < b.Kind
	})
}

func intentLabel(labels map[string]string, typ string, a *intentAgg) string {
	name := labels[typ]
	if name == "" {
		name = typ
	}
	days := int(a.latest / (24 * time.Hour))
	when := "today"
	switch {
	case days == 1:
		when = "1 day ago"
	case days > 1:
		when = fmt.Sprintf("%d days ago", days)
	}
	if a.count == 1 {
		return name + " " + when
	}
	return fmt.Sprintf("%s %d times, last %s", name, a.count, when)
}

func formatPoints(p float64) string {
	return strings.Replace(fmt.Sprintf("%+.1f", p), "-", "\u2212", 1)
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

// reasoning builds the text from the evaluation alone:
//
//	Hot (score 82): VP of Sales (+1.2); demo requested 2 days ago (+0.9). Held back by: free-mail address (−0.4).
//
// Up to MaxReasons positive and MaxDetractors negative contributions of at
// least MinReasonPoints, largest first. When the grade was held back for
// low confidence the header says so and which grade the model gave.
func reasoning(ev Evaluation, set Settings) string {
	var b strings.Builder
	b.WriteString(gradeWord(ev.Grade))
	fmt.Fprintf(&b, " (score %d", ev.Score)
	if ev.HeldBack {
		fmt.Fprintf(&b, "; held back from %s: confidence %d%% is below the %d%% minimum", ev.ModelGrade, ev.Confidence, set.MinConfidence)
	}
	b.WriteString("): ")
	var pos, neg []Contribution
	for _, c := range ev.Contributions {
		switch {
		case c.Points >= MinReasonPoints:
			pos = append(pos, c)
		case c.Points <= -MinReasonPoints:
			neg = append(neg, c)
		}
	}
	sortByPoints(pos, true)
	sortByPoints(neg, false)
	if len(pos) == 0 {
		b.WriteString("no strong positive factors")
	}
	for i, c := range pos {
		if i == MaxReasons {
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.Label + " (" + formatPoints(c.Points) + ")")
	}
	b.WriteString(".")
	if len(neg) > 0 {
		b.WriteString(" Held back by: ")
		for i, c := range neg {
			if i == MaxDetractors {
				break
			}
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(c.Label + " (" + formatPoints(c.Points) + ")")
		}
		b.WriteString(".")
	}
	return b.String()
}
