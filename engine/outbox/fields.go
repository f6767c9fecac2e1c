package outbox

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/trailspark/trailspark/sdk/connector"
)

// Field purposes.
const (
	PurposeScore          = "score"
	PurposeGrade          = "grade"
	PurposeReasoning      = "reasoning"
	PurposeEvaluationDate = "evaluation_date"
	PurposePropensity     = "propensity"
)

// ObjectFields names the fields of one CRM object that receive an
// evaluation. An empty name is not written.
type ObjectFields struct {
	Score          string `json:"score,omitempty"`
	Grade          string `json:"grade,omitempty"`
	Reasoning      string `json:"reasoning,omitempty"`
	EvaluationDate string `json:"evaluation_date,omitempty"`
	// DateOnly: the evaluation-date field holds a date, not a date-time
	// (set from the CRM's metadata when the mapping is saved).
	DateOnly bool `json:"evaluation_date_is_date,omitempty"`
}

// Empty reports whether no field is mapped.
func (f ObjectFields) Empty() bool {
	return f.Score == "" && f.Grade == "" && f.Reasoning == "" && f.EvaluationDate == ""
}

// ByPurpose lists the mapped fields.
func (f ObjectFields) ByPurpose() map[string]string {
	m := map[string]string{}
	for p, n := range map[string]string{PurposeScore: f.Score, PurposeGrade: f.Grade, PurposeReasoning: f.Reasoning, PurposeEvaluationDate: f.EvaluationDate} {
		if n != "" {
			m[p] = n
		}
	}
	return m
}

// MaxReasoning bounds the reasoning text written to a CRM (Salesforce long
// text areas hold 32,768 characters; HubSpot properties 65,536).
const MaxReasoning = 32000

// Values are the field values for state s evaluated at at.
func (f ObjectFields) Values(s State, at time.Time) map[string]any {
	v := map[string]any{}
	if f.Score != "" {
		v[f.Score] = s.Score
	}
	if f.Grade != "" {
		v[f.Grade] = s.Grade
	}
	if f.Reasoning != "" {
		r := s.Reasoning
		if len(r) > MaxReasoning {
			r = r[:MaxReasoning]
		}
		v[f.Reasoning] = r
	}
	if f.EvaluationDate != "" {
		if f.DateOnly {
			v[f.EvaluationDate] = at.UTC().Format(time.DateOnly)
		} else {
			v[f.EvaluationDate] = at.UTC().Format(time.RFC3339)
		}
	}
	return v
}

// PropensityLabel is the value a propensity field receives.
func PropensityLabel(p string) string {
	switch p {
	case "high_propensity":
		return "High"
	case "medium_propensity":
		return "Medium"
	case "low_propensity":
		return "Low"
	}
	return p
}

// Objects a CRM destination maps.
var (
	// PersonObjects receive score, grade, reasoning and evaluation date.
	PersonObjects = map[string][]string{KindSalesforce: {"Lead", "Contact"}, KindHubSpot: {"contacts"}}
	// AccountObject receives the propensity.
	AccountObject = map[string]string{KindSalesforce: "Account", KindHubSpot: "companies"}
)

// allowedTypes are the field types that can hold each purpose.
var allowedTypes = map[string][]connector.FieldType{
	PurposeScore:          {connector.FieldInteger, connector.FieldNumber, connector.FieldString, connector.FieldText},
	PurposeGrade:          {connector.FieldString, connector.FieldText, connector.FieldPicklist},
	PurposeReasoning:      {connector.FieldString, connector.FieldText},
	PurposeEvaluationDate: {connector.FieldDate, connector.FieldDateTime, connector.FieldString},
	PurposePropensity:     {connector.FieldString, connector.FieldText, connector.FieldPicklist},
}

// FieldError is a mapped field the CRM refuses.
type FieldError struct {
	Object  string
	Purpose string
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Message }

