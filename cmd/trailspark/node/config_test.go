package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "trailspark.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:9000\ndata_dir: /from/file\nsession_ttl: 2h\nlog_level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	if err := cfg.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TRAILSPARK_DATA_DIR": "/from/env", "TRAILSPARK_SYNC_WRITES": "true", "TRAILSPARK_GRAIN_IDLE_TIMEOUT": "30s",
		"TRAILSPARK_MEMORY_LIMIT_MIB": "900", "TRAILSPARK_STORE_PAGE_OUT_INTERVAL": "-1s"}
	if err := cfg.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen from file", cfg.Listen, "127.0.0.1:9000"},
		{"data_dir env beats file", cfg.DataDir, "/from/env"},
		{"session_ttl from file", time.Duration(cfg.SessionTTL), 2 * time.Hour},
		{"log_level from file", cfg.LogLevel, "debug"},
		{"sync_writes from env", cfg.SyncWrites, true},
		{"idle from env", time.Duration(cfg.GrainIdleTimeout), 30 * time.Second},
		{"format default kept", cfg.LogFormat, "json"},
		{"memory limit from env", cfg.MemoryLimitMiB, 900},
		{"page-out off from env", pageOutInterval(cfg.StorePageOutInterval) < 0, true},
		{"page-out default", pageOutInterval(Default().StorePageOutInterval), 10 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

func TestConfigFileUnknownKey(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "c.yaml")
	_ = os.WriteFile(file, []byte("lisen: 1.2.3.4:5\n"), 0o600)
	cfg := Default()
	if err := cfg.LoadFile(file); err == nil || !strings.Contains(err.Error(), "lisen") {
		t.Fatalf("unknown key not reported: %v", err)
	}
}

func TestConfigEnvErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	for _, kv := range [][2]string{{"TRAILSPARK_SESSION_TTL", "soon"}, {"TRAILSPARK_SYNC_WRITES", "maybe"}, {"TRAILSPARK_MAX_BODY_BYTES", "big"}} {
		cfg := Default()
		err := cfg.LoadEnv(func(k string) (string, bool) { return kv[1], k == kv[0] })
		if err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s=%s: error %v does not name the variable", kv[0], kv[1], err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*Config)
		problem string
	}{
		{"listen", func(c *Config) { c.Listen = "8080" }, "listen:"},
		{"data dir", func(c *Config) { c.DataDir = " " }, "data_dir:"},
		{"short admin token", func(c *Config) { c.AdminToken = "short" }, "admin_token:"},
		{"bad encryption key", func(c *Config) { c.EncryptionKey = "not-a-key" }, "encryption_key:"},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, "log_format:"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "log_level:"},
		{"store profile", func(c *Config) { c.StoreProfile = "huge" }, "store_profile:"},
		{"memory limit", func(c *Config) { c.MemoryLimitMiB = 64 }, "memory_limit_mib:"},
		{"session ttl", func(c *Config) { c.SessionTTL = Duration(time.Second) }, "session_ttl:"},
		{"idle", func(c *Config) { c.GrainIdleTimeout = 0 }, "grain_idle_timeout:"},
		{"body", func(c *Config) { c.MaxBodyBytes = 1 }, "max_body_bytes:"},
		{"kdf", func(c *Config) { c.PasswordHashing = "none" }, "password_hashing:"},
		{"port", func(c *Config) { c.ClusterPort = 70000 }, "cluster_port:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("Validate() = %v, want a problem naming %q", err, tc.problem)
			}
		})
	}
	// Every problem is reported at once.
	c := Default()
	c.Listen, c.LogLevel = "x", "y"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "listen:") || !strings.Contains(err.Error(), "log_level:") {
		t.Fatalf("not all problems reported: %v", err)
	}
}

