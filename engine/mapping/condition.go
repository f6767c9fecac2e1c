package mapping

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/errs"
)

type nodeKind uint8

const (
	nodeTrue nodeKind = iota // empty root: matches everything
	nodeLeaf
	nodeAll
	nodeAny
)

// node is a compiled condition.
type node struct {
	kind     nodeKind
	children []node
	leaf     *leaf
}

// leaf is a compiled "path op value" condition.
type leaf struct {
	path path
	pid  int // index into a lookupCache, or -1 (see assignPathIDs)
	op   Op
	val  constant   // scalar operand (not for exists/not_exists/matches/in)
	list []constant // operands of "in"
	re   *regexp.Regexp
}

type constKind uint8

const (
	constString constKind = iota + 1
	constNumber
	constBool
	constTime
)

// constant is a prepared comparison operand.
type constant struct {
	kind constKind
	s    string  // constString: the text
	low  string  // s with ASCII letters lowercased, for the fold scans
	num  float64 // constNumber, or constString that is a JSON-number literal (hasNum)
	b    bool    // constBool, or constString "true"/"false" (hasBool)
	t    time.Time
	// hasNum/hasBool: a string constant that also reads as a number/bool,
	// used when the payload side is a real number/bool.
	hasNum, hasBool bool
}

// compileState tracks tree-wide limits while compiling one rule.
type compileState struct {
	leaves int
}

// compileCondition validates and compiles the tree rooted at c; field is
// the node's dot path in the request, depth the number of enclosing groups.
func compileCondition(c *Condition, field string, depth int, root bool, st *compileState) (node, *errs.Error) {
	isLeaf, isGroup := c.IsLeaf(), c.IsGroup()
	switch {
	case isLeaf && isGroup:
		return node{}, errs.Invalid(field, "invalid_condition", "a condition is either a leaf (path, op, value) or a group (all/any), not both")
	case !isLeaf && !isGroup:
		if root {
			return node{kind: nodeTrue}, nil
		}
		return node{}, errs.Invalid(field, "invalid_condition", "empty condition: set path and op, or a non-empty all/any")
	case isLeaf:
		st.leaves++
		if st.leaves > MaxLeaves {
			return node{}, errs.Invalid("conditions", "too_complex", "a rule may have at most %d leaf conditions", MaxLeaves)
		}
		l, e := compileLeaf(c, field)
		if e != nil {
			return node{}, e
		}
		return node{kind: nodeLeaf, leaf: l}, nil
	}
	if len(c.All) > 0 && len(c.Any) > 0 {
		return node{}, errs.Invalid(field, "invalid_condition", "a group sets either all or any; nest one inside the other to combine them")
	}
	if depth+1 > MaxDepth {
		return node{}, errs.Invalid(field, "too_complex", "conditions may nest at most %d groups deep", MaxDepth)
	}
	kids, kind, name := c.All, nodeAll, ".all["
	if len(c.Any) > 0 {
		kids, kind, name = c.Any, nodeAny, ".any["
	}
	n := node{kind: kind, children: make([]node, 0, min(len(kids), MaxLeaves))}
	for i := range kids {
		child, e := compileCondition(&kids[i], field+name+strconv.Itoa(i)+"]", depth+1, false, st)
		if e != nil {
			return node{}, e
		}
		n.children = append(n.children, child)
	}
	return n, nil
}

