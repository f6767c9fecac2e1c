package signal

// Slots for the values Normalize looks at. Top-level slots come first; they
// are the fields of the documented payload format and are type-checked
// strictly. The others live inside free-form objects and are only used when
// they hold a string or a number.
const (
	// top level
	fEmail = iota
	fUserID
	fUserIDSnake
	fAnonID
	fAnonIDSnake
	fCRMID
	fMapID
	fProductUserID
	fMktLeadID
	fGroupID
	fMessageID
	fMessageIDSnake
	fEvent
	fType
	fSource
	fTimestamp
	fOriginalTimestamp
	fSentAt
	fReceivedAt
	fProperties
	fTraits
	fContext
	fName
	fPortalID
	fHSObjectID
	fSObject
	nTop
)

// Slots inside properties, traits and context, numbered after the top-level
// ones.
const (
	fPropEmail = nTop + iota
	fPropCRMID
	fPropMapID
	fPropProductUserID
	fPropMktLeadID
	fPropName

	fTraitsEmail
	fTraitsCRMID
	fTraitsMapID
	fTraitsProductUserID
	fTraitsMktLeadID

	fCtxGroupID
	fCtxTraits
	fCtxTraitsEmail

	nSlots
)

// Slot ranges cleared when a container key repeats (the last one wins).
const (
	propFirst, propLast     = fPropEmail, fPropName
	traitsFirst, traitsLast = fTraitsEmail, fTraitsMktLeadID
	ctxFirst, ctxLast       = fCtxGroupID, fCtxTraitsEmail
	ctxTrFirst, ctxTrLast   = fCtxTraitsEmail, fCtxTraitsEmail
)

// slotPath is each slot's dot path, used in error fields.
var slotPath = [nSlots]string{
	fEmail:             "email",
	fUserID:            "userId",
	fUserIDSnake:       "user_id",
	fAnonID:            "anonymousId",
	fAnonIDSnake:       "anonymous_id",
	fCRMID:             "crmId",
	fMapID:             "mapId",
	fProductUserID:     "productUserId",
	fMktLeadID:         "mktLeadId",
	fGroupID:           "groupId",
	fMessageID:         "messageId",
	fMessageIDSnake:    "message_id",
	fEvent:             "event",
	fType:              "type",
	fSource:            "source",
	fTimestamp:         "timestamp",
	fOriginalTimestamp: "originalTimestamp",
	fSentAt:            "sentAt",
	fReceivedAt:        "receivedAt",
	fProperties:        "properties",
	fTraits:            "traits",
	fContext:           "context",
	fName:              "name",
	fPortalID:          "portalId",
	fHSObjectID:        "hs_object_id",
	fSObject:           "sObject",

	fPropEmail:         "properties.email",
	fPropCRMID:         "properties.crmId",
	fPropMapID:         "properties.mapId",
	fPropProductUserID: "properties.productUserId",
	fPropMktLeadID:     "properties.mktLeadId",
	fPropName:          "properties.name",

	fTraitsEmail:         "traits.email",
	fTraitsCRMID:         "traits.crmId",
	fTraitsMapID:         "traits.mapId",
	fTraitsProductUserID: "traits.productUserId",
	fTraitsMktLeadID:     "traits.mktLeadId",

	fCtxGroupID:     "context.groupId",
	fCtxTraits:      "context.traits",
	fCtxTraitsEmail: "context.traits.email",
}

// JSON types a top-level field may have (null is always allowed).
const (
	tString = 1 << iota
	tNumber
	tObject
	tOther // booleans and arrays: accepted by no documented field
	tAny   = tString | tNumber | tObject | tOther
)

// topTypes is the accepted JSON types of each top-level slot.
var topTypes = [nTop]uint8{
	fEmail:             tString,
	fUserID:            tString | tNumber,
	fUserIDSnake:       tString | tNumber,
	fAnonID:            tString | tNumber,
	fAnonIDSnake:       tString | tNumber,
	fCRMID:             tString | tNumber,
	fMapID:             tString | tNumber,
	fProductUserID:     tString | tNumber,
	fMktLeadID:         tString | tNumber,
	fGroupID:           tString | tNumber,
	fMessageID:         tString | tNumber,
	fMessageIDSnake:    tString | tNumber,
	fEvent:             tString,
	fType:              tString,
	fSource:            tString,
	fTimestamp:         tString | tNumber,
	fOriginalTimestamp: tString | tNumber,
	fSentAt:            tString | tNumber,
	fReceivedAt:        tString | tNumber,
	fProperties:        tObject,
	fTraits:            tObject,
	fContext:           tObject,
	fName:              tAny, // only read for page/screen calls; a generic payload may use it for anything
	fPortalID:          tAny, // presence only
	fHSObjectID:        tAny,
	fSObject:           tAny,
}

