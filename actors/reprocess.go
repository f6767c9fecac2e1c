package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// "Reprocess matching signals" (SPEC §2.5): editing rules affects later
// signals only, unless a reprocess job is started. The job re-runs the
// organization's last N processed signals (statuses completed or skipped,
// newest N, found as queue.go finds them) against the CURRENT rule set.
// Where the winning rule differs from the one the status names, it
//
//   - rewrites the lead first: the timeline entry of that signal, when the
//     lead still shows it (rule id/name, signal type, high intent, weight,
//     half-life), and the counters (MappedCount, CountsByType: down for the
//     old rule's type, up for the new one's);
//   - then the status (new rule_id; completed, or skipped when no rule
//     matches any more) through SignalLog.Commit with cursor 0, which never
//     moves a partition cursor (Commit only moves it forwards).
//
// The stored signal (the original payload) is never changed, and no
// signal is deleted. Identity is not re-resolved: the signal stays on the
// lead it was applied to (a newly matching rule's identifier mappings do
// not link new identifiers), and lead titles are left alone.
//
// Leads are written with compare-and-set (Store.SaveBatch with versions),
// re-applying on conflict, because partition grains write leads
// concurrently. A partition grain caches leads with their version: after
// this job writes a lead, the grain's cached copy is stale, so its next
// write of that lead fails its compare-and-set (ErrConflict); the grain
// then drops the cached copy, reloads the lead (with this job's change) and
// re-applies its own changes. Nothing is lost either way.
//
// The lead is written before the status: a job that dies in between leaves
// a status still naming the old rule, and a rerun would apply the change to
// the lead again. The timeline entry guards against that when the lead
// still shows the signal (an entry already naming the new rule is left
// alone, counters included); for older signals the counters could then be
// off by one.
//
// A job is a record of kind signal_reprocess (jobs.go) with the counters
// scanned (processed signals in the window, known at the start), processed
// (examined so far) and changed (relabelled so far), written every 500
// signals. It runs in a goroutine owned by the Client: at most one per
// organization on a node (a second start is refused with 409 job_running),
// stopped by Client.Close (it then ends failed). Two nodes could each run
// one for the same organization; they would do the same work, the lead
// writes staying safe through compare-and-set (but see the double-apply
// caveat above).

// Reprocess limits and the job kind.
const (
	JobKindSignalReprocess = "signal_reprocess"

	DefaultReprocessLast = 10000
	MaxReprocessLast     = 200000

	// reprocessChunk is how many signals are handled between progress writes.
	reprocessChunk = 500
	// reprocessLeadBatch bounds the leads written in one SaveBatch.
	reprocessLeadBatch = 50
	// reprocessAttempts bounds the compare-and-set retries of one lead batch.
	reprocessAttempts = 8
)

// ReprocessProgress is what a reprocess job has done.
type ReprocessProgress struct {
	// Scanned is how many processed signals the job covers (the last N
	// completed or skipped ones).
	Scanned int `json:"scanned"`
	// Processed is how many of them have been examined so far.
	Processed int `json:"processed"`
	// Changed is how many were relabelled with another rule (or none).
	Changed int `json:"changed"`
}

// ReprocessJob is the record of a signal_reprocess job: the common job
// fields plus its counters, stored at the job's key.
type ReprocessJob struct {
	Job
	ReprocessProgress
	// Last is the N of "the last N signals".
	Last int `json:"last"`
}

// ReprocessInput starts a reprocess job.
type ReprocessInput struct {
	// Last is how many of the most recent processed signals to re-run
	// (1–200,000; 0 = 10,000).
	Last int `json:"last"`
	// RuleID, when set, must name an existing rule (the one the request
	// was about); the job still re-runs every rule.
	RuleID string `json:"-"`
}

// ReprocessTicket is a reprocess job that has been authorized and holds
// its organization's slot, not yet started. Start it, or Release it. A
// ticket is used by one request (not safe for concurrent use).
type ReprocessTicket struct {
	c       *Client
	org     string
	last    int
	settled bool
}