// CheckField finds field on object in md and checks it can receive
// purpose: it exists, is writable, has a suitable type and, for a
// picklist, accepts the values TrailSpark writes.
func CheckField(md connector.Metadata, object, purpose, field string) (connector.Field, error) {
	fail := func(format string, args ...any) (connector.Field, error) {
		return connector.Field{}, &FieldError{Object: object, Purpose: purpose, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	var obj *connector.Object
	for i := range md.Objects {
		if strings.EqualFold(md.Objects[i].Name, object) {
			obj = &md.Objects[i]
		}
	}
	if obj == nil {
		return fail("the CRM has no %s object", object)
	}
	for _, f := range obj.Fields {
		if f.Name != field {
			continue
		}
		if !f.Writable {
			return fail("%s.%s is not writable (read-only or formula field); choose a writable field for the %s", object, field, strings.ReplaceAll(purpose, "_", " "))
		}
		ok := false
		for _, t := range allowedTypes[purpose] {
			ok = ok || f.Type == t
		}
		if !ok {
			return fail("%s.%s is a %s field and cannot hold the %s", object, field, f.Type, strings.ReplaceAll(purpose, "_", " "))
		}
		if f.Type == connector.FieldPicklist {
			var want []string
			switch purpose {
			case PurposeGrade:
				want = []string{"hot", "warm", "cold"}
			case PurposePropensity:
				want = []string{"High", "Medium", "Low"}
			}
			have := map[string]bool{}
			for _, v := range f.Picklist {
				have[strings.ToLower(v.Value)] = true
			}
			for _, w := range want {
				if !have[strings.ToLower(w)] {
					return fail("%s.%s is a picklist without the value %q", object, field, w)
				}
			}
		}
		return f, nil
	}
	names := make([]string, 0, 8)
	for _, f := range obj.Fields {
		if f.Writable && strings.Contains(strings.ToLower(f.Name), "trailspark") {
			names = append(names, f.Name)
		}
	}
	sort.Strings(names)
	hint := ""
	if len(names) > 0 {
		hint = " (TrailSpark fields there: " + strings.Join(names, ", ") + ")"
	}
	return fail("%s has no field %q%s; create it in the CRM first (trailspark destinations suggest-fields)", object, field, hint)
}

// RequiredMissing lists the fields object requires on create that a new
// record from TrailSpark would not have (values are the mapped fields plus
// the email, last name and company TrailSpark fills in).
func RequiredMissing(md connector.Metadata, object string, values map[string]any) []string {
	var miss []string
	for _, o := range md.Objects {
		if !strings.EqualFold(o.Name, object) {
			continue
		}
		for _, f := range o.Fields {
			if !f.Required || !f.Writable {
				continue
			}
			if _, ok := values[f.Name]; !ok {
				miss = append(miss, f.Name)
			}
		}
	}
	sort.Strings(miss)
	return miss
}

// Suggestion is one field to create in the CRM.
type Suggestion struct {
	Object  string `json:"object"`
	Purpose string `json:"purpose"`
	Name    string `json:"name"`
	Label   string `json:"label"`
	Type    string `json:"type"`
}

// Suggest returns the suggested fields for provider (SPEC §4) and the
// CRM-side setup, step by step.
func Suggest(provider string) ([]Suggestion, string, error) {
	switch provider {
	case KindSalesforce:
		var out []Suggestion
		for _, obj := range []string{"Lead", "Contact"} {
			out = append(out,
				Suggestion{obj, PurposeScore, "TrailSpark_Score__c", "TrailSpark Score", "Number(3, 0)"},
				Suggestion{obj, PurposeGrade, "TrailSpark_Grade__c", "TrailSpark Grade", "Picklist (hot, warm, cold)"},
				Suggestion{obj, PurposeReasoning, "TrailSpark_Reasoning__c", "TrailSpark Reasoning", "Long Text Area(32768)"},
				Suggestion{obj, PurposeEvaluationDate, "TrailSpark_Evaluation_Date__c", "TrailSpark Evaluation Date", "Date/Time"})
		}
		out = append(out, Suggestion{"Account", PurposePropensity, "TrailSpark_Propensity__c", "TrailSpark Propensity", "Picklist (High, Medium, Low)"})
		return out, salesforceSetup, nil
	case KindHubSpot:
		return []Suggestion{
			{"contacts", PurposeScore, "trailspark_score", "TrailSpark score", "Number"},
			{"contacts", PurposeGrade, "trailspark_grade", "TrailSpark grade", "Dropdown select (hot, warm, cold)"},
			{"contacts", PurposeReasoning, "trailspark_reasoning", "TrailSpark reasoning", "Multi-line text"},
			{"contacts", PurposeEvaluationDate, "trailspark_evaluation_date", "TrailSpark evaluation date", "Date picker"},
			{"companies", PurposePropensity, "trailspark_propensity", "TrailSpark propensity", "Dropdown select (High, Medium, Low)"},
		}, hubspotSetup, nil
	}
	return nil, "", fmt.Errorf("provider must be salesforce or hubspot, got %q", provider)
}

const salesforceSetup = `Salesforce setup (Setup → Object Manager):
1. On Lead and on Contact, create the custom fields TrailSpark_Score__c (Number 3,0),
   TrailSpark_Grade__c (Picklist: hot, warm, cold), TrailSpark_Reasoning__c (Long Text Area 32768)
   and TrailSpark_Evaluation_Date__c (Date/Time). Map the Lead fields to the Contact fields in
   "Map Lead Fields" so conversion carries them over.
2. On Account, create TrailSpark_Propensity__c (Picklist: High, Medium, Low).
3. Give the integration user's profile or permission set Edit access to every field (Field-Level
   Security); a field it cannot edit is refused when you save the destination.
4. In TrailSpark, create the destination with these names (POST /api/v1/orgs/{org}/destinations,
   kind "salesforce"); converted Leads are never written: their Contact is.
`

const hubspotSetup = `HubSpot setup (Settings → Properties):
1. In Contact properties, create trailspark_score (Number), trailspark_grade (Dropdown select:
   hot, warm, cold), trailspark_reasoning (Multi-line text) and trailspark_evaluation_date
   (Date picker), in a "TrailSpark" property group.
2. In Company properties, create trailspark_propensity (Dropdown select: High, Medium, Low).
3. The private app or OAuth app needs the crm.objects.contacts.write and
   crm.objects.companies.write scopes.
4. In TrailSpark, create the destination with these names (POST /api/v1/orgs/{org}/destinations,
   kind "hubspot").
`
