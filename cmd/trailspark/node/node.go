package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/api"
	"github.com/trailspark/trailspark/cluster"
	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/seal"
	"github.com/trailspark/trailspark/plugins/host"
	"github.com/trailspark/trailspark/store"
	badgerstore "github.com/trailspark/trailspark/store/badger"
	"github.com/trailspark/trailspark/store/postgres"
)

// stateStore is what a node needs of its store: store/badger (one node) and
// store/postgres (cluster) both are one.
type stateStore interface {
	store.StateStore
	SignalLog() store.SignalLog
}

// OperatorTokenPrefix marks generated operator tokens.
const OperatorTokenPrefix = "tso_"

// Node is a running node.
type Node struct {
	cfg     Config
	log     hclog.Logger
	store   stateStore
	cluster *cluster.Node
	http    *http.Server
	client  *actors.Client
	plugins *host.Host
	ln      net.Listener
	served  chan error
	// URL is where the API listens (http://host:port).
	URL string
	// GeneratedOperatorToken is set when this start generated the operator
	// token (first start without TRAILSPARK_ADMIN_TOKEN): print it once.
	GeneratedOperatorToken string
	// OperatorTokenFile is where a generated operator token is kept.
	OperatorTokenFile string
}

// NewLogger builds the node's root logger from the config.
func NewLogger(cfg Config, w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name: "trailspark", Level: hclog.LevelFromString(cfg.LogLevel), Output: w,
		JSONFormat: cfg.LogFormat == "json", TimeFormat: time.RFC3339Nano,
	})
}

// Start opens the store, starts the cluster member and serves the API.
// It returns once the HTTP listener is bound; readiness follows shortly.
func Start(cfg Config, log hclog.Logger) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if cfg.MemoryLimitMiB > 0 {
		debug.SetMemoryLimit(int64(cfg.MemoryLimitMiB) << 20)
	}
	n = &Node{cfg: cfg, log: log, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			n.close(false)
		}
	}()

	if cfg.EncryptionKey, err = secretFromFile(cfg.EncryptionKey, cfg.EncryptionKeyFile, "encryption_key_file"); err != nil {
		return nil, err
	}
	if cfg.AdminToken, err = secretFromFile(cfg.AdminToken, cfg.AdminTokenFile, "admin_token_file"); err != nil {
		return nil, err
	}
	if cfg.Cluster && (cfg.EncryptionKey == "" || cfg.AdminToken == "") {
		// Validate saw a file setting; the file was empty.
		return nil, errors.New("cluster mode needs the encryption key and operator token from configuration, the same on every node; they are not generated per node")
	}
	master, err := loadOrCreateSecret(filepath.Join(cfg.DataDir, "encryption.key"), string(cfg.EncryptionKey), func() (string, error) {
		k, err := seal.NewMasterKey(rand.Reader)
		return seal.EncodeMasterKey(k), err
	})
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	key, err := seal.DecodeMasterKey(master)
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	sealer, err := seal.New(key)
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	hasher := credential.NewHasher(sealer.Pepper())

	operator := string(cfg.AdminToken)
	if operator == "" {
		n.OperatorTokenFile = filepath.Join(cfg.DataDir, "operator-token")
		existed := fileExists(n.OperatorTokenFile)
		operator, err = loadOrCreateSecret(n.OperatorTokenFile, "", func() (string, error) {
			tok, _, err := credential.NewToken(rand.Reader, OperatorTokenPrefix)
			return tok, err
		})
		if err != nil {
			return nil, fmt.Errorf("operator token: %w", err)
		}
		if !existed {
			n.GeneratedOperatorToken = operator
		}
	}

	plans, err := LoadPlans(cfg.PlansFile)
	if err != nil {
		return nil, err
	}

	if n.store, err = openStore(cfg, log); err != nil {
		return nil, err
	}

	pw := credential.DefaultPasswordParams
	if cfg.PasswordHashing == "fast" {
		pw = credential.FastPasswordParams
	}
	env := &actors.Env{Store: n.store, Sealer: sealer, Hasher: hasher, Clock: time.Now, Rand: rand.Reader,
		Log: log.Named("grains"), IdleTimeout: time.Duration(cfg.GrainIdleTimeout), Password: pw,
		SessionTTL: time.Duration(cfg.SessionTTL), AllowUserOrgCreation: cfg.AllowUserOrgCreation,
		SignalLog: n.store.SignalLog(), Plans: plans}

	// Connector plugins: one process per connector on this node, started
	// on first use, checksums pinned in the data directory.
	if st, statErr := os.Stat(cfg.PluginsDir); cfg.PluginsDir == "" || statErr != nil || !st.IsDir() {
		log.Warn("no plugins directory: connectors are unavailable on this node", "plugins_dir", cfg.PluginsDir)
	} else {
		n.plugins, err = host.New(host.Options{Dir: cfg.PluginsDir, Pins: host.NewFilePinStore(filepath.Join(cfg.DataDir, host.PinFileName)),
			Logger: log})
		if err != nil {
			return nil, fmt.Errorf("plugins: %w", err)
		}
		env.Plugins = n.plugins
	}

	n.cluster, err = cluster.Start(clusterConfig(cfg, log), actors.Kinds(env)...)
	if err != nil {
		return nil, err
	}
	client := actors.NewClient(n.cluster, env)
	n.client = client
	_ = client.StartRetention(0) // signal retention (SPEC §5): hourly; client.Close stops it
	client.StartDeliveries()     // queued destination deliveries resume without waiting for new evaluations
	// Signals accepted before a restart are processed without waiting for
	// new traffic: once ready, nudge every partition of every organization.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if n.cluster.WaitReady(ctx) == nil {
			if err := client.Ingest().WakeAll(ctx); err != nil {
				log.Warn("waking signal partitions after start", "error", err)
			}
		}
	}()
	if cfg.Cluster {
		go n.wakeOnTopologyChange()
	}
	srv := api.New(client, api.Options{OperatorTokenHash: hasher.Hash(operator),
		Hasher: hasher, MaxBodyBytes: cfg.MaxBodyBytes, Logger: log, Pprof: cfg.DebugPprof,
		IngestLimits: api.IngestLimits{
			KeyRate: float64(cfg.IngestRatePerKey), KeyBurst: cfg.IngestBurstPerKey,
			OrgRate: float64(cfg.IngestRatePerOrg), OrgBurst: cfg.IngestBurstPerOrg,
		}})

	n.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	n.URL = "http://" + n.ln.Addr().String()
	n.http = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	go func() { n.served <- n.http.Serve(n.ln) }()
	return n, nil
}

