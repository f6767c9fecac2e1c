package icp

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/errs/errstest"
)

func intp(n int) *int { return &n }

// synth builds accounts with the given industry and n opportunities each,
// wins of them won.
type synthGroup struct {
	industry, region string
	employees        int
	accounts         int
	oppsPer, winsPer int
}

func synth(groups ...synthGroup) ([]AccountRecord, []OpportunityRecord) {
	var accs []AccountRecord
	var opps []OpportunityRecord
	for gi, g := range groups {
		for a := 0; a < g.accounts; a++ {
			id := fmt.Sprintf("g%d-a%d", gi, a)
			accs = append(accs, AccountRecord{ID: id, Name: "Name " + id, Industry: g.industry, Region: g.region, Employees: intp(g.employees)})
			for o := 0; o < g.oppsPer; o++ {
				stage := "Closed Lost"
				if o < g.winsPer {
					stage = "Closed Won"
				}
				opps = append(opps, OpportunityRecord{ID: fmt.Sprintf("%s-o%d", id, o), AccountID: id, Stage: stage})
			}
		}
	}
	return accs, opps
}

func insightByID(a Analysis, id string) (Insight, bool) {
	for _, in := range a.Insights {
		if in.ID == id {
			return in, true
		}
	}
	return Insight{}, false
}

func criterionWeight(list []Criterion, v string) (float64, bool) {
	for _, c := range list {
		if norm(c.Value) == norm(v) {
			return c.Weight, true
		}
	}
	return 0, false
}

func TestInsightText(t *testing.T) {
	// Software: 1,420 opportunities, 1,008 won (71%); others bring the base to 63%.
	accs, opps := synth(
		synthGroup{industry: "Software", region: "EMEA", employees: 300, accounts: 142, oppsPer: 10, winsPer: 7},
		synthGroup{industry: "Retail", region: "EMEA", employees: 300, accounts: 200, oppsPer: 10, winsPer: 6},
	)
	// 142*7 = 994 wins; make it 1,008 by winning one more on 14 accounts.
	extra := 0
	for i := range opps {
		if extra < 14 && strings.HasSuffix(opps[i].ID, "-o7") && strings.HasPrefix(opps[i].ID, "g0-") {
			opps[i].Stage = "Won"
			extra++
		}
	}
	a, err := AnalyzeRecords(accs, opps, Definition{}, AnalyzeOptions{})
	errstest.NoErr(t, err)
	in, ok := insightByID(a, "industry:software")
	if !ok {
		t.Fatalf("no software insight in %+v", a.Insights)
	}
	want := "Software accounts win 71% vs 65% overall (n=1,420 opportunities from 142 accounts, 95% interval 69–73%)"
	if in.Text != want || !in.Significant {
		t.Errorf("text %q (significant %v), want %q", in.Text, in.Significant, want)
	}
	// region covers every row: its rate is the base rate, within noise.
	reg, _ := insightByID(a, "region:emea")
	if reg.Significant || !strings.HasSuffix(reg.Text, "; within noise") || reg.Value != "EMEA" {
		t.Errorf("region insight %+v", reg)
	}
	band, _ := insightByID(a, "employees:201-500")
	if !strings.HasPrefix(band.Text, "Accounts with 201-500 employees win") {
		t.Errorf("band text %q", band.Text)
	}
}

