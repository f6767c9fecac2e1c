package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ProviderEtcd is membership through etcd, with protoactor-go's own
// provider (clusterproviders/etcd): each node puts a key
// PREFIX/CLUSTER/CLUSTER@SYSTEMID holding its address and kinds, under a
// lease of 3 s that it keeps alive, and watches the keys under
// PREFIX/CLUSTER. A graceful leave deletes the key; a node that dies (or
// loses etcd) is dropped when its lease expires, about 3 s later. The TTL
// is the library's, with no option to change it.
//
// The member id is the key's last part (CLUSTER@SYSTEMID), not the actor
// system's id, so a node finds itself among the members by its address.
// The address is the node's advertised host and port: loopback is right
// only when every node runs on one host.
const ProviderEtcd = "etcd"

// DefaultEtcdPrefix is the key prefix of the members (the library's default
// is /protoactor).
const DefaultEtcdPrefix = "/trailspark"

// EtcdConfig configures ProviderEtcd.
type EtcdConfig struct {
	// Endpoints are the etcd client URLs (http://host:2379 or https://…).
	Endpoints []string
	// Username and Password (or PasswordFile) authenticate to etcd (its
	// auth enabled); empty = none.
	Username     string
	Password     string
	PasswordFile string
	// CAFile or CAData is the CA (PEM) of https endpoints; empty = the
	// system's roots.
	CAFile string
	CAData []byte
	// Prefix is the key prefix (default DefaultEtcdPrefix); nodes of one
	// cluster must share it.
	Prefix string
	// DialTimeout bounds connecting to etcd (default 5 s).
	DialTimeout time.Duration
}

// etcdShutdownTimeout bounds the library's deregistration, which runs
// without a deadline: with etcd unreachable it would wait forever.
const etcdShutdownTimeout = 5 * time.Second

// etcdProvider wraps the library's provider. The library never closes its
// etcd client: after Shutdown the client's lease keep-alive would go on,
// and a key that failed to be deleted would never expire. The wrapper
// closes the client's connection after Shutdown (it catches the connection
// in a gRPC interceptor, since the library keeps the client to itself),
// and fails any later call at once.
type etcdProvider struct {
	inner *etcd.Provider
	gate  *grpcGate
}

func newEtcdProvider(cfg EtcdConfig) (*etcdProvider, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("cluster: etcd provider: no endpoints")
	}
	password := cfg.Password
	if cfg.PasswordFile != "" {
		if password != "" {
			return nil, errors.New("cluster: etcd provider: give a password or a password file, not both")
		}
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("cluster: etcd provider: password file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	if (cfg.Username == "") != (password == "") {
		return nil, errors.New("cluster: etcd provider: a user name needs a password, and a password a user name")
	}
	cc := clientv3.Config{
		Endpoints:   cfg.Endpoints,
		Username:    cfg.Username,
		Password:    password,
		DialTimeout: cfg.DialTimeout,
		Logger:      zap.NewNop(),
	}
	if cc.DialTimeout <= 0 {
		cc.DialTimeout = 5 * time.Second
	}
	https, plain := false, false
	for _, e := range cfg.Endpoints {
		switch {
		case strings.HasPrefix(e, "https://"):
			https = true
		case strings.HasPrefix(e, "http://"):
			plain = true
		default:
			return nil, fmt.Errorf("cluster: etcd provider: endpoint %q is not an http:// or https:// URL", e)
		}
	}
	if https && plain {
		return nil, errors.New("cluster: etcd provider: endpoints must be all http:// or all https://")
	}
	if !https && (cfg.CAFile != "" || len(cfg.CAData) > 0) {
		return nil, errors.New("cluster: etcd provider: a CA is for https:// endpoints")
	}
	if https {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		ca := cfg.CAData
		if cfg.CAFile != "" {
			b, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("cluster: etcd provider: CA file: %w", err)
			}
			ca = b
		}
		if len(ca) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(ca) {
				return nil, errors.New("cluster: etcd provider: the CA holds no PEM certificate")
			}
			tc.RootCAs = pool
		}
		cc.TLS = tc
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultEtcdPrefix
	}
	if !strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("cluster: etcd provider: prefix %q must start with / and not end with one", prefix)
	}
	gate := newGRPCGate()
	cc.DialOptions = []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(gate.unary),
		grpc.WithChainStreamInterceptor(gate.stream),
	}
	p, err := etcd.NewWithConfig(prefix, cc)
	if err != nil {
		return nil, fmt.Errorf("cluster: etcd provider: %w", err)
	}
	return &etcdProvider{inner: p, gate: gate}, nil
}

func (p *etcdProvider) StartMember(c *pcluster.Cluster) error {
	// The library's first calls (read the members, grant a lease) have no
	// deadline; if etcd cannot be reached, Start's registration timeout
	// ends the wait and Shutdown releases them.
	return p.inner.StartMember(c)
}

func (p *etcdProvider) StartClient(c *pcluster.Cluster) error { return p.inner.StartClient(c) }

// Shutdown deletes this node's key (the library's Shutdown, graceful or
// not), waiting at most etcdShutdownTimeout, then closes the connection.
func (p *etcdProvider) Shutdown(graceful bool) error {
	done := make(chan error, 1)
	go func() { done <- p.inner.Shutdown(graceful) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(etcdShutdownTimeout):
		err = errors.New("cluster: etcd provider: deregistration timed out; the key expires with its lease")
	}
	p.gate.close()
	return err
}

// grpcGate lets the calls of a gRPC client through until it is closed; it
// remembers the client's connection so it can close it.
type grpcGate struct {
	ctx    context.Context // ends when the gate closes
	cancel context.CancelFunc
	mu     sync.Mutex
	conns  map[*grpc.ClientConn]bool
}

func newGRPCGate() *grpcGate {
	ctx, cancel := context.WithCancel(context.Background())
	return &grpcGate{ctx: ctx, cancel: cancel}
}

var errGateClosed = status.Error(codes.Canceled, "cluster: the node left the cluster")

func (g *grpcGate) track(cc *grpc.ClientConn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx.Err() != nil {
		return false
	}
	if g.conns == nil {
		g.conns = map[*grpc.ClientConn]bool{}
	}
	g.conns[cc] = true
	return true
}

// bind derives a context that also ends when the gate closes.
func (g *grpcGate) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(g.ctx, cancel)
	context.AfterFunc(ctx, func() { stop() })
	return ctx, cancel
}

func (g *grpcGate) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if !g.track(cc) {
		return errGateClosed
	}
	ctx, cancel := g.bind(ctx)
	defer cancel()
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (g *grpcGate) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if !g.track(cc) {
		return nil, errGateClosed
	}
	// A stream lives past this call: it ends with the caller's context or
	// when the gate closes.
	sctx, cancel := g.bind(ctx)
	s, err := streamer(sctx, desc, cc, method, opts...)
	if err != nil {
		cancel()
	}
	return s, err
}

func (g *grpcGate) close() {
	g.mu.Lock()
	g.cancel()
	conns := g.conns
	g.conns = nil
	g.mu.Unlock()
	for cc := range conns {
		_ = cc.Close()
	}
}
