package mapping

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/errs"
)

// SignalType is the scoring category a rule assigns to the signals it maps.
type SignalType string

const (
	PageView        SignalType = "page_view"
	FormFill        SignalType = "form_fill"
	ProductActivity SignalType = "product_activity"
	SalesEvent      SignalType = "sales_event"
	EmailOpen       SignalType = "email_open"
	EmailClick      SignalType = "email_click"
)

// SignalTypes lists every signal type in display order.
func SignalTypes() []SignalType {
	return []SignalType{PageView, FormFill, ProductActivity, SalesEvent, EmailOpen, EmailClick}
}

type typeDefaults struct {
	weight   float64
	halfLife time.Duration
}

const day = 24 * time.Hour

// defaults per signal type: our choice, documented in the package comment.
var defaults = map[SignalType]typeDefaults{
	PageView:        {1.0, 7 * day},
	FormFill:        {5.0, 30 * day},
	ProductActivity: {3.0, 14 * day},
	SalesEvent:      {8.0, 30 * day},
	EmailOpen:       {0.5, 7 * day},
	EmailClick:      {1.5, 14 * day},
}

// Valid reports whether t is a known signal type.
func (t SignalType) Valid() bool { _, ok := defaults[t]; return ok }

// DefaultWeight is the intent weight of a signal of this type when a rule
// does not set one (0 for an unknown type).
func (t SignalType) DefaultWeight() float64 { return defaults[t].weight }

// DefaultHalfLife is the intent half-life of a signal of this type when a
// rule does not set one (7 days for an unknown type, never zero).
func (t SignalType) DefaultHalfLife() time.Duration {
	if d, ok := defaults[t]; ok {
		return d.halfLife
	}
	return 7 * day
}

// Target is the lead field an identifier mapping fills.
type Target string

const (
	TargetEmail         Target = "email"
	TargetMapID         Target = "map_id" // marketing-automation id
	TargetCDPID         Target = "cdp_id" // CDP / anonymous id: never enough alone
	TargetCRMID         Target = "crm_id"
	TargetProductUserID Target = "product_user_id"
	TargetTitle         Target = "title" // job title: not an identifier
)

// Targets lists every mapping target in display order.
func Targets() []Target {
	return []Target{TargetEmail, TargetMapID, TargetCDPID, TargetCRMID, TargetProductUserID, TargetTitle}
}

// Valid reports whether t is a known target.
func (t Target) Valid() bool {
	switch t {
	case TargetEmail, TargetMapID, TargetCDPID, TargetCRMID, TargetProductUserID, TargetTitle:
		return true
	}
	return false
}

// IsIdentifying reports whether the target is an identifier (marked "(ID)"
// in the rule editor). cdp_id is identifying but not persistent: it cannot
// identify a lead on its own.
func (t Target) IsIdentifying() bool { return t.Valid() && t != TargetTitle }

// IsPersistent reports whether the target can identify a lead on its own.
func (t Target) IsPersistent() bool { return t.IsIdentifying() && t != TargetCDPID }

// IdentifierMapping copies the value at a payload path into a lead field.
type IdentifierMapping struct {
	Path   string `json:"path"`
	Target Target `json:"target"`
}

// Op is a condition operator.
type Op string

const (
	OpEquals      Op = "equals"
	OpNotEquals   Op = "not_equals"
	OpContains    Op = "contains"
	OpNotContains Op = "not_contains"
	OpStartsWith  Op = "starts_with"
	OpEndsWith    Op = "ends_with"
	OpGT          Op = "gt"
	OpGTE         Op = "gte"
	OpLT          Op = "lt"
	OpLTE         Op = "lte"
	OpExists      Op = "exists"
	OpNotExists   Op = "not_exists"
	OpMatches     Op = "matches"
	OpIn          Op = "in"
)

// Ops lists every operator.
func Ops() []Op {
	return []Op{OpEquals, OpNotEquals, OpContains, OpNotContains, OpStartsWith, OpEndsWith,
		OpGT, OpGTE, OpLT, OpLTE, OpExists, OpNotExists, OpMatches, OpIn}
}

// Valid reports whether o is a known operator.
func (o Op) Valid() bool {
	for _, k := range Ops() {
		if o == k {
			return true
		}
	}
	return false
}