// jobRegistry tracks the background jobs a Client runs.
type jobRegistry struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	// reprocessing holds the organizations with a reprocess job running
	// (or a ticket taken) on this node.
	reprocessing map[string]bool
}

func newJobRegistry() *jobRegistry {
	ctx, cancel := context.WithCancel(context.Background())
	return &jobRegistry{ctx: ctx, cancel: cancel, reprocessing: map[string]bool{}}
}

func errJobRunning() error {
	return errs.Conflict("job_running", "", "a reprocess job is already running for this organization; wait for it to finish")
}

// take claims org's reprocess slot.
func (j *jobRegistry) take(org string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ctx.Err() != nil {
		return errs.Unavailable("the node is stopping", j.ctx.Err())
	}
	if j.reprocessing[org] {
		return errJobRunning()
	}
	j.reprocessing[org] = true
	return nil
}

func (j *jobRegistry) release(org string) {
	j.mu.Lock()
	delete(j.reprocessing, org)
	j.mu.Unlock()
}

// launch runs fn in a goroutine the registry waits for on close, with the
// registry's context (cancelled on close).
func (j *jobRegistry) launch(fn func(ctx context.Context)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ctx.Err() != nil {
		return errs.Unavailable("the node is stopping", j.ctx.Err())
	}
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		fn(j.ctx)
	}()
	return nil
}

// close cancels running jobs and waits for them to end.
func (j *jobRegistry) close() {
	j.mu.Lock()
	j.cancel()
	j.mu.Unlock()
	j.wg.Wait()
}

// PrepareReprocess authorizes a reprocess job (Editor and up), checks its
// input and claims the organization's slot (409 job_running while another
// runs). Used where the job must start only after something else succeeds
// (a rule update).
func (c *Client) PrepareReprocess(ctx context.Context, caller tenant.Caller, org string, in ReprocessInput) (*ReprocessTicket, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapEditConfig); err != nil {
		return nil, err
	}
	if err := mgmtRange("last", &in.Last, DefaultReprocessLast, MaxReprocessLast); err != nil {
		return nil, err
	}
	if in.RuleID != "" {
		if _, err := c.Rule(ctx, caller, org, in.RuleID); err != nil {
			return nil, err
		}
	}
	if err := c.jobs.take(org); err != nil {
		return nil, err
	}
	return &ReprocessTicket{c: c, org: org, last: in.Last}, nil
}

// StartReprocess starts a reprocess job (Editor and up) and returns its
// record as started.
func (c *Client) StartReprocess(ctx context.Context, caller tenant.Caller, org string, in ReprocessInput) (*Job, error) {
	t, err := c.PrepareReprocess(ctx, caller, org, in)
	if err != nil {
		return nil, err
	}
	return t.Start(ctx)
}

// Release gives up a ticket that was not started (a no-op after Start).
func (t *ReprocessTicket) Release() {
	if t.settled {
		return
	}
	t.settled = true
	t.c.jobs.release(t.org)
}

// Start records the job (running) and runs it in the background.
func (t *ReprocessTicket) Start(ctx context.Context) (*Job, error) {
	if t.settled {
		return nil, errs.Internal(errors.New("reprocess ticket used twice"))
	}
	c := t.c
	run, err := startJob(ctx, c.env, t.org, JobKindSignalReprocess, "")
	if err != nil {
		t.Release()
		return nil, err
	}
	rj := &reprocessRun{run: run, last: t.last}
	// The first write adds the counters (all zero) and last to the record.
	if err := rj.write(ctx, ReprocessProgress{}, JobRunning, nil); err != nil {
		c.env.Log.Warn("reprocess: writing job", "org", t.org, "job", run.ID(), "error", err)
	}
	org := t.org
	if err := c.jobs.launch(func(jctx context.Context) {
		defer c.jobs.release(org)
		c.runReprocess(jctx, org, rj)
	}); err != nil {
		t.Release()
		_ = rj.write(context.WithoutCancel(ctx), ReprocessProgress{}, JobFailed, jobErrorOf(err))
		return nil, err
	}
	t.settled = true
	j := run.Job()
	return &j, nil
}

