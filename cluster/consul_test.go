package cluster

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// fakeConsul is a stand-in for a Consul agent (there is no consul binary
// here), serving the part of its HTTP API that protoactor's provider and
// Consul's Go client use, as HashiCorp documents it:
//   - PUT /v1/agent/service/register: an AgentServiceRegistration with one
//     TTL check, named "service:<id>", critical until first passed;
//   - PUT /v1/agent/service/deregister/<id>;
//   - PUT /v1/agent/check/update/<check id>: {"Status", "Output"}; a TTL
//     check not updated within its TTL turns critical;
//   - GET /v1/health/service/<name>: []ServiceEntry, ?passing for passing
//     instances only, blocking on ?index=N until the index moves past N or
//     ?wait (default 5 min, at most 10) elapses, with X-Consul-Index.
//
// It is not Consul: one agent, one node, no catalog anti-entropy, no
// consistency modes; only what the provider needs.
type fakeConsul struct {
	t     *testing.T
	token string // required ACL token; empty = none

	mu       sync.Mutex
	index    uint64
	changed  chan struct{} // closed and replaced at each index change
	services map[string]*fakeService
	cut      map[string]bool // service ids whose check updates fail (a lost node)
	requests int
	stopped  chan struct{}
}

type fakeService struct {
	reg        api.AgentServiceRegistration
	ttl        time.Duration
	status     string
	output     string
	expires    time.Time // when the TTL runs out
	critSince  time.Time
	deregAfter time.Duration
}

func newFakeConsul(t *testing.T, token string) *fakeConsul {
	f := &fakeConsul{t: t, token: token, index: 1, changed: make(chan struct{}),
		services: map[string]*fakeService{}, cut: map[string]bool{}, stopped: make(chan struct{})}
	go f.reap()
	t.Cleanup(func() { close(f.stopped) })
	return f
}

// bump moves the index on; the caller holds mu.
func (f *fakeConsul) bump() {
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
}

// reap turns checks whose TTL ran out critical, and removes services
// critical for longer than their DeregisterCriticalServiceAfter.
func (f *fakeConsul) reap() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-f.stopped:
			return
		case now := <-tick.C:
			f.mu.Lock()
			for id, s := range f.services {
				if s.status != api.HealthCritical && now.After(s.expires) {
					s.status, s.output, s.critSince = api.HealthCritical, "TTL expired", now
					f.bump()
				}
				if s.status == api.HealthCritical && s.deregAfter > 0 && now.Sub(s.critSince) > s.deregAfter {
					delete(f.services, id)
					f.bump()
				}
			}
			f.mu.Unlock()
		}
	}
}

func (f *fakeConsul) fail(w http.ResponseWriter, code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.t.Logf("fake consul: %d %s", code, msg)
	http.Error(w, msg, code)
}

func (f *fakeConsul) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	if f.token != "" && r.Header.Get("X-Consul-Token") != f.token {
		f.fail(w, http.StatusForbidden, "ACL not found (%s %s)", r.Method, r.URL.Path)
		return
	}
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPut && p == "/v1/agent/service/register":
		f.register(w, r)
	case r.Method == http.MethodPut && strings.HasPrefix(p, "/v1/agent/service/deregister/"):
		id := strings.TrimPrefix(p, "/v1/agent/service/deregister/")
		f.mu.Lock()
		_, ok := f.services[id]
		if ok {
			delete(f.services, id)
			f.bump()
		}
		f.mu.Unlock()
		if !ok {
			f.fail(w, http.StatusNotFound, "Unknown service ID %q. Ensure that the service ID is passed, not the service name.", id)
		}
	case r.Method == http.MethodPut && strings.HasPrefix(p, "/v1/agent/check/update/"):
		f.updateCheck(w, r, strings.TrimPrefix(p, "/v1/agent/check/update/"))
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/v1/health/service/"):
		f.health(w, r, strings.TrimPrefix(p, "/v1/health/service/"))
	default:
		f.fail(w, http.StatusNotFound, "%s %s is not served", r.Method, r.URL)
	}
}

func (f *fakeConsul) register(w http.ResponseWriter, r *http.Request) {
	var reg api.AgentServiceRegistration
	if err := json.NewDecoder(r.Body).Decode(&reg); err != nil {
		f.fail(w, http.StatusBadRequest, "Request decode failed: %v", err)
		return
	}
	if reg.Name == "" || reg.ID == "" || reg.Check == nil || reg.Check.TTL == "" || len(reg.Checks) > 0 {
		f.fail(w, http.StatusBadRequest, "want a named service with an id and one TTL check, got %+v", reg)
		return
	}
	ttl, err := time.ParseDuration(reg.Check.TTL)
	if err != nil || ttl <= 0 {
		f.fail(w, http.StatusBadRequest, "Invalid check: TTL %q", reg.Check.TTL)
		return
	}
	var deregAfter time.Duration
	if reg.Check.DeregisterCriticalServiceAfter != "" {
		if deregAfter, err = time.ParseDuration(reg.Check.DeregisterCriticalServiceAfter); err != nil {
			f.fail(w, http.StatusBadRequest, "Invalid check: DeregisterCriticalServiceAfter %q", reg.Check.DeregisterCriticalServiceAfter)
			return
		}
		deregAfter = max(deregAfter, time.Minute) // Consul's minimum
	}
	status := reg.Check.Status
	if status == "" {
		status = api.HealthCritical // TTL checks start critical
	}
	now := time.Now()
	f.mu.Lock()
	f.services[reg.ID] = &fakeService{reg: reg, ttl: ttl, status: status, expires: now.Add(ttl), critSince: now, deregAfter: deregAfter}
	f.bump()
	f.mu.Unlock()
}

