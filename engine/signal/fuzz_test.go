package signal

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
)

// reference re-derives a signal's fields from the payload decoded with
// encoding/json into a map, independently of the byte walker Normalize
// uses. It is only consulted for payloads Normalize accepted.
func reference(t *testing.T, raw []byte, forced string) view {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("accepted payload does not decode: %v", err)
	}
	obj := func(m map[string]any, k string) map[string]any {
		v, _ := m[k].(map[string]any)
		return v
	}
	props, traits, ctx := obj(m, "properties"), obj(m, "traits"), obj(m, "context")
	ctxTraits := obj(ctx, "traits")
	id := func(vals ...any) string {
		for _, v := range vals {
			var s string
			switch v := v.(type) {
			case string:
				s = strings.TrimSpace(v)
			case json.Number:
				s, _ = formatNumber([]byte(v), MaxIDLength)
			}
			if s != "" {
				return s
			}
		}
		return ""
	}
	var w view
	for _, v := range []any{m["email"], traits["email"], props["email"], ctxTraits["email"]} {
		if s, ok := v.(string); ok && CanonicalEmail(s) != "" {
			w.Email = CanonicalEmail(s)
			break
		}
	}
	w.UserID = id(m["userId"], m["user_id"])
	w.AnonymousID = id(m["anonymousId"], m["anonymous_id"])
	w.CRMID = id(m["crmId"], props["crmId"], traits["crmId"])
	w.MapID = id(m["mapId"], props["mapId"], traits["mapId"])
	w.ProductUserID = id(m["productUserId"], props["productUserId"], traits["productUserId"])
	w.MktLeadID = id(m["mktLeadId"], props["mktLeadId"], traits["mktLeadId"])
	w.GroupID = id(m["groupId"], ctx["groupId"])
	w.MessageID = id(m["messageId"], m["message_id"])

	if forced != "" {
		w.Source = strings.ToLower(strings.TrimSpace(forced))
	} else {
		w.Source = DetectSource(m)
	}
	if s, ok := m["type"].(string); ok {
		if s = strings.ToLower(strings.TrimSpace(s)); ValidType(s) {
			w.Type = s
		}
	}
	text := func(v any) string { s, _ := v.(string); return strings.TrimSpace(s) }
	w.Event = text(m["event"])
	if w.Event == "" && (w.Type == TypePage || w.Type == TypeScreen) {
		if w.Event = text(m["name"]); w.Event == "" {
			w.Event = text(props["name"])
		}
	}
	return w
}

