package actors

import (
	"context"
	"sort"
	"strings"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/sdk/connector"
)

// Field mapping (SPEC §4): which of the CRM's own fields (the names the
// connector's Metadata returns, which are also the keys of its records)
// feed TrailSpark's account and lead fields. Account fields are read from
// the connector's accounts object; Fallback names a field of its leads
// object (Salesforce: a Lead field) used for leads that carry company data
// of their own. Lead fields are read from the person objects (contacts and
// leads). Opportunity fields are optional: when one is not mapped, the
// usual names of the shipped connectors are tried (AccountId, IsWon,
// IsClosed, StageName, Amount, CloseDate; HubSpot's associated_company_ids,
// hs_is_closed_won, hs_is_closed, dealstage, amount, closedate).

// MappedField names the CRM field that feeds one TrailSpark field.
type MappedField struct {
	Field    string `json:"field"`
	Fallback string `json:"fallback,omitempty"`
}

// FieldMapping is a connection's field mapping.
type FieldMapping struct {
	Account     map[string]MappedField `json:"account"`
	Lead        map[string]MappedField `json:"lead"`
	Opportunity map[string]MappedField `json:"opportunity,omitempty"`
}

// Mapping targets and the portable field types each accepts.
var (
	accountTargets = map[string][]connector.FieldType{
		"name":      {connector.FieldString, connector.FieldText, connector.FieldPicklist},
		"domain":    {connector.FieldURL, connector.FieldString, connector.FieldText},
		"industry":  {connector.FieldString, connector.FieldText, connector.FieldPicklist},
		"segment":   {connector.FieldString, connector.FieldText, connector.FieldPicklist},
		"employees": {connector.FieldInteger, connector.FieldNumber, connector.FieldString},
		"region":    {connector.FieldString, connector.FieldText, connector.FieldPicklist},
	}
	leadTargets = map[string][]connector.FieldType{
		"email":       {connector.FieldEmail, connector.FieldString},
		"first_name":  {connector.FieldString, connector.FieldText},
		"last_name":   {connector.FieldString, connector.FieldText},
		"company":     {connector.FieldString, connector.FieldText, connector.FieldPicklist},
		"title":       {connector.FieldString, connector.FieldText, connector.FieldPicklist},
		"account_ref": {connector.FieldReference, connector.FieldID, connector.FieldString, connector.FieldInteger, connector.FieldNumber},
	}
	oppTargets = map[string][]connector.FieldType{
		"account":    {connector.FieldReference, connector.FieldID, connector.FieldString, connector.FieldInteger, connector.FieldNumber},
		"won":        {connector.FieldBoolean, connector.FieldString},
		"closed":     {connector.FieldBoolean, connector.FieldString},
		"stage":      {connector.FieldPicklist, connector.FieldString, connector.FieldText},
		"amount":     {connector.FieldNumber, connector.FieldInteger, connector.FieldString},
		"close_date": {connector.FieldDate, connector.FieldDateTime, connector.FieldString},
	}
)

// Names tried, in order, for a target when suggesting a mapping (and, for
// opportunities and account references, when reading records unmapped).
var fieldGuesses = map[string][]string{
	"account.name":           {"Name", "name", "company", "account_name"},
	"account.domain":         {"Website", "domain", "website", "url"},
	"account.industry":       {"Industry", "industry", "sector"},
	"account.segment":        {"segment", "Segment", "market_segment", "Type", "type"},
	"account.employees":      {"NumberOfEmployees", "numberofemployees", "employees", "employee_count"},
	"account.region":         {"BillingCountry", "country", "region", "Country"},
	"lead.email":             {"Email", "email"},
	"lead.first_name":        {"FirstName", "firstname", "first_name"},
	"lead.last_name":         {"LastName", "lastname", "last_name"},
	"lead.company":           {"Company", "company"},
	"lead.title":             {"Title", "jobtitle", "title", "job_title"},
	"lead.account_ref":       {"AccountId", "associatedcompanyid", "account_id", "ConvertedAccountId"},
	"fallback.name":          {"Company"},
	"fallback.domain":        {"Website"},
	"fallback.industry":      {"Industry"},
	"fallback.employees":     {"NumberOfEmployees"},
	"fallback.region":        {"Country"},
	"opportunity.account":    {"AccountId", "associated_company_ids", "account_id", "accountid"},
	"opportunity.won":        {"IsWon", "hs_is_closed_won", "is_won", "won"},
	"opportunity.closed":     {"IsClosed", "hs_is_closed", "is_closed", "closed"},
	"opportunity.stage":      {"StageName", "dealstage", "stage"},
	"opportunity.amount":     {"Amount", "amount"},
	"opportunity.close_date": {"CloseDate", "closedate", "close_date"},
}

// MetadataView is the connector's description of the CRM's objects, for
// the mapping screen, with a suggested mapping.
type MetadataView struct {
	Objects   []ObjectView  `json:"objects"`
	Suggested *FieldMapping `json:"suggested_mapping"`
}

