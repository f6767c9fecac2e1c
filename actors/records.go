package actors

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"time"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/store"
	"github.com/trailspark/trailspark/store/wire"
)

// storedSignal is a log entry's encoding: the normalised fields plus the
// original payload, byte for byte (reprocessing re-reads it).
type storedSignal struct {
	Source        string          `json:"source"`
	Type          string          `json:"type,omitempty"`
	Event         string          `json:"event,omitempty"`
	Email         string          `json:"email,omitempty"`
	UserID        string          `json:"user_id,omitempty"`
	AnonymousID   string          `json:"anonymous_id,omitempty"`
	CRMID         string          `json:"crm_id,omitempty"`
	MapID         string          `json:"map_id,omitempty"`
	ProductUserID string          `json:"product_user_id,omitempty"`
	MktLeadID     string          `json:"mkt_lead_id,omitempty"`
	GroupID       string          `json:"group_id,omitempty"`
	MessageID     string          `json:"message_id,omitempty"`
	Timestamp     time.Time       `json:"timestamp"`
	ReceivedAt    time.Time       `json:"received_at"`
	KeyID         string          `json:"key_id,omitempty"`
	Payload       json.RawMessage `json:"payload"`
}

// TimelineEntry is one signal on a lead's timeline.
type TimelineEntry struct {
	SignalID   uint64    `json:"signal_id"`
	At         time.Time `json:"at"`
	Source     string    `json:"source"`
	Event      string    `json:"event,omitempty"`
	Type       string    `json:"type,omitempty"`
	RuleID     string    `json:"rule_id,omitempty"`
	RuleName   string    `json:"rule_name,omitempty"`
	SignalType string    `json:"signal_type,omitempty"`
	HighIntent bool      `json:"high_intent,omitempty"`
	Weight     float64   `json:"weight,omitempty"`
	HalfLifeH  float64   `json:"half_life_hours,omitempty"`
}

// LeadIdentifier is one identifier a lead is known by.
type LeadIdentifier struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// AccountLink says which account a lead belongs to and how that was decided.
type AccountLink struct {
	AccountID string   `json:"account_id"`
	How       string   `json:"how"` // explicit | domain | company | inferred_domain
	Ambiguous []string `json:"ambiguous,omitempty"`
}

