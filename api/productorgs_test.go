package api_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/trailspark/trailspark/api/apitest"
)

// Integration tests of product orgs (api/productorgs.go, SPEC §2.6) and an
// OpenAPI walk of the product-org and Segment operations, against a real
// node.

const porgHook = "/api/product-orgs/webhook/"

type porgAccepted struct {
	ID        string  `json:"id"`
	Message   string  `json:"message"`
	AccountID *string `json:"account_id"`
	Created   bool    `json:"created"`
	Link      *struct {
		AccountID string `json:"account_id"`
		How       string `json:"how"`
	} `json:"link"`
	Unmatched string `json:"unmatched_reason"`
}

type porgView struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	PlanID       string         `json:"plan_id"`
	PlanName     string         `json:"plan_name"`
	UserCount    *int64         `json:"user_count"`
	MRRCents     *int64         `json:"mrr_cents"`
	TrialStatus  string         `json:"trial_status"`
	LastActiveAt *time.Time     `json:"last_active_at"`
	FeatureFlags map[string]any `json:"feature_flags"`
	AccountID    string         `json:"account_id"`
	Domain       string         `json:"domain"`
	CRMID        string         `json:"crm_id"`
	Custom       map[string]any `json:"custom"`
	Link         *struct {
		AccountID string `json:"account_id"`
		How       string `json:"how"`
	} `json:"link"`
	Unmatched   string    `json:"unmatched_reason"`
	KeyID       string    `json:"key_id"`
	UpdateCount int       `json:"update_count"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// The hosted docs' template, plus a domain and custom metrics.
var porgTemplate = map[string]any{
	"product_org_id": "workspace_id", "name": "workspace_name", "plan_id": "plan_id", "plan_name": "plan_name",
	"user_count": "user_count", "mrr_cents": "mrr", "trial_status": "trial_status", "last_active_at": "last_active_at",
	"feature_flags": "feature_flags", "domain": "website", "account_id": "trailspark.account",
	"projects_count": "metrics.total_projects", "api_calls_30d": "usage.api_calls_last_30_days",
}

func porgPayload() map[string]any {
	return map[string]any{
		"workspace_id": "ws_9931", "workspace_name": "Northwind Analytics", "plan_id": "pro_monthly", "plan_name": "Pro",
		"user_count": 14, "mrr": 49900, "trial_status": "converted", "last_active_at": "2025-03-01T17:40:00Z",
		"feature_flags": map[string]any{"sso": true, "api_access": true}, "metrics": map[string]any{"total_projects": 27},
		"website": "https://www.northwind.co.uk",
	}
}

func (e *tenv) porgKey(org, token string) keyCreated {
	e.t.Helper()
	return e.key(org, token, map[string]any{"name": "product orgs", "type": "product_org", "payload_template": porgTemplate})
}

func TestProductOrgWebhookMapsTemplate(t *testing.T) {
	e := newEnv(t)
	o := e.segOrg("Porg")
	k := e.porgKey(o.id, o.owner.Token)

	var acc porgAccepted
	e.ok(e.do("POST", porgHook+k.Key, "", porgPayload()), http.StatusAccepted, &acc)
	if acc.ID != "ws_9931" || acc.Message != "Product org received" || !acc.Created || acc.AccountID != nil || acc.Link != nil ||
		acc.Unmatched != "no_account_for_domain" {
		t.Fatalf("202 body %+v", acc)
	}
	var p porgView
	e.ok(e.do("GET", o.base+"/product-orgs/ws_9931", o.owner.Token, nil), http.StatusOK, &p)
	at := time.Date(2025, 3, 1, 17, 40, 0, 0, time.UTC)
	if p.ID != "ws_9931" || p.Name != "Northwind Analytics" || p.PlanID != "pro_monthly" || p.PlanName != "Pro" ||
		p.UserCount == nil || *p.UserCount != 14 || p.MRRCents == nil || *p.MRRCents != 49900 || p.TrialStatus != "converted" ||
		p.LastActiveAt == nil || !p.LastActiveAt.Equal(at) || p.FeatureFlags["sso"] != true || p.Domain != "northwind.co.uk" ||
		p.Custom["projects_count"] != 27.0 || len(p.Custom) != 1 || p.KeyID != k.APIKey.ID || p.UpdateCount != 1 {
		t.Errorf("stored product org %+v", p)
	}
	var l list[porgView]
	e.ok(e.do("GET", o.base+"/product-orgs", o.owner.Token, nil), http.StatusOK, &l)
	if len(l.Items) != 1 || l.Items[0].ID != "ws_9931" || l.NextCursor != "" {
		t.Errorf("list %+v", l)
	}

	// The bearer form, and numbers as ids.
	e.ok(e.do("POST", "/api/product-orgs/webhook", k.Key, rawBody(`{"workspace_id": 12345678901234567890}`)), http.StatusAccepted, &acc)
	if acc.ID != "12345678901234567890" {
		t.Errorf("numeric id → %q", acc.ID)
	}
	// Paging.
	e.ok(e.do("POST", porgHook+k.Key, "", map[string]any{"workspace_id": "ws a+b"}), http.StatusAccepted, nil)
	e.ok(e.do("GET", o.base+"/product-orgs?limit=2", o.owner.Token, nil), http.StatusOK, &l)
	if len(l.Items) != 2 || l.NextCursor == "" {
		t.Fatalf("page 1: %+v", l)
	}
	var l2 list[porgView]
	e.ok(e.do("GET", o.base+"/product-orgs?limit=2&cursor="+url.QueryEscape(l.NextCursor), o.owner.Token, nil), http.StatusOK, &l2)
	if len(l2.Items) != 1 || l2.NextCursor != "" || l2.Items[0].ID == l.Items[0].ID || l2.Items[0].ID == l.Items[1].ID {
		t.Errorf("page 2: %+v after %+v", l2, l)
	}
	// Ids with spaces and '+' read back through URL encoding.
	e.ok(e.do("GET", o.base+"/product-orgs/"+url.PathEscape("ws a+b"), o.owner.Token, nil), http.StatusOK, &p)
	if p.ID != "ws a+b" {
		t.Errorf("got %q", p.ID)
	}
	e.fails(e.do("GET", o.base+"/product-orgs/ws_missing", o.owner.Token, nil), http.StatusNotFound, "product_org_not_found", "")
	e.fails(e.do("GET", o.base+"/product-orgs?limit=0", o.owner.Token, nil), http.StatusBadRequest, "out_of_range", "limit")
}

func TestProductOrgWebhookErrorsNameFields(t *testing.T) {
	e := newEnv(t)
	o := e.segOrg("PorgErr")
	k := e.porgKey(o.id, o.owner.Token)
	with := func(kv ...any) map[string]any {
		p := porgPayload()
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(p, kv[i].(string))
				continue
			}
			p[kv[i].(string)] = kv[i+1]
		}
		return p
	}
	r := e.do("POST", porgHook+k.Key, "", with("workspace_id", nil))
	e.fails(r, http.StatusBadRequest, "required", "product_org_id")
	if !strings.Contains(string(r.Body), `\"workspace_id\"`) {
		t.Errorf("%s: the message does not name the template path", r)
	}
	e.fails(e.do("POST", porgHook+k.Key, "", with("workspace_id", "  ")), http.StatusBadRequest, "required", "product_org_id")
	e.fails(e.do("POST", porgHook+k.Key, "", with("workspace_id", "a/b")), http.StatusBadRequest, "invalid_format", "product_org_id")
	e.fails(e.do("POST", porgHook+k.Key, "", with("workspace_id", true)), http.StatusBadRequest, "wrong_type", "product_org_id")
	e.fails(e.do("POST", porgHook+k.Key, "", with("user_count", "many")), http.StatusBadRequest, "wrong_type", "user_count")
	e.fails(e.do("POST", porgHook+k.Key, "", with("user_count", -2)), http.StatusBadRequest, "out_of_range", "user_count")
	e.fails(e.do("POST", porgHook+k.Key, "", with("mrr", 499.5)), http.StatusBadRequest, "wrong_type", "mrr_cents")
	e.fails(e.do("POST", porgHook+k.Key, "", with("trial_status", "trialing")), http.StatusBadRequest, "invalid_enum", "trial_status")
	e.fails(e.do("POST", porgHook+k.Key, "", with("last_active_at", "yesterday")), http.StatusBadRequest, "invalid_format", "last_active_at")
	e.fails(e.do("POST", porgHook+k.Key, "", with("feature_flags", "sso")), http.StatusBadRequest, "wrong_type", "feature_flags")
	e.fails(e.do("POST", porgHook+k.Key, "", with("website", "localhost")), http.StatusBadRequest, "invalid_format", "domain")
	e.fails(e.do("POST", porgHook+k.Key, "", rawBody(`{"workspace_id": "w",`)), http.StatusBadRequest, "malformed_json", "")
	e.fails(e.do("POST", porgHook+k.Key, "", rawBody(`[{"workspace_id": "w"}]`)), http.StatusBadRequest, "malformed_json", "")
	e.fails(e.do("POST", porgHook+k.Key, "", rawBody(`{"workspace_id": "w"} {}`)), http.StatusBadRequest, "malformed_json", "")
	e.fails(e.do("POST", porgHook+k.Key, "", rawBody(``)), http.StatusBadRequest, "malformed_json", "")
	e.fails(e.do("POST", porgHook+k.Key, "", rawBody(`{"workspace_id":"w","pad":"`+strings.Repeat("x", 33<<10)+`"}`)),
		http.StatusRequestEntityTooLarge, "payload_too_large", "")
	e.fails(e.do("POST", porgHook+k.Key, "", rawBody(`<org/>`), withHeader("Content-Type", "application/xml")),
		http.StatusUnsupportedMediaType, "unsupported_media_type", "")
	// Nothing was stored by the refused payloads.
	var l list[porgView]
	e.ok(e.do("GET", o.base+"/product-orgs", o.owner.Token, nil), http.StatusOK, &l)
	if len(l.Items) != 0 {
		t.Errorf("refused payloads stored: %+v", l.Items)
	}
	// A template the mapping cannot use is refused when the key is created.
	e.fails(e.do("POST", "/api/v1/orgs/"+o.id+"/api-keys", o.owner.Token, map[string]any{"name": "bad template", "type": "product_org",
		"payload_template": map[string]any{"product_org_id": "data..id"}}),
		http.StatusBadRequest, "invalid_format", "payload_template.product_org_id")
}

