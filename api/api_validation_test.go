package api_test

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/trailspark/trailspark/store"
)

// rawStore is every key and value in the store, sorted.
func rawStore(t *testing.T, st store.StateStore) []string {
	t.Helper()
	var out []string
	err := st.Scan(context.Background(), []byte(""), nil, func(it store.Item) error {
		out = append(out, string(it.Key)+"="+string(it.Value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// orgBody is a valid create-organization body with one field changed
// (a nil value removes the field).
func orgBody(changes map[string]any) map[string]any {
	b := map[string]any{"name": "Valid Name", "subdomain": "never-made", "size": "11-50", "industry": "Technology"}
	for k, v := range changes {
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
	}
	return b
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner")
	o := e.org(owner, "Valid Co")
	orgs := "/api/v1/orgs"
	keys := "/api/v1/orgs/" + o.ID + "/api-keys"
	big := rawBody(`{"name":"` + strings.Repeat("a", 1<<20) + `"}`)

	cases := []struct {
		name         string
		method, path string
		body         any
		opts         []reqOpt
		status       int
		code, field  string
	}{
		{"malformed JSON", "POST", orgs, rawBody(`{"name":`), nil, 400, "malformed_json", ""},
		{"not JSON at all", "POST", orgs, rawBody(`name=acme`), nil, 400, "malformed_json", ""},
		{"two JSON values", "POST", orgs, rawBody(`{"name":"A"} {"name":"B"}`), nil, 400, "malformed_json", ""},
		{"empty body", "POST", orgs, rawBody(``), nil, 400, "malformed_json", ""},
		{"array body", "POST", orgs, rawBody(`[]`), nil, 400, "wrong_type", ""},
		{"unknown field", "POST", orgs, orgBody(map[string]any{"colour": "red"}), nil, 400, "unknown_field", "colour"},
		{"wrong type", "POST", orgs, orgBody(map[string]any{"name": 5}), nil, 400, "wrong_type", "name"},
		{"name too long", "POST", orgs, orgBody(map[string]any{"name": strings.Repeat("n", 101)}), nil, 400, "too_long", "name"},
		{"name too long (runes)", "POST", orgs, orgBody(map[string]any{"name": strings.Repeat("é", 101)}), nil, 400, "too_long", "name"},
		{"name blank", "POST", orgs, orgBody(map[string]any{"name": "   "}), nil, 400, "required", "name"},
		{"name missing", "POST", orgs, orgBody(map[string]any{"name": nil, "subdomain": "never-made"}), nil, 400, "required", "name"},
		{"size missing", "POST", orgs, orgBody(map[string]any{"size": nil}), nil, 400, "required", "size"},
		{"size invalid", "POST", orgs, orgBody(map[string]any{"size": "12-50"}), nil, 400, "invalid_enum", "size"},
		{"industry missing", "POST", orgs, orgBody(map[string]any{"industry": nil}), nil, 400, "required", "industry"},
		{"industry invalid", "POST", orgs, orgBody(map[string]any{"industry": "Mining"}), nil, 400, "invalid_enum", "industry"},
		{"subdomain with underscore", "POST", orgs, orgBody(map[string]any{"subdomain": "a_b"}), nil, 400, "invalid_subdomain", "subdomain"},
		{"subdomain leading dash", "POST", orgs, orgBody(map[string]any{"subdomain": "-abc"}), nil, 400, "invalid_subdomain", "subdomain"},
		{"subdomain trailing dash", "POST", orgs, orgBody(map[string]any{"subdomain": "abc-"}), nil, 400, "invalid_subdomain", "subdomain"},
		{"subdomain dot", "POST", orgs, orgBody(map[string]any{"subdomain": "a.bc"}), nil, 400, "invalid_subdomain", "subdomain"},
		{"subdomain too short", "POST", orgs, orgBody(map[string]any{"subdomain": "ab"}), nil, 400, "too_short", "subdomain"},
		{"subdomain too long", "POST", orgs, orgBody(map[string]any{"subdomain": strings.Repeat("s", 21)}), nil, 400, "too_long", "subdomain"},
		{"wrong content type", "POST", orgs, orgBody(nil), []reqOpt{withHeader("Content-Type", "text/plain")}, 415, "unsupported_media_type", ""},
		{"form content type", "POST", orgs, orgBody(nil), []reqOpt{withHeader("Content-Type", "application/x-www-form-urlencoded")}, 415, "unsupported_media_type", ""},
		{"body over 1 MiB", "POST", orgs, big, nil, 413, "payload_too_large", ""},
		{"body over 1 MiB, streamed", "POST", orgs, big, []reqOpt{chunked()}, 413, "payload_too_large", ""},
		{"update: name too long", "PATCH", "/api/v1/orgs/" + o.ID, map[string]any{"name": strings.Repeat("n", 101)}, nil, 400, "too_long", "name"},
		{"update: size invalid", "PATCH", "/api/v1/orgs/" + o.ID, map[string]any{"size": "huge"}, nil, 400, "invalid_enum", "size"},
		{"update: wrong type", "PATCH", "/api/v1/orgs/" + o.ID, map[string]any{"industry": true}, nil, 400, "wrong_type", "industry"},
		{"update: unknown field", "PATCH", "/api/v1/orgs/" + o.ID, map[string]any{"plan": "enterprise"}, nil, 400, "unknown_field", "plan"},
		{"key: expires_at not RFC 3339", "POST", keys, map[string]any{"name": "k", "expires_at": "tomorrow"}, nil, 400, "invalid_format", "expires_at"},
		{"key: expires_at date only", "POST", keys, map[string]any{"name": "k", "expires_at": "2030-01-02"}, nil, 400, "invalid_format", "expires_at"},
		{"key: expires_at a number", "POST", keys, map[string]any{"name": "k", "expires_at": 1893456000}, nil, 400, "wrong_type", "expires_at"},
		{"key: with_secret a string", "POST", keys, map[string]any{"name": "k", "with_secret": "yes"}, nil, 400, "wrong_type", "with_secret"},
		{"key: name missing", "POST", keys, map[string]any{"type": "signal_staging"}, nil, 400, "required", "name"},
		{"key: name too long", "POST", keys, map[string]any{"name": strings.Repeat("k", 101)}, nil, 400, "too_long", "name"},
		{"invitation: role invalid", "POST", "/api/v1/orgs/" + o.ID + "/invitations", map[string]any{"email": "a@example.test", "role": "god"}, nil, 400, "invalid_enum", "role"},
		{"invitation: email missing", "POST", "/api/v1/orgs/" + o.ID + "/invitations", map[string]any{"role": "viewer"}, nil, 400, "required", "email"},
		{"role: wrong type", "PATCH", "/api/v1/orgs/" + o.ID + "/members/" + owner.ID, map[string]any{"role": 3}, nil, 400, "wrong_type", "role"},
		{"transfer: user_id missing", "POST", "/api/v1/orgs/" + o.ID + "/transfer-ownership", map[string]any{}, nil, 400, "required", "user_id"},
		{"limit=0", "GET", orgs + "?limit=0", nil, nil, 400, "out_of_range", "limit"},
		{"limit=201", "GET", orgs + "?limit=201", nil, nil, 400, "out_of_range", "limit"},
		{"limit not a number", "GET", orgs + "?limit=ten", nil, nil, 400, "out_of_range", "limit"},
		{"cursor not ours", "GET", orgs + "?cursor=bm90LW91cnM", nil, nil, 400, "invalid_format", "cursor"},
		{"register: bad email", "POST", "/api/v1/auth/register", map[string]any{"email": "nope", "password": "long enough password", "name": "N"}, nil, 400, "invalid_format", "email"},
		{"register: short password", "POST", "/api/v1/auth/register", map[string]any{"email": "short@example.test", "password": "x", "name": "N"}, nil, 400, "too_short", "password"},
		{"login: password missing", "POST", "/api/v1/auth/login", map[string]any{"email": owner.Email}, nil, 400, "required", "password"},
		{"no such route", "GET", "/api/v1/nothing-here", nil, nil, 404, "route_not_found", ""},
		{"wrong method", "PUT", orgs, orgBody(nil), nil, 405, "method_not_allowed", ""},
		{"junk org id", "GET", "/api/v1/orgs/not-an-org-id", nil, nil, 404, "organization_not_found", ""},
	}

	before := rawStore(t, e.n.Store)
	beforeOrgs := e.orgIDs()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := e.at(t)
			token := owner.Token
			if strings.HasPrefix(c.path, "/api/v1/auth/") {
				token = ""
			}
			e.fails(e.do(c.method, c.path, token, c.body, c.opts...), c.status, c.code, c.field)
		})
	}
	// Nothing a refused request touched was written.
	if after := rawStore(t, e.n.Store); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("refused requests changed the store: %d entries before, %d after", len(before), len(after))
	}
	if after := e.orgIDs(); strings.Join(after, ",") != strings.Join(beforeOrgs, ",") {
		t.Errorf("refused creates changed the organization list: %v -> %v", beforeOrgs, after)
	}
	var sc struct {
		Available bool `json:"available"`
	}
	e.ok(e.do("GET", "/api/v1/orgs/subdomain-check?subdomain=never-made", owner.Token, nil), 200, &sc)
	if !sc.Available {
		t.Error("a refused create claimed its subdomain")
	}

	t.Run("what is accepted", func(t *testing.T) {
		e := e.at(t)
		// Upper case is lowercased, spaces trimmed; industry is matched ignoring case.
		var ov orgView
		e.ok(e.do("POST", orgs, owner.Token, orgBody(map[string]any{"subdomain": "  UPPER-Case ", "industry": "healthcare",
			"name": strings.Repeat("n", 100)})), 201, &ov)
		if ov.Subdomain != "upper-case" || ov.Industry != "Healthcare" || len(ov.Name) != 100 {
			t.Errorf("created: %+v", ov)
		}
		// No subdomain: suggested from the name.
		e.ok(e.do("POST", orgs, owner.Token, orgBody(map[string]any{"subdomain": nil, "name": "Ünïcode Widgets"})), 201, &ov)
		if ov.Subdomain != "unicode-widgets" {
			t.Errorf("suggested subdomain %q", ov.Subdomain)
		}
		// A charset parameter and +json types are JSON.
		e.ok(e.do("POST", orgs, owner.Token, orgBody(map[string]any{"subdomain": e.sub("charset")}),
			withHeader("Content-Type", "application/json; charset=utf-8")), 201, nil)
		e.ok(e.do("POST", orgs, owner.Token, orgBody(map[string]any{"subdomain": e.sub("plusjson")}),
			withHeader("Content-Type", "application/vnd.trailspark+json")), 201, nil)
		// limit bounds are inclusive.
		e.ok(e.do("GET", orgs+"?limit=1", owner.Token, nil), 200, nil)
		e.ok(e.do("GET", orgs+"?limit=200", owner.Token, nil), 200, nil)
		// A body just under the limit is read (and judged on its content).
		under := rawBody(`{"name":"` + strings.Repeat("a", 1<<20-20) + `"}`)
		e.fails(e.do("POST", orgs, owner.Token, under), 400, "too_long", "name")
		var l list[orgView]
		e.ok(e.do("GET", orgs, owner.Token, nil), http.StatusOK, &l)
		if len(l.Items) != 5 {
			t.Errorf("%d organizations, want 5", len(l.Items))
		}
	})
}
