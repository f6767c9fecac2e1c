package main

import (
	"encoding/json"
	"testing"
)

// TestBenchMessageID: the same-append baseline keys each generated item by
// its messageId, as the node does ("m:" and the id).
func TestBenchMessageID(t *testing.T) {
	t.Parallel()
	for i := range 3 {
		item := appendPayload(nil, 1000+i, 20000)
		var v struct {
			MessageID string `json:"messageId"`
		}
		if err := json.Unmarshal(item, &v); err != nil || v.MessageID == "" {
			t.Fatalf("%s: %v", item, err)
		}
		if got := benchMessageID(item); got != "m:"+v.MessageID {
			t.Errorf("benchMessageID(%s) = %q, want %q", item, got, "m:"+v.MessageID)
		}
	}
	for _, bad := range []string{`{}`, `{"messageId":"unterminated`} {
		if got := benchMessageID([]byte(bad)); got != "" {
			t.Errorf("benchMessageID(%s) = %q, want none", bad, got)
		}
	}
}
