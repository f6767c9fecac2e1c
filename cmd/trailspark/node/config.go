// Package node assembles and runs one TrailSpark node: configuration, the
// state store, the cluster member, the grains and the HTTP API. `trailspark
// serve` and the end-to-end tests use it, so tests run the same assembly
// operators do.
package node

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/trailspark/trailspark/cluster"
	"github.com/trailspark/trailspark/engine/seal"
)

// Secret is a string that never prints itself.
type Secret string

// String redacts.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts for %#v.
func (s Secret) GoString() string { return `"[redacted]"` }

// MarshalYAML redacts, so a dumped config never leaks.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON redacts.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// Duration reads "90s", "12h" in YAML and the environment.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 90s or 12h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML prints a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// StringList is a list setting: a YAML list or a comma-separated string
// (the form TRAILSPARK_* variables and flags use).
type StringList []string

// UnmarshalYAML accepts a list or a comma-separated string.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = SplitList(n.Value)
		return nil
	}
	var v []string
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("line %d: want a list of strings or a comma-separated string", n.Line)
	}
	*l = StringList(v)
	return nil
}

// SplitList splits a comma-separated list, trimming blanks.
func SplitList(s string) StringList {
	var out StringList
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// Store kinds.
const (
	StoreBadger   = "badger"
	StorePostgres = "postgres"
)

// Config is everything a node needs. Precedence: defaults, then the file
// (--config), then TRAILSPARK_* environment variables, then flags.
type Config struct {
	Listen     string `yaml:"listen" env:"TRAILSPARK_LISTEN"`
	DataDir    string `yaml:"data_dir" env:"TRAILSPARK_DATA_DIR"`
	PluginsDir string `yaml:"plugins_dir" env:"TRAILSPARK_PLUGINS_DIR"`
	// AdminToken is the operator credential; empty: read from
	// AdminTokenFile, else generated on first start into
	// <data_dir>/operator-token (single node only).
	AdminToken Secret `yaml:"admin_token" env:"TRAILSPARK_ADMIN_TOKEN"`
	// AdminTokenFile is a file holding the operator credential (a mounted
	// Kubernetes Secret, a systemd credential).
	AdminTokenFile string `yaml:"admin_token_file" env:"TRAILSPARK_ADMIN_TOKEN_FILE"`
	// EncryptionKey (32 bytes, base64 or hex) seals secrets at rest; empty:
	// read from EncryptionKeyFile, else generated on first start into
	// <data_dir>/encryption.key (single node only).
	EncryptionKey Secret `yaml:"encryption_key" env:"TRAILSPARK_ENCRYPTION_KEY"`
	// EncryptionKeyFile is a file holding the encryption key.
	EncryptionKeyFile string `yaml:"encryption_key_file" env:"TRAILSPARK_ENCRYPTION_KEY_FILE"`
	// Store is where state lives: empty or "badger" = embedded Badger in
	// data_dir (one node); a postgres:// URL = PostgreSQL, which cluster
	// mode needs. A secret: the URL may carry a password.
	Store Secret `yaml:"store" env:"TRAILSPARK_STORE"`
	// Cluster runs the node as one member of several sharing Store.
	Cluster bool `yaml:"cluster" env:"TRAILSPARK_CLUSTER"`
	// ClusterProvider is how members find each other: local (one node,
	// the default), automanaged (a static peer list), kubernetes (pod
	// labels through the Kubernetes API), consul (a service in a Consul
	// agent) or etcd (leased keys in etcd); the last three are
	// protoactor's own providers.
	ClusterProvider string `yaml:"cluster_provider" env:"TRAILSPARK_CLUSTER_PROVIDER"`
	// KubernetesNamespace is the namespace of this node's pod (kubernetes
	// provider). In a pod it may stay empty (the service account's is
	// used) and must not differ from it; out of a pod it is required.
	KubernetesNamespace string `yaml:"kubernetes_namespace" env:"TRAILSPARK_KUBERNETES_NAMESPACE"`
	// KubernetesAPIServer is the API server's URL for a node that does not
	// run in a pod (kubernetes provider); empty: the in-cluster service
	// account. KubernetesTokenFile holds its bearer token and
	// KubernetesCAFile its CA (PEM); KubernetesInsecure skips TLS
	// verification (tests only).
	KubernetesAPIServer string `yaml:"kubernetes_api_server" env:"TRAILSPARK_KUBERNETES_API_SERVER"`
	KubernetesTokenFile string `yaml:"kubernetes_token_file" env:"TRAILSPARK_KUBERNETES_TOKEN_FILE"`
	KubernetesCAFile    string `yaml:"kubernetes_ca_file" env:"TRAILSPARK_KUBERNETES_CA_FILE"`
	KubernetesInsecure  bool   `yaml:"kubernetes_insecure" env:"TRAILSPARK_KUBERNETES_INSECURE"`
	// ConsulAddress is the Consul agent's HTTP API (consul provider):
	// host:port, http://host:port or https://host:port, usually the
	// node's local agent. ConsulTokenFile holds its ACL token;
	// ConsulCAFile its CA (PEM) for https.
	ConsulAddress   string `yaml:"consul_address" env:"TRAILSPARK_CONSUL_ADDRESS"`
	ConsulTokenFile string `yaml:"consul_token_file" env:"TRAILSPARK_CONSUL_TOKEN_FILE"`
	ConsulCAFile    string `yaml:"consul_ca_file" env:"TRAILSPARK_CONSUL_CA_FILE"`
	// EtcdEndpoints are etcd's client URLs (etcd provider), http:// or
	// https://. EtcdUsername and EtcdPasswordFile authenticate when etcd
	// has auth enabled; EtcdCAFile is the CA (PEM) of https endpoints;
	// EtcdPrefix is the key prefix (default /trailspark), the same on
	// every node.
	EtcdEndpoints    StringList `yaml:"etcd_endpoints" env:"TRAILSPARK_ETCD_ENDPOINTS"`
	EtcdUsername     string     `yaml:"etcd_username" env:"TRAILSPARK_ETCD_USERNAME"`
	EtcdPasswordFile string     `yaml:"etcd_password_file" env:"TRAILSPARK_ETCD_PASSWORD_FILE"`
	EtcdCAFile       string     `yaml:"etcd_ca_file" env:"TRAILSPARK_ETCD_CA_FILE"`
	EtcdPrefix       string     `yaml:"etcd_prefix" env:"TRAILSPARK_ETCD_PREFIX"`
	// Peers are the node ports (host:port) of every node, this one
	// included (automanaged provider).
	Peers StringList `yaml:"peers" env:"TRAILSPARK_PEERS"`
	// NodePort is this node's membership port, the one Peers list
	// (automanaged provider).
	NodePort int `yaml:"node_port" env:"TRAILSPARK_NODE_PORT"`
	// AdvertiseHost is the host or IP other nodes reach this node at
	// (default 127.0.0.1; any other value makes the node bind all
	// interfaces for its node port and actor endpoint).
	AdvertiseHost string `yaml:"advertise_host" env:"TRAILSPARK_ADVERTISE_HOST"`
	LogFormat     string `yaml:"log_format" env:"TRAILSPARK_LOG_FORMAT"` // json | text
	LogLevel      string `yaml:"log_level" env:"TRAILSPARK_LOG_LEVEL"`   // trace | debug | info | warn | error
	// SyncWrites makes every store commit durable against power loss, not
	// only against a crash of the process (slower).
	SyncWrites bool `yaml:"sync_writes" env:"TRAILSPARK_SYNC_WRITES"`
	// StoreProfile bounds Badger's memory: server | small.
	StoreProfile string `yaml:"store_profile" env:"TRAILSPARK_STORE_PROFILE"`
	// StorePageOutInterval is how often the node hands the resident pages
	// of Badger's memory-mapped table files back to the kernel (Linux;
	// negative: never). See docs/operations.md, Memory.
	StorePageOutInterval Duration `yaml:"store_page_out_interval" env:"TRAILSPARK_STORE_PAGE_OUT_INTERVAL"`
	// MemoryLimitMiB sets Go's soft memory limit for the node (0: none
	// beyond GOMEMLIMIT's): the collector works harder instead of growing
	// the heap past it.
	MemoryLimitMiB       int      `yaml:"memory_limit_mib" env:"TRAILSPARK_MEMORY_LIMIT_MIB"`
	SessionTTL           Duration `yaml:"session_ttl" env:"TRAILSPARK_SESSION_TTL"`
	GrainIdleTimeout     Duration `yaml:"grain_idle_timeout" env:"TRAILSPARK_GRAIN_IDLE_TIMEOUT"`
	AllowUserOrgCreation bool     `yaml:"allow_user_org_creation" env:"TRAILSPARK_ALLOW_USER_ORG_CREATION"`
	MaxBodyBytes         int64    `yaml:"max_body_bytes" env:"TRAILSPARK_MAX_BODY_BYTES"`
	// PasswordHashing: default | fast (fast is for tests and benchmarks only).
	PasswordHashing string `yaml:"password_hashing" env:"TRAILSPARK_PASSWORD_HASHING"`
	// ClusterPort is the node's actor endpoint (gRPC) port (0 = any free
	// port; members learn it through the node port).
	ClusterPort int `yaml:"cluster_port" env:"TRAILSPARK_CLUSTER_PORT"`
	// PlansFile is a YAML or JSON list of plans (engine/plan.Plan fields);
	// empty: the shipped defaults (free, starter, growth, scale).
	PlansFile string `yaml:"plans_file" env:"TRAILSPARK_PLANS_FILE"`
	// DebugPprof serves Go's profiler at /debug/pprof/ to the operator.
	DebugPprof bool `yaml:"debug_pprof" env:"TRAILSPARK_DEBUG_PPROF"`
	// Ingestion rate limits of this node, in signals per second and bucket
	// sizes, per API key and per organization (0 rate = unlimited). In a
	// cluster each node enforces its own: divide the quota by the nodes.
	IngestRatePerKey  int `yaml:"ingest_rate_per_key" env:"TRAILSPARK_INGEST_RATE_PER_KEY"`
	IngestBurstPerKey int `yaml:"ingest_burst_per_key" env:"TRAILSPARK_INGEST_BURST_PER_KEY"`
	IngestRatePerOrg  int `yaml:"ingest_rate_per_org" env:"TRAILSPARK_INGEST_RATE_PER_ORG"`
	IngestBurstPerOrg int `yaml:"ingest_burst_per_org" env:"TRAILSPARK_INGEST_BURST_PER_ORG"`
}

// Default returns the single-node defaults.
func Default() Config {
	return Config{
		Listen:               "127.0.0.1:8080",
		DataDir:              "./data",
		PluginsDir:           "./bin/plugins",
		LogFormat:            "json",
		LogLevel:             "info",
		StoreProfile:         "server",
		StorePageOutInterval: Duration(10 * time.Second),
		SessionTTL:           Duration(24 * time.Hour),
		GrainIdleTimeout:     Duration(10 * time.Minute),
		AllowUserOrgCreation: true,
		MaxBodyBytes:         1 << 20,
		PasswordHashing:      "default",
		IngestRatePerKey:     10000,
		IngestBurstPerKey:    20000,
		IngestRatePerOrg:     20000,
		IngestBurstPerOrg:    40000,
		ClusterProvider:      "local",
	}
}

// LoadFile overlays a YAML file; unknown keys are errors so typos surface.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// LoadEnv overlays TRAILSPARK_* variables found by lookup (os.LookupEnv).
func (c *Config) LoadEnv(lookup func(string) (string, bool)) error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("env")
		raw, ok := lookup(name)
		if name == "" || !ok {
			continue
		}
		f := v.Field(i)
		switch f.Interface().(type) {
		case Duration:
			d, err := time.ParseDuration(raw)
			if err != nil {
				return fmt.Errorf("%s: %q is not a duration like 90s or 12h", name, raw)
			}
			f.SetInt(int64(d))
		case bool:
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return fmt.Errorf("%s: %q is not true or false", name, raw)
			}
			f.SetBool(b)
		case StringList:
			f.Set(reflect.ValueOf(SplitList(raw)))
		case int, int64:
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				return fmt.Errorf("%s: %q is not an integer", name, raw)
			}
			f.SetInt(n)
		default:
			f.SetString(raw)
		}
	}
	return nil
}

