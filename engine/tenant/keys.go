package tenant

import (
	"sort"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/productorg"
)

// KeyType says which ingestion endpoint an API key opens.
type KeyType string

const (
	KeySignalStaging KeyType = "signal_staging"
	KeyProductOrg    KeyType = "product_org"
)

// APIKey is an ingestion key record. The key itself is never stored: only
// the keyed hash of it (and, when the key has a secret, that secret sealed).
type APIKey struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	Type            KeyType        `json:"type"`
	TokenID         string         `json:"token_id"` // public part of sk_ key, shown as prefix
	Hash            []byte         `json:"hash"`
	SecretSealed    string         `json:"secret_sealed,omitempty"`
	PayloadTemplate map[string]any `json:"payload_template,omitempty"`
	CreatedAt       time.Time      `json:"created_at"`
	ExpiresAt       *time.Time     `json:"expires_at,omitempty"`
	LastUsedAt      *time.Time     `json:"last_used_at,omitempty"`
	RevokedAt       *time.Time     `json:"revoked_at,omitempty"`
	RotatedFrom     string         `json:"rotated_from,omitempty"`
}

// KeyStatus is a key's status at a time.
func (k *APIKey) StatusAt(now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return "expired"
	}
	return "active"
}

// Usable says whether a presented key may be used now, with the 401 reason.
func (k *APIKey) Usable(now time.Time) error {
	switch k.StatusAt(now) {
	case "revoked":
		return errs.Unauthenticated("key_revoked", "this API key has been revoked")
	case "expired":
		return errs.Unauthenticated("key_expired", "this API key has expired")
	}
	return nil
}

// NewKeyInput is what a user supplies to create a key.
type NewKeyInput struct {
	Name            string
	Type            string
	ExpiresAt       *time.Time
	WithSecret      bool
	PayloadTemplate map[string]any
}

// maxKeysPerOrg bounds the key list an org grain keeps in memory.
const maxKeysPerOrg = 500

// Validate checks the input at time now and fills the default type.
func (in *NewKeyInput) Validate(now time.Time) error {
	in.Name = strings.TrimSpace(in.Name)
	if e := ValidateName("name", in.Name); e != nil {
		return e
	}
	if in.Type == "" {
		in.Type = string(KeySignalStaging)
	}
	if e := ValidateEnum("type", in.Type, []string{string(KeySignalStaging), string(KeyProductOrg)}); e != nil {
		return e
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return errs.Invalid("expires_at", "out_of_range", "expires_at must be in the future")
	}
	if KeyType(in.Type) == KeyProductOrg {
		if len(in.PayloadTemplate) == 0 {
			return errs.Invalid("payload_template", "required",
				"a product_org key needs a payload_template mapping at least product_org_id")
		}
		if err := validateTemplate(in.PayloadTemplate); err != nil {
			return err
		}
	} else if len(in.PayloadTemplate) > 0 {
		return errs.Invalid("payload_template", "not_allowed", "payload_template is only for product_org keys")
	}
	return nil
}

// validateTemplate checks a product-org payload template: field name → dot
// path (string). product_org_id is required (SPEC §2.6).
func validateTemplate(t map[string]any) error {
	if len(t) > 100 {
		return errs.Invalid("payload_template", "too_long", "payload_template may map at most 100 fields")
	}
	for field, v := range t {
		path, ok := v.(string)
		if !ok || strings.TrimSpace(path) == "" {
			return errs.Invalid("payload_template."+field, "wrong_type", "each template entry must be a non-empty dot path string")
		}
		if len(path) > 200 {
			return errs.Invalid("payload_template."+field, "too_long", "paths must be at most 200 characters")
		}
	}
	if _, ok := t["product_org_id"]; !ok {
		return errs.Invalid("payload_template.product_org_id", "required", "payload_template must map product_org_id")
	}
	// The webhook applies the template with engine/productorg: refuse at
	// creation what it would refuse on every call (e.g. "a..b" paths).
	return productorg.Validate(t)
}

// AddKey records a new key built from in (already validated) and the generated
// id, token id, hash and sealed secret.
func (s *State) AddKey(k APIKey, now time.Time) (*APIKey, error) {
	if len(s.Keys) >= maxKeysPerOrg {
		s.pruneKeys(now)
		if len(s.Keys) >= maxKeysPerOrg {
			return nil, errs.Conflict("too_many_keys", "", "this organization has too many API keys; revoke some first")
		}
	}
	k.CreatedAt = now
	s.Keys[k.ID] = &k
	return &k, nil
}

// pruneKeys drops keys revoked or expired more than 90 days ago.
func (s *State) pruneKeys(now time.Time) {
	for id, k := range s.Keys {
		end := k.RevokedAt
		if end == nil {
			end = k.ExpiresAt
		}
		if end != nil && now.Sub(*end) > 90*24*time.Hour {
			delete(s.Keys, id)
		}
	}
}

// RevokeKey revokes at once; revoking twice keeps the first time.
func (s *State) RevokeKey(id string, now time.Time) (*APIKey, error) {
	k, ok := s.Keys[id]
	if !ok {
		return nil, errs.NotFound("api_key")
	}
	if k.RevokedAt == nil {
		t := now
		k.RevokedAt = &t
	}
	return k, nil
}

// RotationOf returns the settings a rotated key copies from the old one; the
// old key stays valid until it is revoked.
func (s *State) RotationOf(id string, now time.Time) (*APIKey, error) {
	k, ok := s.Keys[id]
	if !ok {
		return nil, errs.NotFound("api_key")
	}
	switch k.StatusAt(now) {
	case "revoked":
		return nil, errs.Conflict("key_revoked", "", "a revoked key cannot be rotated; create a new key")
	case "expired":
		return nil, errs.Conflict("key_expired", "", "an expired key cannot be rotated; create a new key")
	}
	return k, nil
}

// KeyByToken finds a key by the public token id.
func (s *State) KeyByToken(tokenID string) *APIKey {
	for _, k := range s.Keys {
		if k.TokenID == tokenID {
			return k
		}
	}
	return nil
}

// SortedKeys lists keys newest first.
func (s *State) SortedKeys() []*APIKey {
	out := make([]*APIKey, 0, len(s.Keys))
	for _, k := range s.Keys {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID > out[j].ID
	})
	return out
}