// ReprocessJob reads a reprocess job's record with its counters (Viewer
// and up).
func (c *Client) ReprocessJob(ctx context.Context, caller tenant.Caller, org, id string) (*ReprocessJob, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	return loadReprocessJob(ctx, c.env, org, id)
}

func loadReprocessJob(ctx context.Context, env *Env, org, id string) (*ReprocessJob, error) {
	if _, err := loadJob(ctx, env, org, id); err != nil { // validates the id
		return nil, err
	}
	var j ReprocessJob
	if _, err := env.loadJSON(ctx, keyJob(org, id), &j); err != nil {
		return nil, notFoundIf(err, "job")
	}
	if j.Kind != JobKindSignalReprocess {
		return nil, errs.NotFound("job")
	}
	return &j, nil
}

// runReprocess is the body of a job's goroutine.
func (c *Client) runReprocess(ctx context.Context, org string, rj *reprocessRun) {
	env := c.env
	var p ReprocessProgress
	err := func() error {
		rules, _, err := c.orgRules(org)(ctx)
		if err != nil {
			return err
		}
		p, err = env.reprocess(ctx, org, rules, rj.last, func(p ReprocessProgress) {
			if err := rj.write(ctx, p, JobRunning, nil); err != nil {
				env.Log.Warn("reprocess: writing job progress", "org", org, "job", rj.run.ID(), "error", err)
			}
		})
		return err
	}()
	// The end is written even when the job was cancelled (node stopping).
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var werr error
	if err == nil {
		werr = rj.write(wctx, p, JobCompleted, nil)
	} else {
		if errors.Is(err, context.Canceled) {
			err = errs.Unavailable("the node stopped while the job ran; start it again", err)
		}
		env.Log.Warn("reprocess job failed", "org", org, "job", rj.run.ID(), "error", err)
		werr = rj.write(wctx, p, JobFailed, jobErrorOf(err))
	}
	if werr != nil {
		env.Log.Warn("reprocess: finishing job", "org", org, "job", rj.run.ID(), "error", werr)
	}
}

func jobErrorOf(err error) *JobError {
	e := errs.As(err)
	if e == nil {
		e = errs.Internal(err)
	}
	return &JobError{Code: e.Code, Message: e.Message, Field: e.Field}
}

// reprocessRun writes a reprocess job's record: the JobRun's record plus
// the counters, with the same compare-and-set on the last version written.
type reprocessRun struct {
	run  *JobRun
	last int
}

func (rj *reprocessRun) write(ctx context.Context, p ReprocessProgress, status string, jobErr *JobError) error {
	r := rj.run
	if r.job.Status != JobRunning {
		return errs.Conflict("job_finished", "", "the job has already finished")
	}
	next := r.job
	next.Status, next.Error = status, jobErr
	next.UpdatedAt = r.env.now()
	if status != JobRunning {
		t := next.UpdatedAt
		next.FinishedAt = &t
	}
	if next.Errors == nil {
		next.Errors = []JobLineError{}
	}
	b, err := json.Marshal(ReprocessJob{Job: next, ReprocessProgress: p, Last: rj.last})
	if err != nil {
		return errs.Internal(err)
	}
	ver, err := r.env.Store.Save(ctx, keyJob(r.org, r.job.ID), b, r.ver)
	if errors.Is(err, store.ErrConflict) {
		return errs.Internal(fmt.Errorf("job %s changed under its run", r.job.ID))
	}
	if err != nil {
		return storeErr(err)
	}
	r.job, r.ver = next, ver
	return nil
}

