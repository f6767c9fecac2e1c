package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/hashicorp/go-hclog"
)

// ProviderAutomanaged is membership over a static list of peers: every node
// serves its identity over HTTP on its node port and polls every peer's.
//
// It speaks the protocol of protoactor-go's clusterproviders/automanaged
// (GET /_health answering the node's id, actor address, port and kinds),
// but is our own implementation on net/http: the library's package needs
// github.com/labstack/echo v3, a module this build does not take in (see
// docs/decisions/0009-cluster-mode.md). Being ours, it also fixes what the
// library's version does not: its state is per instance (the library keeps
// it in package globals), a peer is dropped only after it failed to answer
// for SuspectAfter (one slow answer does not evict a live node, which the
// library would then block for good), a node that leaves gracefully says
// so and is dropped at once, and a restarted node answering at a peer's
// address replaces the dead member at once.
const ProviderAutomanaged = "automanaged"

// Defaults of the automanaged provider's timing.
const (
	DefaultRefreshInterval = 300 * time.Millisecond
	DefaultSuspectAfter    = 2 * time.Second
)

// nodeModel is what /_health answers (protoactor's automanaged NodeModel,
// plus Leaving and the member ids this node currently sees).
type nodeModel struct {
	ID             string   `json:"id"`
	Address        string   `json:"address"`
	AutoManagePort int      `json:"auto_manage_port"`
	Port           int      `json:"port"`
	Kinds          []string `json:"kinds"`
	ClusterName    string   `json:"cluster_name"`
	Leaving        bool     `json:"leaving,omitempty"`
	Sees           []string `json:"sees,omitempty"`
}

// seenMember is a member learnt from a peer's answer.
type seenMember struct {
	model    nodeModel
	peer     string // the peer address it answered at
	lastSeen time.Time
}

// peerState is the last poll of one configured peer address.
type peerState struct {
	id      string // member id that last answered there
	lastOK  time.Time
	lastErr string
	leaving bool
}

type automanagedProvider struct {
	peers    []string
	interval time.Duration
	suspect  time.Duration
	log      hclog.Logger
	client   *http.Client
	ln       net.Listener
	srv      *http.Server

	mu        sync.Mutex
	cluster   *pcluster.Cluster
	self      nodeModel
	seen      map[string]*seenMember // by member id
	peerState map[string]*peerState  // by peer address
	visible   []string               // ids in the last topology this node published

	// excludedSince is when every peer that answered started to leave this
	// node out of its topology (zero: some peer includes it, or none
	// answered); excluded is set once that lasted excludeAfter.
	excludedSince time.Time
	excluded      atomic.Bool

	leaving  atomic.Bool
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	started  atomic.Bool
}

// newAutomanagedProvider binds the node port at once, so a port in use is
// an error of Start rather than a panic inside the library's StartMember.
func newAutomanagedProvider(bindHost string, port int, peers []string, interval, suspect time.Duration, log hclog.Logger) (*automanagedProvider, error) {
	if port <= 0 {
		return nil, errors.New("cluster: the automanaged provider needs a node port")
	}
	if len(peers) == 0 {
		return nil, errors.New("cluster: the automanaged provider needs at least one peer (host:port of node ports)")
	}
	if interval <= 0 {
		interval = DefaultRefreshInterval
	}
	if suspect <= 0 {
		suspect = DefaultSuspectAfter
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(bindHost, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("cluster: node port: %w", err)
	}
	timeout := min(time.Second, max(2*interval, 200*time.Millisecond))
	p := &automanagedProvider{
		peers:    append([]string(nil), peers...),
		interval: interval,
		suspect:  suspect,
		log:      log,
		client: &http.Client{Timeout: timeout, Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     30 * time.Second,
		}},
		ln:        ln,
		seen:      map[string]*seenMember{},
		peerState: map[string]*peerState{},
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_health", p.health)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return p, nil
}

func (p *automanagedProvider) health(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	m := p.self
	m.Sees = append([]string(nil), p.visible...)
	p.mu.Unlock()
	if m.ID == "" {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	m.Leaving = p.leaving.Load()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(m)
}

func (p *automanagedProvider) StartMember(c *pcluster.Cluster) error {
	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil {
		return err
	}
	kinds := c.GetClusterKinds()
	sort.Strings(kinds)
	p.mu.Lock()
	p.cluster = c
	p.self = nodeModel{ID: c.ActorSystem.ID, Address: host, Port: port, Kinds: kinds,
		ClusterName: c.Config.Name, AutoManagePort: p.ln.Addr().(*net.TCPAddr).Port}
	p.mu.Unlock()
	p.started.Store(true)
	go func() { _ = p.srv.Serve(p.ln) }()
	p.poll() // publish a first topology (at least this node) before returning
	go p.loop()
	return nil
}

// StartClient is not used: every TrailSpark node is a member.
func (p *automanagedProvider) StartClient(*pcluster.Cluster) error {
	return errors.New("cluster: client-only members are not supported")
}

// leave makes /_health say the node is leaving, so peers drop it at their
// next poll instead of after SuspectAfter.
func (p *automanagedProvider) leave() { p.leaving.Store(true) }

// Shutdown stops polling and closes the node port. Idempotent.
func (p *automanagedProvider) Shutdown(bool) error {
	p.stopOnce.Do(func() {
		close(p.stop)
		if p.started.Load() {
			<-p.done
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := p.srv.Shutdown(ctx); err != nil {
			_ = p.srv.Close()
		}
		_ = p.ln.Close()
		p.client.CloseIdleConnections()
	})
	return nil
}

func (p *automanagedProvider) loop() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			if p.leaving.Load() {
				continue // keep answering, stop publishing
			}
			p.poll()
		}
	}
}