// jsonDepth measures nesting with encoding/json's tokenizer.
func jsonDepth(t *testing.T, raw []byte) int {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber() // numbers beyond float64 (1e700) are valid JSON
	depth, max := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return max
		}
		if err != nil {
			t.Fatalf("jsonDepth: %v", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			if depth > max {
				max = depth
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

func normalizeSeeds() [][]byte {
	return [][]byte{
		[]byte(benchPayload),
		[]byte(`{}`),
		[]byte(`{"email":"dana@northwind.io","event":"form_submission","type":"track","timestamp":"2025-03-02T09:12:44Z","properties":{"form_name":"Talk to Sales"}}`),
		[]byte(`{"type":"identify","anonymousId":"a1b2c3-anon-77","userId":"usr_4821","traits":{"email":"dana@northwind.io"},"timestamp":"2025-03-02T09:13:01Z"}`),
		[]byte(`{"type":"page","anonymousId":"a","name":"Pricing","properties":{"name":"x","page_url":"https://example.com/pricing"}}`),
		[]byte(`{"mktLeadId":1234,"email":"A@B.CO","crmId":1.2e3}`),
		[]byte(`{"portalId":62515,"hs_object_id":"901","properties":{"email":{"value":"h@x.io"}}}`),
		[]byte(`{"sObject":{"Id":"00Q"},"context":{"traits":{"email":"c@x.io"},"groupId":5}}`),
		[]byte(`{"source":"Website","timestamp":1705329000123,"sentAt":"2024-01-15T14:30:01Z","originalTimestamp":"2024-01-15T14:30:00"}`),
		[]byte(`{"\u0065mail":"\u0064@x.io","email":null,"traits":{"email":"t@x.io"},"traits":{}}`),
		[]byte(`{"userId":"` + strings.Repeat("x", 513) + `"}`),
		[]byte(`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`),
		[]byte(`{"type":"bogus"}`),
		[]byte(`{"email":5}`),
		[]byte(`[1]`),
		[]byte(`{"a":`),
		[]byte("{\"userId\":\"a\xffb\",\"messageId\":-0.0e-3}"),
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range normalizeSeeds() {
		f.Add(s, "")
	}
	f.Add([]byte(`{"type":"weird","source":"x"}`), "hubspot")
	f.Add([]byte(`{"type":"track"}`), " Segment ")
	f.Add([]byte(`{}`), "bad source")

	f.Fuzz(func(t *testing.T, raw []byte, forced string) {
		in := bytes.Clone(raw)
		o := Options{ReceivedAt: recv, ForcedSource: forced}
		s, err := Normalize(raw, o)
		if !bytes.Equal(raw, in) {
			t.Fatal("Normalize modified its input")
		}
		if err != nil {
			if s != nil {
				t.Fatal("signal returned with error")
			}
			var e *errs.Error
			if !errors.As(err, &e) || e == nil || e.Code == "" || e.Message == "" {
				t.Fatalf("error %v (%T) is not a complete *errs.Error", err, err)
			}
			if e.Kind != errs.KindInvalid && e.Kind != errs.KindTooLarge {
				t.Fatalf("error kind %s", e.Kind)
			}
			// Well-formed objects are never called malformed.
			validObject := false
			if len(raw) <= MaxSignalBytes && json.Valid(raw) {
				c, _ := firstByte(raw)
				validObject = c == '{'
			}
			if e.Code == CodeMalformedJSON && validObject {
				t.Fatalf("valid object reported malformed: %v", err)
			}
			if e.Code == CodeTooDeep && (!validObject || jsonDepth(t, raw) <= MaxDepth) {
				t.Fatalf("too_deep for depth %d", jsonDepth(t, raw))
			}
			if e.Code == CodeWrongType {
				var m map[string]any
				if json.Unmarshal(raw, &m) != nil {
					t.Fatalf("wrong_type on undecodable input")
				}
				switch m[e.Field].(type) {
				case nil:
					t.Fatalf("wrong_type for absent or null %s", e.Field)
				case string:
					if e.Field != "properties" && e.Field != "traits" && e.Field != "context" {
						t.Fatalf("wrong_type for string %s", e.Field)
					}
				case map[string]any:
					if e.Field == "properties" || e.Field == "traits" || e.Field == "context" {
						t.Fatalf("wrong_type for object %s", e.Field)
					}
				}
			}
			return
		}
		if d := jsonDepth(t, raw); d > MaxDepth {
			t.Fatalf("accepted depth %d", d)
		}
		if !bytes.Equal(s.Payload, raw) {
			t.Fatalf("Payload %q != input %q", s.Payload, raw)
		}
		if len(raw) > MaxSignalBytes || !json.Valid(raw) {
			t.Fatalf("accepted invalid or oversized input %q", raw)
		}
		if s.Timestamp.IsZero() || s.Timestamp.Location().String() != "UTC" || !s.ReceivedAt.Equal(recv) {
			t.Fatalf("times %v %v", s.Timestamp, s.ReceivedAt)
		}
		if !ValidSource(s.Source) || (s.Type != "" && !ValidType(s.Type)) {
			t.Fatalf("source %q type %q", s.Source, s.Type)
		}
		if s.Email != "" && CanonicalEmail(s.Email) != s.Email {
			t.Fatalf("email %q not canonical", s.Email)
		}
		// Stable: the same input gives the same signal and person key.
		s2, err := Normalize(in, o)
		if err != nil || !reflect.DeepEqual(s, s2) || s.PersonKey() != s2.PersonKey() {
			t.Fatalf("not stable: %+v vs %+v (%v)", s, s2, err)
		}
		key := s.PersonKey()
		if s.AnonymousID == "" && s.HasPersistentID() != (key != "") {
			t.Fatalf("PersonKey %q vs HasPersistentID %v", key, s.HasPersistentID())
		}
		if s.AnonymousID != "" && key != "a:"+s.AnonymousID {
			t.Fatalf("PersonKey %q, want the anonymous id first", key)
		}
		// Told the input is valid (a batch item), Normalize skips its own
		// validation and must decide exactly the same.
		ov := o
		ov.Validated = true
		if s3, err := Normalize(in, ov); err != nil || !reflect.DeepEqual(s, s3) {
			t.Fatalf("Validated changed the result: %+v vs %+v (%v)", s, s3, err)
		}
		// The byte walker agrees with encoding/json.
		if got, want := viewOf(s), reference(t, raw, forced); got != want {
			t.Fatalf("walker and reference disagree on %q\n got  %+v\n want %+v", raw, got, want)
		}
	})
}

func FuzzSplitBatch(f *testing.F) {
	f.Add([]byte(`[{"email":"a@acme.com"},{"email":"b@acme.com"}]`))
	f.Add([]byte(`{"batch":[{"a":1},2,"x"],"sentAt":"2025-03-02T09:00:10Z","context":{}}`))
	f.Add([]byte(`{"batch":{}}`))
	f.Add([]byte(`{"batch":[]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[1,,2]`))
	f.Add([]byte(`{"batch":[1],"batch":null}`))
	f.Add([]byte(` [ "]" , {"a":"\"["} ] `))
	f.Add([]byte(`{"sentAt":1740906010000,"batch":[[[]]]}`))

	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := ParseBatch(body)
		if err != nil {
			if b != nil {
				t.Fatal("batch returned with error")
			}
			var e *errs.Error
			if !errors.As(err, &e) || e == nil || e.Code == "" {
				t.Fatalf("error %v (%T)", err, err)
			}
			return
		}
		if len(b.Items) == 0 || len(b.Items) > MaxBatchItems {
			t.Fatalf("%d items", len(b.Items))
		}
		// Reference: encoding/json.
		var want []json.RawMessage
		if c, _ := firstByte(body); c == '[' {
			if err := json.Unmarshal(body, &want); err != nil {
				t.Fatal(err)
			}
		} else {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(m["batch"], &want); err != nil {
				t.Fatal(err)
			}
		}
		if len(want) != len(b.Items) {
			t.Fatalf("%d items, encoding/json finds %d", len(b.Items), len(want))
		}
		for i := range want {
			if !bytes.Equal(want[i], b.Items[i]) {
				t.Fatalf("item %d = %q, encoding/json %q", i, b.Items[i], want[i])
			}
		}
	})
}

func FuzzBulkReader(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n\n{bad\r\n{\"c\":3}"), uint16(0))
	f.Add([]byte("\xef\xbb\xbf  \n{\"a\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n{}\n"), uint16(10))
	f.Add([]byte(`[{"a":1}, {"b":[1,2,{"c":"]"}]}, 3]`), uint16(0))
	f.Add([]byte(`[{"a":1}, {bad}, {"c":3}]`), uint16(0))
	f.Add([]byte(`[{"a":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}, 1] x`), uint16(8))
	f.Add([]byte(""), uint16(0))
	f.Add([]byte("[1, 2"), uint16(1))

	f.Fuzz(func(t *testing.T, data []byte, maxLine uint16) {
		ml := int(maxLine)
		if ml <= 0 {
			ml = MaxSignalBytes
		}
		r := NewBulkReader(bytes.NewReader(data), int(maxLine))
		var got []step
		done := false
		for range len(data) + 3 {
			item, line, err := r.Next()
			if err == io.EOF {
				done = true
				break
			}
			if err != nil {
				var e *errs.Error
				if !errors.As(err, &e) || e == nil {
					t.Fatalf("error %v (%T)", err, err)
				}
				got = append(got, step{line: line, code: e.Code})
				continue
			}
			if len(item) > ml || !json.Valid(item) {
				t.Fatalf("line %d: item %q (max %d)", line, item, ml)
			}
			got = append(got, step{item: string(item), line: line})
		}
		if !done {
			t.Fatal("no io.EOF")
		}
		if _, _, err := r.Next(); err != io.EOF {
			t.Fatalf("Next after EOF: %v", err)
		}
		// NDJSON reference: split on '\n' after the same prelude.
		rest := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
		line := 0
		for len(rest) > 0 && isSpace(rest[0]) {
			if rest[0] == '\n' {
				line++
			}
			rest = rest[1:]
		}
		if len(rest) > 0 && rest[0] == '[' {
			return
		}
		var want []step
		if len(rest) > 0 {
			for _, l := range bytes.Split(rest, []byte("\n")) {
				line++
				l = bytes.TrimSuffix(l, []byte("\r"))
				switch c := bytes.TrimSpace(l); {
				case len(l) > ml:
					want = append(want, step{line: line, code: CodePayloadTooLarge})
				case len(c) == 0:
				case !json.Valid(c):
					want = append(want, step{line: line, code: CodeMalformedJSON})
				default:
					want = append(want, step{item: string(c), line: line})
				}
			}
		}
		if len(got) != len(want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("step %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}
