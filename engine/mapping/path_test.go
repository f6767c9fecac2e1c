package mapping_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/trailspark/trailspark/engine/mapping"
)

func TestLookup(t *testing.T) {
	t.Parallel()
	const doc = `{
	 "email": "a@b.co", "n": 42, "f": 1.5, "t": true, "nil": null,
	 "properties": {"page_url": "/p", "0": "zero-key", "deep": {"er": {"est": "x"}}},
	 "items": [{"sku": "A"}, {"sku": "B", "tags": ["x", "y"]}, null],
	 "matrix": [[1, 2], [3, 4]],
	 "$ajs": {"@id": "at", "a-b": "dash"}
	}`
	for _, useNumber := range []bool{false, true} {
		p := decode(t, doc, useNumber)
		num := func(s string) any {
			if useNumber {
				return json.Number(s)
			}
			var f float64
			_ = json.Unmarshal([]byte(s), &f)
			return f
		}
		tests := []struct {
			path  string
			want  any
			found bool
		}{
			{"email", "a@b.co", true},
			{"n", num("42"), true},
			{"f", num("1.5"), true},
			{"t", true, true},
			{"nil", nil, true},
			{"missing", nil, false},
			{"properties.page_url", "/p", true},
			{"properties.deep.er.est", "x", true},
			{"properties.0", "zero-key", true},
			{"properties.1", nil, false},
			{"items.0.sku", "A", true},
			{"items.1.tags.1", "y", true},
			{"items.2", nil, true},
			{"items.2.sku", nil, false},
			{"items.3", nil, false},
			{"items.sku", nil, false},
			{"items.-1", nil, false},
			{"items.01.sku", "B", true},
			{"matrix.1.0", num("3"), true},
			{"email.x", nil, false},
			{"n.0", nil, false},
			{"$ajs.@id", "at", true},
			{"$ajs.a-b", "dash", true},
			{"", nil, false},
			{"properties..page_url", nil, false},
			{"items[0]", nil, false},
			{strings.Repeat("a.", 16) + "a", nil, false},
		}
		for _, tt := range tests {
			got, found := mapping.Lookup(p, tt.path)
			if found != tt.found || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("useNumber=%v Lookup(%q) = %#v, %v; want %#v, %v", useNumber, tt.path, got, found, tt.want, tt.found)
			}
		}
		if v, ok := mapping.Lookup(p, "properties"); !ok || v.(map[string]any)["page_url"] != "/p" {
			t.Errorf("object lookup: %v %v", v, ok)
		}
	}
	if v, ok := mapping.Lookup(nil, "a"); ok || v != nil {
		t.Error("nil payload")
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	p := decode(t, benchPayload, true)
	if n := testing.AllocsPerRun(100, func() { mapping.Lookup(p, "context.traits.email") }); n != 0 {
		t.Fatalf("Lookup allocates %v times", n)
	}
}
