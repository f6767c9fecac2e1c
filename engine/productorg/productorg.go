// Package productorg maps product-org webhook payloads (SPEC §2.6) through an
// API key's payload template into a ProductOrg: the workspace / tenant of a
// PLG customer, with its plan, seats, MRR, trial status, activity and
// feature flags.
//
// It is pure domain code: no I/O, no clock, no goroutines. Errors a sender
// can act on are *errs.Error values of kind invalid whose Field is the
// product-org field concerned ("product_org_id", "user_count"); the message
// names the payload path the key's template maps that field to, so the
// sender can find the value in its own payload.
//
// # Templates
//
// A payload template maps a field name to a dot path into the incoming JSON
// ("product_org_id" → "data.tenant.id"). Path segments are separated by
// dots; a numeric segment indexes an array (or is a key of an object). The
// known fields are:
//
//	product_org_id  required; a string or an integer; at most 256 characters, no '/' or control characters
//	name            string (numbers are taken as their text)
//	plan_id         string (numbers are taken as their text)
//	plan_name       string
//	user_count      whole number ≥ 0 (a number or a digit string)
//	mrr_cents       whole number ≥ 0, in cents (a number or a digit string)
//	trial_status    active | expired | converted (case-insensitive)
//	last_active_at  RFC 3339 time, or unix seconds / milliseconds
//	feature_flags   an object, or an array of flag names (each becomes name: true)
//	account_id      the TrailSpark account to link to (explicit link)
//	domain          the workspace's website / email domain; kept as its registrable domain
//	crm_id          the CRM's account id
//
// Any other field name is a custom attribute: its value is kept as it is
// (any JSON value).
//
// # Updates
//
// A payload is an update: a mapped path that is absent leaves the stored
// value alone, a JSON null (or a blank string) clears it. Apply reports
// which fields the payload carried in ProductOrg.Given; Merge applies an
// update to the stored product org.
package productorg

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/identity"
)

// Known field names.
const (
	FieldID           = "product_org_id"
	FieldName         = "name"
	FieldPlanID       = "plan_id"
	FieldPlanName     = "plan_name"
	FieldUserCount    = "user_count"
	FieldMRRCents     = "mrr_cents"
	FieldTrialStatus  = "trial_status"
	FieldLastActiveAt = "last_active_at"
	FieldFeatureFlags = "feature_flags"
	FieldAccountID    = "account_id"
	FieldDomain       = "domain"
	FieldCRMID        = "crm_id"
)

// Trial statuses.
const (
	TrialActive    = "active"
	TrialExpired   = "expired"
	TrialConverted = "converted"
)

// Limits.
const (
	MaxTemplateFields = 100  // entries in a template
	MaxFieldNameLen   = 64   // bytes in a template field name
	MaxPathLen        = 200  // bytes in a template path
	MaxPathSegments   = 32   // segments in a template path
	MaxIDLen          = 256  // characters in product_org_id, account_id, crm_id
	MaxTextLen        = 1000 // characters in name, plan_id, plan_name
	MaxUserCount      = 1_000_000_000
	MaxMRRCents       = 1_000_000_000_000_000 // ten trillion dollars a month
	MaxFeatureFlags   = 500
)

// Error codes (besides the usual required, wrong_type, invalid_format,
// invalid_enum, out_of_range, too_long).
const (
	// CodeInvalidTemplate: the key's template cannot be applied (Apply
	// validates it first); Field is "payload_template.<field>".
	CodeInvalidTemplate = "invalid_template"
)

var knownFields = map[string]bool{
	FieldID: true, FieldName: true, FieldPlanID: true, FieldPlanName: true, FieldUserCount: true,
	FieldMRRCents: true, FieldTrialStatus: true, FieldLastActiveAt: true, FieldFeatureFlags: true,
	FieldAccountID: true, FieldDomain: true, FieldCRMID: true,
}

