package api

import (
	"encoding/json"
	"testing"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/errs"
)

// TestBatchAcceptedJSON: the hand-written batch answer is byte for byte
// what encoding/json writes.
func TestBatchAcceptedJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		res  []actors.ItemResult
	}{
		{"none", nil},
		{"accepted", []actors.ItemResult{{Index: 0, ID: 27, Source: "segment"}, {Index: 1, ID: 1 << 60, Source: "generic", ColdStorage: true}}},
		{"duplicate", []actors.ItemResult{{Index: 0, ID: 5, Source: "generic", Duplicate: true}}},
		{"rejected", []actors.ItemResult{{Index: 0, Err: errs.Invalid("email", "invalid_format", `email "a<b>&c" is not an address`)},
			{Index: 1, ID: 3, Source: "x"}}},
		{"odd source", []actors.ItemResult{{Index: 0, ID: 1, Source: "a\"b\\c<d>&\x00é\u2028\x7f"}}},
		{"zero id", []actors.ItemResult{{Index: 7}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := summarize(tc.res)
			want, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.appendJSON(nil); string(got) != string(want) {
				t.Fatalf("hand-written\n%s\nencoding/json\n%s", got, want)
			}
		})
	}
}
