package score

import (
	"math"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/errs/errstest"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func sumCheck(t testing.TB, ev Evaluation) {
	t.Helper()
	s := ev.Intercept
	for _, c := range ev.Contributions {
		s += c.Points
	}
	if math.Abs(s-ev.Logit) > 1e-9 {
		t.Fatalf("intercept + Σ points = %.15g, logit = %.15g", s, ev.Logit)
	}
}

func TestDecay(t *testing.T) {
	hl := 14 * day
	lb := 90 * day
	cases := []struct {
		name string
		age  time.Duration
		want float64
	}{
		{"now", 0, 10},
		{"one half-life", hl, 5},
		{"two half-lives", 2 * hl, 2.5},
		{"small future skew counts fully", -time.Minute, 10},
		{"far future", -ClockSkew - time.Second, 0},
		{"edge of lookback", lb, 10 * math.Exp2(-90.0/14)},
		{"outside lookback", lb + time.Second, 0},
	}
	for _, c := range cases {
		if got := Decay(10, c.age, hl, lb); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: Decay = %v, want %v", c.name, got, c.want)
		}
	}
	if got := Decay(3, 400*day, 0, 0); got != 3 {
		t.Errorf("no half-life and no window: %v", got)
	}
	if got := Decay(math.Inf(1), 0, hl, lb); got != 0 {
		t.Errorf("infinite weight: %v", got)
	}
}

func baseModel() Model {
	return Model{
		Version:   "v3",
		Intercept: -2,
		Weights: map[string]float64{
			"seniority=vp": 1.2, "industry=Technology": 0.6, "email=free": -0.4,
			"demo_requested": 0.9, "pricing_viewed": 0.5, "unsubscribed": -1.5,
		},
		HalfLives: map[string]time.Duration{"demo_requested": 90 * day, "pricing_viewed": 14 * day},
	}
}

