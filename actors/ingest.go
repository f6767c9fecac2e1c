package actors

import (
	"context"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/trailspark/trailspark/actors/actorpb"
	"github.com/trailspark/trailspark/cluster"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/signal"
	"github.com/trailspark/trailspark/store"
)

// KindIngest is the grain kind that drains one partition of one tenant's
// signal log, in order: identity "{org}/{partition}".
const KindIngest = "ingest"

// MessageDedupKey is the signal log's dedup key of a signal with a
// messageId.
func MessageDedupKey(messageID string) string { return "m:" + messageID }

// DedupWindow is how long a messageId or Idempotency-Key is remembered.
const DedupWindow = 24 * time.Hour

// Ingestor accepts signals: it normalises them, appends them durably to the
// tenant's log (the 202 waits for that), and wakes the partition grains.
type Ingestor struct {
	env  *Env
	log  store.SignalLog
	node *cluster.Node
}

// NewIngestor makes an Ingestor.
func NewIngestor(env *Env, log store.SignalLog, node *cluster.Node) *Ingestor {
	return &Ingestor{env: env, log: log, node: node}
}

// AcceptOptions describe where a request's signals came from.
type AcceptOptions struct {
	Org            string
	KeyID          string
	ForcedSource   string // from the path or X-Source
	IdempotencyKey string
	ReceivedAt     time.Time
	// SentAt is a batch-level sentAt (Segment puts it on the batch), used
	// for clock-skew correction of items that carry none.
	SentAt time.Time
	// Validated: the items are known to be well-formed JSON (see
	// signal.Options.Validated).
	Validated bool
}

// ItemResult is the outcome for one submitted signal.
type ItemResult struct {
	Index       int         `json:"index"`
	ID          uint64      `json:"id,omitempty"`
	Source      string      `json:"source,omitempty"`
	ColdStorage bool        `json:"cold_storage"`
	Duplicate   bool        `json:"duplicate,omitempty"`
	Err         *errs.Error `json:"-"`
}

// partitionOf keeps one person's signals in one partition.
func partitionOf(personKey string) int {
	if personKey == "" {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(personKey))
	return int(h.Sum32() % store.Partitions)
}

// Accept stores items (each one signal's JSON) and returns a result per
// item: a bad item is refused on its own, never sinking the others. The
// error is for failures of the whole request (storage unavailable).
func (in *Ingestor) Accept(ctx context.Context, opt AcceptOptions, items [][]byte) ([]ItemResult, error) {
	results := make([]ItemResult, len(items))
	recs := make([]store.LogRecord, 0, len(items))
	recIdx := make([]int, 0, len(items))
	for i, raw := range items {
		results[i].Index = i
		sig, err := signal.Normalize(raw, signal.Options{ForcedSource: opt.ForcedSource, ReceivedAt: opt.ReceivedAt, SentAt: opt.SentAt,
			Validated: opt.Validated})
		if err != nil {
			results[i].Err = errs.As(err)
			continue
		}
		cold, err := in.isCold(ctx, opt.Org, sig)
		if err != nil {
			return nil, err
		}
		rec := storedSignal{Source: sig.Source, Type: sig.Type, Event: sig.Event, Email: sig.Email, UserID: sig.UserID,
			AnonymousID: sig.AnonymousID, CRMID: sig.CRMID, MapID: sig.MapID, ProductUserID: sig.ProductUserID,
			MktLeadID: sig.MktLeadID, GroupID: sig.GroupID, MessageID: sig.MessageID, Timestamp: sig.Timestamp,
			ReceivedAt: sig.ReceivedAt, KeyID: opt.KeyID, Payload: sig.Payload}
		data, err := encodeStoredSignal(&rec)
		if err != nil {
			results[i].Err = errs.Internal(err)
			continue
		}
		dedup := ""
		switch {
		case sig.MessageID != "":
			dedup = MessageDedupKey(sig.MessageID)
		case opt.IdempotencyKey != "" && len(items) == 1:
			dedup = "i:" + opt.IdempotencyKey
		case opt.IdempotencyKey != "":
			dedup = "i:" + opt.IdempotencyKey + ":" + strconv.Itoa(i)
		}
		results[i].Source = sig.Source
		results[i].ColdStorage = cold
		recs = append(recs, store.LogRecord{Partition: partitionOf(sig.PersonKey()), DedupKey: dedup, Data: data})
		recIdx = append(recIdx, i)
	}
	if len(recs) == 0 {
		return results, nil
	}
	reserved, err := in.reserveSignals(ctx, opt.Org, recs)
	if err != nil {
		return nil, err
	}
	appended, err := in.log.Append(ctx, opt.Org, recs, DedupWindow)
	if err != nil {
		in.signalsAppended(opt.Org, reserved, recs, nil)
		return nil, storeErr(err)
	}
	in.signalsAppended(opt.Org, reserved, recs, appended)
	woken := map[int]bool{}
	for j, a := range appended {
		i := recIdx[j]
		results[i].ID, results[i].Duplicate = a.ID, a.Duplicate
		if !a.Duplicate && !woken[recs[j].Partition] {
			woken[recs[j].Partition] = true
			in.node.Send(KindIngest, ingestIdentity(opt.Org, recs[j].Partition), &actorpb.Wake{})
		}
	}
	return results, nil
}

// isCold reports whether a signal will go to cold storage: no persistent
// identifier and no anonymous id already linked to a lead.
func (in *Ingestor) isCold(ctx context.Context, org string, sig *signal.Signal) (bool, error) {
	if sig.HasPersistentID() {
		return false, nil
	}
	if sig.AnonymousID == "" {
		return true, nil
	}
	lead, err := in.env.lookupIdentity(ctx, org, "anonymous_id", sig.AnonymousID)
	if err != nil {
		return false, storeErr(err)
	}
	return lead == "", nil
}

func ingestIdentity(org string, p int) string { return org + "/" + strconv.Itoa(p) }

// WakeAll nudges every partition of every organization, so signals
// accepted before a restart are processed without waiting for new traffic.
func (in *Ingestor) WakeAll(ctx context.Context) error {
	prefix := keyOrgIndex("")
	return in.env.Store.Scan(ctx, prefix, nil, func(it store.Item) error {
		org := string(it.Key[len(prefix):])
		for p := 0; p < store.Partitions; p++ {
			in.node.Send(KindIngest, ingestIdentity(org, p), &actorpb.Wake{})
		}
		return nil
	})
}

// lookupIdentity returns the lead holding an identifier, "" if none.
func (e *Env) lookupIdentity(ctx context.Context, org, kind, value string) (string, error) {
	b, _, err := e.Store.Load(ctx, keyIdentity(org, kind, e.Sealer.Index("id:"+kind, value)))
	if err != nil {
		if err == store.ErrNotFound {
			return "", nil
		}
		return "", err
	}
	return string(b), nil
}
