package icp

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

const exampleICP = "B2B SaaS companies in fintech and healthcare, 50-1000 employees, in North America and EMEA, using Salesforce or HubSpot; targeting VPs of Sales and marketing directors; not students or agencies"

func values(cs []Criterion) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Value)
	}
	return out
}

func rangeNames(rs []Range) []string {
	var out []string
	for _, r := range rs {
		out = append(out, rangeName(r))
	}
	return out
}

func TestParseTextExample(t *testing.T) {
	r := ParseText(exampleICP)
	d := r.Definition
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want []string) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("industries", values(d.Account.Industries), []string{"fintech", "healthcare"})
	check("employee_ranges", rangeNames(d.Account.EmployeeRanges), []string{"50-1000"})
	check("regions", values(d.Account.Regions), []string{"North America", "EMEA"})
	check("technologies", values(d.Account.Technologies), []string{"salesforce", "hubspot"})
	check("business_models", values(d.Account.BusinessModels), []string{"b2b", "saas"})
	check("seniorities", values(d.Personas.Seniorities), []string{"vp", "director"})
	check("departments", values(d.Personas.Departments), []string{"sales", "marketing"})
	check("detractor industries", values(d.AccountDetractors.Industries), []string{"agency"})
	check("detractor seniorities", values(d.PersonaDetractors.Seniorities), []string{"entry"})
	if len(r.NotUnderstood) != 0 {
		t.Errorf("not understood: %q", r.NotUnderstood)
	}
	want := Phrase{Text: "VPs of Sales", Field: "personas.seniorities", Value: "vp"}
	found := false
	for _, p := range r.Understood {
		if p == want {
			found = true
		}
	}
	if !found {
		t.Errorf("understood %+v lacks %+v", r.Understood, want)
	}
}

func TestParseTextTable(t *testing.T) {
	type want struct {
		field string // Phrase.Field
		value string
	}
	cases := []struct {
		text    string
		want    []want
		unknown []string
	}{
		{"50 to 1000 employees", []want{{"account.employee_ranges", "50-1000"}}, nil},
		{"1k-5k employees", []want{{"account.employee_ranges", "1000-5000"}}, nil},
		{"1,000–5,000 staff", []want{{"account.employee_ranges", "1000-5000"}}, nil},
		{"500+", []want{{"account.employee_ranges", "500+"}}, nil},
		{"500+ employees in Germany", []want{{"account.employee_ranges", "500+"}, {"account.regions", "Germany"}}, nil},
		{"over 200 employees", []want{{"account.employee_ranges", "201+"}}, nil},
		{"at least 200 people", []want{{"account.employee_ranges", "200+"}}, nil},
		{"fewer than 50 employees", []want{{"account.employee_ranges", "1-49"}}, nil},
		{"up to 50 employees", []want{{"account.employee_ranges", "1-50"}}, nil},
		{"between 10 and 50 employees", []want{{"account.employee_ranges", "10-50"}}, nil},
		{"200 or more employees", []want{{"account.employee_ranges", "200+"}}, nil},
		{"over 200", nil, []string{"over 200"}},
		{"$5M-10M revenue", nil, []string{"5M", "10M revenue"}},
		{"SMB", []want{{"account.market_segments", "smb"}, {"account.employee_ranges", "1-99"}}, nil},
		{"mid-market and enterprise", []want{{"account.market_segments", "mid-market"}, {"account.employee_ranges", "100-999"},
			{"account.market_segments", "enterprise"}, {"account.employee_ranges", "1000+"}}, nil},
		{"small and medium businesses", []want{{"account.market_segments", "smb"}, {"account.employee_ranges", "1-99"}}, nil},
		{"in the US and UK", []want{{"account.regions", "United States"}, {"account.regions", "United Kingdom"}}, nil},
		{"sell to us", nil, nil},
		{"APAC, LATAM & DACH", []want{{"account.regions", "APAC"}, {"account.regions", "LATAM"}, {"account.regions", "DACH"}}, nil},
		{"e-commerce marketplaces on Shopify", []want{{"account.industries", "ecommerce"}, {"account.business_models", "marketplace"},
			{"account.technologies", "shopify"}}, nil},
		{"using AWS, Snowflake and Google Analytics", []want{{"account.technologies", "aws"}, {"account.technologies", "snowflake"},
			{"account.technologies", "google analytics"}}, nil},
		{"B2C d2c brands", []want{{"account.business_models", "b2c"}, {"account.business_models", "d2c"}}, []string{"brands"}},
		{"CTOs and Chief Revenue Officers", []want{{"personas.seniorities", "c_level"}, {"personas.departments", "engineering"},
			{"personas.seniorities", "c_level"}, {"personas.departments", "sales"}}, nil},
		{"sales and marketing leaders", []want{{"personas.departments", "sales"}, {"personas.departments", "marketing"}}, nil},
		{"sales, marketing and product leaders", []want{{"personas.departments", "sales"}, {"personas.departments", "marketing"},
			{"personas.departments", "product"}}, nil},
		{"heads of growth", []want{{"personas.seniorities", "head"}, {"personas.departments", "marketing"}}, nil},
		{"senior software engineers", []want{{"personas.seniorities", "senior"}, {"personas.departments", "engineering"}}, nil},
		{"IT directors", []want{{"personas.seniorities", "director"}, {"personas.departments", "it"}}, nil},
		{"decision makers and champions", []want{{"personas.buying_roles", "decision_maker"}, {"personas.buying_roles", "champion"}}, nil},
		{"excluding agencies and government; healthcare", []want{{"account_detractors.industries", "agency"},
			{"account_detractors.industries", "government"}, {"account.industries", "healthcare"}}, nil},
		{"no interns, but directors", []want{{"persona_detractors.seniorities", "entry"}, {"personas.seniorities", "director"}}, nil},
		{"retail but not non-profits", []want{{"account.industries", "retail"}, {"account_detractors.industries", "nonprofit"}}, nil},
		{"marketing agencies", []want{{"account.industries", "marketing and advertising"}}, nil},
		{"quantum widgets for llamas", nil, []string{"quantum widgets", "llamas"}},
		{"", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			r := ParseText(c.text)
			if err := r.Definition.Validate(); err != nil {
				t.Fatalf("invalid definition: %v", err)
			}
			var got []want
			for _, p := range r.Understood {
				got = append(got, want{p.Field, p.Value})
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("understood %+v\nwant %+v", got, c.want)
			}
			if !reflect.DeepEqual(r.NotUnderstood, c.unknown) {
				t.Errorf("not understood %q, want %q", r.NotUnderstood, c.unknown)
			}
		})
	}
}

