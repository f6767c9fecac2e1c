package sdk

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/trailspark/trailspark/sdk/connector"
)

// LogLevelEnv sets the plugin's log level (trace, debug, info, warn, error).
// The host passes its own environment to plugins, so setting it on the node
// applies to every plugin.
const LogLevelEnv = "TRAILSPARK_PLUGIN_LOG_LEVEL"

// LoggerSetter is implemented by connectors that want the plugin logger.
// Serve calls SetLogger before serving; hclog.Default() is the same logger.
type LoggerSetter interface {
	SetLogger(hclog.Logger)
}

// ServeOption configures Serve.
type ServeOption func(*serveConfig)

type serveConfig struct {
	logger      hclog.Logger
	test        *plugin.ServeTestConfig
	parentWatch time.Duration
}

// WithLogger replaces the default logger (JSON to stderr). Never log to stdout:
// stdout carries the go-plugin handshake.
func WithLogger(l hclog.Logger) ServeOption { return func(c *serveConfig) { c.logger = l } }

// WithDebug serves in-process for a debugger or a test: go-plugin sends the
// reattach configuration on test.ReattachConfigCh instead of the handshake.
func WithDebug(test *plugin.ServeTestConfig) ServeOption {
	return func(c *serveConfig) { c.test = test }
}

// Serve runs impl as a plugin until the host disconnects. It validates the
// connector first: Describe must return a valid Info and every declared
// capability must be implemented; otherwise it logs why and exits 1. It
// writes nothing to stdout except go-plugin's handshake line.
//
// Serve also exits when its parent process goes away, so a plugin never
// outlives a node that was SIGKILLed (the host additionally sets Pdeathsig
// on Linux; this covers every other OS).
func Serve(impl connector.Connector, opts ...ServeOption) {
	cfg := serveConfig{parentWatch: time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if err := serve(impl, cfg); err != nil {
		cfg.logger.Error("plugin cannot start", "error", err)
		os.Exit(1)
	}
}

func serve(impl connector.Connector, cfg serveConfig) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	info, err := impl.Describe(ctx)
	cancel()
	name := info.Name
	if name == "" {
		name = "connector"
	}
	if cfg.logger == nil {
		cfg.logger = hclog.New(&hclog.LoggerOptions{
			Name:       name,
			Level:      hclog.LevelFromString(envOr(LogLevelEnv, "info")),
			Output:     os.Stderr,
			JSONFormat: true, // the host re-emits JSON lines at the right level
		})
	}
	hclog.SetDefault(cfg.logger)
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	if err := CheckImplementation(impl, info); err != nil {
		return err
	}
	if ls, ok := impl.(LoggerSetter); ok {
		ls.SetLogger(cfg.logger)
	}
	if cfg.test == nil && os.Getenv(Handshake.MagicCookieKey) == Handshake.MagicCookieValue {
		go watchParent(os.Getppid(), cfg.parentWatch, cfg.logger)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: versionedPlugins(impl, info, cfg.logger),
		GRPCServer: func(o []grpc.ServerOption) *grpc.Server {
			o = append(o,
				grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize),
				grpc.ChainUnaryInterceptor(recoverUnary(cfg.logger)),
				grpc.ChainStreamInterceptor(recoverStream(cfg.logger)))
			return grpc.NewServer(o...)
		},
		Logger: cfg.logger,
		Test:   cfg.test,
	})
	return nil
}

// CheckImplementation reports a declared capability that impl does not
// implement, or an invalid Info. Serve calls it; tests may too.
func CheckImplementation(impl connector.Connector, info connector.Info) error {
	if err := info.Validate(); err != nil {
		return err
	}
	for _, c := range info.Capabilities {
		var ok bool
		switch c {
		case connector.CapRead:
			_, ok = impl.(connector.Reader)
		case connector.CapWrite:
			_, ok = impl.(connector.Writer)
		case connector.CapTranslate:
			_, ok = impl.(connector.Translator)
		case connector.CapMetadata:
			_, ok = impl.(connector.MetadataProvider)
		case connector.CapOAuth:
			_, ok = impl.(connector.OAuthProvider)
		}
		if !ok {
			return fmt.Errorf("connector %s declares capability %q but %T does not implement it", info.Name, c, impl)
		}
	}
	return nil
}

// watchParent exits the plugin when it is re-parented (the host died).
func watchParent(ppid int, every time.Duration, logger hclog.Logger) {
	if ppid <= 1 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != ppid {
			logger.Warn("host process exited; stopping plugin", "old_ppid", ppid)
			os.Exit(0)
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
