package actors

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/plan"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// partitionUsage is one ingest partition's counts for one usage period.
// The partition grain is its single writer and writes it in the same
// atomic store write as the leads the counts concern, so a replayed batch
// (a crash before its cursor commit) counts nothing twice: signals at or
// below UpTo were counted already, leads already marked active for the
// period are not counted again, and evaluations are only made (and
// counted) for signals applied for the first time.
type partitionUsage struct {
	Signals        int64  `json:"signals"`
	ActiveLeads    int64  `json:"active_leads"`
	Evaluations    int64  `json:"evaluations"`
	APIEvaluations int64  `json:"api_evaluations,omitempty"` // the "api" key: evaluate-now and re-scoring
	UpTo           uint64 `json:"up_to"`
}

func keyUsagePeriod(org, pk string) []byte { return append(store.TenantKey(org, "usage", pk), '/') }
func keyPartitionUsage(org, pk string, p int) []byte {
	return store.TenantKey(org, "usage", pk, partitionSuffix(p))
}

// sumPartitionUsage adds up a period's counters.
func (e *Env) sumPartitionUsage(ctx context.Context, org string, period plan.Period) (partitionUsage, error) {
	var sum partitionUsage
	err := e.Store.Scan(ctx, keyUsagePeriod(org, tenant.PeriodKey(period)), nil, func(it store.Item) error {
		var pu partitionUsage
		if err := json.Unmarshal(it.Value, &pu); err != nil {
			return err
		}
		sum.Signals += pu.Signals
		sum.ActiveLeads += pu.ActiveLeads
		sum.Evaluations += pu.Evaluations
		sum.APIEvaluations += pu.APIEvaluations
		return nil
	})
	return sum, storeErr(err)
}

// partitionCounter is a processor's view of its counter for the current
// period.
type partitionCounter struct {
	pk     string
	period plan.Period
	cur    partitionUsage
	ver    store.Version
	loaded bool
}

// load reads the counter of the period containing now (carrying UpTo over
// from the previous period, so a replay across the boundary is not
// counted twice).
func (p *processor) loadCounter(ctx context.Context, now time.Time) error {
	if p.billing == nil {
		return nil
	}
	period := plan.PeriodFor(p.billing.Anchor, now)
	pk := tenant.PeriodKey(period)
	if p.counter.loaded && p.counter.pk == pk {
		return nil
	}
	prevUpTo := p.counter.cur.UpTo
	var pu partitionUsage
	ver, err := p.env.loadJSON(ctx, keyPartitionUsage(p.org, pk, p.partition), &pu)
	if errors.Is(err, store.ErrNotFound) {
		pu, ver, err = partitionUsage{UpTo: prevUpTo}, 0, nil
	}
	if err != nil {
		return err
	}
	p.counter = partitionCounter{pk: pk, period: period, cur: pu, ver: ver, loaded: true}
	return nil
}

// usageDelta is what one store write adds to the counter.
type usageDelta struct {
	signals, active, evals int64
	upTo                   uint64
}

func (d usageDelta) empty() bool {
	return d.signals == 0 && d.active == 0 && d.evals == 0 && d.upTo == 0
}

// counterWrite returns the write adding d to the counter and, announced to
// the quota view, the count it lands (applied to p.counter by
// commitCounter after the write succeeds; abandonCounter otherwise).
func (p *processor) counterWrite(d usageDelta) (store.Write, *counterLanding, bool) {
	if !p.counter.loaded || d.empty() {
		return store.Write{}, nil, false
	}
	before := p.counter.cur
	next := before
	next.Signals += d.signals
	next.ActiveLeads += d.active
	next.Evaluations += d.evals
	if d.upTo > next.UpTo {
		next.UpTo = d.upTo
	}
	b, _ := json.Marshal(next)
	// Accepted signals are settled by the counter's UpTo (settleUpTo), on
	// every node; evaluations were reserved here and are settled by the
	// landing.
	l := p.env.quotaFor(p.org).expect(p.counter.period, partitionSuffix(p.partition), next,
		map[plan.Meter]int64{plan.MeterEvaluations: next.Evaluations - before.Evaluations})
	return store.Write{Key: keyPartitionUsage(p.org, p.counter.pk, p.partition), Value: b, Expected: p.counter.ver}, l, true
}