// Condition is a node of a rule's condition tree: either a leaf
// (Path + Op [+ Value]) or a group (All or Any non-empty), never both.
// An empty root matches every signal.
type Condition struct {
	Path  string      `json:"path,omitempty"`
	Op    Op          `json:"op,omitempty"`
	Value any         `json:"value,omitempty"` // string/number/bool; list for "in"; regex for "matches"
	All   []Condition `json:"all,omitempty"`   // AND
	Any   []Condition `json:"any,omitempty"`   // OR
}

// IsLeaf reports whether any leaf field is set.
func (c *Condition) IsLeaf() bool { return c.Path != "" || c.Op != "" || c.Value != nil }

// IsGroup reports whether All or Any is non-empty.
func (c *Condition) IsGroup() bool { return len(c.All) > 0 || len(c.Any) > 0 }

// IsEmpty reports whether the node is neither a leaf nor a group.
func (c *Condition) IsEmpty() bool { return !c.IsLeaf() && !c.IsGroup() }

// Rule is a signal mapping rule.
type Rule struct {
	ID            string              `json:"id"`
	Name          string              `json:"name"`
	SignalType    SignalType          `json:"signal_type"`
	Description   string              `json:"description"`
	HighIntent    bool                `json:"high_intent"`
	Negative      bool                `json:"negative"`         // counts against intent (e.g. unsubscribes)
	Source        string              `json:"source,omitempty"` // only signals from this source
	Conditions    Condition           `json:"conditions"`       // empty: matches every signal
	Priority      int                 `json:"priority"`         // higher wins
	Mappings      []IdentifierMapping `json:"mappings"`
	Weight        *float64            `json:"weight,omitempty"`          // nil: type default
	HalfLifeHours *float64            `json:"half_life_hours,omitempty"` // nil: type default
	CreatedAt     time.Time           `json:"created_at"`
	UpdatedAt     time.Time           `json:"updated_at"`
}

// Limits enforced by Validate.
const (
	MaxNameLen        = 100  // characters
	MaxDescriptionLen = 1000 // characters
	MaxSourceLen      = 100  // characters
	MaxIDLen          = 128  // bytes
	MaxMappings       = 50
	MaxDepth          = 8    // nested groups
	MaxLeaves         = 100  // leaf conditions per rule
	MaxInList         = 1000 // elements of an "in" list
	MaxRegexLen       = 512  // characters of a "matches" pattern
	MaxValueLen       = 1000 // characters of a constant string
	MinWeight         = -100.0
	MaxWeight         = 100.0
	MinHalfLifeHours  = 1.0
	MaxHalfLifeHours  = 8760.0
	MinPriority       = -1000
	MaxPriority       = 1000
)

// EffectiveWeight is the rule's intent weight: Weight, or the signal type's
// default; negated (−|w|) for a Negative rule.
func (r *Rule) EffectiveWeight() float64 {
	w := r.SignalType.DefaultWeight()
	if r.Weight != nil {
		w = *r.Weight
	}
	if r.Negative {
		w = -math.Abs(w)
	}
	return w
}

// EffectiveHalfLife is the rule's intent half-life: HalfLifeHours, or the
// signal type's default.
func (r *Rule) EffectiveHalfLife() time.Duration {
	if r.HalfLifeHours != nil && *r.HalfLifeHours > 0 && !math.IsInf(*r.HalfLifeHours, 0) {
		return time.Duration(*r.HalfLifeHours * float64(time.Hour))
	}
	return r.SignalType.DefaultHalfLife()
}

// Validate reports the first invalid field of the rule as an *errs.Error
// (kind invalid). It does not require an ID: drafts have none.
func (r *Rule) Validate() error {
	if _, e := compileRule(r); e != nil {
		return e
	}
	return nil
}