// StoreKind is StoreBadger or StorePostgres ("" for a bad store setting).
func (c *Config) StoreKind() string {
	switch s := strings.TrimSpace(string(c.Store)); {
	case s == "" || s == StoreBadger:
		return StoreBadger
	case strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://"):
		return StorePostgres
	}
	return ""
}

// Cluster providers (cluster.Providers()), and the one of protoactor-go
// this build does not have.
var (
	clusterProviders  = []string{"local", "automanaged", "kubernetes", "consul", "etcd"}
	missingProviders  = []string{"zk", "zookeeper"}
	loopbackAdvertise = []string{"", "127.0.0.1", "localhost", "::1"}
)

// LoopbackCluster reports whether the node binds loopback only (the
// advertised host is a loopback one).
func (c *Config) LoopbackCluster() bool { return slices.Contains(loopbackAdvertise, c.AdvertiseHost) }

func (c *Config) validateCluster(add func(string, ...any)) {
	kind := c.StoreKind()
	if kind == "" {
		add("store: must be badger (the default) or a postgres://user:pass@host:5432/db URL")
	}
	switch {
	case slices.Contains(clusterProviders, c.ClusterProvider):
	case slices.Contains(missingProviders, c.ClusterProvider):
		add("cluster_provider: %q is not available in this build (protoactor's zk provider is not built in); use kubernetes in Kubernetes, consul or etcd with one of those, automanaged with a peer list elsewhere, see docs/decisions/0009-cluster-mode.md", c.ClusterProvider)
	case c.ClusterProvider == "k8s":
		add("cluster_provider: %q: the name is kubernetes", c.ClusterProvider)
	default:
		add("cluster_provider: %q must be local, automanaged, kubernetes, consul or etcd", c.ClusterProvider)
	}
	if c.AdminToken != "" && c.AdminTokenFile != "" {
		add("admin_token_file: set admin_token or admin_token_file, not both")
	}
	if c.EncryptionKey != "" && c.EncryptionKeyFile != "" {
		add("encryption_key_file: set encryption_key or encryption_key_file, not both")
	}
	if strings.ContainsAny(c.AdvertiseHost, " /:") && net.ParseIP(c.AdvertiseHost) == nil {
		add("advertise_host: %q must be a host name or an IP address, without a port", c.AdvertiseHost)
	}
	if c.NodePort < 0 || c.NodePort > 65535 {
		add("node_port: %d is not a port", c.NodePort)
	}
	for _, p := range c.Peers {
		if h, port, err := net.SplitHostPort(p); err != nil || h == "" || port == "" || port == "0" {
			add("peers: %q is not host:port (the node port of a node)", p)
		}
	}
	c.validateKubernetes(add)
	c.validateConsul(add)
	c.validateEtcd(add)
	if !c.Cluster {
		if c.ClusterProvider != "" && c.ClusterProvider != "local" && slices.Contains(clusterProviders, c.ClusterProvider) {
			add("cluster_provider: %s is for cluster mode: also set --cluster (cluster: true)", c.ClusterProvider)
		}
		return
	}
	if kind == StoreBadger {
		add("cluster: cluster mode needs --store postgres://… (a PostgreSQL database every node shares); Badger is one node's disk")
	}
	if c.ClusterProvider == "local" || c.ClusterProvider == "" {
		add("cluster_provider: local is one node only; cluster mode needs --cluster-provider kubernetes (in Kubernetes), consul, etcd, or automanaged with --peers")
	}
	if c.ClusterProvider == "automanaged" {
		if len(c.Peers) == 0 {
			add("peers: the automanaged provider needs the node ports of all nodes (--peers host:port,host:port,…)")
		}
		if c.NodePort == 0 {
			add("node_port: the automanaged provider needs this node's node port (--node-port, one of --peers)")
		}
	}
	if c.ClusterProvider == "kubernetes" {
		if len(c.Peers) > 0 || c.NodePort != 0 {
			add("peers: the kubernetes provider finds the pods itself; peers and node_port are for automanaged")
		}
		if c.LoopbackCluster() || net.ParseIP(c.AdvertiseHost) == nil || net.ParseIP(c.AdvertiseHost).IsUnspecified() {
			add("advertise_host: the kubernetes provider reaches members at their pod IP: set TRAILSPARK_ADVERTISE_HOST to status.podIP (downward API), not %q", c.AdvertiseHost)
		}
	}
	if c.ClusterProvider == "consul" || c.ClusterProvider == "etcd" {
		if len(c.Peers) > 0 || c.NodePort != 0 {
			add("peers: the %s provider finds the members itself; peers and node_port are for automanaged", c.ClusterProvider)
		}
		if ip := net.ParseIP(c.AdvertiseHost); ip != nil && ip.IsUnspecified() {
			add("advertise_host: the %s provider registers the address other members reach this node at; %q is not one (name this host's address)", c.ClusterProvider, c.AdvertiseHost)
		}
	}
	// Secrets generated per node would differ between nodes: one node
	// could not open what another sealed, nor accept its operator token.
	if c.EncryptionKey == "" && c.EncryptionKeyFile == "" {
		add("encryption_key: cluster mode needs the same key on every node: set TRAILSPARK_ENCRYPTION_KEY or encryption_key_file (generate one with: openssl rand -base64 32); it is not generated per node")
	}
	if c.AdminToken == "" && c.AdminTokenFile == "" {
		add("admin_token: cluster mode needs the same operator token on every node: set TRAILSPARK_ADMIN_TOKEN or admin_token_file; it is not generated per node")
	}
}

