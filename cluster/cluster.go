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
	"net"
	"strconv"
	"strings"
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

// Providers lists the membership providers this build has. protoactor's
// zk provider is not among them (docs/decisions/0009-cluster-mode.md).
func Providers() []string {
	return []string{ProviderLocal, ProviderAutomanaged, ProviderKubernetes, ProviderConsul, ProviderEtcd}
}

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
	Name string // cluster name; nodes only join clusters of the same name
	// Host is the address the node's actor endpoint and node port bind
	// (default 127.0.0.1; 0.0.0.0 with AdvertiseHost for other hosts).
	Host string
	// AdvertiseHost is the host other members reach this node at (default
	// Host). Set it when Host is a wildcard.
	AdvertiseHost  string
	Port           int           // actor endpoint port; 0 = any free port
	Provider       string        // membership provider: ProviderLocal (default) or another of Providers()
	RequestTimeout time.Duration // default per-request timeout (default 5 s)
	Logger         hclog.Logger
	// Agent is the shared membership for ProviderLocal; nil makes a private
	// one (a single node).
	Agent *Agent

	// NodePort is the automanaged provider's membership port (HTTP), the
	// one Peers list.
	NodePort int
	// Peers are the node ports (host:port) of every node, this one
	// included, for the automanaged provider.
	Peers []string
	// RefreshInterval is how often the automanaged provider polls its
	// peers (default DefaultRefreshInterval); SuspectAfter how long a peer
	// may fail to answer before it is dropped (default DefaultSuspectAfter).
	RefreshInterval time.Duration
	SuspectAfter    time.Duration

	// Kubernetes configures ProviderKubernetes; its zero value is right in
	// a pod.
	Kubernetes KubernetesConfig
	// Consul configures ProviderConsul, Etcd ProviderEtcd.
	Consul ConsulConfig
	Etcd   EtcdConfig
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
	kinds    []string      // names of the kinds given to Start
	topology chan struct{} // signalled (not queued) on each topology change
	stopped  chan struct{} // closed when Stop begins
	// departures releases requests waiting on a member that left.
	departures departures
	ready      atomic.Bool
	done       chan struct{} // closed when the start goroutine finished
	stopOnce   sync.Once
	stopping   atomic.Bool
	memberID   atomic.Value // string: the kubernetes or etcd provider's member id for this node, once seen
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
	provider := &signallingProvider{registered: make(chan struct{})}
	switch cfg.Provider {
	case ProviderLocal:
		agent := cfg.Agent
		if agent == nil {
			agent = test.NewInMemAgent()
		}
		provider.inner = test.NewTestProvider(agent,
			test.WithTestProviderServiceTtl(2*time.Second),
			test.WithTestProviderRefreshTtl(500*time.Millisecond))
	case ProviderAutomanaged:
		am, err := newAutomanagedProvider(cfg.Host, cfg.NodePort, cfg.Peers, cfg.RefreshInterval, cfg.SuspectAfter, cfg.Logger)
		if err != nil {
			return nil, err
		}
		provider.inner, provider.automanaged = am, am
	case ProviderKubernetes:
		if err := kubernetesAdvertised(cfg); err != nil {
			return nil, err
		}
		kp, err := newKubernetesProvider(cfg.Kubernetes, cfg.Name, append([]string{probeKind}, kindNames(kinds)...))
		if err != nil {
			return nil, err
		}
		provider.inner = kp
	case ProviderConsul:
		cp, err := newConsulProvider(cfg.Consul)
		if err != nil {
			return nil, err
		}
		provider.inner = cp
	case ProviderEtcd:
		ep, err := newEtcdProvider(cfg.Etcd)
		if err != nil {
			return nil, err
		}
		provider.inner = ep
	default:
		return nil, fmt.Errorf("cluster: provider %q is not available in this build (%s)", cfg.Provider, strings.Join(Providers(), ", "))
	}
	port := cfg.Port
	var ropts []remote.ConfigOption
	if cfg.AdvertiseHost != "" && cfg.AdvertiseHost != cfg.Host {
		// The library takes the advertised address whole (host:port), so
		// the port must be known before it listens.
		if port == 0 {
			p, err := freePort(cfg.Host)
			if err != nil {
				provider.closeUnstarted()
				return nil, err
			}
			port = p
		}
		ropts = append(ropts, remote.WithAdvertisedHost(net.JoinHostPort(cfg.AdvertiseHost, strconv.Itoa(port))))
	}

	logger := slog.New(&hclogHandler{log: cfg.Logger.Named("protoactor")})
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))

	pkinds := []*pcluster.Kind{pcluster.NewKind(probeKind, actor.PropsFromProducer(func() actor.Actor { return probe{} }))}
	for _, k := range kinds {
		pkinds = append(pkinds, pcluster.NewKind(k.Name, actor.PropsFromProducer(k.Producer)))
	}
	rcfg := remote.Configure(cfg.Host, port, ropts...)
	ccfg := pcluster.Configure(cfg.Name, provider, disthash.New(), rcfg,
		pcluster.WithKinds(pkinds...),
		pcluster.WithRequestTimeout(cfg.RequestTimeout))
	c := pcluster.New(system, ccfg)

	n := &Node{cfg: cfg, system: system, cluster: c, provider: provider, done: make(chan struct{}), kinds: kindNames(kinds),
		topology: make(chan struct{}, 1), stopped: make(chan struct{}),
		departures: departures{gone: map[string]time.Time{}, wait: map[string]chan struct{}{}}}
	system.EventStream.Subscribe(func(evt any) {
		if t, ok := evt.(*pcluster.ClusterTopology); ok {
			n.departures.update(t)
			select { // never block the library's publisher
			case n.topology <- struct{}{}:
			default:
			}
		}
	})
	if _, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &nodeInfo{node: n} }), nodeInfoName); err != nil {
		provider.closeUnstarted()
		return nil, fmt.Errorf("cluster: %w", err)
	}
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
		provider.closeUnstarted()
		return nil, err
	case <-time.After(30 * time.Second):
		provider.closeUnstarted()
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

