package actors

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/identity"
	"github.com/trailspark/trailspark/engine/plan"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

const opCheck = "org.check"

type checkBody struct {
	Capability tenant.Capability `json:"capability"`
}

func init() {
	orgOps[opCheck] = orgOp{run: func(g *orgGrain, t *orgTx) (any, error) {
		var b checkBody
		if err := t.decode(&b); err != nil {
			return nil, err
		}
		return struct{}{}, t.authorize(b.Capability)
	}}
}

// Authorize asks the org grain whether caller holds capability c (404 for
// non-members, 403 for a too-low role).
func (c *Client) Authorize(ctx context.Context, caller tenant.Caller, org string, capability tenant.Capability) error {
	return c.authorize(ctx, caller, org, capability)
}

// authorize asks the org grain whether caller holds capability c (404 for
// non-members, 403 for a too-low role) before reading tenant data.
func (c *Client) authorize(ctx context.Context, caller tenant.Caller, org string, capability tenant.Capability) error {
	return c.call(ctx, caller, org, opCheck, checkBody{Capability: capability}, nil)
}

// SignalView is a stored signal with its processing status.
type SignalView struct {
	ID          uint64          `json:"id"`
	Status      string          `json:"status"`
	Source      string          `json:"source"`
	Type        string          `json:"type,omitempty"`
	Event       string          `json:"event,omitempty"`
	Timestamp   time.Time       `json:"timestamp"`
	ReceivedAt  time.Time       `json:"received_at"`
	RuleID      string          `json:"rule_id,omitempty"`
	LeadID      string          `json:"lead_id,omitempty"`
	AccountID   string          `json:"account_id,omitempty"`
	Error       string          `json:"error,omitempty"`
	Attempts    int             `json:"attempts,omitempty"`
	ProcessedAt *time.Time      `json:"processed_at"`
	Payload     json.RawMessage `json:"payload"`
}

func (c *Client) signalView(ctx context.Context, org string, id uint64) (*SignalView, error) {
	e, err := c.env.SignalLog.Get(ctx, org, id)
	if err != nil {
		return nil, notFoundIf(err, "signal")
	}
	var s storedSignal
	if err := decodeStoredSignal(e.Data, &s); err != nil {
		return nil, errs.Internal(err)
	}
	v := &SignalView{ID: id, Status: StatusPending, Source: s.Source, Type: s.Type, Event: s.Event,
		Timestamp: s.Timestamp, ReceivedAt: s.ReceivedAt, Payload: s.Payload}
	st, err := c.env.SignalLog.Status(ctx, org, id)
	switch {
	case err == nil:
		v.Status, v.RuleID, v.LeadID, v.AccountID, v.Error, v.Attempts = st.Status, st.RuleID, st.LeadID, st.AccountID, st.Error, st.Attempts
		if !st.ProcessedAt.IsZero() {
			t := st.ProcessedAt
			v.ProcessedAt = &t
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, storeErr(err)
	}
	return v, nil
}

// Signal returns one accepted signal by the id its 202 carried.
func (c *Client) Signal(ctx context.Context, caller tenant.Caller, org, id string) (*SignalView, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil || n == 0 {
		return nil, errs.NotFound("signal")
	}
	return c.signalView(ctx, org, n)
}

// SignalFilter narrows a signal listing.
type SignalFilter struct {
	Status, Source, RuleID, LeadID string
	After                          uint64
	Limit                          int
}

// Signals lists processed signals (those with a status), oldest first.
func (c *Client) Signals(ctx context.Context, caller tenant.Caller, org string, f SignalFilter) ([]SignalView, uint64, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	var out []SignalView
	var last uint64
	scanned := 0
	err := c.env.SignalLog.ScanStatuses(ctx, org, f.After, func(st store.SignalStatus) (bool, error) {
		last = st.ID
		scanned++
		if (f.Status == "" || st.Status == f.Status) && (f.RuleID == "" || st.RuleID == f.RuleID) && (f.LeadID == "" || st.LeadID == f.LeadID) {
			v, err := c.signalView(ctx, org, st.ID)
			if err != nil {
				return false, err
			}
			if f.Source == "" || v.Source == f.Source {
				out = append(out, *v)
			}
		}
		return len(out) < f.Limit && scanned < 10000, nil
	})
	if err != nil {
		return nil, 0, storeErr(err)
	}
	next := uint64(0)
	if len(out) == f.Limit || scanned >= 10000 {
		next = last
	}
	return out, next, nil
}

// Lead reads one lead.
func (c *Client) Lead(ctx context.Context, caller tenant.Caller, org, id string) (*Lead, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(id, "lead_") {
		return nil, errs.NotFound("lead")
	}
	l, _, err := c.env.loadLead(ctx, org, id)
	if err != nil {
		return nil, storeErr(err)
	}
	if l == nil {
		return nil, errs.NotFound("lead")
	}
	return l, nil
}

// Leads lists leads (by id), or finds the lead of an email.
func (c *Client) Leads(ctx context.Context, caller tenant.Caller, org, email, after string, limit int) ([]Lead, string, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, "", err
	}
	if email != "" {
		id, err := c.env.lookupIdentity(ctx, org, string(identity.KindEmail), identity.Identifier{Kind: identity.KindEmail, Value: email}.Normalized().Value)
		if err != nil || id == "" {
			return []Lead{}, "", storeErr(err)
		}
		l, _, err := c.env.loadLead(ctx, org, id)
		if err != nil || l == nil {
			return []Lead{}, "", storeErr(err)
		}
		return []Lead{*l}, "", nil
	}
	return scanDecode(ctx, c.env, store.TenantKey(org, "lead"), after, limit, decodeLead)
}