// openStore opens the configured state store: Badger in the data directory,
// or the PostgreSQL database every node of a cluster shares (its schema
// migrations run on open, serialised between nodes).
func openStore(cfg Config, log hclog.Logger) (stateStore, error) {
	if cfg.StoreKind() == StorePostgres {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		db, err := postgres.Open(ctx, string(cfg.Store), postgres.Options{Logger: log.Named("postgres")})
		if err != nil {
			// pgx errors name host, user and database, never the password.
			return nil, fmt.Errorf("open store (PostgreSQL): %w", err)
		}
		return db, nil
	}
	profile := badgerstore.ProfileServer
	if cfg.StoreProfile == "small" {
		profile = badgerstore.ProfileSmall
	}
	db, err := badgerstore.Open(badgerstore.Options{Dir: filepath.Join(cfg.DataDir, "state"),
		SyncWrites: cfg.SyncWrites, Profile: profile, Logger: log.Named("badger"),
		PageOutInterval: pageOutInterval(cfg.StorePageOutInterval)})
	if err != nil {
		return nil, fmt.Errorf("open store in %s: %w", cfg.DataDir, err)
	}
	return db, nil
}

// pageOutInterval maps the setting to the store's option, where 0 means
// the default: a setting of 0 (or less) turns paging out off.
func pageOutInterval(d Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return time.Duration(d)
}

// clusterConfig maps the node's settings to the cluster member's.
func clusterConfig(cfg Config, log hclog.Logger) cluster.Config {
	cc := cluster.Config{Port: cfg.ClusterPort, Logger: log.Named("cluster"), Provider: cfg.ClusterProvider}
	if cc.Provider == "" {
		cc.Provider = cluster.ProviderLocal
	}
	if cfg.Cluster {
		cc.NodePort = cfg.NodePort
		cc.Peers = cfg.Peers
		cc.Kubernetes = cfg.ClusterKubernetes()
		cc.Consul = cfg.ClusterConsul()
		cc.Etcd = cfg.ClusterEtcd()
		if !cfg.LoopbackCluster() {
			cc.Host = "0.0.0.0"
			cc.AdvertiseHost = cfg.AdvertiseHost
		}
	}
	return cc
}

// wakeOnTopologyChange nudges every signal partition after membership
// changed: partitions whose grain was on a node that died, or that moved to
// a node that joined, have no activation until something wakes them, and
// signals accepted but not yet processed would wait for new traffic. The
// nudge waits a moment so that every member's view has settled, and only
// the coordinator sends it (a nudge reaches the partition wherever it is).
func (n *Node) wakeOnTopologyChange() {
	for {
		select {
		case <-n.cluster.Stopped():
			return
		case <-n.cluster.TopologyChanges():
		}
		select {
		case <-n.cluster.Stopped():
			return
		case <-time.After(time.Second):
		}
		if !n.cluster.Ready() || !n.cluster.Coordinator() {
			continue // one node (the smallest member id) does it for all
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		if err := n.client.Ingest().WakeAll(ctx); err != nil {
			n.log.Warn("waking signal partitions after a membership change", "error", err)
		}
		cancel()
	}
}

// secretFromFile returns given, else the trimmed content of file (if set).
func secretFromFile(given Secret, file, setting string) (Secret, error) {
	if given != "" || file == "" {
		return given, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", setting, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", setting, file)
	}
	return Secret(v), nil
}

// WaitReady blocks until the node serves grain requests.
func (n *Node) WaitReady(ctx context.Context) error { return n.cluster.WaitReady(ctx) }

// Served reports the HTTP server ending unexpectedly.
func (n *Node) Served() <-chan error { return n.served }

// Shutdown stops taking requests, lets in-flight ones finish, leaves the
// cluster and closes the store.
func (n *Node) Shutdown(ctx context.Context) error {
	var err error
	if n.http != nil {
		err = n.http.Shutdown(ctx)
	}
	if n.client != nil {
		n.client.Close() // stop background jobs before the store closes under them
	}
	n.close(true)
	return err
}

func (n *Node) close(graceful bool) {
	if n.cluster != nil {
		// Grains write through, so nothing is lost either way. A single
		// node has nobody to hand grains to; a cluster member announces its
		// leave so peers take its grains over at once (about 0.6 s).
		n.cluster.Stop(graceful && n.cfg.Cluster)
	}
	if n.plugins != nil {
		_ = n.plugins.Close() // a plugin never outlives its node
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			n.log.Error("close store", "error", err)
		}
	}
}

// loadOrCreateSecret returns given if set; else the content of path; else a
// new value written to path with 0600 (created exclusively, so two starts
// racing cannot both write).
func loadOrCreateSecret(path, given string, gen func() (string, error)) (string, error) {
	if given != "" {
		return given, nil
	}
	if b, err := os.ReadFile(path); err == nil {
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s is empty", path)
		}
		return v, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	v, err := gen()
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(v + "\n"); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	return v, f.Close()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