// Ready reports whether the node serves grain requests. A node whose peers
// all dropped it (automanaged: see Excluded) is not ready.
func (n *Node) Ready() bool { return n.ready.Load() && !n.stopping.Load() && !n.Excluded() }

// Excluded reports that every peer has left this node out of its topology
// for a while: they dropped its member id (after it failed to answer them),
// and the library never lets a dropped id rejoin. Only a restart (a new
// member id) brings the node back.
//
// With the kubernetes provider the same happens when this node's pod stops
// counting as a member for a moment (a container not ready, its labels
// removed): every node, this one included, blocks its member id for good.
// So with consul (its check not passed in time) and etcd (its lease
// expired): the node registers again under the same id, which every
// member, this one included, has blocked.
func (n *Node) Excluded() bool {
	if am := n.provider.automanaged; am != nil {
		return am.excluded.Load()
	}
	if n.stopping.Load() {
		return false
	}
	switch n.cfg.Provider {
	case ProviderConsul:
		return n.cluster.GetBlockedMembers().Contains(n.system.ID)
	case ProviderKubernetes, ProviderEtcd:
	default:
		return false
	}
	id, _ := n.memberID.Load().(string)
	if id == "" {
		if id = n.selfID(); id == n.system.ID {
			return false // not seen itself yet
		}
		n.memberID.Store(id)
	}
	return n.cluster.GetBlockedMembers().Contains(id)
}

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
func (n *Node) ID() string { return n.selfID() }

// selfID is this node's member id. The local, automanaged and consul
// providers use the actor system's id; the kubernetes provider makes its
// own (a UUID on the pod's labels) and etcd's is CLUSTER@SYSTEMID, so the
// node finds itself by its address among the members, and uses the system
// id until it sees itself.
func (n *Node) selfID() string {
	if n.cfg.Provider == ProviderKubernetes || n.cfg.Provider == ProviderEtcd {
		addr := n.system.Address()
		for _, m := range n.cluster.MemberList.Members().Members() {
			if m.Address() == addr {
				return m.Id
			}
		}
	}
	return n.system.ID
}

