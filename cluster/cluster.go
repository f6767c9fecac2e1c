// Package cluster is the only door to protoactor-go's cluster (besides the
// grains in actors/). It starts and stops a node, registers grain kinds, and
// sends requests to grains with timeouts. Keeping the library behind this
// facade lets us patch or replace it (the upstream project is quiet since
// 2024) without touching the API or the domain.
//
// A single node is a cluster of one: it uses the same identity lookup and
// request path as a real cluster, with an in-process membership provider.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/trailspark/trailspark/actors/actorpb"
)

// ProviderLocal is the in-process membership provider: one node, or several
// nodes in one process sharing an Agent (tests).
const ProviderLocal = "local"

// ErrNotReady is returned for requests made before the node is ready or
// after it stopped; callers answer 503 (retryable).
var ErrNotReady = errors.New("cluster: node not ready")

// ErrTimeout is returned when a grain did not answer in time.
var ErrTimeout = errors.New("cluster: request timed out")

// Agent is the in-memory membership shared by nodes of one process.
type Agent = test.InMemAgent

// NewAgent makes an Agent for several in-process nodes.
func NewAgent() *Agent { return test.NewInMemAgent() }

// Config configures a node.
type Config struct {
	Name           string        // cluster name; nodes only join clusters of the same name
	Host           string        // address the node's remote endpoint binds (default 127.0.0.1)
	Port           int           // 0 = any free port
	Provider       string        // membership provider; only ProviderLocal for now
	RequestTimeout time.Duration // default per-request timeout (default 5 s)
	Logger         hclog.Logger
	// Agent is the shared membership for ProviderLocal; nil makes a private
	// one (a single node).
	Agent *Agent
}

// Kind is a grain kind: a name and how to make one activation.
type Kind struct {
	Name     string
	Producer actor.Producer
}

// Node is one running member.
type Node struct {
	cfg      Config
	system   *actor.ActorSystem
	cluster  *pcluster.Cluster
	provider *signallingProvider
	ready    atomic.Bool
	done     chan struct{} // closed when the start goroutine finished
	stopOnce sync.Once
	stopping atomic.Bool
}

// probeKind answers Ping; readiness means a probe grain was activated and
// reached through the same path every request takes.
const probeKind = "probe"

// Start starts a node in the background and returns at once; Ready reports
// when it serves requests, WaitReady blocks until then. Starting in the
// background matters: the library's StartMember sleeps a fixed second after
// registering, and the HTTP server should answer /healthz meanwhile.
func Start(cfg Config, kinds ...Kind) (*Node, error) {
	if cfg.Name == "" {
		cfg.Name = "trailspark"
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Provider == "" {
		cfg.Provider = ProviderLocal
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Provider != ProviderLocal {
		return nil, fmt.Errorf("cluster: provider %q is not available in this build (only %q)", cfg.Provider, ProviderLocal)
	}
	agent := cfg.Agent
	if agent == nil {
		agent = test.NewInMemAgent()
	}
	provider := &signallingProvider{
		inner: test.NewTestProvider(agent,
			test.WithTestProviderServiceTtl(2*time.Second),
			test.WithTestProviderRefreshTtl(500*time.Millisecond)),
		registered: make(chan struct{}),
	}

	logger := slog.New(&hclogHandler{log: cfg.Logger.Named("protoactor")})
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))

	pkinds := []*pcluster.Kind{pcluster.NewKind(probeKind, actor.PropsFromProducer(func() actor.Actor { return probe{} }))}
	for _, k := range kinds {
		pkinds = append(pkinds, pcluster.NewKind(k.Name, actor.PropsFromProducer(k.Producer)))
	}
	rcfg := remote.Configure(cfg.Host, cfg.Port)
	ccfg := pcluster.Configure(cfg.Name, provider, disthash.New(), rcfg,
		pcluster.WithKinds(pkinds...),
		pcluster.WithRequestTimeout(cfg.RequestTimeout))
	c := pcluster.New(system, ccfg)

	n := &Node{cfg: cfg, system: system, cluster: c, provider: provider, done: make(chan struct{})}
	startErr := make(chan error, 1)
	go func() {
		defer close(n.done)
		defer func() {
			if r := recover(); r != nil {
				startErr <- fmt.Errorf("cluster: start failed: %v", r)
			}
		}()
		c.StartMember()
	}()
	// Wait until the member registered (everything but the library's fixed
	// sleep has run), then probe until a grain answers.
	select {
	case <-provider.registered:
	case err := <-startErr:
		return nil, err
	case <-time.After(30 * time.Second):
		return nil, errors.New("cluster: node did not register within 30s")
	}
	go n.probeUntilReady()
	return n, nil
}

