// Package sdktest launches any connector binary through the real go-plugin
// handshake (AutoMTLS, VersionedPlugins, gRPC) and checks it against the
// connector contract. Every connector's tests call Run:
//
//	func TestConformance(t *testing.T) {
//		sdktest.Run(t, binaryPath, sdktest.Options{Config: cfg, Translate: fixtures})
//	}
package sdktest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/trailspark/trailspark/sdk"
)

// LogLevelEnv sets the level of the plugin's logs echoed to stderr during
// tests (default warn).
const LogLevelEnv = "SDKTEST_LOG"

// Plugin is a running connector process.
type Plugin struct {
	Client *sdk.Client    // the connector, host side
	Raw    *plugin.Client // go-plugin's client (Kill, Exited, ReattachConfig)
	Pid    int
	// Launch is the wall time from exec to a dispensed client: process
	// start, handshake, TLS, gRPC dial.
	Launch time.Duration
}

// Kill stops the process (idempotent).
func (p *Plugin) Kill() { p.Raw.Kill() }

// Launch starts binary as the host does and kills it when the test ends.
func Launch(t testing.TB, binary string) *Plugin {
	t.Helper()
	p, err := Start(binary, nil)
	if err != nil {
		t.Fatalf("launch %s: %v", binary, err)
	}
	t.Cleanup(p.Kill)
	return p
}

// Start launches binary without a testing.TB (benchmarks, tools). logger
// nil means stderr at SDKTEST_LOG level. The caller must Kill the plugin.
func Start(binary string, logger hclog.Logger) (*Plugin, error) {
	if logger == nil {
		lvl := os.Getenv(LogLevelEnv)
		if lvl == "" {
			lvl = "warn"
		}
		logger = hclog.New(&hclog.LoggerOptions{Name: "sdktest", Level: hclog.LevelFromString(lvl), Output: os.Stderr})
	}
	cfg := sdk.ClientConfig(exec.Command(binary), logger)
	cfg.StartTimeout = 20 * time.Second // generous: CI machines are shared
	begin := time.Now()
	raw := plugin.NewClient(cfg)
	c, err := sdk.Dispense(raw)
	if err != nil {
		raw.Kill()
		return nil, err
	}
	p := &Plugin{Client: c, Raw: raw, Launch: time.Since(begin)}
	if rc := raw.ReattachConfig(); rc != nil {
		p.Pid = rc.Pid
	}
	return p, nil
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
