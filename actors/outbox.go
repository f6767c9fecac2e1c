package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/identity"
	"github.com/trailspark/trailspark/engine/outbox"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// The outbox (decision 0011): every evaluation is enqueued, for every
// active destination, in the same atomic SaveBatch that stores the
// evaluation and its lead, as o/{org}/obx/{dest}/{seq}. The seq is the
// evaluation time (hex nanoseconds) and the evaluation id, so it is unique
// and time-ordered. The delivery worker (outbox_worker.go) moves each item
// to the history o/{org}/obxh/{dest}/{inverted time}-{seq} when it is
// delivered, skipped as unchanged or parked.

// outboxWrites returns one write per active destination of org for ev
// (nil when there is none). It reads the destinations through a short-TTL
// per-org cache: no store read per evaluation in steady state.
func outboxWrites(ctx context.Context, env *Env, org string, ev *Evaluation, l *Lead) ([]store.Write, error) {
	st := env.outbox()
	dests, err := st.destinations(ctx, org)
	if err != nil {
		return nil, err
	}
	var w []store.Write
	for i := range dests {
		d := &dests[i]
		if !d.SendEvaluations {
			continue
		}
		it := outbox.Item{Seq: outboxSeq(ev), Destination: d.ID, EvaluationID: ev.ID, LeadID: l.ID, AccountID: ev.AccountID,
			Email: l.Email, CRMIDs: crmIDs(l), Grade: string(ev.Grade), Score: ev.Score, Reasoning: ev.Reasoning,
			EvaluatedAt: ev.EvaluatedAt, Status: outbox.StatusPending, NextAttemptAt: ev.EvaluatedAt,
			CreatedAt: env.now(), UpdatedAt: env.now()}
		buf, err := json.Marshal(it)
		if err != nil {
			return nil, err
		}
		w = append(w, store.Write{Key: keyOutbox(org, d.ID, it.Seq), Value: buf, Expected: 0})
	}
	if len(w) > 0 && env.client != nil {
		env.client.StartDeliveries()
		st.nudge()
	}
	return w, nil
}

// appendOutbox adds ev's outbox writes to an evaluation's writes (the
// call sites in evaluate.go and evaluations.go).
func appendOutbox(ctx context.Context, env *Env, org string, ev *Evaluation, l *Lead, w []store.Write) ([]store.Write, error) {
	ow, err := outboxWrites(ctx, env, org, ev, l)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return append(w, ow...), nil
}

// enqueueEvent writes an event delivery to every active webhook
// destination of org (CRM destinations take evaluations only). Best
// effort: an event lost to a crash before this write is not re-sent.
func enqueueEvent(ctx context.Context, env *Env, org, event string, data any, at time.Time) error {
	st := env.outbox()
	dests, err := st.destinations(ctx, org)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	var w []store.Write
	for i := range dests {
		d := &dests[i]
		if d.Kind != outbox.KindWebhook || !d.SendEvaluations {
			continue
		}
		id, err := credential.NewID(env.Rand, "evt_")
		if err != nil {
			return err
		}
		seq := fmt.Sprintf("%016x-%s", uint64(at.UnixNano()), strings.TrimPrefix(id, "evt_"))
		// LeadID keys change-only and coalescing: an event stands alone.
		it := outbox.Item{Seq: seq, Destination: d.ID, LeadID: "event:" + id, Event: event, Data: raw,
			Status: outbox.StatusPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}
		buf, err := json.Marshal(it)
		if err != nil {
			return err
		}
		w = append(w, store.Write{Key: keyOutbox(org, d.ID, seq), Value: buf, Expected: 0})
	}
	if len(w) == 0 {
		return nil
	}
	if _, err := env.Store.SaveBatch(ctx, w); err != nil {
		return err
	}
	if env.client != nil {
		env.client.StartDeliveries()
		st.nudge()
	}
	return nil
}

func outboxSeq(ev *Evaluation) string {
	return fmt.Sprintf("%016x-%s", uint64(ev.EvaluatedAt.UnixNano()), strings.TrimPrefix(ev.ID, "ev_"))
}

func crmIDs(l *Lead) []string {
	var out []string
	for _, id := range l.Identifiers {
		if id.Kind == string(identity.KindCRMID) {
			out = append(out, id.Value)
		}
	}
	return out
}

func (st *outboxState) nudge() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// Delivery is one item as the API shows it.
type Delivery = outbox.Item

