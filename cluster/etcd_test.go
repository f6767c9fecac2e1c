package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startEtcd runs a real etcd server (one member) in the test process on
// loopback ports, and returns its client URL.
func startEtcd(t *testing.T) string {
	t.Helper()
	ports := freePorts(t, 2)
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = t.TempDir()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(10 * time.Second):
		t.Fatal("etcd did not become ready in 10s")
	}
	return client.String()
}

func etcdKeys(t *testing.T, endpoint, prefix string) map[string]string {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := c.Get(ctx, prefix+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range res.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

// etcdGoroutines returns the stacks of goroutines running the etcd
// provider's code or a gRPC connection's.
func etcdGoroutines() string {
	return goroutinesMatching("clusterproviders/etcd", "google.golang.org/grpc/internal/transport")
}

// Three nodes find each other through a real etcd with protoactor's own
// provider, serve each identity from one place, and a graceful stop deletes
// the node's key at once, so the others drop it and its identities move.
func TestEtcdProvider(t *testing.T) {
	endpoint := startEtcd(t)
	const prefix = "/trailspark-test"
	lessorBefore, _ := lessorGoroutines() // left by earlier tests of this process
	start := func() *Node {
		return startReady(t, Config{Name: "etcd-test", Provider: ProviderEtcd,
			Etcd: EtcdConfig{Endpoints: []string{endpoint}, Prefix: prefix}})
	}
	began := time.Now()
	a, b, c := start(), start(), start()
	defer a.Stop(false)
	defer b.Stop(false)
	defer c.Stop(false)
	waitMembers(t, "cluster formed", 3, a, b, c)
	t.Logf("three nodes ready and seeing each other after %v", time.Since(began))

	// One key per node, named by its member id, with its address.
	keys := etcdKeys(t, endpoint, prefix)
	if len(keys) != 3 {
		t.Fatalf("keys = %v", keys)
	}
	for _, n := range []*Node{a, b, c} {
		v, ok := keys[prefix+"/etcd-test/"+n.ID()]
		if !ok || !strings.HasPrefix(n.ID(), "etcd-test@") {
			t.Fatalf("node %s: no key for its id %s in %v", n.Address(), n.ID(), keys)
		}
		if port := n.Address()[strings.LastIndex(n.Address(), ":")+1:]; !strings.Contains(v, `"port":`+port) || !strings.Contains(v, `"echo"`) {
			t.Fatalf("key of %s = %s", n.Address(), v)
		}
	}
	coordinators := 0
	for _, n := range []*Node{a, b, c} {
		if n.Coordinator() {
			coordinators++
		}
		if n.Excluded() || !n.Ready() {
			t.Fatalf("%s: excluded %v ready %v", n.Address(), n.Excluded(), n.Ready())
		}
	}
	if coordinators != 1 {
		t.Fatalf("%d coordinators", coordinators)
	}

	onA := placeOn(t, a, a, b, c)
	left := time.Now()
	a.Stop(true)
	t.Logf("a stopped in %v", time.Since(left))
	if keys := etcdKeys(t, endpoint, prefix); len(keys) != 2 {
		t.Fatalf("after a graceful stop the keys are %v", keys)
	}
	waitMembers(t, "a dropped", 2, b, c)
	t.Logf("b and c dropped a %v after it began to stop", time.Since(left))
	host := waitServed(t, b, onA, a.Address())
	if other := waitServed(t, c, onA, a.Address()); other != host {
		t.Fatalf("identity %s answered from %s and %s after a left", onA, host, other)
	}

	b.Stop(true)
	c.Stop(true)
	if keys := etcdKeys(t, endpoint, prefix); len(keys) != 0 {
		t.Fatalf("after every node stopped the keys are %v", keys)
	}
	deadline := time.Now().Add(8 * time.Second)
	for etcdGoroutines() != "" {
		if time.Now().After(deadline) {
			t.Fatalf("after every node stopped, goroutines of the provider or gRPC remain:\n%s", etcdGoroutines())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// What remains is known: the library never closes its client, and
	// the client's lease loops (two a node) outlive the closed connection,
	// idle. Nothing else of the client may.
	lessor, other := lessorGoroutines()
	if other != "" {
		t.Fatalf("a goroutine of the etcd client outlives the nodes:\n%s", other)
	}
	if lessor-lessorBefore > 6 {
		t.Fatalf("%d lease loops of the etcd client remain; want at most two a node", lessor-lessorBefore)
	}
	t.Logf("%d idle lease loops of the library's unclosed etcd clients remain", lessor-lessorBefore)
}

// lessorGoroutines counts the etcd client's lease loops, and returns the
// stacks of its other goroutines, outside etcd's server.
func lessorGoroutines() (lessor int, other string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		switch {
		case strings.Contains(g, "(*lessor).recvKeepAliveLoop") || strings.Contains(g, "(*lessor).deadlineLoop"):
			lessor++
		case strings.Contains(g, "go.etcd.io/etcd/client/v3."):
			out = append(out, g)
		}
	}
	return lessor, strings.Join(out, "\n\n")
}

// cutProxy forwards TCP connections to target; cut drops them and refuses
// new ones, as a network between a node and etcd would, until restore.
type cutProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, target: target}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				in.Close()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				in.Close()
				continue
			}
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(func() { p.setCut(true); l.Close() })
	return p
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// A node that loses etcd (as if it died: it stops keeping its lease alive)
// is dropped by the others when its lease expires, and its identities move.
// The library's lease TTL is 3 s; the test reports how long it took. Back
// in touch, the node registers again under its blocked member id: it is
// excluded. Cut off again, its stop is bounded.
func TestEtcdLostNodeIsDropped(t *testing.T) {
	endpoint := startEtcd(t)
	const prefix = "/trailspark-test"
	proxy := newCutProxy(t, strings.TrimPrefix(endpoint, "http://"))
	a := startReady(t, Config{Name: "etcd-test", Provider: ProviderEtcd,
		Etcd: EtcdConfig{Endpoints: []string{endpoint}, Prefix: prefix}})
	defer a.Stop(true)
	b := startReady(t, Config{Name: "etcd-test", Provider: ProviderEtcd,
		Etcd: EtcdConfig{Endpoints: []string{"http://" + proxy.l.Addr().String()}, Prefix: prefix}})
	defer b.Stop(false)
	waitMembers(t, "cluster formed", 2, a, b)
	onB := placeOn(t, b, a, b)

	cut := time.Now()
	proxy.setCut(true)
	deadline := time.Now().Add(10 * time.Second)
	for len(a.Members()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("a still sees %v 10s after b lost etcd", a.Members())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("a dropped b %v after b lost etcd (lease TTL 3s)", time.Since(cut))
	if got := waitServed(t, a, onB, b.Address()); got != a.Address() {
		t.Fatalf("identity %s served from %s", onB, got)
	}

	restored := time.Now()
	proxy.setCut(false)
	deadline = time.Now().Add(10 * time.Second)
	for !b.Excluded() {
		if time.Now().After(deadline) {
			t.Fatalf("b not excluded 10s after etcd came back; it sees %v, a sees %v", b.Members(), a.Members())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("b saw itself dropped %v after etcd came back", time.Since(restored))
	if b.Ready() || len(a.Members()) != 1 {
		t.Fatalf("b ready %v; a sees %v", b.Ready(), a.Members())
	}

	// Cut off, b cannot deregister; its stop is bounded all the same.
	proxy.setCut(true)
	stopped := time.Now()
	b.Stop(false)
	if d := time.Since(stopped); d > etcdShutdownTimeout+2*time.Second {
		t.Fatalf("stopping a node cut off from etcd took %v", d)
	} else {
		t.Logf("b, cut off from etcd, stopped in %v", d)
	}
}

// Bad consul or etcd settings refuse to start instead of retrying forever.
func TestConsulAndEtcdRefuseBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"consul no address", Config{Provider: ProviderConsul}, "no agent address"},
		{"consul bad scheme", Config{Provider: ProviderConsul, Consul: ConsulConfig{Address: "unix:///tmp/consul.sock"}}, "not host:port"},
		{"consul token twice", Config{Provider: ProviderConsul, Consul: ConsulConfig{Address: "127.0.0.1:1", Token: "a", TokenFile: "/x"}}, "not both"},
		{"consul token file missing", Config{Provider: ProviderConsul, Consul: ConsulConfig{Address: "127.0.0.1:1", TokenFile: "/nonexistent/token"}}, "token file"},
		{"consul CA over http", Config{Provider: ProviderConsul, Consul: ConsulConfig{Address: "127.0.0.1:1", CAFile: "/x"}}, "https"},
		{"consul slow refresh", Config{Provider: ProviderConsul, Consul: ConsulConfig{Address: "127.0.0.1:1", TTL: time.Second, RefreshTTL: time.Second}}, "too slow"},
		{"etcd no endpoints", Config{Provider: ProviderEtcd}, "no endpoints"},
		{"etcd bare endpoint", Config{Provider: ProviderEtcd, Etcd: EtcdConfig{Endpoints: []string{"127.0.0.1:2379"}}}, "not an http"},
		{"etcd CA over http", Config{Provider: ProviderEtcd, Etcd: EtcdConfig{Endpoints: []string{"http://127.0.0.1:1"}, CAData: []byte("x")}}, "https"},
		{"etcd user without password", Config{Provider: ProviderEtcd, Etcd: EtcdConfig{Endpoints: []string{"http://127.0.0.1:1"}, Username: "u"}}, "password"},
		{"etcd bad prefix", Config{Provider: ProviderEtcd, Etcd: EtcdConfig{Endpoints: []string{"http://127.0.0.1:1"}, Prefix: "x/"}}, "prefix"},
	} {
		n, err := Start(tc.cfg, echoKind)
		if err == nil {
			n.Stop(false)
			t.Fatalf("%s: started", tc.name)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: err = %v, want one about %s", tc.name, err, tc.want)
		}
	}
}

// With auth on, nodes log in as a user whose role may read and write only
// the prefix (what operations.md tells to grant); a wrong password fails
// at start.
func TestEtcdProviderWithAuth(t *testing.T) {
	endpoint := startEtcd(t)
	const prefix = "/trailspark-auth"
	admin, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, step := range []func() error{
		func() error { _, err := admin.RoleAdd(ctx, "root"); return err },
		func() error { _, err := admin.UserAdd(ctx, "root", "root-password"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "trailspark"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "trailspark", prefix+"/", clientv3.GetPrefixRangeEnd(prefix+"/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "trailspark", "node-password"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "trailspark", "trailspark"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	admin.Close()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte("node-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := func(passwordFile string) Config {
		return Config{Name: "etcd-test", Provider: ProviderEtcd,
			Etcd: EtcdConfig{Endpoints: []string{endpoint}, Prefix: prefix, Username: "trailspark", PasswordFile: passwordFile}}
	}
	a := startReady(t, cfg(good))
	defer a.Stop(true)
	b := startReady(t, cfg(good))
	defer b.Stop(true)
	waitMembers(t, "cluster formed with auth", 2, a, b)
	placeOn(t, b, a, b)

	if n, err := Start(cfg(bad), echoKind); err == nil {
		n.Stop(false)
		t.Fatal("a node with a wrong etcd password started")
	} else if !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("wrong password: err = %v", err)
	}
}
