package icp

import (
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/errs/errstest"
	"github.com/trailspark/trailspark/engine/score"
)

func TestStarterValidates(t *testing.T) {
	d := Starter()
	errstest.NoErr(t, d.Validate())
}

func TestValidateNamesFields(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(d *Definition)
		code  string
		field string
	}{
		{"intercept", func(d *Definition) { d.Intercept = 25 }, "out_of_range", "intercept"},
		{"empty industry", func(d *Definition) { d.Account.Industries = []Criterion{{Value: "  "}} }, "required", "account.industries[0].value"},
		{"long region", func(d *Definition) {
			d.AccountDetractors.Regions = []Criterion{{Value: "x"}, {Value: repeat("a", MaxValueLen+1)}}
		}, "too_long", "account_detractors.regions[1].value"},
		{"criterion weight", func(d *Definition) { d.Account.Technologies = []Criterion{{Value: "hubspot", Weight: -21}} }, "out_of_range", "account.technologies[0].weight"},
		{"bad range", func(d *Definition) { d.Account.EmployeeRanges = []Range{{Min: 100, Max: 50}} }, "invalid_range", "account.employee_ranges[0]"},
		{"negative min", func(d *Definition) { d.AccountDetractors.EmployeeRanges = []Range{{Min: -1}} }, "invalid_range", "account_detractors.employee_ranges[0]"},
		{"range weight", func(d *Definition) { d.Account.EmployeeRanges = []Range{{Min: 1, Weight: 99}} }, "out_of_range", "account.employee_ranges[0].weight"},
		{"unknown seniority", func(d *Definition) { d.Personas.Seniorities = []Criterion{{Value: "boss"}} }, "unknown_value", "personas.seniorities[0].value"},
		{"unknown department", func(d *Definition) {
			d.PersonaDetractors.Departments = []Criterion{{Value: "sales"}, {Value: "cooking"}}
		}, "unknown_value", "persona_detractors.departments[1].value"},
		{"unknown buying role", func(d *Definition) { d.Personas.BuyingRoles = []Criterion{{Value: "boss"}} }, "unknown_value", "personas.buying_roles[0].value"},
		{"too many", func(d *Definition) { d.Account.Industries = make([]Criterion, MaxCriteria+1) }, "too_many", "account.industries"},
		{"unknown signal", func(d *Definition) { d.Signals = append(d.Signals, BehaviourSignal{Type: "telepathy", Weight: 1}) }, "unknown_signal_type", "signals[6].type"},
		{"duplicate signal", func(d *Definition) { d.Signals = append(d.Signals, d.Signals[0]) }, "duplicate", "signals[6].type"},
		{"signal weight", func(d *Definition) { d.Signals[2].Weight = 50 }, "out_of_range", "signals[2].weight"},
		{"half life", func(d *Definition) { d.Signals[1].HalfLifeDays = 400 }, "out_of_range", "signals[1].half_life_days"},
		{"thresholds", func(d *Definition) { d.Thresholds = score.Thresholds{Hot: 0.3, Warm: 0.6} }, "invalid_thresholds", "thresholds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Starter()
			c.edit(&d)
			errstest.Want(t, d.Validate(), errs.KindInvalid, c.code, c.field)
		})
	}
}

func repeat(s string, n int) string {
	b := make([]byte, 0, n*len(s))
	for i := 0; i < n; i++ {
		b = append(b, s...)
	}
	return string(b)
}