// ObjectView is one CRM object.
type ObjectView struct {
	Name   string      `json:"name"`
	Label  string      `json:"label,omitempty"`
	Kind   string      `json:"kind,omitempty"`
	Fields []FieldView `json:"fields"`
}

// FieldView is one CRM field.
type FieldView struct {
	Name        string   `json:"name"`
	Label       string   `json:"label,omitempty"`
	Type        string   `json:"type"`
	Writable    bool     `json:"writable"`
	Required    bool     `json:"required"`
	Picklist    []string `json:"picklist,omitempty"`
	ReferenceTo string   `json:"reference_to,omitempty"`
}

func metadataView(md connector.Metadata) *MetadataView {
	v := &MetadataView{Objects: []ObjectView{}}
	for _, o := range md.Objects {
		ov := ObjectView{Name: o.Name, Label: o.Label, Kind: string(o.Kind), Fields: []FieldView{}}
		for _, f := range o.Fields {
			fv := FieldView{Name: f.Name, Label: f.Label, Type: string(f.Type), Writable: f.Writable, Required: f.Required, ReferenceTo: f.ReferenceTo}
			for _, p := range f.Picklist {
				fv.Picklist = append(fv.Picklist, p.Value)
			}
			ov.Fields = append(ov.Fields, fv)
		}
		v.Objects = append(v.Objects, ov)
	}
	v.Suggested = suggestMapping(md)
	return v
}

// schema indexes metadata by record kind.
type schema struct {
	byKind map[connector.Kind][]connector.Object
}

func newSchema(md connector.Metadata) schema {
	s := schema{byKind: map[connector.Kind][]connector.Object{}}
	for _, o := range md.Objects {
		s.byKind[o.Kind] = append(s.byKind[o.Kind], o)
	}
	return s
}

// field finds a field on the objects of the given kinds.
func (s schema) field(name string, kinds ...connector.Kind) (connector.Field, bool) {
	for _, k := range kinds {
		for _, o := range s.byKind[k] {
			for _, f := range o.Fields {
				if f.Name == name {
					return f, true
				}
			}
		}
	}
	return connector.Field{}, false
}

func (s schema) has(kinds ...connector.Kind) bool {
	for _, k := range kinds {
		if len(s.byKind[k]) > 0 {
			return true
		}
	}
	return false
}

var personKinds = []connector.Kind{connector.KindContacts, connector.KindLeads}

func suggestMapping(md connector.Metadata) *FieldMapping {
	s := newSchema(md)
	m := &FieldMapping{Account: map[string]MappedField{}, Lead: map[string]MappedField{}, Opportunity: map[string]MappedField{}}
	guess := func(key string, kinds ...connector.Kind) string {
		for _, n := range fieldGuesses[key] {
			if _, ok := s.field(n, kinds...); ok {
				return n
			}
		}
		return ""
	}
	for t := range accountTargets {
		mf := MappedField{Field: guess("account."+t, connector.KindAccounts)}
		if s.has(connector.KindLeads) {
			mf.Fallback = guess("fallback."+t, connector.KindLeads)
		}
		if mf.Field != "" {
			m.Account[t] = mf
		}
	}
	for t := range leadTargets {
		if f := guess("lead."+t, personKinds...); f != "" {
			m.Lead[t] = MappedField{Field: f}
		}
	}
	for t := range oppTargets {
		if f := guess("opportunity."+t, connector.KindOpportunities); f != "" {
			m.Opportunity[t] = MappedField{Field: f}
		}
	}
	return m
}

