package cluster

import (
	"context"
	"errors"
	"fmt"
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
	deadline := time.Now().Add(10 * time.Second)
	for len(a.Members()) < 2 || len(b.Members()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("cluster did not form: a sees %v, b sees %v", a.Members(), b.Members())
		}
		time.Sleep(20 * time.Millisecond)
	}
	onA := ""
	for i := 0; i < 50 && onA == ""; i++ {
		id := fmt.Sprintf("grain-%d", i)
		ra, err := a.Request(context.Background(), "echo", id, &actorpb.Ping{})
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Request(context.Background(), "echo", id, &actorpb.Ping{})
		if err != nil {
			t.Fatal(err)
		}
		if ra.(*actorpb.Pong).Node != rb.(*actorpb.Pong).Node {
			t.Fatalf("identity %s answered from two places", id)
		}
		if ra.(*actorpb.Pong).Node == a.Address() {
			onA = id
		}
	}
	if onA == "" {
		t.Fatal("no identity placed on node a out of 50")
	}
	a.Stop(false)
	deadline = time.Now().Add(15 * time.Second)
	for {
		res, err := b.Request(context.Background(), "echo", onA, &actorpb.Ping{})
		if err == nil && res.(*actorpb.Pong).Node == b.Address() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("identity %s did not move to the survivor: %v %v", onA, res, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
