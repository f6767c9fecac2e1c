// Package sdk turns a connector.Connector into a TrailSpark plugin binary
// (Serve) and gives hosts the matching client (ClientConfig, Dispense).
//
// A connector's main is one line:
//
//	func main() { sdk.Serve(myconnector.New()) }
//
// The wire protocol is sdk/proto/v1 (gRPC) carried by hashicorp/go-plugin
// with a fixed handshake cookie, protocol versions negotiated through
// VersionedPlugins, and AutoMTLS. docs/plugins.md in the main repository is
// the author's guide; sdk/sdktest is the conformance suite.
package sdk

import (
	"context"
	"os/exec"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/trailspark/trailspark/sdk/connector"
)

// Version is the SDK release; plugins report it in Describe.
const Version = "0.1.0"

// PluginName is the single plugin type each binary dispenses.
const PluginName = "connector"

// MaxMessageSize bounds one gRPC message in both directions on both sides.
// gRPC's 4 MiB default receive limit is too small for a Write batch of rich
// records or a large inbound webhook batch (terraform-plugin-go hit the same
// wall and went to 256 MiB); bulk reads are streamed in chunks, so 64 MiB
// leaves a wide margin without letting one message eat the node's memory.
const MaxMessageSize = 64 << 20

// Handshake is shared by every host and plugin. The cookie is not a secret:
// it only stops a user from running a plugin binary by hand by mistake.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  connector.ProtocolVersion,
	MagicCookieKey:   "TRAILSPARK_CONNECTOR_PLUGIN",
	MagicCookieValue: "6f1d0e2a-trailspark-connector-3c9b7a54",
}

// versionedPlugins is the protocol versions this SDK speaks, keyed by
// protocol version. A v2 protocol adds an entry here; both sides pick the
// highest version they share.
func versionedPlugins(impl connector.Connector, info connector.Info, logger hclog.Logger) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		connector.ProtocolVersion: {PluginName: &grpcPlugin{impl: impl, info: info, logger: logger}},
	}
}

// ClientConfig is the go-plugin configuration a host uses to launch cmd:
// gRPC only, AutoMTLS, raised message limits. The caller may set
// SecureConfig (checksum), StartTimeout and so on before plugin.NewClient.
func ClientConfig(cmd *exec.Cmd, logger hclog.Logger) *plugin.ClientConfig {
	return &plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: versionedPlugins(nil, connector.Info{}, logger),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
		AutoMTLS:         true,
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize))},
	}
}

// Dispense connects to a launched plugin and returns its client. It starts
// the process if c has not been started yet.
func Dispense(c *plugin.Client) (*Client, error) {
	rpc, err := c.Client()
	if err != nil {
		return nil, err
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		return nil, err
	}
	cl, ok := raw.(*Client)
	if !ok {
		return nil, connector.Permanent("plugin dispensed %T, want *sdk.Client", raw)
	}
	cl.protocol = c.NegotiatedVersion()
	return cl, nil
}

type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl   connector.Connector
	info   connector.Info
	logger hclog.Logger
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	registerServer(s, p.impl, p.info, p.logger)
	return nil
}

// GRPCClient runs in the host. done is cancelled when the plugin process exits.
func (p *grpcPlugin) GRPCClient(done context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return newClient(done, conn), nil
}