func (f *fakeConsul) updateCheck(w http.ResponseWriter, r *http.Request, checkID string) {
	var up struct{ Status, Output string }
	if err := json.NewDecoder(r.Body).Decode(&up); err != nil {
		f.fail(w, http.StatusBadRequest, "Request decode failed: %v", err)
		return
	}
	switch up.Status {
	case api.HealthPassing, api.HealthWarning, api.HealthCritical:
	default:
		f.fail(w, http.StatusBadRequest, "Invalid status %q", up.Status)
		return
	}
	id, ok := strings.CutPrefix(checkID, "service:")
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.services[id]
	if !ok || s == nil {
		f.fail(w, http.StatusNotFound, "Unknown check ID %q", checkID)
		return
	}
	if f.cut[id] {
		f.fail(w, http.StatusServiceUnavailable, "(the test cut service %s off)", id)
		return
	}
	s.expires = time.Now().Add(s.ttl)
	// The agent syncs a check's change, not every refresh of the same state.
	if s.status != up.Status || s.output != up.Output {
		if up.Status == api.HealthCritical && s.status != api.HealthCritical {
			s.critSince = time.Now()
		}
		s.status, s.output = up.Status, up.Output
		f.bump()
	}
}

func (f *fakeConsul) health(w http.ResponseWriter, r *http.Request, name string) {
	q := r.URL.Query()
	wait := 5 * time.Minute
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.fail(w, http.StatusBadRequest, "Invalid wait time %q", v)
			return
		}
		wait = min(d, 10*time.Minute)
	}
	var index uint64
	if v := q.Get("index"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			f.fail(w, http.StatusBadRequest, "Invalid index %q", v)
			return
		}
		index = n
	}
	_, passingOnly := q["passing"]
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		f.mu.Lock()
		if index == 0 || f.index > index || f.index < index /* a reset */ {
			break
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-changed:
			continue
		case <-timer.C:
		case <-r.Context().Done():
			return
		}
		f.mu.Lock()
		break
	}
	entries := []*api.ServiceEntry{}
	for _, s := range f.services {
		if s.reg.Name != name || (passingOnly && s.status != api.HealthPassing) {
			continue
		}
		node := &api.Node{Node: "fake-agent", Address: "127.0.0.1", Datacenter: "dc1"}
		entries = append(entries, &api.ServiceEntry{
			Node: node,
			Service: &api.AgentService{ID: s.reg.ID, Service: s.reg.Name, Tags: s.reg.Tags, Meta: s.reg.Meta,
				Address: s.reg.Address, Port: s.reg.Port},
			Checks: api.HealthChecks{
				{Node: node.Node, CheckID: "serfHealth", Name: "Serf Health Status", Status: api.HealthPassing},
				{Node: node.Node, CheckID: "service:" + s.reg.ID, Name: "Service '" + s.reg.Name + "' check",
					Status: s.status, Output: s.output, ServiceID: s.reg.ID, ServiceName: s.reg.Name, Type: "ttl"},
			},
		})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Service.ID < entries[j].Service.ID })
	idx := f.index
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Consul-Index", strconv.FormatUint(idx, 10))
	w.Header().Set("X-Consul-KnownLeader", "true")
	_ = json.NewEncoder(w).Encode(entries)
}

func (f *fakeConsul) service(id string) (fakeService, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[id]
	if !ok {
		return fakeService{}, false
	}
	return *s, true
}

func (f *fakeConsul) count() (services, requests int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.services), f.requests
}

// consulGoroutines returns the stacks of goroutines running the consul
// provider's or Consul's client code that are not held by the node's
// transport.
func consulGoroutines() (running string, held int) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "clusterproviders/consul") && !strings.Contains(g, "hashicorp/consul/api") {
			continue
		}
		if strings.Contains(g, "(*consulTransport).RoundTrip") {
			held++
			continue
		}
		out = append(out, g)
	}
	return strings.Join(out, "\n\n"), held
}

