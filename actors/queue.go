package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/trailspark/trailspark/actors/actorpb"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/engine/signal"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// Signal mapping management (SPEC §2.5): the signal queue (unmapped signals
// grouped so a rule can be drafted from them), the preview of a draft rule
// against recent signals, and the explorer's "process now". All three are
// computed on demand from the signal log; nothing is kept between requests.
//
// Reading "the most recent N" signals: the log offers only forward scans
// (statuses in id order), and an organization may hold millions of
// signals. Rather than walk every status, recentStatuses finds the newest
// status id (a binary search of at most 64 one-item seeks) and then scans
// windows backwards from it, doubling the window until it holds N matching
// statuses or reaches the first id. Signal ids come from one sequence
// shared by every organization, so a window's width is in ids, not in this
// organization's signals; doubling keeps the work within about twice what
// the answer needs, however sparse the organization's ids are.

// Limits of the management reads.
const (
	DefaultQueueScan   = 5000  // skipped signals a queue request examines
	MaxQueueScan       = 50000 // (the ?scan= bound)
	DefaultQueueLimit  = 200   // groups a queue request returns
	MaxQueueLimit      = mapping.DefaultGroupCapacity
	DefaultPreviewLast = 1000  // signals a preview examines
	MaxPreviewLast     = 20000 // (the "last" bound)

	DefaultProcessWait = 10 * time.Second
	MaxProcessWait     = 60 * time.Second
	// processWaitCeiling stops waiting early enough that the answer beats
	// the HTTP server's 60 s write timeout.
	processWaitCeiling = 55 * time.Second
	// maxProcessWatch bounds the statuses "process now" compares.
	maxProcessWatch = maxStatsScan
	// processPoll is how often "process now" checks the backlog.
	processPoll = 25 * time.Millisecond
	// previewChunk is how many decoded payloads a preview holds at once.
	previewChunk = 256
	// queueMaxVisit bounds the statuses one queue request walks looking for
	// skipped signals (about: whole windows are walked).
	queueMaxVisit = 1_000_000
)

// RuleDraft is a mapping rule as a client sends it to POST /signal-rules:
// no id and no timestamps.
type RuleDraft struct {
	Name          string                      `json:"name"`
	SignalType    mapping.SignalType          `json:"signal_type"`
	Description   string                      `json:"description"`
	HighIntent    bool                        `json:"high_intent"`
	Negative      bool                        `json:"negative"`
	Source        string                      `json:"source,omitempty"`
	Conditions    mapping.Condition           `json:"conditions"`
	Priority      int                         `json:"priority"`
	Mappings      []mapping.IdentifierMapping `json:"mappings"`
	Weight        *float64                    `json:"weight,omitempty"`
	HalfLifeHours *float64                    `json:"half_life_hours,omitempty"`
}

func draftOf(r mapping.Rule) RuleDraft {
	return RuleDraft{Name: r.Name, SignalType: r.SignalType, Description: r.Description, HighIntent: r.HighIntent,
		Negative: r.Negative, Source: r.Source, Conditions: r.Conditions, Priority: r.Priority, Mappings: r.Mappings,
		Weight: r.Weight, HalfLifeHours: r.HalfLifeHours}
}