func TestParseTextDedup(t *testing.T) {
	r := ParseText("fintech, Fintech and FINTECH; VPs and vice presidents")
	if n := len(r.Definition.Account.Industries); n != 1 {
		t.Errorf("industries %v", r.Definition.Account.Industries)
	}
	if n := len(r.Definition.Personas.Seniorities); n != 1 {
		t.Errorf("seniorities %v", r.Definition.Personas.Seniorities)
	}
	if len(r.Understood) != 5 {
		t.Errorf("each occurrence is reported: %+v", r.Understood)
	}
}

// checkTextResult holds for any input: the definition validates, every
// reported text is a piece of the input, and parsing is deterministic.
func checkTextResult(t *testing.T, s string) {
	r := ParseText(s)
	if err := r.Definition.Validate(); err != nil {
		t.Fatalf("ParseText(%q): invalid definition: %v", s, err)
	}
	for _, p := range r.Understood {
		if p.Text == "" || !strings.Contains(s, p.Text) || p.Field == "" || p.Value == "" {
			t.Fatalf("ParseText(%q): bad phrase %+v", s, p)
		}
	}
	for _, u := range r.NotUnderstood {
		if u == "" || !strings.Contains(s, u) {
			t.Fatalf("ParseText(%q): bad not-understood %q", s, u)
		}
	}
	if utf8.ValidString(s) {
		if !reflect.DeepEqual(r, ParseText(s)) {
			t.Fatalf("ParseText(%q) is not deterministic", s)
		}
	}
}

func FuzzParseText(f *testing.F) {
	for _, s := range []string{exampleICP, "1k-5k", "500+ staff", "over 200 employees", "between 1 and", "C-level", "u.s.", "1,000,000",
		"not", "VPs of", "heads of of of", "sales and and marketing leaders", "\xff\xfe", "e-", "-5-", "1.5k-2m", "99999999999999999999 employees"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkTextResult(t, s)
	})
}