func TestAnalyzePriorShrinkage(t *testing.T) {
	prior := Starter()
	prior.Account.Industries = []Criterion{{Value: "Software", Weight: 2}}
	prior.AccountDetractors.Regions = []Criterion{{Value: "Mars", Weight: 1.5}}
	// Software wins exactly at the base rate, so the data pull is towards
	// no difference between software and retail. Industry is a full
	// one-hot partition, so the weights are centred: only the difference
	// software − retail is meaningful.
	cases := []struct {
		name     string
		accounts int
		diff     float64
		tol      float64
	}{
		{"few rows stay near the prior", 1, 2, 0.75},
		{"many rows follow the data", 400, 0, 0.15},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			accs, opps := synth(
				synthGroup{industry: "Software", region: "EU", employees: 100, accounts: c.accounts, oppsPer: 2, winsPer: 1},
				synthGroup{industry: "Retail", region: "EU", employees: 100, accounts: c.accounts, oppsPer: 2, winsPer: 1},
			)
			a, err := AnalyzeRecords(accs, opps, prior, AnalyzeOptions{MinN: 1})
			errstest.NoErr(t, err)
			sw, _ := insightByID(a, "industry:software")
			rt, _ := insightByID(a, "industry:retail")
			if d := sw.Weight - rt.Weight; math.Abs(d-c.diff) > c.tol {
				t.Errorf("software − retail = %v, want %v ± %v", d, c.diff, c.tol)
			}
			if math.Abs(sw.Weight+rt.Weight) > 1e-3 {
				t.Errorf("not centred: software %v, retail %v", sw.Weight, rt.Weight)
			}
			if err := a.Definition.Validate(); err != nil {
				t.Fatal(err)
			}
			// prior's personas, signals and unanalysed criteria are kept
			if !reflect.DeepEqual(a.Definition.Personas, prior.Personas) || !reflect.DeepEqual(a.Definition.Signals, prior.Signals) {
				t.Error("personas or signals changed")
			}
			if w, ok := criterionWeight(a.Definition.AccountDetractors.Regions, "Mars"); !ok || w != 1.5 {
				t.Errorf("prior detractor region Mars lost: %+v", a.Definition.AccountDetractors.Regions)
			}
			if a.Stats.Rows != 4*c.accounts || a.Stats.BaseRate != 0.5 {
				t.Errorf("stats %+v", a.Stats)
			}
		})
	}
	// the prior is not modified
	if len(prior.Account.Industries) != 1 || prior.Account.Industries[0].Weight != 2 {
		t.Errorf("prior modified: %+v", prior.Account)
	}
}

func TestAnalyzeDetractorsAndDisabled(t *testing.T) {
	accs, opps := synth(
		synthGroup{industry: "Software", region: "US", employees: 30, accounts: 30, oppsPer: 10, winsPer: 8},
		synthGroup{industry: "Retail", region: "US", employees: 3000, accounts: 30, oppsPer: 10, winsPer: 2},
		synthGroup{industry: "Media", region: "US", employees: 3000, accounts: 30, oppsPer: 10, winsPer: 5},
	)
	a, err := AnalyzeRecords(accs, opps, Starter(), AnalyzeOptions{})
	errstest.NoErr(t, err)
	d := a.Definition
	if w, ok := criterionWeight(d.Account.Industries, "software"); !ok || w <= 0 {
		t.Errorf("software not a positive criterion: %+v", d.Account.Industries)
	}
	if w, ok := criterionWeight(d.AccountDetractors.Industries, "retail"); !ok || w <= 0 {
		t.Errorf("retail not a detractor: %+v", d.AccountDetractors.Industries)
	}
	in, _ := insightByID(a, "industry:retail")
	if !in.Significant || in.Weight >= 0 || !in.Enabled {
		t.Errorf("retail insight %+v", in)
	}
	// switch retail and the small band off
	b, err := AnalyzeRecords(accs, opps, Starter(), AnalyzeOptions{Disabled: []string{"industry:retail", "employees:11-50", "nope:x"}})
	errstest.NoErr(t, err)
	if _, ok := criterionWeight(b.Definition.AccountDetractors.Industries, "retail"); ok {
		t.Error("disabled retail still in the model")
	}
	for _, r := range append(b.Definition.Account.EmployeeRanges, b.Definition.AccountDetractors.EmployeeRanges...) {
		if r.Min == 11 {
			t.Error("disabled band still in the model")
		}
	}
	in, _ = insightByID(b, "industry:retail")
	if in.Enabled || in.Weight != 0 || in.N != 300 {
		t.Errorf("disabled insight %+v", in)
	}
	if !strings.Contains(strings.Join(b.Warnings, "\n"), `"nope:x"`) {
		t.Errorf("unknown disabled id not warned: %q", b.Warnings)
	}
	if err := b.Definition.Validate(); err != nil {
		t.Fatal(err)
	}
	// OnlySignificant keeps the within-noise region out
	c, err := AnalyzeRecords(accs, opps, Starter(), AnalyzeOptions{OnlySignificant: true})
	errstest.NoErr(t, err)
	if in, _ := insightByID(c, "region:us"); in.Enabled || in.Significant {
		t.Errorf("region insight %+v", in)
	}
	// deterministic
	a2, _ := AnalyzeRecords(accs, opps, Starter(), AnalyzeOptions{})
	if !reflect.DeepEqual(a, a2) {
		t.Error("analysis is not deterministic")
	}
}

