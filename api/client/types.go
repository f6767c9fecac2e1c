package client

import (
	"encoding/json"
	"time"
)

// Size is an organization's head-count band.
type Size string

// Sizes accepted by the API.
const (
	Size1To10    Size = "1-10"
	Size11To50   Size = "11-50"
	Size51To200  Size = "51-200"
	Size201To500 Size = "201-500"
	Size501Plus  Size = "501+"
)

// Sizes lists every Size in order.
var Sizes = []Size{Size1To10, Size11To50, Size51To200, Size201To500, Size501Plus}

// Industry is an organization's industry.
type Industry string

// Industries accepted by the API.
const (
	IndustryTechnology    Industry = "Technology"
	IndustryFinance       Industry = "Finance"
	IndustryHealthcare    Industry = "Healthcare"
	IndustryEducation     Industry = "Education"
	IndustryRetail        Industry = "Retail"
	IndustryManufacturing Industry = "Manufacturing"
	IndustryOther         Industry = "Other"
)

// Industries lists every Industry.
var Industries = []Industry{IndustryTechnology, IndustryFinance, IndustryHealthcare, IndustryEducation,
	IndustryRetail, IndustryManufacturing, IndustryOther}

// Role is a member's role in an organization: Owner > Admin > Editor > Viewer.
type Role string

// Roles.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleEditor Role = "editor"
	RoleViewer Role = "viewer"
)

// KeyType is the kind of an ingestion API key.
type KeyType string

// Key types.
const (
	KeyTypeSignalStaging KeyType = "signal_staging"
	KeyTypeProductOrg    KeyType = "product_org"
)

// KeyStatus is an API key's state.
type KeyStatus string

// Key statuses.
const (
	KeyActive  KeyStatus = "active"
	KeyRevoked KeyStatus = "revoked"
	KeyExpired KeyStatus = "expired"
)

// InvitationStatus is an invitation's state.
type InvitationStatus string

// Invitation statuses.
const (
	InvitationPending   InvitationStatus = "pending"
	InvitationAccepted  InvitationStatus = "accepted"
	InvitationCancelled InvitationStatus = "cancelled"
	InvitationExpired   InvitationStatus = "expired"
)

// Status is the body of /healthz ("ok") and /readyz ("ready").
type Status struct {
	Status string `json:"status"`
}

// User is a person with an account.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Organization is a tenant. Role is the caller's role in it (empty for the operator).
type Organization struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Subdomain string         `json:"subdomain"`
	Size      Size           `json:"size"`
	Industry  Industry       `json:"industry"`
	Plan      string         `json:"plan"`
	Settings  map[string]any `json:"settings,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	Role      Role           `json:"role,omitempty"`
}

// Member is a user's membership as seen from the organization.
type Member struct {
	UserID   string    `json:"user_id"`
	Email    string    `json:"email"`
	Name     string    `json:"name"`
	Role     Role      `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

// Invitation asks someone to join an organization.
type Invitation struct {
	ID        string           `json:"id"`
	Email     string           `json:"email"`
	Role      Role             `json:"role"`
	Status    InvitationStatus `json:"status"`
	InvitedBy string           `json:"invited_by"`
	CreatedAt time.Time        `json:"created_at"`
	ExpiresAt time.Time        `json:"expires_at"`
}

// APIKey is an ingestion key as stored: never the key itself.
type APIKey struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	Type            KeyType        `json:"type"`
	Prefix          string         `json:"prefix"`
	HasSecret       bool           `json:"has_secret"`
	PayloadTemplate map[string]any `json:"payload_template,omitempty"`
	Status          KeyStatus      `json:"status"`
	CreatedAt       time.Time      `json:"created_at"`
	ExpiresAt       *time.Time     `json:"expires_at"`
	LastUsedAt      *time.Time     `json:"last_used_at"`
	RevokedAt       *time.Time     `json:"revoked_at"`
	RotatedFrom     *string        `json:"rotated_from"`
}

