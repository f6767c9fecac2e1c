package signal

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// decodeWithEncodingJSON is what DecodePayload must always agree with.
func decodeWithEncodingJSON(b []byte) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	err := dec.Decode(&m)
	return m, err
}

var payloadCases = []string{
	`{"type":"track","event":"Viewed","email":"a@b.co","properties":{"page_url":"https://acme.example/pricing","plan":"pro","seats":12},"context":{"ip":"203.0.113.7"},"timestamp":"2026-11-28T10:00:00.000Z"}`,
	` { "a" : [ 1 , -2.5e+3 , 0 , true , false , null , "x" , { } , [ ] ] } `,
	`{"big":12345678901234567890123,"neg":-0,"exp":1E9,"frac":0.001}`,
	`{"esc":"a\"b\\c\/d\u00e9\ud83d\ude00\n","bad":"\ud800","utf8":"日本 🙂"}`,
	"{\"invalid\":\"\xff\xfe\"}",
	`{"dup":1,"dup":2}`,
	`{"deep":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`{"a":1} trailing`,
	`{}`,
	`null`,
	`[1,2]`,
	`"str"`,
	`{"a":01}`,
	`{"a":1.}`,
	`{"a":-}`,
	`{"a":tru}`,
	`{"a":truex}`,
	`{"a":1,}`,
	`{"a" 1}`,
	"{\"ctl\":\"a\tb\"}",
	`{"a":"\x"}`,
	`{"a":1`,
	``,
	`   `,
}

func TestDecodePayloadMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range payloadCases {
		checkDecodeEquivalent(t, []byte(c))
	}
}

func checkDecodeEquivalent(t *testing.T, b []byte) {
	t.Helper()
	got, gotErr := DecodePayload(b)
	want, wantErr := decodeWithEncodingJSON(b)
	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("%q: error %v, encoding/json's %v", b, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", b, got, want)
	}
}

func FuzzDecodePayload(f *testing.F) {
	for _, c := range payloadCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeEquivalent(t, b)
	})
}

func BenchmarkDecodePayload(b *testing.B) {
	payload := []byte(payloadCases[0])
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodePayload(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeWithEncodingJSON(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