func TestAnalyzeAccountUnit(t *testing.T) {
	accs := []AccountRecord{{Name: "A", Industry: "x"}, {Name: "B", Industry: "x"}, {Name: "C", Industry: "y"}, {Name: "D", Industry: "y"}}
	opps := []OpportunityRecord{
		{AccountName: "a", Stage: "Lost"}, {AccountName: "A", Stage: "Won"}, // A: won (any win)
		{AccountName: "B", Stage: "Lost"}, {AccountName: "B", Stage: "Lost"}, // B: lost
		{AccountName: "C", Outcome: OutcomeWon, Stage: "whatever"}, // C: won (explicit outcome)
		{AccountName: "D", Stage: "Negotiation"},                   // D: no outcome, left out
	}
	a, err := AnalyzeRecords(accs, opps, Definition{}, AnalyzeOptions{Unit: UnitAccount, MinN: 1})
	errstest.NoErr(t, err)
	if a.Stats.Rows != 3 || a.Stats.Wins != 2 || a.Stats.Unit != UnitAccount {
		t.Errorf("stats %+v", a.Stats)
	}
	x, _ := insightByID(a, "industry:x")
	if x.N != 2 || x.Wins != 1 || !strings.Contains(x.Text, "n=2 accounts") {
		t.Errorf("insight x %+v", x)
	}
	o, err := AnalyzeRecords(accs, opps, Definition{}, AnalyzeOptions{MinN: 1})
	errstest.NoErr(t, err)
	if o.Stats.Rows != 5 || o.Stats.Wins != 2 {
		t.Errorf("opportunity unit stats %+v", o.Stats)
	}
}

func TestAnalyzeErrors(t *testing.T) {
	accs, opps := synth(synthGroup{industry: "x", accounts: 1, oppsPer: 1, winsPer: 1})
	_, err := AnalyzeRecords(accs, opps, Definition{}, AnalyzeOptions{Unit: "lead"})
	errstest.Want(t, err, errs.KindInvalid, "unknown_value", "unit")
	_, err = AnalyzeRecords(accs, opps, Definition{}, AnalyzeOptions{Lambda: -1})
	errstest.Want(t, err, errs.KindInvalid, "out_of_range", "lambda")
	_, err = AnalyzeRecords(accs, opps, Definition{}, AnalyzeOptions{SizeBands: []Range{{Min: 10, Max: 5}}})
	errstest.Want(t, err, errs.KindInvalid, "invalid_range", "size_bands[0]")
	open := []OpportunityRecord{{AccountID: accs[0].ID, Stage: "Discovery"}}
	_, err = AnalyzeRecords(accs, open, Definition{}, AnalyzeOptions{})
	errstest.Want(t, err, errs.KindInvalid, "no_outcomes", "opportunities")
	_, err = AnalyzeRecords(nil, nil, Definition{}, AnalyzeOptions{})
	errstest.Want(t, err, errs.KindInvalid, "no_outcomes", "opportunities")
	// one class only still gives a valid model, with a warning
	a, err := AnalyzeRecords(accs, opps, Starter(), AnalyzeOptions{MinN: 1})
	errstest.NoErr(t, err)
	if err := a.Definition.Validate(); err != nil || len(a.Warnings) == 0 {
		t.Errorf("one-class: %v %q", err, a.Warnings)
	}
}

// --- Maven CRM ------------------------------------------------------------

func mavenFiles(tb testing.TB) (acc, opp []byte) {
	acc, err1 := os.ReadFile(sharedData(tb, "maven_crm_sales_opportunities", "accounts.csv"))
	opp, err2 := os.ReadFile(sharedData(tb, "maven_crm_sales_opportunities", "sales_pipeline.csv"))
	if err1 != nil || err2 != nil {
		tb.Fatalf("reading the Maven CRM data: %v %v", err1, err2)
	}
	return acc, opp
}

func readAll(tb testing.TB, b []byte) []map[string]string {
	r := csv.NewReader(strings.NewReader(string(b)))
	recs, err := r.ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	var out []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = rec[i]
		}
		out = append(out, m)
	}
	return out
}

// wilson is an independent Wilson 95% interval.
func wilson(w, n int) (lo, hi float64) {
	z := 1.959963984540054
	p, nf := float64(w)/float64(n), float64(n)
	c := (p + z*z/(2*nf)) / (1 + z*z/nf)
	h := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / (1 + z*z/nf)
	return c - h, c + h
}

