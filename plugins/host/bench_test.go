package host

import (
	"context"
	"testing"

	"github.com/trailspark/trailspark/sdk/connector"
)

// BenchmarkConnTranslate is one small call through the host (lookup,
// timeout, gRPC over AutoMTLS, JSON in the plugin).
func BenchmarkConnTranslate(b *testing.B) {
	dir := b.TempDir()
	install(b, dir, "crashy", bin["crashy"])
	h, err := New(Options{Dir: dir, Pins: NewFilePinStore(dir + "/pins.json")})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	c, _ := h.Connector("crashy")
	ctx := context.Background()
	if _, err := c.Translate(ctx, connector.Config{}, ping); err != nil { // lazy start outside the loop
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Translate(ctx, connector.Config{Tenant: "t"}, ping); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStartStop is launch + handshake + Describe, then Stop.
func BenchmarkStartStop(b *testing.B) {
	dir := b.TempDir()
	install(b, dir, "crashy", bin["crashy"])
	h, err := New(Options{Dir: dir, Pins: NewFilePinStore(dir + "/pins.json")})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	for b.Loop() {
		if err := h.Start(context.Background(), "crashy"); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = h.Stop("crashy")
		b.StartTimer()
	}
}
