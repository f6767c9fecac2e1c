package badgerstore

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/trailspark/trailspark/store"
)

func TestStatusCodecRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 28, 17, 0, 0, 123456789, time.UTC)
	for _, st := range []store.SignalStatus{
		{},
		{ID: 1, Status: "completed", RuleID: "rule_abc", LeadID: "lead_x", AccountID: "acct_y", ProcessedAt: at},
		{ID: 1<<63 + 5, Status: "permanently_failed", Error: "payload is not a JSON object", Attempts: 5, ProcessedAt: at},
		{ID: 7, Status: "a status this build does not know", ProcessedAt: time.Unix(-5, 0).UTC()},
		{ID: 9, Status: "cold", Attempts: -1},
	} {
		got, err := decodeStatus(encodeStatus(st))
		if err != nil || !reflect.DeepEqual(got, st) {
			t.Errorf("round trip of %+v: %+v, %v", st, got, err)
		}
	}
}

// Statuses written as JSON before the binary encoding still read.
func TestStatusCodecReadsJSON(t *testing.T) {
	t.Parallel()
	want := store.SignalStatus{ID: 42, Status: "skipped", LeadID: "lead_q", ProcessedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	b, _ := json.Marshal(want)
	got, err := decodeStatus(b)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("JSON status: %+v, %v", got, err)
	}
}

func TestStatusCodecRejectsDamage(t *testing.T) {
	t.Parallel()
	good := encodeStatus(store.SignalStatus{ID: 3, Status: "failed", Error: "boom", ProcessedAt: time.Unix(1, 0).UTC()})
	for i := 0; i < len(good); i++ {
		if _, err := decodeStatus(good[:i]); err == nil {
			t.Errorf("a status cut at %d of %d bytes decoded", i, len(good))
		}
	}
	if _, err := decodeStatus(append(append([]byte(nil), good...), 0)); err == nil {
		t.Error("trailing bytes accepted")
	}
	if _, err := decodeStatus([]byte{2, 1}); err == nil {
		t.Error("an unknown version accepted")
	}
}

func FuzzStatusCodec(f *testing.F) {
	f.Add(encodeStatus(store.SignalStatus{ID: 1, Status: "completed", LeadID: "lead_1", ProcessedAt: time.Unix(1764300000, 5).UTC()}))
	f.Add([]byte(`{"id":1,"status":"completed"}`))
	f.Add([]byte{statusCodecV1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeStatus(b)
		if err != nil || (len(b) > 0 && b[0] == '{') {
			return
		}
		// Whatever decodes survives being encoded and decoded again.
		again, err := decodeStatus(encodeStatus(st))
		if err != nil || !reflect.DeepEqual(again, st) {
			t.Fatalf("%x decoded to %+v, which re-decodes to %+v (%v)", b, st, again, err)
		}
	})
}