// scanJSON pages through JSON records under a tenant key prefix; the
// cursor is the last returned record's key suffix.
func scanJSON[T any](ctx context.Context, env *Env, base []byte, after string, limit int) ([]T, string, error) {
	return scanDecode(ctx, env, base, after, limit, func(b []byte, v *T) error { return json.Unmarshal(b, v) })
}

// scanDecode is scanJSON with the records' own decoding.
func scanDecode[T any](ctx context.Context, env *Env, base []byte, after string, limit int, decode func([]byte, *T) error) ([]T, string, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	prefix := append(base, '/')
	var afterKey []byte
	if after != "" {
		afterKey = append(append([]byte(nil), prefix...), after...)
	}
	out := []T{}
	var keys []string
	errFull := errors.New("full")
	err := env.Store.Scan(ctx, prefix, afterKey, func(it store.Item) error {
		if len(out) == limit {
			return errFull // one more exists: there is a next page
		}
		var v T
		if err := decode(it.Value, &v); err != nil {
			return err
		}
		out = append(out, v)
		keys = append(keys, string(it.Key[len(prefix):]))
		return nil
	})
	next := ""
	if errors.Is(err, errFull) {
		err, next = nil, keys[len(keys)-1]
	}
	if err != nil {
		return nil, "", storeErr(err)
	}
	return out, next, nil
}

// AccountInput creates or updates an account.
type AccountInput struct {
	Name       string         `json:"name"`
	Domain     string         `json:"domain"`
	Industry   string         `json:"industry"`
	Employees  *int           `json:"employees"`
	Region     string         `json:"region"`
	ExternalID string         `json:"external_id"`
	Attributes map[string]any `json:"attributes"`
}

// normalize validates an account input; field names are those of the API.
func (in *AccountInput) normalize(field string) error {
	in.Name = strings.TrimSpace(in.Name)
	if e := tenant.ValidateName(field+"name", in.Name); e != nil {
		return e
	}
	if in.Domain != "" {
		d, err := identity.RegistrableDomain(in.Domain)
		if err != nil {
			return errs.Invalid(field+"domain", "invalid_format", "domain must be a website domain such as acme.com")
		}
		in.Domain = d
	}
	if in.Employees != nil && (*in.Employees < 0 || *in.Employees > 10_000_000) {
		return errs.Invalid(field+"employees", "out_of_range", "employees must be between 0 and 10,000,000")
	}
	if len(in.ExternalID) > 256 {
		return errs.Invalid(field+"external_id", "too_long", "external_id must be at most 256 characters")
	}
	return nil
}

// CreateAccount creates an account. When an account was inferred for the
// same domain, the new one takes it over (same id, no longer inferred), so
// leads already linked to it stay linked.
func (c *Client) CreateAccount(ctx context.Context, caller tenant.Caller, org string, in AccountInput, source string) (*Account, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapEditConfig); err != nil {
		return nil, err
	}
	if err := in.normalize(""); err != nil {
		return nil, err
	}
	return c.upsertAccount(ctx, org, in, source)
}

func (c *Client) upsertAccount(ctx context.Context, org string, in AccountInput, source string) (*Account, error) {
	env := c.env
	now := env.now()
	id := ""
	if in.Domain != "" {
		inferred := identity.AccountIDForDomain(org, in.Domain)
		var cur Account
		if _, err := env.loadJSON(ctx, keyAccount(org, inferred), &cur); err == nil && cur.Inferred {
			id = inferred
		}
	}
	if id == "" {
		var err error
		if id, err = credential.NewID(env.Rand, "acct_"); err != nil {
			return nil, errs.Internal(err)
		}
	}
	for attempt := 0; attempt < 8; attempt++ {
		var a Account
		ver, err := env.loadJSON(ctx, keyAccount(org, id), &a)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, storeErr(err)
		}
		if errors.Is(err, store.ErrNotFound) {
			a = Account{ID: id, CreatedAt: now}
		}
		a.Name, a.Domain, a.Industry, a.Employees, a.Region, a.ExternalID = in.Name, in.Domain, in.Industry, in.Employees, in.Region, in.ExternalID
		a.Attributes, a.Inferred, a.Source, a.UpdatedAt = in.Attributes, false, source, now
		b, _ := json.Marshal(a)
		if a.Domain != "" {
			if err := env.putDomain(ctx, org, a.Domain, id); err != nil {
				return nil, storeErr(err)
			}
		}
		// The external id is what signals carry as groupId: index it so
		// they link to this account explicitly.
		if a.ExternalID != "" {
			if err := env.putIndex(ctx, keyGroup(org, env.Sealer.Index("group", a.ExternalID)), id); err != nil {
				return nil, storeErr(err)
			}
		}
		if _, err := env.Store.Save(ctx, keyAccount(org, id), b, ver); err == nil {
			return &a, nil
		} else if !errors.Is(err, store.ErrConflict) {
			return nil, storeErr(err)
		}
	}
	return nil, errs.Unavailable("the account is being changed concurrently; retry", nil)
}

