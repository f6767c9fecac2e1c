package signal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/errs"
)

// Error codes used by this package (errs.Error.Code).
const (
	CodeMalformedJSON   = "malformed_json"
	CodePayloadTooLarge = "payload_too_large"
	CodeTooDeep         = "too_deep"
	CodeWrongType       = "wrong_type"
	CodeInvalidFormat   = "invalid_format"
	CodeInvalidEnum     = "invalid_enum"
	CodeTooLong         = "too_long"
	CodeRequired        = "required"
	CodeTooMany         = "too_many"
)

// Options for Normalize.
type Options struct {
	// ForcedSource comes from the URL path or the X-Source header; "" means
	// detect. It wins over a "source" field in the payload, which is then
	// not interpreted at all. Surrounding spaces are trimmed and it is
	// lowercased before ValidSource is checked.
	ForcedSource string
	// ReceivedAt is when the server received the signal. Required: Normalize
	// never reads the clock.
	ReceivedAt time.Time
	// SentAt is a "sentAt" given for a whole batch (Segment's batch API puts
	// it on the wrapper, see ParseBatch); it is used when the signal has
	// none of its own. Zero means none.
	SentAt time.Time
	// Validated says raw is known to be well-formed JSON (an item of a batch
	// ParseBatch accepted, which validated the whole body): Normalize then
	// does not validate it a second time. Its structure is still walked.
	Validated bool
}

// Normalize parses ONE signal (a JSON object) and returns its canonical
// form. raw is not modified and not retained: Payload is a copy.
//
// Errors are *errs.Error:
//   - raw larger than MaxSignalBytes: Kind too_large, Code
//     "payload_too_large";
//   - empty, malformed, or not a JSON object: Code "malformed_json", the
//     message says at which byte;
//   - nested deeper than MaxDepth: Code "too_deep";
//   - a top-level field of the documented format with the wrong JSON type
//     ("email": 5, "properties": "x", "timestamp": true): Code "wrong_type",
//     Field the key;
//   - timestamp, originalTimestamp, sentAt or receivedAt that is not a time
//     (see below): Code "invalid_format", Field the key;
//   - a "type" that is not a Segment call type: Code "invalid_enum", Field
//     "type" — only when the signal is a Segment call or its source is yet
//     undecided; when the source is forced or detected as something else
//     (a HubSpot or Marketo payload may use "type" for its own purposes), a
//     non-Segment type is ignored and Type is "";
//   - ForcedSource or the payload's "source" not a ValidSource name (after
//     trimming and lowercasing): Field "source", Code "invalid_format";
//   - an identifier or messageId that would be used and is longer than
//     MaxIDLength characters: Code "too_long", Field its dot path.
//
// Other Kinds: a zero opt.ReceivedAt is a programming error (Kind internal).
//
// Every other oddity is tolerated (see the package comment): an implausible
// email is dropped, non-scalar values inside properties/traits/context are
// skipped, null and blank strings count as absent.
//
// Times: strings in RFC 3339 with or without fractional seconds, the same
// without a zone (read as UTC), with a space for the 'T', with a ±hhmm zone,
// a date alone, or numbers (or digit strings) of unix seconds (below 1e11)
// or milliseconds (below 1e14); years 1970 to 9999. Timestamp is, in order:
//   - "timestamp" as is when "originalTimestamp" is also present: the
//     payload has been through Segment, which already corrected it;
//   - "timestamp" + (receivedAt − sentAt) when "sentAt" is present, where
//     receivedAt is the payload's own "receivedAt" when present (the server
//     that heard the sender, e.g. a Segment relay) else opt.ReceivedAt;
//   - "timestamp";
//   - "originalTimestamp" + (receivedAt − sentAt), or "originalTimestamp";
//   - opt.ReceivedAt.
//
// Source: opt.ForcedSource, else the payload's "source", else mktLeadId →
// marketo, portalId or hs_object_id → hubspot, sObject → salesforce (each a
// non-null, non-blank top-level field), else a Segment "type" → segment,
// else generic.
func Normalize(raw []byte, opt Options) (*Signal, error) {
	if len(raw) > MaxSignalBytes {
		return nil, tooLarge("signal", len(raw), MaxSignalBytes)
	}
	if opt.ReceivedAt.IsZero() {
		return nil, errs.Internal(errors.New("signal: Normalize called with a zero Options.ReceivedAt"))
	}
	n := normalizer{b: raw}
	if e := n.parse(opt.Validated); e != nil {
		return nil, e
	}
	sig := &Signal{ReceivedAt: opt.ReceivedAt.UTC()}
	if e := n.fill(sig, opt); e != nil {
		return nil, e
	}
	sig.Payload = bytes.Clone(raw)
	return sig, nil
}

