package outbox

import (
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/credential"
)

// SignatureHeader carries a webhook delivery's signature:
// "t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" (Stripe's scheme).
const SignatureHeader = "TrailSpark-Signature"

// EventEvaluation is the type of an evaluation delivery.
const EventEvaluation = "evaluation.created"

// SecretPrefix starts every webhook signing secret.
const SecretPrefix = "whsec_"

// NewSecret makes a webhook signing secret (whsec_…).
func NewSecret(r io.Reader) (string, error) {
	full, _, err := credential.NewToken(r, SecretPrefix)
	return full, err
}

// ValidSecret reports whether s looks like a signing secret a receiver
// chose: the whsec_ prefix and 24 to 200 more characters.
func ValidSecret(s string) bool {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok || len(rest) < 24 || len(rest) > 200 {
		return false
	}
	for _, c := range rest {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// Sign signs body at t with secret (credential.Sign); receivers check it
// with the same HMAC (or credential.VerifySignature).
func Sign(secret string, t time.Time, body []byte) string { return credential.Sign(secret, t, body) }

// WebhookLead is the lead in a webhook body.
type WebhookLead struct {
	ID     string   `json:"id"`
	Email  string   `json:"email,omitempty"`
	CRMIDs []string `json:"crm_ids,omitempty"`
}

// WebhookAccount is the lead's account, when it has one.
type WebhookAccount struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	Domain     string `json:"domain,omitempty"`
	Industry   string `json:"industry,omitempty"`
	Region     string `json:"region,omitempty"`
	Employees  *int   `json:"employees,omitempty"`
	Propensity string `json:"propensity,omitempty"`
}

// WebhookEvent is the JSON body of one webhook delivery (docs/api.md,
// "Destinations and deliveries"). ID is the delivery id: stable across
// retries, so a receiver deduplicates on it.
type WebhookEvent struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	CreatedAt    time.Time       `json:"created_at"`
	Organization string          `json:"organization_id"`
	Destination  string          `json:"destination_id"`
	Lead         WebhookLead     `json:"lead"`
	Account      *WebhookAccount `json:"account"`
	// Evaluation is the stored evaluation as GET …/evaluations/{id} returns
	// it: grade, score, probability, fit and intent scores, confidence,
	// contributions, top signals, reasoning, model and evaluation time.
	Evaluation json.RawMessage `json:"evaluation"`
	// Data is an event's payload (Type other than "evaluation"), e.g.
	// usage.threshold: {"meter","percent","used","limit","period_end"}.
	Data json.RawMessage `json:"data,omitempty"`
}

// Body encodes the event.
func (e WebhookEvent) Body() ([]byte, error) {
	if e.Type == "" {
		e.Type = EventEvaluation
	}
	if len(e.Evaluation) == 0 {
		e.Evaluation = json.RawMessage("null")
	}
	return json.Marshal(e)
}
