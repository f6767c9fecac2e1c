package actors

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/store"
)

// Signal retention (SPEC §5): signals older than the organization's plan
// retention (plan.Plan.RetentionDays; 0 keeps them forever) are purged from
// the signal log, with their statuses, on a schedule. Leads, evaluations
// and everything else derived from the signals stay. Cold storage (the
// anonymous signals waiting for an identify) expires on its own: PutCold is
// given the plan's retention (processor.coldRetention) and the stores drop
// expired cold entries (Badger TTL and compaction, the PostgreSQL janitor).
//
// Which ids to purge: the log is ordered by id, not by time, and ids grow
// with the time signals are accepted. The partition processor therefore
// records, after each committed batch, a retention mark per partition and
// UTC day of receipt: the highest processed id received that day,
//
//	o/{org}/retmark/{p}/{yyyy-mm-dd} → id (decimal)
//
// The retention job takes, per partition, the highest mark of the days
// wholly older than the retention and purges the partition up to it; the
// store never purges past the partition's cursor, so an unprocessed signal
// is never lost whatever a mark says. The marks it consumed are deleted.
//
// Marks are written after the commit, as a separate blind write: a mark
// that is lost (a crash between the commit and the mark) or lower than it
// should be (two activations of a partition for a moment) only delays the
// purge of some signals until a later day's mark covers them; a mark can
// never name an id that was not processed, as it is written only once the
// cursor is past it. Writing them with the lead chunks instead would tie
// them to batches that write no lead (all cold, all skipped) and to the
// flush's retry loop, for no gain in safety.

// DefaultRetentionInterval is how often the retention job runs.
const DefaultRetentionInterval = time.Hour

// retentionStartDelay is how long after StartRetention the first pass runs
// (at most the interval), so that it does not compete with a node's start.
const retentionStartDelay = time.Minute

func keyRetMark(org string, p int, day string) []byte {
	return store.TenantKey(org, "retmark", strconv.Itoa(p), day)
}

func keyRetMarkPrefix(org string) []byte { return append(store.TenantKey(org, "retmark"), '/') }

// retentionDay is the UTC day of t as a mark key names it.
func retentionDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// receivedAt reads a stored signal's receipt time (either framing).
func receivedAt(b []byte) (time.Time, bool) {
	var s storedSignal
	if decodeStoredSignal(b, &s) != nil || s.ReceivedAt.IsZero() {
		return time.Time{}, false
	}
	return s.ReceivedAt, true
}

// recordRetentionMarks writes the retention marks of the entries a step
// consumed (ids up to committed) once their commit is done; received[i],
// when set, is when entries[i] was received (else it is decoded from the
// entry). A failure is logged, not returned: it only delays a purge.
func (p *processor) recordRetentionMarks(ctx context.Context, entries []store.LogEntry, received []time.Time, committed uint64) {
	marks := map[string]uint64{}
	var days []string
	for i, e := range entries {
		if e.ID > committed {
			break
		}
		var at time.Time
		ok := i < len(received) && !received[i].IsZero()
		if ok {
			at = received[i]
		} else if at, ok = receivedAt(e.Data); !ok {
			continue // undecodable: purged with a later mark
		}
		d := retentionDay(at)
		if _, ok := marks[d]; !ok {
			days = append(days, d)
		}
		marks[d] = max(marks[d], e.ID)
	}
	if len(days) == 0 {
		return
	}
	writes := make([]store.Write, 0, len(days))
	for _, d := range days {
		writes = append(writes, store.Write{Key: keyRetMark(p.org, p.partition, d),
			Value: []byte(strconv.FormatUint(marks[d], 10)), Expected: store.AnyVersion})
	}
	if _, err := p.env.Store.SaveBatch(ctx, writes); err != nil {
		p.env.Log.Warn("writing signal retention marks; the purge of these signals waits for a later mark",
			"org", p.org, "partition", p.partition, "error", err)
	}
}

// coldRetention is how long this organization's anonymous signals wait in
// cold storage: the plan's signal retention when it has one, else the
// node's default.
func (p *processor) coldRetention() time.Duration {
	if p.billing != nil && p.billing.Plan.RetentionDays > 0 {
		return time.Duration(p.billing.Plan.RetentionDays) * 24 * time.Hour
	}
	return p.env.coldRetention()
}

// retention is the purge job of one node.
type retention struct {
	env *Env
	log store.SignalLog
	// days returns an organization's retention in days (0: forever);
	// errs.KindNotFound for an organization that is gone.
	days func(ctx context.Context, org string) (int, error)
}

// retentionPass is what one pass did.
type retentionPass struct {
	Orgs   int // organizations with a retention
	Purged int // signals purged
	Failed int // organizations whose purge failed (retried next pass)
}

func (c *Client) retention() *retention {
	return &retention{env: c.env, log: c.env.SignalLog, days: func(ctx context.Context, org string) (int, error) {
		snap, err := c.billingSnapshot(ctx, org)
		if err != nil {
			return 0, err
		}
		return snap.Plan.RetentionDays, nil
	}}
}

