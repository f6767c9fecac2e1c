package mapping

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/trailspark/trailspark/engine/errs"
)

// compiled is one rule ready for evaluation.
type compiled struct {
	rule Rule
	cond node
}

// compileRule validates r and compiles its conditions. Field names are
// relative to the rule.
func compileRule(r *Rule) (*compiled, *errs.Error) {
	if r == nil {
		return nil, errs.Invalid("", "required", "rule is required")
	}
	if e := r.validateFields(); e != nil {
		return nil, e
	}
	cond, e := compileCondition(&r.Conditions, "conditions", 0, true, &compileState{})
	if e != nil {
		return nil, e
	}
	return &compiled{rule: r.clone(), cond: cond}, nil
}

func (c *compiled) matches(payload map[string]any, source string, cache *lookupCache) bool {
	if c.rule.Source != "" && !strings.EqualFold(c.rule.Source, source) {
		return false
	}
	return c.cond.eval(payload, cache)
}

// RuleSet is a compiled, ordered list of rules. It is immutable and safe
// for concurrent use; a nil *RuleSet has no rules.
type RuleSet struct {
	rules []compiled
}

// Compile validates every rule (errors name "rules[i]." + the field; each
// rule needs a unique id), pre-compiles regexes and paths, and orders the
// rules: priority descending, then CreatedAt ascending (older wins), then
// id ascending. The rules are copied: later changes to the slice do not
// affect the RuleSet.
func Compile(rules []Rule) (*RuleSet, error) {
	rs := &RuleSet{rules: make([]compiled, 0, len(rules))}
	seen := make(map[string]int, len(rules))
	for i := range rules {
		prefix := "rules[" + strconv.Itoa(i) + "]"
		c, e := compileRule(&rules[i])
		if e != nil {
			return nil, withPrefix(e, prefix)
		}
		id := rules[i].ID
		if id == "" {
			return nil, errs.Invalid(prefix+".id", "required", "rule id is required")
		}
		if j, dup := seen[id]; dup {
			return nil, errs.Invalid(prefix+".id", "duplicate", "rule id %q is also used by rules[%d]", id, j)
		}
		seen[id] = i
		rs.rules = append(rs.rules, *c)
	}
	slices.SortStableFunc(rs.rules, func(a, b compiled) int { return order(&a.rule, &b.rule) })
	trees := make([]*node, len(rs.rules))
	for i := range rs.rules {
		trees[i] = &rs.rules[i].cond
	}
	assignPathIDs(trees)
	return rs, nil
}

// order is the precedence of rules: negative when a wins over b.
func order(a, b *Rule) int {
	if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
		return c
	}
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

func withPrefix(e *errs.Error, prefix string) *errs.Error {
	out := *e
	if out.Field == "" {
		out.Field = prefix
	} else {
		out.Field = prefix + "." + out.Field
	}
	return &out
}

// Len is the number of rules.
func (rs *RuleSet) Len() int {
	if rs == nil {
		return 0
	}
	return len(rs.rules)
}

// Rules returns copies of the rules in precedence order.
func (rs *RuleSet) Rules() []Rule {
	if rs == nil {
		return nil
	}
	out := make([]Rule, len(rs.rules))
	for i := range rs.rules {
		out[i] = rs.rules[i].rule.clone()
	}
	return out
}

// Match returns the first rule, in precedence order, that matches the
// signal, or nil (the signal is then skipped). payload is a decoded JSON
// object (float64 or json.Number numbers); source is the signal's source.
// The returned rule belongs to the RuleSet and must not be modified.
// Match does not allocate.
func (rs *RuleSet) Match(payload map[string]any, source string) *Rule {
	if rs == nil {
		return nil
	}
	var cache lookupCache
	for i := range rs.rules {
		if rs.rules[i].matches(payload, source, &cache) {
			return &rs.rules[i].rule
		}
	}
	return nil
}

// MatchAll lists the id of every matching rule in precedence order, for
// previews and debugging.
func (rs *RuleSet) MatchAll(payload map[string]any, source string) []string {
	if rs == nil {
		return nil
	}
	var ids []string
	var cache lookupCache
	for i := range rs.rules {
		if rs.rules[i].matches(payload, source, &cache) {
			ids = append(ids, rs.rules[i].rule.ID)
		}
	}
	return ids
}

// Preview validates the draft rule r and counts how many of the given
// signals it would match on its own, ignoring the other rules. sources[i]
// is the source of payloads[i] (missing entries count as ""). The receiver
// may be nil.
func (rs *RuleSet) Preview(r Rule, payloads []map[string]any, sources []string) (matched int, err error) {
	res, e := rs.preview(&r, payloads, sources)
	if e != nil {
		return 0, e
	}
	return res.Matched, nil
}

// PreviewResult is the outcome of PreviewWins.
type PreviewResult struct {
	Matched int `json:"matched"` // signals the rule matches on its own
	Wins    int `json:"wins"`    // of those, signals it would also be chosen for
}

// PreviewWins is Preview plus how many of the matched signals the rule
// would actually win against the rules in rs. A rule in rs with the same id
// as r is the version being edited and is left out.
func (rs *RuleSet) PreviewWins(r Rule, payloads []map[string]any, sources []string) (PreviewResult, error) {
	res, e := rs.preview(&r, payloads, sources)
	if e != nil {
		return PreviewResult{}, e
	}
	return res, nil
}

func (rs *RuleSet) preview(r *Rule, payloads []map[string]any, sources []string) (PreviewResult, *errs.Error) {
	c, e := compileRule(r)
	if e != nil {
		return PreviewResult{}, e
	}
	var res PreviewResult
	for i, p := range payloads {
		src := ""
		if i < len(sources) {
			src = sources[i]
		}
		if !c.matches(p, src, nil) {
			continue
		}
		res.Matched++
		if rs.wins(&c.rule, p, src) {
			res.Wins++
		}
	}
	return res, nil
}

// wins reports whether r would be chosen for the signal over every rule of
// rs (other than r's own previous version) that also matches it.
func (rs *RuleSet) wins(r *Rule, payload map[string]any, source string) bool {
	if rs == nil {
		return true
	}
	var cache lookupCache
	for i := range rs.rules {
		other := &rs.rules[i]
		if r.ID != "" && other.rule.ID == r.ID {
			continue
		}
		if order(&other.rule, r) >= 0 {
			return true // every remaining rule ranks below r
		}
		if other.matches(payload, source, &cache) {
			return false
		}
	}
	return true
}