// validateKubernetes checks the kubernetes provider's settings, which only
// that provider takes.
func (c *Config) validateKubernetes(add func(string, ...any)) {
	set := c.KubernetesNamespace != "" || c.KubernetesAPIServer != "" || c.KubernetesTokenFile != "" || c.KubernetesCAFile != "" || c.KubernetesInsecure
	if c.ClusterProvider != "kubernetes" {
		if set {
			add("kubernetes_namespace: the kubernetes_* settings are for --cluster-provider kubernetes, not %q", c.ClusterProvider)
		}
		return
	}
	if ns := c.KubernetesNamespace; ns != "" && !dnsLabel.MatchString(ns) {
		add("kubernetes_namespace: %q is not a namespace name (lower-case letters, digits and '-', at most 63)", ns)
	}
	if c.KubernetesAPIServer == "" {
		if c.KubernetesTokenFile != "" || c.KubernetesCAFile != "" || c.KubernetesInsecure {
			add("kubernetes_api_server: kubernetes_token_file, kubernetes_ca_file and kubernetes_insecure are for a named API server; in a pod the service account's are used")
		}
		return
	}
	if u, err := url.Parse(c.KubernetesAPIServer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add("kubernetes_api_server: %q must be an https:// URL", c.KubernetesAPIServer)
	}
	if c.KubernetesNamespace == "" {
		add("kubernetes_namespace: a node outside a pod (kubernetes_api_server set) must name its pod's namespace")
	}
	if c.KubernetesTokenFile == "" {
		add("kubernetes_token_file: a node outside a pod (kubernetes_api_server set) needs a bearer token file")
	}
	if c.KubernetesCAFile != "" && c.KubernetesInsecure {
		add("kubernetes_insecure: set kubernetes_ca_file or kubernetes_insecure, not both")
	}
}