// normalizer holds one parse: the input and where its known fields are.
type normalizer struct {
	b     []byte
	spans [nSlots]span
}

func (n *normalizer) parse(validated bool) *errs.Error {
	c, at := firstByte(n.b)
	if c == 0 {
		return errs.Invalid("", CodeMalformedJSON, "the body is empty: a signal is a JSON object")
	}
	if !validated && !validJSON(n.b) {
		return malformed("", n.b)
	}
	if c != '{' {
		return errs.Invalid("", CodeMalformedJSON, "a signal must be a JSON object, not %s", jsonKind(c))
	}
	s := scanner{b: n.b, i: at, maxDepth: MaxDepth}
	switch err := s.walk(cTop, 1, &n.spans); err {
	case nil:
		return nil
	case errTooDeep:
		return tooDeep()
	default: // cannot happen after validJSON (or for input validated before)
		return errs.Invalid("", CodeMalformedJSON, "malformed JSON at byte %d", s.i)
	}
}

// fill decides every field of sig from the recorded spans.
func (n *normalizer) fill(sig *Signal, opt Options) *errs.Error {
	// Source given explicitly: forced, else the payload's field.
	explicit := ""
	forced := opt.ForcedSource != ""
	if forced {
		explicit = strings.ToLower(strings.TrimSpace(opt.ForcedSource))
		if !ValidSource(explicit) {
			return badSource(opt.ForcedSource)
		}
	} else if sp := n.spans[fSource]; sp.set() {
		switch n.b[sp.start] {
		case 'n':
		case '"':
			// Many marketing payloads use "source" for the lead source
			// ("Google Ads"): a value that is not a source name is data,
			// not an override, so detection decides.
			explicit = strings.ToLower(strings.TrimSpace(n.str(sp)))
			if !ValidSource(explicit) {
				explicit = ""
			}
		default:
			// Not a string: likewise data, not an override.
		}
	}
	base := explicit
	if base == "" {
		base = n.detectByIDs()
	}
	// "type" is a Segment call type when the signal is (or may be) a Segment
	// call; for other sources it belongs to their schema.
	strictType := base == "" || base == SourceSegment

	for slot := 0; slot < nTop; slot++ {
		if slot == fSource || slot == fType && !strictType {
			continue
		}
		sp := n.spans[slot]
		if !sp.set() {
			continue
		}
		if c := n.b[sp.start]; c != 'n' && topTypes[slot]&typeOf(c) == 0 {
			return wrongType(slot, c)
		}
	}

	if sp := n.spans[fType]; sp.set() && n.b[sp.start] == '"' {
		t := n.str(sp)
		if ct := canonicalType(t); ct != "" {
			sig.Type = ct
		} else if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			sig.Type = canonicalType(t)
			if sig.Type == "" && strictType {
				return errs.Invalid("type", CodeInvalidEnum,
					"type must be one of track, page, identify, group, screen, alias")
			}
		}
	}
	switch {
	case base != "":
		sig.Source = base
	case sig.Type != "":
		sig.Source = SourceSegment
	default:
		sig.Source = SourceGeneric
	}

	sig.Email = n.email(fEmail, fTraitsEmail, fPropEmail, fCtxTraitsEmail)
	var e *errs.Error
	if sig.UserID, e = n.ident(fUserID, fUserIDSnake); e != nil {
		return e
	}
	if sig.AnonymousID, e = n.ident(fAnonID, fAnonIDSnake); e != nil {
		return e
	}
	if sig.CRMID, e = n.ident(fCRMID, fPropCRMID, fTraitsCRMID); e != nil {
		return e
	}
	if sig.MapID, e = n.ident(fMapID, fPropMapID, fTraitsMapID); e != nil {
		return e
	}
	if sig.ProductUserID, e = n.ident(fProductUserID, fPropProductUserID, fTraitsProductUserID); e != nil {
		return e
	}
	if sig.MktLeadID, e = n.ident(fMktLeadID, fPropMktLeadID, fTraitsMktLeadID); e != nil {
		return e
	}
	if sig.GroupID, e = n.ident(fGroupID, fCtxGroupID); e != nil {
		return e
	}
	if sig.MessageID, e = n.ident(fMessageID, fMessageIDSnake); e != nil {
		return e
	}

	sig.Event = n.text(fEvent)
	if sig.Event == "" && (sig.Type == TypePage || sig.Type == TypeScreen) {
		if sig.Event = n.text(fName); sig.Event == "" {
			sig.Event = n.text(fPropName)
		}
	}

	return n.timestamp(sig, opt)
}