func TestProductOrgWebhookAuth(t *testing.T) {
	e := newEnv(t)
	o := e.segOrg("PorgAuth")
	k := e.porgKey(o.id, o.owner.Token)
	e.fails(e.do("POST", porgHook+o.key, "", porgPayload()), http.StatusUnauthorized, "key_wrong_type", "")
	e.fails(e.do("POST", "/api/product-orgs/webhook", o.key, porgPayload()), http.StatusUnauthorized, "key_wrong_type", "")
	e.fails(e.do("POST", porgHook+"sk_nope", "", porgPayload()), http.StatusUnauthorized, "key_invalid", "")
	e.fails(e.do("POST", "/api/product-orgs/webhook", "", porgPayload()), http.StatusUnauthorized, "missing_credential", "")
	// A product_org key opens no signal endpoint.
	e.fails(e.do("POST", "/api/signal-staging/webhook/"+k.Key, "", map[string]any{"email": "a@b.co"}), http.StatusUnauthorized, "key_wrong_type", "")
	e.fails(e.do("POST", "/v1/track", k.Key, map[string]any{"userId": "u"}), http.StatusUnauthorized, "key_wrong_type", "")

	sec := e.key(o.id, o.owner.Token, map[string]any{"name": "porg secret", "type": "product_org", "with_secret": true,
		"payload_template": map[string]any{"product_org_id": "id"}})
	e.fails(e.do("POST", porgHook+sec.Key, "", map[string]any{"id": "w"}), http.StatusUnauthorized, "secret_required", "")
	e.ok(e.do("POST", porgHook+sec.Key, "", map[string]any{"id": "w"}, withHeader("X-Api-Secret", sec.Secret)), http.StatusAccepted, nil)
	e.ok(e.do("POST", o.base+"/api-keys/"+k.APIKey.ID+"/revoke", o.owner.Token, nil), http.StatusOK, nil)
	e.fails(e.do("POST", porgHook+k.Key, "", porgPayload()), http.StatusUnauthorized, "key_revoked", "")

	// Reads: any member; others see 404; keys are no management credential.
	viewer := e.user("Vic")
	e.join(o.id, o.owner.Token, viewer, "viewer")
	e.ok(e.do("GET", o.base+"/product-orgs", viewer.Token, nil), http.StatusOK, nil)
	e.ok(e.do("GET", o.base+"/product-orgs/w", viewer.Token, nil), http.StatusOK, nil)
	outsider := e.user("Out")
	e.fails(e.do("GET", o.base+"/product-orgs", outsider.Token, nil), http.StatusNotFound, "organization_not_found", "")
	e.fails(e.do("GET", o.base+"/product-orgs/w", outsider.Token, nil), http.StatusNotFound, "organization_not_found", "")
	e.fails(e.do("GET", o.base+"/product-orgs", "", nil), http.StatusUnauthorized, "missing_credential", "")
	e.fails(e.do("GET", o.base+"/product-orgs", sec.Key, nil), http.StatusUnauthorized, "invalid_token", "")
	// Another organization's product org is not found.
	other := e.segOrg("PorgOther")
	e.fails(e.do("GET", other.base+"/product-orgs/w", other.owner.Token, nil), http.StatusNotFound, "product_org_not_found", "")
	e.ok(e.do("GET", "/api/v1/orgs/"+o.id+"/product-orgs/w", e.n.OperatorToken, nil), http.StatusOK, nil)
}

