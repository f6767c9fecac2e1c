package sdk

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/trailspark/trailspark/sdk/connector"
	pb "github.com/trailspark/trailspark/sdk/proto/v1"
)

// Client is the host side of a connector: it implements connector.Full over
// gRPC. Errors are always *connector.Error (test with errors.Is against
// connector.ErrRetryable and friends), except the caller's own context
// cancellation, returned as context.Canceled.
type Client struct {
	rpc      pb.ConnectorClient
	conn     *grpc.ClientConn
	done     context.Context
	protocol int
}

var _ connector.Full = (*Client)(nil)

func newClient(done context.Context, conn *grpc.ClientConn) *Client {
	return &Client{rpc: pb.NewConnectorClient(conn), conn: conn, done: done}
}

// Done is closed when the plugin process exits.
func (c *Client) Done() <-chan struct{} { return c.done.Done() }

// Protocol is the negotiated protocol version.
func (c *Client) Protocol() int { return c.protocol }

// Ping checks the plugin's gRPC health service, bounded by ctx (go-plugin's
// own Ping has no deadline, so a hung plugin would hang the health check).
func (c *Client) Ping(ctx context.Context) error {
	_, err := grpc_health_v1.NewHealthClient(c.conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"})
	return fromStatus(ctx, err)
}

// DescribeFull also returns what the SDK adds: protocol and SDK versions.
func (c *Client) DescribeFull(ctx context.Context) (connector.Info, int, string, error) {
	r, err := c.rpc.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return connector.Info{}, 0, "", fromStatus(ctx, err)
	}
	info := connector.Info{Name: r.Name, Version: r.Version, Description: r.Description}
	for _, s := range r.Capabilities {
		info.Capabilities = append(info.Capabilities, connector.Capability(s))
	}
	for _, s := range r.Kinds {
		info.Kinds = append(info.Kinds, connector.Kind(s))
	}
	return info, int(r.ProtocolVersion), r.SdkVersion, nil
}

func (c *Client) Describe(ctx context.Context) (connector.Info, error) {
	info, _, _, err := c.DescribeFull(ctx)
	return info, err
}

func (c *Client) Configure(ctx context.Context, cfg connector.Config) error {
	_, err := c.rpc.Configure(ctx, &pb.ConfigRequest{Config: cfgToPB(cfg)})
	return fromStatus(ctx, err)
}

func (c *Client) Check(ctx context.Context, cfg connector.Config) error {
	_, err := c.rpc.Check(ctx, &pb.ConfigRequest{Config: cfgToPB(cfg)})
	return fromStatus(ctx, err)
}

// Read streams records to emit. If emit returns an error the stream is
// cancelled and that error returned. A stream that ends without its final
// message (plugin crash) is a retryable error: resume from the last cursor.
func (c *Client) Read(ctx context.Context, cfg connector.Config, req connector.ReadRequest, emit func(connector.Record) error) (connector.ReadResult, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Read(sctx, &pb.ReadRequest{Config: cfgToPB(cfg), Kind: string(req.Kind), Cursor: req.Cursor, Limit: int32(req.Limit)})
	if err != nil {
		return connector.ReadResult{}, fromStatus(ctx, err)
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return connector.ReadResult{}, connector.Retryable("read stream ended without its final message")
		}
		if err != nil {
			return connector.ReadResult{}, fromStatus(ctx, err)
		}
		for _, r := range msg.Records {
			if err := emit(recordFromPB(r)); err != nil {
				return connector.ReadResult{}, err
			}
		}
		if msg.Done {
			return connector.ReadResult{NextCursor: msg.NextCursor, More: msg.More}, nil
		}
	}
}

func (c *Client) Write(ctx context.Context, cfg connector.Config, req connector.WriteRequest) ([]connector.WriteResult, error) {
	r, err := c.rpc.Write(ctx, &pb.WriteRequest{Config: cfgToPB(cfg), Object: req.Object, Updates: updatesToPB(req.Updates)})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return resultsFromPB(r.Results), nil
}

func (c *Client) Translate(ctx context.Context, cfg connector.Config, req connector.TranslateRequest) ([]connector.Signal, error) {
	r, err := c.rpc.Translate(ctx, &pb.TranslateRequest{Config: cfgToPB(cfg), Payload: req.Payload, Headers: headersToPB(req.Headers), ContentType: req.ContentType})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return signalsFromPB(r.Signals), nil
}

func (c *Client) Metadata(ctx context.Context, cfg connector.Config, req connector.MetadataRequest) (connector.Metadata, error) {
	r, err := c.rpc.Metadata(ctx, &pb.MetadataRequest{Config: cfgToPB(cfg), Objects: req.Objects})
	if err != nil {
		return connector.Metadata{}, fromStatus(ctx, err)
	}
	return metadataFromPB(r.Objects), nil
}

func (c *Client) AuthURL(ctx context.Context, cfg connector.Config, req connector.AuthURLRequest) (string, error) {
	r, err := c.rpc.AuthURL(ctx, &pb.AuthURLRequest{Config: cfgToPB(cfg), RedirectUri: req.RedirectURI, State: req.State,
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: req.CodeChallengeMethod, Scopes: req.Scopes})
	if err != nil {
		return "", fromStatus(ctx, err)
	}
	return r.Url, nil
}

func (c *Client) ExchangeCode(ctx context.Context, cfg connector.Config, req connector.ExchangeCodeRequest) (connector.Token, error) {
	r, err := c.rpc.ExchangeCode(ctx, &pb.ExchangeCodeRequest{Config: cfgToPB(cfg), Code: req.Code, RedirectUri: req.RedirectURI, CodeVerifier: req.CodeVerifier})
	if err != nil {
		return connector.Token{}, fromStatus(ctx, err)
	}
	return tokenFromPB(r), nil
}

func (c *Client) Refresh(ctx context.Context, cfg connector.Config, refreshToken string) (connector.Token, error) {
	r, err := c.rpc.Refresh(ctx, &pb.RefreshRequest{Config: cfgToPB(cfg), RefreshToken: refreshToken})
	if err != nil {
		return connector.Token{}, fromStatus(ctx, err)
	}
	return tokenFromPB(r), nil
}
