package signal

import (
	"testing"
)

// benchPayload is a realistic Segment track call as a webhook receives it
// (about 300 bytes).
const benchPayload = `{"type":"track","event":"Demo Requested","userId":"usr_4821","anonymousId":"a1b2c3-anon-77",` +
	`"messageId":"ajs-next-4f1c2a9e8b7d","timestamp":"2025-03-02T09:12:44.512Z","sentAt":"2025-03-02T09:12:45.003Z",` +
	`"properties":{"plan":"pro","seats":14,"page_url":"https://example.com/demo"},` +
	`"context":{"traits":{"email":"Dana@Northwind.io"},"ip":"203.0.113.7"}}`

func BenchmarkNormalize(b *testing.B) {
	raw := []byte(benchPayload)
	o := Options{ReceivedAt: recv}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := Normalize(raw, o)
		if err != nil || s.Email == "" {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalizeMinimal(b *testing.B) {
	raw := []byte(`{"email":"dana@northwind.io","event":"form_submission"}`)
	o := Options{ReceivedAt: recv}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Normalize(raw, o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplitBatch(b *testing.B) {
	body := []byte("[")
	for i := range 100 {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, benchPayload...)
	}
	body = append(body, ']')
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SplitBatch(body); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBenchPayloadSize(t *testing.T) {
	t.Parallel()
	if n := len(benchPayload); n < 280 || n > 420 {
		t.Fatalf("bench payload is %d bytes", n)
	}
	s := mustNormalize(t, benchPayload, opts())
	if s.Email != "dana@northwind.io" || s.Source != "segment" || s.Event != "Demo Requested" {
		t.Fatalf("%+v", viewOf(s))
	}
}