// partitionSuffix names partition p's usage counter in its period.
func partitionSuffix(p int) string { return partitionSuffixes[p] }

var partitionSuffixes = func() (s [store.Partitions]string) {
	for p := range s {
		s[p] = "p" + strconv.Itoa(p)
	}
	return s
}()

// suffixPartition is the partition a counter suffix names, or -1 ("api",
// re-scoring shards).
func suffixPartition(suffix string) int {
	if len(suffix) < 2 || suffix[0] != 'p' {
		return -1
	}
	p, err := strconv.Atoi(suffix[1:])
	if err != nil || p < 0 || p >= store.Partitions {
		return -1
	}
	return p
}

// commitCounter applies a counter write that succeeded.
func (p *processor) commitCounter(l *counterLanding, ver store.Version) {
	before, next := p.counter.cur, l.value
	p.counter.cur, p.counter.ver = next, ver
	q := p.env.quotaFor(p.org)
	q.landed(l, true)
	q.crossings(p.env, p.org, before, next)
	p.env.countUnits(p.org, string(plan.MeterSignals), next.Signals-before.Signals)
	p.env.countUnits(p.org, string(plan.MeterActiveLeads), next.ActiveLeads-before.ActiveLeads)
	p.env.countUnits(p.org, string(plan.MeterEvaluations), next.Evaluations-before.Evaluations)
}

// abandonCounter forgets a counter write that failed.
func (p *processor) abandonCounter(l *counterLanding) {
	p.env.quotaFor(p.org).landed(l, false)
}

// crossings reports thresholds the org's totals cross with these counts.
// (After observe: the org's counted totals already include the counts.)
func (q *orgQuota) crossings(e *Env, org string, before, next partitionUsage) {
	q.mu.Lock()
	if !q.ok {
		q.mu.Unlock()
		return
	}
	p, u := q.plan, plan.Usage{Used: map[plan.Meter]int64{}}
	for m, n := range q.used.Used {
		u.Used[m] = n
	}
	q.mu.Unlock()
	for _, c := range []struct {
		m plan.Meter
		n int64
	}{{plan.MeterSignals, next.Signals - before.Signals}, {plan.MeterActiveLeads, next.ActiveLeads - before.ActiveLeads},
		{plan.MeterEvaluations, next.Evaluations - before.Evaluations}} {
		if c.n > 0 {
			e.usageCrossed(org, c.m, u.Get(c.m)-c.n, u.Get(c.m), p.Limits.Get(c.m))
		}
	}
}

// flushCounter writes usage no lead chunk carried (a batch of cold or
// unidentified signals only), before the cursor commit.
func (b *batch) flushCounter(ctx context.Context) error {
	p := b.p
	for attempt := 0; attempt < 8 && !b.pending.empty(); attempt++ {
		if err := p.loadCounter(ctx, p.env.now()); err != nil {
			return err
		}
		w, landing, ok := p.counterWrite(b.pending)
		if !ok {
			return nil
		}
		ver, err := p.env.Store.Save(ctx, w.Key, w.Value, w.Expected)
		if err == nil {
			p.commitCounter(landing, ver)
			b.pending = usageDelta{}
			return nil
		}
		p.abandonCounter(landing)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		p.counter.loaded = false
	}
	if !b.pending.empty() {
		return errors.New("usage counter: too many concurrent writers")
	}
	return nil
}

