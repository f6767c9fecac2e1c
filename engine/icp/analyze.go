package icp

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/learn"
)

// Insight attributes (the account fields the analysis looks at).
const (
	AttrIndustry  = "industry"
	AttrEmployees = "employees"
	AttrRegion    = "region"
)

// Analysis units. See AnalyzeOptions.Unit.
const (
	UnitOpportunity = "opportunity"
	UnitAccount     = "account"
)

// DefaultSizeBands bucket employee counts for insights and the fitted
// employee ranges.
var DefaultSizeBands = []Range{{Min: 1, Max: 10}, {Min: 11, Max: 50}, {Min: 51, Max: 200}, {Min: 201, Max: 500},
	{Min: 501, Max: 1000}, {Min: 1001, Max: 5000}, {Min: 5001, Max: 10000}, {Min: 10001}}

// Defaults for AnalyzeOptions.
const (
	DefaultMinN         = 20
	DefaultMinAbsWeight = 0.01
)

// AnalyzeOptions configures the analysis.
type AnalyzeOptions struct {
	// Unit is what one training row is.
	//   "opportunity" (default): every won or lost opportunity matched to an
	//   account, carrying that account's attributes, labelled by its outcome.
	//   "account": every account with at least one won or lost opportunity,
	//   labelled won if any of its opportunities was won.
	// The account unit is the natural reading of "which accounts become
	// customers", but with a long sales history almost every account has
	// some win (all 85 Maven accounts do), so the base rate is ~100% and
	// nothing can be learnt; the opportunity unit uses every outcome and
	// weights accounts by how often they are sold to. Rejected alternatives:
	// labelling an account by its majority outcome (throws away the margin
	// and ties are arbitrary) and by its latest outcome (needs trustworthy
	// dates and discards history).
	Unit string
	// MinN is the smallest group an insight is reported for (0: DefaultMinN).
	MinN int
	// Disabled insight IDs are reported but left out of the fitted model.
	Disabled []string
	// OnlySignificant leaves insights whose interval contains the base rate
	// out of the model (they are still reported).
	OnlySignificant bool
	// Lambda is the L2 strength pulling weights towards the prior (0:
	// learn.DefaultLambda). Few rows stay near the prior; many rows win.
	Lambda float64
	// SizeBands replaces DefaultSizeBands when non-empty.
	SizeBands []Range
	// MinAbsWeight: fitted weights smaller in magnitude are left out of the
	// definition (0: DefaultMinAbsWeight). A criterion weight of exactly 0
	// would mean DefaultWeight, so tiny weights cannot be kept as they are.
	MinAbsWeight float64
	// WonStages and LostStages replace DefaultWonStages/DefaultLostStages.
	WonStages  []string
	LostStages []string
	// Import configures CSV reading for Analyze (its stage lists default to
	// the ones above).
	Import ImportOptions
}

// Insight is one attribute value's win rate against the base rate.
type Insight struct {
	ID        string  `json:"id"` // attribute ":" normalised value, stable across runs
	Attribute string  `json:"attribute"`
	Value     string  `json:"value"` // as first spelt in the data
	N         int     `json:"n"`
	Wins      int     `json:"wins"`
	Rate      float64 `json:"rate"`
	Lo        float64 `json:"lo"` // Wilson 95% interval
	Hi        float64 `json:"hi"`
	BaseRate  float64 `json:"base_rate"`
	Lift      float64 `json:"lift"`
	// Accounts is how many distinct accounts the N rows come from. With
	// the opportunity unit, rows of one account are not independent: an
	// interval from one or two accounts is narrower than the evidence.
	Accounts int `json:"accounts"`
	// Significant is false when the interval contains the base rate: the
	// difference is within noise.
	Significant bool   `json:"significant"`
	Text        string `json:"text"`
	// Enabled is false when the insight was switched off (or left out by
	// OnlySignificant); Weight is its fitted weight in logits (0 when not
	// in the model).
	Enabled bool    `json:"enabled"`
	Weight  float64 `json:"weight"`
}

