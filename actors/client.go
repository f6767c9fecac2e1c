package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/trailspark/trailspark/actors/actorpb"
	"github.com/trailspark/trailspark/cluster"
	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// Kinds returns the grain kinds a node hosts.
func Kinds(env *Env) []cluster.Kind {
	return []cluster.Kind{{
		Name: KindOrg,
		Producer: func() actor.Actor {
			return &grainActor{env: env, make: func(id string) handler { return newOrgGrain(env, id) }}
		},
	}, {
		Name: KindIngest,
		Producer: func() actor.Actor {
			return &ingestGrain{env: env, log: env.SignalLog, rules: func(org string) rulesSource { return env.client.orgRules(org) }}
		},
	}}
}

// Client is the typed door the API uses: it validates what it can locally,
// routes organization commands to their grain, and serves the user directory.
type Client struct {
	node   *cluster.Node
	env    *Env
	users  *Users
	ingest *Ingestor
	// jobs are the background jobs this node runs (reprocess.go); Close
	// stops them.
	jobs *jobRegistry
	// keys caches verified API keys briefly: ingestion verifies a key on
	// every request, and asking the org grain each time costs more than
	// the rest of a single-signal request.
	keys keyCache
}

// NewClient makes a Client over a started node and wires it into env so
// grains can call each other.
func NewClient(node *cluster.Node, env *Env) *Client {
	c := &Client{node: node, env: env, users: NewUsers(env), jobs: newJobRegistry()}
	if env.SignalLog != nil {
		c.ingest = NewIngestor(env, env.SignalLog, node)
	}
	env.client = c
	if env.Plugins != nil {
		c.startSyncScheduler() // scheduled CRM syncs (actors/sync.go); Close stops it
	}
	return c
}

// Close stops the background jobs the Client runs (reprocess jobs: they
// end failed, to be started again) and waits for them to end. Call it
// before stopping the node and closing the store; requests to start a job
// are refused afterwards.
func (c *Client) Close() { c.jobs.close() }

// Ingest is the signal intake.
func (c *Client) Ingest() *Ingestor { return c.ingest }

// Users is the user directory.
func (c *Client) Users() *Users { return c.users }

// Ready reports whether the node can serve requests.
func (c *Client) Ready() bool { return c.node.Ready() }

func (c *Client) call(ctx context.Context, caller tenant.Caller, org, op string, body, out any) error {
	if !credential.ValidID(org, "org_") {
		return errs.NotFound("organization") // never activate a grain for junk ids
	}
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return errs.Internal(err)
		}
	}
	reqID, err := credential.NewID(c.env.Rand, "req_")
	if err != nil {
		return errs.Internal(err)
	}
	cmd := &actorpb.Command{RequestId: reqID, Op: op, Body: b,
		Caller: &actorpb.Caller{UserId: caller.UserID, Operator: caller.Operator}}
	res, err := c.node.Request(ctx, KindOrg, org, cmd)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errs.Unavailable("request cancelled", err)
		}
		return errs.Unavailable("the organization could not be reached; retry", err)
	}
	rep, ok := res.(*actorpb.Reply)
	if !ok {
		return errs.Internal(fmt.Errorf("org grain answered %T", res))
	}
	if err := replyErr(rep); err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(rep.Body, out); err != nil {
			return errs.Internal(fmt.Errorf("decode %s reply: %w", op, err))
		}
	}
	return nil
}

// CreateOrgInput is a new organization. OwnerEmail is for the operator, who
// creates organizations on behalf of a registered user.
type CreateOrgInput struct {
	Name       string `json:"name"`
	Subdomain  string `json:"subdomain"`
	Size       string `json:"size"`
	Industry   string `json:"industry"`
	Plan       string `json:"plan"`
	OwnerEmail string `json:"owner_email"`
	// StarterRules nil or true: the org starts with mapping.StarterRules.
	StarterRules *bool `json:"starter_rules"`
}

