package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/trailspark/trailspark/engine/clocktest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/identity"
	"github.com/trailspark/trailspark/engine/productorg"
	"github.com/trailspark/trailspark/store"
)

func porgEnv(t *testing.T) (*Env, *Client, *clocktest.Clock) {
	t.Helper()
	env := testEnv(t)
	clk := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	env.Clock = clk.Now
	return env, &Client{env: env}, clk
}

// update builds a product-org update the way the webhook does.
func update(t *testing.T, template map[string]any, payload string) productorg.ProductOrg {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		t.Fatal(err)
	}
	po, err := productorg.Apply(template, p)
	if err != nil {
		t.Fatalf("Apply %s: %v", payload, err)
	}
	return po
}

var porgTemplate = map[string]any{"product_org_id": "id", "name": "name", "user_count": "users", "plan_name": "plan",
	"account_id": "acct", "domain": "site", "crm_id": "crm", "seats_used": "usage.seats"}

func TestKeyTemplateOp(t *testing.T) {
	env := testEnv(t)
	const org = "org_0000000000000000porg1"
	createOrg(t, env, org)
	ctx := context.Background()
	tpl := map[string]any{"product_org_id": "workspace.id", "plan_name": "workspace.plan"}
	rep := newOrgGrain(env, org).handle(ctx, cmd(t, "k1", opKeyCreate, createKeyBody{Name: "porg", Type: "product_org", PayloadTemplate: tpl}))
	mustOK(t, rep)
	var created APIKeyCreated
	if err := json.Unmarshal(rep.Body, &created); err != nil {
		t.Fatal(err)
	}
	rep = newOrgGrain(env, org).handle(ctx, cmd(t, "t1", opKeyTemplate, idBody{ID: created.APIKey.ID}))
	mustOK(t, rep)
	var got keyTemplateReply
	if err := json.Unmarshal(rep.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "product_org" || !reflect.DeepEqual(got.Template, tpl) {
		t.Errorf("template reply %+v", got)
	}
	rep = newOrgGrain(env, org).handle(ctx, cmd(t, "t2", opKeyTemplate, idBody{ID: "key_missing"}))
	if err := replyErr(rep); !errors.Is(err, errs.NotFound("api_key")) {
		t.Errorf("unknown key: %v", err)
	}
	rep = newOrgGrain(env, "org_0000000000000000none1").handle(ctx, cmd(t, "t3", opKeyTemplate, idBody{ID: created.APIKey.ID}))
	if err := replyErr(rep); !errors.Is(err, errs.NotFound("api_key")) {
		t.Errorf("unknown org: %v", err)
	}
}

func TestUpsertProductOrgKeepsCreatedAtAndMerges(t *testing.T) {
	env, _, clk := porgEnv(t)
	ctx := context.Background()
	const org = "org_0000000000000000porg2"
	first, err := env.upsertProductOrg(ctx, org, "key_a", update(t, porgTemplate, `{"id":"ws_1","name":"Northwind","users":3,"plan":"Starter","usage":{"seats":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || first.Record.UpdateCount != 1 || !first.Record.CreatedAt.Equal(clk.Now()) || !first.Record.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("first: created %v %+v", first.Created, first.Record)
	}
	created := clk.Now()
	clk.Advance(time.Hour)
	second, err := env.upsertProductOrg(ctx, org, "key_b", update(t, porgTemplate, `{"id":"ws_1","users":9,"plan":null}`))
	if err != nil {
		t.Fatal(err)
	}
	r := second.Record
	if second.Created || r.UpdateCount != 2 || !r.CreatedAt.Equal(created) || !r.UpdatedAt.Equal(clk.Now()) || r.KeyID != "key_b" {
		t.Fatalf("second: created %v %+v", second.Created, r)
	}
	if r.Name != "Northwind" || *r.UserCount != 9 || r.PlanName != "" || r.Custom["seats_used"] != 2.0 {
		t.Errorf("merged: %+v", r.ProductOrg)
	}
	// What the store holds is what was answered.
	var stored ProductOrgRecord
	if _, err := env.loadJSON(ctx, keyProductOrg(org, "ws_1"), &stored); err != nil {
		t.Fatal(err)
	}
	if stored.UpdateCount != 2 || stored.Name != "Northwind" || !stored.CreatedAt.Equal(created) {
		t.Errorf("stored %+v", stored)
	}
	if _, err := env.upsertProductOrg(ctx, org, "k", productorg.ProductOrg{}); !errors.Is(err, errs.Invalid("", "required", "")) {
		t.Errorf("no id: %v", err)
	}
}

// Concurrent updates of one product org are all applied (compare-and-set
// with re-application).
func TestUpsertProductOrgConcurrent(t *testing.T) {
	env, _, _ := porgEnv(t)
	ctx := context.Background()
	const org = "org_0000000000000000porg3"
	const n = 8
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tpl := map[string]any{"product_org_id": "id", fmt.Sprintf("f%d", i): "v"}
			var p map[string]any
			_ = json.Unmarshal([]byte(fmt.Sprintf(`{"id":"ws","v":%d}`, i)), &p)
			po, err := productorg.Apply(tpl, p)
			if err == nil {
				_, err = env.upsertProductOrg(ctx, org, "k", po)
			}
			errc <- err
		}(i)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	var rec ProductOrgRecord
	if _, err := env.loadJSON(ctx, keyProductOrg(org, "ws"), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.UpdateCount != n || len(rec.Custom) != n {
		t.Errorf("after %d concurrent updates: count %d, custom %v", n, rec.UpdateCount, rec.Custom)
	}
}

func TestProductOrgLinking(t *testing.T) {
	env, c, _ := porgEnv(t)
	ctx := context.Background()
	const org = "org_0000000000000000porg4"
	acme, err := c.upsertAccount(ctx, org, AccountInput{Name: "Acme", Domain: "acme.com"}, "api")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Twin A", "Twin B"} {
		if _, err := c.upsertAccount(ctx, org, AccountInput{Name: name, Domain: "twins.io"}, "api"); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, payload string
		account, how  string
		reason        string
		ambiguous     int
	}{
		{"explicit", `{"id":"p1","acct":"` + acme.ID + `","site":"twins.io"}`, acme.ID, "explicit", "", 0},
		{"explicit missing, domain decides", `{"id":"p2","acct":"acct_gone","site":"www.acme.com"}`, acme.ID, "domain", "", 0},
		{"explicit missing, nothing else", `{"id":"p3","acct":"acct_gone"}`, "", "", "account_not_found", 0},
		{"explicit with a slash", `{"id":"p3b","acct":"x/y"}`, "", "", "account_not_found", 0},
		{"domain", `{"id":"p4","site":"https://app.acme.com/login"}`, acme.ID, "domain", "", 0},
		{"ambiguous domain", `{"id":"p5","site":"twins.io"}`, "", "", "ambiguous_domain", 2},
		{"unknown domain", `{"id":"p6","site":"nobody.dev"}`, "", "", "no_account_for_domain", 0},
		{"free mail domain", `{"id":"p7","site":"gmail.com"}`, "", "", "free_email_domain", 0},
		{"crm only", `{"id":"p8","crm":"0015g00000XyZ"}`, "", "", "crm_id_not_matched", 0},
		{"nothing", `{"id":"p9","name":"Bare"}`, "", "", "no_link_fields", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := env.upsertProductOrg(ctx, org, "k", update(t, porgTemplate, tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			r := got.Record
			switch {
			case tc.account == "" && r.Link != nil:
				t.Errorf("linked %+v, want unlinked (%s)", r.Link, tc.reason)
			case tc.account != "" && (r.Link == nil || r.Link.AccountID != tc.account || r.Link.How != tc.how):
				t.Errorf("link %+v, want %s by %s", r.Link, tc.account, tc.how)
			}
			if r.Unmatched != tc.reason || len(r.Ambiguous) != tc.ambiguous {
				t.Errorf("unmatched %q %v, want %q and %d accounts", r.Unmatched, r.Ambiguous, tc.reason, tc.ambiguous)
			}
		})
	}
	// Once an account has the domain, the next update links (the stored
	// domain is kept when the update does not carry it).
	nb, err := c.upsertAccount(ctx, org, AccountInput{Name: "Nobody", Domain: "nobody.dev"}, "api")
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.upsertProductOrg(ctx, org, "k", update(t, porgTemplate, `{"id":"p6","users":4}`))
	if err != nil {
		t.Fatal(err)
	}
	if l := got.Record.Link; l == nil || l.AccountID != nb.ID || l.How != "domain" || got.Record.Unmatched != "" {
		t.Errorf("relinked: %+v / %q", l, got.Record.Unmatched)
	}
}

func TestParseGroupTraits(t *testing.T) {
	n := func(v int) *int { return &v }
	cases := []struct {
		traits string
		want   groupTraits
	}{
		{`{"name":" Globex ","website":"https://www.globex.com/x","industry":"Energy","employees":250}`,
			groupTraits{Name: "Globex", HasName: true, Domain: "globex.com", Industry: "Energy", Employees: n(250)}},
		{`{"company":"Initech","domain":"initech.io","employees":"12"}`, groupTraits{Name: "Initech", HasName: true, Domain: "initech.io", Employees: n(12)}},
		{`{"company":{"name":"Hooli"},"website":"not a domain","employees":-3}`, groupTraits{Name: "Hooli", HasName: true}},
		{`{"plan":"pro","website":"localhost","domain":"umbrella.co.uk"}`, groupTraits{Name: "g-1", Domain: "umbrella.co.uk"}},
		{`{"name":5,"employees":1.5}`, groupTraits{Name: "g-1"}},
	}
	for _, tc := range cases {
		var tr map[string]any
		d := json.NewDecoder(strings.NewReader(tc.traits))
		d.UseNumber()
		if err := d.Decode(&tr); err != nil {
			t.Fatal(err)
		}
		if got := parseGroupTraits("g-1", tr); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.traits, got, tc.want)
		}
	}
	long := parseGroupTraits("g", map[string]any{"name": strings.Repeat("é", 150)})
	if len([]rune(long.Name)) != maxAccountName {
		t.Errorf("long name kept %d runes", len([]rune(long.Name)))
	}
}

func groupIndex(t *testing.T, env *Env, org, group string) string {
	t.Helper()
	b, _, err := env.Store.Load(context.Background(), keyGroup(org, env.Sealer.Index("group", group)))
	if errors.Is(err, store.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func loadAccount(t *testing.T, env *Env, org, id string) Account {
	t.Helper()
	var a Account
	if _, err := env.loadJSON(context.Background(), keyAccount(org, id), &a); err != nil {
		t.Fatalf("account %s: %v", id, err)
	}
	return a
}

func TestUpsertGroupAccount(t *testing.T) {
	env, c, clk := porgEnv(t)
	ctx := context.Background()
	const org = "org_0000000000000000porg5"

	// A new group makes an account, indexed by the group id.
	id, err := c.UpsertGroupAccount(ctx, org, " g-1 ", map[string]any{"name": "Globex", "website": "globex.com", "employees": json.Number("250")})
	if err != nil {
		t.Fatal(err)
	}
	a := loadAccount(t, env, org, id)
	if a.Name != "Globex" || a.Domain != "globex.com" || a.Source != "segment" || a.Inferred || *a.Employees != 250 ||
		a.Attributes["segment_group_id"] != "g-1" {
		t.Fatalf("group account %+v", a)
	}
	if got := groupIndex(t, env, org, "g-1"); got != id {
		t.Fatalf("group index %q, want %q", got, id)
	}
	if ids, _ := env.accountsByDomain(ctx, org, "globex.com"); !reflect.DeepEqual(ids, []string{id}) {
		t.Errorf("domain index %v", ids)
	}

	// Later calls update it; a call without a name keeps the name.
	clk.Advance(time.Minute)
	again, err := c.UpsertGroupAccount(ctx, org, "g-1", map[string]any{"name": "Globex Corp", "website": "globex.io"})
	if err != nil || again != id {
		t.Fatalf("second call: %q, %v", again, err)
	}
	if _, err := c.UpsertGroupAccount(ctx, org, "g-1", map[string]any{"plan": "enterprise"}); err != nil {
		t.Fatal(err)
	}
	a = loadAccount(t, env, org, id)
	if a.Name != "Globex Corp" || a.Domain != "globex.io" || !a.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("updated account %+v", a)
	}
	if ids, _ := env.accountsByDomain(ctx, org, "globex.com"); len(ids) != 0 {
		t.Errorf("old domain still indexed: %v", ids)
	}
	if ids, _ := env.accountsByDomain(ctx, org, "globex.io"); !reflect.DeepEqual(ids, []string{id}) {
		t.Errorf("new domain index %v", ids)
	}

	// A group whose domain an API account owns links to it, unchanged.
	api, err := c.upsertAccount(ctx, org, AccountInput{Name: "Initech (CRM)", Domain: "initech.com"}, "api")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.UpsertGroupAccount(ctx, org, "g-2", map[string]any{"name": "Initech", "website": "initech.com"})
	if err != nil || got != api.ID {
		t.Fatalf("g-2 → %q, %v; want the API account %s", got, err, api.ID)
	}
	if a := loadAccount(t, env, org, api.ID); a.Name != "Initech (CRM)" || a.Source != "api" {
		t.Errorf("the API account was changed: %+v", a)
	}

	// An inferred account of the domain is taken over (same id).
	inferred := identity.AccountIDForDomain(org, "hooli.xyz")
	if err := env.ensureInferredAccount(ctx, org, inferred, "hooli.xyz"); err != nil {
		t.Fatal(err)
	}
	got, err = c.UpsertGroupAccount(ctx, org, "g-3", map[string]any{"company": "Hooli", "domain": "hooli.xyz"})
	if err != nil || got != inferred {
		t.Fatalf("g-3 → %q, %v; want the inferred %s", got, err, inferred)
	}
	if a := loadAccount(t, env, org, inferred); a.Inferred || a.Name != "Hooli" || a.Source != "segment" {
		t.Errorf("taken-over account %+v", a)
	}

	// Blocked sentinel group ids make nothing.
	for _, g := range []string{"", "null", "undefined", "0"} {
		if got, err := c.UpsertGroupAccount(ctx, org, g, map[string]any{"name": "Junk"}); err != nil || got != "" {
			t.Errorf("group %q → %q, %v", g, got, err)
		}
	}

	// A deleted account is made again and the index repointed.
	_, ver, _ := env.Store.Load(ctx, keyAccount(org, id))
	if err := env.Store.Delete(ctx, keyAccount(org, id), ver); err != nil {
		t.Fatal(err)
	}
	got, err = c.UpsertGroupAccount(ctx, org, "g-1", map[string]any{"name": "Globex Reborn"})
	if err != nil || got == "" || got == id {
		t.Fatalf("after delete: %q, %v", got, err)
	}
	if groupIndex(t, env, org, "g-1") != got || loadAccount(t, env, org, got).Name != "Globex Reborn" {
		t.Errorf("recreated account not indexed")
	}
}

// Concurrent first calls of one group agree on one account.
func TestUpsertGroupAccountConcurrentFirstCalls(t *testing.T) {
	env, c, _ := porgEnv(t)
	ctx := context.Background()
	const org = "org_0000000000000000porg6"
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ids[i], errs[i] = c.UpsertGroupAccount(ctx, org, "g-race", map[string]any{"name": "Race Inc"})
		}(i)
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] == "" || ids[i] != ids[0] {
			t.Fatalf("call %d: %q, %v (call 0: %q)", i, ids[i], errs[i], ids[0])
		}
	}
	var accounts []string
	_ = env.Store.Scan(ctx, append(store.TenantKey(org, "acct"), '/'), nil, func(it store.Item) error {
		accounts = append(accounts, string(it.Key))
		return nil
	})
	sort.Strings(accounts)
	if len(accounts) != 1 {
		t.Errorf("%d accounts for one group: %v", len(accounts), accounts)
	}
	if groupIndex(t, env, org, "g-race") != ids[0] {
		t.Error("index does not name the account")
	}
}

// A claim left by a crashed first call is taken over after the wait.
func TestUpsertGroupAccountStaleClaim(t *testing.T) {
	env, c, _ := porgEnv(t)
	ctx := context.Background()
	const org = "org_0000000000000000porg7"
	key := keyGroup(org, env.Sealer.Index("group", "g-stale"))
	if _, err := env.Store.Save(ctx, key, []byte{}, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	id, err := c.UpsertGroupAccount(ctx, org, "g-stale", map[string]any{"name": "Stale"})
	if err != nil || id == "" {
		t.Fatalf("%q, %v", id, err)
	}
	if d := time.Since(start); d < groupClaimWait {
		t.Errorf("took over after %v, before the %v wait", d, groupClaimWait)
	}
	if groupIndex(t, env, org, "g-stale") != id {
		t.Error("index not taken over")
	}
}