// FitStats describe the training set and the fit.
type FitStats struct {
	Unit       string  `json:"unit"`
	Rows       int     `json:"rows"`
	Wins       int     `json:"wins"`
	BaseRate   float64 `json:"base_rate"`
	Features   int     `json:"features"`
	Iterations int     `json:"iterations"`
	Lambda     float64 `json:"lambda"`
}

// Analysis is the result of an upload or SparkSense analysis: insights,
// and a Definition built from the prior with fitted account criteria.
type Analysis struct {
	Insights   []Insight  `json:"insights"`
	Definition Definition `json:"definition"`
	Stats      FitStats   `json:"stats"`
	Preview    *Preview   `json:"preview,omitempty"` // set by Analyze
	Warnings   []string   `json:"warnings,omitempty"`
}

// Analyze reads an accounts CSV and an opportunities CSV and analyses them
// (AnalyzeRecords).
func Analyze(accountsCSV, oppsCSV io.Reader, prior Definition, opts AnalyzeOptions) (Analysis, error) {
	iopts := opts.Import
	if len(iopts.WonStages) == 0 {
		iopts.WonStages = opts.WonStages
	}
	if len(iopts.LostStages) == 0 {
		iopts.LostStages = opts.LostStages
	}
	imp, err := ReadCSVs(accountsCSV, oppsCSV, iopts)
	if err != nil {
		return Analysis{}, err
	}
	opts.WonStages, opts.LostStages = iopts.WonStages, iopts.LostStages
	a, err := AnalyzeRecords(imp.Accounts, imp.Opportunities, prior, opts)
	if err != nil {
		return Analysis{}, err
	}
	p := imp.Preview
	a.Preview = &p
	return a, nil
}

// feature is one one-hot column.
type feature struct {
	attr, key string // key: normalised value
	band      Range  // employees
}

