package learn

import (
	"math"
	"sort"

	"github.com/trailspark/trailspark/engine/errs"
)

// ProbClip bounds probabilities in LogLoss so a confident mistake costs
// −log(1e-15) ≈ 34.5 instead of +Inf.
const ProbClip = 1e-15

func checkPairs(sname string, s []float64, y []bool) error {
	if len(s) == 0 {
		return errs.Invalid(sname, "empty", "at least one value is required")
	}
	if len(s) != len(y) {
		return errs.Invalid("y", "shape_mismatch", "y has %d labels but %s has %d values", len(y), sname, len(s))
	}
	for i, v := range s {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return errs.Invalid(fieldIdx(sname, i), "not_finite", "value %d is NaN or infinite", i)
		}
	}
	return nil
}

func checkProbs(probs []float64, y []bool) error {
	if err := checkPairs("probs", probs, y); err != nil {
		return err
	}
	for i, p := range probs {
		if p < 0 || p > 1 {
			return errs.Invalid(fieldIdx("probs", i), "out_of_range", "probability %d is %g, outside [0, 1]", i, p)
		}
	}
	return nil
}

// AUC is the ROC area under the curve: the probability that a random
// positive scores above a random negative, ties counting as half
// (Mann–Whitney U with mid-ranks). Needs at least one positive and one
// negative ("y", "one_class" otherwise).
func AUC(scores []float64, y []bool) (float64, error) {
	if err := checkPairs("scores", scores, y); err != nil {
		return 0, err
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var rankSumPos float64
	var nPos, nNeg float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // mean of 1-based ranks i+1..j
		for k := i; k < j; k++ {
			if y[idx[k]] {
				rankSumPos += mid
				nPos++
			} else {
				nNeg++
			}
		}
		i = j
	}
	if nPos == 0 || nNeg == 0 {
		return 0, errs.Invalid("y", "one_class", "AUC needs at least one positive and one negative label")
	}
	return (rankSumPos - nPos*(nPos+1)/2) / (nPos * nNeg), nil
}

// LogLoss is the mean negative log-likelihood of the labels, probabilities
// clipped to [ProbClip, 1−ProbClip].
func LogLoss(probs []float64, y []bool) (float64, error) {
	if err := checkProbs(probs, y); err != nil {
		return 0, err
	}
	s := 0.0
	for i, p := range probs {
		p = math.Min(math.Max(p, ProbClip), 1-ProbClip)
		if y[i] {
			s -= math.Log(p)
		} else {
			s -= math.Log1p(-p)
		}
	}
	return s / float64(len(probs)), nil
}

// Brier is the mean squared difference between probability and outcome (0/1).
func Brier(probs []float64, y []bool) (float64, error) {
	if err := checkProbs(probs, y); err != nil {
		return 0, err
	}
	s := 0.0
	for i, p := range probs {
		o := 0.0
		if y[i] {
			o = 1
		}
		s += (p - o) * (p - o)
	}
	return s / float64(len(probs)), nil
}

// Bin is one row of a reliability table.
type Bin struct {
	Lo            float64 `json:"lo"`
	Hi            float64 `json:"hi"`
	MeanPredicted float64 `json:"mean_predicted"`
	ObservedRate  float64 `json:"observed_rate"`
	Count         int     `json:"count"`
}

// Reliability splits [0, 1] into bins equal-width bins ([Lo, Hi), the last
// one closed) and reports the mean predicted probability and the observed
// positive rate in each. Every bin is returned, empty ones with Count 0 and
// zero means, so tables always have the same shape. bins must be 1–1000.
func Reliability(probs []float64, y []bool, bins int) ([]Bin, error) {
	if bins < 1 || bins > 1000 {
		return nil, errs.Invalid("bins", "out_of_range", "bins must be between 1 and 1000")
	}
	if err := checkProbs(probs, y); err != nil {
		return nil, err
	}
	out := make([]Bin, bins)
	sumP := make([]float64, bins)
	pos := make([]int, bins)
	for i := range out {
		out[i].Lo = float64(i) / float64(bins)
		out[i].Hi = float64(i+1) / float64(bins)
	}
	for i, p := range probs {
		b := int(p * float64(bins))
		if b >= bins {
			b = bins - 1
		}
		out[b].Count++
		sumP[b] += p
		if y[i] {
			pos[b]++
		}
	}
	for i := range out {
		if out[i].Count > 0 {
			out[i].MeanPredicted = sumP[i] / float64(out[i].Count)
			out[i].ObservedRate = float64(pos[i]) / float64(out[i].Count)
		}
	}
	return out, nil
}

// LiftTopDecile ranks by score and takes the top ⌈n/10⌉ rows. precision is
// the positive rate among them; lift is precision / overall positive rate.
// Ties straddling the cut-off are shared fairly: the tied group contributes
// its positive rate times the number of places left, so the result does not
// depend on input order. Needs at least one positive.
func LiftTopDecile(scores []float64, y []bool) (lift, precision float64, err error) {
	if err := checkPairs("scores", scores, y); err != nil {
		return 0, 0, err
	}
	n := len(scores)
	totalPos := 0
	for _, v := range y {
		if v {
			totalPos++
		}
	}
	if totalPos == 0 {
		return 0, 0, errs.Invalid("y", "one_class", "lift needs at least one positive label")
	}
	k := (n + 9) / 10
	sorted := append([]float64(nil), scores...)
	sort.Sort(sort.Reverse(sort.Float64Slice(sorted)))
	cut := sorted[k-1]
	above, abovePos, tied, tiedPos := 0, 0, 0, 0
	for i, s := range scores {
		switch {
		case s > cut:
			above++
			if y[i] {
				abovePos++
			}
		case s == cut:
			tied++
			if y[i] {
				tiedPos++
			}
		}
	}
	hits := float64(abovePos) + float64(tiedPos)*float64(k-above)/float64(tied)
	precision = hits / float64(k)
	base := float64(totalPos) / float64(n)
	return precision / base, precision, nil
}