// orgQuota is a cached view of an organization's usage against its plan,
// refreshed from the counters every quotaTTL and advanced by what this
// holder counted since. It is approximate across nodes and partitions by
// at most one refresh interval of traffic — the exact counts are the
// counters; the cache only decides when to stop (SPEC §5 enforcement).
type orgQuota struct {
	mu      sync.Mutex
	plan    plan.Plan
	period  plan.Period
	used    plan.Usage // counted: the counters at the last reload plus this node's commits since
	fetched time.Time
	ok      bool
	// pending are units reserved on this node (signals of requests being
	// appended, decided evaluations) and not yet counted by a commit. Two
	// generations, rotated every pendingTTL: a reservation whose write never happened
	// (a failed flush that evaluates again) stops counting after at most
	// two rotations instead of leaking. Reloads keep them.
	pending, pendingOld map[plan.Meter]int64
	// counters are the period's usage counters by key suffix ("p3",
	// "api", …), the larger of what was read and what this node wrote.
	counters map[string]partitionUsage
	rotated  time.Time
	scratch  map[plan.Meter]int64 // reserve's per-call usage
	landing  []*counterLanding    // counter writes announced and not yet landed
	// accepted are signals this node appended that no counter it read or
	// wrote counts yet, by partition: still reserved. A partition's
	// counter counts its signals up to its UpTo, whichever node processes
	// them, so reading the counter settles them on every node.
	accepted  [store.Partitions][]signalGroup
	acceptedN int64
}

// signalGroup is the signals one append accepted into one partition.
type signalGroup struct {
	maxID uint64
	n     int64
	at    time.Time
}

// maxGroups bounds a partition's unsettled groups (a partition whose
// processing is stuck); beyond it a new group joins the newest, which
// then settles when the counter reaches the greater id: a little later,
// never earlier.
const maxGroups = 64

// acceptedTTL is how long accepted signals stay reserved when no counter
// ever counts them (an organization processed without usage counting).
const acceptedTTL = 10 * time.Minute

// pendingTTL is how long a reservation counts before it must have been
// committed (processing normally follows acceptance within milliseconds).
const pendingTTL = 10 * time.Second

const quotaTTL = 2 * time.Second

// A counterLanding is a usage counter write on its way to the store and
// the reservations it turns into counts. Between the write and its
// landed call, a reload can already read the new counter value while
// the reservations are still pending: counted twice, a request at the
// limit would be refused wrongly. So a reload that reads a landing's
// value settles its reservations itself (a counter only grows within a
// period and has one writer, so reading the value means the write
// happened).
type counterLanding struct {
	period  plan.Period
	suffix  string               // the counter key's suffix: "p3", "api", …
	value   partitionUsage       // the counter's value once written
	added   map[plan.Meter]int64 // the reservations it settles
	settled bool
}

// expect announces a counter write before it is made; the writer calls
// landed when it has succeeded or failed.
func (q *orgQuota) expect(period plan.Period, suffix string, value partitionUsage, added map[plan.Meter]int64) *counterLanding {
	l := &counterLanding{period: period, suffix: suffix, value: value, added: added}
	q.mu.Lock()
	q.landing = append(q.landing, l)
	q.mu.Unlock()
	return l
}

// landed ends an announced write. A written counter joins the view (when
// it belongs to the view's period) and its reservations are settled,
// unless a reload settled them already; a failed write's reservations
// stay pending until they expire (the writer may retry and count them).
func (q *orgQuota) landed(l *counterLanding, written bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.landing {
		if x == l {
			q.landing = append(q.landing[:i], q.landing[i+1:]...)
			break
		}
	}
	if !written {
		return
	}
	q.observeLocked(l.period, l.suffix, l.value)
	if !l.settled {
		q.settle(l.added)
		l.settled = true
	}
}

// observeLocked adds a written counter to the view (q.mu held). Counters
// only grow within a period, so the view keeps, per counter key, the
// larger of what it read and what was written: a reload that already saw
// the write and this observation never count the same units twice,
// whichever comes first. The counter joins the view only when it belongs
// to the view's period.
func (q *orgQuota) observeLocked(period plan.Period, suffix string, cur partitionUsage) {
	if q.ok && q.period == period {
		if q.counters == nil {
			q.counters = map[string]partitionUsage{}
		}
		q.counters[suffix] = maxUsage(q.counters[suffix], cur)
		q.recount()
	}
	q.settleUpTo(suffixPartition(suffix), cur.UpTo)
}

// settleUpTo releases partition p's accepted signals with ids at most
// upTo: its counter counts them (q.mu held).
func (q *orgQuota) settleUpTo(p int, upTo uint64) {
	if p < 0 {
		return
	}
	gs := q.accepted[p][:0]
	for _, g := range q.accepted[p] {
		if g.maxID <= upTo {
			q.acceptedN -= g.n
			continue
		}
		gs = append(gs, g)
	}
	q.accepted[p] = gs
}