// AnalyzeRecords is the analysis on records (upload or CRM connector):
// win rates per industry, employee band and region with Wilson intervals,
// then an L2 logistic regression on one-hot features of the enabled
// insights, shrunk towards the prior's weights for those features. The
// returned Definition is the prior with its industries, employee ranges
// and regions replaced by fitted criteria (negative weights become
// detractors), the fitted intercept, and the prior's other account
// criteria, personas, signals and thresholds kept. It passes Validate.
func AnalyzeRecords(accounts []AccountRecord, opps []OpportunityRecord, prior Definition, opts AnalyzeOptions) (Analysis, error) {
	unit := opts.Unit
	switch unit {
	case "":
		unit = UnitOpportunity
	case UnitOpportunity, UnitAccount:
	default:
		return Analysis{}, errs.Invalid("unit", "unknown_value", "unit must be %q or %q", UnitOpportunity, UnitAccount)
	}
	minN := opts.MinN
	if minN <= 0 {
		minN = DefaultMinN
	}
	lambda := opts.Lambda
	if math.IsNaN(lambda) || math.IsInf(lambda, 0) || lambda < 0 {
		return Analysis{}, errs.Invalid("lambda", "out_of_range", "lambda must be a finite number ≥ 0")
	}
	if lambda == 0 {
		lambda = learn.DefaultLambda
	}
	minW := opts.MinAbsWeight
	if minW <= 0 {
		minW = DefaultMinAbsWeight
	}
	bands := opts.SizeBands
	if len(bands) == 0 {
		bands = DefaultSizeBands
	}
	for i, b := range bands {
		if b.Min < 0 || (b.Max != 0 && b.Max < b.Min) {
			return Analysis{}, errs.Invalid(fmt.Sprintf("size_bands[%d]", i), "invalid_range", "min must be ≥ 0 and max (0 for no upper bound) ≥ min")
		}
	}
	j := joinRecords(accounts, opps, newStageClassifier(opts.WonStages, opts.LostStages))
	warnings := append([]string(nil), j.warnings...)

	// Attribute values per account (normalised keys) and display spellings.
	display := map[string]string{} // id → first spelling
	attrs := make([]map[string]string, len(accounts))
	bandOf := func(n int) (Range, bool) {
		for _, b := range bands {
			if n >= b.Min && (b.Max == 0 || n <= b.Max) {
				return Range{Min: b.Min, Max: b.Max}, true
			}
		}
		return Range{}, false
	}
	for i := range accounts {
		a := &accounts[i]
		m := map[string]string{}
		set := func(attr, raw string) {
			k := norm(raw)
			if k == "" || !utf8.ValidString(k) {
				return
			}
			m[attr] = k
			id := attr + ":" + k
			if _, ok := display[id]; !ok {
				display[id] = strings.Join(strings.Fields(raw), " ")
			}
		}
		set(AttrIndustry, a.Industry)
		set(AttrRegion, a.Region)
		if a.Employees != nil {
			if b, ok := bandOf(*a.Employees); ok {
				set(AttrEmployees, rangeName(b))
			}
		}
		attrs[i] = m
	}

	// Training rows.
	var rows []learn.Row
	accountsOf := map[string]map[int]bool{} // insight id → accounts
	count := func(ai int) {
		for a, v := range attrs[ai] {
			id := a + ":" + v
			if accountsOf[id] == nil {
				accountsOf[id] = map[int]bool{}
			}
			accountsOf[id][ai] = true
		}
	}
	switch unit {
	case UnitOpportunity:
		for i, ai := range j.accountOf {
			if ai < 0 || (j.outcome[i] != OutcomeWon && j.outcome[i] != OutcomeLost) {
				continue
			}
			rows = append(rows, learn.Row{Attrs: attrs[ai], Won: j.outcome[i] == OutcomeWon})
			count(ai)
		}
	case UnitAccount:
		closed := make([]int, len(accounts))
		won := make([]bool, len(accounts))
		for i, ai := range j.accountOf {
			if ai < 0 {
				continue
			}
			switch j.outcome[i] {
			case OutcomeWon:
				closed[ai]++
				won[ai] = true
			case OutcomeLost:
				closed[ai]++
			}
		}
		for i := range accounts {
			if closed[i] > 0 {
				rows = append(rows, learn.Row{Attrs: attrs[i], Won: won[i]})
				count(i)
			}
		}
	}
	if len(rows) == 0 {
		return Analysis{}, errs.Invalid("opportunities", "no_outcomes",
			"no won or lost opportunity is matched to an account: check the stage names (won: %v, lost: %v) and the account column", stagesOr(opts.WonStages, DefaultWonStages), stagesOr(opts.LostStages, DefaultLostStages))
	}
	wins := 0
	for _, r := range rows {
		if r.Won {
			wins++
		}
	}
	base := float64(wins) / float64(len(rows))
	if base >= 0.95 || base <= 0.05 {
		hint := ""
		if unit == UnitAccount {
			hint = "; with the account unit almost every account has some win — the opportunity unit is usually more informative"
		}
		warnings = append(warnings, fmt.Sprintf("the base win rate is %s, so there is little to learn from%s", pct(base), hint))
	}

	// Insights.
	disabled := map[string]bool{}
	for _, id := range opts.Disabled {
		disabled[strings.TrimSpace(id)] = true
	}
	raw := learn.Insights(rows, minN)
	var few []string
	ins := make([]Insight, 0, len(raw))
	present := map[string]bool{}
	for _, r := range raw {
		id := r.Attribute + ":" + r.Value
		present[id] = true
		in := Insight{ID: id, Attribute: r.Attribute, Value: display[id], N: r.N, Wins: r.Wins, Rate: r.Rate, Lo: r.Lo, Hi: r.Hi,
			BaseRate: r.BaseRate, Lift: r.Lift, Accounts: len(accountsOf[id])}
		in.Significant = !(r.Lo <= r.BaseRate && r.BaseRate <= r.Hi)
		in.Enabled = !disabled[id] && (in.Significant || !opts.OnlySignificant)
		in.Text = insightText(in, unit)
		if in.Significant && unit == UnitOpportunity && in.Accounts < 3 {
			few = append(few, in.Value)
		}
		ins = append(ins, in)
	}
	if len(few) > 0 {
		warnings = append(warnings, fmt.Sprintf("%d significant insights rest on fewer than 3 accounts (%s): their opportunities are not independent, so treat them as anecdotes",
			len(few), strings.Join(few, ", ")))
	}
	ids := make([]string, 0, len(disabled))
	for id := range disabled {
		if !present[id] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) > 0 {
		warnings = append(warnings, fmt.Sprintf("switched-off insight ids not found in this analysis: %s", quoteList(ids)))
	}

	// One-hot features for the enabled insights, in a fixed order.
	var feats []feature
	col := map[string]int{}
	for _, in := range ins {
		if !in.Enabled {
			continue
		}
		f := feature{attr: in.Attribute, key: strings.TrimPrefix(in.ID, in.Attribute+":")}
		if f.attr == AttrEmployees {
			f.band = parseBandName(f.key)
		}
		feats = append(feats, f)
	}
	sort.Slice(feats, func(a, b int) bool {
		if feats[a].attr != feats[b].attr {
			return feats[a].attr < feats[b].attr
		}
		return feats[a].key < feats[b].key
	})
	for i, f := range feats {
		col[f.attr+":"+f.key] = i
	}
	priorW := make([]float64, len(feats))
	for i, f := range feats {
		priorW[i] = priorWeight(prior, f)
	}
	stats := FitStats{Unit: unit, Rows: len(rows), Wins: wins, BaseRate: base, Features: len(feats), Lambda: lambda}
	weights := make([]float64, len(feats))
	intercept := prior.Intercept
	{
		X := make([][]float64, len(rows))
		y := make([]bool, len(rows))
		flat := make([]float64, len(rows)*len(feats))
		for i, r := range rows {
			x := flat[i*len(feats) : (i+1)*len(feats) : (i+1)*len(feats)]
			for a, v := range r.Attrs {
				if c, ok := col[a+":"+v]; ok {
					x[c] = 1
				}
			}
			X[i], y[i] = x, r.Won
		}
		m, err := learn.Fit(X, y, learn.FitOptions{Lambda: lambda, Prior: priorW})
		if err != nil {
			return Analysis{}, err
		}
		copy(weights, m.Weights)
		intercept = m.Intercept
		stats.Iterations = m.Iterations
		centre(feats, weights, &intercept, X)
	}
	for i, f := range feats {
		id := f.attr + ":" + f.key
		for k := range ins {
			if ins[k].ID == id {
				ins[k].Weight = round4(weights[i])
			}
		}
	}

	d, dropped := buildDefinition(prior, feats, weights, intercept, display, minW)
	warnings = append(warnings, dropped...)
	if err := d.Validate(); err != nil {
		return Analysis{}, errs.Internal(fmt.Errorf("analysed definition does not validate: %w", err))
	}
	return Analysis{Insights: ins, Definition: d, Stats: stats, Warnings: warnings}, nil
}