// validateConsul checks the consul provider's settings.
func (c *Config) validateConsul(add func(string, ...any)) {
	if c.ClusterProvider != "consul" {
		if c.ConsulAddress != "" || c.ConsulTokenFile != "" || c.ConsulCAFile != "" {
			add("consul_address: the consul_* settings are for --cluster-provider consul, not %q", c.ClusterProvider)
		}
		return
	}
	https := false
	switch a := c.ConsulAddress; {
	case a == "":
		add("consul_address: the consul provider needs the agent's HTTP API address (--consul-address 127.0.0.1:8500, or https://…)")
	case strings.Contains(a, "://"):
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			add("consul_address: %q must be host:port, http://host:port or https://host:port", a)
		}
		https = err == nil && u.Scheme == "https"
	default:
		if h, port, err := net.SplitHostPort(a); err != nil || h == "" || port == "" {
			add("consul_address: %q must be host:port, http://host:port or https://host:port", a)
		}
	}
	if c.ConsulCAFile != "" && !https {
		add("consul_ca_file: a CA is for an https:// consul_address")
	}
}

// validateEtcd checks the etcd provider's settings.
func (c *Config) validateEtcd(add func(string, ...any)) {
	if c.ClusterProvider != "etcd" {
		if len(c.EtcdEndpoints) > 0 || c.EtcdUsername != "" || c.EtcdPasswordFile != "" || c.EtcdCAFile != "" || c.EtcdPrefix != "" {
			add("etcd_endpoints: the etcd_* settings are for --cluster-provider etcd, not %q", c.ClusterProvider)
		}
		return
	}
	if len(c.EtcdEndpoints) == 0 {
		add("etcd_endpoints: the etcd provider needs etcd's client URLs (--etcd-endpoints http://host:2379,…)")
	}
	schemes := map[string]bool{}
	for _, e := range c.EtcdEndpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			add("etcd_endpoints: %q must be an http://host:port or https://host:port URL", e)
			continue
		}
		schemes[u.Scheme] = true
	}
	if len(schemes) > 1 {
		add("etcd_endpoints: all http:// or all https://, not both")
	}
	if c.EtcdCAFile != "" && !schemes["https"] {
		add("etcd_ca_file: a CA is for https:// etcd_endpoints")
	}
	if (c.EtcdUsername == "") != (c.EtcdPasswordFile == "") {
		add("etcd_username: set etcd_username and etcd_password_file together (or neither, when etcd has no auth)")
	}
	if p := c.EtcdPrefix; p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/")) {
		add("etcd_prefix: %q must start with / and not end with one (e.g. /trailspark)", p)
	}
}

