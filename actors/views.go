package actors

import (
	"time"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/tenant"
)

// Views are what the API returns; their JSON is the public contract
// (docs/api.md, api/openapi.yaml). Secrets, hashes and sealed values never
// appear in a view.

// OrgView is an organization as a caller sees it.
type OrgView struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Subdomain string         `json:"subdomain"`
	Size      string         `json:"size"`
	Industry  string         `json:"industry"`
	Plan      string         `json:"plan"`
	Settings  map[string]any `json:"settings"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	Role      string         `json:"role,omitempty"`
}

func orgView(o tenant.Org, role tenant.Role) OrgView {
	settings := o.Settings
	if settings == nil {
		settings = map[string]any{}
	}
	return OrgView{ID: o.ID, Name: o.Name, Subdomain: o.Subdomain, Size: o.Size, Industry: o.Industry,
		Plan: o.Plan, Settings: settings, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, Role: string(role)}
}

// MemberView is one member.
type MemberView struct {
	UserID   string    `json:"user_id"`
	Email    string    `json:"email"`
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

// InvitationView is one invitation (never its token).
type InvitationView struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	Status    string    `json:"status"`
	InvitedBy string    `json:"invited_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// InvitationCreated carries the token, shown this once.
type InvitationCreated struct {
	Invitation InvitationView `json:"invitation"`
	Token      string         `json:"token"`
}

// APIKeyView is a key's metadata (the key itself is shown only at creation).
type APIKeyView struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	Type            string         `json:"type"`
	Prefix          string         `json:"prefix"`
	HasSecret       bool           `json:"has_secret"`
	PayloadTemplate map[string]any `json:"payload_template,omitempty"`
	Status          string         `json:"status"`
	CreatedAt       time.Time      `json:"created_at"`
	ExpiresAt       *time.Time     `json:"expires_at"`
	LastUsedAt      *time.Time     `json:"last_used_at"`
	RevokedAt       *time.Time     `json:"revoked_at"`
	RotatedFrom     *string        `json:"rotated_from"`
}

func keyView(k *tenant.APIKey, now time.Time) APIKeyView {
	v := APIKeyView{ID: k.ID, Name: k.Name, Type: string(k.Type),
		Prefix: credential.APIKeyPrefix + k.TokenID, HasSecret: k.SecretSealed != "",
		PayloadTemplate: k.PayloadTemplate, Status: k.StatusAt(now), CreatedAt: k.CreatedAt,
		ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
	if k.RotatedFrom != "" {
		r := k.RotatedFrom
		v.RotatedFrom = &r
	}
	return v
}

// APIKeyCreated carries the key (and secret), shown this once.
type APIKeyCreated struct {
	APIKey APIKeyView `json:"api_key"`
	Key    string     `json:"key"`
	Secret string     `json:"secret,omitempty"`
}

// TransferResult says who owns the organization now.
type TransferResult struct {
	Owner         MemberView `json:"owner"`
	RemovedUserID string     `json:"removed_user_id"`
}

// AcceptResult is the membership an accepted invitation made.
type AcceptResult struct {
	Organization OrgView `json:"organization"`
	Role         string  `json:"role"`
}

// KeyIdentity says what an authenticated API key may do.
type KeyIdentity struct {
	OrgID string `json:"org_id"`
	KeyID string `json:"key_id"`
	Type  string `json:"type"`
	Name  string `json:"name"`
	// secret is the key's clear secret, for the API layer to check
	// X-Api-Secret and signatures; unexported, so never serialised.
	secret string
}

// Secret is the key's clear secret ("" when it has none).
func (k KeyIdentity) Secret() string { return k.secret }