// validateFields checks everything but the conditions (compileCondition
// checks those while compiling them).
func (r *Rule) validateFields() *errs.Error {
	if len(r.ID) > MaxIDLen {
		return errs.Invalid("id", "too_long", "id must be at most %d bytes", MaxIDLen)
	}
	if e := text("name", r.Name, MaxNameLen, true); e != nil {
		return e
	}
	if !r.SignalType.Valid() {
		if r.SignalType == "" {
			return errs.Invalid("signal_type", "required", "signal_type is required")
		}
		return errs.Invalid("signal_type", "invalid_enum", "signal_type must be one of %s", joinEnum(SignalTypes()))
	}
	if e := text("description", r.Description, MaxDescriptionLen, false); e != nil {
		return e
	}
	if e := text("source", r.Source, MaxSourceLen, false); e != nil {
		return e
	}
	if r.Priority < MinPriority || r.Priority > MaxPriority {
		return errs.Invalid("priority", "out_of_range", "priority must be between %d and %d", MinPriority, MaxPriority)
	}
	if w := r.Weight; w != nil && (math.IsNaN(*w) || *w < MinWeight || *w > MaxWeight) {
		return errs.Invalid("weight", "out_of_range", "weight must be between %g and %g", MinWeight, MaxWeight)
	}
	if h := r.HalfLifeHours; h != nil && (math.IsNaN(*h) || *h < MinHalfLifeHours || *h > MaxHalfLifeHours) {
		return errs.Invalid("half_life_hours", "out_of_range", "half_life_hours must be between %g and %g", MinHalfLifeHours, MaxHalfLifeHours)
	}
	return r.validateMappings()
}

func (r *Rule) validateMappings() *errs.Error {
	if len(r.Mappings) == 0 {
		return errs.Invalid("mappings", "required", "at least one identifier mapping is required")
	}
	if len(r.Mappings) > MaxMappings {
		return errs.Invalid("mappings", "too_long", "a rule may have at most %d mappings", MaxMappings)
	}
	var identifying, persistent bool
	for i, m := range r.Mappings {
		f := "mappings[" + strconv.Itoa(i) + "]"
		switch {
		case m.Path == "":
			return errs.Invalid(f+".path", "required", "mapping path is required")
		case !validPath(m.Path):
			return errs.Invalid(f+".path", "invalid_path", pathRules)
		case m.Target == "":
			return errs.Invalid(f+".target", "required", "mapping target is required")
		case !m.Target.Valid():
			return errs.Invalid(f+".target", "invalid_enum", "target must be one of %s", joinEnum(Targets()))
		}
		identifying = identifying || m.Target.IsIdentifying()
		persistent = persistent || m.Target.IsPersistent()
	}
	if !identifying {
		return errs.Invalid("mappings", "required", "at least one identifier mapping is required (title is not an identifier)")
	}
	if !persistent {
		return errs.Invalid("mappings", "cdp_only", "cdp_id alone cannot identify a lead; add email, crm_id, map_id or product_user_id")
	}
	return nil
}

const pathRules = "path must be a dot path of at most 16 segments and 256 characters; segments use letters, digits, _ $ @ - (numbers index arrays)"

// text checks a free-text field's length (in characters) and encoding.
func text(field, s string, maxLen int, required bool) *errs.Error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return errs.Invalid(field, "required", "%s is required", field)
	case !utf8.ValidString(s):
		return errs.Invalid(field, "invalid_format", "%s must be valid UTF-8", field)
	case utf8.RuneCountInString(s) > maxLen:
		return errs.Invalid(field, "too_long", "%s must be at most %d characters", field, maxLen)
	}
	return nil
}

func joinEnum[T ~string](vs []T) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(v))
	}
	return b.String()
}

// clone deep-copies the parts of a rule a caller could mutate after
// handing it to Compile.
func (r *Rule) clone() Rule {
	c := *r
	c.Mappings = append([]IdentifierMapping(nil), r.Mappings...)
	if r.Weight != nil {
		w := *r.Weight
		c.Weight = &w
	}
	if r.HalfLifeHours != nil {
		h := *r.HalfLifeHours
		c.HalfLifeHours = &h
	}
	c.Conditions = r.Conditions.clone()
	return c
}

func (c Condition) clone() Condition {
	switch v := c.Value.(type) {
	case []any:
		c.Value = append([]any(nil), v...)
	case []string:
		c.Value = append([]string(nil), v...)
	}
	if c.All != nil {
		all := make([]Condition, len(c.All))
		for i := range c.All {
			all[i] = c.All[i].clone()
		}
		c.All = all
	}
	if c.Any != nil {
		anyOf := make([]Condition, len(c.Any))
		for i := range c.Any {
			anyOf[i] = c.Any[i].clone()
		}
		c.Any = anyOf
	}
	return c
}