// validateMapping checks a mapping against the CRM's metadata: every
// target known, every field present on its object with an acceptable
// type, an email for leads. Without metadata (a connector that has none)
// only the targets are checked.
func validateMapping(m *FieldMapping, md *connector.Metadata, kinds []connector.Kind) error {
	if m.Account == nil {
		m.Account = map[string]MappedField{}
	}
	if m.Lead == nil {
		m.Lead = map[string]MappedField{}
	}
	var s schema
	if md != nil {
		s = newSchema(*md)
	}
	check := func(path, name string, types []connector.FieldType, kinds ...connector.Kind) error {
		if strings.TrimSpace(name) == "" {
			return errs.Invalid(path, "required", "%s must name a field", path)
		}
		if md == nil {
			return nil
		}
		f, ok := s.field(name, kinds...)
		if !ok {
			return errs.Invalid(path, "unknown_field", "%q is not a field of the CRM's %s", name, kindNames(kinds))
		}
		for _, t := range types {
			if f.Type == t {
				return nil
			}
		}
		return errs.Invalid(path, "wrong_type", "%q is a %s field; %s needs one of: %s", name, f.Type, path, typeNames(types))
	}
	for _, t := range sortedKeys(m.Account) {
		types, ok := accountTargets[t]
		if !ok {
			return errs.Invalid("account."+t, "unknown_target", "account fields are name, domain, industry, segment, employees, region")
		}
		mf := m.Account[t]
		if err := check("account."+t+".field", mf.Field, types, connector.KindAccounts); err != nil {
			return err
		}
		if mf.Fallback != "" {
			if md != nil && !s.has(connector.KindLeads) {
				return errs.Invalid("account."+t+".fallback", "not_supported", "this CRM has no Lead object to fall back on")
			}
			if err := check("account."+t+".fallback", mf.Fallback, types, connector.KindLeads); err != nil {
				return err
			}
		}
	}
	for _, t := range sortedKeys(m.Lead) {
		types, ok := leadTargets[t]
		if !ok {
			return errs.Invalid("lead."+t, "unknown_target", "lead fields are email, first_name, last_name, company, title, account_ref")
		}
		if m.Lead[t].Fallback != "" {
			return errs.Invalid("lead."+t+".fallback", "not_supported", "fallbacks are for account fields")
		}
		if err := check("lead."+t+".field", m.Lead[t].Field, types, personKinds...); err != nil {
			return err
		}
	}
	for _, t := range sortedKeys(m.Opportunity) {
		types, ok := oppTargets[t]
		if !ok {
			return errs.Invalid("opportunity."+t, "unknown_target", "opportunity fields are account, won, closed, stage, amount, close_date")
		}
		if m.Opportunity[t].Fallback != "" {
			return errs.Invalid("opportunity."+t+".fallback", "not_supported", "fallbacks are for account fields")
		}
		if err := check("opportunity."+t+".field", m.Opportunity[t].Field, types, connector.KindOpportunities); err != nil {
			return err
		}
	}
	readsPeople := false
	for _, k := range kinds {
		if k == connector.KindContacts || k == connector.KindLeads {
			readsPeople = true
		}
	}
	if readsPeople {
		if _, ok := m.Lead["email"]; !ok {
			return errs.Invalid("lead.email", "required", "lead.email is required: leads are identified by their email")
		}
	}
	return nil
}

func kindNames(kinds []connector.Kind) string {
	var out []string
	for _, k := range kinds {
		out = append(out, string(k))
	}
	return strings.Join(out, " or ") + " object"
}

func typeNames(ts []connector.FieldType) string {
	var out []string
	for _, t := range ts {
		out = append(out, string(t))
	}
	return strings.Join(out, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// metadata asks the connector for the CRM's objects; nil without error
// when the connector has no metadata capability.
func (c *Client) connMetadata(ctx context.Context, org string, conn *Connection) (*connector.Metadata, connector.Info, error) {
	cn, info, err := c.connectorFor(ctx, conn.Provider)
	if err != nil {
		return nil, info, err
	}
	if !info.Has(connector.CapMetadata) {
		return nil, info, nil
	}
	if conn.Status == ConnPendingAuth || conn.Status == ConnDisconnected {
		return nil, info, errs.Conflict("connection_not_connected", "", "the connection is "+conn.Status+"; connect it first")
	}
	var md connector.Metadata
	err = c.withConn(ctx, org, conn, cn, func(cfg connector.Config) error {
		var e error
		md, e = cn.Metadata(ctx, cfg, connector.MetadataRequest{})
		return e
	})
	if err != nil {
		return nil, info, connectorErr(err)
	}
	return &md, info, nil
}

// ConnectionMetadata returns the CRM's objects and fields as the connector
// describes them, with a suggested mapping (Owner/Admin: it calls the CRM
// with the connection's credentials).
func (c *Client) ConnectionMetadata(ctx context.Context, caller tenant.Caller, org, id string) (*MetadataView, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return nil, err
	}
	conn, _, err := c.env.loadConn(ctx, org, id)
	if err != nil {
		return nil, err
	}
	md, _, err := c.connMetadata(ctx, org, conn)
	if err != nil {
		return nil, err
	}
	if md == nil {
		return &MetadataView{Objects: []ObjectView{}, Suggested: &FieldMapping{Account: map[string]MappedField{}, Lead: map[string]MappedField{}}}, nil
	}
	return metadataView(*md), nil
}

// SetConnectionMapping validates a field mapping against the CRM's own
// metadata and stores it (Owner/Admin). An unknown field or one of the
// wrong type is refused naming it.
func (c *Client) SetConnectionMapping(ctx context.Context, caller tenant.Caller, org, id string, m FieldMapping) (*ConnectionView, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return nil, err
	}
	conn, _, err := c.env.loadConn(ctx, org, id)
	if err != nil {
		return nil, err
	}
	md, info, err := c.connMetadata(ctx, org, conn)
	if err != nil {
		return nil, err
	}
	if err := validateMapping(&m, md, info.Kinds); err != nil {
		return nil, err
	}
	conn, err = c.env.updateConn(ctx, org, id, func(conn *Connection) error {
		mm := m
		conn.Mapping = &mm
		return nil
	})
	if err != nil {
		return nil, err
	}
	v := c.env.connView(conn)
	return &v, nil
}