// CreateOrg creates an organization; its Owner is the caller (or, for the
// operator, the registered user named by OwnerEmail).
func (c *Client) CreateOrg(ctx context.Context, caller tenant.Caller, in CreateOrgInput) (*OrgView, error) {
	in2 := tenant.NewOrgInput{Name: in.Name, Subdomain: in.Subdomain, Size: in.Size, Industry: in.Industry, Plan: in.Plan}
	in2.Normalize()
	if err := in2.Validate(); err != nil {
		return nil, err
	}
	var ownerID string
	switch {
	case caller.Operator:
		if strings.TrimSpace(in.OwnerEmail) == "" {
			return nil, errs.Invalid("owner_email", "required", "the operator must name the owner: owner_email of a registered user")
		}
		rec, err := c.users.ByEmail(ctx, in.OwnerEmail)
		if err != nil {
			var e *errs.Error
			if errors.As(err, &e) && e.Kind == errs.KindNotFound {
				return nil, errs.Invalid("owner_email", "unknown_user", "no registered user has that email; they must register first")
			}
			return nil, err
		}
		ownerID = rec.ID
	case in.OwnerEmail != "":
		return nil, errs.Invalid("owner_email", "not_allowed", "only the operator may name another owner; you become the Owner")
	case !c.env.AllowUserOrgCreation:
		return nil, &errs.Error{Kind: errs.KindForbidden, Code: "org_creation_disabled", Message: "the operator has disabled organization creation by users"}
	default:
		ownerID = caller.UserID
	}
	owner, err := c.users.member(ctx, ownerID)
	if err != nil {
		return nil, err
	}
	id, err := credential.NewID(c.env.Rand, "org_")
	if err != nil {
		return nil, errs.Internal(err)
	}
	var out OrgView
	err = c.call(ctx, caller, id, opOrgCreate, createOrgBody{Org: in2, Owner: owner, NoStarterRules: in.StarterRules != nil && !*in.StarterRules}, &out)
	return &out, err
}

// SubdomainCheck answers whether a subdomain is free and suggests one.
type SubdomainCheck struct {
	Subdomain  string `json:"subdomain"`
	Available  bool   `json:"available"`
	Reason     string `json:"reason,omitempty"`
	Suggestion string `json:"suggestion"`
}

// CheckSubdomain validates sub (or one suggested from name) and checks it is
// free; the suggestion is the first free variant.
func (c *Client) CheckSubdomain(ctx context.Context, sub, name string) (*SubdomainCheck, error) {
	sub = strings.ToLower(strings.TrimSpace(sub))
	if sub == "" && strings.TrimSpace(name) == "" {
		return nil, errs.Invalid("subdomain", "required", "give subdomain or name")
	}
	base := sub
	if base == "" {
		base = tenant.SuggestSubdomain(name)
	}
	out := &SubdomainCheck{Subdomain: base}
	if e := tenant.ValidateSubdomain(base); e != nil {
		out.Reason = e.Message
		base = tenant.SuggestSubdomain(base)
	} else {
		taken, err := c.subdomainTaken(ctx, base)
		if err != nil {
			return nil, err
		}
		out.Available = !taken
		if taken {
			out.Reason = "taken"
		}
	}
	for i := 0; i < 50; i++ {
		cand := base
		if i > 0 {
			cand = tenant.WithSuffix(base, i+1)
		}
		taken, err := c.subdomainTaken(ctx, cand)
		if err != nil {
			return nil, err
		}
		if !taken {
			out.Suggestion = cand
			break
		}
	}
	return out, nil
}

func (c *Client) subdomainTaken(ctx context.Context, sub string) (bool, error) {
	_, _, err := c.env.Store.Load(ctx, keySubdomain(sub))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, storeErr(err)
}

// GetOrg reads an organization.
func (c *Client) GetOrg(ctx context.Context, caller tenant.Caller, org string) (*OrgView, error) {
	var out OrgView
	return &out, c.call(ctx, caller, org, opOrgGet, nil, &out)
}

// UpdateOrgInput is a partial profile update.
type UpdateOrgInput struct {
	Name     *string `json:"name"`
	Size     *string `json:"size"`
	Industry *string `json:"industry"`
}

// UpdateOrg changes the profile.
func (c *Client) UpdateOrg(ctx context.Context, caller tenant.Caller, org string, in UpdateOrgInput) (*OrgView, error) {
	var out OrgView
	return &out, c.call(ctx, caller, org, opOrgUpdate, updateOrgBody(in), &out)
}

// DeleteOrg deletes the organization and all its data.
func (c *Client) DeleteOrg(ctx context.Context, caller tenant.Caller, org string) error {
	defer c.keys.clear()
	return c.call(ctx, caller, org, opOrgDelete, nil, nil)
}