// KnownField reports whether name is one of the fields above (everything
// else is a custom attribute).
func KnownField(name string) bool { return knownFields[name] }

// ProductOrg is a product workspace / tenant. Absent values are zero.
type ProductOrg struct {
	ID           string         `json:"id"`
	Name         string         `json:"name,omitempty"`
	PlanID       string         `json:"plan_id,omitempty"`
	PlanName     string         `json:"plan_name,omitempty"`
	UserCount    *int64         `json:"user_count,omitempty"`
	MRRCents     *int64         `json:"mrr_cents,omitempty"`
	TrialStatus  string         `json:"trial_status,omitempty"`
	LastActiveAt *time.Time     `json:"last_active_at,omitempty"`
	FeatureFlags map[string]any `json:"feature_flags,omitempty"`
	AccountID    string         `json:"account_id,omitempty"`
	Domain       string         `json:"domain,omitempty"`
	CRMID        string         `json:"crm_id,omitempty"`
	// Custom holds the template's other fields.
	Custom map[string]any `json:"custom,omitempty"`

	// Given says, for an update produced by Apply, which template fields
	// the payload carried: true with a value, false as a JSON null or a
	// blank string (clear it). Fields whose path was absent are not in it.
	// product_org_id is always given. Never stored.
	Given map[string]bool `json:"-"`
}

// Validate checks a payload template: at least product_org_id, at most
// MaxTemplateFields entries; field names 1-64 bytes of printable UTF-8
// without surrounding spaces; each value a dot path string of at most
// MaxPathLen bytes and MaxPathSegments non-empty segments. Errors name the
// entry: Field "payload_template.<name>" (or "payload_template").
func Validate(template map[string]any) error {
	if len(template) == 0 {
		return errs.Invalid("payload_template", "required", "payload_template must map at least product_org_id to a path in the payload")
	}
	if len(template) > MaxTemplateFields {
		return errs.Invalid("payload_template", "too_many", "payload_template may map at most %d fields", MaxTemplateFields)
	}
	for _, name := range sortedFields(template) {
		field := "payload_template." + name
		if msg := checkFieldName(name); msg != "" {
			return errs.Invalid(field, "invalid_format", "the template field name %q %s", name, msg)
		}
		path, ok := template[name].(string)
		if !ok {
			return errs.Invalid(field, "wrong_type", "the template maps %s to %s; each entry must be a dot path string such as \"data.tenant.id\"", name, jsonKind(template[name]))
		}
		if msg := checkPath(path); msg != "" {
			return errs.Invalid(field, "invalid_format", "the template path %q for %s %s", path, name, msg)
		}
	}
	if _, ok := template[FieldID]; !ok {
		return errs.Invalid("payload_template."+FieldID, "required", "payload_template must map product_org_id (the workspace's unique id) to a path in the payload")
	}
	return nil
}

func checkFieldName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > MaxFieldNameLen:
		return fmt.Sprintf("is longer than %d bytes", MaxFieldNameLen)
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	case strings.TrimSpace(name) != name:
		return "has surrounding spaces"
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return "has a control or non-printable character"
		}
	}
	return ""
}

func checkPath(p string) string {
	switch {
	case strings.TrimSpace(p) == "":
		return "is empty"
	case len(p) > MaxPathLen:
		return fmt.Sprintf("is longer than %d bytes", MaxPathLen)
	case !utf8.ValidString(p):
		return "is not valid UTF-8"
	}
	n := 0
	for seg := range strings.SplitSeq(p, ".") {
		n++
		if seg == "" {
			return "has an empty segment (a leading, trailing or doubled dot)"
		}
	}
	if n > MaxPathSegments {
		return fmt.Sprintf("has more than %d segments", MaxPathSegments)
	}
	return ""
}