// A second update keeps created_at, moves updated_at, counts, and merges:
// absent paths keep their values, nulls clear them.
func TestProductOrgUpsertKeepsCreatedAt(t *testing.T) {
	e := newEnv(t)
	o := e.segOrg("PorgUpsert")
	k := e.porgKey(o.id, o.owner.Token)
	e.ok(e.do("POST", porgHook+k.Key, "", porgPayload()), http.StatusAccepted, nil)
	var first porgView
	e.ok(e.do("GET", o.base+"/product-orgs/ws_9931", o.owner.Token, nil), http.StatusOK, &first)

	e.n.Clock.Advance(time.Hour)
	var acc porgAccepted
	e.ok(e.do("POST", porgHook+k.Key, "", map[string]any{"workspace_id": "ws_9931", "user_count": 20, "plan_name": nil,
		"usage": map[string]any{"api_calls_last_30_days": 1200}}), http.StatusAccepted, &acc)
	if acc.Created {
		t.Error("an update answered created")
	}
	var p porgView
	e.ok(e.do("GET", o.base+"/product-orgs/ws_9931", o.owner.Token, nil), http.StatusOK, &p)
	if !p.CreatedAt.Equal(first.CreatedAt) || !p.UpdatedAt.Equal(first.UpdatedAt.Add(time.Hour)) || p.UpdateCount != 2 {
		t.Errorf("times/count: created %v→%v updated %v→%v count %d", first.CreatedAt, p.CreatedAt, first.UpdatedAt, p.UpdatedAt, p.UpdateCount)
	}
	if *p.UserCount != 20 || p.PlanName != "" || p.Name != "Northwind Analytics" || *p.MRRCents != 49900 ||
		p.Custom["api_calls_30d"] != 1200.0 || p.Custom["projects_count"] != 27.0 {
		t.Errorf("merged %+v", p)
	}
}

