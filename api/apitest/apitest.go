// Package apitest starts a real node for tests: Badger in a temp dir, a
// cluster-of-one protoactor member, the grains and the HTTP API on a random
// loopback port, with an injectable clock and a captured log.
package apitest

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/api"
	"github.com/trailspark/trailspark/cluster"
	"github.com/trailspark/trailspark/engine/clocktest"
	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/plan"
	"github.com/trailspark/trailspark/engine/seal"
	"github.com/trailspark/trailspark/plugins/host"
	"github.com/trailspark/trailspark/store"
	badgerstore "github.com/trailspark/trailspark/store/badger"
)

// Clock is the settable test clock.
type Clock = clocktest.Clock

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return clocktest.New(t) }

// SyncBuffer is a goroutine-safe log sink.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Node is a running test node.
type Node struct {
	URL           string
	OperatorToken string
	Store         store.StateStore
	Clock         *Clock
	Logs          *SyncBuffer
	Server        *api.Server
	// Client is the node's actors client, for tests that must hold engine
	// state still (e.g. keep a job slot taken) to assert deterministically.
	Client *actors.Client
}

// Options tune Start.
type Options struct {
	// AllowUserOrgCreation defaults to true.
	DisallowUserOrgCreation bool
	// Start is the clock's start (default 2026-01-05 09:00 UTC).
	Start time.Time
	// IngestLimits are the ingestion rate limits (default: unlimited).
	IngestLimits api.IngestLimits
	// Plans replace the shipped default plans.
	Plans []plan.Plan
	// PluginsDir gives the node a connector plugin host over that
	// directory (pins in a temp dir), like --plugins-dir.
	PluginsDir string
}

// Start runs a node until the test ends.
func Start(t testing.TB, opts ...Options) *Node {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	}
	st, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir(), Profile: badgerstore.ProfileSmall, GCInterval: -1})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	key, _ := seal.NewMasterKey(rand.Reader)
	sealer, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	hasher := credential.NewHasher(sealer.Pepper())
	logs := &SyncBuffer{}
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Trace, Output: logs, JSONFormat: true})
	clock := NewClock(o.Start)
	env := &actors.Env{Store: st, Sealer: sealer, Hasher: hasher, Clock: clock.Now, Rand: rand.Reader,
		Log: log.Named("grains"), Password: credential.FastPasswordParams, AllowUserOrgCreation: !o.DisallowUserOrgCreation,
		SignalLog: st.SignalLog(), Plans: o.Plans}
	if o.PluginsDir != "" {
		h, err := host.New(host.Options{Dir: o.PluginsDir, Pins: host.NewFilePinStore(filepath.Join(t.TempDir(), host.PinFileName)), Logger: log})
		if err != nil {
			t.Fatalf("plugins host: %v", err)
		}
		env.Plugins = h
	}
	node, err := cluster.Start(cluster.Config{Logger: log.Named("cluster")}, actors.Kinds(env)...)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := node.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	opTok, _, _ := credential.NewToken(rand.Reader, "tso_")
	client := actors.NewClient(node, env)
	srv := api.New(client, api.Options{OperatorTokenHash: hasher.Hash(opTok), Hasher: hasher,
		Logger: log, Now: clock.Now, IngestLimits: o.IngestLimits})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		if env.Plugins != nil {
			client.Close() // background jobs (CRM syncs, their scheduler) end before the store closes
		}
		node.Stop(false)
		if env.Plugins != nil {
			_ = env.Plugins.Close()
		}
		_ = st.Close()
	})
	return &Node{URL: hs.URL, OperatorToken: opTok, Store: st, Clock: clock, Logs: logs, Server: srv, Client: client}
}