func (n *Node) probeUntilReady() {
	for !n.stopping.Load() {
		res, err := n.cluster.Request("ready", probeKind, &actorpb.Ping{},
			pcluster.WithTimeout(200*time.Millisecond), pcluster.WithRetryCount(1))
		if _, ok := res.(*actorpb.Pong); ok && err == nil {
			n.ready.Store(true)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Ready reports whether the node serves grain requests.
func (n *Node) Ready() bool { return n.ready.Load() && !n.stopping.Load() }

// WaitReady blocks until the node is ready or ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !n.Ready() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for readiness: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Address is the node's remote endpoint.
func (n *Node) Address() string { return n.system.Address() }

// ID is the node's member id.
func (n *Node) ID() string { return n.system.ID }

// Members lists the member ids this node sees.
func (n *Node) Members() []string {
	var ids []string
	for _, m := range n.cluster.MemberList.Members().Members() {
		ids = append(ids, m.Id)
	}
	return ids
}

// Request sends msg to the grain kind/identity and returns its reply. The
// library retries on timeouts, so grain commands must be idempotent (they
// carry request ids). The deadline is the earlier of ctx's and the default.
func (n *Node) Request(ctx context.Context, kind, identity string, msg proto.Message) (proto.Message, error) {
	if n.stopping.Load() {
		return nil, ErrNotReady
	}
	timeout := n.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d < timeout {
			timeout = d
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	res, err := n.cluster.Request(identity, kind, msg, pcluster.WithTimeout(timeout))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, actor.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s/%s", ErrTimeout, kind, identity)
		}
		return nil, fmt.Errorf("cluster: request %s/%s: %w", kind, identity, err)
	}
	if res == nil {
		return nil, fmt.Errorf("%w: %s/%s", ErrTimeout, kind, identity)
	}
	if gerr, ok := res.(*pcluster.GrainErrorResponse); ok {
		return nil, fmt.Errorf("cluster: grain %s/%s: %s", kind, identity, gerr.Error())
	}
	pm, ok := res.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("cluster: grain %s/%s answered a %T", kind, identity, res)
	}
	return pm, nil
}

// Stop leaves the cluster. Grains write through on every command, so there
// is nothing to flush; graceful also deregisters from membership so other
// nodes take over at once (the library then waits ~2 s for handover).
func (n *Node) Stop(graceful bool) {
	n.stopOnce.Do(func() {
		n.stopping.Store(true)
		<-n.done // never shut down half-started: the library panics
		func() {
			// The library is known to panic in some shutdown paths; a
			// failed teardown must not crash the process that is exiting.
			defer func() {
				if r := recover(); r != nil {
					n.cfg.Logger.Warn("cluster shutdown panicked", "panic", fmt.Sprint(r))
				}
			}()
			if !graceful {
				// Leave membership by hand: Shutdown(false) does not, and the
				// in-memory agent would keep routing to a dead node.
				_ = n.provider.Shutdown(false)
			}
			n.cluster.Shutdown(graceful)
		}()
	})
}

// signallingProvider wraps a provider to tell when registration happened.
type signallingProvider struct {
	inner      pcluster.ClusterProvider
	registered chan struct{}
	once       sync.Once
	shutOnce   sync.Once
	shutErr    error
}

func (p *signallingProvider) StartMember(c *pcluster.Cluster) error {
	err := p.inner.StartMember(c)
	p.once.Do(func() { close(p.registered) })
	return err
}

func (p *signallingProvider) StartClient(c *pcluster.Cluster) error { return p.inner.StartClient(c) }

func (p *signallingProvider) Shutdown(graceful bool) error {
	p.shutOnce.Do(func() { p.shutErr = p.inner.Shutdown(graceful) })
	return p.shutErr
}

// probe is the readiness grain.
type probe struct{}

func (probe) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actorpb.Ping); ok {
		ctx.Respond(&actorpb.Pong{Node: ctx.ActorSystem().Address()})
	}
}

// Send delivers msg to the grain without waiting for an answer (a wake-up
// nudge). Delivery is best effort: callers must not depend on it for
// correctness, only for latency (the grains also poll).
func (n *Node) Send(kind, identity string, msg proto.Message) {
	if n.stopping.Load() || !n.ready.Load() {
		return
	}
	pid := n.cluster.Get(identity, kind)
	if pid == nil {
		return
	}
	n.system.Root.Send(pid, msg)
}