func TestProductOrgLinksToAccounts(t *testing.T) {
	e := newEnv(t)
	o := e.segOrg("PorgLink")
	k := e.porgKey(o.id, o.owner.Token)
	var nw, other segAccount
	e.ok(e.do("POST", o.base+"/accounts", o.owner.Token, map[string]any{"name": "Northwind", "domain": "northwind.co.uk"}), http.StatusCreated, &nw)
	e.ok(e.do("POST", o.base+"/accounts", o.owner.Token, map[string]any{"name": "Other"}), http.StatusCreated, &other)

	var acc porgAccepted
	e.ok(e.do("POST", porgHook+k.Key, "", porgPayload()), http.StatusAccepted, &acc)
	if acc.AccountID == nil || *acc.AccountID != nw.ID || acc.Link == nil || acc.Link.How != "domain" || acc.Unmatched != "" {
		t.Fatalf("by domain: %+v", acc)
	}
	var p porgView
	e.ok(e.do("GET", o.base+"/product-orgs/ws_9931", o.owner.Token, nil), http.StatusOK, &p)
	if p.Link == nil || p.Link.AccountID != nw.ID || p.Link.How != "domain" {
		t.Errorf("stored link %+v", p.Link)
	}
	// An explicit account id wins over the domain.
	pl := porgPayload()
	pl["trailspark"] = map[string]any{"account": other.ID}
	e.ok(e.do("POST", porgHook+k.Key, "", pl), http.StatusAccepted, &acc)
	if acc.AccountID == nil || *acc.AccountID != other.ID || acc.Link.How != "explicit" {
		t.Errorf("explicit: %+v", acc)
	}
	// A free-mail domain never links.
	e.ok(e.do("POST", porgHook+k.Key, "", map[string]any{"workspace_id": "ws_free", "website": "gmail.com"}), http.StatusAccepted, &acc)
	if acc.AccountID != nil || acc.Unmatched != "free_email_domain" {
		t.Errorf("free mail: %+v", acc)
	}
}

