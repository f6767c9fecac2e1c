package icp

import (
	"errors"
	"strings"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/errs/errstest"
)

const (
	smallAccounts = "Account Name,Sector,Employees,Country,Website,Account ID\n" +
		"Acme,Software,120,United States,acme.com,A1\n" +
		"Globex,Retail,\"2,500\",Germany,globex.de,A2\n" +
		"Initech,Software,51-200,United States,initech.com,A3\n" +
		"Hooli,Finance,huge,France,hooli.fr,A4\n"
	smallOpps = "Opportunity ID,Opportunity Name,Account ID,Amount,Stage,Created Date,Close Date\n" +
		"O1,Acme deal,A1,\"$1,000\",Closed Won,2024-01-01,2024-02-01\n" +
		"O2,Acme renewal,A1,500,Closed Lost,2024-01-01,2024-02-01\n" +
		"O3,Globex,A2,700,Won,2024-01-01,2024-02-01\n" +
		"O4,Initech,A3,n/a,Negotiation,2024-01-01,\n" +
		"O5,Ghost,A9,100,Lost,2024-01-01,2024-02-01\n"
)

func TestReadCSVsDetectsColumns(t *testing.T) {
	imp, err := ReadCSVs(strings.NewReader(smallAccounts), strings.NewReader(smallOpps), ImportOptions{})
	errstest.NoErr(t, err)
	p := imp.Preview
	wantA := ColumnMapping{"name": "Account Name", "industry": "Sector", "employees": "Employees", "region": "Country", "url": "Website", "id": "Account ID"}
	wantO := ColumnMapping{"id": "Opportunity ID", "name": "Opportunity Name", "account_id": "Account ID", "amount": "Amount", "stage": "Stage",
		"created": "Created Date", "closed": "Close Date"}
	if !mapsEqual(p.AccountMapping, wantA) || !mapsEqual(p.OpportunityMapping, wantO) {
		t.Fatalf("mapping %v / %v", p.AccountMapping, p.OpportunityMapping)
	}
	if p.AccountRows != 4 || p.OpportunityRows != 5 || p.Won != 2 || p.Lost != 2 || p.Open != 1 {
		t.Errorf("counts %+v", p)
	}
	if p.MatchedOpportunities != 4 || p.UnmatchedOpportunities != 1 || p.AccountsWithOutcomes != 2 {
		t.Errorf("join %+v", p)
	}
	if len(p.AccountSample) != 4 || p.AccountSample[0][0] != "Acme" {
		t.Errorf("sample %v", p.AccountSample)
	}
	joined := strings.Join(p.Warnings, "\n")
	for _, w := range []string{"not a number (lines 5)", "1 opportunities name an account that is not in the accounts file (e.g. \"A9\")",
		"2 accounts have no won or lost opportunity", "amount that is not a number (lines 5)"} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings %q lack %q", p.Warnings, w)
		}
	}
	a := imp.Accounts
	if *a[1].Employees != 2500 || *a[2].Employees != 125 || a[3].Employees != nil || a[0].Line != 2 {
		t.Errorf("accounts %+v", a)
	}
	if imp.Opportunities[0].Amount != 1000 || imp.Opportunities[0].Line != 2 {
		t.Errorf("opps %+v", imp.Opportunities[0])
	}
}

func mapsEqual(a, b ColumnMapping) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestDetectColumnsVariants(t *testing.T) {
	cases := []struct {
		header []string
		specs  []roleSpec
		want   ColumnMapping
	}{
		{[]string{"company", "INDUSTRY", "employee_count", "location", "domain", "external_id"}, accountRoles,
			ColumnMapping{"name": "company", "industry": "INDUSTRY", "employees": "employee_count", "region": "location", "url": "domain", "id": "external_id"}},
		{[]string{"account", "sector", "year_established", "revenue", "employees", "office_location", "subsidiary_of"}, accountRoles,
			ColumnMapping{"name": "account", "industry": "sector", "employees": "employees", "region": "office_location"}},
		{[]string{"Name", "Company Size", "Region", "URL", "ID"}, accountRoles,
			ColumnMapping{"name": "Name", "employees": "Company Size", "region": "Region", "url": "URL", "id": "ID"}},
		{[]string{"opportunity_id", "sales_agent", "product", "account", "deal_stage", "engage_date", "close_date", "close_value"}, opportunityRoles,
			ColumnMapping{"id": "opportunity_id", "account": "account", "stage": "deal_stage", "created": "engage_date", "closed": "close_date", "amount": "close_value"}},
		{[]string{"dealname", "dealstage", "amount", "createdate", "closedate", "associatedCompany"}, opportunityRoles,
			ColumnMapping{"name": "dealname", "stage": "dealstage", "amount": "amount", "created": "createdate", "closed": "closedate", "account": "associatedCompany"}},
	}
	for _, c := range cases {
		idx, err := detectColumns("f", c.header, c.specs, nil)
		errstest.NoErr(t, err)
		if got := mappingOf(c.header, idx); !mapsEqual(got, c.want) {
			t.Errorf("%v: got %v, want %v", c.header, got, c.want)
		}
	}
}

