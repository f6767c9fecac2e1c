package main

import (
	"context"
	"fmt"

	"github.com/trailspark/trailspark/sdk/connector"
)

var describedObjects = []struct {
	name, label string
	kind        connector.Kind
}{
	{"contacts", "Contacts", connector.KindContacts},
	{"companies", "Companies", connector.KindAccounts},
	{"deals", "Deals", connector.KindOpportunities},
}

// property is one entry of GET /crm/v3/properties/{object}.
type property struct {
	Name                 string `json:"name"`
	Label                string `json:"label"`
	Type                 string `json:"type"`      // string, number, date, datetime, enumeration, bool, phone_number
	FieldType            string `json:"fieldType"` // text, textarea, select, radio, checkbox, booleancheckbox, number, date, ...
	Calculated           bool   `json:"calculated"`
	Hidden               bool   `json:"hidden"`
	ModificationMetadata struct {
		ReadOnlyValue bool `json:"readOnlyValue"`
	} `json:"modificationMetadata"`
	Options []struct {
		Label  string `json:"label"`
		Value  string `json:"value"`
		Hidden bool   `json:"hidden"`
	} `json:"options"`
}

// references are the id-valued properties that point at other objects.
var references = map[string]string{"associatedcompanyid": "companies", "hubspot_owner_id": "owners"}

// Metadata lists the properties of contacts, companies and deals (or of
// the objects asked for, custom object types included).
func (h *HubSpot) Metadata(ctx context.Context, cfg connector.Config, req connector.MetadataRequest) (connector.Metadata, error) {
	api, err := h.api(cfg)
	if err != nil {
		return connector.Metadata{}, err
	}
	type want struct {
		name, label string
		kind        connector.Kind
	}
	var list []want
	if len(req.Objects) == 0 {
		for _, o := range describedObjects {
			list = append(list, want{o.name, o.label, o.kind})
		}
	} else {
		for _, n := range req.Objects {
			if !propNameRe.MatchString(n) {
				return connector.Metadata{}, connector.Permanent("%q is not a HubSpot object type", n)
			}
			w := want{name: n, label: n}
			for _, o := range describedObjects {
				if o.name == n {
					w = want{o.name, o.label, o.kind}
				}
			}
			list = append(list, w)
		}
	}
	var md connector.Metadata
	for _, w := range list {
		var out struct {
			Results []property `json:"results"`
		}
		if _, err := api.do(ctx, "GET", "/crm/v3/properties/"+w.name+"?archived=false", nil, &out); err != nil {
			return connector.Metadata{}, fmt.Errorf("properties of %s: %w", w.name, err)
		}
		o := connector.Object{Name: w.name, Label: w.label, Kind: w.kind}
		for _, p := range out.Results {
			o.Fields = append(o.Fields, toField(p))
		}
		md.Objects = append(md.Objects, o)
	}
	return md, nil
}

func toField(p property) connector.Field {
	f := connector.Field{Name: p.Name, Label: p.Label, Writable: !p.ModificationMetadata.ReadOnlyValue && !p.Calculated}
	switch {
	case p.Name == "hs_object_id":
		f.Type = connector.FieldID
	case references[p.Name] != "":
		f.Type, f.ReferenceTo = connector.FieldReference, references[p.Name]
	case p.Name == "email" || p.Name == "work_email":
		f.Type = connector.FieldEmail
	case p.Name == "website" || p.Name == "domain":
		f.Type = connector.FieldURL
	case p.Type == "bool" || p.Type == "boolean" || p.FieldType == "booleancheckbox":
		f.Type = connector.FieldBoolean
	case p.Type == "enumeration":
		for _, o := range p.Options {
			if !o.Hidden {
				f.Picklist = append(f.Picklist, connector.PicklistValue{Value: o.Value, Label: o.Label})
			}
		}
		f.Type = connector.FieldPicklist
		if len(f.Picklist) == 0 {
			f.Type = connector.FieldString
		}
	case p.Type == "number":
		f.Type = connector.FieldNumber
	case p.Type == "date":
		f.Type = connector.FieldDate
	case p.Type == "datetime":
		f.Type = connector.FieldDateTime
	case p.FieldType == "textarea" || p.FieldType == "html":
		f.Type = connector.FieldText
	default:
		f.Type = connector.FieldString // string, phone_number, ...
	}
	return f
}
