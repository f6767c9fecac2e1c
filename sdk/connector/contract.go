package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Connector is what every plugin implements. Everything else is optional and
// declared through Info.Capabilities: a connector that declares CapRead must
// implement Reader, and so on; sdk.Serve refuses to start otherwise.
//
// Every method receives the tenant's Config. A connector must not keep
// per-tenant state between calls (caches keyed by Config.Tenant are fine):
// one process serves every tenant of a node and may be restarted at any time.
type Connector interface {
	// Describe returns a static description; it is called after every launch.
	Describe(ctx context.Context) (Info, error)
	// Configure validates cfg without network access and returns
	// *Error{Kind: KindInvalidConfig, Field: ...} for a bad value.
	Configure(ctx context.Context, cfg Config) error
	// Check tests cfg against the remote service ("test connection").
	Check(ctx context.Context, cfg Config) error
}

// Reader streams records of one kind (CapRead).
type Reader interface {
	// Read emits records of req.Kind that come after req.Cursor, at most
	// req.Limit of them when Limit > 0, and returns the cursor to resume
	// from. An empty req.Cursor means from the beginning. Reading again from
	// a returned cursor must not skip records (it may repeat some: consumers
	// are idempotent). emit returns an error when the host went away: stop
	// and return it.
	Read(ctx context.Context, cfg Config, req ReadRequest, emit func(Record) error) (ReadResult, error)
}

// Writer writes score updates back (CapWrite).
type Writer interface {
	// Write applies a batch and returns exactly one result per update, in
	// order. A failure of one record goes in its WriteResult.Err; a returned
	// error means the whole batch failed (nothing, or nothing known, written).
	Write(ctx context.Context, cfg Config, req WriteRequest) ([]WriteResult, error)
}

// Translator turns an inbound payload into canonical signals (CapTranslate).
type Translator interface {
	Translate(ctx context.Context, cfg Config, req TranslateRequest) ([]Signal, error)
}

// MetadataProvider describes objects and fields (CapMetadata).
type MetadataProvider interface {
	Metadata(ctx context.Context, cfg Config, req MetadataRequest) (Metadata, error)
}

// OAuthProvider implements the OAuth 2.0 authorization-code flow with PKCE (CapOAuth).
type OAuthProvider interface {
	AuthURL(ctx context.Context, cfg Config, req AuthURLRequest) (string, error)
	ExchangeCode(ctx context.Context, cfg Config, req ExchangeCodeRequest) (Token, error)
	Refresh(ctx context.Context, cfg Config, refreshToken string) (Token, error)
}

// Full is every operation. The host-side client implements it; a call to a
// capability the plugin lacks returns an error matching ErrUnsupported.
type Full interface {
	Connector
	Reader
	Writer
	Translator
	MetadataProvider
	OAuthProvider
}

// Config is one tenant's connection. It travels with every call.
type Config struct {
	Tenant      string            // tenant (organization) id: for logs and per-tenant caches
	BaseURL     string            // API base URL; empty means the vendor's default
	Credentials map[string]string // secrets: access_token, refresh_token, api_key, client_secret, ...
	Options     map[string]string // non-secret settings: sandbox=true, api_version, directory, ...
}

// Option returns Options[key] or def when unset.
func (c Config) Option(key, def string) string {
	if v, ok := c.Options[key]; ok && v != "" {
		return v
	}
	return def
}

// String redacts credential values so a Config can be logged.
func (c Config) String() string {
	keys := make([]string, 0, len(c.Credentials))
	for k := range c.Credentials {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=REDACTED"
	}
	return fmt.Sprintf("Config{Tenant:%q BaseURL:%q Credentials:[%s] Options:%v}", c.Tenant, c.BaseURL, strings.Join(keys, " "), c.Options)
}

// GoString redacts too (%#v).
func (c Config) GoString() string { return c.String() }

// Kind is a kind of CRM/marketing record.
type Kind string

const (
	KindAccounts      Kind = "accounts"
	KindContacts      Kind = "contacts"
	KindLeads         Kind = "leads"
	KindOpportunities Kind = "opportunities"
	KindActivities    Kind = "activities"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindAccounts, KindContacts, KindLeads, KindOpportunities, KindActivities:
		return true
	}
	return false
}

// ReadRequest asks for records of Kind after Cursor.
type ReadRequest struct {
	Kind   Kind
	Cursor string // opaque to the host; empty = from the beginning
	Limit  int    // maximum records this call; 0 = connector's choice
}

// ReadResult ends a Read.
type ReadResult struct {
	NextCursor string // resume from here; never empty after at least one record
	More       bool   // true when records remain after NextCursor
}

// Record is one CRM record.
type Record struct {
	ID        string          // the remote system's id
	Kind      Kind            // equals ReadRequest.Kind
	Fields    json.RawMessage // a JSON object of field name -> value
	UpdatedAt time.Time       // last modification in the remote system, if known
	Deleted   bool            // tombstone
}