func TestContributionsSumExactly(t *testing.T) {
	cases := []struct {
		name string
		in   Input
	}{
		{"empty", Input{Model: baseModel(), Now: now}},
		{"fit only", Input{Model: baseModel(), Now: now, Fit: []FitFeature{{Name: "seniority=vp", Value: 1}, {Name: "email=free", Value: 1}}}},
		{"intent only", Input{Model: baseModel(), Now: now, Signals: []Signal{{Type: "demo_requested", Weight: 1, At: now.Add(-2 * day)}, {Type: "pricing_viewed", Weight: 1, At: now.Add(-20 * day)}}}},
		{"unknown features", Input{Model: baseModel(), Now: now, Fit: []FitFeature{{Name: "nope", Value: 3.3}}, Signals: []Signal{{Type: "mystery", Weight: 2, At: now}}}},
		{"numeric values", Input{Model: Model{Intercept: 0.1234567, Weights: map[string]float64{"a": 0.1, "b": 1e-7, "c": -3.3333333}}, Now: now,
			Fit: []FitFeature{{Name: "a", Value: 0.3}, {Name: "b", Value: 12345.678}, {Name: "c", Value: 0.7}}}},
		{"clamped", Input{Model: Model{Intercept: 1e300, Weights: map[string]float64{"a": 1e308}}, Now: now, Fit: []FitFeature{{Name: "a", Value: 1e10}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := Evaluate(c.in)
			sumCheck(t, ev)
			if want := int(math.Round(100 * ev.Probability)); ev.Score != want {
				t.Errorf("score %d, want %d", ev.Score, want)
			}
			if math.Abs(ev.Probability-1/(1+math.Exp(-ev.Logit))) > 1e-12 {
				t.Errorf("probability %v is not σ(%v)", ev.Probability, ev.Logit)
			}
		})
	}
}

func TestEvaluateIntentValues(t *testing.T) {
	ev := Evaluate(Input{Model: baseModel(), Now: now, Signals: []Signal{
		{Type: "pricing_viewed", Weight: 2, At: now.Add(-14 * day)}, // 2 × 0.5 = 1
		{Type: "pricing_viewed", Weight: 1, At: now},                // 1
		{Type: "pricing_viewed", Weight: 1, At: now.Add(-91 * day)}, // outside lookback
	}})
	if len(ev.Contributions) != 1 {
		t.Fatalf("contributions %+v", ev.Contributions)
	}
	c := ev.Contributions[0]
	if c.Kind != KindIntent || math.Abs(c.Value-2) > 1e-12 || math.Abs(c.Points-1) > 1e-12 {
		t.Errorf("contribution %+v", c)
	}
	if c.Label != "pricing_viewed 2 times, last today" {
		t.Errorf("label %q", c.Label)
	}
	// intent score: 100·(2σ(1)−1) = 46.2 → 46
	if ev.IntentScore != 46 || ev.FitScore != 12 { // σ(−2) = 0.119
		t.Errorf("fit %d intent %d", ev.FitScore, ev.IntentScore)
	}
}

func TestGradeBoundaries(t *testing.T) {
	th := DefaultThresholds
	cases := []struct {
		p    float64
		want Grade
	}{{0, GradeCold}, {0.2999999, GradeCold}, {0.3, GradeWarm}, {0.5999999, GradeWarm}, {0.6, GradeHot}, {1, GradeHot}}
	for _, c := range cases {
		if got := th.Grade(c.p); got != c.want {
			t.Errorf("Grade(%v) = %s, want %s", c.p, got, c.want)
		}
	}
	// Through Evaluate: logit chosen so p lands just on either side of 0.6.
	logit06 := math.Log(0.6 / 0.4)
	full := Input{Now: now} // zero MinConfidence: nothing is held back
	full.Model = Model{Intercept: logit06 + 1e-9}
	if g := Evaluate(full).Grade; g != GradeHot {
		t.Errorf("just above 0.6: %s", g)
	}
	// The grade follows the score people see: p = 0.597 shows 60, so hot;
	// p = 0.594 shows 59, so warm.
	full.Model = Model{Intercept: math.Log(0.597 / 0.403)}
	if ev := Evaluate(full); ev.Score != 60 || ev.Grade != GradeHot {
		t.Errorf("p 0.597: score %d grade %s, want 60 hot", ev.Score, ev.Grade)
	}
	full.Model = Model{Intercept: math.Log(0.594 / 0.406)}
	if ev := Evaluate(full); ev.Score != 59 || ev.Grade != GradeWarm {
		t.Errorf("p 0.594: score %d grade %s, want 59 warm", ev.Score, ev.Grade)
	}
}

func fullEvidence() Input {
	return Input{
		Model: baseModel(),
		Fit: []FitFeature{
			{Name: "seniority=vp", Value: 1, Label: "VP of Sales"},
			{Name: "industry=Technology", Value: 1, Label: "Technology company"},
			{Name: "email=free", Value: 1, Label: "free-mail address"},
		},
		Signals: []Signal{
			{Type: "demo_requested", Weight: 1, At: now.Add(-2 * day)},
			{Type: "pricing_viewed", Weight: 1, At: now.Add(-3 * time.Hour)},
			{Type: "pricing_viewed", Weight: 1, At: now.Add(-30 * day)},
		},
		SignalLabels: map[string]string{"demo_requested": "demo requested", "pricing_viewed": "pricing page viewed"},
		Settings:     DefaultSettings(),
		Now:          now,
	}
}

func TestConfidenceGating(t *testing.T) {
	in := fullEvidence()
	ev := Evaluate(in)
	if ev.Confidence != 100 || ev.HeldBack || ev.Grade != GradeHot {
		t.Fatalf("full evidence: confidence %d held %v grade %s (p %.3f)", ev.Confidence, ev.HeldBack, ev.Grade, ev.Probability)
	}
	// One signal, one type, one fit feature: (1/3 + 1/2 + 1/3)/3 = 0.3889 → 39%.
	in.Fit = in.Fit[:1]
	in.Signals = in.Signals[:1]
	in.Model.Intercept = 2
	ev = Evaluate(in)
	if ev.Confidence != 39 {
		t.Errorf("confidence %d, want 39", ev.Confidence)
	}
	if !ev.HeldBack || ev.Grade != GradeCold || ev.ModelGrade != GradeHot {
		t.Errorf("not held back: %+v", ev)
	}
	in.Settings.MinConfidence = 39
	if ev := Evaluate(in); ev.HeldBack || ev.Grade != GradeHot {
		t.Errorf("at the minimum should not be held back: %s", ev.Grade)
	}
	// A cold lead is never "held back".
	in.Settings.MinConfidence = 100
	in.Model.Intercept = -10
	if ev := Evaluate(in); ev.HeldBack || ev.Grade != GradeCold {
		t.Errorf("cold lead: %+v", ev)
	}
}

func TestReasoningGolden(t *testing.T) {
	ev := Evaluate(fullEvidence())
	// pricing: 1 + 0.5^(30/14) = 1.227 × 0.5 = 0.61 edges out Technology (0.6).
	want := "Hot (score 71): VP of Sales (+1.2); demo requested 2 days ago (+0.9); pricing page viewed 2 times, last today (+0.6). Held back by: free-mail address (\u22120.4)."
	if ev.Reasoning != want {
		t.Errorf("reasoning\n got %q\nwant %q", ev.Reasoning, want)
	}
	if len(ev.TopSignals) != 2 || ev.TopSignals[0].Feature != "demo_requested" || ev.TopSignals[1].Feature != "pricing_viewed" {
		t.Errorf("top signals %+v", ev.TopSignals)
	}
	// Input order does not change the text.
	in := fullEvidence()
	in.Fit[0], in.Fit[2] = in.Fit[2], in.Fit[0]
	in.Signals[0], in.Signals[2] = in.Signals[2], in.Signals[0]
	if got := Evaluate(in).Reasoning; got != want {
		t.Errorf("order-dependent reasoning %q", got)
	}

	held := fullEvidence()
	held.Fit = held.Fit[:1]
	held.Signals = held.Signals[:1]
	held.Model.Intercept = 2
	wantHeld := "Cold (score 98; held back from hot: confidence 39% is below the 70% minimum): VP of Sales (+1.2); demo requested 2 days ago (+0.9)."
	if got := Evaluate(held).Reasoning; got != wantHeld {
		t.Errorf("held reasoning\n got %q\nwant %q", got, wantHeld)
	}

	neg := Input{Model: baseModel(), Now: now, Signals: []Signal{{Type: "unsubscribed", Weight: 1, At: now.Add(-36 * time.Hour)}}}
	wantNeg := "Cold (score 3): no strong positive factors. Held back by: unsubscribed 1 day ago (\u22121.4)." // 1.5 × 0.5^(1.5/30)
	if got := Evaluate(neg).Reasoning; got != wantNeg {
		t.Errorf("negative reasoning\n got %q\nwant %q", got, wantNeg)
	}
}

func TestPropensity(t *testing.T) {
	cases := []struct {
		fit     float64
		intents []float64
		want    string
	}{
		{80, []float64{60}, HighPropensity},
		{60, []float64{50}, HighPropensity},
		{60, []float64{40, 30}, HighPropensity}, // 40 + 10 for a second engaged lead
		{59, []float64{90}, MediumPropensity},
		{80, nil, MediumPropensity},
		{10, []float64{30}, MediumPropensity},
		{39, []float64{29, 10}, LowPropensity},
		{math.NaN(), []float64{math.Inf(1)}, LowPropensity},
	}
	for _, c := range cases {
		if got := Propensity(c.fit, c.intents); got != c.want {
			t.Errorf("Propensity(%v, %v) = %s, want %s", c.fit, c.intents, got, c.want)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	errstest.NoErr(t, DefaultSettings().Validate())
	bad := DefaultSettings()
	bad.LookbackDays = 366
	errstest.Want(t, bad.Validate(), errs.KindInvalid, "out_of_range", "lookback_days")
	bad = DefaultSettings()
	bad.CooldownWarm = 0
	errstest.Want(t, bad.Validate(), errs.KindInvalid, "out_of_range", "cooldown_warm_hours")
	bad = DefaultSettings()
	bad.MinConfidence = 101
	errstest.Want(t, bad.Validate(), errs.KindInvalid, "out_of_range", "min_confidence")
}