func TestCompileAndFeatures(t *testing.T) {
	d := Definition{
		Intercept: -1,
		Account: AccountProfile{
			Industries:     []Criterion{{Value: "Software", Weight: 1.5}, {Value: "Fintech"}},
			EmployeeRanges: []Range{{Min: 50, Max: 1000, Weight: 0.7}},
			Regions:        []Criterion{{Value: "EMEA", Weight: 0.4}},
			Technologies:   []Criterion{{Value: "HubSpot", Weight: 0.3}},
		},
		AccountDetractors: AccountProfile{Industries: []Criterion{{Value: "agency", Weight: 2}}},
		Personas: Personas{
			Titles:      []Criterion{{Value: "revenue operations", Weight: 0.5}},
			Seniorities: []Criterion{{Value: "vp", Weight: 0.8}},
			Departments: []Criterion{{Value: "sales", Weight: 0.6}},
		},
		PersonaDetractors: Personas{Seniorities: []Criterion{{Value: "entry", Weight: 1}}},
		Signals:           []BehaviourSignal{{Type: "form_fill", Weight: 0.25, HalfLifeDays: 7}},
	}
	errstest.NoErr(t, d.Validate())
	c := Compile(d, "v3")
	if c.Model.Version != "v3" || c.Model.Intercept != -1 {
		t.Fatalf("model header %+v", c.Model)
	}
	wantW := map[string]float64{"industry=software": 1.5, "industry=fintech": 1, "employees=50-1000": 0.7, "region=emea": 0.4,
		"tech=hubspot": 0.3, "industry=agency": -2, "title=revenue operations": 0.5, "seniority=vp": 0.8, "department=sales": 0.6,
		"seniority=entry": -1, "form_fill": 0.25}
	for k, w := range wantW {
		if got, ok := c.Model.Weights[k]; !ok || got != w {
			t.Errorf("weight %s = %v (present %v), want %v", k, got, ok, w)
		}
	}
	if len(c.Model.Weights) != len(wantW) {
		t.Errorf("weights %v", c.Model.Weights)
	}
	if c.Model.HalfLives["form_fill"].Hours() != 7*24 {
		t.Errorf("half-life %v", c.Model.HalfLives)
	}
	emp := 200
	feats := c.Features(Subject{Industry: " software ", Employees: &emp, Region: "emea", Technologies: []string{"Slack", "hubspot"},
		Title: "VP, Revenue Operations & Sales"}, nil)
	got := map[string]bool{}
	for _, f := range feats {
		got[f.Name] = true
		if f.Value != 1 || f.Label == "" {
			t.Errorf("feature %+v", f)
		}
	}
	want := []string{"department=sales", "employees=50-1000", "industry=software", "region=emea", "seniority=vp", "tech=hubspot", "title=revenue operations"}
	if len(feats) != len(want) {
		t.Fatalf("features %v, want %v", feats, want)
	}
	for i, w := range want {
		if feats[i].Name != w {
			t.Errorf("feature[%d] = %s, want %s (sorted order)", i, feats[i].Name, w)
		}
	}
	// an intern at an agency: detractors only
	feats = c.Features(Subject{Industry: "Agency", Title: "Marketing Intern"}, feats[:0])
	if len(feats) != 2 || feats[0].Name != "industry=agency" || feats[1].Name != "seniority=entry" {
		t.Errorf("detractor features %v", feats)
	}
	// explicit seniority wins over the title, case-insensitively
	feats = c.Features(Subject{Title: "Marketing Intern", Seniority: "VP"}, nil)
	if len(feats) != 1 || feats[0].Name != "seniority=vp" {
		t.Errorf("explicit seniority features %v", feats)
	}
	// no employees: no range match; open-ended range
	c2 := Compile(Definition{Account: AccountProfile{EmployeeRanges: []Range{{Min: 500}}}}, "v")
	big := 100000
	if f := c2.Features(Subject{Employees: &big}, nil); len(f) != 1 || f[0].Name != "employees=500+" {
		t.Errorf("open range %v", f)
	}
	if f := c2.Features(Subject{}, nil); len(f) != 0 {
		t.Errorf("no employees %v", f)
	}
}

func TestCompileDeterministic(t *testing.T) {
	d := ParseText("B2B SaaS in fintech, healthcare and retail, 50-1000 employees, EMEA, using Salesforce; VPs of Sales; not agencies").Definition
	a := Compile(d, "x")
	for i := 0; i < 20; i++ {
		b := Compile(d, "x")
		if len(a.matchers) != len(b.matchers) {
			t.Fatal("matcher count differs")
		}
		for j := range a.matchers {
			if a.matchers[j] != b.matchers[j] {
				t.Fatalf("matcher %d differs: %+v vs %+v", j, a.matchers[j], b.matchers[j])
			}
		}
	}
}

func TestSubjectKnown(t *testing.T) {
	n := 10
	s := Subject{Industry: "x", Employees: &n, Technologies: []string{"a"}, Title: " "}
	if s.Known() != 3 {
		t.Errorf("Known = %d", s.Known())
	}
}
