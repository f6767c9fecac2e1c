package cluster

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/trailspark/trailspark/actors/actorpb"
)

// Cluster benchmarks for issue 7's targets: the overhead of a request to a
// grain on another node (p50 < 300 µs), and how long a crashed node's grains
// take to serve again on the survivors (< 5 s). Nodes are real automanaged
// members on loopback (gRPC between them), in one process.
//
//	go test -run '^$' -bench . -benchtime 2000x ./cluster/

// startAutomanaged starts n automanaged nodes that list each other and
// waits until every one sees all n members and is ready.
func startAutomanaged(b *testing.B, n int) []*Node {
	b.Helper()
	var ports []int
	var peers []string
	for i := 0; i < n; i++ {
		p, err := freePort("127.0.0.1")
		if err != nil {
			b.Fatal(err)
		}
		ports = append(ports, p)
		peers = append(peers, fmt.Sprintf("127.0.0.1:%d", p))
	}
	var nodes []*Node
	for _, p := range ports {
		nd, err := Start(Config{Provider: ProviderAutomanaged, NodePort: p, Peers: peers, RequestTimeout: 2 * time.Second}, echoKind)
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, nd)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, nd := range nodes {
		for len(nd.Members()) != n {
			if time.Now().After(deadline) {
				b.Fatalf("cluster did not form: %s sees %v", nd.ID(), nd.Members())
			}
			time.Sleep(10 * time.Millisecond)
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := nd.WaitReady(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	return nodes
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p*float64(len(s)-1))]
}

// BenchmarkRequest times one request–reply to a grain from node A, with
// the grain on A itself (local) and on node B (remote). The cross-node
// overhead is remote's p50 minus local's p50.
func BenchmarkRequest(b *testing.B) {
	nodes := startAutomanaged(b, 2)
	defer func() {
		for _, nd := range nodes {
			nd.Stop(false)
		}
	}()
	a, other := nodes[0], nodes[1]
	ids := map[string]string{"local": placeOn(b, a, a), "remote": placeOn(b, other, a)}
	p50 := map[string]time.Duration{}
	for _, name := range []string{"local", "remote"} {
		b.Run(name, func(b *testing.B) {
			id := ids[name]
			ctx := context.Background()
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := a.Request(ctx, "echo", id, &actorpb.Ping{}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			p50[name] = percentile(lat, 0.5)
			b.ReportMetric(float64(p50[name].Microseconds()), "p50-µs")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
		})
	}
	if l, r := p50["local"], p50["remote"]; l > 0 && r > 0 {
		b.Logf("cross-node overhead p50: %v (remote %v - local %v)", r-l, r, l)
	}
}

// BenchmarkFailover hard-stops the node hosting a grain (its gRPC and node
// ports close, as when the process is SIGKILLed) and times until a
// survivor's request for that grain is answered by another node.
func BenchmarkFailover(b *testing.B) {
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		nodes := startAutomanaged(b, 3)
		victim, via := nodes[0], nodes[1]
		id := placeOn(b, victim, via)
		start := time.Now()
		victim.Stop(false)
		for {
			res, err := via.Request(context.Background(), "echo", id, &actorpb.Ping{})
			if err == nil && res.(*actorpb.Pong).Node != victim.Address() {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatalf("grain %s did not move off the stopped node: %v %v", id, res, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		total += time.Since(start)
		for _, nd := range nodes[1:] {
			nd.Stop(false)
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/failover")
}
