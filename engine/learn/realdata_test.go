package learn

import (
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// TestRealDataXEducation fits on 80% of the public X Education leads and
// reports held-out quality. Columns that leak the outcome (Tags, Lead
// Quality, Last Activity, Last Notable Activity — all recorded after sales
// contact) are deliberately not used.
func TestRealDataXEducation(t *testing.T) {
	path := sharedData(t, "x_education_leads", "Leads.csv")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("dataset absent: %v", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := map[string]int{}
	for i, h := range recs[0] {
		head[h] = i
	}
	numeric := []string{"TotalVisits", "Total Time Spent on Website", "Page Views Per Visit"}
	categorical := []string{"Lead Origin", "Lead Source", "Do Not Email", "What is your current occupation", "A free copy of Mastering The Interview"}
	rows := recs[1:]
	// one-hot vocabulary: values seen at least 30 times (rest → no column)
	vocab := map[string]map[string]int{}
	col := len(numeric) // numeric columns first, each with a "missing" flag after
	col += len(numeric)
	for _, c := range categorical {
		counts := map[string]int{}
		for _, r := range rows {
			counts[r[head[c]]]++
		}
		vocab[c] = map[string]int{}
		// deterministic column order: walk rows in file order
		for _, r := range rows {
			v := r[head[c]]
			if _, ok := vocab[c][v]; !ok && counts[v] >= 30 {
				vocab[c][v] = col
				col++
			}
		}
	}
	X := make([][]float64, len(rows))
	y := make([]bool, len(rows))
	for i, r := range rows {
		x := make([]float64, col)
		for j, c := range numeric {
			v, err := strconv.ParseFloat(r[head[c]], 64)
			if err != nil || v < 0 {
				x[len(numeric)+j] = 1
				continue
			}
			x[j] = math.Log1p(v)
		}
		for _, c := range categorical {
			if k, ok := vocab[c][r[head[c]]]; ok {
				x[k] = 1
			}
		}
		X[i] = x
		y[i] = r[head["Converted"]] == "1"
	}
	perm := rand.New(rand.NewPCG(42, 42)).Perm(len(X))
	cut := len(X) * 8 / 10
	var trX, teX [][]float64
	var trY, teY []bool
	for k, i := range perm {
		if k < cut {
			trX, trY = append(trX, X[i]), append(trY, y[i])
		} else {
			teX, teY = append(teX, X[i]), append(teY, y[i])
		}
	}
	m, err := Fit(trX, trY, FitOptions{Lambda: 1})
	if err != nil {
		t.Fatal(err)
	}
	probs := make([]float64, len(teX))
	for i, x := range teX {
		probs[i] = m.Predict(x)
	}
	auc, _ := AUC(probs, teY)
	ll, _ := LogLoss(probs, teY)
	br, _ := Brier(probs, teY)
	lift, prec, _ := LiftTopDecile(probs, teY)
	rel, _ := Reliability(probs, teY, 10)
	t.Logf("X Education: %d features, train %d, test %d, %d Newton iterations", col, len(trX), len(teX), m.Iterations)
	t.Logf("held-out AUC %.4f  log loss %.4f  Brier %.4f  top-decile lift %.2f precision %.3f", auc, ll, br, lift, prec)
	for _, b := range rel {
		if b.Count > 0 {
			t.Logf("  [%.1f, %.1f) n=%4d predicted %.3f observed %.3f", b.Lo, b.Hi, b.Count, b.MeanPredicted, b.ObservedRate)
		}
	}
	if auc <= 0.75 {
		t.Errorf("held-out AUC %.4f ≤ 0.75", auc)
	}
}