// Lookup resolves a dot path in a decoded JSON payload. A numeric segment
// indexes an array, or is a key of an object. A present JSON null is
// (nil, true).
func Lookup(payload map[string]any, path string) (any, bool) {
	if payload == nil || path == "" {
		return nil, false
	}
	var cur any = payload
	for path != "" {
		seg := path
		if i := strings.IndexByte(path, '.'); i >= 0 {
			seg, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[seg]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) || seg != strconv.Itoa(i) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// Apply maps payload through template (which it validates first: a bad
// template is Code invalid_template, Field "payload_template.<name>").
// Numbers may be json.Number (decode with UseNumber to keep large ids
// exact) or float64.
//
// Errors, Field the product-org field name:
//   - product_org_id absent, null or blank: "required" (the message names
//     the template path); not a string or integer, longer than MaxIDLen, or
//     holding '/' or a control character: wrong_type / too_long /
//     invalid_format;
//   - user_count, mrr_cents not a whole number: wrong_type; negative or too
//     large: out_of_range;
//   - trial_status not active / expired / converted: invalid_enum;
//   - last_active_at not a time: invalid_format;
//   - feature_flags not an object or an array of names: wrong_type;
//   - domain not a website domain: invalid_format;
//   - a text field that is an object, array or boolean: wrong_type; too
//     long: too_long.
//
// Fields are checked in the order product_org_id, then by name, so the
// error reported is deterministic.
func Apply(template map[string]any, payload map[string]any) (ProductOrg, error) {
	if err := Validate(template); err != nil {
		e := errs.As(err)
		return ProductOrg{}, errs.Invalid(e.Field, CodeInvalidTemplate, "this API key's payload template cannot be used: %s", e.Message)
	}
	po := ProductOrg{Given: map[string]bool{}}
	idPath := template[FieldID].(string)
	v, ok := Lookup(payload, idPath)
	if !ok || v == nil || isBlank(v) {
		return ProductOrg{}, errs.Invalid(FieldID, "required",
			"product_org_id is required: the payload has no value at %q, the path this key's payload template maps product_org_id to", idPath)
	}
	id, err := text(FieldID, idPath, v, MaxIDLen, false)
	if err != nil {
		return ProductOrg{}, err
	}
	if msg := checkID(id); msg != "" {
		return ProductOrg{}, errs.Invalid(FieldID, "invalid_format", "product_org_id (from %q) %s", idPath, msg)
	}
	po.ID, po.Given[FieldID] = id, true

	for _, name := range sortedFields(template) {
		if name == FieldID {
			continue
		}
		path := template[name].(string)
		v, ok := Lookup(payload, path)
		if !ok {
			continue
		}
		if v == nil || isBlank(v) {
			po.Given[name] = false
			continue
		}
		if err := po.set(name, path, v); err != nil {
			return ProductOrg{}, err
		}
		po.Given[name] = true
	}
	return po, nil
}

func (po *ProductOrg) set(name, path string, v any) error {
	var err error
	switch name {
	case FieldName:
		po.Name, err = text(name, path, v, MaxTextLen, false)
	case FieldPlanID:
		po.PlanID, err = text(name, path, v, MaxTextLen, false)
	case FieldPlanName:
		po.PlanName, err = text(name, path, v, MaxTextLen, false)
	case FieldAccountID:
		po.AccountID, err = text(name, path, v, MaxIDLen, false)
	case FieldCRMID:
		po.CRMID, err = text(name, path, v, MaxIDLen, false)
	case FieldUserCount:
		var n int64
		if n, err = whole(name, path, v, MaxUserCount); err == nil {
			po.UserCount = &n
		}
	case FieldMRRCents:
		var n int64
		if n, err = whole(name, path, v, MaxMRRCents); err == nil {
			po.MRRCents = &n
		}
	case FieldTrialStatus:
		var s string
		if s, err = text(name, path, v, MaxTextLen, true); err == nil {
			s = strings.ToLower(s)
			switch s {
			case TrialActive, TrialExpired, TrialConverted:
				po.TrialStatus = s
			default:
				err = errs.Invalid(name, "invalid_enum", "trial_status (from %q) must be active, expired or converted, not %q", path, clip(s))
			}
		}
	case FieldLastActiveAt:
		var t time.Time
		if t, err = timeOf(name, path, v); err == nil {
			po.LastActiveAt = &t
		}
	case FieldFeatureFlags:
		po.FeatureFlags, err = flags(name, path, v)
	case FieldDomain:
		var s string
		if s, err = text(name, path, v, MaxTextLen, true); err == nil {
			d, derr := identity.RegistrableDomain(s)
			if derr != nil {
				err = errs.Invalid(name, "invalid_format", "domain (from %q) must be a website domain such as acme.com, not %q", path, clip(s))
			} else {
				po.Domain = d
			}
		}
	default:
		if po.Custom == nil {
			po.Custom = map[string]any{}
		}
		po.Custom[name] = v
	}
	return err
}

// Merge applies an update (from Apply) to the stored product org: fields
// the update carried replace (or, when null, clear) the stored ones; the
// others are kept. The result's Given is nil.
func Merge(prev, upd ProductOrg) ProductOrg {
	out := prev
	out.Given = nil
	out.ID = upd.ID
	copied := false
	for name, has := range upd.Given {
		switch name {
		case FieldID:
		case FieldName:
			out.Name = upd.Name
		case FieldPlanID:
			out.PlanID = upd.PlanID
		case FieldPlanName:
			out.PlanName = upd.PlanName
		case FieldUserCount:
			out.UserCount = upd.UserCount
		case FieldMRRCents:
			out.MRRCents = upd.MRRCents
		case FieldTrialStatus:
			out.TrialStatus = upd.TrialStatus
		case FieldLastActiveAt:
			out.LastActiveAt = upd.LastActiveAt
		case FieldFeatureFlags:
			out.FeatureFlags = upd.FeatureFlags
		case FieldAccountID:
			out.AccountID = upd.AccountID
		case FieldDomain:
			out.Domain = upd.Domain
		case FieldCRMID:
			out.CRMID = upd.CRMID
		default:
			if !copied { // never write into prev's map
				custom := make(map[string]any, len(prev.Custom)+len(upd.Custom))
				for k, v := range prev.Custom {
					custom[k] = v
				}
				out.Custom, copied = custom, true
			}
			if has {
				out.Custom[name] = upd.Custom[name]
			} else {
				delete(out.Custom, name)
			}
		}
	}
	if len(out.Custom) == 0 {
		out.Custom = nil
	}
	return out
}

// ---- conversions

func sortedFields(t map[string]any) []string {
	out := make([]string, 0, len(t))
	for k := range t {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func isBlank(v any) bool {
	s, ok := v.(string)
	return ok && strings.TrimSpace(s) == ""
}

// text reads a string field; numbers are taken as their text unless
// stringOnly.
func text(name, path string, v any, max int, stringOnly bool) (string, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = strings.TrimSpace(x)
	case json.Number:
		if stringOnly {
			return "", wrongType(name, path, v, "a string")
		}
		s = x.String()
	case float64:
		if stringOnly || math.IsNaN(x) || math.IsInf(x, 0) {
			return "", wrongType(name, path, v, "a string")
		}
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		if stringOnly {
			return "", wrongType(name, path, v, "a string")
		}
		s = strconv.Itoa(x)
	case int64:
		if stringOnly {
			return "", wrongType(name, path, v, "a string")
		}
		s = strconv.FormatInt(x, 10)
	default:
		if stringOnly {
			return "", wrongType(name, path, v, "a string")
		}
		return "", wrongType(name, path, v, "a string or a number")
	}
	if !utf8.ValidString(s) {
		return "", errs.Invalid(name, "invalid_format", "%s (from %q) is not valid UTF-8", name, path)
	}
	if utf8.RuneCountInString(s) > max {
		return "", errs.Invalid(name, "too_long", "%s (from %q) must be at most %d characters", name, path, max)
	}
	return s, nil
}

// checkID says what is wrong with a product org id ("" when fine): ids
// become store keys and URL path segments.
func checkID(id string) string {
	for _, r := range id {
		switch {
		case r == '/':
			return "must not contain '/'"
		case !unicode.IsPrint(r):
			return "must not contain control or non-printable characters"
		}
	}
	return ""
}

// whole reads a whole number in [0, max]: a JSON number without a
// fractional part, or a string of one.
func whole(name, path string, v any, max int64) (int64, error) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return inRange(name, path, n, max)
		}
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, wrongType(name, path, v, "a whole number")
		}
	case float64:
		f = x
	case int:
		return inRange(name, path, int64(x), max)
	case int64:
		return inRange(name, path, x, max)
	case string:
		s := strings.TrimSpace(x)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return inRange(name, path, n, max)
		}
		var err error
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return 0, wrongType(name, path, v, "a whole number")
		}
	default:
		return 0, wrongType(name, path, v, "a whole number")
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
		return 0, wrongType(name, path, v, "a whole number")
	}
	if f < 0 {
		return 0, errs.Invalid(name, "out_of_range", "%s (from %q) must not be negative", name, path)
	}
	if f > float64(max) {
		return 0, errs.Invalid(name, "out_of_range", "%s (from %q) must be at most %d", name, path, max)
	}
	return inRange(name, path, int64(f), max)
}

