package actors

import (
	"context"
	"strconv"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/engine/tenant"
)

const (
	opRulesList     = "rules.list"
	opRuleGet       = "rules.get"
	opRuleCreate    = "rules.create"
	opRuleUpdate    = "rules.update"
	opRuleDelete    = "rules.delete"
	opRulesSnapshot = "rules.snapshot"
)

// tenantCallerSystem is how the engine itself calls grains (e.g. an ingest
// grain fetching rules): with operator rights, never from a request.
var tenantCallerSystem = tenant.Caller{Operator: true}

type rulesSnapshot struct {
	Rules   []mapping.Rule `json:"rules"`
	Version uint64         `json:"version"`
}

type ruleBody struct {
	ID   string       `json:"id,omitempty"`
	Rule mapping.Rule `json:"rule"`
}

func init() {
	orgOps[opRulesList] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapRead); err != nil {
			return nil, err
		}
		return t.state.SortedRules(), nil
	}}
	orgOps[opRulesSnapshot] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if t.state == nil || t.state.Deleted {
			return rulesSnapshot{Rules: []mapping.Rule{}}, nil
		}
		return rulesSnapshot{Rules: t.state.SortedRules(), Version: t.state.ConfigVersion}, nil
	}}
	orgOps[opRuleGet] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapRead); err != nil {
			return nil, err
		}
		var b idBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		r, ok := t.state.Rules[b.ID]
		if !ok {
			return nil, errs.NotFound("rule")
		}
		return r, nil
	}}
	orgOps[opRuleCreate] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapEditConfig); err != nil {
			return nil, err
		}
		var b ruleBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		id, err := credential.NewID(g.env.Rand, "rule_")
		if err != nil {
			return nil, errs.Internal(err)
		}
		r, err := t.state.AddRule(b.Rule, id, t.now)
		if err != nil {
			return nil, err
		}
		t.put(keyConfigVersion(g.id), strconv.FormatUint(t.state.ConfigVersion, 10))
		return r, nil
	}}
	orgOps[opRuleUpdate] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapEditConfig); err != nil {
			return nil, err
		}
		var b ruleBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		r, err := t.state.ReplaceRule(b.ID, b.Rule, t.now)
		if err != nil {
			return nil, err
		}
		t.put(keyConfigVersion(g.id), strconv.FormatUint(t.state.ConfigVersion, 10))
		return r, nil
	}}
	orgOps[opRuleDelete] = orgOp{write: true, run: func(g *orgGrain, t *orgTx) (any, error) {
		if err := t.authorize(tenant.CapEditConfig); err != nil {
			return nil, err
		}
		var b idBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		if err := t.state.DeleteRule(b.ID); err != nil {
			return nil, err
		}
		t.put(keyConfigVersion(g.id), strconv.FormatUint(t.state.ConfigVersion, 10))
		return struct{}{}, nil
	}}
}

// Rules lists an organization's mapping rules, highest priority first.
func (c *Client) Rules(ctx context.Context, caller tenant.Caller, org string) ([]mapping.Rule, error) {
	var out []mapping.Rule
	return out, c.call(ctx, caller, org, opRulesList, nil, &out)
}

// Rule reads one rule.
func (c *Client) Rule(ctx context.Context, caller tenant.Caller, org, id string) (*mapping.Rule, error) {
	var out mapping.Rule
	return &out, c.call(ctx, caller, org, opRuleGet, idBody{ID: id}, &out)
}

// CreateRule adds a rule; it applies to signals processed from now on.
func (c *Client) CreateRule(ctx context.Context, caller tenant.Caller, org string, r mapping.Rule) (*mapping.Rule, error) {
	var out mapping.Rule
	return &out, c.call(ctx, caller, org, opRuleCreate, ruleBody{Rule: r}, &out)
}

// UpdateRule replaces a rule.
func (c *Client) UpdateRule(ctx context.Context, caller tenant.Caller, org, id string, r mapping.Rule) (*mapping.Rule, error) {
	var out mapping.Rule
	return &out, c.call(ctx, caller, org, opRuleUpdate, ruleBody{ID: id, Rule: r}, &out)
}

// DeleteRule removes a rule; processed data stays.
func (c *Client) DeleteRule(ctx context.Context, caller tenant.Caller, org, id string) error {
	return c.call(ctx, caller, org, opRuleDelete, idBody{ID: id}, nil)
}
