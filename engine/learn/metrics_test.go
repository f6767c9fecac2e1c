package learn

import (
	"math"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/errs/errstest"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.12g, want %.12g", name, got, want)
	}
}

func TestAUC(t *testing.T) {
	y := []bool{false, false, true, true}
	cases := []struct {
		name   string
		scores []float64
		want   float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, 1},
		{"inverted", []float64{0.9, 0.8, 0.2, 0.1}, 0},
		{"all tied is random", []float64{0.5, 0.5, 0.5, 0.5}, 0.5},
		// pairs (pos,neg): (0.8>0.1)(0.8>0.8 tie)(0.3>0.1)(0.3<0.8) → (1+0.5+1+0)/4
		{"partial with a tie", []float64{0.1, 0.8, 0.8, 0.3}, 0.625},
	}
	for _, c := range cases {
		got, err := AUC(c.scores, y)
		errstest.NoErr(t, err)
		near(t, c.name, got, c.want, 1e-12)
	}
	_, err := AUC([]float64{1, 2}, []bool{true, true})
	errstest.Want(t, err, errs.KindInvalid, "one_class", "y")
	_, err = AUC([]float64{1, 2}, []bool{true})
	errstest.Want(t, err, errs.KindInvalid, "shape_mismatch", "y")
}

func TestLogLossAndBrier(t *testing.T) {
	probs := []float64{0.9, 0.2, 0.6, 0.5}
	y := []bool{true, false, false, true}
	ll, err := LogLoss(probs, y)
	errstest.NoErr(t, err)
	want := -(math.Log(0.9) + math.Log(0.8) + math.Log(0.4) + math.Log(0.5)) / 4
	near(t, "logloss", ll, want, 1e-12)
	br, err := Brier(probs, y)
	errstest.NoErr(t, err)
	near(t, "brier", br, (0.01+0.04+0.36+0.25)/4, 1e-12) // 0.165
	// A confident miss is clipped, not infinite.
	ll, err = LogLoss([]float64{0}, []bool{true})
	errstest.NoErr(t, err)
	near(t, "clipped", ll, -math.Log(ProbClip), 1e-9)
	_, err = Brier([]float64{1.2}, []bool{true})
	errstest.Want(t, err, errs.KindInvalid, "out_of_range", "probs[0]")
}

func TestReliability(t *testing.T) {
	probs := []float64{0.05, 0.15, 0.45, 0.55, 0.95, 1.0}
	y := []bool{false, false, true, false, true, true}
	bins, err := Reliability(probs, y, 2)
	errstest.NoErr(t, err)
	if len(bins) != 2 {
		t.Fatalf("got %d bins", len(bins))
	}
	b0, b1 := bins[0], bins[1]
	if b0.Count != 3 || b1.Count != 3 || b0.Lo != 0 || b0.Hi != 0.5 || b1.Hi != 1 {
		t.Fatalf("bins %+v", bins)
	}
	near(t, "b0 mean", b0.MeanPredicted, (0.05+0.15+0.45)/3, 1e-12)
	near(t, "b0 obs", b0.ObservedRate, 1.0/3, 1e-12)
	near(t, "b1 mean", b1.MeanPredicted, (0.55+0.95+1.0)/3, 1e-12)
	near(t, "b1 obs", b1.ObservedRate, 2.0/3, 1e-12)
	bins, err = Reliability([]float64{0.05}, []bool{true}, 10)
	errstest.NoErr(t, err)
	if len(bins) != 10 || bins[0].Count != 1 || bins[5].Count != 0 || bins[5].MeanPredicted != 0 {
		t.Fatalf("empty bins not reported: %+v", bins)
	}
	_, err = Reliability(probs, y, 0)
	errstest.Want(t, err, errs.KindInvalid, "out_of_range", "bins")
}

func TestLiftTopDecile(t *testing.T) {
	// 20 rows, top decile = 2 rows; 4 positives overall (base 0.2).
	scores := make([]float64, 20)
	y := make([]bool, 20)
	for i := range scores {
		scores[i] = float64(i)
	}
	y[19], y[18], y[3], y[2] = true, true, true, true
	lift, prec, err := LiftTopDecile(scores, y)
	errstest.NoErr(t, err)
	near(t, "precision", prec, 1, 1e-12)
	near(t, "lift", lift, 5, 1e-12)
	// Ties across the cut-off are shared: all 10 tied, 4 positives → precision 0.4.
	tied := make([]float64, 10)
	ty := []bool{true, true, true, true, false, false, false, false, false, false}
	lift, prec, err = LiftTopDecile(tied, ty)
	errstest.NoErr(t, err)
	near(t, "tied precision", prec, 0.4, 1e-12)
	near(t, "tied lift", lift, 1, 1e-12)
	_, _, err = LiftTopDecile([]float64{1}, []bool{false})
	errstest.Want(t, err, errs.KindInvalid, "one_class", "y")
}

func TestWilson(t *testing.T) {
	// Known values (e.g. Newcombe 1998 / statsmodels proportion_confint method="wilson").
	cases := []struct {
		wins, n int
		lo, hi  float64
	}{
		{81, 263, 0.2553, 0.3662},
		{0, 10, 0, 0.2775},
		{10, 10, 0.7225, 1},
		{50, 100, 0.4038, 0.5962},
	}
	for _, c := range cases {
		rate, lo, hi := WinRate(c.wins, c.n)
		near(t, "rate", rate, float64(c.wins)/float64(c.n), 1e-12)
		near(t, "lo", lo, c.lo, 5e-5)
		near(t, "hi", hi, c.hi, 5e-5)
	}
	if lo, hi := Wilson(0, 0, Z95); lo != 0 || hi != 1 {
		t.Errorf("n=0 interval [%v, %v]", lo, hi)
	}
}

func TestInsights(t *testing.T) {
	var rows []Row
	add := func(ind, size string, won bool, k int) {
		for i := 0; i < k; i++ {
			rows = append(rows, Row{Attrs: map[string]string{"industry": ind, "size": size}, Won: won})
		}
	}
	add("Software", "51-200", true, 30)
	add("Software", "51-200", false, 10)
	add("Retail", "1-10", true, 10)
	add("Retail", "1-10", false, 30)
	add("Mining", "", true, 2) // tiny group, empty size skipped
	got := Insights(rows, 5)
	if len(got) != 4 {
		t.Fatalf("got %d insights: %+v", len(got), got)
	}
	base := 42.0 / 82
	if got[0].Attribute != "industry" || got[0].Value != "Software" || got[1].Attribute != "size" || got[1].Value != "51-200" {
		t.Errorf("order: %+v", got)
	}
	if got[3].Value != "1-10" || got[2].Value != "Retail" {
		t.Errorf("order tail: %+v", got)
	}
	near(t, "base", got[0].BaseRate, base, 1e-12)
	near(t, "rate", got[0].Rate, 0.75, 1e-12)
	near(t, "lift", got[0].Lift, 0.75/base, 1e-12)
	if got[0].N != 40 || got[0].Wins != 30 || !(got[0].Lo < 0.75 && got[0].Hi > 0.75) {
		t.Errorf("insight %+v", got[0])
	}
	if Insights(nil, 1) != nil {
		t.Error("nil rows should give nil")
	}
}
