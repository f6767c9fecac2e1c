// Package rules decides whether a lead is evaluated: evaluation rules per
// integration (SPEC §3.4) and the gates of SPEC §3.3 (minimum signals and
// types within the lookback, cooldown after each grade, high intent
// overriding cooldown). Pure: time is passed in.
package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/score"
)

// Operator compares a record's field with a rule's value.
type Operator string

const (
	Equals      Operator = "equals"
	NotEquals   Operator = "not_equals"
	Contains    Operator = "contains"
	NotContains Operator = "not_contains"
	StartsWith  Operator = "starts_with"
	EndsWith    Operator = "ends_with"
	GT          Operator = "gt"
	GTE         Operator = "gte"
	LT          Operator = "lt"
	LTE         Operator = "lte"
	IsEmpty     Operator = "is_empty"
	IsNotEmpty  Operator = "is_not_empty"
	IsTrue      Operator = "is_true"
	IsFalse     Operator = "is_false"
)

// FieldType decides which operators a rule may use (SPEC §3.4: "chosen by
// field type").
type FieldType string

const (
	TypeString FieldType = "string"
	TypeNumber FieldType = "number"
	TypeBool   FieldType = "boolean"
)

var opsByType = map[FieldType][]Operator{
	TypeString: {Equals, NotEquals, Contains, NotContains, StartsWith, EndsWith, IsEmpty, IsNotEmpty},
	TypeNumber: {Equals, NotEquals, GT, GTE, LT, LTE, IsEmpty, IsNotEmpty},
	TypeBool:   {IsTrue, IsFalse, IsEmpty, IsNotEmpty},
}

// Integrations and their objects (SPEC §3.4). "trailspark" is the
// engine's own records (lead, account), usable before any CRM is connected.
var Objects = map[string][]string{
	"trailspark":  {"lead", "account"},
	"salesforce":  {"Lead", "Contact", "Account"},
	"hubspot":     {"Contact", "Company"},
	"product_org": {"product_org"},
}

// Rule is one evaluation rule. All rules of an integration must pass.
type Rule struct {
	ID           string    `json:"id"`
	Integration  string    `json:"integration"`
	Object       string    `json:"object"`
	Field        string    `json:"field"`
	FieldType    FieldType `json:"field_type"`
	Operator     Operator  `json:"operator"`
	Value        string    `json:"value,omitempty"`
	AllowIfEmpty bool      `json:"allow_if_empty"`
}

// MaxRules bounds an organization's evaluation rules.
const MaxRules = 100

// Validate checks one rule; field names are prefixed with prefix (e.g.
// "rules[2]").
func (r *Rule) Validate(prefix string) error {
	f := func(n string) string { return prefix + "." + n }
	objs, ok := Objects[r.Integration]
	if !ok {
		return errs.Invalid(f("integration"), "unknown_integration", "integration must be one of trailspark, salesforce, hubspot, product_org")
	}
	if !contains(objs, r.Object) {
		return errs.Invalid(f("object"), "unknown_object", "object for %s must be one of %s", r.Integration, strings.Join(objs, ", "))
	}
	if strings.TrimSpace(r.Field) == "" || len(r.Field) > 200 {
		return errs.Invalid(f("field"), "required", "field is required (at most 200 characters)")
	}
	if r.FieldType == "" {
		r.FieldType = TypeString
	}
	ops, ok := opsByType[r.FieldType]
	if !ok {
		return errs.Invalid(f("field_type"), "unknown_field_type", "field_type must be string, number or boolean")
	}
	if !containsOp(ops, r.Operator) {
		return errs.Invalid(f("operator"), "operator_not_allowed", "operator %q does not apply to a %s field; use one of %v", r.Operator, r.FieldType, ops)
	}
	needsValue := r.Operator != IsEmpty && r.Operator != IsNotEmpty && r.Operator != IsTrue && r.Operator != IsFalse
	if needsValue && r.Value == "" {
		return errs.Invalid(f("value"), "required", "operator %s needs a value", r.Operator)
	}
	if r.FieldType == TypeNumber && needsValue {
		if _, err := strconv.ParseFloat(r.Value, 64); err != nil {
			return errs.Invalid(f("value"), "not_a_number", "value must be a number for a number field")
		}
	}
	if len(r.Value) > 1000 {
		return errs.Invalid(f("value"), "too_long", "value is at most 1000 characters")
	}
	return nil
}

