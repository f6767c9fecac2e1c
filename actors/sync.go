package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/plugins/host"
	"github.com/trailspark/trailspark/sdk/connector"
	"github.com/trailspark/trailspark/store"
)

// CRM sync: a job (kind crm_sync, jobs.go) that reads each record kind the
// connector serves, page by page, from the connection's saved cursor:
//
//   - accounts → accounts upserted by external id (the CRM id), with the
//     mapped firmographics, source "crm"; an account inferred from the same
//     domain is taken over (same id, no longer inferred);
//   - contacts and leads → canonical identify signals appended through the
//     Ingestor (source "crm", event "crm_sync", email, crmId, groupId = the
//     CRM account id, traits), dedup key crm:{conn}:{kind}:{id}:{modified};
//     Salesforce Leads with company data of their own also upsert an
//     account by domain from the mapping's fallback fields;
//   - opportunities → per-opportunity outcome records; the account's
//     attributes outcome (won/lost), outcome_amount, outcome_close_date and
//     opportunity counts, which model quality and refinement use as labels;
//   - activities (Marketo) → track signals under the connector's source.
//
// The cursor of a kind is saved after each page is applied, in the same
// compare-and-set write that renews the sync's lease, so a sync that
// crashes resumes from the last saved page; the page after it may be
// applied twice, which the idempotent upserts and the signal dedup keys
// absorb. Decision 0010.

// Sync job kind and limits.
const (
	JobKindCRMSync = "crm_sync"

	DefaultSyncPageSize = 200
	MaxSyncPageSize     = 1000
	// syncReadAttempts bounds the retries of one page on retryable errors.
	syncReadAttempts = 4
)

// SyncLeaseTTL is how long a sync's lease lasts without renewal (a page
// renews it); a node that dies mid-sync blocks the connection this long.
var SyncLeaseTTL = 10 * time.Minute

// SyncSchedulerTick is how often the scheduler looks for due syncs.
var SyncSchedulerTick = 30 * time.Second

// syncKinds are the record kinds a sync reads, in order: accounts before
// the people and opportunities that refer to them.
var syncKinds = []connector.Kind{connector.KindAccounts, connector.KindContacts, connector.KindLeads,
	connector.KindOpportunities, connector.KindActivities}

// SyncInput starts a sync.
type SyncInput struct {
	// PageSize is the records read per page (1–1000; 0 = 200).
	PageSize int `json:"page_size"`
	// FullResync forgets the saved cursors and reads everything again
	// (nothing is duplicated: upserts and signal dedup are idempotent).
	FullResync bool `json:"full_resync"`
}

// SyncKindProgress is one record kind's progress.
type SyncKindProgress struct {
	Kind       string `json:"kind"`
	Done       bool   `json:"done"`
	Pages      int    `json:"pages"`
	Read       int    `json:"read"`
	Accounts   int    `json:"accounts"`
	Signals    int    `json:"signals"`
	Duplicates int    `json:"duplicates"`
	Outcomes   int    `json:"outcomes"`
	Skipped    int    `json:"skipped"`
	Deleted    int    `json:"deleted"`
	Cursor     string `json:"cursor,omitempty"`
}

// SyncJob is a crm_sync job's record: the common job fields plus the
// connection and per-kind progress.
type SyncJob struct {
	Job
	ConnectionID string             `json:"connection_id"`
	Trigger      string             `json:"trigger"`
	Kinds        []SyncKindProgress `json:"kinds"`
}

// syncRun writes a sync job's record with compare-and-set on the version
// it wrote last (it is the record's only writer).
type syncRun struct {
	run   *JobRun
	conn  string
	trig  string
	kinds []SyncKindProgress
	// errors name the records the sync could not use (the first 100).
	errors []JobLineError
}

