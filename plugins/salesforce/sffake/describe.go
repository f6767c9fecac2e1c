// Package sffake holds what the local fake Salesforce servers share (the
// write-back tests in actors and `trailspark bench deliver`): the sObject
// describe of Lead, Contact and Account with the fields SPEC §4 suggests
// for TrailSpark's results, in the shape of Salesforce's REST
// GET /services/data/vXX.X/sobjects/{object}/describe.
package sffake

import (
	"encoding/json"
	"net/http"
)

// Field is one entry of a describe's "fields".
type Field struct {
	Name              string `json:"name"`
	Label             string `json:"label"`
	Type              string `json:"type"`
	Updateable        bool   `json:"updateable"`
	Createable        bool   `json:"createable"`
	Nillable          bool   `json:"nillable"`
	DefaultedOnCreate bool   `json:"defaultedOnCreate"`
}

// Fields are obj's fields: Id and Email everywhere; LastName and the
// score, grade, reasoning and evaluation date fields on Lead and Contact
// (Company too on Lead, which Salesforce requires to create one); the
// propensity field on Account.
func Fields(obj string) []Field {
	fields := []Field{{"Id", "Id", "id", false, false, false, true}, {"Email", "Email", "email", true, true, true, false}}
	switch obj {
	case "Lead", "Contact":
		fields = append(fields, Field{"LastName", "Last Name", "string", true, true, false, false},
			Field{"TrailSpark_Score__c", "Score", "double", true, true, true, false},
			Field{"TrailSpark_Grade__c", "Grade", "string", true, true, true, false},
			Field{"TrailSpark_Reasoning__c", "Reasoning", "textarea", true, true, true, false},
			Field{"TrailSpark_Evaluation_Date__c", "Date", "datetime", true, true, true, false})
		if obj == "Lead" {
			fields = append(fields, Field{"Company", "Company", "string", true, true, false, false})
		}
	case "Account":
		fields = append(fields, Field{"TrailSpark_Propensity__c", "Propensity", "string", true, true, true, false})
	}
	return fields
}

// WriteDescribe answers a describe of obj.
func WriteDescribe(w http.ResponseWriter, obj string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"name": obj, "label": obj, "fields": Fields(obj)})
}
