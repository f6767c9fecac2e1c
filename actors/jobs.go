package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// Jobs are long-running pieces of work an organization can watch: today,
// bulk signal imports. A job is one record, o/{org}/job/{id}, written
// through with compare-and-set by the one request that runs it (a small
// write per chunk of work: the bulk import writes after every 500 signals),
// plus an index entry o/{org}/jobt/{inverted start time}-{id} for listing
// newest first. Readers (Viewer and up) may poll it from any connection
// while the work runs.
//
// A job ends "completed", or "failed" with the error when its request broke
// off (the client disconnected, storage failed). A node that crashes or is
// killed mid-job leaves it "running" with the progress of its last write:
// nothing resumes it or marks it failed (updated_at tells how stale it is).
// Jobs are kept until the organization is deleted.

// Job kinds and statuses.
const (
	JobKindSignalImport = "signal_import"

	JobRunning   = "running"
	JobCompleted = "completed"
	JobFailed    = "failed"
)

// maxJobErrors bounds the line errors a job keeps (the first ones).
const maxJobErrors = 100

// JobError is an error as the API shows it.
type JobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// JobLineError is a refused input line (NDJSON line or array element, 1-based).
type JobLineError struct {
	Line  int      `json:"line"`
	Error JobError `json:"error"`
}

// JobProgress is what a job has done so far.
type JobProgress struct {
	Accepted   int   `json:"accepted"`
	Rejected   int   `json:"rejected"`
	Duplicates int   `json:"duplicates"`
	BytesRead  int64 `json:"bytes_read"`
	// Errors are the first 100 refused lines.
	Errors []JobLineError `json:"errors"`
	// Reprocess jobs (signal_reprocess) count signals instead; see
	// ReprocessProgress, which writes these same fields.
	Scanned   int `json:"scanned,omitempty"`
	Processed int `json:"processed,omitempty"`
	Changed   int `json:"changed,omitempty"`
}

// Job is a job's record.
type Job struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Status string `json:"status"`
	// KeyID is the API key that started the job, for jobs started by one.
	KeyID string `json:"key_id,omitempty"`
	JobProgress
	StartedAt  time.Time  `json:"started_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Error is why a failed job stopped.
	Error *JobError `json:"error,omitempty"`
}

func keyJob(org, id string) []byte { return store.TenantKey(org, "job", id) }

// keyJobIndex orders an organization's jobs newest first.
func keyJobIndex(org string, started time.Time, id string) []byte {
	return store.TenantKey(org, "jobt", fmt.Sprintf("%020d-%s", uint64(math.MaxInt64-started.UnixNano()), id))
}

func keyJobIndexBase(org string) []byte { return store.TenantKey(org, "jobt") }

// JobRun is the write side of one running job, held by the request that
// runs it (not safe for concurrent use).
type JobRun struct {
	env *Env
	org string
	job Job
	ver store.Version
}

// StartJob records a new running job of kind for org. It checks no
// caller: the API has authenticated the request that runs the job (keyID is
// the API key that did, when one did).
func (c *Client) StartJob(ctx context.Context, org, kind, keyID string) (*JobRun, error) {
	return startJob(ctx, c.env, org, kind, keyID)
}

func startJob(ctx context.Context, env *Env, org, kind, keyID string) (*JobRun, error) {
	if !credential.ValidID(org, "org_") {
		return nil, errs.NotFound("organization")
	}
	id, err := credential.NewID(env.Rand, "job_")
	if err != nil {
		return nil, errs.Internal(err)
	}
	now := env.now()
	r := &JobRun{env: env, org: org, job: Job{ID: id, Kind: kind, Status: JobRunning, KeyID: keyID,
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

// ID is the job's id.
func (r *JobRun) ID() string { return r.job.ID }

// Job is the job as last written.
func (r *JobRun) Job() Job { return r.job }

// Update writes the progress of the running job.
func (r *JobRun) Update(ctx context.Context, p JobProgress) error {
	return r.write(ctx, p, JobRunning, nil)
}

// Complete ends the job as completed with its final progress.
func (r *JobRun) Complete(ctx context.Context, p JobProgress) error {
	return r.write(ctx, p, JobCompleted, nil)
}

// Fail ends the job as failed with the error that stopped it (shown as the
// API would show it; internal causes are not).
func (r *JobRun) Fail(ctx context.Context, p JobProgress, cause error) error {
	e := errs.As(cause)
	if e == nil {
		e = errs.Internal(errors.New("job failed without an error"))
	}
	return r.write(ctx, p, JobFailed, &JobError{Code: e.Code, Message: e.Message, Field: e.Field})
}

// write saves the job with compare-and-set on the version this run wrote
// last: the run is the job's only writer, so a conflict means something
// else changed the record, and the write is refused rather than lost.
func (r *JobRun) write(ctx context.Context, p JobProgress, status string, jobErr *JobError) error {
	if r.job.Status != JobRunning {
		return errs.Conflict("job_finished", "", "the job has already finished")
	}
	next := r.job
	next.JobProgress = p
	if len(p.Errors) > maxJobErrors {
		next.Errors = p.Errors[:maxJobErrors]
	}
	// A copy (never nil): the caller keeps appending to its slice.
	next.Errors = append(make([]JobLineError, 0, len(next.Errors)), next.Errors...)
	next.Status, next.Error = status, jobErr
	next.UpdatedAt = r.env.now()
	if status != JobRunning {
		t := next.UpdatedAt
		next.FinishedAt = &t
	}
	b, err := json.Marshal(next)
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

// Job reads one job (Viewer and up).
func (c *Client) Job(ctx context.Context, caller tenant.Caller, org, id string) (*Job, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	return loadJob(ctx, c.env, org, id)
}

func loadJob(ctx context.Context, env *Env, org, id string) (*Job, error) {
	if !credential.ValidID(id, "job_") {
		return nil, errs.NotFound("job")
	}
	var j Job
	if _, err := env.loadJSON(ctx, keyJob(org, id), &j); err != nil {
		return nil, notFoundIf(err, "job")
	}
	return &j, nil
}

// Jobs pages through an organization's jobs, newest first (Viewer and up).
// The cursor is opaque: the next_cursor of the previous page.
func (c *Client) Jobs(ctx context.Context, caller tenant.Caller, org, after string, limit int) ([]Job, string, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, "", err
	}
	return listJobs(ctx, c.env, org, after, limit)
}

func listJobs(ctx context.Context, env *Env, org, after string, limit int) ([]Job, string, error) {
	return listIndexed(ctx, env, keyJobIndexBase(org), after, limit, func(id string) (*Job, error) {
		return loadJob(ctx, env, org, id)
	})
}
