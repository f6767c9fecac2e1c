package sdk

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/trailspark/trailspark/sdk/connector"
	pb "github.com/trailspark/trailspark/sdk/proto/v1"
)

// Read chunking: records are sent in messages of at most readChunkRecords
// records or about readChunkBytes, whichever comes first, so a stream of
// small records is not one message per record and a page of large ones
// stays far below MaxMessageSize.
const (
	readChunkRecords = 256
	readChunkBytes   = 1 << 20
)

// server adapts a connector.Connector to pb.ConnectorServer (plugin side).
type server struct {
	pb.UnimplementedConnectorServer
	impl   connector.Connector
	info   connector.Info
	logger hclog.Logger
}

func registerServer(s *grpc.Server, impl connector.Connector, info connector.Info, logger hclog.Logger) {
	pb.RegisterConnectorServer(s, &server{impl: impl, info: info, logger: logger})
}

// capability returns impl as T when the connector declared c, or an
// unsupported error: a connector answers only for what it declared.
func capability[T any](s *server, c connector.Capability) (T, error) {
	var zero T
	if !s.info.Has(c) {
		return zero, connector.Unsupported("connector %s does not support %s", s.info.Name, c)
	}
	impl, ok := s.impl.(T)
	if !ok { // Serve checks this at start; kept as a guard.
		return zero, connector.Unsupported("connector %s declares %s but does not implement it", s.info.Name, c)
	}
	return impl, nil
}

func (s *server) Describe(ctx context.Context, _ *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	info, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return &pb.DescribeResponse{
		Name: info.Name, Version: info.Version, Capabilities: capsToStrings(info.Capabilities),
		Kinds: kindsToStrings(info.Kinds), Description: info.Description,
		ProtocolVersion: connector.ProtocolVersion, SdkVersion: Version,
	}, nil
}

func (s *server) Configure(ctx context.Context, req *pb.ConfigRequest) (*pb.ConfigResponse, error) {
	return &pb.ConfigResponse{}, toStatus(ctx, s.impl.Configure(ctx, cfgFromPB(req.Config)))
}

func (s *server) Check(ctx context.Context, req *pb.ConfigRequest) (*pb.ConfigResponse, error) {
	return &pb.ConfigResponse{}, toStatus(ctx, s.impl.Check(ctx, cfgFromPB(req.Config)))
}

func (s *server) Read(req *pb.ReadRequest, stream pb.Connector_ReadServer) error {
	ctx := stream.Context()
	r, err := capability[connector.Reader](s, connector.CapRead)
	if err != nil {
		return toStatus(ctx, err)
	}
	chunk := &pb.ReadResponse{}
	size := 0
	flush := func() error {
		if len(chunk.Records) == 0 {
			return nil
		}
		err := stream.Send(chunk)
		chunk, size = &pb.ReadResponse{}, 0
		return err
	}
	emit := func(rec connector.Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := recordToPB(rec)
		chunk.Records = append(chunk.Records, p)
		size += proto.Size(p)
		if len(chunk.Records) >= readChunkRecords || size >= readChunkBytes {
			return flush()
		}
		return nil
	}
	res, err := r.Read(ctx, cfgFromPB(req.Config), connector.ReadRequest{Kind: connector.Kind(req.Kind), Cursor: req.Cursor, Limit: int(req.Limit)}, emit)
	if err != nil {
		return toStatus(ctx, err)
	}
	if err := flush(); err != nil {
		return toStatus(ctx, err)
	}
	return toStatus(ctx, stream.Send(&pb.ReadResponse{Done: true, NextCursor: res.NextCursor, More: res.More}))
}

func (s *server) Write(ctx context.Context, req *pb.WriteRequest) (*pb.WriteResponse, error) {
	w, err := capability[connector.Writer](s, connector.CapWrite)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	updates := updatesFromPB(req.Updates)
	res, err := w.Write(ctx, cfgFromPB(req.Config), connector.WriteRequest{Object: req.Object, Updates: updates})
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	if len(res) != len(updates) {
		// A connector bug; the host cannot tell which records were written.
		return nil, toStatus(ctx, connector.Permanent("connector returned %d write results for %d updates", len(res), len(updates)))
	}
	return &pb.WriteResponse{Results: resultsToPB(res)}, nil
}

func (s *server) Translate(ctx context.Context, req *pb.TranslateRequest) (*pb.TranslateResponse, error) {
	t, err := capability[connector.Translator](s, connector.CapTranslate)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	sigs, err := t.Translate(ctx, cfgFromPB(req.Config), connector.TranslateRequest{Payload: req.Payload, Headers: headersFromPB(req.Headers), ContentType: req.ContentType})
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return &pb.TranslateResponse{Signals: signalsToPB(sigs)}, nil
}

func (s *server) Metadata(ctx context.Context, req *pb.MetadataRequest) (*pb.MetadataResponse, error) {
	m, err := capability[connector.MetadataProvider](s, connector.CapMetadata)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	md, err := m.Metadata(ctx, cfgFromPB(req.Config), connector.MetadataRequest{Objects: req.Objects})
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return &pb.MetadataResponse{Objects: metadataToPB(md)}, nil
}

func (s *server) AuthURL(ctx context.Context, req *pb.AuthURLRequest) (*pb.AuthURLResponse, error) {
	o, err := capability[connector.OAuthProvider](s, connector.CapOAuth)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	u, err := o.AuthURL(ctx, cfgFromPB(req.Config), connector.AuthURLRequest{RedirectURI: req.RedirectUri, State: req.State,
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: req.CodeChallengeMethod, Scopes: req.Scopes})
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return &pb.AuthURLResponse{Url: u}, nil
}

func (s *server) ExchangeCode(ctx context.Context, req *pb.ExchangeCodeRequest) (*pb.TokenResponse, error) {
	o, err := capability[connector.OAuthProvider](s, connector.CapOAuth)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	t, err := o.ExchangeCode(ctx, cfgFromPB(req.Config), connector.ExchangeCodeRequest{Code: req.Code, RedirectURI: req.RedirectUri, CodeVerifier: req.CodeVerifier})
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return tokenToPB(t), nil
}

func (s *server) Refresh(ctx context.Context, req *pb.RefreshRequest) (*pb.TokenResponse, error) {
	o, err := capability[connector.OAuthProvider](s, connector.CapOAuth)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	t, err := o.Refresh(ctx, cfgFromPB(req.Config), req.RefreshToken)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return tokenToPB(t), nil
}

// Panics in connector code become permanent errors instead of killing the
// process, which serves every tenant of the node. The stack goes to the log.
func recoverUnary(logger hclog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				logger.Error("connector panic", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				resp, err = nil, toStatus(ctx, connector.Permanent("connector panic in %s: %v", info.FullMethod, r))
			}
		}()
		return h(ctx, req)
	}
}

func recoverStream(logger hclog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				logger.Error("connector panic", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = toStatus(ss.Context(), connector.Permanent("connector panic in %s: %v", info.FullMethod, r))
			}
		}()
		return h(srv, ss)
	}
}