// Members lists the member ids this node sees.
func (n *Node) Members() []string {
	var ids []string
	for _, m := range n.cluster.MemberList.Members().Members() {
		ids = append(ids, m.Id)
	}
	return ids
}

// Coordinator reports whether this node has the smallest member id of those
// it sees: one node does cluster-wide chores after a membership change.
// Views can differ for a moment, so a chore may run twice; it must be
// harmless to.
func (n *Node) Coordinator() bool {
	if n.stopping.Load() {
		return false
	}
	self := n.selfID()
	for _, m := range n.cluster.MemberList.Members().Members() {
		if m.Id < self {
			return false
		}
	}
	return true
}

// Request sends msg to the grain kind/identity and returns its reply. The
// deadline is the earlier of ctx's and the default request timeout.
//
// It does what the library's cluster.Request does (look the grain up,
// send, retry on a dead letter with a fresh lookup), plus one thing it does
// not: when the member hosting the grain leaves the topology while the
// request waits (it died, or left gracefully), the request is sent again
// to the grain's new activation at once instead of waiting out its timeout.
// A command may therefore reach two activations (the first may have
// applied it before its node died): grain commands carry request ids and
// are idempotent.
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
	deadline := time.Now().Add(timeout)
	var res any
	for attempt := 0; ; attempt++ {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil, fmt.Errorf("%w: %s/%s", ErrTimeout, kind, identity)
		}
		if attempt > 0 {
			backoff := min(time.Duration(10<<min(attempt, 6))*time.Millisecond, 500*time.Millisecond, remaining)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if remaining = time.Until(deadline); remaining <= 0 {
				return nil, fmt.Errorf("%w: %s/%s", ErrTimeout, kind, identity)
			}
		}
		pid := n.lookup(identity, kind)
		if pid == nil {
			continue // no owner right now (membership changing)
		}
		var err error
		res, err = n.await(ctx, pid, msg, remaining)
		switch {
		case err == nil:
		case errors.Is(err, errDeparted), errors.Is(err, actor.ErrDeadLetter), errors.Is(err, remote.ErrDeadLetter):
			// The activation is gone (its node left, or it passivated):
			// look the grain up again.
			n.cluster.PidCache.RemoveByValue(identity, kind, pid)
			continue
		case errors.Is(err, actor.ErrTimeout), errors.Is(err, remote.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
			n.cluster.PidCache.RemoveByValue(identity, kind, pid)
			return nil, fmt.Errorf("%w: %s/%s", ErrTimeout, kind, identity)
		default:
			return nil, fmt.Errorf("cluster: request %s/%s: %w", kind, identity, err)
		}
		break
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

func kindNames(kinds []Kind) []string {
	var out []string
	for _, k := range kinds {
		out = append(out, k.Name)
	}
	return out
}

// errDeparted: the member hosting the activation left while a request
// waited for it.
var errDeparted = errors.New("cluster: the grain's member left")

// lookup finds the grain's activation: the PID cache, else the identity
// lookup (which activates it on its owner).
func (n *Node) lookup(identity, kind string) *actor.PID {
	if pid, ok := n.cluster.PidCache.Get(identity, kind); ok && pid != nil {
		return pid
	}
	pid := n.cluster.Get(identity, kind)
	if pid != nil {
		n.cluster.PidCache.Set(identity, kind, pid)
	}
	return pid
}

// await sends msg to pid and waits for the answer, the member's departure,
// or ctx.
func (n *Node) await(ctx context.Context, pid *actor.PID, msg proto.Message, timeout time.Duration) (any, error) {
	var gone <-chan struct{}
	if pid.Address != n.system.Address() {
		gone = n.departures.watch(pid.Address)
	}
	f := n.system.Root.RequestFuture(pid, msg, timeout)
	type result struct {
		res any
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := f.Result()
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		return r.res, r.err
	case <-gone:
		return nil, errDeparted
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// departures tells requests that the member at an address left, so they
// stop waiting for it.
type departures struct {
	mu   sync.Mutex
	gone map[string]time.Time     // address → when its member left
	wait map[string]chan struct{} // address → closed when its member leaves
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (d *departures) watch(addr string) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.gone[addr]; ok {
		return closedChan
	}
	ch := d.wait[addr]
	if ch == nil {
		ch = make(chan struct{})
		d.wait[addr] = ch
	}
	return ch
}

// update applies a topology change. A member that left and one that joined
// at the same address (a restart with a fixed port) is a new incarnation:
// the waiters are released, the address is live again.
func (d *departures) update(t *pcluster.ClusterTopology) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	for _, m := range t.Left {
		a := m.Address()
		d.gone[a] = now
		if ch := d.wait[a]; ch != nil {
			close(ch)
			delete(d.wait, a)
		}
	}
	for _, m := range t.Joined {
		delete(d.gone, m.Address())
	}
	for a, at := range d.gone {
		if now.Sub(at) > 10*time.Minute {
			delete(d.gone, a)
		}
	}
}

// Stop leaves the cluster. Grains write through on every command, so there
// is nothing to flush or hand over. graceful announces the departure first
// (the automanaged provider's peers then drop this node at their next poll,
// about RefreshInterval, instead of after SuspectAfter); otherwise the
// node just goes, as a crash would, and peers notice by themselves. The
// kubernetes, consul and etcd providers deregister either way (the
// library's Shutdown always does: pod labels, service, key), so their
// peers drop the node at once.
//
// Stop never panics: the library is known to panic in some shutdown paths
// (a half-started member, a client-only member), and a failed teardown
// must not crash a process that is exiting anyway.
func (n *Node) Stop(graceful bool) {
	n.stopOnce.Do(func() {
		n.stopping.Store(true)
		close(n.stopped)
		<-n.done // never shut down half-started: the library panics
		n.supervised("announce leave", func() {
			if am := n.provider.automanaged; graceful && am != nil {
				am.leave()
				// Two polls: every peer has seen "leaving" and rebalanced.
				time.Sleep(2 * am.interval)
			}
		})
		// Leave membership by hand: Shutdown(false) does not call the
		// provider, and the in-memory agent would keep routing to a dead
		// node. The library's graceful path sleeps 2 s and waits up to 10 s
		// for gRPC; there is nothing to hand over, so it is not used.
		n.supervised("leave membership", func() { _ = n.provider.Shutdown(graceful) })
		n.supervised("shutdown", func() { n.cluster.Shutdown(false) })
	})
}

// supervised runs one teardown step, turning a panic into a warning.
func (n *Node) supervised(step string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			n.cfg.Logger.Warn("cluster teardown step panicked", "step", step, "panic", fmt.Sprint(r))
		}
	}()
	f()
}

