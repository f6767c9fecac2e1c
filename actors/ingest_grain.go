package actors

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"

	"github.com/trailspark/trailspark/actors/actorpb"
	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/store"
)

// ingestGrain drains one partition. It is woken by the ingest path after
// each append and also polls while it has work, retrying failures with
// exponential backoff; idle, it passivates like every grain.
type ingestGrain struct {
	env     *Env
	log     store.SignalLog
	rules   func(org string) rulesSource
	proc    *processor
	backoff time.Duration
	pending bool // a tick is scheduled
}

// wakeGather is how long a woken partition waits before its step, so the
// signals appended meanwhile share it: at a few thousand signals a second
// spread over 16 partitions, 5 ms gathered two or three signals a step and
// the steps' fixed cost capped single-signal ingestion near 6,000/s; 50 ms
// reached ~7,800/s with the processing lag's p99 still near 100 ms (see
// docs/performance.md). A backlog does not wait: a full step schedules the
// next at once.
var wakeGather = 50 * time.Millisecond

// tick is the grain's self-scheduled poll; it must not keep the grain alive.
type tick struct{}

func (tick) NotInfluenceReceiveTimeout() {}

func (g *ingestGrain) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *pcluster.ClusterInit:
		org, p, ok := splitIngestIdentity(msg.Identity.Identity)
		if !ok {
			g.env.Log.Error("bad ingest grain identity", "identity", msg.Identity.Identity)
			ctx.Poison(ctx.Self())
			return
		}
		g.proc = newProcessor(g.env, g.log, org, p, g.rules(org))
		if g.env.client != nil {
			g.proc.scoring = g.env.client.orgScoring(org)
		}
		ctx.SetReceiveTimeout(g.env.idle())
		g.run(ctx)
	case *actor.ReceiveTimeout:
		ctx.Poison(ctx.Self())
	case *actorpb.Wake:
		// Gather for a moment before the step: under a steady stream of
		// small appends every wake would otherwise run a step for a few
		// signals, and a step's fixed cost (cursor, rules, counters, three
		// commits) would dominate. The wakes that arrive meanwhile are
		// absorbed by the pending tick.
		if g.proc != nil && !g.pending {
			g.schedule(ctx, wakeGather)
		}
	case tick:
		g.pending = false
		if g.proc != nil {
			g.run(ctx)
		}
	}
}

// run processes batches until the partition is drained (yielding to the
// mailbox between batches), or schedules a retry after a failure.
func (g *ingestGrain) run(ctx actor.Context) {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, more, err := g.proc.step(c)
	switch {
	case err != nil:
		if g.backoff == 0 {
			g.backoff = 100 * time.Millisecond
		} else if g.backoff < 30*time.Second {
			g.backoff *= 2
		}
		g.env.Log.Warn("signal processing failed; retrying", "org", g.proc.org, "partition", g.proc.partition,
			"backoff", g.backoff.String(), "error", err)
		g.schedule(ctx, g.backoff)
	case more:
		g.backoff = 0
		g.schedule(ctx, 0)
	default:
		g.backoff = 0
		_ = n
	}
}

func (g *ingestGrain) schedule(ctx actor.Context, d time.Duration) {
	if g.pending {
		return
	}
	g.pending = true
	self := ctx.Self()
	sys := ctx.ActorSystem()
	if d == 0 {
		sys.Root.Send(self, tick{})
		return
	}
	time.AfterFunc(d, func() { sys.Root.Send(self, tick{}) })
}

func splitIngestIdentity(id string) (string, int, bool) {
	i := strings.LastIndexByte(id, '/')
	if i <= 0 {
		return "", 0, false
	}
	p, err := strconv.Atoi(id[i+1:])
	if err != nil || p < 0 || p >= store.Partitions {
		return "", 0, false
	}
	return id[:i], p, true
}

// orgRules fetches an organization's rules from its grain.
func (c *Client) orgRules(org string) rulesSource {
	return func(ctx context.Context) ([]mapping.Rule, uint64, error) {
		var snap rulesSnapshot
		if err := c.call(ctx, tenantCallerSystem, org, opRulesSnapshot, nil, &snap); err != nil {
			return nil, 0, err
		}
		return snap.Rules, snap.Version, nil
	}
}
