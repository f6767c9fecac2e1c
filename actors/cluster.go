package actors

import (
	"context"

	"github.com/trailspark/trailspark/cluster"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
)

// ClusterView is the cluster as the answering node sees it (operator only).
type ClusterView struct {
	// Node is the member id of the node that answered.
	Node string `json:"node"`
	// Provider is the membership provider: local (one node) or automanaged.
	Provider string `json:"provider"`
	// Members are the members this node routes grains to, and, for the
	// automanaged provider, the configured peers that are not members now.
	// Each member's grain counts are its own report of its activations.
	Members []ClusterMember `json:"members"`
}

// ClusterMember is one member or configured peer.
type ClusterMember struct {
	ID          string         `json:"id,omitempty"`
	Address     string         `json:"address,omitempty"`
	Peer        string         `json:"peer,omitempty"`
	Status      string         `json:"status"`
	Self        bool           `json:"self"`
	Grains      map[string]int `json:"grains"`
	GrainsError string         `json:"grains_error,omitempty"`
	LastError   string         `json:"last_error,omitempty"`
}

// Cluster reports the members, their status and the grains each hosts.
func (c *Client) Cluster(ctx context.Context, caller tenant.Caller) (*ClusterView, error) {
	if !caller.Operator {
		return nil, &errs.Error{Kind: errs.KindForbidden, Code: "operator_only", Message: "only the operator may see the cluster"}
	}
	if !c.node.Ready() {
		return nil, errs.Unavailable("the node is not ready; retry", cluster.ErrNotReady)
	}
	v := &ClusterView{Node: c.node.ID(), Provider: c.node.Provider(), Members: []ClusterMember{}}
	for _, m := range c.node.MemberInfos(ctx) {
		cm := ClusterMember{ID: m.ID, Address: m.Address, Peer: m.Peer, Status: m.Status, Self: m.Self,
			Grains: m.Grains, GrainsError: m.GrainsError, LastError: m.LastError}
		if cm.Grains == nil {
			cm.Grains = map[string]int{}
		}
		v.Members = append(v.Members, cm)
	}
	return v, nil
}