// Two nodes find each other through a Consul agent (a fake following the
// documented API) with protoactor's own provider and an ACL token, serve
// each identity from one place, and a graceful stop deregisters the node,
// so the other drops it. Afterwards nothing of the provider talks to the
// agent.
func TestConsulProvider(t *testing.T) {
	fake := newFakeConsul(t, "s3cret")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() *Node {
		return startReady(t, Config{Name: "consul-test", Provider: ProviderConsul,
			Consul: ConsulConfig{Address: srv.URL, TokenFile: tokenFile}})
	}
	_, heldBefore := consulGoroutines() // left by earlier tests of this process
	began := time.Now()
	a := start()
	defer a.Stop(false)
	b := start()
	defer b.Stop(false)
	waitMembers(t, "cluster formed", 2, a, b)
	t.Logf("both ready and seeing each other after %v", time.Since(began))

	for _, n := range []*Node{a, b} {
		s, ok := fake.service(n.ID())
		port := n.Address()[strings.LastIndex(n.Address(), ":")+1:]
		if !ok || s.reg.Name != "consul-test" || strconv.Itoa(s.reg.Port) != port || s.reg.Address != "127.0.0.1" ||
			s.reg.Meta["id"] != n.ID() || !strings.Contains(strings.Join(s.reg.Tags, ","), "echo") || s.status != api.HealthPassing {
			t.Fatalf("node %s: registered %v %+v", n.Address(), ok, s)
		}
	}
	if a.Coordinator() == b.Coordinator() {
		t.Fatalf("coordinator: a %v, b %v; want exactly one", a.Coordinator(), b.Coordinator())
	}

	onA := placeOn(t, a, a, b)
	left := time.Now()
	a.Stop(true)
	t.Logf("a stopped in %v", time.Since(left))
	if _, ok := fake.service(a.ID()); ok {
		t.Fatal("a is still registered after a graceful stop")
	}
	waitMembers(t, "a dropped", 1, b)
	t.Logf("b dropped a %v after it began to stop", time.Since(left))
	if got := waitServed(t, b, onA, a.Address()); got != b.Address() {
		t.Fatalf("identity %s served from %s", onA, got)
	}
	if !b.Coordinator() {
		t.Fatal("the only member is not the coordinator")
	}

	b.Stop(false) // deregisters too
	if n, _ := fake.count(); n != 0 {
		t.Fatalf("%d services registered after both stopped", n)
	}
	// The library never stops its watch: what is left of it must be held
	// by the transport (one a node), and send nothing.
	deadline := time.Now().Add(5 * time.Second)
	for {
		running, held := consulGoroutines()
		if held -= heldBefore; running == "" && held <= 2 {
			t.Logf("%d watch goroutines of the library held after stop", held)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after both stopped, %d held; running:\n%s", held, running)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, before := fake.count()
	time.Sleep(1500 * time.Millisecond) // more than a TTL refresh period
	if _, after := fake.count(); after != before {
		t.Fatalf("%d requests reached the agent after both nodes stopped", after-before)
	}
}

// A node that can no longer pass its check (it died, or lost its agent) is
// dropped by the other once the TTL runs out, and its identities move. The
// agent answers over https here, verified against its CA.
func TestConsulLostNodeIsDropped(t *testing.T) {
	fake := newFakeConsul(t, "")
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if _, err := Start(Config{Provider: ProviderConsul, Consul: ConsulConfig{Address: strings.TrimPrefix(srv.URL, "https://"), CAData: ca}}); err == nil {
		t.Fatal("a CA for a plain http agent address accepted")
	}
	start := func() *Node {
		return startReady(t, Config{Name: "consul-test", Provider: ProviderConsul,
			Consul: ConsulConfig{Address: srv.URL, CAData: ca}})
	}
	a := start()
	defer a.Stop(true)
	b := start()
	defer b.Stop(true)
	waitMembers(t, "cluster formed", 2, a, b)
	onB := placeOn(t, b, a, b)

	cut := time.Now()
	fake.mu.Lock()
	fake.cut[b.ID()] = true
	fake.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for len(a.Members()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("a still sees %v 10s after b's check updates stopped", a.Members())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("a dropped b %v after b's check updates stopped (TTL %v)", time.Since(cut), DefaultConsulTTL)
	if got := waitServed(t, a, onB, b.Address()); got != a.Address() {
		t.Fatalf("identity %s served from %s", onB, got)
	}
	// b saw itself critical too: its member id is blocked for good.
	deadline = time.Now().Add(5 * time.Second)
	for !b.Excluded() {
		if time.Now().After(deadline) {
			t.Fatalf("b not excluded; it sees %v", b.Members())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b.Ready() {
		t.Fatal("an excluded node reports ready")
	}
}

// An agent that takes connections but never answers must not hold a
// node's stop: the deregistration is bounded and what is in flight is
// cancelled.
func TestConsulStopWithSilentAgent(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	n, err := Start(Config{Name: "consul-test", Provider: ProviderConsul, Consul: ConsulConfig{Address: srv.URL}}, echoKind)
	if err != nil {
		t.Fatal(err)
	}
	if n.Ready() {
		t.Fatal("ready without an agent")
	}
	stopped := time.Now()
	n.Stop(true)
	// The library's StartMember sleeps a second before Stop may begin.
	if d := time.Since(stopped); d > consulShutdownTimeout+2*time.Second {
		t.Fatalf("stop took %v", d)
	} else {
		t.Logf("stopped in %v", d)
	}
}