func TestSecretsRedactThemselves(t *testing.T) {
	t.Parallel()
	c := Default()
	c.AdminToken = "super-secret-operator-token"
	c.EncryptionKey = "c3VwZXItc2VjcmV0LWtleS1tYXRlcmlhbC0zMmJ5dGVzISE="
	y, _ := yaml.Marshal(c)
	j, _ := json.Marshal(c)
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"String": c.AdminToken.String(), "yaml": string(y), "json": string(j),
	} {
		if strings.Contains(out, "super-secret") || strings.Contains(out, "c3VwZXIt") {
			t.Errorf("%s printed a secret: %s", name, out)
		}
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s")
	calls := 0
	gen := func() (string, error) { calls++; return fmt.Sprintf("v%d", calls), nil }
	v1, err := loadOrCreateSecret(path, "", gen)
	if err != nil || v1 != "v1" {
		t.Fatalf("first = %q, %v", v1, err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	if v2, _ := loadOrCreateSecret(path, "", gen); v2 != "v1" || calls != 1 {
		t.Fatalf("second start regenerated: %q after %d calls", v2, calls)
	}
	if v3, _ := loadOrCreateSecret(path, "given", gen); v3 != "given" {
		t.Fatalf("given value ignored: %q", v3)
	}
}

func TestLoadPlans(t *testing.T) {
	t.Parallel()
	def, err := LoadPlans("")
	if err != nil || len(def) != 4 || def[0].ID != "free" {
		t.Fatalf("defaults: %v %v", def, err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "plans.yaml")
	_ = os.WriteFile(good, []byte(`
- id: team
  name: Team
  price_monthly_cents: 9900
  price_yearly_cents: 95000
  limits: {signals: 200000, models: 5, active_leads: 20000, evaluations: 10000, refinements: 50}
  retention_days: 180
  overages: true
  overage_unit_cents: {signals: 50, evaluations: 2}
`), 0o600)
	plans, err := LoadPlans(good)
	if err != nil || len(plans) != 1 || plans[0].Limits.Signals != 200000 || plans[0].OverageUnitCents.Signals != 50 {
		t.Fatalf("plans file: %+v %v", plans, err)
	}
	for name, body := range map[string]string{
		"unknown field": "- id: x\n  name: X\n  colour: red\n",
		"invalid plan":  "- id: ''\n  name: X\n",
		"not a list":    "id: x\n",
		"empty":         "[]\n",
	} {
		p := filepath.Join(dir, "bad.yaml")
		_ = os.WriteFile(p, []byte(body), 0o600)
		if _, err := LoadPlans(p); err == nil || !strings.Contains(err.Error(), "plans_file") {
			t.Errorf("%s: error %v should name plans_file", name, err)
		}
	}
}

func TestClusterConfig(t *testing.T) {
	t.Parallel()
	key := "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=" // 32 bytes, base64
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("cluster: true\nstore: postgres://ts@db:5432/ts\ncluster_provider: automanaged\npeers: [10.0.0.1:7100, 10.0.0.2:7100]\nnode_port: 7100\nadvertise_host: 10.0.0.1\nadmin_token_file: /run/secrets/op\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	if err := cfg.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TRAILSPARK_ENCRYPTION_KEY": key, "TRAILSPARK_PEERS": "10.0.0.1:7100, 10.0.0.2:7100,10.0.0.3:7100"}
	if err := cfg.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid cluster config refused: %v", err)
	}
	if len(cfg.Peers) != 3 || cfg.Peers[2] != "10.0.0.3:7100" || cfg.StoreKind() != StorePostgres || cfg.LoopbackCluster() {
		t.Fatalf("cluster config = %+v", cfg)
	}
	if strings.Contains(fmt.Sprintf("%v %+v", cfg.Store, cfg), "postgres://") {
		t.Fatal("the store URL (it may hold a password) printed")
	}

	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"cluster on badger", func(c *Config) { c.Store = "" }, "cluster mode needs --store postgres://"},
		{"bad store", func(c *Config) { c.Store = "mysql://x" }, "store:"},
		{"local provider", func(c *Config) { c.ClusterProvider = "local" }, "cluster_provider: local is one node only"},
		{"missing provider", func(c *Config) { c.ClusterProvider = "zookeeper" }, `cluster_provider: "zookeeper" is not available`},
		{"unknown provider", func(c *Config) { c.ClusterProvider = "mdns" }, `cluster_provider: "mdns" must be local, automanaged, kubernetes, consul or etcd`},
		{"consul setting for automanaged", func(c *Config) { c.ConsulAddress = "127.0.0.1:8500" }, "consul_address: the consul_* settings are for --cluster-provider consul"},
		{"etcd setting for automanaged", func(c *Config) { c.EtcdPrefix = "/x" }, "etcd_endpoints: the etcd_* settings are for --cluster-provider etcd"},
		{"k8s alias", func(c *Config) { c.ClusterProvider = "k8s" }, `cluster_provider: "k8s": the name is kubernetes`},
		{"kubernetes setting for automanaged", func(c *Config) { c.KubernetesNamespace = "x" }, "kubernetes_namespace: the kubernetes_* settings are for --cluster-provider kubernetes"},
		{"no peers", func(c *Config) { c.Peers = nil }, "peers:"},
		{"bad peer", func(c *Config) { c.Peers = StringList{"nohost"} }, `peers: "nohost"`},
		{"no node port", func(c *Config) { c.NodePort = 0 }, "node_port:"},
		{"generated key", func(c *Config) { c.EncryptionKey = "" }, "encryption_key: cluster mode needs the same key"},
		{"generated token", func(c *Config) { c.AdminTokenFile = "" }, "admin_token: cluster mode needs the same operator token"},
		{"both token forms", func(c *Config) { c.AdminToken = "a-long-enough-operator-token" }, "admin_token_file: set admin_token or admin_token_file"},
		{"provider without cluster", func(c *Config) { c.Cluster = false }, "cluster_provider: automanaged is for cluster mode"},
		{"advertise with port", func(c *Config) { c.AdvertiseHost = "10.0.0.1:80" }, "advertise_host:"},
	} {
		c := cfg
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to say %q", tc.name, err, tc.want)
		}
	}
	// A single node may keep its state in PostgreSQL.
	single := Default()
	single.Store = "postgresql://ts@db/ts"
	if err := single.Validate(); err != nil {
		t.Fatalf("single node on PostgreSQL refused: %v", err)
	}
}

