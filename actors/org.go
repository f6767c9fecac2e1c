package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/trailspark/trailspark/actors/actorpb"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// KindOrg is the grain kind owning one organization: profile, members,
// invitations and API keys (and, later, settings, rules and models). It is
// the single writer of "o/{org}/org".
const KindOrg = "org"

// orgDoc is what the org grain persists.
type orgDoc struct {
	State  *tenant.State `json:"state"`
	Recent recentReplies `json:"recent"`
}

// orgGrain is one activation of an organization.
type orgGrain struct {
	env     *Env
	id      string
	loaded  bool
	doc     orgDoc
	version store.Version
	// lastUsePersist is when last_used_at was last written; it is kept in
	// memory between writes (see verifyKey).
	lastUsePersist time.Time
}

func newOrgGrain(env *Env, id string) *orgGrain { return &orgGrain{env: env, id: id} }

// orgOp is one operation. write ops run on a copy of the state and persist
// it; effects are index updates around the save.
type orgOp struct {
	write bool
	run   func(g *orgGrain, t *orgTx) (any, error)
}

// orgTx is the working set of one command.
type orgTx struct {
	ctx     context.Context
	caller  tenant.Caller
	body    []byte
	now     time.Time
	state   *tenant.State             // nil when the org does not exist
	puts    map[string]string         // index entries written before the state
	deletes []string                  // index entries removed after the state
	after   func(ctx context.Context) // work after a successful save
}

func (t *orgTx) put(k []byte, v string) {
	if t.puts == nil {
		t.puts = map[string]string{}
	}
	t.puts[string(k)] = v
}
func (t *orgTx) del(k []byte) { t.deletes = append(t.deletes, string(k)) }

func (t *orgTx) decode(v any) error { return decodeBody(t.body, v) }

// authorize checks caller's capability on the current state.
func (t *orgTx) authorize(c tenant.Capability) error { return tenant.Authorize(t.state, t.caller, c) }

var orgOps = map[string]orgOp{}

func (g *orgGrain) load(ctx context.Context) error {
	var doc orgDoc
	ver, err := g.env.loadJSON(ctx, keyOrgState(g.id), &doc)
	switch {
	case errors.Is(err, store.ErrNotFound):
		doc, ver = orgDoc{}, 0
	case err != nil:
		return err
	}
	g.doc, g.version, g.loaded = doc, ver, true
	if doc.State != nil && doc.State.Deleted {
		// A delete that crashed half-way: finish the clean-up.
		g.finishDelete(ctx, doc.State)
	}
	return nil
}

func (g *orgGrain) handle(ctx context.Context, cmd *actorpb.Command) *actorpb.Reply {
	op, ok := orgOps[cmd.Op]
	if !ok {
		return errorReply(errs.Internal(fmt.Errorf("org grain: unknown op %q", cmd.Op)))
	}
	caller := tenant.Caller{UserID: cmd.GetCaller().GetUserId(), Operator: cmd.GetCaller().GetOperator()}
	// A conflict means another activation wrote meanwhile (possible during
	// cluster membership changes): reload and re-run on the fresh state.
	for attempt := 0; attempt < 3; attempt++ {
		if !g.loaded {
			if err := g.load(ctx); err != nil {
				return errorReply(storeErr(err))
			}
		}
		if rep, ok := g.doc.Recent.get(g.env, cmd.RequestId); ok {
			return rep
		}
		rep, err := g.apply(ctx, op, caller, cmd)
		if errors.Is(err, store.ErrConflict) {
			g.loaded = false
			continue
		}
		if err != nil {
			g.loaded = false // in-memory state may be ahead of the store
			return errorReply(storeErr(err))
		}
		return rep
	}
	g.loaded = false
	return errorReply(errs.Unavailable("the organization is being changed concurrently; retry", nil))
}

