// Package actors holds the grains — persistent virtual actors that own state
// — and the typed Client the API uses to talk to them. Grain logic lives in
// plain structs (testable without protoactor); thin adapters make them
// protoactor actors registered through the cluster facade.
package actors

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/plan"
	"github.com/trailspark/trailspark/engine/seal"
	"github.com/trailspark/trailspark/plugins/host"
	"github.com/trailspark/trailspark/store"
)

// Env is what every grain and service on a node shares.
type Env struct {
	Store       store.StateStore
	Sealer      *seal.Sealer
	Hasher      *credential.Hasher
	Clock       func() time.Time
	Rand        io.Reader
	Log         hclog.Logger
	IdleTimeout time.Duration // a grain idle this long passivates (0 = 10 min)
	// Password hashing cost; tests use credential.FastPasswordParams.
	Password credential.PasswordParams
	// SessionTTL is how long a login token lives (0 = 24 h).
	SessionTTL time.Duration
	// AllowUserOrgCreation lets signed-in users create organizations; the
	// operator always can.
	AllowUserOrgCreation bool
	// SignalLog is the durable log of accepted signals.
	SignalLog store.SignalLog
	// Plans are the operator's plans (engine/plan); nil means the shipped
	// defaults.
	Plans []plan.Plan
	// ColdRetention is how long anonymous signals wait in cold storage for
	// an identify (0 = 90 days; plans will set it per organization).
	ColdRetention time.Duration
	// Plugins supervises this node's connector plugins; nil when the node
	// has no plugins directory.
	Plugins *host.Host
	// OnUsageThreshold is told when an organization's meter crosses 80%
	// or 100% of its limit (metrics; an outbox will deliver it as a
	// webhook event). Optional.
	OnUsageThreshold func(org, meter string, percent int)

	metricsOnce sync.Once
	usage       *usageMetrics
	quotas      sync.Map // org → *orgQuota (usage_counters.go)
	domains     domainCache

	// client lets grains call other grains; NewClient sets it before the
	// node serves requests.
	client *Client
}

func (e *Env) now() time.Time { return e.Clock().UTC() }

func (e *Env) idle() time.Duration {
	if e.IdleTimeout <= 0 {
		return 10 * time.Minute
	}
	return e.IdleTimeout
}

func (e *Env) coldRetention() time.Duration {
	if e.ColdRetention <= 0 {
		return 90 * 24 * time.Hour
	}
	return e.ColdRetention
}

func (e *Env) sessionTTL() time.Duration {
	if e.SessionTTL <= 0 {
		return 24 * time.Hour
	}
	return e.SessionTTL
}

// emailAD binds sealed emails to their purpose so a sealed value cannot be
// swapped in for another kind of secret.
var emailAD = []byte("email")

func (e *Env) sealString(ad []byte, s string) (string, error) {
	b, err := e.Sealer.Seal(e.Rand, []byte(s), ad)
	if err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(b), nil
}

func (e *Env) openString(ad []byte, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return "", err
	}
	pt, err := e.Sealer.Open(b, ad)
	return string(pt), err
}

// emailIndex is the keyed lookup hash of a normalised email.
func (e *Env) emailIndex(email string) string {
	return e.Sealer.Index("email", seal.NormalizeEmail(email))
}

// putIndex upserts a small index entry (last writer wins; indexes are
// hints that readers verify against the owning grain's state).
func (e *Env) putIndex(ctx context.Context, key []byte, value string) error {
	for i := 0; i < 8; i++ {
		old, v, err := e.Store.Load(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v = 0
		case err != nil:
			return err
		case string(old) == value:
			return nil
		}
		if _, err := e.Store.Save(ctx, key, []byte(value), v); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("index %s: too many concurrent writers", key)
}

// deleteIndex removes an index entry whatever its version.
// keyDomainEpoch's version changes whenever an account's domain is indexed
// or unindexed outside processing (the account API, CRM sync, product
// orgs): partition processors keep domain → accounts answers until it
// does (process.go).
func keyDomainEpoch(org string) []byte { return store.TenantKey(org, "domv") }

// putDomain indexes an account under its domain and, when that is new,
// tells the partitions' domain caches.
func (e *Env) putDomain(ctx context.Context, org, domain, acct string) error {
	key := keyDomain(org, domain, acct)
	switch _, _, err := e.Store.Load(ctx, key); {
	case err == nil:
		return nil // indexed already
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if err := e.putIndex(ctx, key, ""); err != nil {
		return err
	}
	return e.bumpDomainEpoch(ctx, org)
}

// deleteDomain removes an account's domain index entry and tells the
// partitions' domain caches.
func (e *Env) deleteDomain(ctx context.Context, org, domain, acct string) error {
	if err := e.deleteIndex(ctx, keyDomain(org, domain, acct)); err != nil {
		return err
	}
	return e.bumpDomainEpoch(ctx, org)
}

func (e *Env) bumpDomainEpoch(ctx context.Context, org string) error {
	_, err := e.Store.SaveBatch(ctx, []store.Write{{Key: keyDomainEpoch(org), Value: []byte{}, Expected: store.AnyVersion}})
	return err
}

func (e *Env) deleteIndex(ctx context.Context, key []byte) error {
	for i := 0; i < 8; i++ {
		_, v, err := e.Store.Load(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := e.Store.Delete(ctx, key, v); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("index %s: too many concurrent writers", key)
}

// loadJSON loads and decodes a JSON value; ErrNotFound passes through.
func (e *Env) loadJSON(ctx context.Context, key []byte, v any) (store.Version, error) {
	b, ver, err := e.Store.Load(ctx, key)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return ver, nil
}

// storeErr turns a store failure into a retryable user-facing error.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errs.Unavailable("the request was cancelled or timed out", err)
	}
	return errs.Unavailable("storage is not available right now; retry", err)
}

// Global index keys (deployment-wide; tenant data lives under o/{org}/).
func keySubdomain(sub string) []byte         { return store.GlobalKey("sub", sub) }
func keyOrgIndex(org string) []byte          { return store.GlobalKey("org", org) }
func keyMembership(user, org string) []byte  { return store.GlobalKey("umem", user, org) }
func keyMembershipPrefix(user string) []byte { return append(store.GlobalKey("umem", user), '/') }
func keyAPIKeyIndex(tokenID string) []byte   { return store.GlobalKey("apikey", tokenID) }
func keyEmail(idx string) []byte             { return store.GlobalKey("email", idx) }
func keyUser(id string) []byte               { return store.GlobalKey("user", id) }
func keyToken(tokenID string) []byte         { return store.GlobalKey("tok", tokenID) }
func keyUserPAT(user, pat string) []byte     { return store.GlobalKey("upat", user, pat) }
func keyUserPATPrefix(user string) []byte    { return append(store.GlobalKey("upat", user), '/') }
func keyOrgState(org string) []byte          { return store.TenantKey(org, "org") }

type contextT = context.Context

var jsonMarshal = json.Marshal

var (
	normalizeEmail = seal.NormalizeEmail
	validateEmail  = seal.ValidateEmail
)
