package actors

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/sdk/connector"
)

var testMetadata = connector.Metadata{Objects: []connector.Object{
	{Name: "Account", Kind: connector.KindAccounts, Fields: []connector.Field{
		{Name: "Name", Type: connector.FieldString}, {Name: "Website", Type: connector.FieldURL},
		{Name: "Industry", Type: connector.FieldPicklist}, {Name: "NumberOfEmployees", Type: connector.FieldInteger}}},
	{Name: "Contact", Kind: connector.KindContacts, Fields: []connector.Field{
		{Name: "Email", Type: connector.FieldEmail}, {Name: "AccountId", Type: connector.FieldReference}}},
	{Name: "Lead", Kind: connector.KindLeads, Fields: []connector.Field{
		{Name: "Email", Type: connector.FieldEmail}, {Name: "Company", Type: connector.FieldString},
		{Name: "Industry", Type: connector.FieldPicklist}, {Name: "IsConverted", Type: connector.FieldBoolean}}},
}}

func TestValidateMapping(t *testing.T) {
	kinds := []connector.Kind{connector.KindAccounts, connector.KindContacts, connector.KindLeads}
	ok := func() FieldMapping {
		return FieldMapping{
			Account: map[string]MappedField{"name": {Field: "Name", Fallback: "Company"}, "industry": {Field: "Industry", Fallback: "Industry"},
				"employees": {Field: "NumberOfEmployees"}, "domain": {Field: "Website"}},
			Lead: map[string]MappedField{"email": {Field: "Email"}, "account_ref": {Field: "AccountId"}},
		}
	}
	m := ok()
	if err := validateMapping(&m, &testMetadata, kinds); err != nil {
		t.Fatalf("valid mapping refused: %v", err)
	}
	cases := []struct {
		name        string
		mut         func(m *FieldMapping)
		field, code string
	}{
		{"unknown field", func(m *FieldMapping) { m.Account["industry"] = MappedField{Field: "Sector__c"} }, "account.industry.field", "unknown_field"},
		{"wrong type", func(m *FieldMapping) { m.Account["employees"] = MappedField{Field: "Website"} }, "account.employees.field", "wrong_type"},
		{"fallback unknown", func(m *FieldMapping) { m.Account["name"] = MappedField{Field: "Name", Fallback: "Nope"} }, "account.name.fallback", "unknown_field"},
		{"fallback on a lead field", func(m *FieldMapping) { m.Lead["email"] = MappedField{Field: "Email", Fallback: "Email"} }, "lead.email.fallback", "not_supported"},
		{"email required", func(m *FieldMapping) { delete(m.Lead, "email") }, "lead.email", "required"},
		{"unknown target", func(m *FieldMapping) { m.Account["revenue"] = MappedField{Field: "Name"} }, "account.revenue", "unknown_target"},
		{"empty field", func(m *FieldMapping) { m.Lead["title"] = MappedField{} }, "lead.title.field", "required"},
	}
	for _, c := range cases {
		m := ok()
		c.mut(&m)
		err := validateMapping(&m, &testMetadata, kinds)
		e := errs.As(err)
		if e == nil || e.Field != c.field || e.Code != c.code {
			t.Errorf("%s: got %v, want %s on %s", c.name, err, c.code, c.field)
		}
	}
	// Without metadata only the targets are checked.
	m = FieldMapping{Lead: map[string]MappedField{"email": {Field: "whatever"}}}
	if err := validateMapping(&m, nil, kinds); err != nil {
		t.Errorf("no metadata: %v", err)
	}
}

func TestSuggestMapping(t *testing.T) {
	m := suggestMapping(testMetadata)
	if m.Account["industry"] != (MappedField{Field: "Industry", Fallback: "Industry"}) || m.Account["name"] != (MappedField{Field: "Name", Fallback: "Company"}) ||
		m.Lead["email"].Field != "Email" || m.Lead["account_ref"].Field != "AccountId" {
		t.Errorf("suggested: %+v", m)
	}
	if err := validateMapping(m, &testMetadata, []connector.Kind{connector.KindContacts}); err != nil {
		t.Errorf("the suggestion does not validate: %v", err)
	}
}

func TestOppOutcome(t *testing.T) {
	for _, c := range []struct{ won, closed, stage, want string }{
		{"true", "true", "Closed Won", "won"},
		{"false", "true", "Closed Lost", "lost"},
		{"false", "false", "Closed Won", "open"}, // the flags win over the stage
		{"", "", "closedwon", "won"},             // HubSpot stage ids
		{"", "", "Closed_Lost", "lost"},
		{"", "", "Negotiation", "open"},
	} {
		if got := oppOutcome(c.won, c.closed, c.stage); got != c.want {
			t.Errorf("oppOutcome(%q, %q, %q) = %s, want %s", c.won, c.closed, c.stage, got, c.want)
		}
	}
	f := decodeFields(json.RawMessage(`{"associated_company_ids":[12345678901234567890],"hs_is_closed_won":"true","amount":"1,250.5","closedate":"2026-01-02"}`))
	acct, st := oppFrom(f, &FieldMapping{})
	if acct != "12345678901234567890" || st.Outcome != "won" || st.Amount != 1250.5 || st.CloseDate != "2026-01-02" {
		t.Errorf("hubspot deal: %s %+v", acct, st)
	}
}

func TestSyncDedupKey(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := connector.Record{ID: "003A", Fields: json.RawMessage(`{"Email":"a@b.co"}`), UpdatedAt: at}
	k := syncDedupKey("conn_x", connector.KindContacts, r)
	if k != "crm:conn_x:contacts:003A:1767323045000" {
		t.Errorf("key %q", k)
	}
	r.UpdatedAt = time.Time{}
	k1 := syncDedupKey("conn_x", connector.KindContacts, r)
	r.Fields = json.RawMessage(`{"Email":"c@b.co"}`)
	if k2 := syncDedupKey("conn_x", connector.KindContacts, r); k1 == k2 || !strings.HasPrefix(k1, "crm:conn_x:contacts:003A:") {
		t.Errorf("without a modification time the content decides: %q %q", k1, k2)
	}
}

func TestCheckRedirectURI(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://app.example.com/api/oauth/callback/salesforce":     true,
		"http://127.0.0.1:8080/api/oauth/callback/salesforce":       true,
		"https://app.example.com/api/oauth/callback/hubspot":        false,
		"https://app.example.com/api/oauth/callback/salesforce?x=1": false,
		"javascript:alert(1)": false,
		"https://app.example.com/api/oauth/callback/salesforce/extra": false,
	} {
		if err := CheckRedirectURI(raw, "salesforce"); (err == nil) != ok {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

func TestNeedsOAuth(t *testing.T) {
	sf := connector.Info{Capabilities: []connector.Capability{connector.CapRead, connector.CapOAuth}}
	mk := connector.Info{Capabilities: []connector.Capability{connector.CapRead}}
	if !needsOAuth(sf, map[string]string{"client_id": "x"}) || needsOAuth(sf, map[string]string{"client_id": "x", "access_token": "t"}) ||
		needsOAuth(mk, map[string]string{"client_id": "x", "client_secret": "y"}) {
		t.Error("needsOAuth")
	}
}