// The kubernetes provider: in a pod it needs only the pod IP advertised;
// outside one it needs the API server, a token file and the namespace.
func TestKubernetesClusterConfig(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("cluster: true\nstore: postgres://ts@db:5432/ts\ncluster_provider: kubernetes\ncluster_port: 7200\nadmin_token_file: /run/secrets/op\nencryption_key_file: /run/secrets/key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	if err := cfg.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TRAILSPARK_ADVERTISE_HOST": "10.1.2.3", "TRAILSPARK_KUBERNETES_NAMESPACE": "trailspark"}
	if err := cfg.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid kubernetes config refused: %v", err)
	}
	if k := cfg.ClusterKubernetes(); k.Namespace != "trailspark" || k.APIServer != "" {
		t.Fatalf("cluster kubernetes config = %+v", k)
	}
	// Selected by the environment as well as by the file.
	byEnv := Default()
	if err := byEnv.LoadEnv(func(k string) (string, bool) {
		v, ok := map[string]string{"TRAILSPARK_CLUSTER_PROVIDER": "kubernetes", "TRAILSPARK_KUBERNETES_INSECURE": "true"}[k]
		return v, ok
	}); err != nil || byEnv.ClusterProvider != "kubernetes" || !byEnv.KubernetesInsecure {
		t.Fatalf("env: %v %+v", err, byEnv)
	}

	outside := func(c *Config) {
		c.KubernetesAPIServer = "https://k8s.example:6443"
		c.KubernetesTokenFile = "/tmp/token"
		c.KubernetesCAFile = "/tmp/ca.pem"
	}
	c := cfg
	outside(&c)
	if err := c.Validate(); err != nil {
		t.Fatalf("valid out-of-pod kubernetes config refused: %v", err)
	}
	if k := c.ClusterKubernetes(); k.APIServer != "https://k8s.example:6443" || k.TokenFile != "/tmp/token" || k.CAFile != "/tmp/ca.pem" {
		t.Fatalf("cluster kubernetes config = %+v", k)
	}

	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"without cluster", func(c *Config) { c.Cluster = false }, "cluster_provider: kubernetes is for cluster mode"},
		{"on badger", func(c *Config) { c.Store = "" }, "cluster mode needs --store postgres://"},
		{"no pod IP", func(c *Config) { c.AdvertiseHost = "" }, "advertise_host: the kubernetes provider reaches members at their pod IP"},
		{"pod name as host", func(c *Config) { c.AdvertiseHost = "trailspark-0" }, "advertise_host: the kubernetes provider"},
		{"wildcard", func(c *Config) { c.AdvertiseHost = "0.0.0.0" }, "advertise_host: the kubernetes provider"},
		{"peers", func(c *Config) { c.Peers = StringList{"10.0.0.1:7100"} }, "peers: the kubernetes provider finds the pods itself"},
		{"node port", func(c *Config) { c.NodePort = 7100 }, "peers: the kubernetes provider finds the pods itself"},
		{"bad namespace", func(c *Config) { c.KubernetesNamespace = "Trail_Spark" }, "kubernetes_namespace: \"Trail_Spark\""},
		{"token without server", func(c *Config) { c.KubernetesTokenFile = "/tmp/t" }, "kubernetes_api_server: kubernetes_token_file"},
		{"bad server", func(c *Config) { outside(c); c.KubernetesAPIServer = "k8s:6443" }, "kubernetes_api_server: \"k8s:6443\""},
		{"server without namespace", func(c *Config) { outside(c); c.KubernetesNamespace = "" }, "kubernetes_namespace: a node outside a pod"},
		{"server without token", func(c *Config) { outside(c); c.KubernetesTokenFile = "" }, "kubernetes_token_file:"},
		{"ca and insecure", func(c *Config) { outside(c); c.KubernetesInsecure = true }, "kubernetes_insecure:"},
	} {
		c := cfg
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to say %q", tc.name, err, tc.want)
		}
	}
}

