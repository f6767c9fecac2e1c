package actors

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/outbox"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/sdk/connector"
	"github.com/trailspark/trailspark/store"
)

// Destinations (SPEC §4): where evaluations go. A destination is one record,
// o/{org}/dest/{id}, plus a deployment-wide registry entry
// g/dests/{org}/{id} the delivery worker walks (outbox_worker.go). Both are
// written in one batch, with compare-and-set on the record. Owner and Admin
// change them (tenant.CapIntegrations); every member reads them.
//
// Kinds: "webhook" (a URL and a whsec_ signing secret, sealed at rest) and
// "salesforce" / "hubspot" (a CRM connection, the fields per object that
// receive an evaluation, checked against the CRM's metadata when saved).

// Destination is a stored destination.
type Destination struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Kind            string `json:"kind"`
	ConnectionID    string `json:"connection_id,omitempty"`
	SendEvaluations bool   `json:"send_evaluations"`
	// Fields maps a CRM object (Lead, Contact; contacts) to the fields that
	// receive score, grade, reasoning and evaluation date.
	Fields map[string]outbox.ObjectFields `json:"fields,omitempty"`
	// PropensityField receives the account propensity on Account (Salesforce)
	// or companies (HubSpot).
	PropensityField  string   `json:"propensity_field,omitempty"`
	CreateIfNotFound bool     `json:"create_if_not_found"`
	CreateGrades     []string `json:"create_grades,omitempty"`
	// ScoreBand: a score move of at most this many points is not written.
	ScoreBand int `json:"score_band"`
	// DailyBudget is the CRM API calls a day this destination may spend
	// (0: unlimited).
	DailyBudget int `json:"daily_budget"`
	// Status is "active" (stored empty) or "disabled": a disabled
	// destination still has evaluations enqueued but delivers nothing until
	// it is set active again. DisabledReason says why (a receiver's 410, or
	// an administrator), DisabledAt when.
	Status         string     `json:"status,omitempty"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	URL            string     `json:"url,omitempty"`
	SecretSealed   string     `json:"secret_sealed,omitempty"`
	SecretHint     string     `json:"secret_hint,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// DestinationView is a destination as the API shows it: the secret only
// once, in the answer to the create (or rotate) that made it.
type DestinationView struct {
	ID               string                         `json:"id"`
	Name             string                         `json:"name"`
	Kind             string                         `json:"kind"`
	ConnectionID     string                         `json:"connection_id,omitempty"`
	SendEvaluations  bool                           `json:"send_evaluations"`
	Fields           map[string]outbox.ObjectFields `json:"fields,omitempty"`
	PropensityField  string                         `json:"propensity_field,omitempty"`
	CreateIfNotFound bool                           `json:"create_if_not_found"`
	CreateGrades     []string                       `json:"create_grades"`
	ScoreBand        int                            `json:"score_band"`
	DailyBudget      int                            `json:"daily_budget"`
	Status           string                         `json:"status"`
	DisabledReason   string                         `json:"disabled_reason,omitempty"`
	DisabledAt       *time.Time                     `json:"disabled_at,omitempty"`
	URL              string                         `json:"url,omitempty"`
	SecretHint       string                         `json:"secret_hint,omitempty"`
	Secret           string                         `json:"secret,omitempty"`
	CreatedAt        time.Time                      `json:"created_at"`
	UpdatedAt        time.Time                      `json:"updated_at"`
}