// ListOrgs lists the caller's organizations (every one, for the operator),
// ordered by id. Membership indexes are hints: each org is asked, so a
// stale entry never shows an organization the caller left.
func (c *Client) ListOrgs(ctx context.Context, caller tenant.Caller) ([]OrgView, error) {
	var ids []string
	prefix := keyMembershipPrefix(caller.UserID)
	if caller.Operator {
		prefix = keyOrgIndex("")
	}
	err := c.env.Store.Scan(ctx, prefix, nil, func(it store.Item) error {
		ids = append(ids, string(it.Key[len(prefix):]))
		return nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	sort.Strings(ids)
	out := make([]OrgView, 0, len(ids))
	for _, id := range ids {
		v, err := c.GetOrg(ctx, caller, id)
		if err != nil {
			var e *errs.Error
			if errors.As(err, &e) && e.Kind == errs.KindNotFound {
				continue
			}
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

// Members lists members.
func (c *Client) Members(ctx context.Context, caller tenant.Caller, org string) ([]MemberView, error) {
	var out []MemberView
	return out, c.call(ctx, caller, org, opMembersList, nil, &out)
}

// SetRole changes a member's role.
func (c *Client) SetRole(ctx context.Context, caller tenant.Caller, org, user, role string) (*MemberView, error) {
	var out MemberView
	return &out, c.call(ctx, caller, org, opMemberRole, memberRoleBody{UserID: user, Role: role}, &out)
}

// RemoveMember removes a member (or the caller leaves).
func (c *Client) RemoveMember(ctx context.Context, caller tenant.Caller, org, user string) error {
	return c.call(ctx, caller, org, opMemberRemove, userBody{UserID: user}, nil)
}

// TransferOwnership makes user the Owner and removes the previous Owner.
func (c *Client) TransferOwnership(ctx context.Context, caller tenant.Caller, org, user string) (*TransferResult, error) {
	var out TransferResult
	return &out, c.call(ctx, caller, org, opTransfer, userBody{UserID: user}, &out)
}

// InviteInput invites someone by email.
type InviteInput struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

// Invite creates an invitation; the token in the result is shown once.
func (c *Client) Invite(ctx context.Context, caller tenant.Caller, org string, in InviteInput) (*InvitationCreated, error) {
	email := normalizeEmail(in.Email)
	if e := validateEmail("email", email); e != nil {
		return nil, e
	}
	var out InvitationCreated
	return &out, c.call(ctx, caller, org, opInviteCreate, inviteBody{Email: email, Role: in.Role}, &out)
}

// Invitations lists pending invitations.
func (c *Client) Invitations(ctx context.Context, caller tenant.Caller, org string) ([]InvitationView, error) {
	var out []InvitationView
	return out, c.call(ctx, caller, org, opInviteList, nil, &out)
}

// ResendInvitation issues a new token with a fresh 7-day expiry.
func (c *Client) ResendInvitation(ctx context.Context, caller tenant.Caller, org, id string) (*InvitationCreated, error) {
	var out InvitationCreated
	return &out, c.call(ctx, caller, org, opInviteResend, idBody{ID: id}, &out)
}

// CancelInvitation kills an invitation at once.
func (c *Client) CancelInvitation(ctx context.Context, caller tenant.Caller, org, id string) (*InvitationView, error) {
	var out InvitationView
	return &out, c.call(ctx, caller, org, opInviteCancel, idBody{ID: id}, &out)
}

// AcceptInvitation joins the caller to org with the invited role.
func (c *Client) AcceptInvitation(ctx context.Context, caller tenant.Caller, org, token string) (*AcceptResult, error) {
	if caller.Operator || caller.UserID == "" {
		return nil, errs.Invalid("token", "user_required", "invitations are accepted by a signed-in user, not the operator")
	}
	if strings.TrimSpace(token) == "" {
		return nil, errs.Invalid("token", "required", "token is required")
	}
	m, err := c.users.member(ctx, caller.UserID)
	if err != nil {
		return nil, err
	}
	var out AcceptResult
	return &out, c.call(ctx, caller, org, opInviteAccept, acceptBody{Token: token, User: m}, &out)
}

// CreateKeyInput is a new API key.
type CreateKeyInput struct {
	Name            string         `json:"name"`
	Type            string         `json:"type"`
	ExpiresAt       *time.Time     `json:"expires_at"`
	WithSecret      bool           `json:"with_secret"`
	PayloadTemplate map[string]any `json:"payload_template"`
}

// CreateKey mints an API key; the key (and secret) in the result are shown once.
func (c *Client) CreateKey(ctx context.Context, caller tenant.Caller, org string, in CreateKeyInput) (*APIKeyCreated, error) {
	var out APIKeyCreated
	return &out, c.call(ctx, caller, org, opKeyCreate, createKeyBody(in), &out)
}

// ListKeys lists keys (masked).
func (c *Client) ListKeys(ctx context.Context, caller tenant.Caller, org string) ([]APIKeyView, error) {
	var out []APIKeyView
	return out, c.call(ctx, caller, org, opKeyList, nil, &out)
}

// GetKey reads one key's metadata.
func (c *Client) GetKey(ctx context.Context, caller tenant.Caller, org, id string) (*APIKeyView, error) {
	var out APIKeyView
	return &out, c.call(ctx, caller, org, opKeyGet, idBody{ID: id}, &out)
}

// RevokeKey revokes a key at once.
func (c *Client) RevokeKey(ctx context.Context, caller tenant.Caller, org, id string) (*APIKeyView, error) {
	defer c.keys.clear()
	var out APIKeyView
	return &out, c.call(ctx, caller, org, opKeyRevoke, idBody{ID: id}, &out)
}

// RotateKey mints a successor with the same settings; both stay valid until
// the old one is revoked.
func (c *Client) RotateKey(ctx context.Context, caller tenant.Caller, org, id string) (*APIKeyCreated, error) {
	defer c.keys.clear()
	var out APIKeyCreated
	return &out, c.call(ctx, caller, org, opKeyRotate, idBody{ID: id}, &out)
}

// VerifyKey resolves a presented sk_ key to its organization, or a 401
// reason (key_invalid, key_revoked, key_expired).
func (c *Client) VerifyKey(ctx context.Context, key string) (*KeyIdentity, error) {
	now := c.env.now()
	if id, ok := c.keys.get(key, now); ok {
		return id, nil
	}
	tokenID, err := credential.ParseToken(key, credential.APIKeyPrefix)
	if err != nil {
		return nil, err
	}
	org, _, err := c.env.Store.Load(ctx, keyAPIKeyIndex(tokenID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.Unauthenticated("key_invalid", "the API key is not valid")
	}
	if err != nil {
		return nil, storeErr(err)
	}
	var rep verifyKeyReply
	if err := c.call(ctx, tenant.Caller{}, string(org), opKeyVerify, verifyKeyBody{TokenID: tokenID, Key: key}, &rep); err != nil {
		var e *errs.Error
		if errors.As(err, &e) && e.Kind == errs.KindNotFound {
			return nil, errs.Unauthenticated("key_invalid", "the API key is not valid")
		}
		return nil, err
	}
	id := &KeyIdentity{OrgID: string(org), KeyID: rep.KeyID, Type: rep.Type, Name: rep.Name, secret: rep.Secret}
	until := now.Add(keyCacheTTL)
	if rep.ExpiresAt != nil && rep.ExpiresAt.Before(until) {
		until = *rep.ExpiresAt
	}
	c.keys.put(key, id, until)
	return id, nil
}

// Membership is one organization the caller belongs to.
type Membership struct {
	OrgID     string `json:"org_id"`
	OrgName   string `json:"org_name"`
	Subdomain string `json:"subdomain"`
	Role      string `json:"role"`
}

// MeView describes the caller.
type MeView struct {
	User        *UserView    `json:"user,omitempty"`
	Operator    bool         `json:"operator"`
	Memberships []Membership `json:"memberships"`
}

// Me describes the caller and their memberships.
func (c *Client) Me(ctx context.Context, caller tenant.Caller) (*MeView, error) {
	out := &MeView{Operator: caller.Operator, Memberships: []Membership{}}
	if caller.Operator {
		return out, nil
	}
	u, err := c.users.Get(ctx, caller.UserID)
	if err != nil {
		return nil, err
	}
	out.User = u
	orgs, err := c.ListOrgs(ctx, caller)
	if err != nil {
		return nil, err
	}
	for _, o := range orgs {
		out.Memberships = append(out.Memberships, Membership{OrgID: o.ID, OrgName: o.Name, Subdomain: o.Subdomain, Role: o.Role})
	}
	return out, nil
}
