package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func runBacktestCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newBacktestCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func backtestFile(name string) string { return filepath.Join("testdata", "backtest", name) }

// TestBacktestSmallCSV runs the whole command on a small spreadsheet-style
// export (BOM, semicolons, CRLF, quoted fields, "Select"/"N/A"
// placeholders, an ID column, a date column) and checks it reports what it
// discovered and every metric section.
func TestBacktestSmallCSV(t *testing.T) {
	out, err := runBacktestCmd(t, "--csv", backtestFile("leads.csv"), "--label", "converted", "--folds", "3", "--seed", "5")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"semicolon-separated, 400 data rows",
		`label "Converted": 400 rows used`,
		"Numeric (2): Visits",
		"Time on Site",
		"Categorical (2): Source",
		"rare pooled into (other)",
		"Lead ID [ID-like (name)]",
		"Created [date (not a feature)]",
		`"Select" ×`,
		`"N/A" ×`,
		"Date column for the time split: Created",
		"stratified 3-fold",
		"mean ± sd",
		"baseline (one-hot L2 logistic)",
		"Reliability of the GAM",
		"GAM vs baseline",
		"time split: latest 20% by Created",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
	again, err := runBacktestCmd(t, "--csv", backtestFile("leads.csv"), "--label", "converted", "--folds", "3", "--seed", "5")
	if err != nil || again != out {
		t.Errorf("a second run with the same seed printed something else (err %v)", err)
	}
}

func TestBacktestJSON(t *testing.T) {
	out, err := runBacktestCmd(t, "--csv", backtestFile("leads.csv"), "--label", "Converted", "--exclude", "Country", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Numeric  []string `json:"numeric"`
		Category []string `json:"categorical"`
		GAM      struct {
			Folds []struct{ AUC float64 } `json:"folds"`
			AUC   struct{ Mean, SD float64 }
			Brier struct{ Mean float64 }
		} `json:"gam"`
		Baseline struct {
			AUC struct{ Mean float64 }
		} `json:"baseline"`
		Discovery struct {
			Dropped []struct{ Name, Reason string } `json:"dropped"`
		} `json:"discovery"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(rep.GAM.Folds) != 5 {
		t.Errorf("%d folds, want the default 5", len(rep.GAM.Folds))
	}
	// the synthetic data has real signal (source, visits, time on site)
	if rep.GAM.AUC.Mean < 0.65 || rep.GAM.AUC.Mean > 1 || rep.Baseline.AUC.Mean < 0.6 {
		t.Errorf("AUC GAM %.3f baseline %.3f: want a clear signal", rep.GAM.AUC.Mean, rep.Baseline.AUC.Mean)
	}
	excluded := false
	for _, d := range rep.Discovery.Dropped {
		excluded = excluded || (d.Name == "Country" && d.Reason == "excluded")
	}
	if !excluded {
		t.Errorf("Country not reported as excluded: %+v", rep.Discovery.Dropped)
	}
	for _, c := range rep.Category {
		if c == "Country" {
			t.Error("excluded column used as a feature")
		}
	}
}

// TestBacktestBadCSV: every broken file is refused with a message naming
// where the problem is, so a user can fix the file.
func TestBacktestBadCSV(t *testing.T) {
	for _, tc := range []struct {
		file, label string
		want        []string
	}{
		{"wrong_delimiter.csv", "converted", []string{"line 1, column 1", "single column", "comma, semicolon and tab"}},
		{"missing_label.csv", "converted", []string{`label column "converted" not found`, `"source", "visits", "won"`}},
		{"ragged.csv", "converted", []string{"line 4:", "expected 3 fields", "found 4"}},
		{"bad_encoding.csv", "converted", []string{"line 3, column 4", "invalid UTF-8"}},
		{"bad_label.csv", "converted", []string{"line 4, column 3", `"maybe"`}},
		{"bad_quote.csv", "converted", []string{"line 3", "quote"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := runBacktestCmd(t, "--csv", backtestFile(tc.file), "--label", tc.label)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestBacktestFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no csv", []string{"--label", "x"}, "csv"},
		{"folds", []string{"--csv", backtestFile("leads.csv"), "--label", "Converted", "--folds", "1"}, "--folds"},
		{"unknown exclude", []string{"--csv", backtestFile("leads.csv"), "--label", "Converted", "--exclude", "Nope"}, `excluded column "Nope" not found`},
		{"absent file", []string{"--csv", backtestFile("absent.csv"), "--label", "Converted"}, "absent.csv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runBacktestCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