func (d *Destination) view() *DestinationView {
	v := &DestinationView{ID: d.ID, Name: d.Name, Kind: d.Kind, ConnectionID: d.ConnectionID, SendEvaluations: d.SendEvaluations,
		Fields: d.Fields, PropensityField: d.PropensityField, CreateIfNotFound: d.CreateIfNotFound, CreateGrades: d.CreateGrades,
		ScoreBand: d.ScoreBand, DailyBudget: d.DailyBudget, Status: d.status(), DisabledReason: d.DisabledReason, DisabledAt: d.DisabledAt,
		URL: d.URL, SecretHint: d.SecretHint, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if v.CreateGrades == nil {
		v.CreateGrades = []string{}
	}
	return v
}

// Destination statuses.
const (
	DestActive   = "active"
	DestDisabled = "disabled"
)

func (d *Destination) status() string {
	if d.Status == DestDisabled {
		return DestDisabled
	}
	return DestActive
}

// DestinationInput creates or changes a destination: on update, a nil
// field is left as it is.
type DestinationInput struct {
	Name             *string                        `json:"name"`
	Kind             string                         `json:"kind"`
	ConnectionID     *string                        `json:"connection_id"`
	SendEvaluations  *bool                          `json:"send_evaluations"`
	Fields           map[string]outbox.ObjectFields `json:"fields"`
	PropensityField  *string                        `json:"propensity_field"`
	CreateIfNotFound *bool                          `json:"create_if_not_found"`
	CreateGrades     []string                       `json:"create_grades"`
	ScoreBand        *int                           `json:"score_band"`
	DailyBudget      *int                           `json:"daily_budget"`
	// Status "active" re-enables a disabled destination (its queued
	// deliveries then go); "disabled" stops delivering (evaluations are
	// still enqueued).
	Status *string `json:"status"`
	URL    *string `json:"url"`
	// Secret sets the webhook signing secret (whsec_…); on create, empty
	// generates one. RotateSecret on update generates a new one.
	Secret       *string `json:"secret"`
	RotateSecret bool    `json:"rotate_secret"`
}

func keyDest(org, id string) []byte          { return store.TenantKey(org, "dest", id) }
func keyDestBase(org string) []byte          { return append(store.TenantKey(org, "dest"), '/') }
func keyDestRegistry(org, id string) []byte  { return store.GlobalKey("dests", org, id) }
func keyDestRegistryPrefix() []byte          { return append(store.GlobalKey("dests"), '/') }
func keyOutboxBase(org, dest string) []byte  { return append(store.TenantKey(org, "obx", dest), '/') }
func keyOutbox(org, dest, seq string) []byte { return store.TenantKey(org, "obx", dest, seq) }
func keyOutboxHistBase(org, dest string) []byte {
	return append(store.TenantKey(org, "obxh", dest), '/')
}
func keyOutboxHist(org, dest string, at time.Time, seq string) []byte {
	return store.TenantKey(org, "obxh", dest, invTime(at)+"-"+seq)
}
func keyOutboxState(org, dest, record string) []byte {
	return store.TenantKey(org, "obxs", dest, record)
}
func keyOutboxLease(org, dest string) []byte  { return store.TenantKey(org, "obxl", dest) }
func keyOutboxBudget(org, dest string) []byte { return store.TenantKey(org, "obxb", dest) }

var secretAD = []byte("destination-secret")

// ConnectionResolver returns a CRM connection's provider ("salesforce",
// "hubspot") and the connector.Config to call its connector with (current
// credentials, instance URL, options). The connections feature provides it
// (Client.SetConnectionResolver); a not-found connection should be an
// *errs.Error of kind not found.
type ConnectionResolver func(ctx context.Context, org, connID string) (provider string, cfg connector.Config, err error)

// crmConnector is what destinations need of a connector (host.Conn in
// production, a fake in tests).
type crmConnector interface {
	Write(ctx context.Context, cfg connector.Config, req connector.WriteRequest) ([]connector.WriteResult, error)
	Metadata(ctx context.Context, cfg connector.Config, req connector.MetadataRequest) (connector.Metadata, error)
}

// outboxState is a node's destinations machinery, one per Env: the
// destinations cache, the connection resolver, the worker and the metrics.
type outboxState struct {
	env *Env

	mu       sync.Mutex
	cache    map[string]destCacheEntry // org → destinations
	resolver ConnectionResolver
	// connectorFor returns the connector of a provider (default: env.Plugins).
	connectorFor func(provider string) (crmConnector, error)
	started      bool
	wake         chan struct{}

	metricsOnce sync.Once
	metrics     *outboxMetrics
}

type destCacheEntry struct {
	dests []Destination
	at    time.Time
}

// destCacheTTL bounds how long a node uses a cached list of an org's
// destinations: a change made on another node reaches this one's
// evaluations within it (changes on this node apply at once).
const destCacheTTL = 5 * time.Second

var outboxStates sync.Map // *Env → *outboxState

func (e *Env) outbox() *outboxState {
	if v, ok := outboxStates.Load(e); ok {
		return v.(*outboxState)
	}
	st := &outboxState{env: e, cache: map[string]destCacheEntry{}, wake: make(chan struct{}, 1)}
	st.connectorFor = func(provider string) (crmConnector, error) {
		if e.Plugins == nil {
			return nil, errs.Unavailable("this node has no connector plugins", nil)
		}
		c, err := e.Plugins.Connector(provider)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	v, _ := outboxStates.LoadOrStore(e, st)
	return v.(*outboxState)
}

// SetConnectionResolver tells destinations how to reach a CRM connection.
func (c *Client) SetConnectionResolver(r ConnectionResolver) {
	st := c.env.outbox()
	st.mu.Lock()
	st.resolver = r
	st.mu.Unlock()
}

func (st *outboxState) resolve(ctx context.Context, org, connID string) (string, crmConnector, connector.Config, error) {
	st.mu.Lock()
	r := st.resolver
	st.mu.Unlock()
	if r == nil {
		r = st.env.connectionConfig // actors/outbox_conn.go
	}
	provider, cfg, err := r(ctx, org, connID)
	if err != nil {
		return "", nil, connector.Config{}, err
	}
	if cfg.Tenant == "" {
		cfg.Tenant = org
	}
	conn, err := st.connectorFor(provider)
	if err != nil {
		return "", nil, connector.Config{}, err
	}
	return provider, conn, cfg, nil
}

// destinations returns org's destinations, from the cache when fresh.
func (st *outboxState) destinations(ctx context.Context, org string) ([]Destination, error) {
	st.mu.Lock()
	ent, ok := st.cache[org]
	st.mu.Unlock()
	if ok && time.Since(ent.at) < destCacheTTL {
		return ent.dests, nil
	}
	var out []Destination
	err := st.env.Store.Scan(ctx, keyDestBase(org), nil, func(it store.Item) error {
		var d Destination
		if err := json.Unmarshal(it.Value, &d); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	st.cache[org] = destCacheEntry{dests: out, at: time.Now()}
	st.mu.Unlock()
	return out, nil
}

func (st *outboxState) invalidate(org string) {
	st.mu.Lock()
	delete(st.cache, org)
	st.mu.Unlock()
}

// Destinations lists an organization's destinations (Viewer and up).
func (c *Client) Destinations(ctx context.Context, caller tenant.Caller, org string) ([]DestinationView, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	c.StartDeliveries()
	c.env.outbox().invalidate(org)
	ds, err := c.env.outbox().destinations(ctx, org)
	if err != nil {
		return nil, storeErr(err)
	}
	out := make([]DestinationView, 0, len(ds))
	for i := range ds {
		out = append(out, *ds[i].view())
	}
	return out, nil
}

func (e *Env) loadDestination(ctx context.Context, org, id string) (*Destination, store.Version, error) {
	if !credential.ValidID(id, "dst_") {
		return nil, 0, errs.NotFound("destination")
	}
	var d Destination
	ver, err := e.loadJSON(ctx, keyDest(org, id), &d)
	if err != nil {
		return nil, 0, notFoundIf(err, "destination")
	}
	return &d, ver, nil
}

// Destination reads one destination (Viewer and up).
func (c *Client) Destination(ctx context.Context, caller tenant.Caller, org, id string) (*DestinationView, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	d, _, err := c.env.loadDestination(ctx, org, id)
	if err != nil {
		return nil, err
	}
	return d.view(), nil
}

// CreateDestination adds a destination (Owner, Admin).
func (c *Client) CreateDestination(ctx context.Context, caller tenant.Caller, org string, in DestinationInput) (*DestinationView, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return nil, err
	}
	if !outbox.ValidKind(in.Kind) {
		return nil, errs.Invalid("kind", "invalid_value", "kind must be webhook, salesforce or hubspot")
	}
	id, err := credential.NewID(c.env.Rand, "dst_")
	if err != nil {
		return nil, errs.Internal(err)
	}
	now := c.env.now()
	d := &Destination{ID: id, Kind: in.Kind, SendEvaluations: true, ScoreBand: outbox.DefaultScoreBand, CreatedAt: now}
	secret, err := c.applyDestination(ctx, org, d, in, true)
	if err != nil {
		return nil, err
	}
	if err := c.saveDestination(ctx, org, d, 0); err != nil {
		return nil, err
	}
	v := d.view()
	v.Secret = secret
	return v, nil
}

// UpdateDestination changes a destination (Owner, Admin).
func (c *Client) UpdateDestination(ctx context.Context, caller tenant.Caller, org, id string, in DestinationInput) (*DestinationView, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return nil, err
	}
	d, ver, err := c.env.loadDestination(ctx, org, id)
	if err != nil {
		return nil, err
	}
	if in.Kind != "" && in.Kind != d.Kind {
		return nil, errs.Invalid("kind", "immutable", "a destination's kind cannot change; create another destination")
	}
	secret, err := c.applyDestination(ctx, org, d, in, false)
	if err != nil {
		return nil, err
	}
	if err := c.saveDestination(ctx, org, d, ver); err != nil {
		return nil, err
	}
	v := d.view()
	v.Secret = secret
	return v, nil
}

func (c *Client) saveDestination(ctx context.Context, org string, d *Destination, ver store.Version) error {
	d.UpdatedAt = c.env.now()
	buf, err := json.Marshal(d)
	if err != nil {
		return errs.Internal(err)
	}
	_, err = c.env.Store.SaveBatch(ctx, []store.Write{
		{Key: keyDest(org, d.ID), Value: buf, Expected: ver},
		{Key: keyDestRegistry(org, d.ID), Value: []byte(d.Kind), Expected: store.AnyVersion},
	})
	if errors.Is(err, store.ErrConflict) {
		return errs.Conflict("concurrent_update", "", "the destination was changed at the same time; retry")
	}
	if err != nil {
		return storeErr(err)
	}
	c.env.outbox().invalidate(org)
	c.StartDeliveries()
	c.env.outbox().nudge() // a re-enabled destination's queue goes now
	return nil
}

// disableDestination marks a destination disabled with why (the worker,
// on a webhook receiver's 410). Already disabled: left as it is.
func (e *Env) disableDestination(ctx context.Context, org, id, why string) error {
	for attempt := 0; attempt < 5; attempt++ {
		d, ver, err := e.loadDestination(ctx, org, id)
		if err != nil || d.Status == DestDisabled {
			return err
		}
		at := e.now()
		d.Status, d.DisabledReason, d.DisabledAt, d.UpdatedAt = DestDisabled, why, &at, at
		buf, err := json.Marshal(d)
		if err != nil {
			return err
		}
		if _, err := e.Store.Save(ctx, keyDest(org, id), buf, ver); errors.Is(err, store.ErrConflict) {
			continue
		} else if err != nil {
			return err
		}
		e.outbox().invalidate(org)
		return nil
	}
	return store.ErrConflict
}

// DeleteDestination removes a destination and its queue (Owner, Admin).
func (c *Client) DeleteDestination(ctx context.Context, caller tenant.Caller, org, id string) error {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return err
	}
	_, ver, err := c.env.loadDestination(ctx, org, id)
	if err != nil {
		return err
	}
	if err := c.env.Store.Delete(ctx, keyDest(org, id), ver); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errs.Conflict("concurrent_update", "", "the destination was changed at the same time; retry")
		}
		return storeErr(err)
	}
	c.env.outbox().invalidate(org)
	_ = c.env.deleteIndex(ctx, keyDestRegistry(org, id))
	// Best effort: the queue, history, states, lease and budget go too.
	for _, p := range [][]byte{keyOutboxBase(org, id), keyOutboxHistBase(org, id), append(store.TenantKey(org, "obxs", id), '/')} {
		_ = c.env.Store.Scan(ctx, p, nil, func(it store.Item) error { return c.env.Store.Delete(ctx, it.Key, it.Version) })
	}
	_ = c.env.deleteIndex(ctx, keyOutboxLease(org, id))
	_ = c.env.deleteIndex(ctx, keyOutboxBudget(org, id))
	return nil
}