// Lead is a person's record. Ingest grains write it with compare-and-set,
// batching all of a batch's signals for one lead into one write.
type Lead struct {
	ID          string           `json:"id"`
	Email       string           `json:"email,omitempty"`
	Title       string           `json:"title,omitempty"`
	Identifiers []LeadIdentifier `json:"identifiers"`
	Account     *AccountLink     `json:"account"`
	// Unmatched explains a missing account link (free-mail, ambiguous).
	Unmatched    string          `json:"unmatched_reason,omitempty"`
	SignalCount  int             `json:"signal_count"`
	MappedCount  int             `json:"mapped_count"`
	CountsByType map[string]int  `json:"counts_by_type"`
	FirstSeenAt  time.Time       `json:"first_seen_at"`
	LastSeenAt   time.Time       `json:"last_seen_at"`
	Timeline     []TimelineEntry `json:"timeline"`
	Conflicts    []string        `json:"conflicts,omitempty"`
	// AppliedUpTo is, per partition, the last signal id applied: signals
	// of a partition are processed in id order, so a replay after a crash
	// skips what it already applied, however many signals that was.
	AppliedUpTo map[string]uint64 `json:"applied_up_to,omitempty"`
	// AnonymousLinks counts anonymous ids linked to the lead (they are
	// indexed, not listed), for the identity cap.
	AnonymousLinks int `json:"anonymous_links,omitempty"`
	// CapReached is set once an identifier was refused at the cap of
	// identities per person (SPEC §2.4).
	CapReached bool `json:"identity_cap_reached,omitempty"`
	// MergedInto names the lead this one was merged into by an admin merge
	// (actors/merges.go): the record is kept, its identifiers moved to the
	// survivor, and the processor sends its new signals to the survivor.
	MergedInto string `json:"merged_into,omitempty"`
	// Window holds the mapped signals scoring uses (evaluate.go).
	Window []WindowSignal `json:"window,omitempty"`
	// Evaluation is the latest evaluation; EvaluationNote says why new
	// signals did not (yet) lead to one (gates, evaluation rules).
	Evaluation     *EvaluationSummary `json:"evaluation,omitempty"`
	EvaluationNote string             `json:"evaluation_note,omitempty"`
	// ActivePeriod is the usage period (its start) in which the lead last
	// had a mapped signal: the first one of a period counts it as active.
	ActivePeriod string `json:"active_period,omitempty"`
	// newSignals / newHighIntent: set when this flush applied mapped
	// signals (never stored).
	newSignals    bool
	newHighIntent bool
	touched       bool      // any signal applied by this flush
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// maxTimeline bounds a lead record (it is rewritten on every batch that
// touches the lead); the full history is in the signal log
// (GET /signals?lead_id=).
const maxTimeline = 20

func (l *Lead) hasSignal(id uint64) bool {
	for i := len(l.Timeline) - 1; i >= 0; i-- {
		if l.Timeline[i].SignalID == id {
			return true
		}
	}
	return false
}

func (l *Lead) hasIdentifier(kind, value string) bool {
	for _, id := range l.Identifiers {
		if id.Kind == kind && id.Value == value {
			return true
		}
	}
	return false
}

func (l *Lead) addIdentifier(kind, value string) {
	for _, id := range l.Identifiers {
		if id.Kind == kind && id.Value == value {
			return
		}
	}
	l.Identifiers = append(l.Identifiers, LeadIdentifier{Kind: kind, Value: value})
}

// Account is an organization's customer or prospect company.
type Account struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Domain     string         `json:"domain,omitempty"`
	Industry   string         `json:"industry,omitempty"`
	Employees  *int           `json:"employees,omitempty"`
	Region     string         `json:"region,omitempty"`
	ExternalID string         `json:"external_id,omitempty"`
	Inferred   bool           `json:"inferred"`
	Source     string         `json:"source"` // inferred | api | import | crm
	Attributes map[string]any `json:"attributes,omitempty"`
	// Propensity is computed when an account is read (never stored).
	Propensity *Propensity `json:"propensity,omitempty"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

func keyLead(org, id string) []byte          { return store.TenantKey(org, "lead", id) }
func keyAccount(org, id string) []byte       { return store.TenantKey(org, "acct", id) }
func keyIdentity(org, kind, h string) []byte { return store.TenantKey(org, "idx", kind, h) }
func keyDomain(org, domain, acct string) []byte {
	return store.TenantKey(org, "dom", domain, acct)
}
func keyDomainPrefix(org, domain string) []byte {
	return append(store.TenantKey(org, "dom", domain), '/')
}
func keyGroup(org, h string) []byte      { return store.TenantKey(org, "grp", h) }
func keyConfigVersion(org string) []byte { return store.TenantKey(org, "cfgv") }

// loadLead reads a lead (either encoding, see lead_codec.go); nil when
// absent.
func (e *Env) loadLead(ctx context.Context, org, id string) (*Lead, store.Version, error) {
	b, ver, err := e.Store.Load(ctx, keyLead(org, id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var l Lead
	if err := decodeLead(b, &l); err != nil {
		return nil, 0, fmt.Errorf("decode %s: %w", keyLead(org, id), err)
	}
	return &l, ver, nil
}

func notFoundIf(err error, noun string) error {
	if errors.Is(err, store.ErrNotFound) {
		return errs.NotFound(noun)
	}
	return storeErr(err)
}

// Stored signals come in two framings, told apart by their first byte.
//
// Version 2 (written by encodeStoredSignal): a uvarint bit set of the
// string fields present, each present field as a uvarint length and its
// bytes (in storedSignalFields order), the timestamp and the receipt time
// as varint Unix seconds and uvarint nanoseconds, then the payload bytes as
// received. Binary because every accepted signal is written once and read
// by processing once: the JSON header was ~230 of a typical entry's ~560
// bytes, and bytes are what the store's write path (log, memtable,
// flushes, compactions) pays for.
//
// Version 1: uvarint length of a JSON header (the normalised fields), the
// header, then the payload. Entries written before version 2 look like
// this, and it is still written for the rare signal version 2 would not
// read back identically (a string that is not valid UTF-8, which JSON
// stores with U+FFFD; a time outside UTC).
//
// Keeping the payload outside the header means processing parses it once
// (for the rules), not twice.
const (
	storedSignalV1 = 1
	storedSignalV2 = 2
)

// storedSignalFields lists the string fields of version 2, in order; bit i
// of the field set is field i.
func storedSignalFields(s *storedSignal) [13]*string {
	return [...]*string{&s.Source, &s.Type, &s.Event, &s.Email, &s.UserID, &s.AnonymousID, &s.CRMID, &s.MapID,
		&s.ProductUserID, &s.MktLeadID, &s.GroupID, &s.MessageID, &s.KeyID}
}

func encodeStoredSignal(s *storedSignal) ([]byte, error) {
	fields := storedSignalFields(s)
	size, set := 1+3+2*(binary.MaxVarintLen64+5)+len(s.Payload), uint64(0) // version, set, times, payload
	v2 := utcTime(s.Timestamp) && utcTime(s.ReceivedAt)
	for i, f := range fields {
		if *f == "" {
			continue
		}
		if !utf8.ValidString(*f) {
			v2 = false
		}
		set |= 1 << i
		size += uvarintLen(uint64(len(*f))) + len(*f)
	}
	if !v2 {
		return encodeStoredSignalV1(s)
	}
	out := make([]byte, 0, size)
	out = append(out, storedSignalV2)
	out = binary.AppendUvarint(out, set)
	for _, f := range fields {
		if *f != "" {
			out = binary.AppendUvarint(out, uint64(len(*f)))
			out = append(out, *f...)
		}
	}
	for _, t := range [...]time.Time{s.Timestamp, s.ReceivedAt} {
		out = binary.AppendVarint(out, t.Unix())
		out = binary.AppendUvarint(out, uint64(t.Nanosecond()))
	}
	return append(out, s.Payload...), nil
}

func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// utcTime: version 2 stores UTC times (the normaliser's) within the years
// version 1 can write; anything else is written as version 1.
func utcTime(t time.Time) bool {
	y := t.Year()
	return t.Location() == time.UTC && y >= 0 && y < 10000
}

// encodeStoredSignalV1 writes version 1: the JSON header is json.Marshal
// of the signal without its payload (version 1 is written only for the
// rare signals version 2 would not read back identically, so it needs no
// speed).
func encodeStoredSignalV1(s *storedSignal) ([]byte, error) {
	h := *s
	h.Payload = nil
	hdr, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("stored signal: %w", err)
	}
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(hdr)+len(s.Payload))
	out = append(out, storedSignalV1)
	out = binary.AppendUvarint(out, uint64(len(hdr)))
	out = append(out, hdr...)
	return append(out, s.Payload...), nil
}

// errNewerStoredSignal: the entry's framing is newer than this release
// reads. Processing retries it (a node of the newer release will) rather
// than failing the signal: during a rolling upgrade of a cluster, old and
// new nodes share one log.
var errNewerStoredSignal = errors.New("stored signal: written by a newer release")

func decodeStoredSignal(b []byte, s *storedSignal) error {
	if len(b) > 0 && b[0] == storedSignalV2 {
		return decodeStoredSignalV2(b, s)
	}
	if len(b) > 0 && b[0] > storedSignalV2 && b[0] < 32 { // future framings take small version numbers
		return errNewerStoredSignal
	}
	if len(b) < 2 || b[0] != storedSignalV1 {
		return errors.New("stored signal: unknown encoding")
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || uint64(len(b)-1-k) < n {
		return errors.New("stored signal: bad header length")
	}
	*s = storedSignal{}
	if err := json.Unmarshal(b[1+k:1+k+int(n)], s); err != nil {
		return err
	}
	s.Payload = b[1+k+int(n):]
	return nil
}

var errBadStoredSignal = errors.New("stored signal: bad version 2 header")

func decodeStoredSignalV2(b []byte, s *storedSignal) error {
	*s = storedSignal{}
	body := b[1:]
	r := wire.NewReader(body)
	at := func() int { return len(body) - r.Len() }
	set := r.Uvarint()
	if set >= 1<<13 {
		return errBadStoredSignal
	}
	// The fields' bytes lie together but for their length prefixes: one
	// string holds them all and each field is a part of it (one
	// allocation instead of one per field).
	start := at()
	var spans [13][2]int // each field's bytes in all
	for i := range spans {
		if set&(1<<i) != 0 {
			n := len(r.Bytes())
			spans[i] = [2]int{at() - start - n, at() - start}
		}
	}
	if r.Bad() {
		return errBadStoredSignal
	}
	all := string(body[start:at()])
	for i, f := range storedSignalFields(s) {
		*f = all[spans[i][0]:spans[i][1]]
	}
	for _, t := range [...]*time.Time{&s.Timestamp, &s.ReceivedAt} {
		sec, nsec := r.Varint(), r.Uvarint()
		if nsec >= 1e9 {
			r.Fail()
		}
		*t = time.Unix(sec, int64(nsec)).UTC()
	}
	if r.Bad() {
		return errBadStoredSignal
	}
	s.Payload = body[at():]
	return nil
}
