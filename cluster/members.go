package cluster

import (
	"context"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/trailspark/trailspark/actors/actorpb"
)

// Member statuses reported by MemberInfos.
const (
	// StatusAlive: in this node's topology; it routes grains there.
	StatusAlive = "alive"
	// StatusLeaving: the node announced a graceful leave.
	StatusLeaving = "leaving"
	// StatusUnreachable: a configured peer that does not answer (down,
	// starting, or a network problem); it hosts nothing now.
	StatusUnreachable = "unreachable"
	// StatusBlocked: it answers, but the library blocked its member id
	// after it once failed to answer (a blocked id never rejoins): restart
	// that node so it joins with a new id.
	StatusBlocked = "blocked"
)

// MemberInfo is one member (or configured peer) as this node sees it.
type MemberInfo struct {
	ID      string `json:"id,omitempty"`
	Address string `json:"address,omitempty"` // actor endpoint host:port
	Peer    string `json:"peer,omitempty"`    // node port as configured in peers (automanaged)
	Status  string `json:"status"`
	Self    bool   `json:"self"`
	// Grains counts the activations the member hosts by kind, as the
	// member itself reports them; nil when it could not be asked
	// (GrainsError says why).
	Grains      map[string]int `json:"grains,omitempty"`
	GrainsError string         `json:"grains_error,omitempty"`
	// LastError is the last failure to reach a configured peer.
	LastError string `json:"last_error,omitempty"`
}

// nodeInfoName is the well-known actor on every node that reports the
// node's own activations; other nodes ask it by address.
const nodeInfoName = "trailspark-nodeinfo"

// nodeInfo answers Ping with this node's activation counts per kind, as a
// protobuf Struct (every node links structpb, so it crosses nodes).
type nodeInfo struct{ node *Node }

func (a *nodeInfo) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actorpb.Ping); ok {
		fields := map[string]any{}
		for k, v := range a.node.localGrains() {
			fields[k] = float64(v)
		}
		st, err := structpb.NewStruct(fields)
		if err != nil {
			st = &structpb.Struct{}
		}
		ctx.Respond(st)
	}
}

// localGrains counts this node's activations by kind (the library counts
// them per kind as the placement actor spawns and stops them), for the
// kinds given to Start: the readiness probe and the library's own kinds
// (pub/sub topics) are left out.
func (n *Node) localGrains() map[string]int {
	out := map[string]int{}
	for _, k := range n.kinds {
		if ak, ok := n.cluster.TryGetClusterKind(k); ok {
			out[k] = int(ak.Count())
		}
	}
	return out
}

// MemberInfos lists the members this node sees, with their grain counts
// asked of each member (concurrently, each within the context's deadline or
// 1 s), and for the automanaged provider also the configured peers that are
// not members right now.
func (n *Node) MemberInfos(ctx context.Context) []MemberInfo {
	if n.stopping.Load() {
		return nil
	}
	self := n.selfID()
	var out []MemberInfo
	ids := map[string]bool{}
	for _, m := range n.cluster.MemberList.Members().Members() {
		ids[m.Id] = true
		mi := MemberInfo{ID: m.Id, Address: m.Address(), Status: StatusAlive, Self: m.Id == self}
		if mi.Self && n.Excluded() {
			mi.Status = StatusBlocked
		}
		out = append(out, mi)
	}
	if am := n.provider.automanaged; am != nil {
		byID := map[string]int{}
		for i, m := range out {
			byID[m.ID] = i
		}
		blocked := map[string]bool{}
		for _, id := range n.cluster.GetBlockedMembers().ToSlice() {
			blocked[id] = true
		}
		for _, v := range am.peerViews() {
			if i, ok := byID[v.ID]; ok && v.ID != "" {
				out[i].Peer = v.Peer
				if v.Leaving {
					out[i].Status = StatusLeaving
				}
				continue
			}
			mi := MemberInfo{ID: v.ID, Peer: v.Peer, Status: StatusUnreachable, LastError: v.LastErr}
			switch {
			case v.Leaving:
				mi.Status = StatusLeaving
			case v.LastErr == "" && blocked[v.ID]:
				mi.Status = StatusBlocked
			case v.LastErr == "" && v.ID != "":
				mi.Status = StatusAlive // answering; joins at the next topology update
			}
			if mi.Status == StatusUnreachable {
				mi.ID = "" // the id it last had is gone for good
			}
			out = append(out, mi)
		}
	}

	timeout := time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	var wg sync.WaitGroup
	for i := range out {
		m := &out[i]
		if !ids[m.ID] {
			continue
		}
		if m.Self {
			m.Grains = n.localGrains()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := n.system.Root.RequestFuture(actor.NewPID(m.Address, nodeInfoName), &actorpb.Ping{}, timeout).Result()
			if err != nil {
				m.GrainsError = err.Error()
				return
			}
			st, ok := res.(*structpb.Struct)
			if !ok {
				m.GrainsError = "unexpected answer"
				return
			}
			m.Grains = map[string]int{}
			for k, v := range st.Fields {
				m.Grains[k] = int(v.GetNumberValue())
			}
		}()
	}
	wg.Wait()
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Self != out[j].Self {
			return out[i].Self
		}
		a, b := out[i].Address+out[i].Peer, out[j].Address+out[j].Peer
		return a < b
	})
	return out
}

// Provider is the membership provider the node runs.
func (n *Node) Provider() string { return n.cfg.Provider }

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return strconv.Atoi(p)
}
