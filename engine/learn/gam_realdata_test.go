package learn_test

import (
	"math"
	"os"
	"testing"

	"github.com/trailspark/trailspark/engine/dataset"
	"github.com/trailspark/trailspark/engine/learn"
)

// features converts a dataset table into learn's columnar features.
func features(t *dataset.Table) []learn.Feature {
	out := make([]learn.Feature, len(t.Columns))
	for j, c := range t.Columns {
		f := learn.Feature{Name: c.Name, Levels: c.Levels}
		if c.Kind == dataset.Numeric {
			f.Kind, f.Num = learn.NumericFeature, c.Num
		} else {
			f.Kind, f.Cat = learn.CategoricalFeature, c.Cat
		}
		out[j] = f
	}
	return out
}

func readXEducation(t testing.TB, exclude []string) *dataset.Table {
	t.Helper()
	path := learn.SharedData(t, "x_education_leads", "Leads.csv")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("dataset absent: %v", err)
	}
	defer f.Close()
	tab, err := dataset.Read(f, dataset.Options{Label: "Converted", Exclude: exclude})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

var leakyXEducation = []string{"Tags", "Lead Quality", "Last Activity", "Last Notable Activity"}

// TestRealDataXEducationGAM is the quality target of the backtest: on the
// X Education leads without the columns filled in after sales contact,
// stratified 5-fold CV, the GAM must reach AUC ≥ 0.880 and Brier ≤ 0.135
// and beat the plain one-hot logistic baseline.
func TestRealDataXEducationGAM(t *testing.T) {
	if testing.Short() {
		t.Skip("real-data CV is slow under -short")
	}
	tab := readXEducation(t, leakyXEducation)
	gam, base := gamAndBaseline(t, tab)
	if gam.AUC.Mean < 0.880 {
		t.Errorf("GAM AUC %.4f < 0.880", gam.AUC.Mean)
	}
	if gam.Brier.Mean > 0.135 {
		t.Errorf("GAM Brier %.4f > 0.135", gam.Brier.Mean)
	}
	if gam.AUC.Mean <= base.AUC.Mean || gam.Brier.Mean >= base.Brier.Mean {
		t.Errorf("GAM (AUC %.4f, Brier %.4f) does not beat the baseline (AUC %.4f, Brier %.4f)",
			gam.AUC.Mean, gam.Brier.Mean, base.AUC.Mean, base.Brier.Mean)
	}
}

// TestRealDataXEducationLeaky keeps the four columns filled in after sales
// contact. The scores are meaningless for prioritising new leads; the test
// documents how far leakage inflates the numbers (it must, or the
// exclusion above would be pointless).
func TestRealDataXEducationLeaky(t *testing.T) {
	if testing.Short() {
		t.Skip("real-data CV is slow under -short")
	}
	tab := readXEducation(t, nil)
	gam, _ := gamAndBaseline(t, tab)
	if gam.AUC.Mean < 0.95 {
		t.Errorf("leaky GAM AUC %.4f: expected leakage to push it above 0.95", gam.AUC.Mean)
	}
}

// TestRealDataMavenPipeline: the Maven CRM opportunities (a fabricated
// teaching set). Open stages are skipped as unlabelled; close_value is 0
// for every lost deal, so it leaks; without it the remaining columns
// (agent, product, account) carry no signal, and the GAM must not pretend
// otherwise: its log loss may not be worse than always predicting the base
// rate by more than 0.01.
func TestRealDataMavenPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("real-data CV is slow under -short")
	}
	path := learn.SharedData(t, "maven_crm_sales_opportunities", "sales_pipeline.csv")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("dataset absent: %v", err)
	}
	defer f.Close()
	tab, err := dataset.Read(f, dataset.Options{Label: "deal_stage", Exclude: []string{"close_value"}})
	if err != nil {
		t.Fatal(err)
	}
	if tab.Unlabelled == 0 || tab.Date == nil {
		t.Fatalf("open stages skipped: %d, date column %+v", tab.Unlabelled, tab.Date)
	}
	gam, _ := gamAndBaseline(t, tab)
	p := gam.BaseRate
	constLL := -(p*math.Log(p) + (1-p)*math.Log(1-p))
	if gam.LogLoss.Mean > constLL+0.01 {
		t.Errorf("GAM log loss %.4f, base-rate-only %.4f: overfitting noise", gam.LogLoss.Mean, constLL)
	}
}

func gamAndBaseline(t *testing.T, tab *dataset.Table) (gam, base *learn.QualityReport) {
	t.Helper()
	feats := features(tab)
	folds, err := learn.StratifiedKFold(tab.Y, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	gam, err = learn.CrossValidate("gam", "stratified 5-fold", feats, tab.Y, folds, func(tr []learn.Feature, y []bool, fold int) (func([]learn.Feature) ([]float64, error), string, error) {
		a, err := learn.FitGAMAuto(tr, y, learn.AutoGAMOptions{Seed: uint64(fold + 1)})
		if err != nil {
			return nil, "", err
		}
		return a.Model.PredictRows, "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	base, err = learn.CrossValidate("one-hot logistic", "stratified 5-fold", feats, tab.Y, folds, func(tr []learn.Feature, y []bool, _ int) (func([]learn.Feature) ([]float64, error), string, error) {
		m, err := learn.FitOneHot(tr, y, 1)
		if err != nil {
			return nil, "", err
		}
		return m.PredictRows, "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*learn.QualityReport{gam, base} {
		t.Logf("%-18s AUC %.4f ± %.4f  log loss %.4f  Brier %.4f ± %.4f  lift %.2f  precision %.3f",
			r.Model, r.AUC.Mean, r.AUC.SD, r.LogLoss.Mean, r.Brier.Mean, r.Brier.SD, r.Lift.Mean, r.Precision.Mean)
	}
	return gam, base
}
