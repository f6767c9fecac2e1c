package signal

import "strings"

// DetectSource applies SPEC §2.2 source detection to a payload already
// decoded into a map (encoding/json), for callers that hold one (connector
// translations, tools). The forced source (URL path, X-Source header) comes
// first and is the caller's business: pass it to Normalize as
// Options.ForcedSource, or do not call DetectSource. Then, in order:
//
//   - the payload's "source" field, trimmed and lowercased, when it is a
//     ValidSource name;
//   - a "mktLeadId" → marketo;
//   - a "portalId" or "hs_object_id" → hubspot;
//   - an "sObject" → salesforce;
//   - a "type" that is a Segment call type (case-insensitive) → segment;
//   - otherwise generic.
//
// Identifier fields count when they are top-level, not null and not a blank
// string. Unlike Normalize, DetectSource never fails: an invalid "source" or
// "type" is ignored here, whereas Normalize refuses the signal. For every
// payload Normalize accepts without a forced source, both agree.
func DetectSource(payload map[string]any) string {
	if v, ok := payload["source"].(string); ok {
		if s := strings.ToLower(strings.TrimSpace(v)); ValidSource(s) {
			return s
		}
	}
	switch {
	case presentValue(payload, "mktLeadId"):
		return SourceMarketo
	case presentValue(payload, "portalId"), presentValue(payload, "hs_object_id"):
		return SourceHubSpot
	case presentValue(payload, "sObject"):
		return SourceSalesforce
	}
	if v, ok := payload["type"].(string); ok && ValidType(strings.ToLower(strings.TrimSpace(v))) {
		return SourceSegment
	}
	return SourceGeneric
}

func presentValue(m map[string]any, key string) bool {
	v, ok := m[key]
	if !ok || v == nil {
		return false
	}
	if s, isStr := v.(string); isStr {
		return strings.TrimSpace(s) != ""
	}
	return true
}
