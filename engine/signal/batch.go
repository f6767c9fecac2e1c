package signal

import (
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

// Batch is a parsed batch body.
type Batch struct {
	// Items are the raw items, in order. They alias the body passed to
	// ParseBatch (Normalize copies what it keeps).
	Items []json.RawMessage
	// SentAt is the wrapper's "sentAt" ({"batch": [...], "sentAt": ...}, as
	// Segment's batch API and SDKs send it), zero when absent. Pass it as
	// Options.SentAt so items without their own sentAt get clock-skew
	// correction.
	SentAt time.Time
}

// errTooMany stops the element walk early.
var errTooMany = errors.New("too many items")

// ParseBatch accepts a batch body: a JSON array, or an object whose "batch"
// member is an array (other members are ignored except "sentAt"). Items may
// be any JSON value: validating each one is Normalize's job, so that one bad
// item does not reject the others.
//
// Errors (*errs.Error): body larger than MaxBatchBytes → Kind too_large,
// Code "payload_too_large"; malformed JSON, or neither an array nor an
// object → Code "malformed_json" (Field ""); "batch" missing or null →
// Field "batch" Code "required"; "batch" not an array → Field "batch" Code
// "malformed_json"; no items → Field "batch" Code "required"; more than
// MaxBatchItems → Field "batch" Code "too_many"; a wrapper "sentAt" that is
// not a time → Field "sentAt" Code "invalid_format".
func ParseBatch(body []byte) (*Batch, error) {
	b, e := parseBatch(body)
	if e != nil {
		return nil, e
	}
	return b, nil
}

// SplitBatch is ParseBatch returning only the items.
func SplitBatch(body []byte) ([]json.RawMessage, error) {
	b, e := parseBatch(body)
	if e != nil {
		return nil, e
	}
	return b.Items, nil
}

func parseBatch(body []byte) (*Batch, *errs.Error) {
	if len(body) > MaxBatchBytes {
		return nil, tooLarge("batch", len(body), MaxBatchBytes)
	}
	c, at := firstByte(body)
	if c == 0 {
		return nil, errs.Invalid("", CodeMalformedJSON, "the body is empty: a batch is a JSON array or {\"batch\": [...]}")
	}
	if !validJSON(body) {
		return nil, malformed("", body)
	}
	// Items are skipped without a depth limit of their own (Normalize checks
	// each); the wrapper's own nesting is bounded by validJSON.
	s := scanner{b: body, i: at, maxDepth: math.MaxInt32}
	out := &Batch{}
	switch c {
	case '[':
	case '{':
		var batch, sentAt span
		if empty, err := s.objectStart(); err != nil {
			return nil, internalScan(err)
		} else if !empty {
			for {
				k, err := s.key()
				if err != nil {
					return nil, internalScan(err)
				}
				start := s.i
				if err := s.skipValue(2); err != nil {
					return nil, internalScan(err)
				}
				switch string(k) {
				case "batch":
					batch = span{int32(start), int32(s.i)}
				case "sentAt":
					sentAt = span{int32(start), int32(s.i)}
				}
				more, err := s.next('}')
				if err != nil {
					return nil, internalScan(err)
				}
				if !more {
					break
				}
			}
		}
		if !batch.set() || body[batch.start] == 'n' {
			return nil, errs.Invalid("batch", CodeRequired, "the body has no \"batch\" array")
		}
		if body[batch.start] != '[' {
			return nil, errs.Invalid("batch", CodeMalformedJSON, "batch must be an array, not %s", jsonKind(body[batch.start]))
		}
		if sentAt.set() {
			n := normalizer{b: body}
			n.spans[fSentAt] = sentAt
			switch body[sentAt.start] {
			case 'n':
			case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
				t, ok, e := n.time(fSentAt)
				if e != nil {
					return nil, e
				}
				if ok {
					out.SentAt = t
				}
			default:
				return nil, wrongType(fSentAt, body[sentAt.start])
			}
		}
		s.i = int(batch.start)
	default:
		return nil, errs.Invalid("", CodeMalformedJSON, "a batch must be a JSON array or an object with a \"batch\" array, not %s", jsonKind(c))
	}

	err := s.arrayElements(func(sp span) error {
		if len(out.Items) == MaxBatchItems {
			return errTooMany
		}
		out.Items = append(out.Items, json.RawMessage(body[sp.start:sp.end:sp.end]))
		return nil
	})
	switch {
	case err == errTooMany:
		return nil, errs.Invalid("batch", CodeTooMany, "a batch holds at most %d items", MaxBatchItems)
	case err != nil:
		return nil, internalScan(err)
	case len(out.Items) == 0:
		return nil, errs.Invalid("batch", CodeRequired, "the batch is empty")
	}
	return out, nil
}

// internalScan reports a walker failure on input validJSON accepted; it
// cannot happen, but must not be a panic or a nil.
func internalScan(err error) *errs.Error {
	return errs.Invalid("", CodeMalformedJSON, "malformed JSON (%v)", err)
}