// applyDestination validates in and applies it to d. It returns a newly
// made or set webhook secret, to show once.
func (c *Client) applyDestination(ctx context.Context, org string, d *Destination, in DestinationInput, create bool) (string, error) {
	if in.Name != nil {
		d.Name = strings.TrimSpace(*in.Name)
	}
	if d.Name == "" {
		d.Name = d.Kind
	}
	if len(d.Name) > 100 {
		return "", errs.Invalid("name", "too_long", "name is at most 100 characters")
	}
	if in.SendEvaluations != nil {
		d.SendEvaluations = *in.SendEvaluations
	}
	if in.ScoreBand != nil {
		if *in.ScoreBand < 0 || *in.ScoreBand > 100 {
			return "", errs.Invalid("score_band", "out_of_range", "score_band is 0 to 100 points")
		}
		d.ScoreBand = *in.ScoreBand
	}
	if in.DailyBudget != nil {
		if *in.DailyBudget < 0 {
			return "", errs.Invalid("daily_budget", "out_of_range", "daily_budget is 0 (unlimited) or more API calls")
		}
		d.DailyBudget = *in.DailyBudget
	}
	if in.Status != nil {
		switch *in.Status {
		case DestActive:
			d.Status, d.DisabledReason, d.DisabledAt = "", "", nil
		case DestDisabled:
			if d.Status != DestDisabled {
				at := c.env.now()
				d.Status, d.DisabledReason, d.DisabledAt = DestDisabled, "disabled by an administrator", &at
			}
		default:
			return "", errs.Invalid("status", "invalid_value", "status is active or disabled")
		}
	}
	if d.Kind == outbox.KindWebhook {
		return c.applyWebhook(d, in, create)
	}
	for name, set := range map[string]bool{"url": in.URL != nil, "secret": in.Secret != nil, "rotate_secret": in.RotateSecret} {
		if set {
			return "", errs.Invalid(name, "not_allowed", "%s is for webhook destinations", name)
		}
	}
	return "", c.applyCRM(ctx, org, d, in, create)
}