// QueueGroup is one group of unmapped signals.
type QueueGroup struct {
	Source      string    `json:"source"`
	Type        string    `json:"type"`
	Event       string    `json:"event"`
	Count       int       `json:"count"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	SamplePaths []string  `json:"sample_paths"`
	// SamplePayload is the latest signal's payload; null when it is larger
	// than 16 KB.
	SamplePayload json.RawMessage `json:"sample_payload"`
	DraftRule     RuleDraft       `json:"draft_rule"`
}

// SignalQueue is the unmapped-signal queue of an organization.
type SignalQueue struct {
	Items []QueueGroup `json:"items"`
	// Groups is how many groups the scan found (Items holds the largest).
	Groups int `json:"groups"`
	// Scanned is how many skipped signals were examined.
	Scanned int `json:"scanned"`
	// NowMapped counts the skipped signals of the scan that a current rule
	// matches: the rule was created or changed after they were processed.
	// They are left out of the groups; reprocessing would map them.
	NowMapped int `json:"now_mapped"`
	// Truncated is set when the search for skipped signals stopped after
	// walking about the newest 1,000,000 signals.
	Truncated bool `json:"truncated"`
}

// QueueOptions tune SignalQueue; zero values take the defaults.
type QueueOptions struct {
	Scan  int // the last Scan skipped signals are examined (1–50,000)
	Limit int // at most Limit groups are returned (1–1,000)
}

func mgmtRange(field string, v *int, def, hi int) error {
	switch {
	case *v == 0:
		*v = def
	case *v < 1 || *v > hi:
		return errs.Invalid(field, "out_of_range", "%s must be an integer from 1 to %d", field, hi)
	}
	return nil
}

// SignalQueue groups the organization's unmapped signals — the last
// opt.Scan signals with status skipped — by (source, type, event), with a
// draft rule for each group. It is computed on demand.
func (c *Client) SignalQueue(ctx context.Context, caller tenant.Caller, org string, opt QueueOptions) (*SignalQueue, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	if err := mgmtRange("scan", &opt.Scan, DefaultQueueScan, MaxQueueScan); err != nil {
		return nil, err
	}
	if err := mgmtRange("limit", &opt.Limit, DefaultQueueLimit, MaxQueueLimit); err != nil {
		return nil, err
	}
	rules, err := c.Rules(ctx, caller, org)
	if err != nil {
		return nil, err
	}
	rs, err := mapping.Compile(rules)
	if err != nil {
		return nil, errs.Internal(fmt.Errorf("compile stored rules: %w", err))
	}
	return c.env.signalQueue(ctx, org, rs, opt)
}

func (e *Env) signalQueue(ctx context.Context, org string, rs *mapping.RuleSet, opt QueueOptions) (*SignalQueue, error) {
	sts, truncated, err := e.recentStatuses(ctx, org, opt.Scan, queueMaxVisit, func(st *store.SignalStatus) bool { return st.Status == StatusSkipped })
	if err != nil {
		return nil, storeErr(err)
	}
	out := &SignalQueue{Items: []QueueGroup{}, Scanned: len(sts), Truncated: truncated}
	gs := mapping.NewGroups(0)
	ids := make([]uint64, len(sts))
	for i := range sts {
		ids[i] = sts[i].ID
	}
	err = e.eachSignal(ctx, org, ids, func(_ uint64, s *storedSignal, payload map[string]any) {
		if rs.Match(payload, s.Source) != nil {
			out.NowMapped++
			return
		}
		at := s.Timestamp
		if at.IsZero() {
			at = s.ReceivedAt
		}
		gs.Add(mapping.KeyFor(s.Source, payload), payload, s.Payload, at)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	groups := gs.List()
	out.Groups = len(groups)
	for _, g := range groups[:min(len(groups), opt.Limit)] {
		out.Items = append(out.Items, QueueGroup{Source: g.Key.Source, Type: g.Key.Type, Event: g.Key.Event,
			Count: g.Count, FirstSeen: g.FirstSeen, LastSeen: g.LastSeen, SamplePaths: g.SamplePaths,
			SamplePayload: g.SamplePayload, DraftRule: draftOf(mapping.DraftRule(g))})
	}
	return out, nil
}

// PreviewInput is a draft rule to try against recent signals.
type PreviewInput struct {
	Rule mapping.Rule
	// Last is how many of the most recent signals to examine (1–20,000;
	// 0 = 1,000).
	Last int
	// ExcludeRuleID names the rule being edited: its current version is
	// left out of the competition and the draft takes its age.
	ExcludeRuleID string
}

// PreviewResult counts what a draft rule would do.
type PreviewResult struct {
	// Matched is how many of the examined signals the rule matches on its own.
	Matched int `json:"matched"`
	// WouldWin is how many of those it would also be chosen for over the
	// current rules.
	WouldWin int `json:"would_win"`
	// Scanned is how many signals were examined.
	Scanned int `json:"scanned"`
}

// underField puts a rule's validation error under "rule." in the request.
func underField(err error, prefix string) error {
	var e *errs.Error
	if !errors.As(err, &e) {
		return err
	}
	out := *e
	if out.Field == "" {
		out.Field = prefix
	} else {
		out.Field = prefix + "." + out.Field
	}
	return &out
}

// PreviewRule counts how many of the organization's most recent signals
// (any status, pending included) a draft rule would match, and how many of
// those it would win against the current rules (Editor and up).
func (c *Client) PreviewRule(ctx context.Context, caller tenant.Caller, org string, in PreviewInput) (*PreviewResult, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapEditConfig); err != nil {
		return nil, err
	}
	if err := mgmtRange("last", &in.Last, DefaultPreviewLast, MaxPreviewLast); err != nil {
		return nil, err
	}
	r := in.Rule
	r.ID, r.CreatedAt, r.UpdatedAt = "", time.Time{}, time.Time{}
	if err := r.Validate(); err != nil {
		return nil, underField(err, "rule")
	}
	rules, err := c.Rules(ctx, caller, org)
	if err != nil {
		return nil, err
	}
	if in.ExcludeRuleID != "" {
		i := slices.IndexFunc(rules, func(x mapping.Rule) bool { return x.ID == in.ExcludeRuleID })
		if i < 0 {
			return nil, errs.NotFound("rule")
		}
		// PreviewWins leaves out the rule with the draft's id.
		r.ID, r.CreatedAt = rules[i].ID, rules[i].CreatedAt
	} else {
		// A new rule is younger than every existing one: it loses ties.
		r.CreatedAt = c.env.now()
		for _, x := range rules {
			if !x.CreatedAt.Before(r.CreatedAt) {
				r.CreatedAt = x.CreatedAt.Add(time.Nanosecond)
			}
		}
	}
	rs, err := mapping.Compile(rules)
	if err != nil {
		return nil, errs.Internal(fmt.Errorf("compile stored rules: %w", err))
	}
	return c.env.previewRule(ctx, org, rs, r, in.Last)
}

func (e *Env) previewRule(ctx context.Context, org string, rs *mapping.RuleSet, r mapping.Rule, last int) (*PreviewResult, error) {
	ids, err := e.recentSignalIDs(ctx, org, last)
	if err != nil {
		return nil, storeErr(err)
	}
	out := &PreviewResult{}
	payloads := make([]map[string]any, 0, previewChunk)
	sources := make([]string, 0, previewChunk)
	var previewErr error
	flush := func() {
		if len(payloads) == 0 || previewErr != nil {
			return
		}
		res, err := rs.PreviewWins(r, payloads, sources)
		if err != nil {
			previewErr = underField(err, "rule")
			return
		}
		out.Matched += res.Matched
		out.WouldWin += res.Wins
		payloads, sources = payloads[:0], sources[:0]
	}
	err = e.eachSignal(ctx, org, ids, func(_ uint64, s *storedSignal, payload map[string]any) {
		out.Scanned++
		payloads = append(payloads, payload)
		sources = append(sources, s.Source)
		if len(payloads) == previewChunk {
			flush()
		}
	})
	if err != nil {
		return nil, storeErr(err)
	}
	flush()
	if previewErr != nil {
		return nil, previewErr
	}
	return out, nil
}

// ProcessResult reports a "process now".
type ProcessResult struct {
	// Processed counts the signals whose status changed while waiting
	// (Succeeded + Failed): newly processed, or retried.
	Processed int `json:"processed"`
	// Succeeded ended completed, skipped or cold.
	Succeeded int `json:"succeeded"`
	// Failed ended failed (to be retried) or permanently_failed.
	Failed int `json:"failed"`
	// Pending is the backlog left when the wait ended.
	Pending    int   `json:"pending"`
	DurationMS int64 `json:"duration_ms"`
	// Truncated is set when more than 200,000 statuses were in play: the
	// counts then cover the first 200,000 only.
	Truncated bool `json:"truncated"`
}

// ProcessNow wakes every partition of the organization that has signals
// waiting and waits (up to wait, 0–60 s) until the backlog is empty, then
// reports what was processed meanwhile (Editor and up).
func (c *Client) ProcessNow(ctx context.Context, caller tenant.Caller, org string, wait time.Duration) (*ProcessResult, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapEditConfig); err != nil {
		return nil, err
	}
	if wait < 0 || wait > MaxProcessWait {
		return nil, errs.Invalid("wait", "out_of_range", "wait must be from 0 to %d seconds", int(MaxProcessWait/time.Second))
	}
	start := time.Now()
	w, err := c.env.watchProcessing(ctx, org)
	if err != nil {
		return nil, storeErr(err)
	}
	for _, p := range w.parts {
		c.node.Send(KindIngest, ingestIdentity(org, p), &actorpb.Wake{})
	}
	pending, err := c.env.waitDrained(ctx, org, start.Add(min(wait, processWaitCeiling)))
	if err != nil {
		return nil, storeErr(err)
	}
	res, err := w.finish(ctx)
	if err != nil {
		return nil, storeErr(err)
	}
	res.Pending = pending
	res.DurationMS = time.Since(start).Milliseconds()
	return res, nil
}

// statusMark is a status as "process now" saw it before waking the grains.
type statusMark struct {
	id       uint64
	status   string
	attempts int
}

// processWatch compares statuses before and after a "process now". Only
// statuses after lo can change: lo is just below the first waiting signal
// of any partition (with none waiting, the newest status id), every signal
// before it in its partition is processed, and every signal accepted later
// gets a greater id. (Replays of cold-stored signals rewrite older
// statuses, from cold to completed or skipped; they are not counted.)
type processWatch struct {
	env       *Env
	org       string
	lo        uint64
	parts     []int        // partitions with signals waiting
	before    []statusMark // statuses after lo, in id order
	truncated bool
}

func (e *Env) watchProcessing(ctx context.Context, org string) (*processWatch, error) {
	w := &processWatch{env: e, org: org, lo: math.MaxUint64}
	for p := 0; p < store.Partitions; p++ {
		cur, err := e.SignalLog.Cursor(ctx, org, p)
		if err != nil {
			return nil, err
		}
		next, err := e.SignalLog.ReadPartition(ctx, org, p, cur, 1)
		if err != nil {
			return nil, err
		}
		if len(next) > 0 {
			w.parts = append(w.parts, p)
			w.lo = min(w.lo, next[0].ID-1)
		}
	}
	if len(w.parts) == 0 {
		hi, _, err := e.newestStatusID(ctx, org)
		if err != nil {
			return nil, err
		}
		w.lo = hi
	}
	err := e.SignalLog.ScanStatuses(ctx, org, w.lo, func(st store.SignalStatus) (bool, error) {
		if len(w.before) >= maxProcessWatch {
			w.truncated = true
			return false, nil
		}
		w.before = append(w.before, statusMark{id: st.ID, status: st.Status, attempts: st.Attempts})
		return true, nil
	})
	return w, err
}

// finish counts the statuses that changed (or appeared) since the watch began.
func (w *processWatch) finish(ctx context.Context) (*ProcessResult, error) {
	res := &ProcessResult{Truncated: w.truncated}
	var end uint64
	if w.truncated {
		end = w.before[len(w.before)-1].id
	}
	i := 0
	err := w.env.SignalLog.ScanStatuses(ctx, w.org, w.lo, func(st store.SignalStatus) (bool, error) {
		if w.truncated && st.ID > end {
			return false, nil
		}
		for i < len(w.before) && w.before[i].id < st.ID {
			i++
		}
		if i < len(w.before) && w.before[i].id == st.ID && w.before[i].status == st.Status && w.before[i].attempts == st.Attempts {
			return true, nil // unchanged
		}
		switch st.Status {
		case StatusCompleted, StatusSkipped, StatusCold:
			res.Succeeded++
		case StatusFailed, StatusPermanentlyFailed:
			res.Failed++
		}
		return true, nil
	})
	res.Processed = res.Succeeded + res.Failed
	return res, err
}

// waitDrained polls the backlog until it is empty or until passes, and
// returns the last count.
func (e *Env) waitDrained(ctx context.Context, org string, until time.Time) (int, error) {
	for {
		n, err := e.SignalLog.Backlog(ctx, org)
		if err != nil || n == 0 {
			return n, err
		}
		left := time.Until(until)
		if left <= 0 {
			return n, nil
		}
		t := time.NewTimer(min(left, processPoll))
		select {
		case <-ctx.Done():
			t.Stop()
			return n, ctx.Err()
		case <-t.C:
		}
	}
}

// ---- reading recent signals

// newestStatusID returns the greatest id with a status (ok=false: none).
func (e *Env) newestStatusID(ctx context.Context, org string) (uint64, bool, error) {
	// first returns the smallest status id greater than after (0: none).
	first := func(after uint64) (uint64, error) {
		var id uint64
		err := e.SignalLog.ScanStatuses(ctx, org, after, func(st store.SignalStatus) (bool, error) {
			id = st.ID
			return false, nil
		})
		return id, err
	}
	f, err := first(0)
	if err != nil || f == 0 {
		return 0, false, err
	}
	// The newest id is in [lo, hi].
	lo, hi := f, uint64(math.MaxUint64)
	for lo < hi {
		mid := lo + (hi-lo)/2 + 1 // in (lo, hi]
		f, err := first(mid - 1)
		if err != nil {
			return 0, false, err
		}
		if f == 0 {
			hi = mid - 1
		} else {
			lo = f
		}
	}
	return lo, true, nil
}

// recentStatuses returns the n newest statuses that keep accepts, in id
// order, scanning windows backwards from the newest status (see the top of
// this file). With maxVisit > 0 it starts no new window once it has walked
// that many statuses, and reports truncated when it stopped for that.
func (e *Env) recentStatuses(ctx context.Context, org string, n, maxVisit int, keep func(*store.SignalStatus) bool) (_ []store.SignalStatus, truncated bool, _ error) {
	if n <= 0 {
		return nil, false, nil
	}
	hi, ok, err := e.newestStatusID(ctx, org)
	if err != nil || !ok {
		return nil, false, err
	}
	visited := 0
	var windows [][]store.SignalStatus // newest window first; each in id order
	found := 0
	upper := hi                      // the window is (lower, upper]
	width := uint64(max(n, 256)) * 4 // in ids
	for {
		lower := uint64(0)
		if upper > width {
			lower = upper - width
		}
		need := n - found
		var win []store.SignalStatus
		err := e.SignalLog.ScanStatuses(ctx, org, lower, func(st store.SignalStatus) (bool, error) {
			if st.ID > upper {
				return false, nil
			}
			visited++
			if keep(&st) {
				win = append(win, st)
				if len(win) >= 2*need { // keep the newest need
					win = append(win[:0], win[len(win)-need:]...)
				}
			}
			return true, nil
		})
		if err != nil {
			return nil, false, err
		}
		if len(win) > need {
			win = win[len(win)-need:]
		}
		windows = append(windows, win)
		found += len(win)
		if found >= n || lower == 0 {
			break
		}
		if maxVisit > 0 && visited >= maxVisit {
			truncated = true
			break
		}
		upper = lower
		if width < math.MaxUint64/2 {
			width *= 2
		}
	}
	out := make([]store.SignalStatus, 0, found)
	for i := len(windows) - 1; i >= 0; i-- {
		out = append(out, windows[i]...)
	}
	return out, truncated, nil
}

// recentSignalIDs returns the ids of the organization's last n signals,
// processed or waiting, newest first. Waiting signals are read from each
// partition's cursor on, at most n of them in all: when the backlog is
// larger than n, the ones examined are the first waiting ones.
func (e *Env) recentSignalIDs(ctx context.Context, org string, n int) ([]uint64, error) {
	sts, _, err := e.recentStatuses(ctx, org, n, 0, func(*store.SignalStatus) bool { return true })
	if err != nil {
		return nil, err
	}
	seen := make(map[uint64]bool, len(sts))
	ids := make([]uint64, 0, len(sts))
	for _, st := range sts {
		seen[st.ID] = true
		ids = append(ids, st.ID)
	}
	waiting := 0
	for p := 0; p < store.Partitions && waiting < n; p++ {
		cur, err := e.SignalLog.Cursor(ctx, org, p)
		if err != nil {
			return nil, err
		}
		for waiting < n {
			batch, err := e.SignalLog.ReadPartition(ctx, org, p, cur, min(n-waiting, batchSize))
			if err != nil {
				return nil, err
			}
			for _, le := range batch {
				if !seen[le.ID] {
					seen[le.ID] = true
					ids = append(ids, le.ID)
					waiting++
				}
				cur = le.ID
			}
			if len(batch) < batchSize {
				break
			}
		}
	}
	slices.SortFunc(ids, func(a, b uint64) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	return ids[:min(len(ids), n)], nil
}

// eachSignal loads the given signals and calls fn with each one's stored
// record and payload (decoded with UseNumber, as processing does). Signals
// that are gone or do not decode to a JSON object are passed over.
func (e *Env) eachSignal(ctx context.Context, org string, ids []uint64, fn func(id uint64, s *storedSignal, payload map[string]any)) error {
	for _, id := range ids {
		le, err := e.SignalLog.Get(ctx, org, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		var s storedSignal
		if decodeStoredSignal(le.Data, &s) != nil {
			continue
		}
		payload, ok := decodeSignalPayload(s.Payload)
		if !ok {
			continue
		}
		fn(id, &s, payload)
	}
	return nil
}

// decodeSignalPayload decodes a stored payload as processing does: a JSON object,
// numbers kept exact (json.Number).
func decodeSignalPayload(raw []byte) (map[string]any, bool) {
	payload, err := signal.DecodePayload(raw)
	if err != nil || payload == nil {
		return nil, false
	}
	return payload, true
}