func TestOverrides(t *testing.T) {
	accounts := "org,vertical,hq,company_size\nAcme,Software,US,10\n"
	opps := "org_name,result\nAcme,Won\n"
	_, err := ReadCSVs(strings.NewReader(accounts), strings.NewReader(opps), ImportOptions{})
	e := errstest.Want(t, err, errs.KindInvalid, "missing_column", "accounts")
	if !strings.Contains(e.Message, `found columns: "org", "vertical", "hq", "company_size"`) {
		t.Errorf("message %q", e.Message)
	}
	imp, err := ReadCSVs(strings.NewReader(accounts), strings.NewReader(opps), ImportOptions{
		AccountOverrides:     map[string]string{"name": "ORG", "region": "hq", "employees": ""},
		OpportunityOverrides: map[string]string{"account": "org_name", "stage": "result"},
	})
	errstest.NoErr(t, err)
	if imp.Accounts[0].Region != "US" || imp.Accounts[0].Employees != nil || imp.Preview.Won != 1 || imp.Preview.MatchedOpportunities != 1 {
		t.Errorf("%+v", imp.Preview)
	}
	_, err = ReadCSVs(strings.NewReader(accounts), strings.NewReader(opps), ImportOptions{AccountOverrides: map[string]string{"name": "nope"}})
	errstest.Want(t, err, errs.KindInvalid, "unknown_column", "accounts.overrides.name")
	_, err = ReadCSVs(strings.NewReader(accounts), strings.NewReader(opps), ImportOptions{AccountOverrides: map[string]string{"colour": "org"}})
	errstest.Want(t, err, errs.KindInvalid, "unknown_role", "accounts.overrides.colour")
}

func TestDelimitersAndBOM(t *testing.T) {
	for _, c := range []struct{ name, acc, opp string }{
		{"semicolon", "\ufeffname;industry\nAcme;Software\n", "account;stage\nAcme;Won\n"},
		{"tab", "name\tindustry\nAcme\tSoftware\n", "account\tstage\r\nAcme\tWon\r\n"},
		{"quoted delimiters", "name,industry\n\"Acme; Inc\",Software\n", "\"account\";\"stage\"\n\"Acme; Inc\";\"Won\"\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			imp, err := ReadCSVs(strings.NewReader(c.acc), strings.NewReader(c.opp), ImportOptions{})
			errstest.NoErr(t, err)
			if imp.Preview.MatchedOpportunities != 1 || imp.Preview.Won != 1 || imp.Accounts[0].Industry != "Software" {
				t.Errorf("%+v", imp.Preview)
			}
		})
	}
}