func inRange(name, path string, n, max int64) (int64, error) {
	switch {
	case n < 0:
		return 0, errs.Invalid(name, "out_of_range", "%s (from %q) must not be negative", name, path)
	case n > max:
		return 0, errs.Invalid(name, "out_of_range", "%s (from %q) must be at most %d", name, path, max)
	}
	return n, nil
}

var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// timeOf reads an RFC 3339 time, or unix seconds (below 1e11) or
// milliseconds (below 1e14) as a number.
func timeOf(name, path string, v any) (time.Time, error) {
	bad := func() (time.Time, error) {
		return time.Time{}, errs.Invalid(name, "invalid_format",
			"%s (from %q) must be an RFC 3339 time such as 2030-01-02T15:04:05Z, or unix seconds or milliseconds", name, path)
	}
	var f float64
	switch x := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(x))
		if err != nil {
			return bad()
		}
		t = t.UTC()
		if t.Before(minTime) || t.After(maxTime) {
			return bad()
		}
		return t, nil
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return bad()
		}
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	default:
		return bad()
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f >= 1e14 {
		return bad()
	}
	var t time.Time
	if f < 1e11 {
		sec, frac := math.Modf(f)
		t = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	} else {
		t = time.UnixMilli(int64(f)).UTC()
	}
	return t, nil
}

// flags reads feature flags: an object (kept as is) or an array of flag
// names (each becomes name: true).
func flags(name, path string, v any) (map[string]any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) > MaxFeatureFlags {
			return nil, errs.Invalid(name, "too_many", "feature_flags (from %q) may hold at most %d flags", path, MaxFeatureFlags)
		}
		out := make(map[string]any, len(x))
		for k, f := range x {
			out[k] = f
		}
		return out, nil
	case []any:
		if len(x) > MaxFeatureFlags {
			return nil, errs.Invalid(name, "too_many", "feature_flags (from %q) may hold at most %d flags", path, MaxFeatureFlags)
		}
		out := make(map[string]any, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok || strings.TrimSpace(s) == "" {
				return nil, wrongType(name, path, v, "an object, or an array of flag names")
			}
			out[strings.TrimSpace(s)] = true
		}
		return out, nil
	}
	return nil, wrongType(name, path, v, "an object, or an array of flag names")
}

func wrongType(name, path string, v any, want string) error {
	return errs.Invalid(name, "wrong_type", "%s (from %q) must be %s, not %s", name, path, want, jsonKind(v))
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

// clip shortens a value quoted in a message.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	r := []rune(s)
	return string(r[:40]) + "…"
}