// centre re-expresses an attribute's weights as deviations from their
// row-weighted mean when every row has exactly one of its values among the
// features (a full one-hot partition): the mean moves into the intercept,
// so every training prediction is unchanged. A full partition plus an
// intercept is collinear, so the fit alone only pins down differences
// between values (the common level comes from the prior's penalty); after
// centring, a weight reads as "better or worse than the average account"
// and a lead whose value is unknown gets the average, not a penalty.
func centre(feats []feature, weights []float64, intercept *float64, X [][]float64) {
	attrs := map[string][]int{}
	for i, f := range feats {
		attrs[f.attr] = append(attrs[f.attr], i)
	}
	names := make([]string, 0, len(attrs))
	for a := range attrs {
		names = append(names, a)
	}
	sort.Strings(names)
	for _, a := range names {
		cols := attrs[a]
		counts := make([]float64, len(cols))
		full := true
		for _, x := range X {
			hit := 0
			for k, c := range cols {
				if x[c] != 0 {
					hit++
					counts[k]++
				}
			}
			if hit != 1 {
				full = false
				break
			}
		}
		if !full || len(X) == 0 {
			continue
		}
		mean := 0.0
		for k, c := range cols {
			mean += counts[k] * weights[c]
		}
		mean /= float64(len(X))
		for _, c := range cols {
			weights[c] -= mean
		}
		*intercept += mean
	}
}