// appended turns a request's reservation of reserved signals into the
// signals the append accepted (duplicates are not counted again), or
// gives it back when the append failed (appended nil).
func (q *orgQuota) appended(reserved int64, recs []store.LogRecord, appended []store.Appended, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.unreserve(plan.MeterSignals, reserved)
	if !q.ok {
		return // nothing was reserved
	}
	var groups [store.Partitions]signalGroup
	for j, a := range appended {
		if !a.Duplicate {
			g := &groups[recs[j].Partition]
			g.n++
			g.maxID = max(g.maxID, a.ID)
		}
	}
	for p, g := range groups {
		if g.n == 0 || q.counters[partitionSuffix(p)].UpTo >= g.maxID {
			continue // none, or counted already
		}
		g.at = now
		q.acceptedN += g.n
		if gs := q.accepted[p]; len(gs) >= maxGroups {
			last := &gs[len(gs)-1]
			last.maxID, last.n, last.at = max(last.maxID, g.maxID), last.n+g.n, now
			continue
		}
		q.accepted[p] = append(q.accepted[p], g)
	}
}

// dropAccepted forgets accepted signals (a new period; or those older
// than acceptedTTL when before is set) (q.mu held).
func (q *orgQuota) dropAccepted(before time.Time) {
	for p, gs := range q.accepted {
		kept := gs[:0]
		for _, g := range gs {
			if !before.IsZero() && !g.at.Before(before) {
				kept = append(kept, g)
				continue
			}
			q.acceptedN -= g.n
		}
		q.accepted[p] = kept
	}
}

// settle releases the reservations a counted write stands for (q.mu
// held), in any case: a reservation left pending would count twice once
// a reload reads the counter.
func (q *orgQuota) settle(added map[plan.Meter]int64) {
	for m, n := range added {
		q.unreserve(m, n)
	}
}

// unreserve releases n reserved units of m, the older first (q.mu held).
func (q *orgQuota) unreserve(m plan.Meter, n int64) {
	for _, p := range []map[plan.Meter]int64{q.pendingOld, q.pending} {
		if p == nil || n <= 0 {
			continue
		}
		d := min(p[m], n)
		p[m] -= d
		n -= d
	}
}

// covers reports whether a counter read includes the value v.
func covers(read, v partitionUsage) bool {
	return read.Signals >= v.Signals && read.ActiveLeads >= v.ActiveLeads && read.Evaluations >= v.Evaluations &&
		read.APIEvaluations >= v.APIEvaluations && read.UpTo >= v.UpTo
}

func maxUsage(a, b partitionUsage) partitionUsage {
	return partitionUsage{Signals: max(a.Signals, b.Signals), ActiveLeads: max(a.ActiveLeads, b.ActiveLeads),
		Evaluations: max(a.Evaluations, b.Evaluations), APIEvaluations: max(a.APIEvaluations, b.APIEvaluations), UpTo: max(a.UpTo, b.UpTo)}
}

// recount sets used from the counters (q.mu held).
func (q *orgQuota) recount() {
	var s partitionUsage
	for _, c := range q.counters {
		s.Signals += c.Signals
		s.ActiveLeads += c.ActiveLeads
		s.Evaluations += c.Evaluations + c.APIEvaluations
	}
	q.used = plan.Usage{Period: q.period, Used: map[plan.Meter]int64{plan.MeterSignals: s.Signals,
		plan.MeterActiveLeads: s.ActiveLeads, plan.MeterEvaluations: s.Evaluations}}
}

// inUse is counted plus pending units of m.
func (q *orgQuota) inUse() plan.Usage {
	u := plan.Usage{Period: q.used.Period, Used: map[plan.Meter]int64{}}
	for m, n := range q.used.Used {
		u.Used[m] = n
	}
	for _, p := range []map[plan.Meter]int64{q.pendingOld, q.pending} {
		for m, n := range p {
			u.Add(m, n)
		}
	}
	u.Add(plan.MeterSignals, q.acceptedN)
	return u
}

// stale reports whether the view needs re-reading.
func (q *orgQuota) stale(now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.ok || now.Sub(q.fetched) >= quotaTTL || !q.period.Contains(now)
}