func compileLeaf(c *Condition, field string) (*leaf, *errs.Error) {
	switch {
	case c.Path == "":
		return nil, errs.Invalid(field+".path", "required", "condition path is required")
	case !validPath(c.Path):
		return nil, errs.Invalid(field+".path", "invalid_path", pathRules)
	case c.Op == "":
		return nil, errs.Invalid(field+".op", "required", "condition op is required")
	case !c.Op.Valid():
		return nil, errs.Invalid(field+".op", "invalid_enum", "op must be one of %s", joinEnum(Ops()))
	}
	l := &leaf{path: compilePath(c.Path), pid: -1, op: c.Op}
	vf := field + ".value"
	switch c.Op {
	case OpExists, OpNotExists:
		if c.Value != nil {
			return nil, errs.Invalid(vf, "invalid_value", "%s takes no value", c.Op)
		}
		return l, nil
	}
	if c.Value == nil {
		return nil, errs.Invalid(vf, "required", "%s needs a value", c.Op)
	}
	switch c.Op {
	case OpMatches:
		s, ok := c.Value.(string)
		if !ok {
			return nil, errs.Invalid(vf, "invalid_regex", "matches needs a regular expression string")
		}
		if utf8.RuneCountInString(s) > MaxRegexLen {
			return nil, errs.Invalid(vf, "invalid_regex", "regular expressions must be at most %d characters", MaxRegexLen)
		}
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, &errs.Error{Kind: errs.KindInvalid, Code: "invalid_regex", Field: vf,
				Message: "regular expression does not compile (RE2 syntax: no backreferences or look-around): " + err.Error()}
		}
		l.re = re
		return l, nil
	case OpIn:
		items, ok := listOf(c.Value)
		if !ok || len(items) == 0 {
			return nil, errs.Invalid(vf, "invalid_value", "in needs a non-empty list of strings, numbers or booleans")
		}
		if len(items) > MaxInList {
			return nil, errs.Invalid(vf, "invalid_value", "in lists may have at most %d elements", MaxInList)
		}
		l.list = make([]constant, len(items))
		for i, it := range items {
			k, e := scalar(it, vf+"["+strconv.Itoa(i)+"]")
			if e != nil {
				return nil, e
			}
			l.list[i] = k
		}
		return l, nil
	}
	k, e := scalar(c.Value, vf)
	if e != nil {
		return nil, e
	}
	switch c.Op {
	case OpGT, OpGTE, OpLT, OpLTE:
		switch {
		case k.kind == constNumber:
		case k.kind == constString && k.hasNum:
			k = constant{kind: constNumber, num: k.num}
		case k.kind == constString:
			t, ok := parseTime(k.s)
			if !ok {
				return nil, errs.Invalid(vf, "invalid_value", "%s needs a number or an RFC 3339 timestamp", c.Op)
			}
			k = constant{kind: constTime, t: t}
		default:
			return nil, errs.Invalid(vf, "invalid_value", "%s needs a number or an RFC 3339 timestamp", c.Op)
		}
	case OpContains, OpNotContains, OpStartsWith, OpEndsWith:
		k = k.asString()
	}
	l.val = k
	return l, nil
}

// listOf accepts the list shapes an "in" value can have.
func listOf(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

// scalar prepares a constant operand.
func scalar(v any, field string) (constant, *errs.Error) {
	switch x := v.(type) {
	case string:
		if utf8.RuneCountInString(x) > MaxValueLen {
			return constant{}, errs.Invalid(field, "too_long", "values must be at most %d characters", MaxValueLen)
		}
		return stringConst(x), nil
	case bool:
		return constant{kind: constBool, b: x}, nil
	}
	if f, ok := numberOf(v); ok {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return constant{}, errs.Invalid(field, "invalid_value", "numbers must be finite")
		}
		return constant{kind: constNumber, num: f}, nil
	}
	if _, ok := v.(json.Number); ok {
		return constant{}, errs.Invalid(field, "invalid_value", "value is not a finite JSON number")
	}
	if v == nil {
		return constant{}, errs.Invalid(field, "required", "value is required")
	}
	return constant{}, errs.Invalid(field, "invalid_value", "value must be a string, number or boolean")
}

// asString turns a number/bool constant into its canonical text, for the
// string operators.
func (k constant) asString() constant {
	var s string
	switch k.kind {
	case constString:
		return k
	case constNumber:
		s = strconv.FormatFloat(k.num, 'f', -1, 64)
	case constBool:
		s = strconv.FormatBool(k.b)
	}
	return stringConst(s)
}

// stringConst prepares a string constant, noting whether it also reads as
// a number or a boolean.
func stringConst(s string) constant {
	k := constant{kind: constString, s: s, low: asciiLower(s)}
	k.num, k.hasNum = parseNumber(s)
	if strings.EqualFold(s, "true") || strings.EqualFold(s, "false") {
		k.hasBool, k.b = true, strings.EqualFold(s, "true")
	}
	return k
}

