package actors

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/outbox"
	"github.com/trailspark/trailspark/sdk/connector"
	"github.com/trailspark/trailspark/store"
)

// The delivery worker: one loop per node (StartDeliveries, launched through
// the Client's job registry so Close stops it). Every poll it walks the
// registry of destinations, and for each one with due items takes the
// destination's lease (compare-and-set on o/{org}/obxl/{dest} with an
// expiry, so in a cluster one node delivers a destination at a time),
// batches, applies change-only against the last delivered state per record,
// sends, and records each item's outcome.
//
// A CRM round reads the queue once (up to outboxScanMax items) and sends
// every vendor-sized batch of what is due, up to outboxSends batches in
// flight at once (coalescing leaves each lead once in a round, so
// concurrent batches never carry the same record, and per-record order
// holds). Each batch's outcomes — history records, queue deletes, requeues
// and change-only states — are written in one atomic SaveBatch (a batch
// that conflicts is retried item by item). A round that found a full scan
// and sent something walks again at once instead of waiting for the poll.

// Worker tuning (package variables so tests can shorten them).
var (
	outboxPoll      = 200 * time.Millisecond // between walks of the registry
	outboxLeaseTTL  = 30 * time.Second       // a lease outlives a stuck node by this much
	outboxScanMax   = 2000                   // items read per destination per walk
	outboxWebhookN  = 25                     // webhook items sent per destination per walk
	outboxHTTPLimit = 10 * time.Second       // webhook request timeout
	outboxPolicy    = outbox.DefaultPolicy
	outboxWindow    = outbox.DefaultWindow
	outboxParallel  = 8 // destinations delivered at once by one node
	outboxSends     = 4 // CRM batches of one destination in flight at once
)

