package badgerstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/trailspark/trailspark/store"
)

// A signal's processing status is written once per signal processed, so
// its encoding is compact binary rather than JSON (about half the bytes,
// and no reflection): a version byte, then the fields. Statuses written
// before as JSON objects (first byte '{') are still read.
const statusCodecV1 = 1

// statusCodes are the statuses one byte stands for; others are spelled out.
var statusCodes = [...]string{"", "pending", "processing", "completed", "failed", "skipped", "permanently_failed", "cold"}

const statusSpelled = 0xff

func encodeStatus(st store.SignalStatus) []byte {
	b := make([]byte, 0, 24+len(st.RuleID)+len(st.LeadID)+len(st.AccountID)+len(st.Error)+len(st.Status))
	b = append(b, statusCodecV1)
	b = binary.AppendUvarint(b, st.ID)
	code := byte(statusSpelled)
	for i, s := range statusCodes {
		if s == st.Status {
			code = byte(i)
			break
		}
	}
	b = append(b, code)
	if code == statusSpelled {
		b = appendString(b, st.Status)
	}
	b = appendString(b, st.RuleID)
	b = appendString(b, st.LeadID)
	b = appendString(b, st.AccountID)
	b = appendString(b, st.Error)
	b = binary.AppendVarint(b, int64(st.Attempts))
	if st.ProcessedAt.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, st.ProcessedAt.Unix())
	return binary.AppendUvarint(b, uint64(st.ProcessedAt.Nanosecond()))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errBadStatus = errors.New("badgerstore: undecodable signal status")

func decodeStatus(b []byte) (store.SignalStatus, error) {
	var st store.SignalStatus
	if len(b) > 0 && b[0] == '{' { // written before the binary encoding
		err := json.Unmarshal(b, &st)
		return st, err
	}
	if len(b) == 0 || b[0] != statusCodecV1 {
		return st, errBadStatus
	}
	d := statusDecoder{b: b[1:]}
	st.ID = d.uvarint()
	code := d.byte()
	switch {
	case code == statusSpelled:
		st.Status = d.string()
	case int(code) < len(statusCodes):
		st.Status = statusCodes[code]
	default:
		d.bad = true
	}
	st.RuleID, st.LeadID, st.AccountID, st.Error = d.string(), d.string(), d.string(), d.string()
	st.Attempts = int(d.varint())
	if d.byte() == 1 {
		sec := d.varint()
		st.ProcessedAt = time.Unix(sec, int64(d.uvarint())).UTC()
	}
	if d.bad || len(d.b) != 0 {
		return store.SignalStatus{}, errBadStatus
	}
	return st, nil
}

// statusDecoder reads fields; any shortfall sets bad (checked once at the end).
type statusDecoder struct {
	b   []byte
	bad bool
}

func (d *statusDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *statusDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *statusDecoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *statusDecoder) string() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