// PersonalAccessToken is a user's script credential as stored: never the token itself.
type PersonalAccessToken struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// Membership is one of the caller's organizations, in Me.
type Membership struct {
	OrgID     string `json:"org_id"`
	OrgName   string `json:"org_name"`
	Subdomain string `json:"subdomain"`
	Role      Role   `json:"role"`
}

// Me is the caller: a user (nil for the operator token) and their memberships.
type Me struct {
	User        *User        `json:"user,omitempty"`
	Operator    bool         `json:"operator"`
	Memberships []Membership `json:"memberships"`
}

// LoginResponse carries a session token (tss_…).
type LoginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      User      `json:"user"`
}

// SubdomainCheck says whether a subdomain is free, and suggests one.
type SubdomainCheck struct {
	Subdomain  string `json:"subdomain"`
	Available  bool   `json:"available"`
	Reason     string `json:"reason,omitempty"`
	Suggestion string `json:"suggestion"`
}

// TransferResult is the new Owner and the id of the previous Owner, who was removed.
type TransferResult struct {
	Owner         Member `json:"owner"`
	RemovedUserID string `json:"removed_user_id"`
}

// AcceptResult is the organization joined by accepting an invitation.
type AcceptResult struct {
	Organization Organization `json:"organization"`
	Role         Role         `json:"role"`
}

// KeySelf describes the API key a request was made with.
type KeySelf struct {
	OrgID string  `json:"org_id"`
	KeyID string  `json:"key_id"`
	Type  KeyType `json:"type"`
	Name  string  `json:"name"`
}

// InvitationCreated is the answer to creating or resending an invitation: the
// token (tsi_…) is shown only here.
type InvitationCreated struct {
	Invitation Invitation `json:"invitation"`
	Token      string     `json:"token"`
}

// APIKeyCreated is the answer to creating or rotating a key: Key (sk_…) and
// Secret are shown only here.
type APIKeyCreated struct {
	APIKey APIKey `json:"api_key"`
	Key    string `json:"key"`
	Secret string `json:"secret,omitempty"`
}

// PATCreated is the answer to creating a personal access token: Token (tsp_…)
// is shown only here.
type PATCreated struct {
	PersonalAccessToken PersonalAccessToken `json:"personal_access_token"`
	Token               string              `json:"token"`
}

// OrganizationList is one page of organizations; NextCursor is empty on the last page.
type OrganizationList struct {
	Items      []Organization `json:"items"`
	NextCursor string         `json:"next_cursor"`
}

// MemberList is one page of members.
type MemberList struct {
	Items      []Member `json:"items"`
	NextCursor string   `json:"next_cursor"`
}

// InvitationList is one page of invitations.
type InvitationList struct {
	Items      []Invitation `json:"items"`
	NextCursor string       `json:"next_cursor"`
}

// APIKeyList is one page of API keys.
type APIKeyList struct {
	Items      []APIKey `json:"items"`
	NextCursor string   `json:"next_cursor"`
}

// PATList is one page of personal access tokens.
type PATList struct {
	Items      []PersonalAccessToken `json:"items"`
	NextCursor string                `json:"next_cursor"`
}

// RegisterRequest creates a user.
type RegisterRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// LoginRequest exchanges a password for a session token.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// CreateOrgRequest creates an organization. Subdomain is suggested from the
// name when empty; OwnerEmail is required when the operator creates it.
type CreateOrgRequest struct {
	Name       string   `json:"name"`
	Subdomain  string   `json:"subdomain,omitempty"`
	Size       Size     `json:"size"`
	Industry   Industry `json:"industry"`
	Plan       string   `json:"plan,omitempty"`
	OwnerEmail string   `json:"owner_email,omitempty"`
}

// UpdateOrgRequest changes the fields that are non-nil.
type UpdateOrgRequest struct {
	Name     *string   `json:"name,omitempty"`
	Size     *Size     `json:"size,omitempty"`
	Industry *Industry `json:"industry,omitempty"`
}