func TestMavenAnalysis(t *testing.T) {
	accB, oppB := mavenFiles(t)
	a, err := Analyze(strings.NewReader(string(accB)), strings.NewReader(string(oppB)), Starter(), AnalyzeOptions{})
	errstest.NoErr(t, err)

	// Independent computation from the raw CSVs.
	accounts := map[string]map[string]string{}
	for _, r := range readAll(t, accB) {
		accounts[r["account"]] = r
	}
	band := func(s string) string {
		n, _ := strconv.Atoi(s)
		for _, b := range [][2]int{{1, 10}, {11, 50}, {51, 200}, {201, 500}, {501, 1000}, {1001, 5000}, {5001, 10000}} {
			if n >= b[0] && n <= b[1] {
				return fmt.Sprintf("%d-%d", b[0], b[1])
			}
		}
		return "10001+"
	}
	type agg struct{ n, w int }
	groups := map[string]*agg{}
	total := agg{}
	for _, o := range readAll(t, oppB) {
		acc, ok := accounts[o["account"]]
		if !ok || (o["deal_stage"] != "Won" && o["deal_stage"] != "Lost") {
			continue
		}
		won := o["deal_stage"] == "Won"
		total.n++
		if won {
			total.w++
		}
		for _, id := range []string{"industry:" + acc["sector"], "region:" + strings.ToLower(acc["office_location"]), "employees:" + band(acc["employees"])} {
			g := groups[id]
			if g == nil {
				g = &agg{}
				groups[id] = g
			}
			g.n++
			if won {
				g.w++
			}
		}
	}
	if total.n != 6711 || total.w != 4238 {
		t.Fatalf("independent totals %+v", total)
	}
	if a.Stats.Rows != total.n || a.Stats.Wins != total.w || math.Abs(a.Stats.BaseRate-4238.0/6711) > 1e-12 {
		t.Errorf("stats %+v", a.Stats)
	}
	if len(a.Insights) != len(groups) { // every Maven group has n ≥ 20
		t.Errorf("%d insights, %d groups", len(a.Insights), len(groups))
	}
	base := float64(total.w) / float64(total.n)
	significant := []string{}
	for id, g := range groups {
		in, ok := insightByID(a, id)
		if !ok {
			t.Errorf("no insight %s", id)
			continue
		}
		if in.N != g.n || in.Wins != g.w || math.Abs(in.Rate-float64(g.w)/float64(g.n)) > 1e-12 {
			t.Errorf("%s: n=%d wins=%d rate=%v, independent n=%d wins=%d", id, in.N, in.Wins, in.Rate, g.n, g.w)
		}
		lo, hi := wilson(g.w, g.n)
		if math.Abs(in.Lo-lo) > 1e-9 || math.Abs(in.Hi-hi) > 1e-9 {
			t.Errorf("%s: interval [%v, %v], independent [%v, %v]", id, in.Lo, in.Hi, lo, hi)
		}
		noise := lo <= base && base <= hi
		if in.Significant == noise || strings.HasSuffix(in.Text, "; within noise") != noise {
			t.Errorf("%s: significant=%v text %q, but interval [%.3f, %.3f] vs base %.3f", id, in.Significant, in.Text, lo, hi, base)
		}
		if !noise {
			significant = append(significant, id)
		}
	}
	// The real finding: Panama's accounts win 75% (n=100); every sector
	// and size band is within noise of 63%.
	if !reflect.DeepEqual(significant, []string{"region:panama"}) {
		t.Errorf("significant insights %v, want [region:panama]", significant)
	}
	p, _ := insightByID(a, "region:panama")
	if want := "Accounts in Panama win 75% vs 63% overall (n=100 opportunities from 1 account, 95% interval 66–82%)"; p.Text != want {
		t.Errorf("Panama text %q, want %q", p.Text, want)
	}
	sw, _ := insightByID(a, "industry:software")
	if want := "Software accounts win 64% vs 63% overall (n=704 opportunities from 7 accounts, 95% interval 60–67%); within noise"; sw.Text != want {
		t.Errorf("software text %q, want %q", sw.Text, want)
	}
	if w, ok := criterionWeight(a.Definition.Account.Regions, "Panama"); !ok || w <= 0 {
		t.Errorf("Panama not a positive region: %+v", a.Definition.Account.Regions)
	}
	if err := a.Definition.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.Preview == nil || a.Preview.OpportunityMapping["stage"] != "deal_stage" || a.Preview.AccountMapping["region"] != "office_location" ||
		a.Preview.Won != 4238 || a.Preview.Lost != 2473 || a.Preview.Open != 2089 {
		t.Errorf("preview %+v", a.Preview)
	}
	if p.Accounts != 1 || sw.Accounts != 7 {
		t.Errorf("distinct accounts: Panama %d, software %d", p.Accounts, sw.Accounts)
	}
	if !strings.Contains(strings.Join(a.Warnings, "\n"), "1 significant insights rest on fewer than 3 accounts (Panama)") {
		t.Errorf("warnings %q", a.Warnings)
	}
	if !strings.Contains(strings.Join(a.Warnings, "\n"), "1425 opportunities have no account") {
		t.Errorf("warnings %q", a.Warnings)
	}
	if testing.Verbose() {
		for _, in := range a.Insights {
			t.Logf("%-28s w=%+.3f %s", in.ID, in.Weight, in.Text)
		}
		t.Logf("intercept %.3f, stats %+v", a.Definition.Intercept, a.Stats)
	}
}

