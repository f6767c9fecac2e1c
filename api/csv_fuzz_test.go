package api

import (
	"strings"
	"testing"
)

// FuzzParseAccountsCSV: any input yields accounts or a user error naming
// the problem, never a panic; a name column is required.
func FuzzParseAccountsCSV(f *testing.F) {
	for _, seed := range []string{
		"account_name,website,sector,employees\nAcme,acme.com,Technology,120\n",
		"name\nA\nB\n",
		"company,url,size\n\"Quoted, Inc\",https://q.io,\"1,200\"\n",
		"id,domain\n1,x.io\n",
		"",
		"name,employees\nA,lots\n",
		"name\n\"unterminated\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := parseAccountsCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		first := strings.SplitN(in, "\n", 2)[0]
		if !strings.Contains(strings.ToLower(first), "name") && !strings.Contains(strings.ToLower(first), "account") &&
			!strings.Contains(strings.ToLower(first), "company") {
			t.Fatalf("accepted a CSV without a name column: %q → %d rows", in, len(rows))
		}
		for _, r := range rows {
			if r.Employees != nil && *r.Employees < 0 && !strings.Contains(in, "-") {
				t.Fatalf("negative employees from %q", in)
			}
		}
	})
}

func TestParseAccountsCSVColumns(t *testing.T) {
	t.Parallel()
	rows, err := parseAccountsCSV(strings.NewReader("Account_Name,Website,Sector,Employees,Office_Location,Account_ID\nAcme,acme.com,Technology,\"1,200\",Berlin,A-1\n"))
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %v err %v", rows, err)
	}
	r := rows[0]
	if r.Name != "Acme" || r.Domain != "acme.com" || r.Industry != "Technology" || r.Employees == nil || *r.Employees != 1200 ||
		r.Region != "Berlin" || r.ExternalID != "A-1" {
		t.Fatalf("row %+v", r)
	}
	if _, err := parseAccountsCSV(strings.NewReader("website\nacme.com\n")); err == nil || !strings.Contains(err.Error(), "name") {
		t.Fatalf("missing name column: %v", err)
	}
}
