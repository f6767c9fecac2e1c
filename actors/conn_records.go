package actors

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/icp"
	"github.com/trailspark/trailspark/engine/identity"
	"github.com/trailspark/trailspark/sdk/connector"
	"github.com/trailspark/trailspark/store"
)

// Reading CRM records (their Fields keep the CRM's own field names) into
// TrailSpark's accounts and outcomes.

func decodeFields(raw json.RawMessage) map[string]any {
	out := map[string]any{}
	if len(raw) == 0 {
		return out
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&out)
	return out
}

// fieldString is a field's value as text: strings trimmed, numbers with
// their exact digits, booleans as true/false, the first element of an
// array (HubSpot's associated ids).
func fieldString(f map[string]any, name string) string {
	return valueString(f[name])
}

func valueString(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		if len(x) > 0 {
			return valueString(x[0])
		}
	}
	return ""
}

func firstField(f map[string]any, names ...string) string {
	for _, n := range names {
		if v := fieldString(f, n); v != "" {
			return v
		}
	}
	return ""
}

// mapped reads a mapped target; unmapped targets with a guess key try the
// usual names of the shipped connectors.
func mapped(f map[string]any, m map[string]MappedField, target, guessKey string) string {
	if mf, ok := m[target]; ok && mf.Field != "" {
		return fieldString(f, mf.Field)
	}
	if guessKey != "" {
		return firstField(f, fieldGuesses[guessKey]...)
	}
	return ""
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes":
		return true
	}
	return false
}

func hasFallbacks(m *FieldMapping) bool {
	for _, mf := range m.Account {
		if mf.Fallback != "" {
			return true
		}
	}
	return false
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// syncAccount is an account as a CRM record describes it.
type syncAccount struct {
	Name, Domain, Industry, Region, Segment string
	Employees                               *int
}

// accountFrom reads the mapped account fields (or, with fallback, the
// mapping's fallback fields of a Lead).
func accountFrom(f map[string]any, m *FieldMapping, fallback bool) syncAccount {
	get := func(t string) string {
		mf, ok := m.Account[t]
		if !ok {
			return ""
		}
		if fallback {
			return fieldString(f, mf.Fallback)
		}
		return fieldString(f, mf.Field)
	}
	a := syncAccount{Name: get("name"), Domain: get("domain"), Industry: get("industry"), Region: get("region"), Segment: get("segment")}
	if s := get("employees"); s != "" {
		if n, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64); err == nil && n >= 0 && n <= 10_000_000 && !math.IsNaN(n) {
			e := int(n)
			a.Employees = &e
		}
	}
	return a
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// syncUpsertAccount writes a CRM account. With an external id (the CRM
// id) it updates the account already holding that id, else takes over the
// account inferred for its domain, else creates one; the CRM's non-empty
// values win. Without one (a Lead's fallback fields) it fills the gaps of
// the account holding the domain, or creates one. It reports whether
// anything changed: reading the same record again writes nothing.
func (c *Client) syncUpsertAccount(ctx context.Context, org, connID, ext string, in syncAccount) (bool, error) {
	env := c.env
	name := clip(strings.TrimSpace(in.Name), 200)
	domain := ""
	if in.Domain != "" {
		if d, err := identity.RegistrableDomain(in.Domain); err == nil {
			domain = d
		}
	}
	if name == "" {
		name = domain
	}
	if name == "" {
		name = clip(ext, 200)
	}
	if name == "" {
		return false, nil
	}
	id := ""
	if ext != "" {
		b, _, err := env.Store.Load(ctx, keyGroup(org, env.Sealer.Index("group", ext)))
		switch {
		case err == nil:
			var a Account
			if _, lerr := env.loadJSON(ctx, keyAccount(org, string(b)), &a); lerr == nil && a.ExternalID == ext {
				id = a.ID
			}
		case !errors.Is(err, store.ErrNotFound):
			return false, storeErr(err)
		}
	}
	if id == "" && domain != "" {
		inferred := identity.AccountIDForDomain(org, domain)
		var cur Account
		if _, err := env.loadJSON(ctx, keyAccount(org, inferred), &cur); err == nil && cur.Inferred {
			id = inferred
		}
	}
	if id == "" && ext == "" && domain != "" {
		prefix := keyDomainPrefix(org, domain)
		errFound := errors.New("found")
		err := env.Store.Scan(ctx, prefix, nil, func(it store.Item) error {
			cand := string(it.Key[len(prefix):])
			var a Account
			if _, err := env.loadJSON(ctx, keyAccount(org, cand), &a); err == nil {
				id = a.ID
				return errFound
			}
			return nil
		})
		if err != nil && !errors.Is(err, errFound) {
			return false, storeErr(err)
		}
	}
	if id == "" {
		var err error
		if id, err = credential.NewID(env.Rand, "acct_"); err != nil {
			return false, errs.Internal(err)
		}
	}
	var outcome map[string]any
	if ext != "" {
		var err error
		if outcome, err = c.outcomeAttrs(ctx, org, connID, ext); err != nil {
			return false, err
		}
	}
	now := env.now()
	for attempt := 0; attempt < 8; attempt++ {
		var a Account
		ver, err := env.loadJSON(ctx, keyAccount(org, id), &a)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, storeErr(err)
		}
		if errors.Is(err, store.ErrNotFound) {
			a = Account{ID: id, CreatedAt: now}
		}
		before := accountFingerprint(a)
		primary := ext != "" || a.Inferred || a.Name == ""
		set := func(dst *string, v string) {
			if v != "" && (primary || *dst == "") {
				*dst = v
			}
		}
		set(&a.Name, name)
		set(&a.Domain, domain)
		set(&a.Industry, clip(in.Industry, 200))
		set(&a.Region, clip(in.Region, 200))
		if in.Employees != nil && (primary || a.Employees == nil) {
			e := *in.Employees
			a.Employees = &e
		}
		if ext != "" {
			a.ExternalID = clip(ext, 256)
		}
		if in.Segment != "" || len(outcome) > 0 {
			if a.Attributes == nil {
				a.Attributes = map[string]any{}
			}
			if in.Segment != "" && (primary || attrString(a.Attributes, "segment") == "") {
				a.Attributes["segment"] = clip(in.Segment, 200)
			}
			mergeAttrs(a.Attributes, outcome)
		}
		if a.Inferred || a.Source == "" || primary {
			a.Source = "crm"
		}
		a.Inferred = false
		if accountFingerprint(a) == before {
			return false, nil
		}
		a.UpdatedAt = now
		b, _ := json.Marshal(a)
		if a.Domain != "" {
			if err := env.putDomain(ctx, org, a.Domain, id); err != nil {
				return false, storeErr(err)
			}
		}
		if a.ExternalID != "" {
			if err := env.putIndex(ctx, keyGroup(org, env.Sealer.Index("group", a.ExternalID)), id); err != nil {
				return false, storeErr(err)
			}
		}
		if _, err := env.Store.Save(ctx, keyAccount(org, id), b, ver); err == nil {
			return true, nil
		} else if !errors.Is(err, store.ErrConflict) {
			return false, storeErr(err)
		}
	}
	return false, errs.Unavailable("the account is being changed concurrently; retry", nil)
}

