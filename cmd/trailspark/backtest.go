package main

// `trailspark backtest` judges the scoring model offline against a labelled
// CSV (SPEC §3.6): it reads the file the way a user exported it, says what
// it discovered, cross-validates the additive model (GAM) and a plain
// one-hot logistic baseline, and prints held-out AUC, log loss, Brier, a
// reliability table and top-decile lift/precision. No server is involved.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/trailspark/trailspark/engine/dataset"
	"github.com/trailspark/trailspark/engine/learn"
)

// leakAUC: a single column that alone predicts the label this well on
// held-out rows is almost always filled in after the outcome.
const leakAUC = 0.95

func newBacktestCmd() *cobra.Command {
	var o backtestOpts
	cmd := &cobra.Command{
		Use:   "backtest --csv FILE --label COL",
		Short: "Back-test the scoring model on a labelled CSV (offline)",
		Long: `Back-test the scoring model on a labelled CSV, offline.

The CSV may use comma, semicolon or tab separators, quoted fields and a UTF-8
BOM. The label column may hold 1/0, yes/no, true/false, won/lost or
converted/not converted; empty cells and open stages (engaging, prospecting,
open …) are skipped. Placeholders such as "Select", "N/A", "-" are read as
missing; ID-like columns are dropped. Use --exclude for columns filled in
after the outcome (they leak it and make the scores meaningless).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f := cmd.Flags().Lookup("output"); f != nil && f.Value.String() == "json" {
				o.json = true
			}
			return runBacktest(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.csv, "csv", "", "labelled CSV file (required)")
	f.StringVar(&o.label, "label", "", "label column: the outcome to predict (required)")
	f.StringSliceVar(&o.exclude, "exclude", nil, "columns not to use, comma-separated (e.g. fields filled in after sales contact)")
	f.IntVar(&o.folds, "folds", 5, "cross-validation folds")
	f.Uint64Var(&o.seed, "seed", 1, "seed for the fold assignment and inner validation")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.StringVar(&o.date, "date", "", "date column for the time-based split (default: detected)")
	_ = cmd.MarkFlagRequired("csv")
	_ = cmd.MarkFlagRequired("label")
	return cmd
}

type backtestOpts struct {
	csv, label, date string
	exclude          []string
	folds            int
	seed             uint64
	json             bool
}

// backtestReport is the --json output.
type backtestReport struct {
	File      string               `json:"file"`
	Discovery *dataset.Table       `json:"discovery"`
	Numeric   []string             `json:"numeric"`
	Category  []string             `json:"categorical"`
	Warnings  []string             `json:"warnings,omitempty"`
	GAM       *learn.QualityReport `json:"gam"`
	Baseline  *learn.QualityReport `json:"baseline"`
	TimeGAM   *learn.QualityReport `json:"time_split_gam,omitempty"`
	TimeBase  *learn.QualityReport `json:"time_split_baseline,omitempty"`
	Strongest []featureStrength    `json:"strongest_features"`
}

type featureStrength struct {
	Name string `json:"name"`
	// MeanAbs is the mean |contribution| (logit units) over all rows of a
	// model fitted on every row.
	MeanAbs float64 `json:"mean_abs_contribution"`
}

func runBacktest(out, progress io.Writer, o backtestOpts) error {
	if o.folds < 2 || o.folds > 20 {
		return fmt.Errorf("--folds must be between 2 and 20")
	}
	f, err := os.Open(o.csv)
	if err != nil {
		return err
	}
	defer f.Close()
	tab, err := dataset.Read(f, dataset.Options{Label: o.label, Exclude: o.exclude, DateColumn: o.date})
	if err != nil {
		return fmt.Errorf("%s: %w", o.csv, err)
	}
	feats := toLearnFeatures(tab)
	rep := &backtestReport{File: o.csv, Discovery: tab}
	for _, c := range tab.Columns {
		if c.Kind == dataset.Numeric {
			rep.Numeric = append(rep.Numeric, c.Name)
		} else {
			rep.Category = append(rep.Category, c.Name)
		}
	}
	if !o.json {
		printDiscovery(out, o.csv, tab)
	}

	folds, err := learn.StratifiedKFold(tab.Y, o.folds, o.seed)
	if err != nil {
		return err
	}
	split := fmt.Sprintf("stratified %d-fold", o.folds)
	gamLearner := func(tr []learn.Feature, y []bool, fold int) (func([]learn.Feature) ([]float64, error), string, error) {
		fmt.Fprintf(progress, "backtest: GAM fold %d/%d…\n", fold+1, o.folds)
		a, err := learn.FitGAMAuto(tr, y, learn.AutoGAMOptions{Seed: o.seed*1000 + uint64(fold)})
		if err != nil {
			return nil, "", err
		}
		note := fmt.Sprintf("smooth=%g", a.Smooth)
		if a.Platt {
			note += " platt"
		}
		return a.Model.PredictRows, note, nil
	}
	baseLearner := func(tr []learn.Feature, y []bool, fold int) (func([]learn.Feature) ([]float64, error), string, error) {
		fmt.Fprintf(progress, "backtest: baseline fold %d/%d…\n", fold+1, o.folds)
		m, err := learn.FitOneHot(tr, y, 1)
		if err != nil {
			return nil, "", err
		}
		return m.PredictRows, "", nil
	}
	if rep.GAM, err = learn.CrossValidate("GAM (binned shapes, L2 logistic)", split, feats, tab.Y, folds, gamLearner); err != nil {
		return err
	}
	if rep.Baseline, err = learn.CrossValidate("baseline (one-hot L2 logistic)", split, feats, tab.Y, folds, baseLearner); err != nil {
		return err
	}
	if tab.Date != nil {
		if test, err := learn.TimeSplit(tab.Date.Days, 0.2); err == nil {
			ts := "time split: latest 20% by " + tab.Date.Name
			ok := true
			if rep.TimeGAM, err = learn.CrossValidate("GAM (binned shapes, L2 logistic)", ts, feats, tab.Y, [][]int{test}, gamLearner); err != nil {
				ok = false // e.g. one class in the newest rows: report and carry on
				rep.Warnings = append(rep.Warnings, "time split skipped: "+err.Error())
			}
			if ok {
				if rep.TimeBase, err = learn.CrossValidate("baseline (one-hot L2 logistic)", ts, feats, tab.Y, [][]int{test}, baseLearner); err != nil {
					return err
				}
			}
		} else {
			rep.Warnings = append(rep.Warnings, "time split skipped: "+err.Error())
		}
	}
	rep.Warnings = append(rep.Warnings, leakWarnings(feats, tab.Y, folds)...)
	if rep.Strongest, err = strongest(feats, tab.Y, o.seed); err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printReport(out, rep)
	return nil
}

func toLearnFeatures(t *dataset.Table) []learn.Feature {
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

// leakWarnings fits each column alone on the first fold's training rows
// and warns when it predicts the held-out rows almost perfectly.
func leakWarnings(feats []learn.Feature, y []bool, folds [][]int) []string {
	test := folds[0]
	inTest := make([]bool, len(y))
	for _, i := range test {
		inTest[i] = true
	}
	var train []int
	for i := range y {
		if !inTest[i] {
			train = append(train, i)
		}
	}
	trY, teY := learn.SubsetLabels(y, train), learn.SubsetLabels(y, test)
	var out []string
	for j := range feats {
		one := feats[j : j+1]
		m, err := learn.FitGAM(learn.Subset(one, train), trY, learn.GAMOptions{})
		if err != nil {
			continue
		}
		p, err := m.PredictRows(learn.Subset(one, test))
		if err != nil {
			continue
		}
		if auc, err := learn.AUC(p, teY); err == nil && auc >= leakAUC {
			out = append(out, fmt.Sprintf("possible leak: %q alone reaches held-out AUC %.3f — is it filled in after the outcome? If so, --exclude it", feats[j].Name, auc))
		}
	}
	return out
}

// strongest ranks features by mean |contribution| of a GAM fitted on every
// row: which columns move the score most (not a held-out measure).
func strongest(feats []learn.Feature, y []bool, seed uint64) ([]featureStrength, error) {
	a, err := learn.FitGAMAuto(feats, y, learn.AutoGAMOptions{Seed: seed})
	if err != nil {
		return nil, err
	}
	n := len(y)
	sums := make([]float64, len(feats))
	var dst []float64
	for i := 0; i < n; i++ {
		dst, _ = a.Model.Contributions(feats, i, dst)
		for j, c := range dst {
			sums[j] += math.Abs(c)
		}
	}
	out := make([]featureStrength, len(feats))
	for j := range feats {
		out[j] = featureStrength{Name: feats[j].Name, MeanAbs: sums[j] / float64(n)}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].MeanAbs > out[b].MeanAbs })
	return out, nil
}

func printDiscovery(w io.Writer, file string, t *dataset.Table) {
	fmt.Fprintf(w, "Backtest of %s (offline)\n\n", file)
	fmt.Fprintf(w, "Read: %s-separated, %d data rows; label %q: %d rows used, %d positive (%.1f%%)",
		dataset.DelimiterName(t.Delimiter), t.DataRows, t.Label, t.Rows(), t.Positives, 100*float64(t.Positives)/float64(t.Rows()))
	if t.Unlabelled > 0 {
		fmt.Fprintf(w, "; %d rows skipped without an outcome (%s)", t.Unlabelled, countList(t.OpenLabels, "(empty)"))
	}
	fmt.Fprintln(w)
	var num, cat []string
	for _, c := range t.Columns {
		miss := ""
		switch pct := 100 * float64(c.Missing) / float64(t.Rows()); {
		case c.Missing == 0:
		case pct < 1:
			miss = fmt.Sprintf(", %d missing", c.Missing)
		default:
			miss = fmt.Sprintf(", %.0f%% missing", pct)
		}
		if c.Kind == dataset.Numeric {
			num = append(num, fmt.Sprintf("%s%s", c.Name, miss))
		} else {
			pooled := ""
			if c.Pooled > 0 {
				pooled = fmt.Sprintf(", %d rare pooled into %s", c.Pooled, dataset.OtherLevel)
			}
			cat = append(cat, fmt.Sprintf("%s (%d levels%s%s)", c.Name, len(c.Levels), pooled, miss))
		}
	}
	fmt.Fprintf(w, "Numeric (%d): %s\n", len(num), orNone(num))
	fmt.Fprintf(w, "Categorical (%d): %s\n", len(cat), orNone(cat))
	var dropped []string
	for _, d := range t.Dropped {
		dropped = append(dropped, fmt.Sprintf("%s [%s]", d.Name, d.Reason))
	}
	fmt.Fprintf(w, "Not used (%d): %s\n", len(dropped), orNone(dropped))
	if len(t.Placeholders) > 0 {
		fmt.Fprintf(w, "Read as missing: %s\n", countList(t.Placeholders, ""))
	}
	if t.Date != nil {
		fmt.Fprintf(w, "Date column for the time split: %s\n", t.Date.Name)
	}
	fmt.Fprintln(w)
}

func countList(m map[string]int, emptyName string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if m[keys[a]] != m[keys[b]] {
			return m[keys[a]] > m[keys[b]]
		}
		return keys[a] < keys[b]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := fmt.Sprintf("%q", k)
		if k == "" && emptyName != "" {
			name = emptyName
		}
		parts[i] = fmt.Sprintf("%s ×%d", name, m[k])
	}
	return strings.Join(parts, ", ")
}

func orNone(v []string) string {
	if len(v) == 0 {
		return "none"
	}
	return strings.Join(v, "; ")
}

func printReport(w io.Writer, r *backtestReport) {
	for _, q := range []*learn.QualityReport{r.GAM, r.Baseline} {
		fmt.Fprintf(w, "%s — %s, %d rows, base rate %.3f\n", q.Model, q.Split, q.Rows, q.BaseRate)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "fold\ttrain\ttest\tAUC\tlog loss\tBrier\tlift@10%\tprec@10%\tchosen\t")
		for _, f := range q.Folds {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%.4f\t%.4f\t%.4f\t%.2f\t%.3f\t%s\t\n", f.Fold, f.Train, f.Test, f.AUC, f.LogLoss, f.Brier, f.Lift, f.Precision, f.Note)
		}
		fmt.Fprintf(tw, "mean ± sd\t\t\t%.4f ± %.4f\t%.4f ± %.4f\t%.4f ± %.4f\t%.2f ± %.2f\t%.3f ± %.3f\t\t\n",
			q.AUC.Mean, q.AUC.SD, q.LogLoss.Mean, q.LogLoss.SD, q.Brier.Mean, q.Brier.SD, q.Lift.Mean, q.Lift.SD, q.Precision.Mean, q.Precision.SD)
		tw.Flush()
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Reliability of the GAM (pooled out-of-fold predictions):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "predicted\trows\tmean predicted\tobserved\t")
	for _, b := range r.GAM.Reliability {
		if b.Count == 0 {
			continue
		}
		fmt.Fprintf(tw, "%.1f–%.1f\t%d\t%.3f\t%.3f\t\n", b.Lo, b.Hi, b.Count, b.MeanPredicted, b.ObservedRate)
	}
	tw.Flush()
	fmt.Fprintln(w)
	g, b := r.GAM, r.Baseline
	fmt.Fprintf(w, "GAM vs baseline: AUC %+.4f, Brier %+.4f, log loss %+.4f, top-decile lift %+.2f (GAM %.2f, precision %.3f)\n",
		g.AUC.Mean-b.AUC.Mean, g.Brier.Mean-b.Brier.Mean, g.LogLoss.Mean-b.LogLoss.Mean, g.Lift.Mean-b.Lift.Mean, g.Lift.Mean, g.Precision.Mean)
	if r.TimeGAM != nil && r.TimeBase != nil {
		fmt.Fprintf(w, "\n%s:\n", r.TimeGAM.Split)
		for _, q := range []*learn.QualityReport{r.TimeGAM, r.TimeBase} {
			f := q.Folds[0]
			fmt.Fprintf(w, "  %-34s train %d, test %d: AUC %.4f  log loss %.4f  Brier %.4f  lift@10%% %.2f  prec@10%% %.3f\n",
				q.Model, f.Train, f.Test, f.AUC, f.LogLoss, f.Brier, f.Lift, f.Precision)
		}
	}
	if len(r.Strongest) > 0 {
		var top []string
		for i, s := range r.Strongest {
			if i == 8 {
				break
			}
			top = append(top, fmt.Sprintf("%s %.2f", s.Name, s.MeanAbs))
		}
		fmt.Fprintf(w, "\nStrongest features (mean |logit contribution|, fitted on all rows): %s\n", strings.Join(top, ", "))
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "\nWARNING: %s\n", warn)
	}
}