// TopologyChanges is signalled after membership changed (a node joined or
// left). Several changes in a row may be signalled once.
func (n *Node) TopologyChanges() <-chan struct{} { return n.topology }

// Stopped is closed once Stop begins.
func (n *Node) Stopped() <-chan struct{} { return n.stopped }

// signallingProvider wraps a provider to tell when registration happened.
type signallingProvider struct {
	inner       pcluster.ClusterProvider
	automanaged *automanagedProvider // inner, when it is the automanaged provider
	registered  chan struct{}
	once        sync.Once
	shutOnce    sync.Once
	shutErr     error
}

func (p *signallingProvider) StartMember(c *pcluster.Cluster) error {
	err := p.inner.StartMember(c)
	p.once.Do(func() { close(p.registered) })
	return err
}

func (p *signallingProvider) StartClient(c *pcluster.Cluster) error { return p.inner.StartClient(c) }

// closeUnstarted releases what the provider holds (the automanaged node
// port, the etcd connection) when the node failed before starting it.
func (p *signallingProvider) closeUnstarted() {
	if p.automanaged != nil {
		_ = p.automanaged.Shutdown(false)
	}
	switch inner := p.inner.(type) {
	case *etcdProvider:
		inner.gate.close()
	case *consulProvider:
		inner.tr.stop()
	}
}

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