// ClusterConsul is the consul provider's part of the cluster member's
// configuration.
func (c *Config) ClusterConsul() cluster.ConsulConfig {
	return cluster.ConsulConfig{Address: c.ConsulAddress, TokenFile: c.ConsulTokenFile, CAFile: c.ConsulCAFile}
}

// ClusterEtcd is the etcd provider's part of the cluster member's
// configuration.
func (c *Config) ClusterEtcd() cluster.EtcdConfig {
	return cluster.EtcdConfig{Endpoints: c.EtcdEndpoints, Username: c.EtcdUsername, PasswordFile: c.EtcdPasswordFile,
		CAFile: c.EtcdCAFile, Prefix: c.EtcdPrefix}
}

// dnsLabel is a Kubernetes namespace name (RFC 1123 label).
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// ClusterKubernetes is the kubernetes provider's part of the cluster
// member's configuration.
func (c *Config) ClusterKubernetes() cluster.KubernetesConfig {
	return cluster.KubernetesConfig{Namespace: c.KubernetesNamespace, APIServer: c.KubernetesAPIServer,
		TokenFile: c.KubernetesTokenFile, CAFile: c.KubernetesCAFile, Insecure: c.KubernetesInsecure}
}

// Bounds of the ingestion rate-limit settings.
const (
	maxIngestRate  = 10_000_000
	maxIngestBurst = 100_000_000
)

