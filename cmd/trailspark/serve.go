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

	"github.com/trailspark/trailspark/cmd/trailspark/node"
)

func newServeCmd() *cobra.Command {
	var configPath, dataDir, listen, pluginsDir, logFormat, logLevel string
	var storeURL, provider, peers, advertise string
	var k8sNamespace, k8sAPIServer, k8sTokenFile, k8sCAFile string
	var consulAddress, consulTokenFile, consulCAFile string
	var etcdEndpoints, etcdUsername, etcdPasswordFile, etcdCAFile, etcdPrefix string
	var clusterMode bool
	var nodePort, clusterPort int
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
			flags := cmd.Flags()
			if flags.Changed("data-dir") {
				cfg.DataDir = dataDir
			}
			if flags.Changed("listen") {
				cfg.Listen = listen
			}
			if flags.Changed("plugins-dir") {
				cfg.PluginsDir = pluginsDir
			}
			if flags.Changed("log-format") {
				cfg.LogFormat = logFormat
			}
			if flags.Changed("log-level") {
				cfg.LogLevel = logLevel
			}
			if flags.Changed("store") {
				cfg.Store = node.Secret(storeURL)
			}
			if flags.Changed("cluster") {
				cfg.Cluster = clusterMode
			}
			if flags.Changed("cluster-provider") {
				cfg.ClusterProvider = provider
			}
			if flags.Changed("peers") {
				cfg.Peers = node.SplitList(peers)
			}
			if flags.Changed("node-port") {
				cfg.NodePort = nodePort
			}
			if flags.Changed("cluster-port") {
				cfg.ClusterPort = clusterPort
			}
			if flags.Changed("advertise-host") {
				cfg.AdvertiseHost = advertise
			}
			if flags.Changed("kubernetes-namespace") {
				cfg.KubernetesNamespace = k8sNamespace
			}
			if flags.Changed("kubernetes-api-server") {
				cfg.KubernetesAPIServer = k8sAPIServer
			}
			if flags.Changed("kubernetes-token-file") {
				cfg.KubernetesTokenFile = k8sTokenFile
			}
			if flags.Changed("kubernetes-ca-file") {
				cfg.KubernetesCAFile = k8sCAFile
			}
			for name, set := range map[string]func(){
				"consul-address":     func() { cfg.ConsulAddress = consulAddress },
				"consul-token-file":  func() { cfg.ConsulTokenFile = consulTokenFile },
				"consul-ca-file":     func() { cfg.ConsulCAFile = consulCAFile },
				"etcd-endpoints":     func() { cfg.EtcdEndpoints = node.SplitList(etcdEndpoints) },
				"etcd-username":      func() { cfg.EtcdUsername = etcdUsername },
				"etcd-password-file": func() { cfg.EtcdPasswordFile = etcdPasswordFile },
				"etcd-ca-file":       func() { cfg.EtcdCAFile = etcdCAFile },
				"etcd-prefix":        func() { cfg.EtcdPrefix = etcdPrefix },
			} {
				if flags.Changed(name) {
					set()
				}
			}
			return serve(cmd, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "YAML config file")
	f.StringVar(&dataDir, "data-dir", "", "data directory (TRAILSPARK_DATA_DIR; default ./data)")
	f.StringVar(&listen, "listen", "", "HTTP listen address (TRAILSPARK_LISTEN; default 127.0.0.1:8080)")
	f.StringVar(&pluginsDir, "plugins-dir", "", "connector plugins directory (TRAILSPARK_PLUGINS_DIR; default ./bin/plugins)")
	f.StringVar(&logFormat, "log-format", "", "json or text (TRAILSPARK_LOG_FORMAT; default json)")
	f.StringVar(&logLevel, "log-level", "", "trace, debug, info, warn or error (TRAILSPARK_LOG_LEVEL; default info)")
	f.StringVar(&storeURL, "store", "", "badger (embedded, in the data directory; the default) or a postgres:// URL (TRAILSPARK_STORE)")
	f.BoolVar(&clusterMode, "cluster", false, "run as one member of a cluster sharing a PostgreSQL --store (TRAILSPARK_CLUSTER)")
	f.StringVar(&provider, "cluster-provider", "", "membership: local (one node; default), automanaged (static --peers), kubernetes (pod labels through the Kubernetes API), consul (a service in a Consul agent) or etcd (leased keys) (TRAILSPARK_CLUSTER_PROVIDER)")
	f.StringVar(&peers, "peers", "", "automanaged: node ports of all nodes, host:port,host:port,... (TRAILSPARK_PEERS)")
	f.IntVar(&nodePort, "node-port", 0, "automanaged: this node's membership port, one of --peers (TRAILSPARK_NODE_PORT)")
	f.IntVar(&clusterPort, "cluster-port", 0, "actor endpoint (gRPC) port; 0 = any free port (TRAILSPARK_CLUSTER_PORT)")
	f.StringVar(&advertise, "advertise-host", "", "host or IP other nodes reach this one at; not loopback = bind all interfaces; kubernetes: the pod IP (TRAILSPARK_ADVERTISE_HOST)")
	f.StringVar(&k8sNamespace, "kubernetes-namespace", "", "kubernetes: the pod's namespace; default the service account's (TRAILSPARK_KUBERNETES_NAMESPACE)")
	f.StringVar(&k8sAPIServer, "kubernetes-api-server", "", "kubernetes: API server URL for a node outside a pod; default in-cluster (TRAILSPARK_KUBERNETES_API_SERVER)")
	f.StringVar(&k8sTokenFile, "kubernetes-token-file", "", "kubernetes: bearer token file for --kubernetes-api-server (TRAILSPARK_KUBERNETES_TOKEN_FILE)")
	f.StringVar(&k8sCAFile, "kubernetes-ca-file", "", "kubernetes: CA (PEM) of --kubernetes-api-server (TRAILSPARK_KUBERNETES_CA_FILE)")
	f.StringVar(&consulAddress, "consul-address", "", "consul: the agent's HTTP API, host:port or http(s)://host:port, usually the local agent (TRAILSPARK_CONSUL_ADDRESS)")
	f.StringVar(&consulTokenFile, "consul-token-file", "", "consul: file holding the ACL token (TRAILSPARK_CONSUL_TOKEN_FILE)")
	f.StringVar(&consulCAFile, "consul-ca-file", "", "consul: CA (PEM) of an https:// --consul-address (TRAILSPARK_CONSUL_CA_FILE)")
	f.StringVar(&etcdEndpoints, "etcd-endpoints", "", "etcd: client URLs, http(s)://host:2379,... (TRAILSPARK_ETCD_ENDPOINTS)")
	f.StringVar(&etcdUsername, "etcd-username", "", "etcd: user name, with --etcd-password-file, when etcd has auth on (TRAILSPARK_ETCD_USERNAME)")
	f.StringVar(&etcdPasswordFile, "etcd-password-file", "", "etcd: file holding the password of --etcd-username (TRAILSPARK_ETCD_PASSWORD_FILE)")
	f.StringVar(&etcdCAFile, "etcd-ca-file", "", "etcd: CA (PEM) of https:// endpoints (TRAILSPARK_ETCD_CA_FILE)")
	f.StringVar(&etcdPrefix, "etcd-prefix", "", "etcd: key prefix, the same on every node; default /trailspark (TRAILSPARK_ETCD_PREFIX)")
	return cmd
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
