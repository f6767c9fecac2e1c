// Package outbox is the pure part of delivering evaluations to destinations
// (SPEC §4): the delivery item model, the change-only decision, batching by
// vendor limit and window, retry with exponential backoff and jitter,
// Retry-After, permanent versus retryable classification, the daily CRM API
// budget, the CRM field values and the signed webhook body.
//
// It performs no I/O, starts no goroutines and never reads the clock or a
// random source of its own: time and randomness are arguments. The actors
// package stores items and runs the delivery loop (decision 0011).
package outbox

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// Destination kinds.
const (
	KindWebhook    = "webhook"
	KindSalesforce = "salesforce"
	KindHubSpot    = "hubspot"
)

// ValidKind reports whether k is a destination kind.
func ValidKind(k string) bool { return k == KindWebhook || k == KindSalesforce || k == KindHubSpot }

// IsCRM reports whether kind writes through a connector.
func IsCRM(kind string) bool { return kind == KindSalesforce || kind == KindHubSpot }

// Delivery statuses. Pending and failed items are in the queue (failed ones
// wait for NextAttemptAt); delivered, skipped_unchanged and parked ones are
// history. Parked items wait for a redrive.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusSkipped   = "skipped_unchanged"
	StatusFailed    = "failed"
	StatusParked    = "parked"
)

// ValidStatus reports whether s is a delivery status.
func ValidStatus(s string) bool {
	switch s {
	case StatusPending, StatusDelivered, StatusSkipped, StatusFailed, StatusParked:
		return true
	}
	return false
}

// Queued reports whether an item with status s is still to be delivered.
func Queued(s string) bool { return s == StatusPending || s == StatusFailed }

// Item is one evaluation to deliver to one destination.
type Item struct {
	Seq          string `json:"id"` // time-ordered, unique within the destination
	Destination  string `json:"destination_id"`
	EvaluationID string `json:"evaluation_id"`
	// Event, when set, makes the item an event delivery of that type
	// (e.g. "usage.threshold") with Data as its payload instead of an
	// evaluation; only webhook destinations receive events.
	Event       string          `json:"event,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
	LeadID      string          `json:"lead_id"`
	AccountID   string          `json:"account_id,omitempty"`
	Email       string          `json:"email,omitempty"`
	CRMIDs      []string        `json:"crm_ids,omitempty"`
	Grade       string          `json:"grade"`
	Score       int             `json:"score"`
	Reasoning   string          `json:"reasoning"`
	EvaluatedAt time.Time       `json:"evaluated_at"`
	Status      string          `json:"status"`
	Attempts    int             `json:"attempts"`
	// NextAttemptAt is when a pending or failed item may go next.
	NextAttemptAt time.Time `json:"next_attempt_at"`
	// Error is the last failure (the vendor's message), with its kind.
	Error     string     `json:"error,omitempty"`
	ErrorKind string     `json:"error_kind,omitempty"`
	Note      string     `json:"note,omitempty"` // e.g. why a delivery waits (budget) or was skipped
	RecordID  string     `json:"record_id,omitempty"`
	Object    string     `json:"object,omitempty"`
	Created   bool       `json:"created,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	DoneAt    *time.Time `json:"delivered_at,omitempty"`
}

// Due reports whether the item may be attempted at now.
func (it *Item) Due(now time.Time) bool { return Queued(it.Status) && !now.Before(it.NextAttemptAt) }

// State is what a CRM shows of one record: the last values delivered,
// and the CRM record they were written to (RecordID, Object: the id
// memory, so a later delivery goes by id without a lookup). Changed
// ignores the record.
type State struct {
	Grade      string `json:"grade,omitempty"`
	Score      int    `json:"score"`
	Reasoning  string `json:"reasoning,omitempty"`
	Propensity string `json:"propensity,omitempty"`
	RecordID   string `json:"record_id,omitempty"`
	Object     string `json:"object,omitempty"`
}

// DefaultScoreBand is the score move that counts as unchanged when a
// destination does not set one.
const DefaultScoreBand = 5

// Changed decides whether next must be written given last (nil: never
// delivered). Grade, reasons (ReasonKey) and propensity changes always count; a score
// change counts only when it moves by more than band points. It returns what
// changed, for the delivery record.
func Changed(last *State, next State, band int) (bool, string) {
	if last == nil {
		return true, "first delivery"
	}
	var what []string
	if last.Grade != next.Grade {
		what = append(what, "grade")
	}
	if ReasonKey(last.Reasoning) != ReasonKey(next.Reasoning) {
		what = append(what, "reasoning")
	}
	if next.Propensity != "" && last.Propensity != next.Propensity {
		what = append(what, "propensity")
	}
	if band < 0 {
		band = 0
	}
	if d := next.Score - last.Score; d > band || -d > band {
		what = append(what, "score")
	}
	if len(what) == 0 {
		return false, "nothing the destination shows changed"
	}
	return true, strings.Join(what, ", ") + " changed"
}

// numbers drops the parenthesised numbers of a reasoning text: "(score
// 82)", "(+0.8)".
var numbers = regexp.MustCompile(`\s*\([^()]*\d[^()]*\)`)

// ReasonKey is what of a reasoning text counts for change-only: the reasons
// and their recency ("demo requested today"), not the points or the score,
// which move a little with every evaluation as signals decay (the score
// has its own band).
func ReasonKey(s string) string {
	return strings.Join(strings.Fields(numbers.ReplaceAllString(s, "")), " ")
}

// Vendor batch limits (records per call).
const (
	SalesforceBatch = 200
	HubSpotBatch    = 100
	WebhookBatch    = 1 // one signed event per POST
)

// BatchLimit is the most records one call to a destination of kind carries.
func BatchLimit(kind string) int {
	switch kind {
	case KindSalesforce:
		return SalesforceBatch
	case KindHubSpot:
		return HubSpotBatch
	}
	return WebhookBatch
}

// DefaultWindow is how long a CRM destination lets items gather before a
// partial batch goes. 1.5 s keeps evaluation → delivered under 2 s at p99
// for a healthy vendor (the window plus one round, measured with
// `trailspark bench deliver`); at high rates batches fill to the vendor's
// limit long before it.
const DefaultWindow = 1500 * time.Millisecond

// Ready reports whether n due items should be sent now: a full batch, or
// the oldest has waited the window.
func Ready(n, limit int, oldest, now time.Time, window time.Duration) bool {
	if n <= 0 {
		return false
	}
	return n >= limit || !now.Before(oldest.Add(window))
}

// Batches splits items into consecutive chunks of at most limit.
func Batches[T any](items []T, limit int) [][]T {
	if limit <= 0 {
		limit = 1
	}
	var out [][]T
	for start := 0; start < len(items); start += limit {
		out = append(out, items[start:min(start+limit, len(items))])
	}
	return out
}

// Coalesce keeps, per key, only the newest item (the last one in order):
// an older evaluation of the same record in the same batch is superseded.
// It returns the kept items in order and the superseded ones.
func Coalesce[T any](items []T, key func(T) string) (kept, superseded []T) {
	last := map[string]int{}
	for i, it := range items {
		last[key(it)] = i
	}
	for i, it := range items {
		if last[key(it)] == i {
			kept = append(kept, it)
		} else {
			superseded = append(superseded, it)
		}
	}
	return kept, superseded
}