// ValidateAll validates a rule list.
func ValidateAll(rs []Rule) error {
	if len(rs) > MaxRules {
		return errs.Invalid("rules", "too_many", "at most %d evaluation rules", MaxRules)
	}
	for i := range rs {
		if err := rs[i].Validate(fmt.Sprintf("rules[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

// Lookup returns a field of an object of the lead being considered, and
// whether the record exists at all (a lead with no Salesforce record has
// no Salesforce fields).
type Lookup func(integration, object, field string) (value string, recordExists bool)

// Passes reports whether every rule passes; when not, the reason names
// the first failing rule. A rule whose field is empty (or whose record is
// absent) passes only when AllowIfEmpty, except the emptiness operators,
// which test exactly that.
func Passes(rs []Rule, look Lookup) (bool, string) {
	for _, r := range rs {
		v, _ := look(r.Integration, r.Object, r.Field)
		v = strings.TrimSpace(v)
		if ok := r.pass(v); !ok {
			return false, fmt.Sprintf("evaluation rule %s.%s.%s %s %q did not pass", r.Integration, r.Object, r.Field, r.Operator, r.Value)
		}
	}
	return true, ""
}

func (r *Rule) pass(v string) bool {
	switch r.Operator {
	case IsEmpty:
		return v == ""
	case IsNotEmpty:
		return v != ""
	}
	if v == "" {
		return r.AllowIfEmpty
	}
	lv, lr := strings.ToLower(v), strings.ToLower(r.Value)
	switch r.Operator {
	case IsTrue, IsFalse:
		b, err := strconv.ParseBool(lv)
		if err != nil {
			b = lv == "yes" || lv == "y"
		}
		return b == (r.Operator == IsTrue)
	case GT, GTE, LT, LTE:
		a, err1 := strconv.ParseFloat(v, 64)
		b, err2 := strconv.ParseFloat(r.Value, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		switch r.Operator {
		case GT:
			return a > b
		case GTE:
			return a >= b
		case LT:
			return a < b
		}
		return a <= b
	case Equals, NotEquals:
		eq := lv == lr
		if r.FieldType == TypeNumber {
			a, err1 := strconv.ParseFloat(v, 64)
			b, err2 := strconv.ParseFloat(r.Value, 64)
			eq = err1 == nil && err2 == nil && a == b
		}
		return eq == (r.Operator == Equals)
	case Contains:
		return strings.Contains(lv, lr)
	case NotContains:
		return !strings.Contains(lv, lr)
	case StartsWith:
		return strings.HasPrefix(lv, lr)
	case EndsWith:
		return strings.HasSuffix(lv, lr)
	}
	return false
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func containsOp(xs []Operator, s Operator) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// Window is what the gates need to know about a lead's recent signals.
type Window struct {
	Signals int // mapped signals within the lookback
	Types   int // distinct signal types within the lookback
}

// CountWindow counts signals stamped within the lookback before now.
func CountWindow(at []time.Time, types []string, lookback time.Duration, now time.Time) Window {
	seen := map[string]bool{}
	w := Window{}
	for i, t := range at {
		age := now.Sub(t)
		if age > lookback || age < -score.ClockSkew {
			continue
		}
		w.Signals++
		if !seen[types[i]] {
			seen[types[i]] = true
			w.Types++
		}
	}
	return w
}

// Last is a lead's previous evaluation, if any.
type Last struct {
	At    time.Time
	Grade score.Grade
}

// Triggers say why an evaluation happens.
const (
	TriggerSignals    = "signals"     // the gates passed after new signals
	TriggerHighIntent = "high_intent" // a high-intent rule fired (ignores cooldown)
	TriggerManual     = "manual"      // evaluate-now
	TriggerRefinement = "refinement"  // re-scoring after a model change
)

// Gate decides whether a lead with new signals is evaluated now. It
// returns the trigger, or "" and the reason it is not.
func Gate(set score.Settings, w Window, last *Last, highIntent bool, now time.Time) (trigger, reason string) {
	if w.Signals < set.MinSignals {
		return "", fmt.Sprintf("%d of the %d signals needed within %d days", w.Signals, set.MinSignals, set.LookbackDays)
	}
	if w.Types < set.MinSignalTypes {
		return "", fmt.Sprintf("%d of the %d distinct signal types needed within %d days", w.Types, set.MinSignalTypes, set.LookbackDays)
	}
	if highIntent {
		return TriggerHighIntent, ""
	}
	if until := CooldownUntil(set, last); !until.IsZero() && now.Before(until) {
		return "", fmt.Sprintf("cooling off after a %s evaluation until %s", last.Grade, until.UTC().Format(time.RFC3339))
	}
	return TriggerSignals, ""
}

// CooldownUntil is when the cooldown after the last evaluation ends (zero
// when cooling off is disabled or there was none). It uses the current
// settings, so a changed cooldown applies when the lead is next checked.
func CooldownUntil(set score.Settings, last *Last) time.Time {
	if last == nil || last.At.IsZero() || !set.CoolingOff {
		return time.Time{}
	}
	d := set.CooldownCold
	switch last.Grade {
	case score.GradeHot:
		d = set.CooldownHot
	case score.GradeWarm:
		d = set.CooldownWarm
	}
	return last.At.Add(d)
}

// SortRules orders rules by integration, object, field, so listings and
// snapshots are stable.
func SortRules(rs []Rule) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.Integration != b.Integration {
			return a.Integration < b.Integration
		}
		if a.Object != b.Object {
			return a.Object < b.Object
		}
		return a.Field < b.Field
	})
}