// WriteRequest is a batch of score updates for one object type.
type WriteRequest struct {
	Object  string        // remote object name: Lead, Contact, Account, contacts, companies
	Updates []ScoreUpdate // batch; the connector splits it to the vendor's limits
}

// ScoreUpdate sets fields on one record.
type ScoreUpdate struct {
	RecordID        string          // remote id; empty with CreateIfMissing to create or match by Email
	Email           string          // match key when RecordID is empty
	Fields          json.RawMessage // JSON object of field name -> value
	CreateIfMissing bool
	IdempotencyKey  string
}

// WriteResult is the outcome of one ScoreUpdate.
type WriteResult struct {
	Index     int    // position in WriteRequest.Updates
	RecordID  string // id written (or created)
	Created   bool
	Unchanged bool   // nothing to write: the remote values already matched
	Err       *Error // nil on success
}

// TranslateRequest is one inbound HTTP payload.
type TranslateRequest struct {
	Payload     []byte
	Headers     http.Header
	ContentType string
}

// Route says which host endpoint a signal belongs to.
type Route string

const (
	RouteSignal     Route = ""            // the signal pipeline (default)
	RouteProductOrg Route = "product_org" // product workspace/org data (SPEC §2.6), e.g. Segment group calls
)

// Signal is a canonical inbound signal (SPEC §2.2).
type Signal struct {
	Source      string // "segment", "marketo", ...
	Type        string // track, page, identify, group, screen, alias, or the vendor's type
	Event       string // event name (track) or page/screen name
	Email       string // lower-cased
	UserID      string
	AnonymousID string
	GroupID     string
	MessageID   string // dedup key
	Timestamp   time.Time
	SentAt      time.Time       // client send time, for clock-skew correction
	Properties  json.RawMessage // JSON object or nil
	Traits      json.RawMessage // JSON object or nil
	Payload     json.RawMessage // the original item, unchanged (mapping rules read it)
	Route       Route
}

// MetadataRequest limits the answer to Objects when non-empty.
type MetadataRequest struct {
	Objects []string
}

// Metadata describes the remote schema.
type Metadata struct {
	Objects []Object
}

// Object is a remote object type.
type Object struct {
	Name   string // API name: Lead, Account, contacts
	Label  string
	Kind   Kind // the record kind Read uses for it, if any
	Fields []Field
}

// FieldType is a portable field type.
type FieldType string

const (
	FieldString    FieldType = "string"
	FieldText      FieldType = "text"
	FieldInteger   FieldType = "integer"
	FieldNumber    FieldType = "number"
	FieldBoolean   FieldType = "boolean"
	FieldDate      FieldType = "date"
	FieldDateTime  FieldType = "datetime"
	FieldEmail     FieldType = "email"
	FieldURL       FieldType = "url"
	FieldPicklist  FieldType = "picklist"
	FieldID        FieldType = "id"
	FieldReference FieldType = "reference"
)

// Valid reports whether t is a known type.
func (t FieldType) Valid() bool {
	switch t {
	case FieldString, FieldText, FieldInteger, FieldNumber, FieldBoolean, FieldDate, FieldDateTime,
		FieldEmail, FieldURL, FieldPicklist, FieldID, FieldReference:
		return true
	}
	return false
}

// Field is one field of an Object.
type Field struct {
	Name        string
	Label       string
	Type        FieldType
	Writable    bool
	Required    bool
	Picklist    []PicklistValue // only for FieldPicklist
	ReferenceTo string          // only for FieldReference: target object name
}

// PicklistValue is one allowed value.
type PicklistValue struct {
	Value string
	Label string
}

// AuthURLRequest builds the authorization URL. The host generates State and
// the PKCE verifier; only the challenge is sent to the plugin.
type AuthURLRequest struct {
	RedirectURI         string
	State               string
	CodeChallenge       string
	CodeChallengeMethod string // "S256"
	Scopes              []string
}

// ExchangeCodeRequest trades an authorization code for tokens.
type ExchangeCodeRequest struct {
	Code         string
	RedirectURI  string
	CodeVerifier string
}

// Token is an OAuth token set. Its String method redacts the secrets.
type Token struct {
	AccessToken  string
	RefreshToken string
	TokenType    string
	Expiry       time.Time
	InstanceURL  string // Salesforce: the org's API host
	Scopes       []string
	Extra        map[string]string
}

func (t Token) String() string {
	return fmt.Sprintf("Token{Type:%q Expiry:%s InstanceURL:%q Scopes:%v AccessToken:REDACTED RefreshToken:REDACTED}",
		t.TokenType, t.Expiry.Format(time.RFC3339), t.InstanceURL, t.Scopes)
}

// GoString redacts too (%#v).
func (t Token) GoString() string { return t.String() }