func TestBadCSVs(t *testing.T) {
	goodOpps := "account,stage\nAcme,Won\n"
	goodAcc := "name,industry\nAcme,Software\n"
	cases := []struct {
		name      string
		acc, opp  string
		code      string
		field     string
		inMessage []string
	}{
		{"wrong delimiter", "name|industry|employees\nAcme|Software|10\n", goodOpps, "missing_column", "accounts",
			[]string{"line 1", "no account name or id column", `found columns: "name|industry|employees"`, "delimited by something other"}},
		{"missing stage", goodAcc, "account,amount\nAcme,5\n", "missing_column", "opportunities",
			[]string{"no stage column", `found columns: "account", "amount"`}},
		{"missing account", goodAcc, "stage,amount\nWon,5\n", "missing_column", "opportunities", []string{"no account column"}},
		{"ragged row", "name,industry,employees\nAcme,Software,10\nGlobex,Retail\n", goodOpps, "ragged_row", "accounts",
			[]string{"line 3", "2 fields but the header has 3"}},
		{"ragged row after quoted newline", goodAcc, "account,stage\n\"Acme\nCorp\",Won\nAcme,Won,extra\n", "ragged_row", "opportunities",
			[]string{"line 4", "3 fields but the header has 2"}},
		{"bad utf-8", "name,industry\nAcme,Software\nGlobex,Re\xfftail\n", goodOpps, "bad_encoding", "accounts",
			[]string{"line 3, column 2 (\"industry\")", "0xff", "UTF-8"}},
		{"bad utf-8 in header", goodAcc, "account,st\xe9ge\nAcme,Won\n", "bad_encoding", "opportunities", []string{"line 1, column 2", "0xe9"}},
		{"utf-16", "\xff\xfen\x00a\x00", goodOpps, "bad_encoding", "accounts", []string{"UTF-16"}},
		{"empty accounts", "", goodOpps, "empty_file", "accounts", []string{"empty"}},
		{"blank opportunities", goodAcc, " \n\n", "empty_file", "opportunities", []string{"empty"}},
		{"bare quote", "name,industry\nAc\"me,Software\n", goodOpps, "bad_csv", "accounts", []string{"line 2, column 3"}},
		{"duplicate column", "name,Name\nA,B\n", goodOpps, "duplicate_column", "accounts", []string{"columns 1 and 2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadCSVs(strings.NewReader(c.acc), strings.NewReader(c.opp), ImportOptions{})
			e := errstest.Want(t, err, errs.KindInvalid, c.code, c.field)
			for _, m := range c.inMessage {
				if !strings.Contains(e.Message, m) {
					t.Errorf("message %q lacks %q", e.Message, m)
				}
			}
			// Analyze reports the same error.
			_, err2 := Analyze(strings.NewReader(c.acc), strings.NewReader(c.opp), Starter(), AnalyzeOptions{})
			if !errors.Is(err2, e) {
				t.Errorf("Analyze error %v, want %v", err2, e)
			}
		})
	}
}

func TestStageClassification(t *testing.T) {
	acc := "name\nAcme\n"
	opps := "account,stage\nAcme,Closed Won\nAcme,closed_lost\nAcme,Signed\nAcme,Churned\nAcme,Prospecting\nAcme,closedwon\n"
	p, err := PreviewCSVs(strings.NewReader(acc), strings.NewReader(opps), ImportOptions{})
	errstest.NoErr(t, err)
	if p.Won != 2 || p.Lost != 1 || p.Open != 3 {
		t.Errorf("default stages: %+v", p)
	}
	p, err = PreviewCSVs(strings.NewReader(acc), strings.NewReader(opps), ImportOptions{WonStages: []string{"signed", "closed won"}, LostStages: []string{"churned"}})
	errstest.NoErr(t, err)
	if p.Won != 3 || p.Lost != 1 || p.Open != 2 { // "closedwon" equals "closed won" once spaces are ignored
		t.Errorf("custom stages: %+v", p)
	}
}

func TestParseEmployees(t *testing.T) {
	cases := map[string]int{"2822": 2822, "2,822": 2822, "1.5k": 1500, "51-200": 125, "10000+": 10000, "1 to 10": 5, " 500 employees": 500}
	for in, want := range cases {
		if got, ok := parseEmployees(in); !ok || got != want {
			t.Errorf("parseEmployees(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "Enterprise", "-5", "200-100", "NaN", "1e99"} {
		if got, ok := parseEmployees(in); ok {
			t.Errorf("parseEmployees(%q) = %d, want not ok", in, got)
		}
	}
}

func FuzzReadCSVs(f *testing.F) {
	f.Add(smallAccounts, smallOpps)
	f.Add("name;industry\nA;B\n", "account;stage\nA;Won\n")
	f.Add("name,industry\n\"A\nB\",x\n", "account,stage\nA,Won\nB")
	f.Add("\ufeffname\tid\n\xff\t1\n", "account_id\tstage\n1\tlost\n")
	f.Add("a,b,c\n1,2\n", "x\n")
	f.Fuzz(func(t *testing.T, acc, opp string) {
		imp, err := ReadCSVs(strings.NewReader(acc), strings.NewReader(opp), ImportOptions{MaxRows: 1000})
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.KindInvalid || e.Message == "" || e.Field == "" {
				t.Fatalf("error %v is not a user-facing invalid error", err)
			}
			return
		}
		p := imp.Preview
		if p.Won+p.Lost+p.Open != len(imp.Opportunities) || p.AccountRows != len(imp.Accounts) {
			t.Fatalf("counts %+v", p)
		}
		a, err := AnalyzeRecords(imp.Accounts, imp.Opportunities, Starter(), AnalyzeOptions{MinN: 1})
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.KindInvalid {
				t.Fatalf("analysis error %v", err)
			}
			return
		}
		if err := a.Definition.Validate(); err != nil {
			t.Fatalf("definition: %v", err)
		}
	})
}