// CreateInvitationRequest invites an email address; Role defaults to viewer on the server.
type CreateInvitationRequest struct {
	Email string `json:"email"`
	Role  Role   `json:"role,omitempty"`
}

// CreateAPIKeyRequest creates an ingestion key. Type defaults to signal_staging
// on the server; WithSecret asks for a secret as well.
type CreateAPIKeyRequest struct {
	Name            string         `json:"name"`
	Type            KeyType        `json:"type,omitempty"`
	ExpiresAt       *time.Time     `json:"expires_at,omitempty"`
	WithSecret      bool           `json:"with_secret,omitempty"`
	PayloadTemplate map[string]any `json:"payload_template,omitempty"`
}

// CreateTokenRequest creates a personal access token; ExpiresAt nil means no expiry.
type CreateTokenRequest struct {
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// ---- signals in -----------------------------------------------------------------------------

// IngestOptions are the optional headers of the ingestion calls.
type IngestOptions struct {
	// Secret is the key's secret, for a key created with one. It is sent as
	// X-Api-Secret, unless SignAt is set.
	Secret string
	// SignAt, with Secret, proves the secret with an X-TrailSpark-Signature
	// over the exact body, made at this time, instead of sending the secret
	// (the server allows 300 s of clock difference). Bulk imports cannot be
	// signed: ImportSignals always sends X-Api-Secret.
	SignAt time.Time
	// Source forces the source of every signal (X-Source).
	Source string
	// IdempotencyKey makes a retried request a no-op for 24 h
	// (Idempotency-Key; in a batch, item i is deduplicated on "<key>:<i>").
	// Not used by bulk imports.
	IdempotencyKey string
}

// SignalAccepted answers an accepted signal: it is durably stored and queued
// for processing. For a duplicate (a messageId or Idempotency-Key seen in the
// last 24 h) ID is the first signal's and nothing new was stored.
type SignalAccepted struct {
	ID          uint64 `json:"id"`
	Message     string `json:"message"`
	Source      string `json:"source"`
	ColdStorage bool   `json:"cold_storage"`
	Duplicate   bool   `json:"duplicate,omitempty"`
}

// ErrorDetail is an error about one item of a batch or one line of an import.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// BatchItemResult is one batch item's outcome: ID and Source when it was
// accepted, Error when it was refused.
type BatchItemResult struct {
	Index       int          `json:"index"`
	ID          uint64       `json:"id,omitempty"`
	Source      string       `json:"source,omitempty"`
	ColdStorage bool         `json:"cold_storage,omitempty"`
	Duplicate   bool         `json:"duplicate,omitempty"`
	Error       *ErrorDetail `json:"error,omitempty"`
}

// BatchAccepted answers a batch: each item is accepted (duplicates
// included) or refused on its own.
type BatchAccepted struct {
	Accepted int               `json:"accepted"`
	Rejected int               `json:"rejected"`
	Results  []BatchItemResult `json:"results"`
}

// BulkLineError is a refused line of a bulk import (1-based; for a JSON
// array, the 1-based element).
type BulkLineError struct {
	Line  int         `json:"line"`
	Error ErrorDetail `json:"error"`
}

// BulkSummary answers a bulk import once everything accepted is durable.
// Errors lists the first 100 refused lines.
type BulkSummary struct {
	Accepted   int             `json:"accepted"`
	Rejected   int             `json:"rejected"`
	Duplicates int             `json:"duplicates"`
	Errors     []BulkLineError `json:"errors"`
	DurationMS int64           `json:"duration_ms"`
}

// ---- signals, rules, leads and accounts ----

// Signal is the JSON object of that name in api/openapi.yaml.
type Signal struct {
	ID          uint64          `json:"id"`
	Status      string          `json:"status"`
	Source      string          `json:"source"`
	Type        string          `json:"type"`
	Event       string          `json:"event"`
	Timestamp   time.Time       `json:"timestamp"`
	ReceivedAt  time.Time       `json:"received_at"`
	RuleID      string          `json:"rule_id"`
	LeadID      string          `json:"lead_id"`
	AccountID   string          `json:"account_id"`
	Error       string          `json:"error"`
	Attempts    int             `json:"attempts"`
	ProcessedAt *time.Time      `json:"processed_at"`
	Payload     json.RawMessage `json:"payload"`
}

// SignalStats is the JSON object of that name in api/openapi.yaml.
type SignalStats struct {
	Pending   int64            `json:"pending"`
	ByStatus  map[string]int64 `json:"by_status"`
	Truncated bool             `json:"truncated"`
}

// Rule is the JSON object of that name in api/openapi.yaml.
type Rule struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	SignalType  string          `json:"signal_type"`
	Description string          `json:"description"`
	HighIntent  bool            `json:"high_intent"`
	Negative    bool            `json:"negative"`
	Source      string          `json:"source"`
	Conditions  json.RawMessage `json:"conditions"`
	Priority    int             `json:"priority"`
	Mappings    []struct {
		Path   string `json:"path"`
		Target string `json:"target"`
	} `json:"mappings"`
	Weight        *float64  `json:"weight"`
	HalfLifeHours *float64  `json:"half_life_hours"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// TimelineEntry is the JSON object of that name in api/openapi.yaml.
type TimelineEntry struct {
	SignalID   uint64    `json:"signal_id"`
	At         time.Time `json:"at"`
	Source     string    `json:"source"`
	Event      string    `json:"event"`
	Type       string    `json:"type"`
	RuleID     string    `json:"rule_id"`
	RuleName   string    `json:"rule_name"`
	SignalType string    `json:"signal_type"`
	HighIntent bool      `json:"high_intent"`
	Weight     float64   `json:"weight"`
}

// Lead is the JSON object of that name in api/openapi.yaml.
type Lead struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	Title       string `json:"title"`
	Identifiers []struct {
		Kind  string `json:"kind"`
		Value string `json:"value"`
	} `json:"identifiers"`
	Account *struct {
		AccountID string   `json:"account_id"`
		How       string   `json:"how"`
		Ambiguous []string `json:"ambiguous"`
	} `json:"account"`
	UnmatchedReason string          `json:"unmatched_reason"`
	SignalCount     int             `json:"signal_count"`
	MappedCount     int             `json:"mapped_count"`
	CountsByType    map[string]int  `json:"counts_by_type"`
	FirstSeenAt     time.Time       `json:"first_seen_at"`
	LastSeenAt      time.Time       `json:"last_seen_at"`
	Timeline        []TimelineEntry `json:"timeline"`
	Conflicts       []string        `json:"conflicts"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
}

// Account is the JSON object of that name in api/openapi.yaml.
type Account struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Domain     string         `json:"domain"`
	Industry   string         `json:"industry"`
	Employees  *int64         `json:"employees"`
	Region     string         `json:"region"`
	ExternalID string         `json:"external_id"`
	Inferred   bool           `json:"inferred"`
	Source     string         `json:"source"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

// AccountInput is the body of POST …/accounts.
// AccountInput is the JSON object of that name in api/openapi.yaml.
type AccountInput struct {
	Name       string `json:"name"`
	Domain     string `json:"domain,omitempty"`
	Industry   string `json:"industry,omitempty"`
	Employees  *int64 `json:"employees,omitempty"`
	Region     string `json:"region,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
}

// AccountImportResult is the JSON object of that name in api/openapi.yaml.
type AccountImportResult struct {
	Created int `json:"created"`
	Failed  int `json:"failed"`
	Errors  []struct {
		Row   int         `json:"row"`
		Error ErrorDetail `json:"error"`
	} `json:"errors"`
}