func (sr *syncRun) totals() JobProgress {
	p := JobProgress{Errors: []JobLineError{}}
	for _, k := range sr.kinds {
		p.Processed += k.Read
		p.Accepted += k.Signals
		p.Duplicates += k.Duplicates
		p.Rejected += k.Skipped
		p.Changed += k.Accounts + k.Outcomes
	}
	p.Errors = append(p.Errors, sr.errors...)
	return p
}

// maxSyncErrors bounds a sync job's errors list (like JobProgress.Errors).
const maxSyncErrors = 100

// usableRecords drops the records of a page that a sync cannot apply — no
// id, another kind, fields that are not a JSON object — counting each as
// skipped and naming it in the job's errors (line: its position among the
// kind's records read by this job). One bad record does not stop the sync.
func (sr *syncRun) usableRecords(log func(msg string, args ...any), kind connector.Kind, recs []connector.Record, kp *SyncKindProgress) []connector.Record {
	out := recs[:0]
	first := kp.Read - len(recs)
	for i, r := range recs {
		var problem, field string
		switch {
		case strings.TrimSpace(r.ID) == "":
			problem, field = "has no id", "id"
		case r.Kind != "" && r.Kind != kind:
			problem, field = fmt.Sprintf("is of kind %q, not %s", r.Kind, kind), "kind"
		case len(r.Fields) > 0 && !jsonObject(r.Fields):
			problem, field = "has fields that are not a JSON object", "fields"
		}
		if problem == "" {
			out = append(out, r)
			continue
		}
		kp.Skipped++
		name := fmt.Sprintf("%s record %d", kind, first+i+1)
		if r.ID != "" {
			name = fmt.Sprintf("%s record %q", kind, r.ID)
		}
		if len(sr.errors) < maxSyncErrors {
			sr.errors = append(sr.errors, JobLineError{Line: first + i + 1,
				Error: JobError{Code: "malformed_record", Message: "the connector sent an unusable record: " + name + " " + problem, Field: field}})
			log("crm sync: skipping a malformed record", "kind", string(kind), "record", r.ID, "position", first+i+1, "problem", problem)
		}
	}
	return out
}

func jsonObject(b []byte) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}

func (sr *syncRun) write(ctx context.Context, status string, jobErr *JobError) error {
	r := sr.run
	if r.job.Status != JobRunning {
		return errs.Conflict("job_finished", "", "the job has already finished")
	}
	next := r.job
	next.JobProgress = sr.totals()
	next.Status, next.Error = status, jobErr
	next.UpdatedAt = r.env.now()
	if status != JobRunning {
		t := next.UpdatedAt
		next.FinishedAt = &t
	}
	rec := SyncJob{Job: next, ConnectionID: sr.conn, Trigger: sr.trig, Kinds: sr.kinds}
	b, err := json.Marshal(rec)
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

// StartSync starts a sync of a connection now (Owner/Admin) and returns
// its job as started; 409 sync_running while one runs.
func (c *Client) StartSync(ctx context.Context, caller tenant.Caller, org, id string, in SyncInput) (*SyncJob, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return nil, err
	}
	if in.PageSize < 0 || in.PageSize > MaxSyncPageSize {
		return nil, errs.Invalid("page_size", "out_of_range", "page_size must be from 1 to %d", MaxSyncPageSize)
	}
	return c.startSync(ctx, org, id, "manual", in)
}

