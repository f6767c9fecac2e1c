package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/consul"
	"github.com/hashicorp/consul/api"
)

// ProviderConsul is membership through a Consul agent, with protoactor-go's
// own provider (clusterproviders/consul): each node registers a service
// named after the cluster (id = the node's member id, address and port =
// its advertised actor endpoint, tags = its grain kinds) with a TTL check
// that it passes every RefreshTTL, and watches the service's health with
// blocking queries. Members are the instances whose checks all pass. A
// graceful leave deregisters the service; a node that dies is dropped when
// its check's TTL runs out (then Consul removes it after a minute
// critical). The member id is the actor system's id.
//
// Each node talks to one agent (usually the local one: Consul registers
// services with the agent they are sent to). The address registered is the
// node's advertised host: loopback is right only when every node runs on
// one host.
const ProviderConsul = "consul"

// Default TTLs of the Consul check, the library's own.
const (
	DefaultConsulTTL        = 3 * time.Second
	DefaultConsulRefreshTTL = time.Second
)

// ConsulConfig configures ProviderConsul.
type ConsulConfig struct {
	// Address is the agent's HTTP API: host:port, http://host:port or
	// https://host:port.
	Address string
	// Token or TokenFile is the ACL token; empty = none (Consul's
	// CONSUL_HTTP_TOKEN* variables then apply, as for its own tools).
	Token     string
	TokenFile string
	// CAFile or CAData is the agent's CA (PEM) for https; Insecure skips
	// TLS verification instead (tests only).
	CAFile   string
	CAData   []byte
	Insecure bool
	// TTL is the check's TTL (default DefaultConsulTTL): a node that has
	// not passed its check for this long stops being a member.
	// RefreshTTL is how often it passes it (default
	// DefaultConsulRefreshTTL); it must be well under TTL.
	TTL        time.Duration
	RefreshTTL time.Duration
}

// consulProvider wraps the library's provider for what it does not do:
//   - its watch of the service (a Consul watch plan) is never stopped; the
//     wrapper's transport holds it once the node left, so it sends
//     nothing more (one parked goroutine per stopped node remains);
//   - it retries a failed registration at once, forever; the transport
//     spaces those retries by a second;
//   - its watch drops the ACL token (the plan sets its own, empty); the
//     transport puts the token on every request.
type consulProvider struct {
	inner *consul.Provider
	tr    *consulTransport
}

func newConsulProvider(cfg ConsulConfig) (*consulProvider, error) {
	if cfg.Address == "" {
		return nil, errors.New("cluster: consul provider: no agent address")
	}
	scheme, hostport := "http", cfg.Address
	if i := strings.Index(cfg.Address, "://"); i >= 0 {
		u, err := url.Parse(cfg.Address)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("cluster: consul provider: agent address %q is not host:port or an http(s)://host:port URL", cfg.Address)
		}
		scheme, hostport = u.Scheme, u.Host
	}
	if cfg.Token != "" && cfg.TokenFile != "" {
		return nil, errors.New("cluster: consul provider: give a token or a token file, not both")
	}
	token := cfg.Token
	if cfg.TokenFile != "" {
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("cluster: consul provider: token file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return nil, fmt.Errorf("cluster: consul provider: token file %s is empty", cfg.TokenFile)
		}
	}
	if (cfg.CAFile != "" || len(cfg.CAData) > 0 || cfg.Insecure) && scheme != "https" {
		return nil, errors.New("cluster: consul provider: a CA or insecure is for an https:// agent address")
	}
	ttl, refresh := cfg.TTL, cfg.RefreshTTL
	if ttl <= 0 {
		ttl = DefaultConsulTTL
	}
	if refresh <= 0 {
		refresh = DefaultConsulRefreshTTL
	}
	if refresh > ttl/2 {
		return nil, fmt.Errorf("cluster: consul provider: refresh every %v is too slow for a TTL of %v (at most half)", refresh, ttl)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	if scheme == "https" {
		tc, err := api.SetupTLSConfig(&api.TLSConfig{CAFile: cfg.CAFile, CAPem: cfg.CAData, InsecureSkipVerify: cfg.Insecure})
		if err != nil {
			return nil, fmt.Errorf("cluster: consul provider: TLS: %w", err)
		}
		base.TLSClientConfig = tc
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &consulTransport{token: token, next: base, ctx: ctx, cancel: cancel}
	ac := &api.Config{Address: hostport, Scheme: scheme, Token: token, HttpClient: &http.Client{Transport: tr}}
	p, err := consul.NewWithConfig(ac, consul.WithTTL(ttl), consul.WithRefreshTTL(refresh))
	if err != nil {
		return nil, fmt.Errorf("cluster: consul provider: %w", err)
	}
	return &consulProvider{inner: p, tr: tr}, nil
}

func (p *consulProvider) StartMember(c *pcluster.Cluster) error { return p.inner.StartMember(c) }

func (p *consulProvider) StartClient(c *pcluster.Cluster) error { return p.inner.StartClient(c) }

// consulShutdownTimeout bounds the deregistration: the library's requests
// have no deadline, and an agent that does not answer would hold Stop.
const consulShutdownTimeout = 5 * time.Second

// Shutdown stops the library's provider actor, which deregisters the
// service (graceful or not: a stopped node must not stay registered until
// its TTL runs out), waiting at most consulShutdownTimeout, then stops all
// traffic to the agent and cancels what is in flight. The watch's query
// then in flight has normally returned at the deregistration (it changes
// the service's index); the next one is held.
func (p *consulProvider) Shutdown(graceful bool) error {
	p.tr.leaving()
	done := make(chan error, 1)
	go func() { done <- p.inner.Shutdown(graceful) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(consulShutdownTimeout):
		err = errors.New("cluster: consul provider: deregistration timed out; the check will go critical after its TTL")
	}
	p.tr.stop()
	return err
}

// consulTransport is the HTTP transport of both the library's client and
// its watch.
type consulTransport struct {
	token string
	next  *http.Transport
	// ctx ends when the node left: no requests at all, and those in
	// flight are cancelled.
	ctx    context.Context
	cancel context.CancelFunc

	mu   sync.Mutex
	left bool // leaving: no new health queries
}

// registerRetryDelay spaces the library's registration retries.
const registerRetryDelay = time.Second

func (t *consulTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	held := (t.left && req.Method == http.MethodGet) || t.ctx.Err() != nil
	t.mu.Unlock()
	if held {
		// The library's watch never stops: hold its requests until the
		// plan gives up on them (never, unless stopped), without traffic.
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	ctx, cancel := context.WithCancel(req.Context())
	unhook := context.AfterFunc(t.ctx, cancel)
	done := func() { unhook(); cancel() }
	req = req.Clone(ctx)
	if t.token != "" {
		req.Header.Set("X-Consul-Token", t.token)
	}
	res, err := t.next.RoundTrip(req)
	if req.Method == http.MethodPut && req.URL.Path == "/v1/agent/service/register" && (err != nil || res.StatusCode >= 300) {
		select {
		case <-time.After(registerRetryDelay):
		case <-ctx.Done():
		}
	}
	if err != nil {
		done()
		return nil, err
	}
	res.Body = &doneBody{ReadCloser: res.Body, done: done}
	return res, nil
}

// doneBody releases a request's context when its body is closed.
type doneBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

func (t *consulTransport) leaving() {
	t.mu.Lock()
	t.left = true
	t.mu.Unlock()
}

func (t *consulTransport) stop() {
	t.mu.Lock()
	t.cancel()
	t.mu.Unlock()
	t.next.CloseIdleConnections()
}
