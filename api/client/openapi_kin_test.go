// This file validates api/openapi.yaml with kin-openapi: the document is
// valid OpenAPI, and the client's request structs and the contract's example
// objects satisfy its schemas.

package client

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

func loadKinDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile("../openapi.yaml")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentValidatesWithKin(t *testing.T) {
	doc := loadKinDoc(t)
	n := 0
	for _, item := range doc.Paths.Map() {
		n += len(item.Operations())
	}
	if n < len(documentedRoutes) {
		t.Errorf("%d operations, fewer than the %d routes listed here", n, len(documentedRoutes))
	}
}

// The client's request structs marshal into bodies the document accepts, and
// the contract's example objects satisfy the response schemas.
func TestOpenAPISchemasMatchClient(t *testing.T) {
	doc := loadKinDoc(t)
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	name := "Acme"
	ind := IndustryFinance
	cases := []struct {
		schema string
		value  any
		ok     bool
	}{
		{"RegisterRequest", RegisterRequest{Email: "a@b.co", Password: "12345678", Name: "A"}, true},
		{"RegisterRequest", RegisterRequest{Email: "a@b.co", Password: "short", Name: "A"}, false},
		{"LoginRequest", LoginRequest{Email: "a@b.co", Password: "x"}, true},
		{"CreateOrganizationRequest", CreateOrgRequest{Name: "Acme", Size: Size1To10, Industry: IndustryOther}, true},
		{"CreateOrganizationRequest", CreateOrgRequest{Name: "Acme", Subdomain: "acme-1", Size: Size501Plus, Industry: IndustryRetail, Plan: "free", OwnerEmail: "o@acme.io"}, true},
		{"CreateOrganizationRequest", CreateOrgRequest{Name: "Acme", Subdomain: "-bad", Size: Size1To10, Industry: IndustryOther}, false},
		{"CreateOrganizationRequest", CreateOrgRequest{Name: "Acme", Size: "huge", Industry: IndustryOther}, false},
		{"UpdateOrganizationRequest", UpdateOrgRequest{Name: &name, Industry: &ind}, true},
		{"UpdateOrganizationRequest", UpdateOrgRequest{}, true},
		{"CreateInvitationRequest", CreateInvitationRequest{Email: "a@b.co"}, true},
		{"CreateInvitationRequest", CreateInvitationRequest{Email: "a@b.co", Role: RoleOwner}, false},
		{"CreateAPIKeyRequest", CreateAPIKeyRequest{Name: "k"}, true},
		{"CreateAPIKeyRequest", CreateAPIKeyRequest{Name: "k", Type: KeyTypeProductOrg, ExpiresAt: &exp, WithSecret: true, PayloadTemplate: map[string]any{"a": 1}}, true},
		{"CreatePATRequest", CreateTokenRequest{Name: "ci", ExpiresAt: &exp}, true},
		{"Organization", json.RawMessage(org), true},
		{"Member", json.RawMessage(mem), true},
		{"Invitation", json.RawMessage(inv), true},
		{"APIKey", json.RawMessage(key), true},
		{"PersonalAccessToken", json.RawMessage(pat), true},
		{"User", json.RawMessage(user), true},
		{"Me", json.RawMessage(`{"user":null,"operator":true,"memberships":[]}`), true},
		{"Me", json.RawMessage(`{"operator":true,"memberships":[]}`), true},
	}
	for _, tc := range cases {
		b, err := json.Marshal(tc.value)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		s := doc.Components.Schemas[tc.schema]
		if s == nil {
			t.Fatalf("no schema %s", tc.schema)
		}
		err = s.Value.VisitJSON(v)
		if (err == nil) != tc.ok {
			t.Errorf("%s %s: ok=%v, err=%v", tc.schema, b, tc.ok, err)
		}
	}
}
