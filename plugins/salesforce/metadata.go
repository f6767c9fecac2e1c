package main

import (
	"context"
	"fmt"

	"github.com/trailspark/trailspark/sdk/connector"
)

// describedObjects are the sObjects Metadata describes by default, in order.
var describedObjects = []struct {
	name string
	kind connector.Kind
}{
	{"Lead", connector.KindLeads},
	{"Contact", connector.KindContacts},
	{"Account", connector.KindAccounts},
	{"Opportunity", connector.KindOpportunities},
}

// describeResponse is the subset of GET /sobjects/{name}/describe we use.
type describeResponse struct {
	Name   string `json:"name"`
	Label  string `json:"label"`
	Fields []struct {
		Name              string   `json:"name"`
		Label             string   `json:"label"`
		Type              string   `json:"type"`
		Updateable        bool     `json:"updateable"`
		Createable        bool     `json:"createable"`
		Nillable          bool     `json:"nillable"`
		DefaultedOnCreate bool     `json:"defaultedOnCreate"`
		ReferenceTo       []string `json:"referenceTo"`
		PicklistValues    []struct {
			Active bool   `json:"active"`
			Label  string `json:"label"`
			Value  string `json:"value"`
		} `json:"picklistValues"`
	} `json:"fields"`
}

// Metadata describes Lead, Contact, Account and Opportunity (or the objects
// asked for: any sObject API name works, custom ones included).
func (s *Salesforce) Metadata(ctx context.Context, cfg connector.Config, req connector.MetadataRequest) (connector.Metadata, error) {
	api, err := s.api(cfg)
	if err != nil {
		return connector.Metadata{}, err
	}
	type want struct {
		name string
		kind connector.Kind
	}
	var list []want
	if len(req.Objects) == 0 {
		for _, o := range describedObjects {
			list = append(list, want{o.name, o.kind})
		}
	} else {
		for _, name := range req.Objects {
			if !fieldNameRe.MatchString(name) {
				return connector.Metadata{}, connector.Permanent("%q is not an sObject API name", name)
			}
			w := want{name: name}
			for _, o := range describedObjects {
				if o.name == name {
					w.kind = o.kind
				}
			}
			list = append(list, w)
		}
	}
	var md connector.Metadata
	for _, w := range list {
		var d describeResponse
		if err := api.do(ctx, "GET", api.path("/sobjects/"+w.name+"/describe"), nil, &d); err != nil {
			return connector.Metadata{}, fmt.Errorf("describe %s: %w", w.name, err)
		}
		md.Objects = append(md.Objects, toObject(d, w.kind))
	}
	return md, nil
}

func toObject(d describeResponse, kind connector.Kind) connector.Object {
	o := connector.Object{Name: d.Name, Label: d.Label, Kind: kind}
	for _, f := range d.Fields {
		fld := connector.Field{
			Name:     f.Name,
			Label:    f.Label,
			Type:     fieldType(f.Type),
			Writable: f.Updateable,
			Required: f.Createable && !f.Nillable && !f.DefaultedOnCreate,
		}
		switch fld.Type {
		case connector.FieldPicklist:
			for _, p := range f.PicklistValues {
				if p.Active {
					fld.Picklist = append(fld.Picklist, connector.PicklistValue{Value: p.Value, Label: p.Label})
				}
			}
			if len(fld.Picklist) == 0 {
				fld.Type = connector.FieldString // a picklist without active values takes any text
			}
		case connector.FieldReference:
			if len(f.ReferenceTo) == 0 {
				fld.Type = connector.FieldID
			} else {
				fld.ReferenceTo = f.ReferenceTo[0] // polymorphic lookups (OwnerId: User, Group) keep the first
			}
		}
		o.Fields = append(o.Fields, fld)
	}
	return o
}

// fieldType maps Salesforce's SOAP types to portable ones.
func fieldType(t string) connector.FieldType {
	switch t {
	case "textarea":
		return connector.FieldText
	case "int", "long":
		return connector.FieldInteger
	case "double", "currency", "percent":
		return connector.FieldNumber
	case "boolean":
		return connector.FieldBoolean
	case "date":
		return connector.FieldDate
	case "datetime":
		return connector.FieldDateTime
	case "email":
		return connector.FieldEmail
	case "url":
		return connector.FieldURL
	case "picklist", "multipicklist", "combobox":
		return connector.FieldPicklist
	case "id":
		return connector.FieldID
	case "reference":
		return connector.FieldReference
	}
	return connector.FieldString // string, phone, address, location, encryptedstring, time, ...
}