// Validate reports every problem at once, each naming the setting.
func (c *Config) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen: %q is not host:port (e.g. 127.0.0.1:8080)", c.Listen)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		add("data_dir: required")
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		add("admin_token: must be at least 16 characters")
	}
	if c.EncryptionKey != "" {
		if _, err := seal.DecodeMasterKey(string(c.EncryptionKey)); err != nil {
			add("encryption_key: must be 32 bytes, base64 or hex encoded (generate one with: openssl rand -base64 32)")
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		add("log_format: %q must be json or text", c.LogFormat)
	}
	switch c.LogLevel {
	case "trace", "debug", "info", "warn", "error":
	default:
		add("log_level: %q must be trace, debug, info, warn or error", c.LogLevel)
	}
	if c.StoreProfile != "server" && c.StoreProfile != "small" {
		add("store_profile: %q must be server or small", c.StoreProfile)
	}
	if c.MemoryLimitMiB != 0 && c.MemoryLimitMiB < 128 {
		add("memory_limit_mib: %d must be 0 (no limit) or at least 128", c.MemoryLimitMiB)
	}
	if c.SessionTTL < Duration(time.Minute) || c.SessionTTL > Duration(90*24*time.Hour) {
		add("session_ttl: %s must be between 1m and 2160h", time.Duration(c.SessionTTL))
	}
	if c.GrainIdleTimeout < Duration(time.Second) {
		add("grain_idle_timeout: %s must be at least 1s", time.Duration(c.GrainIdleTimeout))
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
		add("max_body_bytes: %d must be between 1024 and 67108864", c.MaxBodyBytes)
	}
	if c.PasswordHashing != "default" && c.PasswordHashing != "fast" {
		add("password_hashing: %q must be default or fast", c.PasswordHashing)
	}
	if c.ClusterPort < 0 || c.ClusterPort > 65535 {
		add("cluster_port: %d is not a port", c.ClusterPort)
	}
	c.validateCluster(add)
	for _, l := range []struct {
		name        string
		rate, burst int
	}{{"per_key", c.IngestRatePerKey, c.IngestBurstPerKey}, {"per_org", c.IngestRatePerOrg, c.IngestBurstPerOrg}} {
		if l.rate < 0 || l.rate > maxIngestRate {
			add("ingest_rate_%s: %d must be between 0 (unlimited) and %d signals/s", l.name, l.rate, maxIngestRate)
		}
		switch {
		case l.burst < 0 || l.burst > maxIngestBurst:
			add("ingest_burst_%s: %d must be between 0 and %d signals (at least 1 while ingest_rate_%s is not 0)", l.name, l.burst, maxIngestBurst, l.name)
		case l.rate > 0 && l.burst < 1:
			add("ingest_burst_%s: must be at least 1 while ingest_rate_%s is not 0", l.name, l.name)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}