// accountFingerprint is an account's content without its update time.
func accountFingerprint(a Account) string {
	a.UpdatedAt = a.CreatedAt
	a.Propensity = nil
	b, _ := json.Marshal(a)
	return string(b)
}

// mergeAttrs sets attrs into dst; a nil value deletes the key.
func mergeAttrs(dst, attrs map[string]any) {
	for k, v := range attrs {
		if v == nil {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
}

// --- opportunities and outcomes

// oppState is one opportunity's contribution to its account's outcome.
type oppState struct {
	Outcome   string  `json:"outcome"` // won | lost | open
	Amount    float64 `json:"amount,omitempty"`
	CloseDate string  `json:"close_date,omitempty"`
	Stage     string  `json:"stage,omitempty"`
}

func keyConnOppBase(org, conn string) []byte { return store.TenantKey(org, "connopp", conn) }
func keyConnOppAcctPrefix(org, conn, acct string) []byte {
	return append(store.TenantKey(org, "connopp", conn, "a", url.PathEscape(acct)), '/')
}
func keyConnOpp(org, conn, acct, opp string) []byte {
	return store.TenantKey(org, "connopp", conn, "a", url.PathEscape(acct), url.PathEscape(opp))
}
func keyConnOppRef(org, conn, opp string) []byte {
	return store.TenantKey(org, "connopp", conn, "o", url.PathEscape(opp))
}

func stageNorm(s string) string {
	return strings.NewReplacer(" ", "", "_", "", "-", "").Replace(strings.ToLower(strings.TrimSpace(s)))
}

// oppOutcome classifies an opportunity: the CRM's won/closed flags when it
// has them, else its stage name.
func oppOutcome(won, closed, stage string) string {
	switch {
	case truthy(won):
		return "won"
	case truthy(closed):
		return "lost"
	case won != "" || closed != "":
		return "open"
	}
	st := stageNorm(stage)
	for _, w := range icp.DefaultWonStages {
		if st == stageNorm(w) {
			return "won"
		}
	}
	for _, l := range icp.DefaultLostStages {
		if st == stageNorm(l) {
			return "lost"
		}
	}
	return "open"
}

func oppFrom(f map[string]any, m *FieldMapping) (acct string, st oppState) {
	acct = mapped(f, m.Opportunity, "account", "opportunity.account")
	won := mapped(f, m.Opportunity, "won", "opportunity.won")
	closed := mapped(f, m.Opportunity, "closed", "opportunity.closed")
	st.Stage = mapped(f, m.Opportunity, "stage", "opportunity.stage")
	st.Outcome = oppOutcome(won, closed, st.Stage)
	if a := mapped(f, m.Opportunity, "amount", "opportunity.amount"); a != "" {
		if x, err := strconv.ParseFloat(strings.ReplaceAll(a, ",", ""), 64); err == nil && !math.IsNaN(x) && !math.IsInf(x, 0) {
			st.Amount = x
		}
	}
	st.CloseDate = clip(mapped(f, m.Opportunity, "close_date", "opportunity.close_date"), 40)
	return acct, st
}

// applyOpportunity records one opportunity and refreshes its account's
// outcome; it reports whether the account changed.
func (c *Client) applyOpportunity(ctx context.Context, org, connID string, r connector.Record, m *FieldMapping) (bool, error) {
	env := c.env
	refKey := keyConnOppRef(org, connID, r.ID)
	prev := ""
	if b, _, err := env.Store.Load(ctx, refKey); err == nil {
		prev = string(b)
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, storeErr(err)
	}
	acct, st := "", oppState{}
	if !r.Deleted {
		acct, st = oppFrom(decodeFields(r.Fields), m)
	}
	changed := false
	if prev != "" && prev != acct {
		if err := env.deleteIndex(ctx, keyConnOpp(org, connID, prev, r.ID)); err != nil {
			return false, storeErr(err)
		}
		ch, err := c.refreshOutcome(ctx, org, connID, prev)
		if err != nil {
			return false, err
		}
		changed = changed || ch
	}
	if acct == "" {
		if prev != "" {
			if err := env.deleteIndex(ctx, refKey); err != nil {
				return false, storeErr(err)
			}
		}
		return changed, nil
	}
	b, _ := json.Marshal(st)
	if err := env.putIndex(ctx, keyConnOpp(org, connID, acct, r.ID), string(b)); err != nil {
		return false, storeErr(err)
	}
	if err := env.putIndex(ctx, refKey, acct); err != nil {
		return false, storeErr(err)
	}
	ch, err := c.refreshOutcome(ctx, org, connID, acct)
	return changed || ch, err
}

// outcomeAttrs summarises the opportunities of a CRM account into account
// attributes: outcome won when any was won, else lost when any was lost
// (nil: no closed opportunity), with the amount and latest close date of
// those, and the counts.
func (c *Client) outcomeAttrs(ctx context.Context, org, connID, ext string) (map[string]any, error) {
	var nWon, nLost int
	var amtWon, amtLost float64
	var lastWon, lastLost string
	err := c.env.Store.Scan(ctx, keyConnOppAcctPrefix(org, connID, ext), nil, func(it store.Item) error {
		var st oppState
		if err := json.Unmarshal(it.Value, &st); err != nil {
			return nil
		}
		switch st.Outcome {
		case "won":
			nWon++
			amtWon += st.Amount
			lastWon = max(lastWon, st.CloseDate)
		case "lost":
			nLost++
			amtLost += st.Amount
			lastLost = max(lastLost, st.CloseDate)
		}
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	attrs := map[string]any{"outcome": nil, "outcome_amount": nil, "outcome_close_date": nil, "opportunities_won": nil, "opportunities_lost": nil}
	if nWon+nLost == 0 {
		return attrs, nil
	}
	attrs["opportunities_won"], attrs["opportunities_lost"] = float64(nWon), float64(nLost)
	outcome, amt, last := "lost", amtLost, lastLost
	if nWon > 0 {
		outcome, amt, last = "won", amtWon, lastWon
	}
	attrs["outcome"] = outcome
	if amt != 0 {
		attrs["outcome_amount"] = amt
	}
	if last != "" {
		attrs["outcome_close_date"] = last
	}
	return attrs, nil
}

// refreshOutcome writes the outcome attributes onto the account holding
// the CRM id (when it has been synced; its own sync applies them later
// otherwise).
func (c *Client) refreshOutcome(ctx context.Context, org, connID, ext string) (bool, error) {
	env := c.env
	b, _, err := env.Store.Load(ctx, keyGroup(org, env.Sealer.Index("group", ext)))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, storeErr(err)
	}
	id := string(b)
	attrs, err := c.outcomeAttrs(ctx, org, connID, ext)
	if err != nil {
		return false, err
	}
	for attempt := 0; attempt < 8; attempt++ {
		var a Account
		ver, err := env.loadJSON(ctx, keyAccount(org, id), &a)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, storeErr(err)
		}
		before := accountFingerprint(a)
		if a.Attributes == nil {
			a.Attributes = map[string]any{}
		}
		mergeAttrs(a.Attributes, attrs)
		if len(a.Attributes) == 0 {
			a.Attributes = nil
		}
		if accountFingerprint(a) == before {
			return false, nil
		}
		a.UpdatedAt = env.now()
		nb, _ := json.Marshal(a)
		if _, err := env.Store.Save(ctx, keyAccount(org, id), nb, ver); err == nil {
			return true, nil
		} else if !errors.Is(err, store.ErrConflict) {
			return false, storeErr(err)
		}
	}
	return false, errs.Unavailable("the account is being changed concurrently; retry", nil)
}
