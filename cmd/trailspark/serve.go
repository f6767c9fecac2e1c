package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trailspark/trailspark/cmd/trailspark/node"
)

func newServeCmd() *cobra.Command {
	var configPath string
	sf := &settingFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a TrailSpark node (single node on embedded storage by default)",
		Long: `Run a node. Settings come from defaults, then --config FILE (YAML), then
TRAILSPARK_* environment variables, then flags. The operator credential is
TRAILSPARK_ADMIN_TOKEN, or generated on first start into <data-dir>/operator-token.

Cluster mode: several nodes share one PostgreSQL database and find each
other. In Kubernetes, --cluster-provider kubernetes: each pod labels itself
and watches its peers' pods through the API (deploy/kubernetes has the
manifests and RBAC). With Consul, --cluster-provider consul --consul-address
the local agent: each node registers a service with a TTL check. With etcd,
--cluster-provider etcd --etcd-endpoints: each node keeps a leased key.
Elsewhere, through a static peer list, e.g. on one host:

  TRAILSPARK_ENCRYPTION_KEY=... TRAILSPARK_ADMIN_TOKEN=... trailspark serve \
    --cluster --store postgres://trailspark@db/trailspark \
    --cluster-provider automanaged --peers 127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103 \
    --node-port 7101 --listen 127.0.0.1:8081 --data-dir ./data1

The encryption key and the operator token must be the same on every node
and are never generated in cluster mode.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := node.Default()
			if configPath != "" {
				if err := cfg.LoadFile(configPath); err != nil {
					return err
				}
			}
			if err := cfg.LoadEnv(os.LookupEnv); err != nil {
				return err
			}
			sf.apply(&cfg)
			return serve(cmd, cfg)
		},
	}
	sf.fs = cmd.Flags()
	sf.fs.StringVar(&configPath, "config", "", "YAML config file")
	sf.str("data-dir", "data directory (TRAILSPARK_DATA_DIR; default ./data)", func(c *node.Config, v string) { c.DataDir = v })
	sf.str("listen", "HTTP listen address (TRAILSPARK_LISTEN; default 127.0.0.1:8080)", func(c *node.Config, v string) { c.Listen = v })
	sf.str("plugins-dir", "connector plugins directory (TRAILSPARK_PLUGINS_DIR; default ./bin/plugins)", func(c *node.Config, v string) { c.PluginsDir = v })
	sf.str("log-format", "json or text (TRAILSPARK_LOG_FORMAT; default json)", func(c *node.Config, v string) { c.LogFormat = v })
	sf.str("log-level", "trace, debug, info, warn or error (TRAILSPARK_LOG_LEVEL; default info)", func(c *node.Config, v string) { c.LogLevel = v })
	sf.str("store", "badger (embedded, in the data directory; the default) or a postgres:// URL (TRAILSPARK_STORE)", func(c *node.Config, v string) { c.Store = node.Secret(v) })
	sf.bool("cluster", "run as one member of a cluster sharing a PostgreSQL --store (TRAILSPARK_CLUSTER)", func(c *node.Config, v bool) { c.Cluster = v })
	sf.str("cluster-provider", "membership: local (one node; default), automanaged (static --peers), kubernetes (pod labels through the Kubernetes API), consul (a service in a Consul agent) or etcd (leased keys) (TRAILSPARK_CLUSTER_PROVIDER)", func(c *node.Config, v string) { c.ClusterProvider = v })
	sf.str("peers", "automanaged: node ports of all nodes, host:port,host:port,... (TRAILSPARK_PEERS)", func(c *node.Config, v string) { c.Peers = node.SplitList(v) })
	sf.int("node-port", "automanaged: this node's membership port, one of --peers (TRAILSPARK_NODE_PORT)", func(c *node.Config, v int) { c.NodePort = v })
	sf.int("cluster-port", "actor endpoint (gRPC) port; 0 = any free port (TRAILSPARK_CLUSTER_PORT)", func(c *node.Config, v int) { c.ClusterPort = v })
	sf.str("advertise-host", "host or IP other nodes reach this one at; not loopback = bind all interfaces; kubernetes: the pod IP (TRAILSPARK_ADVERTISE_HOST)", func(c *node.Config, v string) { c.AdvertiseHost = v })
	sf.str("kubernetes-namespace", "kubernetes: the pod's namespace; default the service account's (TRAILSPARK_KUBERNETES_NAMESPACE)", func(c *node.Config, v string) { c.KubernetesNamespace = v })
	sf.str("kubernetes-api-server", "kubernetes: API server URL for a node outside a pod; default in-cluster (TRAILSPARK_KUBERNETES_API_SERVER)", func(c *node.Config, v string) { c.KubernetesAPIServer = v })
	sf.str("kubernetes-token-file", "kubernetes: bearer token file for --kubernetes-api-server (TRAILSPARK_KUBERNETES_TOKEN_FILE)", func(c *node.Config, v string) { c.KubernetesTokenFile = v })
	sf.str("kubernetes-ca-file", "kubernetes: CA (PEM) of --kubernetes-api-server (TRAILSPARK_KUBERNETES_CA_FILE)", func(c *node.Config, v string) { c.KubernetesCAFile = v })
	sf.str("consul-address", "consul: the agent's HTTP API, host:port or http(s)://host:port, usually the local agent (TRAILSPARK_CONSUL_ADDRESS)", func(c *node.Config, v string) { c.ConsulAddress = v })
	sf.str("consul-token-file", "consul: file holding the ACL token (TRAILSPARK_CONSUL_TOKEN_FILE)", func(c *node.Config, v string) { c.ConsulTokenFile = v })
	sf.str("consul-ca-file", "consul: CA (PEM) of an https:// --consul-address (TRAILSPARK_CONSUL_CA_FILE)", func(c *node.Config, v string) { c.ConsulCAFile = v })
	sf.str("etcd-endpoints", "etcd: client URLs, http(s)://host:2379,... (TRAILSPARK_ETCD_ENDPOINTS)", func(c *node.Config, v string) { c.EtcdEndpoints = node.SplitList(v) })
	sf.str("etcd-username", "etcd: user name, with --etcd-password-file, when etcd has auth on (TRAILSPARK_ETCD_USERNAME)", func(c *node.Config, v string) { c.EtcdUsername = v })
	sf.str("etcd-password-file", "etcd: file holding the password of --etcd-username (TRAILSPARK_ETCD_PASSWORD_FILE)", func(c *node.Config, v string) { c.EtcdPasswordFile = v })
	sf.str("etcd-ca-file", "etcd: CA (PEM) of https:// endpoints (TRAILSPARK_ETCD_CA_FILE)", func(c *node.Config, v string) { c.EtcdCAFile = v })
	sf.str("etcd-prefix", "etcd: key prefix, the same on every node; default /trailspark (TRAILSPARK_ETCD_PREFIX)", func(c *node.Config, v string) { c.EtcdPrefix = v })
	return cmd
}

// settingFlags binds serve's flags to settings: a flag given on the command
// line overrides the file and the environment; one not given leaves them.
type settingFlags struct {
	fs  *pflag.FlagSet
	set []func(*node.Config)
}

func (s *settingFlags) str(name, usage string, to func(*node.Config, string)) {
	bind(s, s.fs.String(name, "", usage), name, to)
}

func (s *settingFlags) int(name, usage string, to func(*node.Config, int)) {
	bind(s, s.fs.Int(name, 0, usage), name, to)
}

func (s *settingFlags) bool(name, usage string, to func(*node.Config, bool)) {
	bind(s, s.fs.Bool(name, false, usage), name, to)
}

// bind sets the setting from flag name's value v when the flag was given.
func bind[T any](s *settingFlags, v *T, name string, to func(*node.Config, T)) {
	s.set = append(s.set, func(c *node.Config) {
		if s.fs.Changed(name) {
			to(c, *v)
		}
	})
}

func (s *settingFlags) apply(c *node.Config) {
	for _, set := range s.set {
		set(c)
	}
}

func serve(cmd *cobra.Command, cfg node.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := node.NewLogger(cfg, os.Stderr)
	start := time.Now()
	n, err := node.Start(cfg, log)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	where := "data in " + cfg.DataDir
	if cfg.StoreKind() == node.StorePostgres {
		where = "state in PostgreSQL"
	}
	switch {
	case cfg.Cluster && cfg.ClusterProvider == "kubernetes":
		where += ", cluster member via kubernetes (pod labels)"
	case cfg.Cluster && cfg.ClusterProvider == "consul":
		where += ", cluster member via consul (agent " + cfg.ConsulAddress + ")"
	case cfg.Cluster && cfg.ClusterProvider == "etcd":
		where += ", cluster member via etcd (" + strings.Join(cfg.EtcdEndpoints, ",") + ")"
	case cfg.Cluster:
		where += fmt.Sprintf(", cluster member via %s on node port %d", cfg.ClusterProvider, cfg.NodePort)
	}
	fmt.Fprintf(out, "TrailSpark %s listening on %s (%s)\n", version, n.URL, where)
	switch {
	case n.GeneratedOperatorToken != "":
		fmt.Fprintf(out, "Operator token (shown once; also saved to %s, mode 0600):\n  %s\n", n.OperatorTokenFile, n.GeneratedOperatorToken)
		fmt.Fprintf(out, "Try:  curl -H \"Authorization: Bearer $(cat %s)\" %s/api/v1/orgs\n", n.OperatorTokenFile, n.URL)
	case n.OperatorTokenFile != "":
		fmt.Fprintf(out, "Operator token: in %s (send it as Authorization: Bearer ...)\n", n.OperatorTokenFile)
		fmt.Fprintf(out, "Try:  curl -H \"Authorization: Bearer $(cat %s)\" %s/api/v1/orgs\n", n.OperatorTokenFile, n.URL)
	default:
		fmt.Fprintf(out, "Operator token: the configured one (TRAILSPARK_ADMIN_TOKEN or admin_token_file; send it as Authorization: Bearer ...)\n")
	}
	fmt.Fprintf(out, "Users: POST %s/api/v1/auth/register, then /api/v1/auth/login. API reference: %s/openapi.yaml\n", n.URL, n.URL)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := n.WaitReady(rctx); err == nil {
			log.Info("ready", "url", n.URL, "startup_ms", time.Since(start).Milliseconds())
		}
	}()
	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-n.Served():
		if errors.Is(serveErr, http.ErrServerClosed) {
			serveErr = nil
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := n.Shutdown(sctx); err != nil && serveErr == nil {
		serveErr = err
	}
	log.Info("stopped")
	return serveErr
}