// A walk through the product-org and Segment operations, each response
// validated against api/openapi.yaml (the validator of openapi_test.go).
func TestProductOrgAndSegmentOpenAPI(t *testing.T) {
	doc := loadDoc(t)
	doc.Servers = openapi3.Servers{{URL: "http://trailspark.local"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	n := apitest.Start(t)
	v := &validator{t: t, router: router, url: n.URL, seen: map[string]bool{}}
	v.must(201, "POST", "/api/v1/auth/register", "", map[string]any{"email": "pat@acme.io", "password": "correct horse", "name": "Pat"})
	tok := v.must(200, "POST", "/api/v1/auth/login", "", map[string]any{"email": "pat@acme.io", "password": "correct horse"})["token"].(string)
	orgID := v.must(201, "POST", "/api/v1/orgs", tok, map[string]any{"name": "Acme", "size": "11-50", "industry": "Technology"})["id"].(string)
	base := "/api/v1/orgs/" + orgID
	write := v.must(201, "POST", base+"/api-keys", tok, map[string]any{"name": "segment"})["key"].(string)
	porg := v.must(201, "POST", base+"/api-keys", tok, map[string]any{"name": "porg", "type": "product_org",
		"payload_template": porgTemplate})["key"].(string)
	basic := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(write+":"))}
	seg := func(want int, path string, body any) map[string]any {
		t.Helper()
		return v.mustSend(want, call{method: "POST", path: path, json: body, header: basic})
	}

	// ---- Segment
	seg(200, "/v1/track", map[string]any{"userId": "u-1", "event": "Demo Requested", "messageId": "m-1",
		"context": map[string]any{"traits": map[string]any{"email": "lee@globex.com"}}, "timestamp": "2030-01-01T12:00:00Z"})
	seg(200, "/v1/identify", map[string]any{"type": "identify", "userId": "u-1", "anonymousId": "a-1", "traits": map[string]any{"email": "lee@globex.com"}})
	seg(200, "/v1/page", map[string]any{"anonymousId": "a-2", "name": "Pricing"})
	seg(200, "/v1/screen", map[string]any{"userId": "u-1", "name": "Home"})
	seg(200, "/v1/group", map[string]any{"userId": "u-1", "groupId": "g-1", "traits": map[string]any{"name": "Globex", "website": "globex.com"}})
	seg(200, "/v1/alias", map[string]any{"userId": "u-1", "previousId": "a-1"})
	v.mustSend(200, call{method: "POST", path: "/v1/track", token: write, json: map[string]any{"userId": "u-2", "event": "Signed Up"}})
	seg(400, "/v1/track", map[string]any{"type": "page", "userId": "u-1"})
	seg(400, "/v1/identify", map[string]any{"userId": "u-1", "email": 5})
	v.must(401, "POST", "/v1/page", "", map[string]any{"name": "Pricing"})
	v.mustSend(401, call{method: "POST", path: "/v1/screen", json: map[string]any{"name": "Home"},
		header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("sk_nope:"))}})
	v.must(401, "POST", "/v1/group", porg, map[string]any{"groupId": "g"})
	v.mustSend(413, call{method: "POST", path: "/v1/alias", raw: []byte(`{"pad":"` + strings.Repeat("x", 33<<10) + `"}`), ctype: "application/json", header: basic})
	v.mustSend(415, call{method: "POST", path: "/v1/track", raw: []byte(`<t/>`), ctype: "application/xml", header: basic})

	seg(200, "/v1/batch", map[string]any{"sentAt": "2030-01-01T12:00:05Z", "context": map[string]any{"library": map[string]any{"name": "analytics-go"}},
		"batch": []any{
			map[string]any{"type": "track", "userId": "u-3", "event": "Trial Started", "messageId": "m-b1"},
			map[string]any{"type": "identify", "userId": "u-3", "traits": map[string]any{"email": "kim@initech.com"}},
		}})
	seg(200, "/v1/batch", []any{map[string]any{"type": "page", "userId": "u-3", "name": "Docs"}})
	if m := seg(400, "/v1/batch", map[string]any{"batch": []any{
		map[string]any{"type": "track", "userId": "u-4"},
		map[string]any{"type": "track", "userId": "u-4", "email": []any{}},
	}}); m["error"].(map[string]any)["field"] != "batch[1].email" {
		t.Errorf("batch error %v", m)
	}
	seg(400, "/v1/batch", map[string]any{"batch": []any{}})
	v.must(401, "POST", "/v1/batch", "", []any{map[string]any{"type": "track"}})
	v.mustSend(413, call{method: "POST", path: "/v1/batch", raw: []byte(`{"batch":[{"pad":"` + strings.Repeat("x", 501<<10) + `"}]}`), ctype: "application/json", header: basic})
	v.mustSend(415, call{method: "POST", path: "/v1/batch", raw: []byte(`<b/>`), ctype: "application/xml", header: basic})

	// ---- product orgs
	v.must(201, "POST", base+"/accounts", tok, map[string]any{"name": "Northwind", "domain": "northwind.co.uk"})
	v.must(202, "POST", porgHook+porg, "", porgPayload())
	v.must(202, "POST", porgHook+porg, "", map[string]any{"workspace_id": "ws_2", "website": "gmail.com"})
	v.must(202, "POST", "/api/product-orgs/webhook", porg, map[string]any{"workspace_id": "ws_3"})
	v.must(400, "POST", porgHook+porg, "", map[string]any{"workspace_name": "no id"})
	v.must(400, "POST", "/api/product-orgs/webhook", porg, map[string]any{"workspace_id": "ws_4", "trial_status": "maybe"})
	v.must(401, "POST", porgHook+write, "", porgPayload())
	v.must(401, "POST", "/api/product-orgs/webhook", "", porgPayload())
	v.mustSend(413, call{method: "POST", path: porgHook + porg, raw: []byte(`{"pad":"` + strings.Repeat("x", 33<<10) + `"}`), ctype: "application/json"})
	v.mustSend(415, call{method: "POST", path: "/api/product-orgs/webhook", token: porg, raw: []byte(`<o/>`), ctype: "application/xml"})

	v.must(200, "GET", base+"/product-orgs", tok, nil)
	v.must(200, "GET", base+"/product-orgs?limit=1", tok, nil)
	v.must(400, "GET", base+"/product-orgs?limit=999", tok, nil)
	v.must(401, "GET", base+"/product-orgs", "", nil)
	v.must(404, "GET", "/api/v1/orgs/org_missing/product-orgs", tok, nil)
	v.must(200, "GET", base+"/product-orgs/ws_9931", tok, nil)
	v.must(200, "GET", base+"/product-orgs/ws_2", tok, nil)
	v.must(404, "GET", base+"/product-orgs/ws_missing", tok, nil)
	v.must(401, "GET", base+"/product-orgs/ws_9931", "", nil)

	for path, item := range doc.Paths.Map() {
		if !strings.HasPrefix(path, "/v1/") && !strings.Contains(path, "product-orgs") {
			continue
		}
		for method := range item.Operations() {
			if !v.seen[method+" "+path] {
				t.Errorf("operation %s %s not exercised by this test", method, path)
			}
		}
	}
}
