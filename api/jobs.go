package api

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
)

// Jobs (actors/jobs.go): long-running work such as bulk signal imports,
// readable by every member (Viewer and up) while it runs and after.

// jobPath is where a job can be read.
func jobPath(org, id string) string { return "/api/v1/orgs/" + org + "/jobs/" + id }

// getJob serves GET /api/v1/orgs/:org/jobs/:id.
func (s *Server) getJob(c *gin.Context) {
	v, err := s.client.Job(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

// listJobs serves GET /api/v1/orgs/:org/jobs: newest first, paged with
// ?limit= and ?cursor=.
func (s *Server) listJobs(c *gin.Context) {
	after, limit, err := pageParams(c)
	if err != nil {
		fail(c, err)
		return
	}
	items, next, err := s.client.Jobs(c.Request.Context(), caller(c), c.Param("org"), after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[actors.Job]{Items: items, NextCursor: next})
}

// ---- bulk imports as jobs
//
// Each bulk import (ingest.go) is a job of kind signal_import, created once
// its key is authenticated; the answer names it (job_id, and the Location
// header). Its progress — accepted, rejected, duplicates, bytes_read (bytes
// taken from the body so far, read-ahead included) and the first 100 line
// errors — is written after every appended chunk of up to 500 signals, so
// another connection can poll it (GET …/jobs, newest first, finds a running
// import) while the upload runs. It ends completed, or failed with the error
// when the request breaks off (the body cannot be read: the client
// disconnected, a timeout; or storage failed): the chunks appended before
// stay stored and counted, the signals of an unfinished chunk are not
// stored. A node crash leaves the job running with its last progress.

// jobProgress writes a running import's progress. The job is a report: a
// failed write does not fail the import (the next chunk writes again).
func (s *Server) jobProgress(ctx context.Context, job *actors.JobRun, sum *bulkSummary, bytesRead int64) {
	if err := job.Update(ctx, progressOf(sum, bytesRead)); err != nil {
		s.log.Warn("bulk import: writing job progress", "job", job.ID(), "error", err)
	}
}

// endJob ends an import's job: completed when err is nil, else failed with
// err. It writes even after the request's context ended (a client that
// went away).
func (s *Server) endJob(ctx context.Context, job *actors.JobRun, sum *bulkSummary, bytesRead int64, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	p := progressOf(sum, bytesRead)
	var werr error
	if err == nil {
		werr = job.Complete(ctx, p)
	} else {
		werr = job.Fail(ctx, p, err)
	}
	if werr != nil {
		s.log.Warn("bulk import: finishing job", "job", job.ID(), "error", werr)
	}
}

func progressOf(sum *bulkSummary, bytesRead int64) actors.JobProgress {
	p := actors.JobProgress{Accepted: sum.Accepted, Rejected: sum.Rejected, Duplicates: sum.Duplicates,
		BytesRead: bytesRead, Errors: make([]actors.JobLineError, len(sum.Errors))}
	for i, e := range sum.Errors {
		p.Errors[i] = actors.JobLineError{Line: e.Line, Error: actors.JobError(e.Error)}
	}
	return p
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
