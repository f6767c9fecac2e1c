// Package signal turns one inbound signal — a JSON object posted to a
// webhook, a Segment-compatible call, a line of a bulk import — into the
// canonical Signal the rest of the engine works with: its source, Segment
// call type, event name, identifiers (email, userId, anonymousId, crmId,
// mapId, productUserId, mktLeadId, groupId), messageId and a skew-corrected
// event time. It also splits batch bodies (SplitBatch) and streams bulk
// imports (BulkReader).
//
// The package is pure: no goroutines, no clock (the receive time comes in
// through Options), no I/O beyond the io.Reader a caller hands BulkReader.
//
// # The payload is kept byte for byte
//
// Signal.Payload holds the exact bytes that were received. Normalize reads
// what it needs and never rewrites, re-encodes, reorders or trims it.
// Reprocessing (after a mapping rule changes, after a failure, when
// cold-stored anonymous signals are replayed once the visitor is
// identified) re-reads the stored payload and runs it through the current
// rules again, so the stored payload must be the one source of truth: a
// normalised or re-encoded copy would silently lose what today's code does
// not understand (unknown fields, number precision, key order, duplicate
// keys), and re-running Normalize on it would no longer give the same
// answer as on the original. Mapping rules address the payload by dot
// paths, so it must also stay exactly what the sender configured against.
// Normalize copies raw, so Payload never aliases a caller's buffer (request
// bodies are often pooled).
//
// # Bad optional fields are ignored, not refused
//
// Every field of a signal is optional for acceptance (SPEC §2.2), and a
// refused signal is lost: webhook senders such as Segment or a marketing
// automation tool usually do not retry a 400, and a lost "Demo Requested"
// is worse than one with an unusable e-mail address. So Normalize refuses a
// signal only when it cannot be stored or interpreted safely — it is not a
// JSON object, it is too large or too deep, a field of our documented
// format has the wrong JSON type, a time or a source or a Segment type
// cannot be understood, an identifier is absurdly long — and otherwise
// takes what it can. In particular an e-mail address that is present but
// not plausible ("n/a", "unknown", a display name with spaces) is simply
// not used: Signal.Email stays "" (or takes the next plausible candidate),
// no error is returned and nothing is recorded about it; the untouched
// payload still has it for anyone who looks. Values nested inside the
// free-form objects "properties", "traits" and "context" belong to the
// sender's own schema (a HubSpot property may be an object, for instance),
// so a value there that is not a string or a number is skipped rather than
// refused.
//
// # Where things are found
//
// First non-empty (for email: first plausible) candidate wins, in order:
//
//	email          email, traits.email, properties.email, context.traits.email
//	userId         userId, user_id
//	anonymousId    anonymousId, anonymous_id
//	crmId, mapId,  X, properties.X, traits.X
//	productUserId, mktLeadId
//	groupId        groupId, context.groupId
//	messageId      messageId, message_id
//	event          event; for page/screen calls then name, properties.name
//
// Keys match exactly (case-sensitive) and, as with encoding/json decoding
// into a map, the last of duplicate keys wins. Identifier values may be JSON
// strings or numbers; numbers keep their exact digits and are written
// without exponent (1.2345678901e10 → "12345678901"). A JSON null, like an
// empty or blank string, is the same as an absent field.
//
// # Time
//
// Signal.Timestamp follows Segment's clock-skew correction: when the sender
// reports both the event time ("timestamp", or "originalTimestamp") and the
// time it sent the request ("sentAt"), the event time is shifted by the
// difference between the receiving server's clock and the sender's:
// timestamp + (receivedAt − sentAt). See Normalize for the details.
package signal