func stagesOr(xs, def []string) []string {
	if len(xs) == 0 {
		return def
	}
	return xs
}

// parseBandName inverts rangeName.
func parseBandName(s string) Range {
	if strings.HasSuffix(s, "+") {
		n, _ := strconv.Atoi(strings.TrimSuffix(s, "+"))
		return Range{Min: n}
	}
	a, b, _ := strings.Cut(s, "-")
	lo, _ := strconv.Atoi(a)
	hi, _ := strconv.Atoi(b)
	return Range{Min: lo, Max: hi}
}

// priorWeight is what the prior gives an account with this feature: the
// signed weights of criteria with the same value; for an employee band,
// of ranges that contain the whole band.
func priorWeight(d Definition, f feature) float64 {
	w := 0.0
	for _, side := range []struct {
		a    *AccountProfile
		sign float64
	}{{&d.Account, 1}, {&d.AccountDetractors, -1}} {
		var list []Criterion
		switch f.attr {
		case AttrIndustry:
			list = side.a.Industries
		case AttrRegion:
			list = side.a.Regions
		case AttrEmployees:
			for _, r := range side.a.EmployeeRanges {
				if rangeContains(r, f.band) {
					w += side.sign * weightOf(r.Weight)
				}
			}
		}
		for _, c := range list {
			if norm(c.Value) == f.key {
				w += side.sign * weightOf(c.Weight)
			}
		}
	}
	return w
}

// rangeContains reports whether band lies within r.
func rangeContains(r, band Range) bool {
	if band.Min < r.Min {
		return false
	}
	if r.Max == 0 {
		return true
	}
	return band.Max != 0 && band.Max <= r.Max
}