// Containers, for key lookup.
const (
	cTop = iota
	cProps
	cTraits
	cContext
	cCtxTraits
)

const noSlot = -1

// lookup maps a key in a container to its slot, or noSlot. The switch on
// string(key) does not allocate.
func lookup(c int, key []byte) int {
	switch c {
	case cTop:
		switch string(key) {
		case "email":
			return fEmail
		case "userId":
			return fUserID
		case "user_id":
			return fUserIDSnake
		case "anonymousId":
			return fAnonID
		case "anonymous_id":
			return fAnonIDSnake
		case "crmId":
			return fCRMID
		case "mapId":
			return fMapID
		case "productUserId":
			return fProductUserID
		case "mktLeadId":
			return fMktLeadID
		case "groupId":
			return fGroupID
		case "messageId":
			return fMessageID
		case "message_id":
			return fMessageIDSnake
		case "event":
			return fEvent
		case "type":
			return fType
		case "source":
			return fSource
		case "timestamp":
			return fTimestamp
		case "originalTimestamp":
			return fOriginalTimestamp
		case "sentAt":
			return fSentAt
		case "receivedAt":
			return fReceivedAt
		case "properties":
			return fProperties
		case "traits":
			return fTraits
		case "context":
			return fContext
		case "name":
			return fName
		case "portalId":
			return fPortalID
		case "hs_object_id":
			return fHSObjectID
		case "sObject":
			return fSObject
		}
	case cProps:
		switch string(key) {
		case "email":
			return fPropEmail
		case "crmId":
			return fPropCRMID
		case "mapId":
			return fPropMapID
		case "productUserId":
			return fPropProductUserID
		case "mktLeadId":
			return fPropMktLeadID
		case "name":
			return fPropName
		}
	case cTraits:
		switch string(key) {
		case "email":
			return fTraitsEmail
		case "crmId":
			return fTraitsCRMID
		case "mapId":
			return fTraitsMapID
		case "productUserId":
			return fTraitsProductUserID
		case "mktLeadId":
			return fTraitsMktLeadID
		}
	case cContext:
		switch string(key) {
		case "groupId":
			return fCtxGroupID
		case "traits":
			return fCtxTraits
		}
	case cCtxTraits:
		if string(key) == "email" {
			return fCtxTraitsEmail
		}
	}
	return noSlot
}

// child returns the container a slot opens when its value is an object, the
// slot range it holds, and ok=false for plain slots.
func child(slot int) (c, first, last int, ok bool) {
	switch slot {
	case fProperties:
		return cProps, propFirst, propLast, true
	case fTraits:
		return cTraits, traitsFirst, traitsLast, true
	case fContext:
		return cContext, ctxFirst, ctxLast, true
	case fCtxTraits:
		return cCtxTraits, ctxTrFirst, ctxTrLast, true
	}
	return 0, 0, 0, false
}

// walk scans the object at the cursor (depth is its nesting depth),
// recording the spans of known members in spans. A repeated key overwrites
// the earlier one, and a repeated container also forgets what was found
// inside the earlier one, as decoding into a map would.
func (s *scanner) walk(c, depth int, spans *[nSlots]span) error {
	if depth > s.maxDepth {
		return errTooDeep
	}
	empty, err := s.objectStart()
	if err != nil || empty {
		return err
	}
	for {
		k, err := s.key()
		if err != nil {
			return err
		}
		slot := lookup(c, k)
		start := s.i
		if slot != noSlot {
			if cc, first, last, ok := child(slot); ok {
				for i := first; i <= last; i++ {
					spans[i] = span{}
				}
				if s.peek() == '{' {
					err = s.walk(cc, depth+1, spans)
				} else {
					err = s.skipValue(depth + 1)
				}
			} else {
				err = s.skipValue(depth + 1)
			}
			spans[slot] = span{int32(start), int32(s.i)}
		} else {
			err = s.skipValue(depth + 1)
		}
		if err != nil {
			return err
		}
		more, err := s.next('}')
		if err != nil || !more {
			return err
		}
	}
}