func TestMavenAccountUnitWarns(t *testing.T) {
	accB, oppB := mavenFiles(t)
	a, err := Analyze(strings.NewReader(string(accB)), strings.NewReader(string(oppB)), Starter(), AnalyzeOptions{Unit: UnitAccount})
	errstest.NoErr(t, err)
	if a.Stats.Rows != 85 || a.Stats.Wins != 85 {
		t.Errorf("stats %+v", a.Stats)
	}
	if !strings.Contains(strings.Join(a.Warnings, "\n"), "almost every account has some win") {
		t.Errorf("warnings %q", a.Warnings)
	}
}

var insightTextRE = regexp.MustCompile(`^(.+ accounts|Accounts in .+|Accounts with .+ employees) win \d+% vs \d+% overall \(n=[\d,]+ (opportunities from [\d,]+ accounts?|accounts), 95% interval \d+–\d+%\)(; within noise)?$`)

func TestMavenInsightWording(t *testing.T) {
	accB, oppB := mavenFiles(t)
	a, err := Analyze(strings.NewReader(string(accB)), strings.NewReader(string(oppB)), Definition{}, AnalyzeOptions{})
	errstest.NoErr(t, err)
	for _, in := range a.Insights {
		if !insightTextRE.MatchString(in.Text) {
			t.Errorf("wording %q", in.Text)
		}
	}
}

func BenchmarkAnalyzeMaven(b *testing.B) {
	accB, oppB := mavenFiles(b)
	prior := Starter()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Analyze(strings.NewReader(string(accB)), strings.NewReader(string(oppB)), prior, AnalyzeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPriorWeight(t *testing.T) {
	d := Definition{
		Account: AccountProfile{Industries: []Criterion{{Value: "Software", Weight: 1.5}, {Value: "software"}},
			EmployeeRanges: []Range{{Min: 50, Max: 1000, Weight: 0.5}, {Min: 1000, Weight: 2}}},
		AccountDetractors: AccountProfile{Regions: []Criterion{{Value: "Mars", Weight: 3}}},
	}
	cases := []struct {
		f    feature
		want float64
	}{
		{feature{attr: AttrIndustry, key: "software"}, 2.5},
		{feature{attr: AttrIndustry, key: "retail"}, 0},
		{feature{attr: AttrRegion, key: "mars"}, -3},
		{feature{attr: AttrEmployees, key: "51-200", band: Range{Min: 51, Max: 200}}, 0.5},
		{feature{attr: AttrEmployees, key: "501-1000", band: Range{Min: 501, Max: 1000}}, 0.5},
		{feature{attr: AttrEmployees, key: "1001-5000", band: Range{Min: 1001, Max: 5000}}, 2},
		{feature{attr: AttrEmployees, key: "10001+", band: Range{Min: 10001}}, 2},
		{feature{attr: AttrEmployees, key: "1-10", band: Range{Min: 1, Max: 10}}, 0},
	}
	for _, c := range cases {
		if got := priorWeight(d, c.f); got != c.want {
			t.Errorf("priorWeight(%s:%s) = %v, want %v", c.f.attr, c.f.key, got, c.want)
		}
	}
	if r := parseBandName("10001+"); r != (Range{Min: 10001}) {
		t.Errorf("parseBandName %+v", r)
	}
	if r := parseBandName(rangeName(Range{Min: 51, Max: 200})); r != (Range{Min: 51, Max: 200}) {
		t.Errorf("parseBandName %+v", r)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1420: "1,420", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
