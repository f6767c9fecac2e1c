// Command testconnector is the plugin host's misbehaving test connector.
// Built with -ldflags "-X main.name=<name>" it describes itself as <name>;
// with "-X main.variant=stdout" it writes to stdout before the handshake.
// Per call, Config.Options["mode"] makes Translate hang, exit or answer
// slowly; otherwise Translate echoes the serving pid in Properties.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/trailspark/trailspark/sdk"
	"github.com/trailspark/trailspark/sdk/connector"
)

var (
	name    = "crashy"
	variant string
)

type tc struct{}

func (tc) Describe(context.Context) (connector.Info, error) {
	return connector.Info{Name: name, Version: "0.1.0", Capabilities: []connector.Capability{connector.CapTranslate}}, nil
}

func (tc) Configure(context.Context, connector.Config) error { return nil }
func (tc) Check(context.Context, connector.Config) error     { return nil }

func (tc) Translate(ctx context.Context, cfg connector.Config, req connector.TranslateRequest) ([]connector.Signal, error) {
	switch cfg.Option("mode", "") {
	case "hang": // ignores its context, like a connector stuck in a syscall
		select {}
	case "exit":
		os.Exit(3)
	case "slow":
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return []connector.Signal{{Source: name, Type: "track", Event: "ping", Properties: []byte(fmt.Sprintf(`{"pid":%d,"tenant":%q}`, os.Getpid(), cfg.Tenant))}}, nil
}

func main() {
	if variant == "stdout" {
		fmt.Println("debug: starting") // the classic mistake: breaks the handshake
	}
	sdk.Serve(tc{})
}