// CancelSync asks a running sync to stop after its current page
// (Owner/Admin). Its saved cursors keep what it did; the next sync resumes.
// Without a running sync it changes nothing.
func (c *Client) CancelSync(ctx context.Context, caller tenant.Caller, org, id string) (*SyncStatus, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return nil, err
	}
	_, err := c.env.updateConn(ctx, org, id, func(conn *Connection) error {
		if conn.Lease == nil || !conn.Lease.Until.After(c.env.now()) || conn.CancelRequested {
			return errSkipWrite
		}
		conn.CancelRequested = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c.syncStatus(ctx, org, id)
}

// SyncStatus is a connection's sync state: whether one runs, and its
// latest sync job with the progress per record kind (null before the
// first sync).
type SyncStatus struct {
	ConnectionID    string     `json:"connection_id"`
	Running         bool       `json:"running"`
	CancelRequested bool       `json:"cancel_requested"`
	NextSyncAt      *time.Time `json:"next_sync_at,omitempty"`
	Job             *SyncJob   `json:"job"`
}

// ConnectionSync reads the connection's sync state (Viewer and up).
func (c *Client) ConnectionSync(ctx context.Context, caller tenant.Caller, org, id string) (*SyncStatus, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	return c.syncStatus(ctx, org, id)
}

func (c *Client) syncStatus(ctx context.Context, org, id string) (*SyncStatus, error) {
	conn, _, err := c.env.loadConn(ctx, org, id)
	if err != nil {
		return nil, err
	}
	out := &SyncStatus{ConnectionID: id, Running: conn.Lease != nil && conn.Lease.Until.After(c.env.now()),
		CancelRequested: conn.CancelRequested, NextSyncAt: conn.NextSyncAt}
	if conn.LastSyncJob == "" {
		return out, nil
	}
	var j SyncJob
	if _, err := c.env.loadJSON(ctx, keyJob(org, conn.LastSyncJob), &j); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return out, nil // its lease was taken, the job record not yet written
		}
		return nil, storeErr(err)
	}
	if j.Kinds == nil {
		j.Kinds = []SyncKindProgress{}
	}
	out.Job = &j
	return out, nil
}