// poll asks every peer who it is and publishes the members seen within
// SuspectAfter (and this node) as the topology.
func (p *automanagedProvider) poll() {
	type answer struct {
		m   *nodeModel
		err error
	}
	answers := make([]answer, len(p.peers))
	var wg sync.WaitGroup
	for i, peer := range p.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := p.fetch(peer)
			answers[i] = answer{m, err}
		}()
	}
	wg.Wait()

	now := time.Now()
	p.mu.Lock()
	self := p.self
	answered, leftOut := 0, 0
	for i, peer := range p.peers {
		st := p.peerState[peer]
		if st == nil {
			st = &peerState{}
			p.peerState[peer] = st
		}
		a := answers[i]
		switch {
		case a.err != nil:
			st.lastErr = a.err.Error()
			// Connection refused: nothing listens there any more (the
			// process died); its member goes without waiting SuspectAfter.
			if errors.Is(a.err, syscall.ECONNREFUSED) && st.id != "" && st.id != self.ID {
				delete(p.seen, st.id)
			}
		case a.m.ClusterName != self.ClusterName:
			st.lastErr = fmt.Sprintf("belongs to cluster %q, not %q", a.m.ClusterName, self.ClusterName)
		default:
			if st.id != "" && st.id != a.m.ID {
				delete(p.seen, st.id) // restarted at the same address: the old member is gone
			}
			st.id, st.lastOK, st.lastErr, st.leaving = a.m.ID, now, "", a.m.Leaving
			if a.m.ID != self.ID && !a.m.Leaving {
				answered++
				if !slices.Contains(a.m.Sees, self.ID) {
					leftOut++
				}
			}
			if a.m.Leaving {
				delete(p.seen, a.m.ID)
			} else if a.m.ID != self.ID {
				p.seen[a.m.ID] = &seenMember{model: *a.m, peer: peer, lastSeen: now}
			}
		}
	}
	var blocked []string
	if p.cluster != nil {
		blocked = p.cluster.GetBlockedMembers().ToSlice()
	}
	members := []*pcluster.Member{toMember(self)}
	visible := []string{self.ID} // what peers learn this node routes to
	for id, s := range p.seen {
		if now.Sub(s.lastSeen) > p.suspect {
			delete(p.seen, id)
			continue
		}
		members = append(members, toMember(s.model))
		if !slices.Contains(blocked, id) { // the library drops blocked ids
			visible = append(visible, id)
		}
	}
	sort.Strings(visible)
	p.visible = visible
	// A peer may leave a new node out for a poll or two; one that keeps
	// it out has blocked its member id, which never rejoins.
	switch {
	case answered == 0 || leftOut < answered:
		p.excludedSince = time.Time{}
		p.excluded.Store(false)
	case p.excludedSince.IsZero():
		p.excludedSince = now
	case now.Sub(p.excludedSince) > p.excludeAfter() && !p.excluded.Load():
		p.excluded.Store(true)
		p.log.Error("every peer leaves this node out of the cluster: they dropped its member id, which cannot rejoin; restart this node",
			"member", self.ID, "peers_answering", answered)
	}
	c := p.cluster
	p.mu.Unlock()
	if c != nil && !p.leaving.Load() {
		c.MemberList.UpdateClusterTopology(members)
	}
}

// excludeAfter is how long every peer may leave this node out before it
// counts as excluded: well past the time a join takes to be seen.
func (p *automanagedProvider) excludeAfter() time.Duration { return 3 * p.suspect }

func toMember(m nodeModel) *pcluster.Member {
	return &pcluster.Member{Id: m.ID, Host: m.Address, Port: int32(m.Port), Kinds: m.Kinds}
}

func (p *automanagedProvider) fetch(peer string) (*nodeModel, error) {
	resp, err := p.client.Get("http://" + peer + "/_health")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var m nodeModel
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("bad answer: %w", err)
	}
	if m.ID == "" || m.Port <= 0 {
		return nil, errors.New("bad answer: no member id or port")
	}
	return &m, nil
}

// peerView is one configured peer as this node last polled it.
type peerView struct {
	Peer    string
	ID      string
	LastOK  time.Time
	LastErr string
	Leaving bool
}

func (p *automanagedProvider) peerViews() []peerView {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]peerView, 0, len(p.peers))
	for _, peer := range p.peers {
		v := peerView{Peer: peer}
		if st := p.peerState[peer]; st != nil {
			v.ID, v.LastOK, v.LastErr, v.Leaving = st.id, st.lastOK, st.lastErr, st.leaving
		}
		out = append(out, v)
	}
	return out
}
