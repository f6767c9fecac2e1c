package score

// legacy_test.go keeps the original map-and-fmt implementation of Evaluate
// (before the Evaluator) as a reference: the property tests check that the
// Evaluator gives byte-for-byte the same evaluations.

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

type legacyIntentAgg struct {
	sum    float64
	count  int
	latest time.Duration // age of the most recent signal
}

// legacyEvaluate is Evaluate as it was before the Evaluator.
func legacyEvaluate(in Input) Evaluation {
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

	aggs := map[string]*legacyIntentAgg{}
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
			a = &legacyIntentAgg{latest: age}
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
			Feature: typ, Kind: KindIntent, Value: v, Points: p, Label: legacyIntentLabel(in.SignalLabels, typ, a),
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
	legacySortByPoints(ev.TopSignals, true)
	if len(ev.TopSignals) > MaxTopSignals {
		ev.TopSignals = ev.TopSignals[:MaxTopSignals]
	}
	ev.Reasoning = legacyReasoning(ev, set)
	return ev
}

// legacySortByPoints orders by points (descending when desc, else ascending),
// ties by feature name, then kind, so the order never depends on input order.
func legacySortByPoints(cs []Contribution, desc bool) {
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

func legacyIntentLabel(labels map[string]string, typ string, a *legacyIntentAgg) string {
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

func legacyFormatPoints(p float64) string {
	return strings.Replace(fmt.Sprintf("%+.1f", p), "-", "\u2212", 1)
}

func legacyGradeWord(g Grade) string {
	switch g {
	case GradeHot:
		return "Hot"
	case GradeWarm:
		return "Warm"
	}
	return "Cold"
}

// legacyReasoning builds the text from the evaluation alone:
//
//	Hot (score 82): VP of Sales (+1.2); demo requested 2 days ago (+0.9). Held back by: free-mail address (−0.4).
//
// Up to MaxReasons positive and MaxDetractors negative contributions of at
// least MinReasonPoints, largest first. When the grade was held back for
// low confidence the header says so and which grade the model gave.
func legacyReasoning(ev Evaluation, set Settings) string {
	var b strings.Builder
	b.WriteString(legacyGradeWord(ev.Grade))
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
	legacySortByPoints(pos, true)
	legacySortByPoints(neg, false)
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
		b.WriteString(c.Label + " (" + legacyFormatPoints(c.Points) + ")")
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
			b.WriteString(c.Label + " (" + legacyFormatPoints(c.Points) + ")")
		}
		b.WriteString(".")
	}
	return b.String()
}