// The consul and etcd providers: each needs where its server is, and takes
// only its own settings.
func TestConsulAndEtcdClusterConfig(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("cluster: true\nstore: postgres://ts@db:5432/ts\ncluster_provider: etcd\netcd_endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]\netcd_ca_file: /run/etcd/ca.pem\nadmin_token_file: /run/secrets/op\nencryption_key_file: /run/secrets/key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	etcd := Default()
	if err := etcd.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TRAILSPARK_ADVERTISE_HOST": "10.1.2.3", "TRAILSPARK_ETCD_USERNAME": "trailspark",
		"TRAILSPARK_ETCD_PASSWORD_FILE": "/run/etcd/password", "TRAILSPARK_ETCD_PREFIX": "/ts-prod"}
	if err := etcd.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := etcd.Validate(); err != nil {
		t.Fatalf("valid etcd config refused: %v", err)
	}
	if e := etcd.ClusterEtcd(); len(e.Endpoints) != 2 || e.Endpoints[1] != "https://10.0.0.2:2379" || e.Username != "trailspark" ||
		e.PasswordFile != "/run/etcd/password" || e.CAFile != "/run/etcd/ca.pem" || e.Prefix != "/ts-prod" {
		t.Fatalf("cluster etcd config = %+v", e)
	}
	// Loopback is fine when every node runs on this host.
	local := etcd
	local.AdvertiseHost = ""
	if err := local.Validate(); err != nil {
		t.Fatalf("etcd on loopback refused: %v", err)
	}

	consul := Default()
	if err := consul.LoadEnv(func(k string) (string, bool) {
		v, ok := map[string]string{"TRAILSPARK_CLUSTER": "true", "TRAILSPARK_STORE": "postgres://ts@db/ts",
			"TRAILSPARK_CLUSTER_PROVIDER": "consul", "TRAILSPARK_CONSUL_ADDRESS": "https://127.0.0.1:8501",
			"TRAILSPARK_CONSUL_TOKEN_FILE": "/run/consul/token", "TRAILSPARK_CONSUL_CA_FILE": "/run/consul/ca.pem",
			"TRAILSPARK_ADMIN_TOKEN_FILE": "/run/secrets/op", "TRAILSPARK_ENCRYPTION_KEY_FILE": "/run/secrets/key"}[k]
		return v, ok
	}); err != nil {
		t.Fatal(err)
	}
	if err := consul.Validate(); err != nil {
		t.Fatalf("valid consul config refused: %v", err)
	}
	if c := consul.ClusterConsul(); c.Address != "https://127.0.0.1:8501" || c.TokenFile != "/run/consul/token" || c.CAFile != "/run/consul/ca.pem" {
		t.Fatalf("cluster consul config = %+v", c)
	}
	plain := consul
	plain.ConsulAddress, plain.ConsulCAFile = "127.0.0.1:8500", ""
	if err := plain.Validate(); err != nil {
		t.Fatalf("consul at host:port refused: %v", err)
	}

	for _, tc := range []struct {
		name string
		base Config
		edit func(*Config)
		want string
	}{
		{"consul without cluster", consul, func(c *Config) { c.Cluster = false }, "cluster_provider: consul is for cluster mode"},
		{"consul on badger", consul, func(c *Config) { c.Store = "" }, "cluster mode needs --store postgres://"},
		{"consul without address", consul, func(c *Config) { c.ConsulAddress = "" }, "consul_address: the consul provider needs"},
		{"consul bad address", consul, func(c *Config) { c.ConsulAddress = "consul" }, `consul_address: "consul" must be host:port`},
		{"consul bad scheme", consul, func(c *Config) { c.ConsulAddress = "grpc://127.0.0.1:8502" }, `consul_address: "grpc://127.0.0.1:8502"`},
		{"consul CA over http", consul, func(c *Config) { c.ConsulAddress = "http://127.0.0.1:8500" }, "consul_ca_file: a CA is for an https://"},
		{"consul with etcd settings", consul, func(c *Config) { c.EtcdEndpoints = StringList{"http://127.0.0.1:2379"} }, `etcd_endpoints: the etcd_* settings are for --cluster-provider etcd, not "consul"`},
		{"consul with kubernetes settings", consul, func(c *Config) { c.KubernetesNamespace = "x" }, "kubernetes_namespace: the kubernetes_* settings"},
		{"consul with peers", consul, func(c *Config) { c.Peers = StringList{"10.0.0.1:7100"} }, "peers: the consul provider finds the members itself"},
		{"consul wildcard", consul, func(c *Config) { c.AdvertiseHost = "0.0.0.0" }, "advertise_host: the consul provider registers"},
		{"etcd without cluster", etcd, func(c *Config) { c.Cluster = false }, "cluster_provider: etcd is for cluster mode"},
		{"etcd on badger", etcd, func(c *Config) { c.Store = "" }, "cluster mode needs --store postgres://"},
		{"etcd without endpoints", etcd, func(c *Config) { c.EtcdEndpoints = nil }, "etcd_endpoints: the etcd provider needs"},
		{"etcd bare endpoint", etcd, func(c *Config) { c.EtcdEndpoints = StringList{"10.0.0.1:2379"} }, `etcd_endpoints: "10.0.0.1:2379" must be an http://host:port`},
		{"etcd mixed schemes", etcd, func(c *Config) { c.EtcdEndpoints = append(StringList{"http://10.0.0.3:2379"}, c.EtcdEndpoints...) }, "etcd_endpoints: all http:// or all https://"},
		{"etcd CA over http", etcd, func(c *Config) { c.EtcdEndpoints = StringList{"http://10.0.0.1:2379"} }, "etcd_ca_file: a CA is for https://"},
		{"etcd user without password", etcd, func(c *Config) { c.EtcdPasswordFile = "" }, "etcd_username: set etcd_username and etcd_password_file together"},
		{"etcd bad prefix", etcd, func(c *Config) { c.EtcdPrefix = "trailspark/" }, `etcd_prefix: "trailspark/"`},
		{"etcd with consul settings", etcd, func(c *Config) { c.ConsulTokenFile = "/t" }, `consul_address: the consul_* settings are for --cluster-provider consul, not "etcd"`},
		{"etcd with node port", etcd, func(c *Config) { c.NodePort = 7100 }, "peers: the etcd provider finds the members itself"},
		{"etcd wildcard", etcd, func(c *Config) { c.AdvertiseHost = "::" }, "advertise_host: the etcd provider registers"},
	} {
		c := tc.base
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to say %q", tc.name, err, tc.want)
		}
	}
}
