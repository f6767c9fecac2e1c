package badgerstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/trailspark/trailspark/store"
	"github.com/trailspark/trailspark/store/wire"
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
	d := wire.NewReader(b[1:])
	str := func() string { return string(d.Bytes()) }
	st.ID = d.Uvarint()
	code := d.Byte()
	switch {
	case code == statusSpelled:
		st.Status = str()
	case int(code) < len(statusCodes):
		st.Status = statusCodes[code]
	default:
		d.Fail()
	}
	st.RuleID, st.LeadID, st.AccountID, st.Error = str(), str(), str(), str()
	st.Attempts = int(d.Varint())
	if d.Byte() == 1 {
		sec := d.Varint()
		st.ProcessedAt = time.Unix(sec, int64(d.Uvarint())).UTC()
	}
	if d.Bad() || d.Len() != 0 {
		return store.SignalStatus{}, errBadStatus
	}
	return st, nil
}
