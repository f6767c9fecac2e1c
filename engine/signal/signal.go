package signal

import "time"

// Named sources (SPEC §2.2). Any other ValidSource name is accepted too:
// it names a custom sender or a third-party connector.
const (
	SourceGeneric    = "generic"
	SourceSegment    = "segment"
	SourceMarketo    = "marketo"
	SourceHubSpot    = "hubspot"
	SourceSalesforce = "salesforce"
)

// Segment call types, the values Signal.Type can take besides "".
const (
	TypeTrack    = "track"
	TypePage     = "page"
	TypeIdentify = "identify"
	TypeGroup    = "group"
	TypeScreen   = "screen"
	TypeAlias    = "alias"
)

// Limits.
const (
	MaxSignalBytes = 32 << 10  // one signal
	MaxBatchBytes  = 500 << 10 // a batch body
	MaxDepth       = 32        // JSON nesting, the top-level object counting as 1
	MaxBatchItems  = 10000     // items in one batch
	MaxIDLength    = 512       // characters in an identifier or messageId
	MaxSourceLen   = 32        // bytes in a source name
)

// ValidSource reports whether s is an acceptable source name: 1 to 32 bytes
// of lowercase ASCII letters, digits, '_' and '-'. The named sources pass,
// and so does any custom name of that shape.
func ValidSource(s string) bool {
	if len(s) == 0 || len(s) > MaxSourceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidType reports whether t is one of the Segment call types (exact,
// lowercase).
func ValidType(t string) bool {
	return canonicalType(t) != ""
}

// canonicalType returns the constant for a Segment call type, or "". It
// returns the package constant rather than t so no memory is retained.
func canonicalType(t string) string {
	switch t {
	case TypeTrack:
		return TypeTrack
	case TypePage:
		return TypePage
	case TypeIdentify:
		return TypeIdentify
	case TypeGroup:
		return TypeGroup
	case TypeScreen:
		return TypeScreen
	case TypeAlias:
		return TypeAlias
	}
	return ""
}

// Signal is one accepted signal after normalisation.
type Signal struct {
	Source string // detected or forced source; always a ValidSource name
	Type   string // track|page|identify|group|screen|alias, or "" when not a Segment call
	Event  string // event name; for page and screen calls the page name when "event" is empty

	// Email is trimmed and lowercased; "" when absent or not a plausible
	// address.
	Email string
	// Other identifiers, trimmed, at most MaxIDLength characters each; ""
	// when absent.
	UserID, AnonymousID, CRMID, MapID, ProductUserID, MktLeadID, GroupID string

	MessageID string // sender's dedup key, "" when none

	Timestamp  time.Time // event time, skew-corrected, UTC, never zero
	ReceivedAt time.Time // when the server received it, UTC

	// Payload is the original JSON object, byte for byte (a copy of the
	// bytes given to Normalize). Never modify it.
	Payload []byte
}

// HasPersistentID reports whether the signal carries an identifier that can
// create or match a lead on its own: email, userId, productUserId, crmId,
// mapId or mktLeadId. An anonymousId alone is not persistent (SPEC §2.4):
// such a signal goes to cold storage.
func (s *Signal) HasPersistentID() bool {
	return s.Email != "" || s.UserID != "" || s.ProductUserID != "" ||
		s.CRMID != "" || s.MapID != "" || s.MktLeadID != ""
}

// PersonKey returns a stable key for the person the signal is about, used to
// partition the signal log so one person's signals stay in order:
// "a:"+anonymousId, else "e:"+email, "u:"+userId, "p:"+productUserId,
// "c:"+crmId, "m:"+mapId, "k:"+mktLeadId, else "" (nobody: any partition
// will do). It depends only on the signal's own fields, so the same payload
// always gets the same key.
func (s *Signal) PersonKey() string {
	switch {
	// The anonymous id comes first: a visitor's anonymous page views and
	// the identify that names them must share a partition, so the
	// identify is processed after the page views went to cold storage and
	// replays them (in different partitions they would race).
	case s.AnonymousID != "":
		return "a:" + s.AnonymousID
	case s.Email != "":
		return "e:" + s.Email
	case s.UserID != "":
		return "u:" + s.UserID
	case s.ProductUserID != "":
		return "p:" + s.ProductUserID
	case s.CRMID != "":
		return "c:" + s.CRMID
	case s.MapID != "":
		return "m:" + s.MapID
	case s.MktLeadID != "":
		return "k:" + s.MktLeadID
	}
	return ""
}