// StartDeliveries starts this node's delivery worker once; it is called
// whenever destinations are used (and may be called at node start so
// queued deliveries resume without waiting for traffic).
func (c *Client) StartDeliveries() {
	if c == nil || c.jobs == nil {
		return
	}
	st := c.env.outbox()
	st.mu.Lock()
	if st.started {
		st.mu.Unlock()
		return
	}
	st.started = true
	st.mu.Unlock()
	node, _ := credential.NewID(c.env.Rand, "node_")
	w := &outboxWorker{env: c.env, st: st, node: node,
		http: &http.Client{Timeout: outboxHTTPLimit, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if err := c.jobs.launch(w.run); err != nil {
		st.mu.Lock()
		st.started = false
		st.mu.Unlock()
	}
}

type outboxWorker struct {
	env  *Env
	st   *outboxState
	node string
	http *http.Client
}

func (w *outboxWorker) run(ctx context.Context) {
	defer func() {
		w.st.mu.Lock()
		w.st.started = false
		w.st.mu.Unlock()
		w.http.CloseIdleConnections()
	}()
	t := time.NewTicker(outboxPoll)
	defer t.Stop()
	for {
		more, err := w.walk(ctx)
		if errors.Is(err, store.ErrClosed) {
			return
		} else if err != nil && ctx.Err() == nil {
			w.env.Log.Warn("delivery walk failed", "error", err)
		}
		if more && err == nil && ctx.Err() == nil {
			continue // a backlog: the next round goes now
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.st.wake:
		}
	}
}

// walk visits every registered destination once. more: some destination
// has more due than its round took.
func (w *outboxWorker) walk(ctx context.Context) (more bool, _ error) {
	type ref struct{ org, id string }
	var refs []ref
	base := keyDestRegistryPrefix()
	err := w.env.Store.Scan(ctx, base, nil, func(it store.Item) error {
		org, id, ok := strings.Cut(string(it.Key[len(base):]), "/")
		if ok {
			refs = append(refs, ref{org, id})
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	// Destinations are delivered concurrently (bounded), so one slow
	// receiver or CRM does not hold up the others; the walk waits for all.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var closed error
	sem := make(chan struct{}, outboxParallel)
	for _, r := range refs {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			m, err := w.deliver(ctx, r.org, r.id)
			if m {
				mu.Lock()
				more = true
				mu.Unlock()
			}
			if err != nil {
				if errors.Is(err, store.ErrClosed) {
					mu.Lock()
					closed = err
					mu.Unlock()
					return
				}
				if ctx.Err() == nil {
					w.env.Log.Warn("delivery failed", "org", r.org, "destination", r.id, "error", err)
				}
			}
		}()
	}
	wg.Wait()
	return more, closed
}

// queued is one item read from the queue.
type queued struct {
	item outbox.Item
	key  []byte
	ver  store.Version
}

// deliver does one round for one destination. more: the scan was full
// and the round sent something, so more may be due right away.
func (w *outboxWorker) deliver(ctx context.Context, org, id string) (more bool, _ error) {
	d, _, err := w.env.loadDestination(ctx, org, id)
	if err != nil {
		if _, _, lerr := w.env.Store.Load(ctx, keyDest(org, id)); errors.Is(lerr, store.ErrNotFound) {
			_ = w.env.deleteIndex(ctx, keyDestRegistry(org, id)) // deleted (or its org was)
			w.st.metricsOf().lag.DeleteLabelValues(org, id)
			w.st.metricsOf().queued.DeleteLabelValues(org, id)
			return false, nil
		}
		return false, err
	}
	now := w.env.now()
	// The queue is read in seq (evaluation time) order. A queued evaluation
	// of a lead is superseded by any newer queued evaluation of the same
	// lead, whether or not either is due: only the newest of a lead is ever
	// sent, so a lead's deliveries never go out of evaluation order, even
	// when retries of older ones fall due later than a newer one.
	var all []queued
	var oldest time.Time
	limit := outbox.BatchLimit(d.Kind)
	want := outboxScanMax // CRM: every due item scanned, in batches of limit
	if d.Kind == outbox.KindWebhook {
		want = outboxWebhookN
	}
	errFull := errors.New("full")
	err = w.env.Store.Scan(ctx, keyOutboxBase(org, id), nil, func(it store.Item) error {
		q := queued{key: it.Key, ver: it.Version}
		if err := json.Unmarshal(it.Value, &q.item); err != nil {
			return nil
		}
		if oldest.IsZero() {
			oldest = q.item.CreatedAt
		}
		all = append(all, q)
		if len(all) >= outboxScanMax {
			return errFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		return false, err
	}
	full := len(all) >= outboxScanMax
	m := w.st.metricsOf()
	m.queued.WithLabelValues(org, id).Set(float64(len(all)))
	m.lag.WithLabelValues(org, id).Set(outboxAge(now, oldest))
	if !d.SendEvaluations || d.Status == DestDisabled {
		return false, nil // paused, or disabled: the queue waits
	}
	latest, superseded := outbox.Coalesce(all, func(q queued) string { return q.item.LeadID })
	var due []queued
	for _, q := range latest {
		if q.item.Due(now) && len(due) < want {
			due = append(due, q)
		}
	}
	var batches [][]queued
	if outbox.IsCRM(d.Kind) {
		// Vendor-sized batches of everything due; a last partial batch
		// waits for the window unless it is the oldest's time.
		batches = outbox.Batches(due, limit)
		if n := len(batches); n > 0 {
			last := batches[n-1]
			if !outbox.Ready(len(last), limit, oldestCreated(last), now, outboxWindow) {
				batches = batches[:n-1]
			}
		}
		if len(batches) == 0 {
			return false, nil
		}
	} else if len(due) == 0 {
		return false, nil
	}
	if ok, err := w.lease(ctx, org, id, now); err != nil || !ok {
		return false, err
	}
	r := &round{w: w, d: d, org: org, now: now, states: map[string]*outbox.State{}, props: map[string]*propInfo{},
		claimed: map[string]bool{}}
	for i := range superseded {
		r.finish(ctx, &superseded[i], outbox.StatusSkipped, "superseded by a newer evaluation of the same lead")
	}
	if d.Kind == outbox.KindWebhook {
		defer r.flush(ctx)
		started := time.Now()
		for i := range due {
			// Stay well inside the lease: the rest waits for the next round.
			if ctx.Err() != nil || r.disabled || time.Since(started) > outboxLeaseTTL/2 {
				return false, nil
			}
			r.webhook(ctx, &due[i])
			r.flush(ctx)
		}
		return false, nil
	}
	sent, err := r.crm(ctx, batches)
	return full && sent > 0, err
}

// oldestCreated is the earliest enqueue time in qs.
func oldestCreated(qs []queued) time.Time {
	var t time.Time
	for i := range qs {
		if c := qs[i].item.CreatedAt; t.IsZero() || c.Before(t) {
			t = c
		}
	}
	return t
}

// lease takes or renews the destination's delivery lease.
func (w *outboxWorker) lease(ctx context.Context, org, id string, now time.Time) (bool, error) {
	type leaseRec struct {
		Holder string    `json:"holder"`
		Until  time.Time `json:"until"`
	}
	var cur leaseRec
	ver, err := w.env.loadJSON(ctx, keyOutboxLease(org, id), &cur)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if err == nil && cur.Holder != w.node && now.Before(cur.Until) {
		return false, nil // another node delivers this destination
	}
	buf, _ := json.Marshal(leaseRec{Holder: w.node, Until: now.Add(outboxLeaseTTL)})
	if _, err := w.env.Store.Save(ctx, keyOutboxLease(org, id), buf, ver); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// round is one destination's delivery round. A CRM round's batches run
// concurrently (outboxSends): mu guards the maps, the pending outcome
// writes, the budget and disabled.
type round struct {
	w      *outboxWorker
	d      *Destination
	org    string
	now    time.Time
	mu     sync.Mutex
	states map[string]*outbox.State // record key → last delivered (nil: none)
	props  map[string]*propInfo     // account id → propensity
	// claimed: accounts whose propensity a batch of this round writes.
	claimed map[string]bool
	// pending: outcome writes not yet stored; each group is atomic on its
	// own (an item's history record with its queue delete).
	pending [][]store.Write
	// disabled: this round disabled the destination (a receiver's 410).
	disabled bool
	// CRM rounds: the connection, once per round, and the day's budget.
	conn crmConnector
	cfg  connector.Config
	bud  outbox.Budget
}

type propInfo struct {
	acct       *Account
	propensity string
}

func (r *round) rnd() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b [8]byte
	src := r.w.env.Rand
	if src == nil {
		src = rand.Reader
	}
	if _, err := io.ReadFull(src, b[:]); err != nil {
		return 0.5
	}
	return float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53)
}

// state loads the last delivered state of a record.
func (r *round) state(ctx context.Context, record string) (*outbox.State, error) {
	r.mu.Lock()
	s, ok := r.states[record]
	r.mu.Unlock()
	if ok {
		return s, nil
	}
	// Read outside the lock: the round's batches run concurrently, and
	// each record belongs to one batch.
	var st outbox.State
	_, err := r.w.env.loadJSON(ctx, keyOutboxState(r.org, r.d.ID, record), &st)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s = nil
	case err != nil:
		return nil, err
	default:
		s = &st
	}
	r.mu.Lock()
	r.states[record] = s
	r.mu.Unlock()
	return s, nil
}

// saveState records the last delivered state of a record (written with
// the round's outcomes; the round's worker is its only writer).
func (r *round) saveState(record string, s outbox.State) {
	buf, _ := json.Marshal(s)
	r.add(store.Write{Key: keyOutboxState(r.org, r.d.ID, record), Value: buf, Expected: store.AnyVersion})
	r.mu.Lock()
	r.states[record] = &s
	r.mu.Unlock()
}

// add queues one atomic group of outcome writes.
func (r *round) add(ws ...store.Write) {
	r.mu.Lock()
	r.pending = append(r.pending, ws)
	r.mu.Unlock()
}

// flush stores the pending outcomes in one SaveBatch. When that fails (a
// conflict: e.g. a redrive changed a queued item meanwhile), each group
// is written on its own, and a group that conflicts is dropped as the
// single writes were before (the item stays queued as the other writer
// left it).
func (r *round) flush(ctx context.Context) {
	r.mu.Lock()
	groups := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(groups) == 0 {
		return
	}
	var all []store.Write
	for _, g := range groups {
		all = append(all, g...)
	}
	_, err := r.w.env.Store.SaveBatch(ctx, all)
	if err == nil || errors.Is(err, store.ErrClosed) || ctx.Err() != nil {
		if err != nil && !errors.Is(err, store.ErrClosed) {
			r.w.env.Log.Warn("record deliveries", "org", r.org, "destination", r.d.ID, "error", err)
		}
		return
	}
	for _, g := range groups {
		if _, err := r.w.env.Store.SaveBatch(ctx, g); err != nil && !errors.Is(err, store.ErrConflict) {
			r.w.env.Log.Warn("record delivery", "org", r.org, "destination", r.d.ID, "error", err)
		}
	}
}

// propensity loads an account and its propensity once per round.
func (r *round) propensity(ctx context.Context, acctID string) *propInfo {
	if acctID == "" {
		return nil
	}
	r.mu.Lock()
	p, ok := r.props[acctID]
	r.mu.Unlock()
	if ok {
		return p
	}
	// Computed outside the lock (it scans the account's lead entries): two batches
	// asking for one account at once may both compute it, which is harmless.
	var a Account
	if _, err := r.w.env.loadJSON(ctx, keyAccount(r.org, acctID), &a); err != nil {
		p = nil
	} else {
		p = &propInfo{acct: &a}
		if pr, err := (&Client{env: r.w.env}).AccountPropensity(ctx, r.org, acctID); err == nil {
			p.propensity = pr.Propensity
		}
	}
	r.mu.Lock()
	r.props[acctID] = p
	r.mu.Unlock()
	return p
}

// finish moves an item to the history with its final status.
func (r *round) finish(ctx context.Context, q *queued, status, note string) {
	it := &q.item
	it.Status, it.UpdatedAt = status, r.now
	done := r.now
	it.DoneAt = &done
	if note != "" {
		it.Note = note
	}
	if status == outbox.StatusDelivered || status == outbox.StatusSkipped {
		it.Error, it.ErrorKind = "", ""
	}
	buf, _ := json.Marshal(it)
	// The history record and the queue delete go together (flush): a crash
	// before they are stored leaves the item queued, to be sent again.
	r.add(store.Write{Key: keyOutboxHist(r.org, r.d.ID, done, it.Seq), Value: buf, Expected: store.AnyVersion},
		store.Write{Key: q.key, Delete: true, Expected: q.ver})
	r.w.st.metricsOf().deliveries.WithLabelValues(r.d.Kind, status).Inc()
}

// fail records a failed attempt: retry later or park.
func (r *round) fail(ctx context.Context, q *queued, err error) {
	it := &q.item
	it.Attempts++
	it.Error = errMessage(err)
	o := outboxPolicy.Decide(err, it.Attempts, r.rnd())
	it.ErrorKind = o.Kind
	if o.Disable {
		// The receiver is gone: disable the destination; the item stays
		// queued and due, and goes first when the destination is re-enabled.
		it.Status, it.NextAttemptAt, it.UpdatedAt = outbox.StatusFailed, r.now, r.now
		it.Note = "the destination was disabled: " + it.Error
		r.requeue(ctx, q)
		r.w.st.metricsOf().deliveries.WithLabelValues(r.d.Kind, outbox.StatusFailed).Inc()
		r.mu.Lock()
		first := !r.disabled
		r.disabled = true
		r.mu.Unlock()
		if first {
			if derr := r.w.env.disableDestination(ctx, r.org, r.d.ID, it.Error+" (410 Gone); re-enable with PATCH status active"); derr != nil {
				r.w.env.Log.Warn("disable destination", "org", r.org, "destination", r.d.ID, "error", derr)
			}
			r.w.env.Log.Warn("destination disabled: the receiver answered 410 Gone", "org", r.org, "destination", r.d.ID)
		}
		return
	}
	if o.Park {
		r.finish(ctx, q, outbox.StatusParked, "")
		return
	}
	it.Status, it.NextAttemptAt, it.UpdatedAt = outbox.StatusFailed, r.now.Add(o.Delay), r.now
	if o.RetryAfter {
		it.Note = fmt.Sprintf("the destination asked to retry after %s", o.Delay)
	} else {
		it.Note = ""
	}
	r.requeue(ctx, q)
	r.w.st.metricsOf().deliveries.WithLabelValues(r.d.Kind, outbox.StatusFailed).Inc()
}

// defer_ keeps an item queued until at, with a note (budget).
func (r *round) defer_(ctx context.Context, q *queued, at time.Time, note string) {
	q.item.NextAttemptAt, q.item.Note, q.item.UpdatedAt = at, note, r.now
	r.requeue(ctx, q)
}

// requeue keeps an item queued with its new status (written with the
// round's outcomes).
func (r *round) requeue(_ context.Context, q *queued) {
	buf, _ := json.Marshal(q.item)
	r.add(store.Write{Key: q.key, Value: buf, Expected: q.ver})
}

func errMessage(err error) string {
	var ce *connector.Error
	if errors.As(err, &ce) && ce.Message != "" {
		return ce.Message
	}
	return err.Error()
}

func itemState(it *outbox.Item) outbox.State {
	return outbox.State{Grade: it.Grade, Score: it.Score, Reasoning: it.Reasoning}
}

// webhook delivers one item to a webhook destination.
func (r *round) webhook(ctx context.Context, q *queued) {
	it := &q.item
	if it.Event != "" {
		r.webhookEvent(ctx, q)
		return
	}
	var pi *propInfo
	if it.AccountID != "" {
		pi = r.propensity(ctx, it.AccountID)
	}
	next := itemState(it)
	if pi != nil {
		next.Propensity = pi.propensity
	}
	last, err := r.state(ctx, it.LeadID)
	if err != nil {
		r.fail(ctx, q, connector.Retryable("read delivery state: %v", err))
		return
	}
	if changed, why := outbox.Changed(last, next, r.d.ScoreBand); !changed {
		r.finish(ctx, q, outbox.StatusSkipped, why)
		return
	}
	secret, err := r.w.env.openString(secretAD, r.d.SecretSealed)
	if err != nil || secret == "" {
		r.fail(ctx, q, connector.Permanent("the destination's signing secret cannot be read; rotate it"))
		return
	}
	var evRaw json.RawMessage
	if b, _, err := r.w.env.Store.Load(ctx, keyEval(r.org, it.EvaluationID)); err == nil {
		evRaw = b
	} else if !errors.Is(err, store.ErrNotFound) {
		r.fail(ctx, q, connector.Retryable("read evaluation: %v", err))
		return
	}
	ev := outbox.WebhookEvent{ID: it.Seq, CreatedAt: it.CreatedAt, Organization: r.org, Destination: r.d.ID,
		Lead: outbox.WebhookLead{ID: it.LeadID, Email: it.Email, CRMIDs: it.CRMIDs}, Evaluation: evRaw}
	if pi != nil {
		a := pi.acct
		ev.Account = &outbox.WebhookAccount{ID: a.ID, Name: a.Name, Domain: a.Domain, Industry: a.Industry, Region: a.Region,
			Employees: a.Employees, Propensity: pi.propensity}
	}
	body, err := ev.Body()
	if err != nil {
		r.fail(ctx, q, connector.Permanent("encode body: %v", err))
		return
	}
	if r.post(ctx, q, secret, body) {
		r.saveState(it.LeadID, next)
		r.finish(ctx, q, outbox.StatusDelivered, "")
	}
}

// webhookEvent delivers an event item (no change-only check: every
// event is news).
func (r *round) webhookEvent(ctx context.Context, q *queued) {
	it := &q.item
	secret, err := r.w.env.openString(secretAD, r.d.SecretSealed)
	if err != nil || secret == "" {
		r.fail(ctx, q, connector.Permanent("the destination's signing secret cannot be read; rotate it"))
		return
	}
	body, err := outbox.WebhookEvent{ID: it.Seq, Type: it.Event, CreatedAt: it.CreatedAt, Organization: r.org, Destination: r.d.ID, Data: it.Data}.Body()
	if err != nil {
		r.fail(ctx, q, connector.Permanent("encode body: %v", err))
		return
	}
	if r.post(ctx, q, secret, body) {
		r.finish(ctx, q, outbox.StatusDelivered, "")
	}
}

// post sends a signed webhook body; it reports success, having recorded
// a failure otherwise.
func (r *round) post(ctx context.Context, q *queued, secret string, body []byte) bool {
	it := &q.item
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.d.URL, bytes.NewReader(body))
	if err != nil {
		r.fail(ctx, q, connector.Permanent("bad url: %v", err))
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "TrailSpark-Webhooks/1")
	req.Header.Set(outbox.SignatureHeader, outbox.Sign(secret, r.now, body))
	req.Header.Set("TrailSpark-Delivery", it.Seq)
	resp, err := r.w.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false // stopping: the item stays queued as it was
		}
		r.fail(ctx, q, connector.Retryable("%v", err))
		return false
	}
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_ = resp.Body.Close()
	if herr := outbox.HTTPError(resp.StatusCode, resp.Header.Get("Retry-After"), string(rb), r.now); herr != nil {
		r.fail(ctx, q, herr)
		return false
	}
	return true
}
