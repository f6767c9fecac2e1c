package refine

import (
	"math"
	"testing"

	"github.com/trailspark/trailspark/engine/score"
)

func TestTargetFor(t *testing.T) {
	t.Parallel()
	th := score.DefaultThresholds
	for _, c := range []struct {
		g    score.Grade
		want float64
	}{{score.GradeHot, 0.8}, {score.GradeWarm, 0.45}, {score.GradeCold, 0.15}} {
		if got := TargetFor(c.g, th); math.Abs(got-c.want) > 1e-12 || th.Grade(got) != c.g {
			t.Errorf("%s: target %v (grade %s), want %v", c.g, got, th.Grade(got), c.want)
		}
	}
}

// Feedback moves the scores of the leads concerned towards their expected
// grade; the pull towards the current weights keeps untouched features put.
func TestFitMovesTowardsFeedback(t *testing.T) {
	t.Parallel()
	w := map[string]float64{"form_fill": 0.25, "industry=education": 0.5, "seniority=vp": 0.8}
	b := -2.5
	ex := []Example{
		{Values: map[string]float64{"industry=education": 1, "form_fill": 5}, Target: TargetFor(score.GradeCold, score.Thresholds{})},
		{Values: map[string]float64{"industry=education": 1, "form_fill": 4}, Target: TargetFor(score.GradeCold, score.Thresholds{})},
	}
	res, err := Fit(b, w, ex, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ex {
		before, after := Logit(b, w, e.Values), Logit(res.Intercept, res.Weights, e.Values)
		if after >= before {
			t.Errorf("logit %v → %v: should drop towards cold", before, after)
		}
	}
	if res.Weights["seniority=vp"] != 0.8 {
		t.Errorf("an unrelated feature moved: %v", res.Weights["seniority=vp"])
	}
	if res.Weights["industry=education"] >= 0.5 {
		t.Errorf("the detracting feature did not lose weight: %v", res.Weights["industry=education"])
	}
	// A stronger pull keeps the model closer to where it was.
	strong, err := Fit(b, w, ex, Options{Lambda: 100})
	if err != nil {
		t.Fatal(err)
	}
	if d1, d2 := math.Abs(strong.Weights["form_fill"]-0.25), math.Abs(res.Weights["form_fill"]-0.25); d1 >= d2 {
		t.Errorf("lambda 100 moved form_fill by %v, lambda 1 by %v", d1, d2)
	}
}

func TestFitRejectsBadInput(t *testing.T) {
	t.Parallel()
	if _, err := Fit(0, nil, nil, Options{}); err == nil {
		t.Error("no examples: want an error")
	}
	if _, err := Fit(0, nil, []Example{{Values: map[string]float64{"a": 1}, Target: 1}}, Options{}); err == nil {
		t.Error("target 1: want an error")
	}
	if _, err := Fit(0, nil, []Example{{Values: map[string]float64{"a": 1}, Target: 0.5}}, Options{Lambda: -1}); err == nil {
		t.Error("negative lambda: want an error")
	}
}
