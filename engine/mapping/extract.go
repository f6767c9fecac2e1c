package mapping

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Extracted holds the lead fields a rule's mappings pulled from a payload.
// Values are trimmed of surrounding white space and otherwise as sent:
// normalisation (lowercasing emails, blocked values) is identity
// resolution's job.
type Extracted struct {
	Email         string `json:"email,omitempty"`
	MapID         string `json:"map_id,omitempty"`
	CDPID         string `json:"cdp_id,omitempty"`
	CRMID         string `json:"crm_id,omitempty"`
	ProductUserID string `json:"product_user_id,omitempty"`
	Title         string `json:"title,omitempty"`
}

// Get returns the value extracted for a target.
func (e *Extracted) Get(t Target) string {
	if p := e.field(t); p != nil {
		return *p
	}
	return ""
}

func (e *Extracted) field(t Target) *string {
	switch t {
	case TargetEmail:
		return &e.Email
	case TargetMapID:
		return &e.MapID
	case TargetCDPID:
		return &e.CDPID
	case TargetCRMID:
		return &e.CRMID
	case TargetProductUserID:
		return &e.ProductUserID
	case TargetTitle:
		return &e.Title
	}
	return nil
}

// HasPersistentID reports whether an identifier that can identify a lead on
// its own (anything but cdp_id and title) was extracted. When false the
// signal cannot be attributed ("No identifying field").
func (e *Extracted) HasPersistentID() bool {
	return e.Email != "" || e.MapID != "" || e.CRMID != "" || e.ProductUserID != ""
}

// Extract applies r's mappings to payload, in order: the first non-empty
// value for a target wins, so several paths can map one target as
// fallbacks. Strings are trimmed; numbers are written without an exponent
// (a json.Number integer literal is kept digit for digit, so decode with
// UseNumber to keep ids beyond 2^53 exact); booleans, objects, arrays and
// null are ignored.
func Extract(r *Rule, payload map[string]any) Extracted {
	var out Extracted
	if r == nil {
		return out
	}
	for _, m := range r.Mappings {
		dst := out.field(m.Target)
		if dst == nil || *dst != "" {
			continue
		}
		v, ok := Lookup(payload, m.Path)
		if !ok {
			continue
		}
		*dst = stringValue(v)
	}
	return out
}

// stringValue renders a scalar payload value as an identifier string, ""
// when it is not usable.
func stringValue(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		s := string(x)
		if isJSONNumber(s) && !strings.ContainsAny(s, ".eE") {
			if s == "-0" {
				return "0"
			}
			return s
		}
		f, ok := parseNumber(s)
		if !ok {
			return ""
		}
		return formatNumber(f)
	case bool, map[string]any, []any, nil:
		return ""
	}
	if f, ok := numberOf(v); ok {
		return formatNumber(f)
	}
	return ""
}

func formatNumber(f float64) string {
	switch {
	case f == 0:
		return "0" // also -0
	case math.IsNaN(f) || math.IsInf(f, 0):
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
