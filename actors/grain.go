package actors

import (
	"context"
	"encoding/json"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"

	"github.com/trailspark/trailspark/actors/actorpb"
	"github.com/trailspark/trailspark/engine/errs"
)

// handler is a grain's logic: one command in, one reply out. Implementations
// are plain structs so tests can drive two "activations" of the same
// identity against one store without protoactor.
type handler interface {
	handle(ctx context.Context, cmd *actorpb.Command) *actorpb.Reply
}

// grainActor adapts a handler to protoactor: it learns its identity from
// ClusterInit, passivates after the idle timeout, and answers Commands.
type grainActor struct {
	env  *Env
	make func(identity string) handler
	h    handler
}

func (a *grainActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *pcluster.ClusterInit:
		a.h = a.make(msg.Identity.Identity)
		ctx.SetReceiveTimeout(a.env.idle())
	case *actor.ReceiveTimeout:
		// Idle: state is written through on every change, so stopping
		// loses nothing; the next request re-activates and reloads.
		ctx.Poison(ctx.Self())
	case *actorpb.Command:
		if a.h == nil {
			ctx.Respond(errorReply(errs.Unavailable("grain not initialised", nil)))
			return
		}
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ctx.Respond(a.h.handle(c, msg))
	}
}

func errorReply(err error) *actorpb.Reply {
	e := errs.As(err)
	return &actorpb.Reply{Error: &actorpb.Error{Kind: string(e.Kind), Code: e.Code, Message: e.Message, Field: e.Field}}
}

func bodyReply(v any) *actorpb.Reply {
	b, err := json.Marshal(v)
	if err != nil {
		return errorReply(errs.Internal(err))
	}
	return &actorpb.Reply{Body: b}
}

// replyErr converts a wire error back into *errs.Error.
func replyErr(r *actorpb.Reply) error {
	if r.GetError() == nil {
		return nil
	}
	e := r.GetError()
	return &errs.Error{Kind: errs.Kind(e.Kind), Code: e.Code, Message: e.Message, Field: e.Field}
}

// recentReplies remembers the last replies by request id so a retried
// command is answered, not applied twice. It is persisted with the state.
type recentReplies struct {
	IDs     []string          `json:"ids"`
	Replies map[string][]byte `json:"replies"`
}

const maxRecent = 64

func (r *recentReplies) get(env *Env, id string) (*actorpb.Reply, bool) {
	if id == "" || r.Replies == nil {
		return nil, false
	}
	sealed, ok := r.Replies[id]
	if !ok {
		return nil, false
	}
	b, err := env.Sealer.Open(sealed, recentReplyAD)
	if err != nil {
		return nil, false
	}
	var rep actorpb.Reply
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, false
	}
	return &rep, true
}

func (r *recentReplies) put(env *Env, id string, rep *actorpb.Reply) error {
	if id == "" {
		return nil
	}
	if r.Replies == nil {
		r.Replies = map[string][]byte{}
	}
	plain, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	b, err := env.Sealer.Seal(env.Rand, plain, recentReplyAD)
	if err != nil {
		return err
	}
	if _, ok := r.Replies[id]; !ok {
		r.IDs = append(r.IDs, id)
	}
	r.Replies[id] = b
	for len(r.IDs) > maxRecent {
		delete(r.Replies, r.IDs[0])
		r.IDs = r.IDs[1:]
	}
	return nil
}

// clone copies the bookkeeping so a failed save leaves the loaded copy as it was.
func (r recentReplies) clone() recentReplies {
	out := recentReplies{IDs: append([]string(nil), r.IDs...), Replies: make(map[string][]byte, len(r.Replies))}
	for k, v := range r.Replies {
		out.Replies[k] = v
	}
	return out
}

// recentReplyAD binds sealed replies to their purpose. Replies are sealed
// because they can hold secrets shown once (a new API key, an invitation
// token) and clear emails, none of which may rest in the store readable.
var recentReplyAD = []byte("recent-reply")