// reprocessChange is one signal to relabel.
type reprocessChange struct {
	st        store.SignalStatus // as found
	partition int
	oldType   string        // the old rule's signal type, when known ("" else)
	rule      *mapping.Rule // the new winner; nil = none
}

// reprocess re-runs the organization's last `last` processed signals
// against rules, calling progress after every chunk. It returns the final
// counters; on error, the counters of the work done.
func (e *Env) reprocess(ctx context.Context, org string, rules []mapping.Rule, last int, progress func(ReprocessProgress)) (ReprocessProgress, error) {
	var p ReprocessProgress
	rs, err := mapping.Compile(rules)
	if err != nil {
		return p, errs.Internal(fmt.Errorf("compile stored rules: %w", err))
	}
	byID := make(map[string]*mapping.Rule, len(rules))
	for i := range rules {
		byID[rules[i].ID] = &rules[i]
	}
	sts, _, err := e.recentStatuses(ctx, org, last, 0, func(st *store.SignalStatus) bool {
		return st.Status == StatusCompleted || st.Status == StatusSkipped
	})
	if err != nil {
		return p, storeErr(err)
	}
	p.Scanned = len(sts)
	for start := 0; start < len(sts); start += reprocessChunk {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		chunk := sts[start:min(start+reprocessChunk, len(sts))]
		changes, err := e.reprocessMatch(ctx, org, rs, byID, chunk)
		if err != nil {
			return p, err
		}
		if err := e.reprocessApply(ctx, org, changes); err != nil {
			return p, err
		}
		p.Processed += len(chunk)
		p.Changed += len(changes)
		if progress != nil {
			progress(p)
		}
	}
	return p, nil
}

// reprocessMatch re-matches a chunk's signals and returns those whose
// winner changed.
func (e *Env) reprocessMatch(ctx context.Context, org string, rs *mapping.RuleSet, byID map[string]*mapping.Rule, chunk []store.SignalStatus) ([]reprocessChange, error) {
	var out []reprocessChange
	for _, st := range chunk {
		le, err := e.SignalLog.Get(ctx, org, st.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, storeErr(err)
		}
		var s storedSignal
		if decodeStoredSignal(le.Data, &s) != nil {
			continue
		}
		payload, ok := decodeSignalPayload(s.Payload)
		if !ok {
			continue
		}
		r := rs.Match(payload, s.Source)
		newID := ""
		if r != nil {
			newID = r.ID
		}
		if newID == st.RuleID {
			continue
		}
		ch := reprocessChange{st: st, partition: le.Partition, rule: r}
		if old := byID[st.RuleID]; old != nil {
			ch.oldType = string(old.SignalType) // the timeline entry, when present, overrides it
		}
		out = append(out, ch)
	}
	return out, nil
}

// reprocessApply writes a chunk's changes: leads first, then statuses.
func (e *Env) reprocessApply(ctx context.Context, org string, changes []reprocessChange) error {
	if len(changes) == 0 {
		return nil
	}
	// A status that moved since the window was read (it should not: only
	// pending, failed and cold statuses change) is left alone.
	kept := changes[:0]
	for _, ch := range changes {
		cur, err := e.SignalLog.Status(ctx, org, ch.st.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return storeErr(err)
		}
		if cur.Status != ch.st.Status || cur.RuleID != ch.st.RuleID || cur.LeadID != ch.st.LeadID {
			continue
		}
		kept = append(kept, ch)
	}
	changes = kept
	byLead := map[string][]reprocessChange{}
	var leads []string
	for _, ch := range changes {
		if ch.st.LeadID == "" {
			continue
		}
		if _, ok := byLead[ch.st.LeadID]; !ok {
			leads = append(leads, ch.st.LeadID)
		}
		byLead[ch.st.LeadID] = append(byLead[ch.st.LeadID], ch)
	}
	for i := 0; i < len(leads); i += reprocessLeadBatch {
		if err := e.reprocessLeads(ctx, org, leads[i:min(i+reprocessLeadBatch, len(leads))], byLead); err != nil {
			return err
		}
	}
	now := e.now()
	byPart := map[int][]store.SignalStatus{}
	var parts []int
	for _, ch := range changes {
		st := ch.st
		st.RuleID, st.Status = "", StatusSkipped
		if ch.rule != nil {
			st.RuleID, st.Status = ch.rule.ID, StatusCompleted
		}
		st.ProcessedAt = now
		if _, ok := byPart[ch.partition]; !ok {
			parts = append(parts, ch.partition)
		}
		byPart[ch.partition] = append(byPart[ch.partition], st)
	}
	for _, part := range parts {
		// Cursor 0: Commit never moves a cursor backwards, so this
		// writes the statuses and leaves the partition's cursor alone.
		if err := e.SignalLog.Commit(ctx, org, part, 0, byPart[part]); err != nil {
			return storeErr(err)
		}
	}
	return nil
}

