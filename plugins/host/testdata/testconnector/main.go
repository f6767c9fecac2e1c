// Command testconnector is the plugin host's misbehaving test connector.
// Built with -ldflags "-X main.name=<name>" it describes itself as <name>;
// with "-X main.variant=stdout" it writes to stdout before the handshake.
// Per call, Config.Options["mode"] makes Translate hang, exit, answer
// slowly or write garbage to stdout first; otherwise Translate echoes the
// serving pid in Properties.
//
// It also reads contacts: Options["count"] (default 10) records with ids
// m-1…m-N and emails mN@example.com, the cursor being the offset. With
// mode "malformed", three of them are unusable: m-3 comes without an id,
// m-5 with fields that are not JSON, m-7 with fields that are a JSON array.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
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
	return connector.Info{Name: name, Version: "0.1.0", Capabilities: []connector.Capability{connector.CapTranslate, connector.CapRead},
		Kinds: []connector.Kind{connector.KindContacts}}, nil
}

func (tc) Configure(context.Context, connector.Config) error { return nil }
func (tc) Check(context.Context, connector.Config) error     { return nil }

func (tc) Translate(ctx context.Context, cfg connector.Config, req connector.TranslateRequest) ([]connector.Signal, error) {
	switch cfg.Option("mode", "") {
	case "hang": // ignores its context, like a connector stuck in a syscall
		select {}
	case "exit":
		os.Exit(3)
	case "garbage": // stdout after the handshake: go-plugin captures it, nothing breaks
		fmt.Println("\x00\xff not a handshake line {{{")
		fmt.Fprint(os.Stdout, strings.Repeat("garbage ", 10000))
	case "slow":
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return []connector.Signal{{Source: name, Type: "track", Event: "ping", Properties: []byte(fmt.Sprintf(`{"pid":%d,"tenant":%q}`, os.Getpid(), cfg.Tenant))}}, nil
}

func (tc) Read(ctx context.Context, cfg connector.Config, req connector.ReadRequest, emit func(connector.Record) error) (connector.ReadResult, error) {
	if req.Kind != connector.KindContacts {
		return connector.ReadResult{}, connector.Unsupported("kind %s", req.Kind)
	}
	count, err := strconv.Atoi(cfg.Option("count", "10"))
	if err != nil {
		return connector.ReadResult{}, connector.InvalidConfig("count", "count must be a number")
	}
	from := 0
	if req.Cursor != "" {
		if from, err = strconv.Atoi(req.Cursor); err != nil {
			return connector.ReadResult{}, connector.Permanent("bad cursor")
		}
	}
	to := count
	if req.Limit > 0 && from+req.Limit < to {
		to = from + req.Limit
	}
	malformed := cfg.Option("mode", "") == "malformed"
	for i := from + 1; i <= to; i++ {
		r := connector.Record{ID: fmt.Sprintf("m-%d", i), Kind: connector.KindContacts,
			Fields: []byte(fmt.Sprintf(`{"email":"m%d@example.com","name":"M %d"}`, i, i))}
		if malformed {
			switch i {
			case 3:
				r.ID = ""
			case 5:
				r.Fields = []byte(`{"email":"m5@example.com",`)
			case 7:
				r.Fields = []byte(`["m7@example.com"]`)
			}
		}
		if err := emit(r); err != nil {
			return connector.ReadResult{}, err
		}
	}
	if to == from {
		return connector.ReadResult{NextCursor: req.Cursor}, nil
	}
	return connector.ReadResult{NextCursor: strconv.Itoa(to), More: to < count}, nil
}

func main() {
	if variant == "stdout" {
		fmt.Println("debug: starting") // the classic mistake: breaks the handshake
	}
	sdk.Serve(tc{})
}