// numberOf reads a Go or JSON number. json.Number must be a JSON-number
// literal.
func numberOf(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		return parseNumber(string(x))
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// parseNumber parses s when it is a finite JSON-number literal. The grammar
// check comes first so strconv never builds an error (which would allocate)
// on the hot path.
func parseNumber(s string) (float64, bool) {
	if !isJSONNumber(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// isJSONNumber reports whether s matches the JSON number grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, at most 64 bytes.
func isJSONNumber(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	i := 0
	if s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// ---- evaluation (hot path: no allocation) ----

// maxCachedPaths bounds the distinct paths of a RuleSet whose lookups are
// shared between rules during one Match; further paths are looked up each
// time.
const maxCachedPaths = 64

// lookupCache memoises path lookups within one evaluation of a signal:
// rules of a tenant test the same few paths ("event", "type",
// "context.traits.email") over and over. It lives on Match's stack.
type lookupCache struct {
	done  [maxCachedPaths]bool
	found [maxCachedPaths]bool
	vals  [maxCachedPaths]any
}

// assignPathIDs gives every distinct leaf path of the trees an index into
// a lookupCache (the first maxCachedPaths distinct paths).
func assignPathIDs(trees []*node) {
	ids := map[string]int{}
	var walk func(n *node)
	walk = func(n *node) {
		if n.kind == nodeLeaf {
			key := joinPath(n.leaf.path)
			id, ok := ids[key]
			if !ok && len(ids) < maxCachedPaths {
				id, ok = len(ids), true
				ids[key] = id
			}
			if ok {
				n.leaf.pid = id
			}
			return
		}
		for i := range n.children {
			walk(&n.children[i])
		}
	}
	for _, t := range trees {
		walk(t)
	}
}

func joinPath(p path) string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

func (n *node) eval(p map[string]any, c *lookupCache) bool {
	switch n.kind {
	case nodeTrue:
		return true
	case nodeLeaf:
		return n.leaf.eval(p, c)
	case nodeAll:
		for i := range n.children {
			if !n.children[i].eval(p, c) {
				return false
			}
		}
		return true
	case nodeAny:
		for i := range n.children {
			if n.children[i].eval(p, c) {
				return true
			}
		}
		return false
	}
	return false
}

func (l *leaf) lookup(p map[string]any, c *lookupCache) (any, bool) {
	if l.pid < 0 || c == nil {
		return l.path.lookup(p)
	}
	if !c.done[l.pid] {
		c.vals[l.pid], c.found[l.pid] = l.path.lookup(p)
		c.done[l.pid] = true
	}
	return c.vals[l.pid], c.found[l.pid]
}

func (l *leaf) eval(p map[string]any, c *lookupCache) bool {
	v, found := l.lookup(p, c)
	present := found && v != nil
	switch l.op {
	case OpExists:
		return present
	case OpNotExists:
		return !present
	case OpNotEquals:
		return !present || !l.val.equals(v)
	case OpNotContains:
		return !present || !l.val.contains(v)
	}
	if !present {
		return false
	}
	switch l.op {
	case OpEquals:
		return l.val.equals(v)
	case OpContains:
		return l.val.contains(v)
	case OpStartsWith:
		s, ok := v.(string)
		return ok && hasPrefixFold(s, l.val.low)
	case OpEndsWith:
		s, ok := v.(string)
		return ok && hasSuffixFold(s, l.val.low)
	case OpMatches:
		s, ok := v.(string)
		return ok && l.re.MatchString(s)
	case OpIn:
		for i := range l.list {
			if l.list[i].equals(v) {
				return true
			}
		}
		return false
	case OpGT, OpGTE, OpLT, OpLTE:
		c, ok := l.val.compare(v)
		if !ok {
			return false
		}
		switch l.op {
		case OpGT:
			return c > 0
		case OpGTE:
			return c >= 0
		case OpLT:
			return c < 0
		default:
			return c <= 0
		}
	}
	return false
}

// equals compares a payload value with the constant (see package doc).
func (k *constant) equals(v any) bool {
	switch x := v.(type) {
	case string:
		switch k.kind {
		case constString:
			return strings.EqualFold(x, k.s)
		case constNumber:
			f, ok := parseNumber(x)
			return ok && f == k.num
		case constBool:
			return strings.EqualFold(x, "true") && k.b || strings.EqualFold(x, "false") && !k.b
		}
		return false
	case bool:
		switch k.kind {
		case constBool:
			return x == k.b
		case constString:
			return k.hasBool && k.b == x
		}
		return false
	case map[string]any, []any, nil:
		return false
	}
	f, ok := numberOf(v)
	if !ok {
		return false
	}
	switch k.kind {
	case constNumber:
		return f == k.num
	case constString:
		return k.hasNum && f == k.num
	}
	return false
}

// contains: substring of a string, or an equal element of an array.
func (k *constant) contains(v any) bool {
	switch x := v.(type) {
	case string:
		return containsFold(x, k.low)
	case []any:
		for _, e := range x {
			if k.equals(e) {
				return true
			}
		}
	}
	return false
}

// compare orders the payload value against the constant: <0, 0, >0, and
// whether the two are comparable.
func (k *constant) compare(v any) (int, bool) {
	if k.kind == constTime {
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		t, ok := parseTime(s)
		if !ok {
			return 0, false
		}
		return t.Compare(k.t), true
	}
	var f float64
	switch x := v.(type) {
	case string:
		n, ok := parseNumber(x)
		if !ok {
			return 0, false
		}
		f = n
	case bool, map[string]any, []any, nil:
		return 0, false
	default:
		n, ok := numberOf(v)
		if !ok || math.IsNaN(n) {
			return 0, false
		}
		f = n
	}
	switch {
	case f < k.num:
		return -1, true
	case f > k.num:
		return 1, true
	}
	return 0, true
}