func (g *orgGrain) apply(ctx context.Context, op orgOp, caller tenant.Caller, cmd *actorpb.Command) (*actorpb.Reply, error) {
	tx := &orgTx{ctx: ctx, caller: caller, body: cmd.Body, now: g.env.now(), state: g.doc.State}
	if op.write && tx.state != nil {
		cp, err := cloneState(tx.state)
		if err != nil {
			return nil, err
		}
		tx.state = cp
	}
	result, err := op.run(g, tx)
	if err != nil {
		var ue *errs.Error
		if !errors.As(err, &ue) || ue.Kind == errs.KindInternal || ue.Kind == errs.KindUnavailable {
			return nil, err // the caller reloads state and answers retryable
		}
		// A refused command changes nothing and needs no persisting.
		return errorReply(ue), nil
	}
	rep := bodyReply(result)
	if !op.write {
		return rep, nil
	}
	for k, v := range tx.puts {
		if err := g.env.putIndex(ctx, []byte(k), v); err != nil {
			return nil, err
		}
	}
	doc := orgDoc{State: tx.state, Recent: g.doc.Recent.clone()}
	if err := doc.Recent.put(g.env, cmd.RequestId, rep); err != nil {
		return nil, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	ver, err := g.env.Store.Save(ctx, keyOrgState(g.id), b, g.version)
	if err != nil {
		return nil, err
	}
	g.doc, g.version = doc, ver
	for _, k := range tx.deletes {
		if err := g.env.deleteIndex(ctx, []byte(k)); err != nil {
			g.env.Log.Warn("index clean-up failed; readers verify indexes, so it is harmless", "org", g.id, "error", err)
		}
	}
	if tx.after != nil {
		tx.after(ctx)
	}
	return rep, nil
}

func cloneState(s *tenant.State) (*tenant.State, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var out tenant.State
	return &out, json.Unmarshal(b, &out)
}

// decodeBody decodes a command body. Bodies are built by our own Client
// from validated requests, so a decode failure is a programming error
// (internal), and unknown fields are tolerated so a node of a newer
// version can send a field an older node ignores during a rolling upgrade.
func decodeBody(b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errs.Internal(fmt.Errorf("decode command body: %w", err))
	}
	return nil
}

func (g *orgGrain) memberView(m *tenant.Member) MemberView {
	email, err := g.env.openString(emailAD, m.EmailSealed)
	if err != nil {
		g.env.Log.Error("cannot open a sealed email; is the encryption key the one the data was written with?", "org", g.id, "user", m.UserID)
	}
	return MemberView{UserID: m.UserID, Email: email, Name: m.Name, Role: string(m.Role), JoinedAt: m.JoinedAt}
}

func (g *orgGrain) invitationView(inv *tenant.Invitation, now time.Time) InvitationView {
	email, _ := g.env.openString(emailAD, inv.EmailSealed)
	return InvitationView{ID: inv.ID, Email: email, Role: string(inv.Role), Status: string(inv.StatusAt(now)),
		InvitedBy: inv.InvitedBy, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt}
}

func (t *orgTx) callerRole() tenant.Role {
	if t.state == nil {
		return ""
	}
	if m, ok := t.state.Members[t.caller.UserID]; ok {
		return m.Role
	}
	return ""
}

// finishDelete removes everything a deleted organization left behind. It is
// idempotent, so a delete interrupted by a crash completes on the next
// activation.
func (g *orgGrain) finishDelete(ctx context.Context, s *tenant.State) {
	log := g.env.Log.With("org", g.id)
	var keys [][]byte
	keys = append(keys, keySubdomain(s.Org.Subdomain), keyOrgIndex(g.id))
	for uid := range s.Members {
		keys = append(keys, keyMembership(uid, g.id))
	}
	for _, k := range s.Keys {
		keys = append(keys, keyAPIKeyIndex(k.TokenID))
	}
	for _, k := range keys {
		// The subdomain claim may already belong to a newer org.
		if string(k) == string(keySubdomain(s.Org.Subdomain)) {
			if b, _, err := g.env.Store.Load(ctx, k); err == nil && string(b) != g.id {
				continue
			}
		}
		if err := g.env.deleteIndex(ctx, k); err != nil {
			log.Warn("delete index", "key", string(k), "error", err)
		}
	}
	if err := g.env.Store.DropTenant(ctx, g.id); err != nil {
		log.Error("drop tenant data", "error", err)
		return
	}
	g.doc, g.version = orgDoc{}, 0
}

// credentialHash hashes a presented token/key with the server pepper.
func (g *orgGrain) hash(s string) []byte { return g.env.Hasher.Hash(s) }
