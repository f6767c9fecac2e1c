package cluster

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/actors/actorpb"
)

// Helpers shared by the provider tests and the benchmarks.

// waitMembers waits until every node sees want members.
func waitMembers(t testing.TB, what string, want int, nodes ...*Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok := true
		for _, n := range nodes {
			ok = ok && len(n.Members()) == want
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var views []string
			for _, n := range nodes {
				views = append(views, fmt.Sprintf("%s sees %v", n.Address(), n.Members()))
			}
			t.Fatalf("%s: %s", what, strings.Join(views, "; "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// placeOn finds an identity whose activation is on target, checking that
// every node reaches the same activation.
func placeOn(t testing.TB, target *Node, nodes ...*Node) string {
	t.Helper()
	for i := 0; i < 60; i++ {
		id := fmt.Sprintf("grain-%d", i)
		where := ""
		for _, n := range nodes {
			res, err := n.Request(context.Background(), "echo", id, &actorpb.Ping{})
			if err != nil {
				t.Fatalf("%s from %s: %v", id, n.Address(), err)
			}
			got := res.(*actorpb.Pong).Node
			if where != "" && got != where {
				t.Fatalf("identity %s answered from %s and %s", id, where, got)
			}
			where = got
		}
		if where == target.Address() {
			return id
		}
	}
	t.Fatalf("no identity placed on %s out of 60", target.Address())
	return ""
}

// waitServed waits until identity answers via n from a node other than
// notOn, and returns that node's address.
func waitServed(t testing.TB, n *Node, identity string, notOn string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := n.Request(context.Background(), "echo", identity, &actorpb.Ping{})
		if err == nil && res.(*actorpb.Pong).Node != notOn {
			return res.(*actorpb.Pong).Node
		}
		if time.Now().After(deadline) {
			t.Fatalf("identity %s not served off %s: %v %v", identity, notOn, res, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// goroutinesMatching returns the stacks of the goroutines whose stack
// mentions any of subs ("" when none).
func goroutinesMatching(subs ...string) string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, s := range subs {
			if strings.Contains(g, s) {
				out = append(out, g)
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}