// StartRetention runs the retention job on this node every interval
// (0: DefaultRetentionInterval) until Close. Purging is idempotent, so
// several nodes running it only repeat work.
func (c *Client) StartRetention(interval time.Duration) error {
	if c.env.SignalLog == nil {
		return nil
	}
	if interval <= 0 {
		interval = DefaultRetentionInterval
	}
	r := c.retention()
	return c.jobs.launch(func(ctx context.Context) { r.loop(ctx, interval) })
}

func (r *retention) loop(ctx context.Context, interval time.Duration) {
	t := time.NewTimer(min(interval, retentionStartDelay))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := r.pass(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.env.Log.Warn("signal retention pass failed; retrying at the next interval", "error", err)
		case res.Purged > 0 || res.Failed > 0:
			r.env.Log.Info("signal retention pass", "orgs", res.Orgs, "purged", res.Purged, "failed", res.Failed)
		}
		t.Reset(interval)
	}
}

// pass purges every organization once.
func (r *retention) pass(ctx context.Context) (retentionPass, error) {
	var res retentionPass
	var orgs []string
	prefix := keyOrgIndex("")
	err := r.env.Store.Scan(ctx, prefix, nil, func(it store.Item) error {
		orgs = append(orgs, string(it.Key[len(prefix):]))
		return nil
	})
	if err != nil {
		r.env.retentionMetrics().failures.Inc()
		return res, fmt.Errorf("list organizations: %w", err)
	}
	now := r.env.now()
	for _, org := range orgs {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		days, err := r.days(ctx, org)
		if errs.As(err) != nil && errs.As(err).Kind == errs.KindNotFound {
			continue // deleted
		}
		if err != nil {
			res.Failed++
			r.env.retentionMetrics().failures.Inc()
			r.env.Log.Warn("signal retention: reading the plan failed", "org", org, "error", err)
			continue
		}
		if days <= 0 {
			continue // kept forever
		}
		res.Orgs++
		n, err := r.purgeOrg(ctx, org, days, now)
		res.Purged += n
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			res.Failed++
			r.env.retentionMetrics().failures.Inc()
			r.env.Log.Warn("signal retention: purge failed", "org", org, "purged", n, "error", err)
		}
	}
	return res, nil
}

// retentionCutoff is the first day whose signals are kept: every signal
// received before it is older than days whole days at now.
func retentionCutoff(now time.Time, days int) string {
	return retentionDay(now.UTC().AddDate(0, 0, -days))
}

// purgeOrg purges an organization's signals received before its cutoff
// day and returns how many it purged.
func (r *retention) purgeOrg(ctx context.Context, org string, days int, now time.Time) (int, error) {
	cutoff := retentionCutoff(now, days)
	type consumed struct {
		p   int
		key []byte
		ver store.Version
	}
	upto := map[int]uint64{}
	var used []consumed
	prefix := keyRetMarkPrefix(org)
	err := r.env.Store.Scan(ctx, prefix, nil, func(it store.Item) error {
		ps, day, ok := strings.Cut(string(it.Key[len(prefix):]), "/")
		p, perr := strconv.Atoi(ps)
		id, ierr := strconv.ParseUint(string(it.Value), 10, 64)
		if !ok || perr != nil || ierr != nil || p < 0 || p >= store.Partitions {
			return nil // not a mark (ignored, never purged by)
		}
		if day >= cutoff {
			return nil
		}
		upto[p] = max(upto[p], id)
		used = append(used, consumed{p: p, key: append([]byte(nil), it.Key...), ver: it.Version})
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read retention marks: %w", err)
	}
	total := 0
	spent := map[int]bool{}
	for p := 0; p < store.Partitions; p++ {
		id, ok := upto[p]
		if !ok {
			continue
		}
		// Marks are written after their commit, so the cursor is past
		// them; if it is not (a mark from elsewhere), the purge stops at
		// the cursor and the marks are kept for a later pass.
		cur, err := r.log.Cursor(ctx, org, p)
		if err != nil {
			return total, fmt.Errorf("cursor of partition %d: %w", p, err)
		}
		spent[p] = cur >= id
		for {
			n, err := r.log.Purge(ctx, org, p, id)
			total += n
			if n > 0 {
				r.env.retentionMetrics().purged.WithLabelValues(org).Add(float64(n))
			}
			if err != nil {
				return total, fmt.Errorf("purge partition %d: %w", p, err)
			}
			if n == 0 {
				break
			}
		}
	}
	if total > 0 {
		r.env.Log.Info("signal retention: purged signals", "org", org, "signals", total,
			"received_before", cutoff, "retention_days", days)
	}
	// The partitions purged up to their marks are done with them. A mark
	// rewritten meanwhile (a late batch of an old day) conflicts and is
	// kept for the next pass.
	for _, m := range used {
		if !spent[m.p] {
			continue
		}
		if err := r.env.Store.Delete(ctx, m.key, m.ver); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return total, fmt.Errorf("delete retention mark: %w", err)
		}
	}
	return total, nil
}