// detectByIDs applies the payload-shape rules of source detection.
func (n *normalizer) detectByIDs() string {
	switch {
	case n.present(fMktLeadID):
		return SourceMarketo
	case n.present(fPortalID), n.present(fHSObjectID):
		return SourceHubSpot
	case n.present(fSObject):
		return SourceSalesforce
	}
	return ""
}

// present reports a value that is neither null nor a blank string.
func (n *normalizer) present(slot int) bool {
	sp := n.spans[slot]
	if !sp.set() {
		return false
	}
	switch n.b[sp.start] {
	case 'n':
		return false
	case '"':
		return strings.TrimSpace(n.str(sp)) != ""
	}
	return true
}

func (n *normalizer) timestamp(sig *Signal, opt Options) *errs.Error {
	ts, hasTS, e := n.time(fTimestamp)
	if e != nil {
		return e
	}
	ot, hasOT, e := n.time(fOriginalTimestamp)
	if e != nil {
		return e
	}
	sa, hasSA, e := n.time(fSentAt)
	if e != nil {
		return e
	}
	ra, hasRA, e := n.time(fReceivedAt)
	if e != nil {
		return e
	}
	if !hasSA && !opt.SentAt.IsZero() {
		sa, hasSA = opt.SentAt, true
	}
	if !hasRA {
		ra = opt.ReceivedAt
	}
	var t time.Time
	switch {
	case hasTS && hasOT:
		t = ts
	case hasTS && hasSA:
		t = ts.Add(ra.Sub(sa))
	case hasTS:
		t = ts
	case hasOT && hasSA:
		t = ot.Add(ra.Sub(sa))
	case hasOT:
		t = ot
	default:
		t = opt.ReceivedAt
	}
	if t.IsZero() {
		t = opt.ReceivedAt
	}
	sig.Timestamp = t.UTC()
	return nil
}

// time reads a time slot; absent, null and blank strings are not present.
func (n *normalizer) time(slot int) (time.Time, bool, *errs.Error) {
	sp := n.spans[slot]
	if !sp.set() {
		return time.Time{}, false, nil
	}
	var (
		t  time.Time
		ok bool
	)
	switch c := n.b[sp.start]; {
	case c == 'n':
		return time.Time{}, false, nil
	case c == '"':
		s := n.str(sp)
		if strings.TrimSpace(s) == "" {
			return time.Time{}, false, nil
		}
		t, ok = parseTimeString(s)
	default: // a number: checked by the type pass
		t, ok = parseTimeNumber(string(n.b[sp.start:sp.end]))
	}
	if !ok {
		return time.Time{}, false, errs.Invalid(slotPath[slot], CodeInvalidFormat,
			"%s is not a time: use ISO 8601 (2024-01-15T14:30:00Z) or unix seconds or milliseconds, years 1970 to 9999",
			slotPath[slot])
	}
	return t, true, nil
}

