package signal

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// validCases are inputs on which validJSON must agree with json.Valid. want
// is what json.Valid returns, stated explicitly so that a case that no
// longer tests what its name says is noticed.
var validCases = []struct {
	name string
	in   string
	want bool
}{
	// Empty and whitespace.
	{"empty", "", false},
	{"space only", " ", false},
	{"whitespace only", " \t\r\n", false},
	{"form feed is not whitespace", "\f1", false},
	{"vertical tab is not whitespace", "1\v", false},
	{"NBSP is not whitespace", "\u00a01", false},
	{"surrounding whitespace", " \t\r\n{} \t\r\n", true},
	{"whitespace everywhere", "[ 1 , { \"a\" : [ ] } , \"x\" ]", true},
	{"NUL after value", "1\x00", false},
	{"NUL before value", "\x00 1", false},

	// Literals.
	{"true", "true", true},
	{"false", "false", true},
	{"null", "null", true},
	{"literals in array", "[true,false,null]", true},
	{"truncated true", "tru", false},
	{"truncated false", "fals", false},
	{"truncated null", "nul", false},
	{"lone t", "t", false},
	{"lone f", "f", false},
	{"lone n", "n", false},
	{"truncated literal in array", "[tru]", false},
	{"truncated literal at end of array", "[true,nul", false},
	{"misspelled true", "trUe", false},
	{"capitalised True", "True", false},
	{"NULL", "NULL", false},
	{"nan", "NaN", false},
	{"literal with suffix", "truex", false},
	{"literal with trailing literal", "true false", false},
	{"nullnull", "nullnull", false},

	// Numbers.
	{"zero", "0", true},
	{"negative zero", "-0", true},
	{"integer", "123", true},
	{"negative integer", "-123", true},
	{"fraction", "1.5", true},
	{"zero fraction", "0.000", true},
	{"exponent", "1e5", true},
	{"capital exponent", "1E5", true},
	{"signed exponents", "[1e+5,1e-5,1E+0,-0.5e-05]", true},
	{"big exponent", "1e999999999999999999999", true},
	{"big mantissa", "123456789012345678901234567890123456789", true},
	{"leading zero", "01", false},
	{"negative leading zero", "-01", false},
	{"double zero", "00", false},
	{"leading zero with fraction", "00.5", false},
	{"lone minus", "-", false},
	{"minus then space", "- 1", false},
	{"double minus", "--1", false},
	{"plus", "+1", false},
	{"trailing dot", "1.", false},
	{"trailing dot in array", "[1.]", false},
	{"leading dot", ".5", false},
	{"minus dot", "-.5", false},
	{"two dots", "1.2.3", false},
	{"exponent without digits", "1e", false},
	{"exponent sign without digits", "1e+", false},
	{"exponent minus without digits", "1E-", false},
	{"exponent without digits in array", "[1e]", false},
	{"dot then exponent", "1.e5", false},
	{"exponent fraction", "1e5.5", false},
	{"double exponent", "1e5e5", false},
	{"double exponent sign", "1e+-5", false},
	{"hex", "0x10", false},
	{"infinity", "Infinity", false},
	{"number then letter", "1a", false},
	{"number in object", `{"a":-12.5e+3}`, true},

	// Strings.
	{"empty string", `""`, true},
	{"string", `"hello"`, true},
	{"unterminated string", `"hello`, false},
	{"lone quote", `"`, false},
	{"every simple escape", `"\" \\ \/ \b \f \n \r \t"`, true},
	{"unicode escape", `"\u00e9\uABCD\u0000"`, true},
	{"surrogate pair", `"\ud83d\ude00"`, true},
	{"lone surrogate escape", `"\ud800"`, true},
	{"bad escape letter", `"\x41"`, false},
	{"escaped single quote", `"\'"`, false},
	{"escaped zero", `"\0"`, false},
	{"capital U escape", `"\U0041"`, false},
	{"unicode escape bad hex", `"\u00g0"`, false},
	{"unicode escape bad last hex", `"\u000G"`, false},
	{"unicode escape short", `"\u12"`, false},
	{"unicode escape truncated", `"\u12`, false},
	{"unicode escape at end", `"\u`, false},
	{"backslash at end", `"\`, false},
	{"escaped quote unterminated", `"\"`, false},
	{"escaped backslash then quote", `"\\"`, true},
	{"raw NUL", "\"a\x00b\"", false},
	{"raw newline", "\"a\nb\"", false},
	{"raw tab", "\"a\tb\"", false},
	{"raw 0x1f", "\"\x1f\"", false},
	{"raw DEL", "\"\x7f\"", true},
	{"UTF-8", `"héllo wörld ✓ 😀"`, true},
	{"invalid UTF-8 byte", "\"\xff\"", true},
	{"truncated UTF-8", "\"\xe2\x9c\"", true},
	{"UTF-16 surrogate in UTF-8", "\"\xed\xa0\x80\"", true},
	{"overlong UTF-8", "\"\xc0\xaf\"", true},
	{"invalid UTF-8 in key", "{\"\xfe\":1}", true},
	{"invalid UTF-8 outside string", "[\xff]", false},
	{"long string", `"` + strings.Repeat("abcdefgh", 100) + `"`, true},
	{"long string with late control byte", `"` + strings.Repeat("abcdefgh", 100) + "\x01" + `"`, false},
	{"single quotes", `'a'`, false},

	// Arrays and objects.
	{"empty array", "[]", true},
	{"empty object", "{}", true},
	{"empty array with space", "[ \n ]", true},
	{"empty object with space", "{ \t }", true},
	{"array", `[1,"a",true,null,{},[]]`, true},
	{"object", `{"a":1,"b":"x","c":[],"d":{}}`, true},
	{"nested", `{"a":[{"b":[[{"c":{"d":[]}}]]}],"e":[[],[[]],{}]}`, true},
	{"duplicate keys", `{"a":1,"a":2}`, true},
	{"empty key", `{"":1}`, true},
	{"unclosed array", "[1", false},
	{"unclosed array after comma", "[1,", false},
	{"unclosed object", `{"a":1`, false},
	{"unclosed nested", `[[]`, false},
	{"open bracket", "[", false},
	{"open brace", "{", false},
	{"close bracket", "]", false},
	{"close brace", "}", false},
	{"mismatched closers", "[}", false},
	{"mismatched nested closers", `{"a":[}]`, false},
	{"extra closer", "[]]", false},
	{"trailing comma in array", "[1,]", false},
	{"trailing comma in object", `{"a":1,}`, false},
	{"leading comma in array", "[,1]", false},
	{"leading comma in object", `{,"a":1}`, false},
	{"lone comma in array", "[,]", false},
	{"double comma in array", "[1,,2]", false},
	{"double comma in object", `{"a":1,,"b":2}`, false},
	{"missing comma in array", "[1 2]", false},
	{"missing comma in object", `{"a":1 "b":2}`, false},
	{"missing colon", `{"a" 1}`, false},
	{"missing value", `{"a":}`, false},
	{"missing value at end", `{"a":`, false},
	{"double colon", `{"a"::1}`, false},
	{"comma for colon", `{"a",1}`, false},
	{"colon for comma", `{"a":1:"b":2}`, false},
	{"colon in array", "[1:2]", false},
	{"key only", `{"a"}`, false},
	{"number key", `{1:2}`, false},
	{"bare key", `{a:1}`, false},
	{"literal key", `{null:1}`, false},
	{"array key", `{[]:1}`, false},
	{"unterminated key", `{"a:1}`, false},
	{"key with escapes", `{"a\"b\u0041":1}`, true},

	// Trailing data.
	{"two values", "1 2", false},
	{"two objects", "{}{}", false},
	{"two strings", `"a""b"`, false},
	{"garbage after object", `{"a":1}x`, false},
	{"garbage after array", "[1] ,", false},
	{"comma after value", "1,", false},
	{"garbage after string", `"a"x`, false},
	{"garbage after whitespace", "true \n x", false},

	// Nesting: encoding/json allows at most 10000 open containers.
	{"depth 64", strings.Repeat("[", 64) + strings.Repeat("]", 64), true},
	{"depth 65", strings.Repeat("[", 65) + strings.Repeat("]", 65), true},
	{"depth 65 objects", strings.Repeat(`{"a":`, 64) + "{}" + strings.Repeat("}", 64), true},
	{"depth at limit", strings.Repeat("[", maxJSONNesting) + strings.Repeat("]", maxJSONNesting), true},
	{"depth at limit with value", strings.Repeat("[", maxJSONNesting) + "1" + strings.Repeat("]", maxJSONNesting), true},
	{"depth at limit objects", strings.Repeat(`{"a":`, maxJSONNesting-1) + "{}" + strings.Repeat("}", maxJSONNesting-1), true},
	{"depth over limit", strings.Repeat("[", maxJSONNesting+1) + strings.Repeat("]", maxJSONNesting+1), false},
	{"depth over limit with value", strings.Repeat("[", maxJSONNesting+1) + "1" + strings.Repeat("]", maxJSONNesting+1), false},
	{"depth over limit objects", strings.Repeat(`{"a":`, maxJSONNesting) + "{}" + strings.Repeat("}", maxJSONNesting), false},
	{"depth over limit mixed", strings.Repeat(`[{"a":`, (maxJSONNesting+2)/2) + strings.Repeat("}]", (maxJSONNesting+2)/2), false},
	{"depth at limit twice", "[" + strings.Repeat("[", maxJSONNesting-1) + strings.Repeat("]", maxJSONNesting-1) +
		"," + strings.Repeat("[", maxJSONNesting-1) + strings.Repeat("]", maxJSONNesting-1) + "]", true},
	{"depth over limit unclosed", strings.Repeat("[", maxJSONNesting+1), false},
	{"deep but unclosed", strings.Repeat("[", 100), false},

	// Batch bodies.
	{"batch array", `[{"type":"track","event":"Viewed","properties":{"seats":12}},{"type":"identify","traits":{"email":"a@acme.com"}}]`, true},
	{"batch wrapper", `{"batch":[{"type":"track"}],"sentAt":"2025-03-02T09:00:10Z"}`, true},
	{"batch with trailing comma", `[{"type":"track"},]`, false},
	{"batch cut short", `[{"type":"track"},{"type":"ide`, false},
	{"batch with raw newline in string", "[{\"event\":\"a\nb\"}]", false},
}

func TestValidJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range validCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tt.in)
			if ref := json.Valid(in); ref != tt.want {
				t.Fatalf("json.Valid = %v, the case says %v", ref, tt.want)
			}
			if got := validJSON(in); got != tt.want {
				t.Errorf("validJSON(%.80q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestValidJSONPrefixes checks every prefix of a few valid documents: nearly
// all are cut inside a token or a container, which is where a hand-written
// scanner is most likely to disagree with encoding/json.
func TestValidJSONPrefixes(t *testing.T) {
	t.Parallel()
	docs := []string{
		`{"a":[1,-2.5e+3,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9"],"b":{"c":{}},"d":[]}`,
		` [ 0 , -0.0E-0 , { "k" : [ [ ] ] } ] `,
		string(validBenchBody(3)),
	}
	for _, doc := range docs {
		for i := range len(doc) + 1 {
			in := []byte(doc[:i])
			if got, want := validJSON(in), json.Valid(in); got != want {
				t.Errorf("validJSON(%q) = %v, json.Valid = %v", in, got, want)
			}
		}
	}
}

func TestValidJSONAllocs(t *testing.T) {
	body := validBenchBody(50)
	deep := []byte(strings.Repeat("[", 64) + strings.Repeat("]", 64))
	if n := testing.AllocsPerRun(100, func() {
		if !validJSON(body) || !validJSON(deep) {
			t.Fatal("invalid")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per run, want 0", n)
	}
}

// FuzzValid checks validJSON against json.Valid. The committed corpus
// (testdata/fuzz/FuzzValid) holds batch bodies and near-misses; the table
// cases are added too.
func FuzzValid(f *testing.F) {
	for _, tt := range validCases {
		if len(tt.in) < 1000 {
			f.Add([]byte(tt.in))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid = %v", b, got, want)
		}
	})
}

// validBenchBody is a batch body of n track calls as an SDK sends them
// (about 290 bytes each), joined into a JSON array.
func validBenchBody(n int) []byte {
	b := []byte{'['}
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"type":"track","event":"Viewed","messageId":"bench-1-%d","email":"person%d@company%d.com",`+
			`"properties":{"page_url":"https://acme.example/pricing","plan":"pro","seats":%d},`+
			`"context":{"ip":"203.0.113.7","userAgent":"Mozilla/5.0 (X11; Linux x86_64)"},`+
			`"timestamp":"2026-11-28T10:00:00.000Z"}`, i, i%97, i%13, i%50+1)
	}
	return append(b, ']')
}

func BenchmarkValidJSON(b *testing.B) {
	body := validBenchBody(500)
	for _, bm := range []struct {
		name  string
		valid func([]byte) bool
	}{
		{"handwritten", validJSON},
		{"encoding-json", json.Valid},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if !bm.valid(body) {
					b.Fatal("body is not valid")
				}
			}
		})
	}
}
