package learn

import (
	"math"
	"sort"
)

// Z95 is the two-sided 95% normal quantile used by the Wilson interval.
const Z95 = 1.959963984540054

// Wilson returns the Wilson score interval for wins out of n at normal
// quantile z. n ≤ 0 gives the uninformative [0, 1].
func Wilson(wins, n int, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	nf := float64(n)
	p := float64(wins) / nf
	z2 := z * z
	den := 1 + z2/nf
	centre := (p + z2/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / den
	return math.Max(0, centre-half), math.Min(1, centre+half)
}

// WinRate returns wins/n and its Wilson 95% interval (rate 0 and [0, 1]
// when n ≤ 0).
func WinRate(wins, n int) (rate, lo, hi float64) {
	lo, hi = Wilson(wins, n, Z95)
	if n > 0 {
		rate = float64(wins) / float64(n)
	}
	return rate, lo, hi
}

// Row is one labelled record for insight analysis (e.g. an account and
// whether its opportunity was won).
type Row struct {
	Attrs map[string]string
	Won   bool
}

// Insight is a win rate for one attribute value against the base rate:
// "Software accounts win 71% vs 63% overall (n=1,420, 95% interval …)".
type Insight struct {
	Attribute string  `json:"attribute"`
	Value     string  `json:"value"`
	N         int     `json:"n"`
	Wins      int     `json:"wins"`
	Rate      float64 `json:"rate"`
	Lo        float64 `json:"lo"`
	Hi        float64 `json:"hi"`
	BaseRate  float64 `json:"base_rate"`
	// Lift is Rate / BaseRate (0 when the base rate is 0).
	Lift float64 `json:"lift"`
}

// Insights groups rows by every (attribute, value) pair — empty values are
// treated as missing and skipped — and returns groups with N ≥ minN sorted
// by lift, highest first (ties: larger N, then attribute, then value), so
// the strongest positive findings lead and the strongest detractors close.
// BaseRate is the win rate over all rows.
func Insights(rows []Row, minN int) []Insight {
	if len(rows) == 0 {
		return nil
	}
	type key struct{ a, v string }
	type agg struct{ n, w int }
	groups := map[key]*agg{}
	totalWins := 0
	for _, r := range rows {
		if r.Won {
			totalWins++
		}
		for a, v := range r.Attrs {
			if v == "" {
				continue
			}
			g := groups[key{a, v}]
			if g == nil {
				g = &agg{}
				groups[key{a, v}] = g
			}
			g.n++
			if r.Won {
				g.w++
			}
		}
	}
	base := float64(totalWins) / float64(len(rows))
	out := make([]Insight, 0, len(groups))
	for k, g := range groups {
		if g.n < minN {
			continue
		}
		rate, lo, hi := WinRate(g.w, g.n)
		lift := 0.0
		if base > 0 {
			lift = rate / base
		}
		out = append(out, Insight{Attribute: k.a, Value: k.v, N: g.n, Wins: g.w, Rate: rate, Lo: lo, Hi: hi, BaseRate: base, Lift: lift})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Lift != b.Lift {
			return a.Lift > b.Lift
		}
		if a.N != b.N {
			return a.N > b.N
		}
		if a.Attribute != b.Attribute {
			return a.Attribute < b.Attribute
		}
		return a.Value < b.Value
	})
	return out
}