// str decodes the JSON string at sp. Plain ASCII strings need no decoding;
// others go through encoding/json (escapes, invalid UTF-8 → U+FFFD) so the
// result is exactly what a map decode of the payload would give.
func (n *normalizer) str(sp span) string {
	b := n.b[sp.start:sp.end]
	if len(b) < 2 || b[0] != '"' {
		return ""
	}
	inner := b[1 : len(b)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var s string
	if json.Unmarshal(b, &s) != nil {
		return ""
	}
	return s
}

// text returns a trimmed string value, "" for anything else.
func (n *normalizer) text(slot int) string {
	sp := n.spans[slot]
	if !sp.set() || n.b[sp.start] != '"' {
		return ""
	}
	return strings.TrimSpace(n.str(sp))
}

// ident returns the first non-empty identifier among slots: a string
// (trimmed) or a number (exact digits, no exponent). Other values are
// skipped (top-level ones were type-checked already).
func (n *normalizer) ident(slots ...int) (string, *errs.Error) {
	for _, slot := range slots {
		sp := n.spans[slot]
		if !sp.set() {
			continue
		}
		var v string
		switch c := n.b[sp.start]; {
		case c == '"':
			v = strings.TrimSpace(n.str(sp))
		case c == '-' || '0' <= c && c <= '9':
			var ok bool
			if v, ok = formatNumber(n.b[sp.start:sp.end], MaxIDLength); !ok {
				return "", tooLong(slot)
			}
		default:
			continue
		}
		if v == "" {
			continue
		}
		if len(v) > MaxIDLength && utf8.RuneCountInString(v) > MaxIDLength {
			return "", tooLong(slot)
		}
		return v, nil
	}
	return "", nil
}

// email returns the first plausible address among the string values at
// slots, canonicalised; "" if none.
func (n *normalizer) email(slots ...int) string {
	for _, slot := range slots {
		sp := n.spans[slot]
		if !sp.set() || n.b[sp.start] != '"' {
			continue
		}
		if e := CanonicalEmail(n.str(sp)); e != "" {
			return e
		}
	}
	return ""
}

// typeOf maps a value's first byte to its type bit.
func typeOf(c byte) uint8 {
	switch {
	case c == '"':
		return tString
	case c == '{':
		return tObject
	case c == '-' || '0' <= c && c <= '9':
		return tNumber
	}
	return tOther
}

// Error constructors. They return *errs.Error; callers whose result type is
// error return them only after a nil check (no typed nil).

func malformed(field string, b []byte) *errs.Error {
	var v json.RawMessage
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return errs.Invalid(field, CodeMalformedJSON, "malformed JSON at byte %d: %s", se.Offset, se.Error())
	}
	if err != nil {
		return errs.Invalid(field, CodeMalformedJSON, "malformed JSON: %s", err.Error())
	}
	return errs.Invalid(field, CodeMalformedJSON, "malformed JSON")
}

func tooLarge(what string, size, limit int) *errs.Error {
	return errs.New(errs.KindTooLarge, CodePayloadTooLarge,
		fmt.Sprintf("%s is %d bytes; the limit is %d bytes (%d KiB)", what, size, limit, limit>>10))
}

func tooDeep() *errs.Error {
	return errs.Invalid("", CodeTooDeep, "JSON is nested deeper than %d levels", MaxDepth)
}

func wrongType(slot int, c byte) *errs.Error {
	want := ""
	switch topTypes[slot] {
	case tString:
		want = "a string"
	case tString | tNumber:
		want = "a string or a number"
	case tObject:
		want = "an object"
	}
	return errs.Invalid(slotPath[slot], CodeWrongType, "%s must be %s or null, not %s", slotPath[slot], want, jsonKind(c))
}

func tooLong(slot int) *errs.Error {
	return errs.Invalid(slotPath[slot], CodeTooLong, "%s must be at most %d characters", slotPath[slot], MaxIDLength)
}

func badSource(s string) *errs.Error {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return errs.Invalid("source", CodeInvalidFormat,
		"source %q must be 1 to %d lowercase letters, digits, '_' or '-' (e.g. segment, hubspot, website)", s, MaxSourceLen)
}
