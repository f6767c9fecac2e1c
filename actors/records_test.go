package actors

import (
	"bytes"
	"testing"
	"time"
)

func TestStoredSignalRoundTrip(t *testing.T) {
	t.Parallel()
	in := storedSignal{Source: "segment", Type: "track", Event: "Viewed", Email: "a@b.co", AnonymousID: "x",
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ReceivedAt: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		Payload: []byte(`{"event":"Viewed","n":12345678901234567890}`)}
	b, err := encodeStoredSignal(&in)
	if err != nil {
		t.Fatal(err)
	}
	if in.Payload == nil {
		t.Fatal("encoding must not consume the payload")
	}
	var out storedSignal
	if err := decodeStoredSignal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Payload, in.Payload) || out.Email != in.Email || !out.Timestamp.Equal(in.Timestamp) || out.Source != in.Source {
		t.Fatalf("round trip: %+v", out)
	}
	for _, bad := range [][]byte{nil, {1}, {2, 1, '{'}, {1, 200}, append([]byte{1, 50}, []byte("{}")...)} {
		if err := decodeStoredSignal(bad, &out); err == nil {
			t.Errorf("decode(%v) accepted", bad)
		}
	}
}
