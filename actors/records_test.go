package actors

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
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

// checkHeaderEquivalent: what encodeStoredSignal writes (version 2 when it
// can) decodes to what the JSON header of version 1 decodes to.
func checkHeaderEquivalent(t testing.TB, in storedSignal) {
	b, err := encodeStoredSignal(&in)
	if err != nil {
		t.Fatal(err)
	}
	var got, want storedSignal
	if err := decodeStoredSignal(b, &got); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	v1, err := encodeStoredSignalV1(&in)
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeStoredSignal(v1, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("encodeStoredSignal's entry decodes to\n%+v\nversion 1's to\n%+v", got, want)
	}
}

func TestStoredSignalHeaderMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rcr\b\f", "\x00\x01\x1f\x7f",
		"ünïcødé 日本 🙂", "\u2028\u2029", "bad \xff\xfe utf8", "<html>&amp;", "\xe2\x82"} {
		checkHeaderEquivalent(t, storedSignal{Source: "segment", Type: s, Event: s, Email: s, UserID: s, AnonymousID: s,
			CRMID: s, MapID: s, ProductUserID: s, MktLeadID: s, GroupID: s, MessageID: s, KeyID: s,
			Timestamp: at, ReceivedAt: at.UTC(), Payload: []byte(`{"a":1}`)})
	}
	checkHeaderEquivalent(t, storedSignal{Source: "webhook"}) // zero times, empty optionals
	if _, err := encodeStoredSignal(&storedSignal{Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Fatal("a year json cannot encode was accepted")
	}
}

func FuzzStoredSignalHeader(f *testing.F) {
	f.Add("segment", "Viewed", "a@b.co", "k\"\\\n", int64(1764324000), int64(5))
	f.Add("\xff", "\u2028", "", "\x00", int64(0), int64(0))
	f.Fuzz(func(t *testing.T, source, event, email, key string, sec, nsec int64) {
		at := time.Unix(sec%253402300799, nsec%1e9).UTC()
		if at.Year() < 0 {
			at = time.Unix(0, 0).UTC()
		}
		checkHeaderEquivalent(t, storedSignal{Source: source, Event: event, Email: email, KeyID: key, UserID: event + email,
			Timestamp: at, ReceivedAt: at, Payload: []byte(`{}`)})
	})
}

// TestStoredSignalVersions: the binary framing is written unless it would
// not read back as the JSON one does, and both read back the same.
func TestStoredSignalVersions(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.UTC)
	full := storedSignal{Source: "segment", Type: "track", Event: "Viewed", Email: "a@b.co", UserID: "u1", AnonymousID: "an",
		CRMID: "c", MapID: "m", ProductUserID: "p", MktLeadID: "7", GroupID: "g", MessageID: "msg-1", KeyID: "key_1",
		Timestamp: at, ReceivedAt: at.Add(time.Second), Payload: []byte(`{"event":"Viewed"}`)}
	for _, tc := range []struct {
		name    string
		s       storedSignal
		version byte
	}{
		{"every field", full, storedSignalV2},
		{"source only, zero times", storedSignal{Source: "webhook"}, storedSignalV2},
		{"non-ASCII", storedSignal{Source: "s", Email: "jürgen@bücher.de", ReceivedAt: at, Payload: []byte(`{}`)}, storedSignalV2},
		{"earliest and latest years", storedSignal{Source: "s", Timestamp: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
			ReceivedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}, storedSignalV2},
		{"invalid UTF-8", storedSignal{Source: "s", Event: "bad \xff", ReceivedAt: at}, storedSignalV1},
		{"time outside UTC", storedSignal{Source: "s", Timestamp: at.In(time.FixedZone("x", 3600)), ReceivedAt: at}, storedSignalV1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := encodeStoredSignal(&tc.s)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != tc.version {
				t.Fatalf("written as version %d, want %d", b[0], tc.version)
			}
			checkHeaderEquivalent(t, tc.s)
			if at, ok := receivedAt(b); ok != !tc.s.ReceivedAt.IsZero() || !at.Equal(tc.s.ReceivedAt) {
				t.Fatalf("receivedAt = %v %v, want %v", at, ok, tc.s.ReceivedAt)
			}
		})
	}
	// The version 2 entry is smaller: what the change was for.
	v1, _ := encodeStoredSignalV1(&full)
	v2, _ := encodeStoredSignal(&full)
	if len(v2) >= len(v1) {
		t.Fatalf("version 2 %d bytes, version 1 %d", len(v2), len(v1))
	}
	// Truncations and corruptions are refused, never read past the end.
	for n := 1; n < len(v2)-len(full.Payload); n++ {
		var s storedSignal
		if err := decodeStoredSignal(v2[:n], &s); err == nil {
			t.Errorf("truncated to %d bytes: accepted", n)
		}
	}
	for _, bad := range [][]byte{{2}, {2, 0xff, 0xff, 0x7f}, {2, 1, 5, 'a'}, {2, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}} {
		var s storedSignal
		if err := decodeStoredSignal(bad, &s); err == nil {
			t.Errorf("decode(%v) accepted", bad)
		}
	}
}

// FuzzStoredSignalDecode: any bytes are refused or decoded without a
// panic, and what decodes as version 2 encodes back to the same signal.
func FuzzStoredSignalDecode(f *testing.F) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 5, time.UTC)
	for _, s := range []storedSignal{
		{Source: "segment", Type: "track", Event: "Viewed", Email: "a@b.co", MessageID: "m1", KeyID: "k", Timestamp: at, ReceivedAt: at,
			Payload: []byte(`{"a":1}`)},
		{Source: "webhook"},
	} {
		b, err := encodeStoredSignal(&s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{2, 0xff, 0x3f, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s storedSignal
		if decodeStoredSignal(b, &s) != nil || b[0] != storedSignalV2 {
			return
		}
		for _, f := range storedSignalFields(&s) {
			if !utf8.ValidString(*f) {
				return // written as version 1
			}
		}
		if !utcTime(s.Timestamp) || !utcTime(s.ReceivedAt) {
			return
		}
		again, err := encodeStoredSignal(&s)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", s, err)
		}
		var s2 storedSignal
		if err := decodeStoredSignal(again, &s2); err != nil || !reflect.DeepEqual(s, s2) {
			t.Fatalf("%q: decoded %+v, re-encoded and decoded %+v (%v)", b, s, s2, err)
		}
	})
}

func TestUvarintLen(t *testing.T) {
	t.Parallel()
	for _, v := range []uint64{0, 1, 127, 128, 16383, 16384, 1 << 35, 1<<64 - 1} {
		if got, want := uvarintLen(v), len(binary.AppendUvarint(nil, v)); got != want {
			t.Errorf("uvarintLen(%d) = %d, want %d", v, got, want)
		}
	}
}
