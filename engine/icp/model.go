// Package icp defines the ideal customer profile (SPEC §3.1): what accounts,
// people and behaviour an organization sells to, with a weight for each
// criterion and detractors that count against. A Definition compiles into
// the scoring view (score.Model) plus matchers that turn an account and a
// person into fit features. Pure: no goroutines, no I/O, no clock reads.
package icp

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/engine/score"
)

// Criterion is one attribute value that counts for (or, in a detractor
// list, against) a lead, with its weight in logits. Weight 0 means
// DefaultWeight.
type Criterion struct {
	Value  string  `json:"value"`
	Weight float64 `json:"weight,omitempty"`
}

// Range is an employee-count range [Min, Max]; Max 0 means no upper bound.
type Range struct {
	Min    int     `json:"min"`
	Max    int     `json:"max,omitempty"`
	Weight float64 `json:"weight,omitempty"`
}

// AccountProfile are firmographic criteria.
type AccountProfile struct {
	Industries     []Criterion `json:"industries,omitempty"`
	EmployeeRanges []Range     `json:"employee_ranges,omitempty"`
	Regions        []Criterion `json:"regions,omitempty"`
	Technologies   []Criterion `json:"technologies,omitempty"`
	BusinessModels []Criterion `json:"business_models,omitempty"`
	MarketSegments []Criterion `json:"market_segments,omitempty"`
}

// Personas are criteria on the person: title keywords, and the seniority,
// department and buying role normalised from the title (or given).
type Personas struct {
	Titles      []Criterion `json:"titles,omitempty"` // keywords matched in the job title
	Seniorities []Criterion `json:"seniorities,omitempty"`
	Departments []Criterion `json:"departments,omitempty"`
	BuyingRoles []Criterion `json:"buying_roles,omitempty"`
}

// BehaviourSignal says how much one signal type shows intent: Weight
// multiplies the decayed sum of that type's (rule-weighted) signals;
// HalfLifeDays overrides the rules' half-lives for the type.
type BehaviourSignal struct {
	Type         string  `json:"type"`
	Weight       float64 `json:"weight"`
	HalfLifeDays float64 `json:"half_life_days,omitempty"`
}

// Definition is an ICP model's content. Detractor lists hold positive
// weights that are applied negatively.
type Definition struct {
	Intercept         float64           `json:"intercept"`
	Account           AccountProfile    `json:"account"`
	AccountDetractors AccountProfile    `json:"account_detractors"`
	Personas          Personas          `json:"personas"`
	PersonaDetractors Personas          `json:"persona_detractors"`
	Signals           []BehaviourSignal `json:"signals,omitempty"`
	// Thresholds for grades; zero means score.DefaultThresholds.
	Thresholds score.Thresholds `json:"thresholds"`
}

// Limits enforced by Validate.
const (
	DefaultWeight   = 1.0
	MaxAbsWeight    = 20.0
	MaxCriteria     = 200 // per list
	MaxValueLen     = 200
	MaxHalfLifeDays = 365.0
	MinHalfLifeDays = 1.0 / 24
)

// Seniority and department vocabularies (ParseTitle produces these).
var (
	Seniorities = []string{"c_level", "vp", "director", "head", "manager", "senior", "individual", "entry"}
	Departments = []string{"sales", "marketing", "engineering", "product", "finance", "operations", "it", "hr", "legal", "support", "executive", "data", "design"}
	BuyingRoles = []string{"decision_maker", "champion", "influencer", "user", "blocker"}
)

func weightOf(w float64) float64 {
	if w == 0 {
		return DefaultWeight
	}
	return w
}