// Deliveries lists a destination's deliveries (Viewer and up): queued
// ones (pending, failed) oldest first, then the history (delivered,
// skipped_unchanged, parked) newest first; status filters. The cursor is
// opaque.
func (c *Client) Deliveries(ctx context.Context, caller tenant.Caller, org, dest, status, after string, limit int) ([]Delivery, string, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, "", err
	}
	if status != "" && !outbox.ValidStatus(status) {
		return nil, "", errs.Invalid("status", "invalid_value", "status is pending, delivered, skipped_unchanged, failed or parked")
	}
	if _, _, err := c.env.loadDestination(ctx, org, dest); err != nil {
		return nil, "", err
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	// Cursor: "q:<seq>" within the queue, "h:<key suffix>" within the history.
	part, pos, _ := strings.Cut(after, ":")
	if after != "" && (part != "q" && part != "h" || strings.Contains(pos, "/")) {
		return nil, "", errs.Invalid("cursor", "invalid_format", "cursor is not one this API returned")
	}
	var out []Delivery
	var cursors []string // per returned item: its cursor
	more := false
	errFull := errors.New("full")
	scan := func(tag string, base []byte, from string) error {
		var afterKey []byte
		if from != "" {
			afterKey = append(append([]byte(nil), base...), from...)
		}
		err := c.env.Store.Scan(ctx, base, afterKey, func(it store.Item) error {
			var d Delivery
			if err := json.Unmarshal(it.Value, &d); err != nil {
				return err
			}
			if status != "" && d.Status != status {
				return nil
			}
			if len(out) == limit {
				more = true
				return errFull
			}
			out = append(out, d)
			cursors = append(cursors, tag+":"+string(it.Key[len(base):]))
			return nil
		})
		if errors.Is(err, errFull) {
			return nil
		}
		return err
	}
	var err error
	if (status == "" || outbox.Queued(status)) && (after == "" || part == "q") {
		from := ""
		if part == "q" {
			from = pos
		}
		err = scan("q", keyOutboxBase(org, dest), from)
	}
	if err == nil && !more && (status == "" || !outbox.Queued(status)) {
		from := ""
		if part == "h" {
			from = pos
		}
		err = scan("h", keyOutboxHistBase(org, dest), from)
	}
	if err != nil {
		return nil, "", storeErr(err)
	}
	next := ""
	if more && len(cursors) > 0 {
		next = cursors[len(cursors)-1]
	}
	if out == nil {
		out = []Delivery{}
	}
	return out, next, nil
}

// RedriveResult counts what a redrive requeued.
type RedriveResult struct {
	Requeued int `json:"requeued"`
}

// Redrive requeues a destination's parked deliveries and makes its failed
// ones due now (Owner, Admin).
func (c *Client) Redrive(ctx context.Context, caller tenant.Caller, org, dest string) (*RedriveResult, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return nil, err
	}
	if _, _, err := c.env.loadDestination(ctx, org, dest); err != nil {
		return nil, err
	}
	n, err := c.env.redrive(ctx, org, dest)
	if err != nil {
		return nil, storeErr(err)
	}
	c.StartDeliveries()
	c.env.outbox().nudge()
	return &RedriveResult{Requeued: n}, nil
}

func (e *Env) redrive(ctx context.Context, org, dest string) (int, error) {
	now := e.now()
	n := 0
	var parked []store.Item
	err := e.Store.Scan(ctx, keyOutboxHistBase(org, dest), nil, func(it store.Item) error {
		var d outbox.Item
		if json.Unmarshal(it.Value, &d) == nil && d.Status == outbox.StatusParked {
			parked = append(parked, it)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, it := range parked {
		var d outbox.Item
		_ = json.Unmarshal(it.Value, &d)
		d.Status, d.Attempts, d.NextAttemptAt, d.DoneAt, d.UpdatedAt = outbox.StatusPending, 0, now, nil, now
		d.Note = "redriven; last error: " + d.Error
		buf, _ := json.Marshal(d)
		if _, err := e.Store.Save(ctx, keyOutbox(org, dest, d.Seq), buf, 0); err != nil && !errors.Is(err, store.ErrConflict) {
			return n, err
		}
		if err := e.Store.Delete(ctx, it.Key, it.Version); err != nil && !errors.Is(err, store.ErrConflict) {
			return n, err
		}
		n++
	}
	var failed []store.Item
	err = e.Store.Scan(ctx, keyOutboxBase(org, dest), nil, func(it store.Item) error {
		var d outbox.Item
		if json.Unmarshal(it.Value, &d) == nil && d.Status == outbox.StatusFailed && d.NextAttemptAt.After(now) {
			failed = append(failed, it)
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	for _, it := range failed {
		var d outbox.Item
		_ = json.Unmarshal(it.Value, &d)
		d.NextAttemptAt, d.UpdatedAt = now, now
		buf, _ := json.Marshal(d)
		if _, err := e.Store.Save(ctx, it.Key, buf, it.Version); err == nil {
			n++
		} else if !errors.Is(err, store.ErrConflict) {
			return n, err
		}
	}
	return n, nil
}

// outboxMetrics are the delivery series: deliveries by status, and the
// age of the oldest queued delivery per destination.
type outboxMetrics struct {
	deliveries *prometheus.CounterVec
	lag        *prometheus.GaugeVec
	queued     *prometheus.GaugeVec
}

func (st *outboxState) metricsOf() *outboxMetrics {
	st.metricsOnce.Do(func() {
		st.metrics = &outboxMetrics{
			deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "trailspark_deliveries_total", Help: "Deliveries to destinations by this node, by kind and outcome (delivered, skipped_unchanged, failed, parked).",
			}, []string{"kind", "status"}),
			lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "trailspark_delivery_lag_seconds", Help: "Age of the oldest queued delivery, per destination (0 when the queue is empty).",
			}, []string{"org", "destination"}),
			queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "trailspark_deliveries_queued", Help: "Queued (pending or failed) deliveries, per destination, as last seen by this node.",
			}, []string{"org", "destination"}),
		}
	})
	return st.metrics
}

// OutboxCollectors are the delivery series, for the API's registry.
func (c *Client) OutboxCollectors() []prometheus.Collector {
	m := c.env.outbox().metricsOf()
	return []prometheus.Collector{m.deliveries, m.lag, m.queued}
}

// outboxAge is for lag reporting.
func outboxAge(now, created time.Time) float64 {
	if created.IsZero() || now.Before(created) {
		return 0
	}
	return now.Sub(created).Seconds()
}
