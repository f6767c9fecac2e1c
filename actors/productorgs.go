package actors

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/identity"
	"github.com/trailspark/trailspark/engine/productorg"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// Product orgs (SPEC §2.6) and the accounts Segment group calls make.
//
// A product org is stored under o/{org}/porg/{product org id}, written with
// compare-and-set (re-applied on conflict), so concurrent updates of one
// product org never lose each other's fields. It is linked to an account,
// strongest first, by an explicit account_id (when the account exists), by
// its domain through the domain index (exactly one account; free-mail
// domains never match; several accounts are reported as ambiguous, not
// forced), and otherwise left unlinked with the reason. A CRM id alone
// cannot link yet (there is no CRM association index): it is kept and the
// product org stays unlinked.

// keyProductOrg is where one product org lives.
func keyProductOrg(org, id string) []byte { return store.TenantKey(org, "porg", id) }

// ProductOrgRecord is a stored product org.
type ProductOrgRecord struct {
	productorg.ProductOrg
	// Link is the account the product org belongs to and how that was
	// decided (explicit | domain); nil when unlinked, see Unmatched.
	Link *AccountLink `json:"link"`
	// Unmatched says why there is no link: no_link_fields,
	// account_not_found, no_account_for_domain, free_email_domain,
	// ambiguous_domain, crm_id_not_matched.
	Unmatched string `json:"unmatched_reason,omitempty"`
	// Ambiguous lists the accounts sharing the domain (ambiguous_domain).
	Ambiguous []string `json:"ambiguous_accounts,omitempty"`
	// KeyID is the API key of the last update.
	KeyID string `json:"key_id,omitempty"`
	// UpdateCount counts the updates received (1 after the first).
	UpdateCount int       `json:"update_count"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ProductOrgReceived is the outcome of one product-org webhook.
type ProductOrgReceived struct {
	Record  *ProductOrgRecord
	Created bool
}

// ---- the key's payload template (read from the org grain)

const opKeyTemplate = "keys.template"

type keyTemplateReply struct {
	Type     string         `json:"type"`
	Template map[string]any `json:"template"`
}

func init() {
	// keys.template is internal: the API calls it only after VerifyKey
	// authenticated the key, so it checks no caller capability.
	orgOps[opKeyTemplate] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if t.state == nil || t.state.Deleted {
			return nil, errs.NotFound("api_key")
		}
		var b idBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		k, ok := t.state.Keys[b.ID]
		if !ok {
			return nil, errs.NotFound("api_key")
		}
		return keyTemplateReply{Type: string(k.Type), Template: k.PayloadTemplate}, nil
	}}
}

// KeyTemplate returns the payload template of an (already authenticated)
// product_org key.
func (c *Client) KeyTemplate(ctx context.Context, org, keyID string) (map[string]any, error) {
	var rep keyTemplateReply
	if err := c.call(ctx, tenant.Caller{}, org, opKeyTemplate, idBody{ID: keyID}, &rep); err != nil {
		return nil, err
	}
	if tenant.KeyType(rep.Type) != tenant.KeyProductOrg {
		return nil, errs.Unauthenticated("key_wrong_type", "this key is a "+rep.Type+" key; the product-org endpoint needs a product_org key")
	}
	return rep.Template, nil
}

// ---- product orgs

// ReceiveProductOrg stores an update (from productorg.Apply) sent with key
// keyID: merged into the stored product org, linked to an account.
func (c *Client) ReceiveProductOrg(ctx context.Context, org, keyID string, upd productorg.ProductOrg) (*ProductOrgReceived, error) {
	return c.env.upsertProductOrg(ctx, org, keyID, upd)
}

func (e *Env) upsertProductOrg(ctx context.Context, org, keyID string, upd productorg.ProductOrg) (*ProductOrgReceived, error) {
	if upd.ID == "" {
		return nil, errs.Invalid(productorg.FieldID, "required", "product_org_id is required")
	}
	key := keyProductOrg(org, upd.ID)
	now := e.now()
	for attempt := 0; attempt < 8; attempt++ {
		var rec ProductOrgRecord
		ver, err := e.loadJSON(ctx, key, &rec)
		created := errors.Is(err, store.ErrNotFound)
		switch {
		case created:
			rec, ver = ProductOrgRecord{CreatedAt: now}, 0
		case err != nil:
			return nil, storeErr(err)
		}
		rec.ProductOrg = productorg.Merge(rec.ProductOrg, upd)
		if rec.Link, rec.Unmatched, rec.Ambiguous, err = e.linkProductOrg(ctx, org, &rec.ProductOrg); err != nil {
			return nil, storeErr(err)
		}
		rec.KeyID = keyID
		rec.UpdateCount++
		rec.UpdatedAt = now
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, errs.Internal(err)
		}
		if _, err := e.Store.Save(ctx, key, b, ver); err == nil {
			return &ProductOrgReceived{Record: &rec, Created: created}, nil
		} else if !errors.Is(err, store.ErrConflict) {
			return nil, storeErr(err)
		}
	}
	return nil, errs.Unavailable("the product org is being changed concurrently; retry", nil)
}

// linkProductOrg decides a product org's account: explicit account_id,
// else its domain, else unlinked with the reason.
func (e *Env) linkProductOrg(ctx context.Context, org string, po *productorg.ProductOrg) (*AccountLink, string, []string, error) {
	reason := ""
	if po.AccountID != "" {
		ok, err := e.accountExists(ctx, org, po.AccountID)
		if err != nil {
			return nil, "", nil, err
		}
		if ok {
			return &AccountLink{AccountID: po.AccountID, How: identity.HowExplicit}, "", nil, nil
		}
		reason = "account_not_found"
	}
	if po.Domain != "" {
		if identity.DefaultFreeMail().IsFree(po.Domain) {
			return nil, firstReason(reason, "free_email_domain"), nil, nil
		}
		ids, err := e.accountsByDomain(ctx, org, po.Domain)
		if err != nil {
			return nil, "", nil, err
		}
		switch len(ids) {
		case 0:
			return nil, firstReason(reason, "no_account_for_domain"), nil, nil
		case 1:
			return &AccountLink{AccountID: ids[0], How: identity.HowDomain}, "", nil, nil
		default:
			return nil, firstReason(reason, "ambiguous_domain"), ids, nil
		}
	}
	if po.CRMID != "" {
		return nil, firstReason(reason, "crm_id_not_matched"), nil, nil
	}
	return nil, firstReason(reason, "no_link_fields"), nil, nil
}

func firstReason(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (e *Env) accountExists(ctx context.Context, org, id string) (bool, error) {
	if id == "" || strings.ContainsAny(id, "/\x00") {
		return false, nil
	}
	_, _, err := e.Store.Load(ctx, keyAccount(org, id))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, err
}

// accountsByDomain lists the accounts indexed under a registrable domain.
func (e *Env) accountsByDomain(ctx context.Context, org, domain string) ([]string, error) {
	var ids []string
	prefix := keyDomainPrefix(org, domain)
	err := e.Store.Scan(ctx, prefix, nil, func(it store.Item) error {
		ids = append(ids, string(it.Key[len(prefix):]))
		return nil
	})
	return ids, err
}

// ProductOrg reads one product org (Viewer and up).
func (c *Client) ProductOrg(ctx context.Context, caller tenant.Caller, org, id string) (*ProductOrgRecord, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	if id == "" || strings.ContainsAny(id, "/\x00") {
		return nil, errs.NotFound("product_org")
	}
	var rec ProductOrgRecord
	if _, err := c.env.loadJSON(ctx, keyProductOrg(org, id), &rec); err != nil {
		return nil, notFoundIf(err, "product_org")
	}
	return &rec, nil
}

// ProductOrgs pages through product orgs by id (Viewer and up).
func (c *Client) ProductOrgs(ctx context.Context, caller tenant.Caller, org, after string, limit int) ([]ProductOrgRecord, string, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, "", err
	}
	return scanJSON[ProductOrgRecord](ctx, c.env, store.TenantKey(org, "porg"), after, limit)
}

// ---- Segment group calls → accounts

// groupTraits is what a Segment group call's traits say about the account.
type groupTraits struct {
	Name      string // from traits.name, traits.company (or company.name); else the group id
	HasName   bool   // Name came from the traits
	Domain    string // registrable domain of traits.website / traits.domain
	Industry  string
	Employees *int
}

const maxAccountName = 100 // tenant.ValidateName's limit

func parseGroupTraits(groupID string, traits map[string]any) groupTraits {
	var g groupTraits
	str := func(v any) string {
		s, _ := v.(string)
		return clipRunes(strings.TrimSpace(strings.ToValidUTF8(s, "")), maxAccountName)
	}
	if s := str(traits["name"]); s != "" {
		g.Name, g.HasName = s, true
	} else if s := str(traits["company"]); s != "" {
		g.Name, g.HasName = s, true
	} else if co, ok := traits["company"].(map[string]any); ok && str(co["name"]) != "" {
		g.Name, g.HasName = str(co["name"]), true
	} else {
		g.Name = clipRunes(strings.ToValidUTF8(groupID, ""), maxAccountName)
	}
	for _, k := range []string{"website", "domain"} {
		if s, ok := traits[k].(string); ok {
			if d, err := identity.RegistrableDomain(s); err == nil {
				g.Domain = d
				break
			}
		}
	}
	g.Industry = str(traits["industry"])
	if n, ok := wholeNumber(traits["employees"]); ok && n >= 0 && n <= 10_000_000 {
		e := int(n)
		g.Employees = &e
	}
	return g
}

func wholeNumber(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	case int:
		return int64(x), true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return strings.TrimSpace(string([]rune(s)[:n]))
}

// groupClaimWait bounds how long a group call waits for a concurrent first
// call of the same group to create its account.
const groupClaimWait = 2 * time.Second

// UpsertGroupAccount makes sure a Segment group has an account and indexes
// it by the group id, so that later signals carrying that groupId (or
// context.groupId) link to it explicitly (see batch.matchAccount). It
// returns the account id ("" when groupID is not a usable identifier).
//
//   - A known group: its account (source "segment") gets the name, domain,
//     industry and employees the traits carry; an account made elsewhere
//     (API, import, CRM) is only linked, never changed.
//   - A new group whose domain belongs to exactly one non-inferred account:
//     that account is linked (no duplicate account for the domain).
//   - Otherwise an account is created through the usual account code path
//     (an inferred account of the same domain is taken over), named from
//     traits.name / traits.company / the group id.
//
// Concurrent first calls of one group agree on one account: the first
// claims the index entry (a create-only write of an empty value, which
// matchAccount reads as "no explicit account"), the others wait for it.
func (c *Client) UpsertGroupAccount(ctx context.Context, org, groupID string, traits map[string]any) (string, error) {
	groupID = strings.TrimSpace(groupID)
	if !identity.DefaultGuards().Usable(identity.Identifier{Kind: identity.KindUserID, Value: groupID}) {
		return "", nil
	}
	env := c.env
	t := parseGroupTraits(groupID, traits)
	key := keyGroup(org, env.Sealer.Index("group", groupID))
	for attempt := 0; attempt < 4; attempt++ {
		cur, ver, err := env.Store.Load(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v, err := env.Store.Save(ctx, key, []byte{}, 0)
			if errors.Is(err, store.ErrConflict) {
				continue // someone else claimed it first
			}
			if err != nil {
				return "", storeErr(err)
			}
			ver = v
		case err != nil:
			return "", storeErr(err)
		case len(cur) == 0:
			// Claimed by a concurrent first call: wait for its account.
			id, v, err := c.waitGroupClaim(ctx, key)
			if err != nil {
				return "", err
			}
			if id == "" {
				ver = v // the claimer vanished: take over
				break
			}
			cur = []byte(id)
			fallthrough
		default:
			id := string(cur)
			ok, err := c.refreshGroupAccount(ctx, org, id, t)
			if err != nil {
				return "", err
			}
			if ok {
				return id, nil
			}
			// The account was deleted: make a new one below.
		}
		id, err := c.groupAccountFor(ctx, org, groupID, t)
		if err != nil {
			return "", err
		}
		if _, err := env.Store.Save(ctx, key, []byte(id), ver); err != nil {
			if !errors.Is(err, store.ErrConflict) {
				return "", storeErr(err)
			}
			if err := env.putIndex(ctx, key, id); err != nil {
				return "", storeErr(err)
			}
		}
		return id, nil
	}
	return "", errs.Unavailable("the group's account is being changed concurrently; retry", nil)
}

// waitGroupClaim polls a claimed group index until it names an account;
// it returns "" and the entry's version when the wait runs out.
func (c *Client) waitGroupClaim(ctx context.Context, key []byte) (string, store.Version, error) {
	deadline := time.Now().Add(groupClaimWait)
	for {
		cur, ver, err := c.env.Store.Load(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return "", 0, nil
		case err != nil:
			return "", 0, storeErr(err)
		case len(cur) > 0:
			return string(cur), ver, nil
		}
		if time.Now().After(deadline) {
			return "", ver, nil
		}
		select {
		case <-ctx.Done():
			return "", 0, storeErr(ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// groupAccountFor finds or creates the account of a new group.
func (c *Client) groupAccountFor(ctx context.Context, org, groupID string, t groupTraits) (string, error) {
	if t.Domain != "" {
		ids, err := c.env.accountsByDomain(ctx, org, t.Domain)
		if err != nil {
			return "", storeErr(err)
		}
		if len(ids) == 1 {
			var a Account
			_, err := c.env.loadJSON(ctx, keyAccount(org, ids[0]), &a)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return "", storeErr(err)
			}
			if err == nil && !a.Inferred {
				return a.ID, nil
			}
		}
	}
	in := AccountInput{Name: t.Name, Domain: t.Domain, Industry: t.Industry, Employees: t.Employees,
		Attributes: map[string]any{"segment_group_id": groupID}}
	a, err := c.upsertAccount(ctx, org, in, "segment")
	if err != nil {
		return "", err
	}
	return a.ID, nil
}

// refreshGroupAccount applies group traits to the group's account when
// Segment made it; false when the account no longer exists.
func (c *Client) refreshGroupAccount(ctx context.Context, org, id string, t groupTraits) (bool, error) {
	env := c.env
	for attempt := 0; attempt < 8; attempt++ {
		var a Account
		ver, err := env.loadJSON(ctx, keyAccount(org, id), &a)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, storeErr(err)
		}
		if a.Source != "segment" {
			return true, nil // owned by the API, an import or the CRM
		}
		oldDomain := a.Domain
		changed := false
		if t.HasName && t.Name != a.Name {
			a.Name, changed = t.Name, true
		}
		if t.Domain != "" && t.Domain != a.Domain {
			a.Domain, changed = t.Domain, true
		}
		if t.Industry != "" && t.Industry != a.Industry {
			a.Industry, changed = t.Industry, true
		}
		if t.Employees != nil && (a.Employees == nil || *a.Employees != *t.Employees) {
			a.Employees, changed = t.Employees, true
		}
		if !changed {
			return true, nil
		}
		a.UpdatedAt = env.now()
		if a.Domain != oldDomain {
			if err := env.putDomain(ctx, org, a.Domain, id); err != nil {
				return false, storeErr(err)
			}
		}
		b, _ := json.Marshal(a)
		if _, err := env.Store.Save(ctx, keyAccount(org, id), b, ver); err == nil {
			if oldDomain != "" && a.Domain != oldDomain {
				if err := env.deleteDomain(ctx, org, oldDomain, id); err != nil {
					return false, storeErr(err)
				}
			}
			return true, nil
		} else if !errors.Is(err, store.ErrConflict) {
			return false, storeErr(err)
		}
	}
	return false, errs.Unavailable("the account is being changed concurrently; retry", nil)
}