// refresh re-reads the view when stale.
func (q *orgQuota) refresh(ctx context.Context, e *Env, org string, snap *billingSnapshot, now time.Time) error {
	if !q.stale(now) || snap == nil {
		return nil
	}
	return q.reload(ctx, e, org, snap, now)
}

// reload reads the plan from snap and the usage from the counters.
func (q *orgQuota) reload(ctx context.Context, e *Env, org string, snap *billingSnapshot, now time.Time) error {
	period := plan.PeriodFor(snap.Anchor, now)
	base := keyUsagePeriod(org, tenant.PeriodKey(period))
	read := map[string]partitionUsage{}
	err := e.Store.Scan(ctx, base, nil, func(it store.Item) error {
		var pu partitionUsage
		if err := json.Unmarshal(it.Value, &pu); err != nil {
			return err
		}
		read[string(it.Key[len(base):])] = pu
		return nil
	})
	if err != nil {
		return storeErr(err)
	}
	q.mu.Lock()
	switch {
	case q.ok && q.period != period:
		q.pending, q.pendingOld, q.rotated, q.counters = nil, nil, now, nil // a new period: nothing carries over
		q.dropAccepted(time.Time{})
	case now.Sub(q.rotated) >= pendingTTL:
		q.pendingOld, q.pending, q.rotated = q.pending, nil, now
	}
	if q.counters == nil {
		q.counters = map[string]partitionUsage{}
	}
	for k, pu := range read {
		q.counters[k] = maxUsage(q.counters[k], pu)
		q.settleUpTo(suffixPartition(k), pu.UpTo)
	}
	q.dropAccepted(now.Add(-acceptedTTL))
	for _, l := range q.landing {
		if pu, ok := read[l.suffix]; ok && !l.settled && l.period == period && covers(pu, l.value) {
			q.settle(l.added) // written, and now read: no longer pending
			l.settled = true
		}
	}
	q.plan, q.period, q.fetched, q.ok = snap.Plan, period, now, true
	q.recount()
	q.mu.Unlock()
	return nil
}

// reserve decides whether n more units of m fit and, when they do, counts
// them in the view at once, so the node's partitions and requests see
// each other's use before the counters are written. The view is re-read
// from the counters every quotaTTL (reservations then become counts).
func (q *orgQuota) reserve(m plan.Meter, n int64, now time.Time) plan.Decision {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.ok {
		return plan.Decision{Allowed: true}
	}
	// The usage of the one meter asked about, in a map reused between
	// calls: this runs for every ingest request.
	if q.scratch == nil {
		q.scratch = map[plan.Meter]int64{}
	}
	q.scratch[m] = q.used.Get(m) + q.pending[m] + q.pendingOld[m]
	if m == plan.MeterSignals {
		q.scratch[m] += q.acceptedN
	}
	d := plan.Decide(q.plan, plan.Usage{Period: q.used.Period, Used: q.scratch}, m, n, now)
	if d.Allowed && n > 0 {
		if q.pending == nil {
			q.pending = map[plan.Meter]int64{}
		}
		q.pending[m] += n
	}
	return d
}

// quotaFor is this node's shared quota view of an organization.
func (e *Env) quotaFor(org string) *orgQuota {
	if q, ok := e.quotas.Load(org); ok {
		return q.(*orgQuota)
	}
	q, _ := e.quotas.LoadOrStore(org, &orgQuota{})
	return q.(*orgQuota)
}

// usageCrossed logs (and counts in metrics) a meter crossing 80% or 100%
// of its limit: the event an outbox will deliver as a webhook.
func (e *Env) usageCrossed(org string, m plan.Meter, before, after, limit int64) {
	for _, pct := range plan.Crossed(before, after, limit) {
		e.Log.Warn("usage threshold crossed", "event", "usage.threshold", "org", org, "meter", string(m), "percent", pct, "used", after, "limit", limit)
		e.metrics().crossings.WithLabelValues(org, string(m), strconv.Itoa(pct)).Inc()
		// The event also goes to the org's webhook destinations.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := enqueueEvent(ctx, e, org, "usage.threshold", map[string]any{"meter": string(m), "percent": pct, "used": after, "limit": limit}, e.now()); err != nil {
			e.Log.Warn("usage threshold event not queued for webhooks", "org", org, "meter", string(m), "error", err)
		}
		cancel()
		if e.OnUsageThreshold != nil {
			e.OnUsageThreshold(org, string(m), pct)
		}
	}
}

