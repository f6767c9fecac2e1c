package signal

import (
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

func TestSplitBatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"array", `[{"email":"a@acme.com","event":"page_view"},{"email":"b@acme.com"}]`,
			[]string{`{"email":"a@acme.com","event":"page_view"}`, `{"email":"b@acme.com"}`}},
		{"wrapper", `{"batch":[{"a":1},{"b":[1,{"c":"]"}]}]}`, []string{`{"a":1}`, `{"b":[1,{"c":"]"}]}`}},
		{"wrapper with other members", `{"context":{"library":{"name":"analytics-node"}},"batch":[{"a":1}],"writeKey":"k"}`, []string{`{"a":1}`}},
		{"whitespace", " \n[ {\"a\" : 1} ,\n\t{ } ]\n", []string{`{"a" : 1}`, `{ }`}},
		{"items may be anything", `[1,"x",null,[2],{"a":{}},true]`, []string{`1`, `"x"`, `null`, `[2]`, `{"a":{}}`, `true`}},
		{"duplicate batch: last wins", `{"batch":[1],"batch":[2,3]}`, []string{`2`, `3`}},
		{"escaped strings", `[{"a":"\"]}"}]`, []string{`{"a":"\"]}"}`}},
		{"deep item kept for Normalize", `[` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]`,
			[]string{strings.Repeat("[", 100) + strings.Repeat("]", 100)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			items, err := SplitBatch([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != len(tt.want) {
				t.Fatalf("%d items, want %d", len(items), len(tt.want))
			}
			for i := range items {
				if string(items[i]) != tt.want[i] {
					t.Errorf("item %d = %s, want %s", i, items[i], tt.want[i])
				}
			}
		})
	}
}

func TestSplitBatchLimits(t *testing.T) {
	t.Parallel()
	many := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat("1,", n), ",") + "]" }
	items, err := SplitBatch([]byte(many(MaxBatchItems)))
	if err != nil || len(items) != MaxBatchItems {
		t.Fatalf("%d items, %v", len(items), err)
	}
	_, err = SplitBatch([]byte(many(MaxBatchItems + 1)))
	wantErr(t, err, errs.KindInvalid, "too_many", "batch")

	body := `[{"a":"` + strings.Repeat("x", MaxBatchBytes-10) + `"}]`
	if len(body) != MaxBatchBytes {
		t.Fatalf("len %d", len(body))
	}
	if _, err := SplitBatch([]byte(body)); err != nil {
		t.Fatal(err)
	}
	_, err = SplitBatch([]byte(body + " "))
	e := wantErr(t, err, errs.KindTooLarge, "payload_too_large", "")
	if !strings.Contains(e.Message, "512000") {
		t.Errorf("message %q", e.Message)
	}
}

func TestSplitBatchErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, code, field string
	}{
		{"empty", ``, "malformed_json", ""},
		{"spaces", "  \n", "malformed_json", ""},
		{"truncated", `[{"a":1}`, "malformed_json", ""},
		{"trailing", `[1] [2]`, "malformed_json", ""},
		{"string", `"batch"`, "malformed_json", ""},
		{"number", `12`, "malformed_json", ""},
		{"null", `null`, "malformed_json", ""},
		{"batch object", `{"batch":{"a":1}}`, "malformed_json", "batch"},
		{"batch string", `{"batch":"x"}`, "malformed_json", "batch"},
		{"no batch", `{"email":"a@x.io"}`, "required", "batch"},
		{"empty object", `{}`, "required", "batch"},
		{"batch null", `{"batch":null}`, "required", "batch"},
		{"empty array", `[]`, "required", "batch"},
		{"empty wrapped array", `{"batch":[ ]}`, "required", "batch"},
		{"sentAt unparseable", `{"batch":[1],"sentAt":"later"}`, "invalid_format", "sentAt"},
		{"sentAt wrong type", `{"batch":[1],"sentAt":true}`, "wrong_type", "sentAt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			items, err := SplitBatch([]byte(tt.body))
			if items != nil {
				t.Fatal("items returned with error")
			}
			wantErr(t, err, errs.KindInvalid, tt.code, tt.field)
		})
	}
	_, err := SplitBatch([]byte(`[1,,2]`))
	if e := wantErr(t, err, errs.KindInvalid, "malformed_json", ""); !strings.Contains(e.Message, "at byte") {
		t.Errorf("message %q", e.Message)
	}
}

func TestParseBatchSentAt(t *testing.T) {
	t.Parallel()
	b, err := ParseBatch([]byte(`{"sentAt":"2025-03-02T09:00:10Z","batch":[{"timestamp":"2025-03-02T09:00:00Z"},{"timestamp":"2025-03-02T09:00:00Z","sentAt":"2025-03-02T09:00:20Z"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !b.SentAt.Equal(ts("2025-03-02T09:00:10Z")) || len(b.Items) != 2 {
		t.Fatalf("%+v", b)
	}
	want := []string{"2025-03-02T09:14:50Z", "2025-03-02T09:14:40Z"}
	for i, it := range b.Items {
		s, err := Normalize(it, Options{ReceivedAt: recv, SentAt: b.SentAt})
		if err != nil {
			t.Fatal(err)
		}
		if !s.Timestamp.Equal(ts(want[i])) {
			t.Errorf("item %d: %v, want %s", i, s.Timestamp, want[i])
		}
	}
	for _, body := range []string{`[1]`, `{"batch":[1]}`, `{"batch":[1],"sentAt":null}`, `{"batch":[1],"sentAt":""}`} {
		b, err := ParseBatch([]byte(body))
		if err != nil || !b.SentAt.IsZero() {
			t.Errorf("%s: %v %v", body, b, err)
		}
	}
	b, err = ParseBatch([]byte(`{"batch":[1],"sentAt":1740906010000}`))
	if err != nil || !b.SentAt.Equal(time.Date(2025, 3, 2, 9, 0, 10, 0, time.UTC)) {
		t.Fatalf("%v %v", b, err)
	}
}

func TestSplitBatchThenNormalize(t *testing.T) {
	t.Parallel()
	// One bad item does not reject the others.
	items, err := SplitBatch([]byte(`[{"email":"a@acme.com"},{"email":5},"x",{"type":"track","userId":"u"}]`))
	if err != nil {
		t.Fatal(err)
	}
	var ok, bad int
	for _, it := range items {
		if _, err := Normalize(it, opts()); err != nil {
			bad++
		} else {
			ok++
		}
	}
	if ok != 2 || bad != 2 {
		t.Fatalf("ok %d bad %d", ok, bad)
	}
}