func norm(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// Validate reports the first problem, naming the field by its JSON path.
func (d *Definition) Validate() error {
	if err := checkNumber("intercept", d.Intercept, -MaxAbsWeight, MaxAbsWeight); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		a    *AccountProfile
	}{{"account", &d.Account}, {"account_detractors", &d.AccountDetractors}} {
		lists := map[string][]Criterion{"industries": p.a.Industries, "regions": p.a.Regions, "technologies": p.a.Technologies,
			"business_models": p.a.BusinessModels, "market_segments": p.a.MarketSegments}
		if err := checkLists(p.name, lists, nil); err != nil {
			return err
		}
		if len(p.a.EmployeeRanges) > MaxCriteria {
			return errs.Invalid(p.name+".employee_ranges", "too_many", "at most %d ranges", MaxCriteria)
		}
		for i, r := range p.a.EmployeeRanges {
			f := fmt.Sprintf("%s.employee_ranges[%d]", p.name, i)
			if r.Min < 0 || (r.Max != 0 && r.Max < r.Min) {
				return errs.Invalid(f, "invalid_range", "min must be ≥ 0 and max (0 for no upper bound) ≥ min")
			}
			if err := checkNumber(f+".weight", r.Weight, -MaxAbsWeight, MaxAbsWeight); err != nil {
				return err
			}
		}
	}
	for _, p := range []struct {
		name string
		a    *Personas
	}{{"personas", &d.Personas}, {"persona_detractors", &d.PersonaDetractors}} {
		lists := map[string][]Criterion{"titles": p.a.Titles, "seniorities": p.a.Seniorities, "departments": p.a.Departments, "buying_roles": p.a.BuyingRoles}
		vocab := map[string][]string{"seniorities": Seniorities, "departments": Departments, "buying_roles": BuyingRoles}
		if err := checkLists(p.name, lists, vocab); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for i, s := range d.Signals {
		f := fmt.Sprintf("signals[%d]", i)
		if !mapping.SignalType(s.Type).Valid() {
			return errs.Invalid(f+".type", "unknown_signal_type", "unknown signal type %q; one of %v", s.Type, mapping.SignalTypes())
		}
		if seen[s.Type] {
			return errs.Invalid(f+".type", "duplicate", "signal type %q is listed twice", s.Type)
		}
		seen[s.Type] = true
		if err := checkNumber(f+".weight", s.Weight, -MaxAbsWeight, MaxAbsWeight); err != nil {
			return err
		}
		if s.HalfLifeDays != 0 {
			if err := checkNumber(f+".half_life_days", s.HalfLifeDays, MinHalfLifeDays, MaxHalfLifeDays); err != nil {
				return err
			}
		}
	}
	th := d.Thresholds
	if th != (score.Thresholds{}) && !(th.Warm > 0 && th.Warm < th.Hot && th.Hot < 1) {
		return errs.Invalid("thresholds", "invalid_thresholds", "need 0 < warm < hot < 1")
	}
	return nil
}

func checkNumber(field string, v, lo, hi float64) error {
	if math.IsNaN(v) || v < lo || v > hi {
		return errs.Invalid(field, "out_of_range", "%s must be between %g and %g", field, lo, hi)
	}
	return nil
}

func checkLists(prefix string, lists map[string][]Criterion, vocab map[string][]string) error {
	names := make([]string, 0, len(lists))
	for n := range lists {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		l := lists[n]
		if len(l) > MaxCriteria {
			return errs.Invalid(prefix+"."+n, "too_many", "at most %d entries", MaxCriteria)
		}
		for i, c := range l {
			f := fmt.Sprintf("%s.%s[%d]", prefix, n, i)
			v := norm(c.Value)
			if v == "" {
				return errs.Invalid(f+".value", "required", "value is required")
			}
			if len(v) > MaxValueLen {
				return errs.Invalid(f+".value", "too_long", "at most %d characters", MaxValueLen)
			}
			if voc, ok := vocab[n]; ok && !contains(voc, v) {
				return errs.Invalid(f+".value", "unknown_value", "%q is not one of %v", c.Value, voc)
			}
			if err := checkNumber(f+".weight", c.Weight, -MaxAbsWeight, MaxAbsWeight); err != nil {
				return err
			}
		}
	}
	return nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// Subject is what the model sees of a lead and its account.
type Subject struct {
	Industry      string
	Employees     *int
	Region        string
	Technologies  []string
	BusinessModel string
	MarketSegment string
	Title         string
	Seniority     string // empty: derived from Title
	Department    string // empty: derived from Title
	BuyingRole    string
}

// Known counts the attributes the subject has (for confidence: data
// completeness).
func (s *Subject) Known() int {
	n := 0
	for _, v := range []string{s.Industry, s.Region, s.Title, s.BusinessModel, s.MarketSegment} {
		if strings.TrimSpace(v) != "" {
			n++
		}
	}
	if s.Employees != nil {
		n++
	}
	if len(s.Technologies) > 0 {
		n++
	}
	return n
}

// matcher is one compiled criterion.
type matcher struct {
	feature string  // score feature name
	label   string  // for reasoning
	weight  float64 // signed
	field   string  // industry, region, tech, business_model, segment, title, seniority, department, buying_role, employees
	value   string  // normalised
	lo, hi  int     // employees
}

// Compiled is a Definition ready to score: the score.Model and the
// matchers that produce fit features.
type Compiled struct {
	Model      score.Model
	Thresholds score.Thresholds
	matchers   []matcher
}

// Compile turns a validated definition into its scoring view. version
// names the model version in every evaluation.
func Compile(d Definition, version string) *Compiled {
	c := &Compiled{Model: score.Model{Version: version, Intercept: d.Intercept, Weights: map[string]float64{}, HalfLives: map[string]time.Duration{}},
		Thresholds: d.Thresholds}
	add := func(m matcher) {
		// The same feature may be listed as a criterion and a detractor:
		// weights add, so the model stays one weight per feature.
		if _, ok := c.Model.Weights[m.feature]; !ok {
			c.matchers = append(c.matchers, m)
		}
		c.Model.Weights[m.feature] += m.weight
	}
	for _, side := range []struct {
		a    AccountProfile
		sign float64
	}{{d.Account, 1}, {d.AccountDetractors, -1}} {
		for field, list := range map[string][]Criterion{"industry": side.a.Industries, "region": side.a.Regions, "tech": side.a.Technologies,
			"business_model": side.a.BusinessModels, "segment": side.a.MarketSegments} {
			for _, cr := range list {
				v := norm(cr.Value)
				add(matcher{feature: field + "=" + v, label: fieldLabel(field) + ": " + strings.TrimSpace(cr.Value), weight: side.sign * weightOf(cr.Weight), field: field, value: v})
			}
		}
		for _, r := range side.a.EmployeeRanges {
			add(matcher{feature: "employees=" + rangeName(r), label: rangeName(r) + " employees", weight: side.sign * weightOf(r.Weight), field: "employees", lo: r.Min, hi: r.Max})
		}
	}
	for _, side := range []struct {
		p    Personas
		sign float64
	}{{d.Personas, 1}, {d.PersonaDetractors, -1}} {
		for field, list := range map[string][]Criterion{"title": side.p.Titles, "seniority": side.p.Seniorities, "department": side.p.Departments, "buying_role": side.p.BuyingRoles} {
			for _, cr := range list {
				v := norm(cr.Value)
				add(matcher{feature: field + "=" + v, label: fieldLabel(field) + ": " + strings.ReplaceAll(v, "_", " "), weight: side.sign * weightOf(cr.Weight), field: field, value: v})
			}
		}
	}
	// Map iteration above is unordered: sort matchers so features come
	// out in one order and evaluations are byte-for-byte reproducible.
	sort.Slice(c.matchers, func(i, j int) bool { return c.matchers[i].feature < c.matchers[j].feature })
	for _, s := range d.Signals {
		c.Model.Weights[s.Type] = s.Weight
		if s.HalfLifeDays > 0 {
			c.Model.HalfLives[s.Type] = time.Duration(s.HalfLifeDays * float64(24*time.Hour))
		}
	}
	return c
}

func fieldLabel(f string) string {
	switch f {
	case "tech":
		return "Uses"
	case "business_model":
		return "Business model"
	case "segment":
		return "Segment"
	case "buying_role":
		return "Buying role"
	}
	return strings.ToUpper(f[:1]) + f[1:]
}

func rangeName(r Range) string {
	if r.Max == 0 {
		return fmt.Sprintf("%d+", r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// Features appends to buf the fit features the subject matches (value 1)
// and returns it; matching is case-insensitive; a title criterion matches
// when its keyword occurs in the title as whole words.
func (c *Compiled) Features(s Subject, buf []score.FitFeature) []score.FitFeature {
	title := " " + normWords(s.Title) + " "
	sen, dep := norm(s.Seniority), norm(s.Department)
	if sen == "" || dep == "" {
		ps, pd := ParseTitle(s.Title)
		if sen == "" {
			sen = ps
		}
		if dep == "" {
			dep = pd
		}
	}
	for i := range c.matchers {
		m := &c.matchers[i]
		hit := false
		switch m.field {
		case "industry":
			hit = norm(s.Industry) == m.value
		case "region":
			hit = norm(s.Region) == m.value
		case "business_model":
			hit = norm(s.BusinessModel) == m.value
		case "segment":
			hit = norm(s.MarketSegment) == m.value
		case "tech":
			for _, t := range s.Technologies {
				if norm(t) == m.value {
					hit = true
					break
				}
			}
		case "employees":
			hit = s.Employees != nil && *s.Employees >= m.lo && (m.hi == 0 || *s.Employees <= m.hi)
		case "title":
			hit = title != "  " && strings.Contains(title, " "+normWords(m.value)+" ")
		case "seniority":
			hit = sen == m.value
		case "department":
			hit = dep == m.value
		case "buying_role":
			hit = norm(s.BuyingRole) == m.value
		}
		if hit {
			buf = append(buf, score.FitFeature{Name: m.feature, Value: 1, Label: m.label})
		}
	}
	return buf
}

// normWords lowercases and replaces punctuation with spaces, so "VP, Sales"
// and "vp sales" compare equal word by word.
func normWords(s string) string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 {
			return r
		}
		return ' '
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// Fitted are weights learned from outcomes and feedback (engine/learn):
// they override the definition's weight for each feature they name, and
// the intercept. Features the definition does not list (e.g. a signal
// type) are added with their learned weight.
type Fitted struct {
	Intercept float64            `json:"intercept"`
	Weights   map[string]float64 `json:"weights"`
	// HalfLifeDays are per-signal-type half-lives learned from outcomes
	// (engine/learn.HalfLives); they override the definition's.
	HalfLifeDays map[string]float64 `json:"half_life_days,omitempty"`
}

// CompileFitted compiles d and applies the learned overrides f (nil: none).
func CompileFitted(d Definition, version string, f *Fitted) *Compiled {
	c := Compile(d, version)
	if f == nil {
		return c
	}
	c.Model.Intercept = f.Intercept
	for k, w := range f.Weights {
		c.Model.Weights[k] = w
	}
	for k, d := range f.HalfLifeDays {
		if d > 0 {
			c.Model.HalfLives[k] = time.Duration(d * float64(24*time.Hour))
		}
	}
	return c
}