// apiCount is what an API-path counter write wrote, for the quota view.
type apiCount struct {
	period plan.Period
	shard  string
	cur    partitionUsage
}

// countAPIEvaluation returns the write counting one evaluation made
// outside ingestion (evaluate-now, re-scoring) in the period's "api"
// counter, at the version read: it joins the evaluation's own atomic
// write, whose compare-and-set retry re-reads it.
func (e *Env) countAPIEvaluation(ctx context.Context, org string, snap *billingSnapshot, shard string) (store.Write, apiCount, error) {
	period := plan.PeriodFor(snap.Anchor, e.now())
	key := store.TenantKey(org, "usage", tenant.PeriodKey(period), shard)
	var pu partitionUsage
	ver, err := e.loadJSON(ctx, key, &pu)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Write{}, apiCount{}, storeErr(err)
	}
	pu.APIEvaluations++
	b, _ := json.Marshal(pu)
	return store.Write{Key: key, Value: b, Expected: ver}, apiCount{period: period, shard: shard, cur: pu}, nil
}

// checkQuota refuses one more unit of a processing-side meter
// (evaluations) at the limit with overages off, from the exact counters.
func (c *Client) checkQuota(ctx context.Context, org string, m plan.Meter) error {
	u, err := c.usage(ctx, org, time.Time{})
	if err != nil {
		return err
	}
	return plan.Decide(u.snap.Plan, u.usage, m, 1, c.env.now()).AsError()
}

// checkSignalQuota reserves n signals in the organization's quota view:
// refused at the limit with overages off with 429 signal_quota_exceeded
// and Retry-After the period's end. A mutex and a comparison per request;
// the refresh (a grain call and a scan of the counters) happens at most
// every quotaTTL per organization and node.
func (in *Ingestor) checkSignalQuota(ctx context.Context, org string, n int) error {
	if in.env.client == nil {
		return nil
	}
	now := in.env.now()
	q := in.env.quotaFor(org)
	if q.stale(now) {
		snap, err := in.env.client.billingSnapshot(ctx, org)
		if err != nil {
			return err
		}
		if err := q.reload(ctx, in.env, org, snap, now); err != nil {
			return err
		}
	}
	d := q.reserve(plan.MeterSignals, int64(n), now)
	if d.Allowed {
		return nil
	}
	e := *d.Err
	if !d.RetryAt.IsZero() {
		e.RetryAfter = d.RetryAt.Sub(now)
	}
	return &e
}

// reserveSignals reserves quota for recs and returns how many it
// reserved. At the limit, records that repeat stored signals (their dedup
// key is claimed) need none: they are answered as duplicates (SPEC §2.2),
// not refused, so a sender retrying a request whose 202 it missed learns
// that it was stored.
func (in *Ingestor) reserveSignals(ctx context.Context, org string, recs []store.LogRecord) (int, error) {
	err := in.checkSignalQuota(ctx, org, len(recs))
	var refusal *errs.Error
	if err == nil || !errors.As(err, &refusal) || refusal.Code != plan.CodeSignalQuotaExceeded {
		return len(recs), err
	}
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = r.DedupKey
	}
	firsts, lerr := in.log.Duplicates(ctx, org, keys)
	if lerr != nil {
		return 0, storeErr(lerr)
	}
	fresh := 0
	for _, id := range firsts {
		if id == 0 {
			fresh++
		}
	}
	switch {
	case fresh == len(recs):
		return 0, err
	case fresh == 0:
		return 0, nil
	}
	return fresh, in.checkSignalQuota(ctx, org, fresh)
}

// signalsAppended settles a request's reservation of reserved signals
// with what its append of recs accepted (appended nil: it failed).
func (in *Ingestor) signalsAppended(org string, reserved int, recs []store.LogRecord, appended []store.Appended) {
	if in.env.client != nil {
		in.env.quotaFor(org).appended(int64(reserved), recs, appended, in.env.now())
	}
}