// startSync takes the connection's lease, records the job and runs it in
// the background.
func (c *Client) startSync(ctx context.Context, org, id, trigger string, in SyncInput) (*SyncJob, error) {
	env := c.env
	conn, _, err := env.loadConn(ctx, org, id)
	if err != nil {
		return nil, err
	}
	if conn.Status != ConnConnected && conn.Status != ConnError {
		return nil, errs.Conflict("connection_not_connected", "", "the connection is "+conn.Status+"; connect it first")
	}
	cn, info, err := c.connectorFor(ctx, conn.Provider)
	if err != nil {
		return nil, err
	}
	if !info.Has(connector.CapRead) {
		return nil, errs.Conflict("connector_unsupported", "", "the "+conn.Provider+" connector cannot read records")
	}
	var kinds []connector.Kind
	needsMapping := false
	for _, k := range syncKinds {
		for _, have := range info.Kinds {
			if k == have {
				kinds = append(kinds, k)
				if k != connector.KindActivities {
					needsMapping = true
				}
			}
		}
	}
	if len(kinds) == 0 {
		return nil, errs.Conflict("connector_unsupported", "", "the "+conn.Provider+" connector reads no record kind TrailSpark syncs")
	}
	if needsMapping && conn.Mapping == nil {
		return nil, errs.Conflict("mapping_required", "", "set the connection's field mapping before syncing")
	}
	if c.ingest == nil {
		return nil, errs.Unavailable("this node does not accept signals", nil)
	}
	jobID, err := credential.NewID(env.Rand, "job_")
	if err != nil {
		return nil, errs.Internal(err)
	}
	now := env.now()
	_, err = env.updateConn(ctx, org, id, func(x *Connection) error {
		if x.Lease != nil && x.Lease.Until.After(now) {
			return errs.Conflict("sync_running", "", "a sync of this connection is already running (job "+x.Lease.Job+")")
		}
		if x.Status != ConnConnected && x.Status != ConnError {
			return errs.Conflict("connection_not_connected", "", "the connection is "+x.Status+"; connect it first")
		}
		x.Lease = &syncLease{Job: jobID, Until: now.Add(SyncLeaseTTL)}
		x.CancelRequested = false
		x.LastSyncJob = jobID
		if in.FullResync {
			x.Cursors = map[string]string{}
		}
		if x.SyncIntervalMinutes > 0 {
			t := now.Add(time.Duration(x.SyncIntervalMinutes) * time.Minute)
			x.NextSyncAt = &t
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	run, err := startJobID(ctx, env, org, jobID, JobKindCRMSync)
	if err != nil {
		c.releaseLease(context.WithoutCancel(ctx), org, id, jobID, "failed", err)
		return nil, err
	}
	sr := &syncRun{run: run, conn: id, trig: trigger, kinds: []SyncKindProgress{}}
	for _, k := range kinds {
		sr.kinds = append(sr.kinds, SyncKindProgress{Kind: string(k)})
	}
	if err := sr.write(ctx, JobRunning, nil); err != nil {
		env.Log.Warn("crm sync: writing job", "org", org, "job", jobID, "error", err)
	}
	pageSize := in.PageSize
	if pageSize == 0 {
		pageSize = DefaultSyncPageSize
	}
	started := SyncJob{Job: run.Job(), ConnectionID: id, Trigger: trigger, Kinds: append([]SyncKindProgress(nil), sr.kinds...)}
	if err := c.jobs.launch(func(jctx context.Context) {
		c.runSync(jctx, org, id, cn, sr, kinds, pageSize)
	}); err != nil {
		_ = sr.write(context.WithoutCancel(ctx), JobFailed, jobErrorOf(err))
		c.releaseLease(context.WithoutCancel(ctx), org, id, jobID, "failed", err)
		return nil, err
	}
	env.Log.Info("crm sync started", "org", org, "connection", id, "job", jobID, "trigger", trigger)
	return &started, nil
}

// startJobID is startJob with a chosen id (the sync's lease names its job
// before the job record exists).
func startJobID(ctx context.Context, env *Env, org, id, kind string) (*JobRun, error) {
	now := env.now()
	r := &JobRun{env: env, org: org, job: Job{ID: id, Kind: kind, Status: JobRunning,
		JobProgress: JobProgress{Errors: []JobLineError{}}, StartedAt: now, UpdatedAt: now}}
	b, err := json.Marshal(r.job)
	if err != nil {
		return nil, errs.Internal(err)
	}
	vers, err := env.Store.SaveBatch(ctx, []store.Write{
		{Key: keyJob(org, id), Value: b, Expected: 0},
		{Key: keyJobIndex(org, now, id), Value: []byte(id), Expected: 0},
	})
	if err != nil {
		return nil, storeErr(err)
	}
	r.ver = vers[0]
	return r, nil
}

// releaseLease ends a sync on the connection: lease dropped (if still
// ours), last sync recorded.
func (c *Client) releaseLease(ctx context.Context, org, id, jobID, status string, cause error) {
	_, err := c.env.updateConn(ctx, org, id, func(x *Connection) error {
		if x.Lease != nil && x.Lease.Job == jobID {
			x.Lease = nil
			x.CancelRequested = false
		}
		if x.LastSyncJob == jobID {
			now := c.env.now()
			x.LastSyncAt, x.LastSyncStatus = &now, status
			if cause != nil {
				x.LastError = "sync failed: " + connErrText(cause)
				if connector.KindOf(cause) == connector.KindUnauthorized && x.Status == ConnConnected {
					x.Status = ConnError
				}
			} else if status == JobCompleted {
				x.LastError = ""
				if x.Status == ConnError {
					x.Status = ConnConnected
				}
			}
		}
		return nil
	})
	if err != nil {
		c.env.Log.Warn("crm sync: releasing the lease", "org", org, "connection", id, "job", jobID, "error", err)
	}
}

var (
	errLeaseLost     = errs.Conflict("sync_lease_lost", "", "another sync took over this connection")
	errSyncCancelled = errs.Conflict("sync_cancelled", "", "the sync was cancelled; the next sync resumes where it stopped")
	errDisconnected  = errs.Conflict("connection_disconnected", "", "the connection was disconnected; syncing stopped")
)

// runSync is the body of a sync job's goroutine.
func (c *Client) runSync(ctx context.Context, org, id string, cn *host.Conn, sr *syncRun, kinds []connector.Kind, pageSize int) {
	env := c.env
	jobID := sr.run.ID()
	err := c.syncKinds(ctx, org, id, cn, sr, kinds, pageSize)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	status := JobCompleted
	var werr error
	if err == nil {
		werr = sr.write(wctx, JobCompleted, nil)
	} else {
		status = JobFailed
		if errors.Is(err, context.Canceled) {
			err = errs.Unavailable("the node stopped while the sync ran; it resumes from its saved cursors", err)
		}
		env.Log.Warn("crm sync failed", "org", org, "connection", id, "job", jobID, "error", connErrText(err))
		ue := err
		if connector.KindOf(err) != connector.KindUnknown {
			ue = connectorErr(err)
		}
		werr = sr.write(wctx, JobFailed, jobErrorOf(ue))
	}
	if werr != nil {
		env.Log.Warn("crm sync: finishing job", "org", org, "job", jobID, "error", werr)
	}
	var cause error
	if err != nil && !errors.Is(err, errSyncCancelled) && !errors.Is(err, errDisconnected) {
		cause = err
	}
	c.releaseLease(wctx, org, id, jobID, status, cause)
	env.Log.Info("crm sync finished", "org", org, "connection", id, "job", jobID, "status", status)
}

func (c *Client) syncKinds(ctx context.Context, org, id string, cn *host.Conn, sr *syncRun, kinds []connector.Kind, pageSize int) error {
	env := c.env
	jobID := sr.run.ID()
	conn, _, err := env.loadConn(ctx, org, id)
	if err != nil {
		return err
	}
	for i, kind := range kinds {
		kp := &sr.kinds[i]
		cursor := conn.Cursors[string(kind)]
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			recs, res, err := c.readPage(ctx, org, conn, cn, kind, cursor, pageSize)
			if err != nil {
				return fmt.Errorf("read %s: %w", kind, err)
			}
			kp.Pages++
			kp.Read += len(recs)
			read := len(recs)
			recs = sr.usableRecords(func(msg string, args ...any) {
				env.Log.Warn(msg, append([]any{"org", org, "connection", id, "job", jobID}, args...)...)
			}, kind, recs, kp)
			if err := c.applyPage(ctx, org, conn, kind, recs, kp); err != nil {
				return fmt.Errorf("apply %s: %w", kind, err)
			}
			if res.NextCursor != "" {
				cursor = res.NextCursor
			}
			kp.Cursor = cursor
			// Save the cursor with the lease renewal: from here a crash
			// resumes after this page.
			var stop error
			updated, err := env.updateConn(ctx, org, id, func(x *Connection) error {
				if x.Lease == nil || x.Lease.Job != jobID {
					return errLeaseLost
				}
				if x.Cursors == nil {
					x.Cursors = map[string]string{}
				}
				x.Cursors[string(kind)] = cursor
				x.Lease.Until = env.now().Add(SyncLeaseTTL)
				switch {
				case x.Status == ConnDisconnected:
					stop = errDisconnected
				case x.CancelRequested:
					stop = errSyncCancelled
				}
				return nil
			})
			if err != nil {
				return err
			}
			conn.Cursors, conn.Status = updated.Cursors, updated.Status
			if err := sr.write(ctx, JobRunning, nil); err != nil {
				env.Log.Warn("crm sync: writing progress", "org", org, "job", jobID, "error", err)
			}
			if stop != nil {
				return stop
			}
			if !res.More || read == 0 {
				break
			}
		}
		kp.Done = true
	}
	return nil
}

// readPage reads one page, refreshing the token once on unauthorized and
// retrying retryable failures with backoff.
func (c *Client) readPage(ctx context.Context, org string, conn *Connection, cn *host.Conn, kind connector.Kind, cursor string, limit int) ([]connector.Record, connector.ReadResult, error) {
	var recs []connector.Record
	var res connector.ReadResult
	for attempt := 0; ; attempt++ {
		err := c.withConn(ctx, org, conn, cn, func(cfg connector.Config) error {
			recs = recs[:0]
			var e error
			res, e = cn.Read(ctx, cfg, connector.ReadRequest{Kind: kind, Cursor: cursor, Limit: limit}, func(r connector.Record) error {
				recs = append(recs, r)
				return nil
			})
			return e
		})
		if err == nil {
			return recs, res, nil
		}
		if !connector.IsRetryable(err) || attempt+1 >= syncReadAttempts || ctx.Err() != nil {
			return nil, res, err
		}
		d := time.Duration(1<<attempt) * time.Second
		if ra, ok := connector.RetryAfter(err); ok {
			d = ra
		}
		if d > time.Minute {
			return nil, res, err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, res, ctx.Err()
		case <-t.C:
		}
	}
}

// applyPage applies one page of records.
func (c *Client) applyPage(ctx context.Context, org string, conn *Connection, kind connector.Kind, recs []connector.Record, kp *SyncKindProgress) error {
	m := conn.Mapping
	if m == nil {
		m = &FieldMapping{}
	}
	switch kind {
	case connector.KindAccounts:
		for _, r := range recs {
			if r.Deleted {
				kp.Deleted++
				continue
			}
			f := decodeFields(r.Fields)
			in := accountFrom(f, m, false)
			changed, err := c.syncUpsertAccount(ctx, org, conn.ID, r.ID, in)
			if err != nil {
				return err
			}
			if changed {
				kp.Accounts++
			}
		}
	case connector.KindContacts, connector.KindLeads:
		return c.applyPeople(ctx, org, conn, kind, recs, m, kp)
	case connector.KindOpportunities:
		for _, r := range recs {
			changed, err := c.applyOpportunity(ctx, org, conn.ID, r, m)
			if err != nil {
				return err
			}
			if r.Deleted {
				kp.Deleted++
			}
			if changed {
				kp.Outcomes++
			}
		}
	case connector.KindActivities:
		return c.applyActivities(ctx, org, conn, recs, kp)
	}
	return nil
}

// syncDedupKey is the messageId of a record's signal: the same record at
// the same modification is the same signal, whichever sync reads it.
func syncDedupKey(conn string, kind connector.Kind, r connector.Record) string {
	mod := ""
	if !r.UpdatedAt.IsZero() {
		mod = fmt.Sprintf("%d", r.UpdatedAt.UnixMilli())
	} else {
		mod = shortHash(string(r.Fields))
	}
	id := r.ID
	if len(id) > 200 {
		id = shortHash(id)
	}
	return "crm:" + conn + ":" + string(kind) + ":" + id + ":" + mod
}

func (c *Client) applyPeople(ctx context.Context, org string, conn *Connection, kind connector.Kind, recs []connector.Record, m *FieldMapping, kp *SyncKindProgress) error {
	items := make([][]byte, 0, len(recs))
	var seen []seenMark
	now := c.env.now()
	for _, r := range recs {
		if r.Deleted {
			kp.Deleted++
			continue
		}
		mark, dup, err := c.env.seenBefore(ctx, org, conn.ID, kind, r)
		if err != nil {
			return err
		}
		if dup {
			kp.Duplicates++
			continue
		}
		f := decodeFields(r.Fields)
		email := strings.ToLower(strings.TrimSpace(mapped(f, m.Lead, "email", "")))
		if email == "" || validateEmail("email", email) != nil {
			kp.Skipped++
			continue
		}
		acctRef := mapped(f, m.Lead, "account_ref", "lead.account_ref")
		if kind == connector.KindLeads && acctRef == "" && !truthy(fieldString(f, "IsConverted")) && hasFallbacks(m) {
			// A Lead with company data of its own (Salesforce): its
			// account comes from the fallback fields, matched by domain.
			in := accountFrom(f, m, true)
			if in.Domain != "" {
				changed, err := c.syncUpsertAccount(ctx, org, conn.ID, "", in)
				if err != nil {
					return err
				}
				if changed {
					kp.Accounts++
				}
			}
		}
		traits := map[string]any{"email": email, "crm_id": r.ID, "crm_object": string(kind), "crm_connection": conn.ID, "crm_provider": conn.Provider}
		for _, t := range []string{"first_name", "last_name", "title", "company"} {
			if v := mapped(f, m.Lead, t, ""); v != "" {
				traits[t] = v
			}
		}
		sig := map[string]any{"type": "identify", "event": "crm_sync", "email": email, "crmId": r.ID,
			"messageId": mark.dedup, "traits": traits,
			"properties": map[string]any{"connection": conn.ID, "kind": string(kind), "provider": conn.Provider}}
		if acctRef != "" {
			sig["groupId"] = acctRef
		}
		ts := r.UpdatedAt
		if ts.IsZero() || ts.After(now) {
			ts = now
		}
		sig["timestamp"] = ts.UTC().Format(time.RFC3339Nano)
		b, err := json.Marshal(sig)
		if err != nil {
			return errs.Internal(err)
		}
		items = append(items, b)
		seen = append(seen, mark)
	}
	return c.acceptSignals(ctx, org, "crm", items, seen, kp)
}

// acceptSignals appends the signals of a page and marks their records as
// applied (seen[i] belongs to items[i]).
func (c *Client) acceptSignals(ctx context.Context, org, source string, items [][]byte, seen []seenMark, kp *SyncKindProgress) error {
	if len(items) == 0 {
		return nil
	}
	res, err := c.ingest.Accept(ctx, AcceptOptions{Org: org, ForcedSource: source, ReceivedAt: c.env.now()}, items)
	if err != nil {
		return err
	}
	for i, r := range res {
		switch {
		case r.Err != nil:
			kp.Skipped++
			continue
		case r.Duplicate:
			kp.Duplicates++
		default:
			kp.Signals++
		}
		if err := c.env.putIndex(ctx, seen[i].key, seen[i].dedup); err != nil {
			return storeErr(err)
		}
	}
	return nil
}

// seenMark remembers, per connection, kind and record, the dedup key of
// the last signal appended for it: the signal log's dedup window is a day,
// this makes a re-read (a full resync, a resume after a long outage)
// idempotent for good.
type seenMark struct {
	key   []byte
	dedup string
}

func keyConnSeen(org, conn string, kind connector.Kind, id string) []byte {
	return store.TenantKey(org, "connseen", conn, string(kind), url.PathEscape(id))
}

func keyConnSeenBase(org, conn string) []byte { return store.TenantKey(org, "connseen", conn) }

func (e *Env) seenBefore(ctx context.Context, org, conn string, kind connector.Kind, r connector.Record) (seenMark, bool, error) {
	m := seenMark{key: keyConnSeen(org, conn, kind, r.ID), dedup: syncDedupKey(conn, kind, r)}
	b, _, err := e.Store.Load(ctx, m.key)
	switch {
	case err == nil:
		return m, string(b) == m.dedup, nil
	case errors.Is(err, store.ErrNotFound):
		return m, false, nil
	}
	return m, false, storeErr(err)
}

// applyActivities turns activity records (Marketo) into track signals
// under the connector's own source, so its mapping rules apply.
func (c *Client) applyActivities(ctx context.Context, org string, conn *Connection, recs []connector.Record, kp *SyncKindProgress) error {
	items := make([][]byte, 0, len(recs))
	var seen []seenMark
	for _, r := range recs {
		if r.Deleted {
			kp.Deleted++
			continue
		}
		mark, dup, err := c.env.seenBefore(ctx, org, conn.ID, connector.KindActivities, r)
		if err != nil {
			return err
		}
		if dup {
			kp.Duplicates++
			continue
		}
		f := decodeFields(r.Fields)
		email := strings.ToLower(fieldString(f, "email"))
		event := firstField(f, "activityType", "event", "type")
		if event == "" {
			event = "activity"
		}
		props := map[string]any{}
		if a, ok := f["attributes"].(map[string]any); ok {
			for k, v := range a {
				props[k] = v
			}
		}
		if v := fieldString(f, "primaryAttributeValue"); v != "" {
			props["primary"] = v
		}
		props["connection"] = conn.ID
		sig := map[string]any{"type": "track", "event": event, "messageId": mark.dedup, "properties": props}
		if email != "" {
			sig["email"] = email
		}
		if lid := fieldString(f, "leadId"); lid != "" {
			sig["mktLeadId"] = lid
		}
		if !r.UpdatedAt.IsZero() {
			sig["timestamp"] = r.UpdatedAt.UTC().Format(time.RFC3339Nano)
		}
		b, err := json.Marshal(sig)
		if err != nil {
			return errs.Internal(err)
		}
		items = append(items, b)
		seen = append(seen, mark)
	}
	source := conn.Provider
	if len(source) > 32 {
		source = "crm"
	}
	return c.acceptSignals(ctx, org, source, items, seen, kp)
}

// --- the scheduler

// startSyncScheduler runs the loop that starts due scheduled syncs, in the
// Client's job registry (Close stops it).
func (c *Client) startSyncScheduler() {
	_ = c.jobs.launch(func(ctx context.Context) {
		t := time.NewTicker(SyncSchedulerTick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.runScheduledSyncs(ctx)
			}
		}
	})
}

// runScheduledSyncs starts every connection whose next sync is due. The
// lease (compare-and-set on the connection) makes a sync start once even
// when every node's scheduler sees it due.
func (c *Client) runScheduledSyncs(ctx context.Context) {
	env := c.env
	now := env.now()
	type due struct{ org, id string }
	var list []due
	base := keyConnSchedBase()
	err := env.Store.Scan(ctx, base, nil, func(it store.Item) error {
		org, id, ok := strings.Cut(string(it.Key[len(base):]), "/")
		if !ok {
			return nil
		}
		at, err := time.Parse(time.RFC3339Nano, string(it.Value))
		if err == nil && at.After(now) {
			return nil
		}
		list = append(list, due{org, id})
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			env.Log.Warn("sync scheduler: scanning", "error", err)
		}
		return
	}
	for _, d := range list {
		if ctx.Err() != nil {
			return
		}
		conn, _, err := env.loadConn(ctx, d.org, d.id)
		if err != nil {
			if errs.As(err).Kind == errs.KindNotFound {
				_ = env.deleteIndex(ctx, keyConnSched(d.org, d.id)) // the org or connection is gone
			}
			continue
		}
		if conn.Status != ConnConnected || conn.SyncIntervalMinutes == 0 || (conn.NextSyncAt != nil && conn.NextSyncAt.After(now)) {
			_ = env.syncSchedIndex(ctx, d.org, nil, conn)
			continue
		}
		if _, err := c.startSync(ctx, d.org, d.id, "schedule", SyncInput{}); err != nil {
			e := errs.As(err)
			if e.Code != "sync_running" {
				env.Log.Warn("sync scheduler: starting a sync", "org", d.org, "connection", d.id, "error", e.Message)
				// Try again at the next interval, not at every tick.
				_, _ = env.updateConn(ctx, d.org, d.id, func(x *Connection) error {
					if x.SyncIntervalMinutes == 0 {
						return errSkipWrite
					}
					t := env.now().Add(time.Duration(x.SyncIntervalMinutes) * time.Minute)
					x.NextSyncAt, x.LastError = &t, "scheduled sync could not start: "+e.Message
					return nil
				})
			}
		}
	}
	c.sweepOAuthStates(ctx)
}