// reprocessLeads applies changes to leads in one compare-and-set batch,
// reloading and re-applying when a partition grain wrote one meanwhile.
func (e *Env) reprocessLeads(ctx context.Context, org string, leads []string, byLead map[string][]reprocessChange) error {
	for attempt := 0; attempt < reprocessAttempts; attempt++ {
		var writes []store.Write
		now := e.now()
		for _, id := range leads {
			l, ver, err := e.loadLead(ctx, org, id)
			if err != nil {
				return storeErr(err)
			}
			if l == nil {
				continue // the lead is gone: only the status changes
			}
			changed := false
			for _, ch := range byLead[id] {
				changed = relabelOnLead(l, ch) || changed
			}
			if !changed {
				continue
			}
			l.UpdatedAt = now
			b, err := encodeLead(l)
			if err != nil {
				return errs.Internal(err)
			}
			writes = append(writes, store.Write{Key: keyLead(org, id), Value: b, Expected: ver})
		}
		if len(writes) == 0 {
			return nil
		}
		_, err := e.Store.SaveBatch(ctx, writes)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return storeErr(err)
		}
	}
	return errs.Unavailable("leads kept changing under the reprocess job; start it again", nil)
}

// relabelOnLead moves one signal from its old rule to its new one on a
// lead; it reports whether it changed anything.
func relabelOnLead(l *Lead, ch reprocessChange) bool {
	newID, newType := "", ""
	if ch.rule != nil {
		newID, newType = ch.rule.ID, string(ch.rule.SignalType)
	}
	oldID, oldType := ch.st.RuleID, ch.oldType
	for i := len(l.Timeline) - 1; i >= 0; i-- {
		te := &l.Timeline[i]
		if te.SignalID != ch.st.ID {
			continue
		}
		if te.RuleID == newID {
			return false // applied already (a rerun after a crash)
		}
		oldID, oldType = te.RuleID, te.SignalType
		te.RuleID, te.RuleName, te.SignalType = "", "", ""
		te.HighIntent, te.Weight, te.HalfLifeH = false, 0, 0
		if r := ch.rule; r != nil {
			te.RuleID, te.RuleName, te.SignalType = r.ID, r.Name, string(r.SignalType)
			te.HighIntent, te.Weight = r.HighIntent, r.EffectiveWeight()
			te.HalfLifeH = r.EffectiveHalfLife().Hours()
		}
		break
	}
	if oldID != "" {
		l.MappedCount = max(0, l.MappedCount-1)
		if oldType != "" && l.CountsByType[oldType] > 0 {
			l.CountsByType[oldType]--
			if l.CountsByType[oldType] == 0 {
				delete(l.CountsByType, oldType)
			}
		}
	}
	if newID != "" {
		l.MappedCount++
		if l.CountsByType == nil {
			l.CountsByType = map[string]int{}
		}
		l.CountsByType[newType]++
	}
	return true
}