func (c *Client) applyWebhook(d *Destination, in DestinationInput, create bool) (string, error) {
	for name, set := range map[string]bool{"connection_id": in.ConnectionID != nil, "fields": in.Fields != nil,
		"propensity_field": in.PropensityField != nil, "create_if_not_found": in.CreateIfNotFound != nil, "create_grades": in.CreateGrades != nil} {
		if set {
			return "", errs.Invalid(name, "not_allowed", "%s is for CRM destinations", name)
		}
	}
	if in.URL != nil {
		d.URL = strings.TrimSpace(*in.URL)
	}
	if err := validateWebhookURL(d.URL); err != nil {
		return "", err
	}
	secret := ""
	switch {
	case in.Secret != nil && *in.Secret != "":
		if !outbox.ValidSecret(*in.Secret) {
			return "", errs.Invalid("secret", "invalid_format", "secret must start with whsec_ and have 24 to 200 more printable characters")
		}
		secret = *in.Secret
	case create || in.RotateSecret:
		s, err := outbox.NewSecret(c.env.Rand)
		if err != nil {
			return "", errs.Internal(err)
		}
		secret = s
	}
	if secret != "" {
		sealed, err := c.env.sealString(secretAD, secret)
		if err != nil {
			return "", errs.Internal(err)
		}
		d.SecretSealed, d.SecretHint = sealed, secret[:len(outbox.SecretPrefix)+4]+"…"
	}
	return secret, nil
}