// Account reads one account.
func (c *Client) Account(ctx context.Context, caller tenant.Caller, org, id string) (*Account, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	var a Account
	if _, err := c.env.loadJSON(ctx, keyAccount(org, id), &a); err != nil {
		return nil, notFoundIf(err, "account")
	}
	p, err := c.AccountPropensity(ctx, org, id)
	if err != nil {
		return nil, err
	}
	a.Propensity = p
	return &a, nil
}

// Accounts pages through accounts by id.
func (c *Client) Accounts(ctx context.Context, caller tenant.Caller, org, after string, limit int) ([]Account, string, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, "", err
	}
	return scanJSON[Account](ctx, c.env, store.TenantKey(org, "acct"), after, limit)
}

// SignalStats summarises an organization's signals for the explorer.
type SignalStats struct {
	// Pending is the backlog: accepted, not yet processed.
	Pending  int            `json:"pending"`
	ByStatus map[string]int `json:"by_status"`
	// Truncated is set when ByStatus counted only the first statuses.
	Truncated bool `json:"truncated"`
}

// maxStatsScan bounds the status count of one stats request.
const maxStatsScan = 200000

// SignalStats counts signals by status and the processing backlog.
// statusCounts=false skips counting statuses (a scan of every processed
// signal) and reports only the backlog, which is cheap to poll.
func (c *Client) SignalStats(ctx context.Context, caller tenant.Caller, org string, statusCounts bool) (*SignalStats, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	if !statusCounts {
		n, err := c.env.SignalLog.Backlog(ctx, org)
		if err != nil {
			return nil, storeErr(err)
		}
		return &SignalStats{Pending: n, ByStatus: map[string]int{}}, nil
	}
	// One snapshot: a signal processed meanwhile is counted once. A
	// failed attempt waiting for its retry counts as failed, not also as
	// pending (each signal has one status).
	n, err := c.env.SignalLog.Counts(ctx, org, maxStatsScan)
	if err != nil {
		return nil, storeErr(err)
	}
	out := &SignalStats{Pending: n.Backlog - n.Retrying, ByStatus: n.ByStatus, Truncated: n.Truncated}
	if out.Pending > 0 {
		out.ByStatus[StatusPending] += out.Pending
	}
	return out, nil
}

// listIndexed pages through records listed by an index under indexBase
// whose values are record ids (e.g. jobs and merges, indexed newest
// first); load reads one record. An index entry whose record is gone is
// skipped. The cursor is the last returned index key's suffix.
func listIndexed[T any](ctx context.Context, env *Env, indexBase []byte, after string, limit int,
	load func(id string) (*T, error)) ([]T, string, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	if strings.ContainsAny(after, "/") {
		return nil, "", errs.Invalid("cursor", "invalid_format", "cursor is not one this API returned")
	}
	prefix := append(indexBase, '/')
	var afterKey []byte
	if after != "" {
		afterKey = append(append([]byte(nil), prefix...), after...)
	}
	var ids, cursors []string
	more := false
	errFull := errors.New("full")
	err := env.Store.Scan(ctx, prefix, afterKey, func(it store.Item) error {
		if len(ids) == limit {
			more = true
			return errFull
		}
		ids = append(ids, string(it.Value))
		cursors = append(cursors, string(it.Key[len(prefix):]))
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		return nil, "", storeErr(err)
	}
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		v, err := load(id)
		if err != nil {
			if errs.As(err).Kind == errs.KindNotFound {
				continue // an index entry without its record
			}
			return nil, "", err
		}
		out = append(out, *v)
	}
	next := ""
	if more && len(cursors) > 0 {
		next = cursors[len(cursors)-1]
	}
	return out, next, nil
}

// Plans lists the plans the operator offers (the shipped defaults unless
// configured).
func (c *Client) Plans() []plan.Plan {
	if len(c.env.Plans) > 0 {
		return c.env.Plans
	}
	return plan.DefaultPlans()
}
