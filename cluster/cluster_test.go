package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/trailspark/trailspark/actors/actorpb"
)

// echo answers Ping with the node address that hosts it.
type echo struct{}

func (echo) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actorpb.Ping); ok {
		ctx.Respond(&actorpb.Pong{Node: ctx.ActorSystem().Address()})
	}
}

var echoKind = Kind{Name: "echo", Producer: func() actor.Actor { return echo{} }}

func startReady(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := Start(cfg, echoKind)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSingleNodeServesGrains(t *testing.T) {
	n := startReady(t, Config{})
	defer n.Stop(false)
	for i := 0; i < 20; i++ {
		res, err := n.Request(context.Background(), "echo", fmt.Sprintf("id-%d", i), &actorpb.Ping{})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if pong, ok := res.(*actorpb.Pong); !ok || pong.Node != n.Address() {
			t.Fatalf("reply %T %v, want Pong from %s", res, res, n.Address())
		}
	}
	if got := n.Members(); len(got) != 1 || got[0] != n.ID() {
		t.Fatalf("members = %v, want just this node", got)
	}
}

func TestRequestAfterStopIsNotReady(t *testing.T) {
	n := startReady(t, Config{})
	n.Stop(false)
	n.Stop(false) // idempotent
	if n.Ready() {
		t.Fatal("stopped node reports ready")
	}
	if _, err := n.Request(context.Background(), "echo", "x", &actorpb.Ping{}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("err = %v, want ErrNotReady", err)
	}
}

func TestRequestHonoursContextDeadline(t *testing.T) {
	n := startReady(t, Config{})
	defer n.Stop(false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Request(ctx, "echo", "x", &actorpb.Ping{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestUnknownProviderRefused(t *testing.T) {
	if _, err := Start(Config{Provider: "zookeeper"}); err == nil {
		t.Fatal("unknown provider accepted")
	}
}

// Two in-process nodes sharing one membership agent form one cluster: an
// identity lives on exactly one node and is reachable from both; when its
// node leaves, the identity re-activates on the survivor.
func TestTwoNodesShareIdentities(t *testing.T) {
	agent := NewAgent()
	a := startReady(t, Config{Agent: agent})
	b := startReady(t, Config{Agent: agent})
	defer b.Stop(false)
	waitMembers(t, "cluster formed", 2, a, b)
	onA := placeOn(t, a, a, b)
	a.Stop(false)
	if got := waitServed(t, b, onA, a.Address()); got != b.Address() {
		t.Fatalf("identity %s moved to %s, want the survivor %s", onA, got, b.Address())
	}
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for i := 0; i < n; i++ {
		p, err := freePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, p)
	}
	return ports
}

// Three automanaged nodes on loopback form one cluster; a node that dies
// (its node port closes) is dropped and its identities re-activate on the
// survivors within seconds; a graceful leave is noticed at the next poll;
// every member reports its own grain counts.
func TestAutomanagedFailover(t *testing.T) {
	ports := freePorts(t, 3)
	var peers []string
	for _, p := range ports {
		peers = append(peers, fmt.Sprintf("127.0.0.1:%d", p))
	}
	var nodes []*Node
	for _, p := range ports {
		n, err := Start(Config{Provider: ProviderAutomanaged, NodePort: p, Peers: peers, RequestTimeout: time.Second}, echoKind)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	defer func() {
		for _, n := range nodes {
			n.Stop(false)
		}
	}()
	waitMembers(t, "cluster formed", 3, nodes...)
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	// Place identities; find one owned by node 0.
	onDead := ""
	for i := 0; i < 60; i++ {
		id := fmt.Sprintf("g-%d", i)
		res, err := nodes[1].Request(context.Background(), "echo", id, &actorpb.Ping{})
		if err != nil {
			t.Fatal(err)
		}
		if res.(*actorpb.Pong).Node == nodes[0].Address() && onDead == "" {
			onDead = id
		}
	}
	if onDead == "" {
		t.Fatal("no identity placed on node 0 out of 60")
	}
	infos := nodes[2].MemberInfos(context.Background())
	total := 0
	for _, m := range infos {
		if m.Status != StatusAlive || m.Grains == nil {
			t.Fatalf("member info %+v", m)
		}
		total += m.Grains["echo"]
	}
	if len(infos) != 3 || total != 60 {
		t.Fatalf("member infos = %+v, echo grains total %d, want 3 members and 60", infos, total)
	}

	// Crash node 0: its identity answers from a survivor within seconds.
	start := time.Now()
	nodes[0].Stop(false)
	for {
		res, err := nodes[1].Request(context.Background(), "echo", onDead, &actorpb.Ping{})
		if err == nil && res.(*actorpb.Pong).Node != nodes[0].Address() {
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("identity %s did not move off the dead node: %v %v", onDead, res, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("failover after a crash: %v", time.Since(start))
	waitMembers(t, "crashed node dropped", 2, nodes[1], nodes[2])
	dead := 0
	for _, m := range nodes[1].MemberInfos(context.Background()) {
		if m.Status == StatusUnreachable {
			dead++
		}
	}
	if dead != 1 {
		t.Fatalf("after the crash: %+v", nodes[1].MemberInfos(context.Background()))
	}

	// Graceful leave of node 2: node 1 drops it at once.
	start = time.Now()
	nodes[2].Stop(true)
	waitMembers(t, "left node dropped", 1, nodes[1])
	t.Logf("graceful leave noticed after %v", time.Since(start))
	if time.Since(start) > 3*time.Second {
		t.Fatalf("graceful leave took %v", time.Since(start))
	}
}

func TestAutomanagedNodePortInUse(t *testing.T) {
	ports := freePorts(t, 1)
	peers := []string{fmt.Sprintf("127.0.0.1:%d", ports[0])}
	a, err := Start(Config{Provider: ProviderAutomanaged, NodePort: ports[0], Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(false)
	if _, err := Start(Config{Provider: ProviderAutomanaged, NodePort: ports[0], Peers: peers}); err == nil {
		t.Fatal("a second node on the same node port started")
	}
}

// A node whose member id its peers blocked (after it once failed to answer
// them) can never rejoin with that id: it notices, stops reporting ready,
// and its peers list it as blocked.
func TestAutomanagedBlockedNodeNotices(t *testing.T) {
	ports := freePorts(t, 2)
	peers := []string{fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])}
	var nodes []*Node
	for _, p := range ports {
		n, err := Start(Config{Provider: ProviderAutomanaged, NodePort: p, Peers: peers, SuspectAfter: 300 * time.Millisecond}, echoKind)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Stop(false)
		nodes = append(nodes, n)
	}
	a, b := nodes[0], nodes[1]
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	a.cluster.Remote.BlockList().Block(b.ID())
	deadline := time.Now().Add(10 * time.Second)
	for b.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("a node blocked by its only peer still reports ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !b.Excluded() || a.Excluded() {
		t.Fatalf("excluded: a %v, b %v", a.Excluded(), b.Excluded())
	}
	var status string
	for _, m := range a.MemberInfos(context.Background()) {
		if m.ID == b.ID() {
			status = m.Status
		}
	}
	if status != StatusBlocked {
		t.Fatalf("a lists b as %q, want blocked: %+v", status, a.MemberInfos(context.Background()))
	}
}

// An advertised host is what members learn, with the port chosen before the
// endpoint listens.
func TestAdvertisedAddress(t *testing.T) {
	ports := freePorts(t, 1)
	n, err := Start(Config{Provider: ProviderAutomanaged, Host: "127.0.0.1", AdvertiseHost: "localhost",
		NodePort: ports[0], Peers: []string{fmt.Sprintf("localhost:%d", ports[0])}}, echoKind)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(n.Address(), "localhost:") || strings.HasSuffix(n.Address(), ":0") {
		t.Fatalf("address = %s, want localhost:<port>", n.Address())
	}
	res, err := n.Request(ctx, "echo", "x", &actorpb.Ping{})
	if err != nil || res.(*actorpb.Pong).Node != n.Address() {
		t.Fatalf("request: %v %v", res, err)
	}
	infos := n.MemberInfos(ctx)
	if len(infos) != 1 || !infos[0].Self || infos[0].Peer == "" || infos[0].Grains["echo"] != 1 {
		t.Fatalf("member infos = %+v", infos)
	}
}