func rangesOverlap(a, b Range) bool {
	aHi, bHi := a.Max, b.Max
	if aHi == 0 {
		aHi = math.MaxInt
	}
	if bHi == 0 {
		bHi = math.MaxInt
	}
	return a.Min <= bHi && b.Min <= aHi
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// buildDefinition copies the prior and replaces its analysed criteria by
// the fitted ones. Prior criteria for values the data did not cover (or
// that were switched off) are kept; prior employee ranges overlapping a
// fitted band are dropped (the band's weight started from them).
func buildDefinition(prior Definition, feats []feature, weights []float64, intercept float64, display map[string]string, minW float64) (Definition, []string) {
	d := cloneDefinition(prior)
	d.Intercept = clamp(round4(intercept))
	var warnings []string
	fitted := map[string]bool{}
	var fittedBands []Range
	for _, f := range feats {
		fitted[f.attr+":"+f.key] = true
		if f.attr == AttrEmployees {
			fittedBands = append(fittedBands, f.band)
		}
	}
	keep := func(attr string, list []Criterion) []Criterion {
		var out []Criterion
		for _, c := range list {
			if !fitted[attr+":"+norm(c.Value)] {
				out = append(out, c)
			}
		}
		return out
	}
	keepRanges := func(list []Range) []Range {
		var out []Range
		for _, r := range list {
			hit := false
			for _, b := range fittedBands {
				if rangesOverlap(r, b) {
					hit = true
					break
				}
			}
			if !hit {
				out = append(out, r)
			}
		}
		return out
	}
	for _, a := range []*AccountProfile{&d.Account, &d.AccountDetractors} {
		a.Industries = keep(AttrIndustry, a.Industries)
		a.Regions = keep(AttrRegion, a.Regions)
		a.EmployeeRanges = keepRanges(a.EmployeeRanges)
	}
	type item struct {
		f feature
		w float64
	}
	var items []item
	small := 0
	for i, f := range feats {
		w := clamp(round4(weights[i]))
		if math.Abs(w) < minW {
			small++
			continue
		}
		v := display[f.attr+":"+f.key]
		if len(norm(v)) > MaxValueLen {
			warnings = append(warnings, fmt.Sprintf("%s value %.40q… is longer than %d characters and is left out of the model", f.attr, v, MaxValueLen))
			continue
		}
		items = append(items, item{f, w})
	}
	if small > 0 {
		warnings = append(warnings, fmt.Sprintf("%d fitted weights are smaller than %g in magnitude and are left out of the model", small, minW))
	}
	// Strongest first, so the MaxCriteria cap keeps what matters.
	sort.SliceStable(items, func(a, b int) bool { return math.Abs(items[a].w) > math.Abs(items[b].w) })
	for _, it := range items {
		side := &d.Account
		w := it.w
		if w < 0 {
			side, w = &d.AccountDetractors, -w
		}
		switch it.f.attr {
		case AttrIndustry:
			if len(side.Industries) < MaxCriteria {
				side.Industries = append(side.Industries, Criterion{Value: display[AttrIndustry+":"+it.f.key], Weight: w})
			}
		case AttrRegion:
			if len(side.Regions) < MaxCriteria {
				side.Regions = append(side.Regions, Criterion{Value: display[AttrRegion+":"+it.f.key], Weight: w})
			}
		case AttrEmployees:
			if len(side.EmployeeRanges) < MaxCriteria {
				side.EmployeeRanges = append(side.EmployeeRanges, Range{Min: it.f.band.Min, Max: it.f.band.Max, Weight: w})
			}
		}
	}
	return d, warnings
}

func clamp(w float64) float64 { return math.Max(-MaxAbsWeight, math.Min(MaxAbsWeight, w)) }

func cloneDefinition(d Definition) Definition {
	c := d
	cp := func(x []Criterion) []Criterion { return append([]Criterion(nil), x...) }
	for _, p := range []*AccountProfile{&c.Account, &c.AccountDetractors} {
		p.Industries, p.Regions, p.Technologies = cp(p.Industries), cp(p.Regions), cp(p.Technologies)
		p.BusinessModels, p.MarketSegments = cp(p.BusinessModels), cp(p.MarketSegments)
		p.EmployeeRanges = append([]Range(nil), p.EmployeeRanges...)
	}
	for _, p := range []*Personas{&c.Personas, &c.PersonaDetractors} {
		p.Titles, p.Seniorities, p.Departments, p.BuyingRoles = cp(p.Titles), cp(p.Seniorities), cp(p.Departments), cp(p.BuyingRoles)
	}
	c.Signals = append([]BehaviourSignal(nil), d.Signals...)
	return c
}

// insightText words an insight:
// "Software accounts win 71% vs 63% overall (n=1,420, 95% interval 68–74%)".
func insightText(in Insight, unit string) string {
	var subject string
	switch in.Attribute {
	case AttrIndustry:
		subject = capitalise(in.Value) + " accounts"
	case AttrEmployees:
		subject = "Accounts with " + in.Value + " employees"
	case AttrRegion:
		subject = "Accounts in " + in.Value
	default:
		subject = "Accounts with " + in.Attribute + " " + in.Value
	}
	what := "accounts"
	if unit != UnitAccount {
		what = "opportunities from " + thousands(in.Accounts) + " account"
		if in.Accounts != 1 {
			what += "s"
		}
	}
	s := fmt.Sprintf("%s win %s vs %s overall (n=%s %s, 95%% interval %s–%s)", subject, pct(in.Rate), pct(in.BaseRate),
		thousands(in.N), what, pctNum(in.Lo), pct(in.Hi))
	if !in.Significant {
		s += "; within noise"
	}
	return s
}

func capitalise(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

func pctNum(x float64) string { return strconv.Itoa(int(math.Round(x * 100))) }
func pct(x float64) string    { return pctNum(x) + "%" }

func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