func validateWebhookURL(s string) error {
	if s == "" {
		return errs.Invalid("url", "required", "url is required for a webhook destination")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || len(s) > 2048 {
		return errs.Invalid("url", "invalid_format", "url must be an absolute http(s) URL without credentials")
	}
	return nil
}

var validGrades = map[string]bool{"hot": true, "warm": true, "cold": true}

// applyCRM checks a CRM destination: its connection, the objects and
// fields against the CRM's metadata, and create-if-not-found against the
// CRM's required fields.
func (c *Client) applyCRM(ctx context.Context, org string, d *Destination, in DestinationInput, create bool) error {
	if in.ConnectionID != nil {
		d.ConnectionID = strings.TrimSpace(*in.ConnectionID)
	}
	if d.ConnectionID == "" {
		return errs.Invalid("connection_id", "required", "connection_id is required for a CRM destination")
	}
	if in.Fields != nil {
		d.Fields = in.Fields
	}
	if in.PropensityField != nil {
		d.PropensityField = strings.TrimSpace(*in.PropensityField)
	}
	if in.CreateIfNotFound != nil {
		d.CreateIfNotFound = *in.CreateIfNotFound
	}
	if in.CreateGrades != nil {
		d.CreateGrades = in.CreateGrades
	}
	for _, g := range d.CreateGrades {
		if !validGrades[g] {
			return errs.Invalid("create_grades", "invalid_value", "create_grades lists hot, warm or cold")
		}
	}
	if d.CreateIfNotFound && len(d.CreateGrades) == 0 {
		d.CreateGrades = []string{"hot"}
	}
	objects := outbox.PersonObjects[d.Kind]
	for obj, f := range d.Fields {
		ok := false
		for _, o := range objects {
			ok = ok || o == obj
		}
		if !ok {
			return errs.Invalid("fields", "invalid_value", "fields: %s destinations map %s, not %q", d.Kind, strings.Join(objects, " and "), obj)
		}
		if f.Empty() {
			delete(d.Fields, obj)
		}
	}
	if len(d.Fields) == 0 && d.PropensityField == "" {
		return errs.Invalid("fields", "required", "map at least one field (fields or propensity_field)")
	}
	provider, conn, cfg, err := c.env.outbox().resolve(ctx, org, d.ConnectionID)
	if err != nil {
		switch e := errs.As(err); e.Kind {
		case errs.KindNotFound:
			return errs.Invalid("connection_id", "not_found", "no such connection")
		case errs.KindConflict:
			return errs.Invalid("connection_id", e.Code, "%s", e.Message)
		}
		return err
	}
	if provider != d.Kind {
		return errs.Invalid("connection_id", "invalid_value", "connection %s is a %s connection, not %s", d.ConnectionID, provider, d.Kind)
	}
	want := append([]string(nil), objects...)
	want = append(want, outbox.AccountObject[d.Kind])
	md, err := conn.Metadata(ctx, cfg, connector.MetadataRequest{Objects: want})
	if err != nil {
		return errs.Unavailable("could not read the CRM's fields: "+err.Error(), err)
	}
	objs := make([]string, 0, len(d.Fields))
	for obj := range d.Fields {
		objs = append(objs, obj)
	}
	sort.Strings(objs)
	for _, obj := range objs {
		f := d.Fields[obj]
		purposes := f.ByPurpose()
		ps := make([]string, 0, len(purposes))
		for p := range purposes {
			ps = append(ps, p)
		}
		sort.Strings(ps)
		for _, p := range ps {
			fld, err := outbox.CheckField(md, obj, p, purposes[p])
			if err != nil {
				return errs.Invalid("fields."+obj+"."+p, "field_refused", "%s", err.Error())
			}
			if p == outbox.PurposeEvaluationDate {
				f.DateOnly = fld.Type == connector.FieldDate
			}
		}
		d.Fields[obj] = f
	}
	if d.PropensityField != "" {
		if _, err := outbox.CheckField(md, outbox.AccountObject[d.Kind], outbox.PurposePropensity, d.PropensityField); err != nil {
			return errs.Invalid("propensity_field", "field_refused", "%s", err.Error())
		}
	}
	if d.CreateIfNotFound {
		obj := "Lead"
		if d.Kind == outbox.KindHubSpot {
			obj = "contacts"
		}
		vals := createValues(d, obj, outbox.State{}, time.Time{}, "x@example.com", "")
		if miss := outbox.RequiredMissing(md, obj, vals); len(miss) > 0 {
			return errs.Invalid("create_if_not_found", "required_fields",
				"%s requires %s on create, which TrailSpark cannot fill; turn create_if_not_found off or make them optional", obj, strings.Join(miss, ", "))
		}
	}
	return nil
}

// createValues are the fields of a record TrailSpark creates: the mapped
// ones plus, for a Salesforce Lead, the last name and company it requires.
func createValues(d *Destination, object string, s outbox.State, at time.Time, email, company string) map[string]any {
	v := d.Fields[object].Values(s, at)
	if object == "Lead" {
		local := email
		if i := strings.IndexByte(email, '@'); i > 0 {
			local = email[:i]
		}
		if company == "" {
			if i := strings.IndexByte(email, '@'); i >= 0 {
				company = email[i+1:]
			}
		}
		v["LastName"], v["Company"], v["Email"] = local, company, email
	} else {
		v["email"] = email
	}
	return v
}

// SuggestedFields are the CRM fields to create for a provider and the
// CRM-side setup, step by step.
type SuggestedFields struct {
	Provider string              `json:"provider,omitempty"` // empty: both providers
	Fields   []outbox.Suggestion `json:"fields"`
	Setup    string              `json:"setup"`
}

// SuggestFields returns the suggested CRM fields of provider, or of both
// when provider is empty (Viewer and up).
func (c *Client) SuggestFields(ctx context.Context, caller tenant.Caller, org, provider string) (*SuggestedFields, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	if provider == "" { // both
		sf, st, _ := outbox.Suggest(outbox.KindSalesforce)
		hf, ht, _ := outbox.Suggest(outbox.KindHubSpot)
		return &SuggestedFields{Fields: append(sf, hf...), Setup: st + "\n" + ht}, nil
	}
	s, text, err := outbox.Suggest(provider)
	if err != nil {
		return nil, errs.Invalid("provider", "invalid_value", "%s", err.Error())
	}
	return &SuggestedFields{Provider: provider, Fields: s, Setup: text}, nil
}
