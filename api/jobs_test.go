package api_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/api"
	"github.com/trailspark/trailspark/api/apitest"
)

// Bulk imports as jobs (api/jobs.go, actors/jobs.go) and the ingestion rate
// limits (api/ratelimit.go) against a real node. These start nodes: run
// them without -race (the limiter's own unit tests are TestRateLimiter*).

type jobLineError struct {
	Line  int       `json:"line"`
	Error errDetail `json:"error"`
}

type jobView struct {
	ID         string         `json:"id"`
	Kind       string         `json:"kind"`
	Status     string         `json:"status"`
	KeyID      string         `json:"key_id"`
	Accepted   int            `json:"accepted"`
	Rejected   int            `json:"rejected"`
	Duplicates int            `json:"duplicates"`
	BytesRead  int64          `json:"bytes_read"`
	Errors     []jobLineError `json:"errors"`
	StartedAt  time.Time      `json:"started_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	FinishedAt *time.Time     `json:"finished_at"`
	Error      *errDetail     `json:"error"`
}

// jobImport is a bulk import's answer.
type jobImport struct {
	Accepted   int            `json:"accepted"`
	Rejected   int            `json:"rejected"`
	Duplicates int            `json:"duplicates"`
	Errors     []jobLineError `json:"errors"`
	JobID      string         `json:"job_id"`
}

// jobLines builds NDJSON lines from..to (1-based), each a distinct valid
// signal unless bad says otherwise.
func jobLines(prefix string, from, to int, bad map[int]string) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		if s, ok := bad[i]; ok {
			b.WriteString(s)
		} else {
			fmt.Fprintf(&b, `{"type":"track","event":"Imported","messageId":"%s-%d","email":"p%d@%s.example"}`, prefix, i, i%50, prefix)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (e *tenv) getJob(o *ingestOrg, token, id string) jobView {
	e.t.Helper()
	var j jobView
	e.ok(e.do("GET", o.base+"/jobs/"+id, token, nil), http.StatusOK, &j)
	return j
}

func (e *tenv) listJobs(o *ingestOrg, query string) list[jobView] {
	e.t.Helper()
	var l list[jobView]
	e.ok(e.do("GET", o.base+"/jobs"+query, o.owner.Token, nil), http.StatusOK, &l)
	return l
}

// waitJob polls the newest job until ok accepts it.
func (e *tenv) waitJob(o *ingestOrg, what string, ok func(jobView) bool) jobView {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last []jobView
	for time.Now().Before(deadline) {
		last = e.listJobs(o, "?limit=1").Items
		if len(last) == 1 && ok(last[0]) {
			return last[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("no job is %s; newest: %+v", what, last)
	return jobView{}
}

// upload streams a bulk import through a pipe: the test writes the body
// while the server imports it.
type upload struct {
	pw   *io.PipeWriter
	done chan uploadResult
}

type uploadResult struct {
	status int
	body   []byte
	err    error
}

func (e *tenv) startUpload(key string) *upload {
	e.t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", e.n.URL+bulkPath+key, pr)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	u := &upload{pw: pw, done: make(chan uploadResult, 1)}
	e.t.Cleanup(func() { _ = pw.CloseWithError(errors.New("test ended")) }) // never leave the server waiting
	go func() {
		res, err := e.http.Do(req)
		if err != nil {
			u.done <- uploadResult{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		u.done <- uploadResult{status: res.StatusCode, body: b, err: err}
	}()
	return u
}

func (u *upload) write(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(u.pw, s); err != nil {
		t.Fatalf("write to the upload: %v", err)
	}
}

func (u *upload) result(t *testing.T) uploadResult {
	t.Helper()
	select {
	case r := <-u.done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("the upload did not finish")
	}
	return uploadResult{}
}

// A 3,000-line import is a job that ends completed with exact counts,
// readable by members only.
func TestJobBulkImport(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Jobs")
	start := e.n.Clock.Now()
	body := jobLines("imp", 1, 3000, map[int]string{
		1234: `{"email":"broken@imp.example",`,                          // malformed
		2000: `{"type":"bogus","email":"x@imp.example"}`,                // invalid
		2500: `{"messageId":"imp-10","email":"again@imp.example"}`,      // duplicate of line 10 (another chunk)
		2999: `{"messageId":"imp-2998","email":"again@imp.example"}`,    // duplicate of line 2998 (same chunk)
		3000: `{"type":"track","event":"Last","email":"z@imp.example"}`, // no messageId
	})

	r := e.do("POST", bulkPath+o.key, "", rawBody(body), withHeader("Content-Type", "application/x-ndjson"), chunked())
	var sum jobImport
	e.ok(r, http.StatusOK, &sum)
	if sum.Accepted != 2996 || sum.Rejected != 2 || sum.Duplicates != 2 {
		t.Errorf("summary %+v, want 2996 accepted, 2 rejected, 2 duplicates", sum)
	}
	if !strings.HasPrefix(sum.JobID, "job_") {
		t.Fatalf("job_id %q", sum.JobID)
	}
	if loc := r.Header.Get("Location"); loc != o.base+"/jobs/"+sum.JobID {
		t.Errorf("Location %q, want %s/jobs/%s", loc, o.base, sum.JobID)
	}

	j := e.getJob(o, o.owner.Token, sum.JobID)
	if j.ID != sum.JobID || j.Kind != "signal_import" || j.Status != "completed" || !strings.HasPrefix(j.KeyID, "key_") {
		t.Errorf("job %+v", j)
	}
	if j.Accepted != 2996 || j.Rejected != 2 || j.Duplicates != 2 || j.BytesRead != int64(len(body)) {
		t.Errorf("job counts %d/%d/%d, %d bytes; want 2996/2/2, %d bytes", j.Accepted, j.Rejected, j.Duplicates, j.BytesRead, len(body))
	}
	if len(j.Errors) != 2 || j.Errors[0].Line != 1234 || j.Errors[0].Error.Code != "malformed_json" ||
		j.Errors[1].Line != 2000 || j.Errors[1].Error.Field != "type" {
		t.Errorf("job errors %+v", j.Errors)
	}
	if !j.StartedAt.Equal(start) || j.FinishedAt == nil || !j.FinishedAt.Equal(start) || j.Error != nil {
		t.Errorf("job times/error: started %v finished %v error %+v (clock %v)", j.StartedAt, j.FinishedAt, j.Error, start)
	}

	t.Run("members read it, nobody else", func(t *testing.T) {
		e := e.at(t)
		viewer := e.user("viewer")
		e.join(o.org.ID, o.owner.Token, viewer, "viewer")
		if got := e.getJob(o, viewer.Token, sum.JobID); got.Status != "completed" {
			t.Errorf("viewer sees %+v", got)
		}
		other := e.ingestOrg("Other")
		e.fails(e.do("GET", o.base+"/jobs/"+sum.JobID, other.owner.Token, nil), 404, "organization_not_found", "")
		e.fails(e.do("GET", other.base+"/jobs/"+sum.JobID, other.owner.Token, nil), 404, "job_not_found", "")
		e.fails(e.do("GET", o.base+"/jobs/job_nope", o.owner.Token, nil), 404, "job_not_found", "")
		e.fails(e.do("GET", o.base+"/jobs/"+sum.JobID, o.key, nil), 401, "invalid_token", "")
		if l := e.listJobs(other, ""); len(l.Items) != 0 {
			t.Errorf("another organization lists %d jobs", len(l.Items))
		}
	})

	t.Run("listed newest first, paged", func(t *testing.T) {
		e := e.at(t)
		ids := []string{sum.JobID}
		for i := 0; i < 2; i++ {
			e.n.Clock.Advance(time.Minute)
			var s jobImport
			e.ok(e.do("POST", bulkPath+o.key, "", rawBody(jobLines(fmt.Sprintf("more%d", i), 1, 3, nil))), http.StatusOK, &s)
			ids = append(ids, s.JobID)
		}
		p1 := e.listJobs(o, "?limit=2")
		if len(p1.Items) != 2 || p1.Items[0].ID != ids[2] || p1.Items[1].ID != ids[1] || p1.NextCursor == "" {
			t.Fatalf("page 1 %+v, want %s, %s and a cursor", p1, ids[2], ids[1])
		}
		if p1.Items[0].Accepted != 3 || p1.Items[0].Status != "completed" {
			t.Errorf("newest job %+v", p1.Items[0])
		}
		p2 := e.listJobs(o, "?limit=2&cursor="+p1.NextCursor)
		if len(p2.Items) != 1 || p2.Items[0].ID != ids[0] || p2.NextCursor != "" {
			t.Fatalf("page 2 %+v, want %s and no cursor", p2, ids[0])
		}
		e.fails(e.do("GET", o.base+"/jobs?limit=500", o.owner.Token, nil), 400, "out_of_range", "limit")
	})

	t.Run("an empty import is a completed job", func(t *testing.T) {
		e := e.at(t)
		var s jobImport
		e.ok(e.do("POST", bulkPath+o.key, "", rawBody("")), http.StatusOK, &s)
		j := e.getJob(o, o.owner.Token, s.JobID)
		if j.Status != "completed" || j.Accepted+j.Rejected+j.Duplicates != 0 || j.Errors == nil {
			t.Errorf("job %+v", j)
		}
	})

	t.Run("refused before it starts: no job", func(t *testing.T) {
		e := e.at(t)
		before := len(e.listJobs(o, "?limit=200").Items)
		e.fails(e.do("POST", bulkPath+"sk_not_a_key", "", rawBody(body)), 401, "key_invalid", "")
		e.fails(e.do("POST", bulkPath+o.key, "", rawBody(body), withHeader("X-Source", "bad source")), 400, "invalid_format", "X-Source")
		if after := len(e.listJobs(o, "?limit=200").Items); after != before {
			t.Errorf("%d jobs before, %d after refused imports", before, after)
		}
	})
}

// Another connection sees a running import's counts grow chunk by chunk.
func TestJobPolledMidUpload(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Slow upload")
	up := e.startUpload(o.key)

	up.write(t, jobLines("slow", 1, 500, nil))
	j1 := e.waitJob(o, "running with 500 accepted", func(j jobView) bool { return j.Status == "running" && j.Accepted == 500 })
	if j1.FinishedAt != nil || j1.BytesRead <= 0 {
		t.Errorf("running job %+v", j1)
	}

	up.write(t, jobLines("slow", 501, 1200, map[int]string{777: "not json"}))
	// The second chunk fills at line 1001 (line 777 is refused): 1,000 accepted.
	j2 := e.waitJob(o, "running with 1000 accepted", func(j jobView) bool { return j.Status == "running" && j.Accepted == 1000 })
	if j2.ID != j1.ID || j2.Rejected != 1 || j2.BytesRead <= j1.BytesRead || len(j2.Errors) != 1 || j2.Errors[0].Line != 777 {
		t.Errorf("job after 1,000 lines %+v (before: %+v)", j2, j1)
	}

	if err := up.pw.Close(); err != nil {
		t.Fatal(err)
	}
	res := up.result(t)
	if res.err != nil || res.status != http.StatusOK {
		t.Fatalf("upload answered %d %s (%v)", res.status, res.body, res.err)
	}
	j3 := e.getJob(o, o.owner.Token, j1.ID)
	if j3.Status != "completed" || j3.Accepted != 1199 || j3.Rejected != 1 || j3.FinishedAt == nil {
		t.Errorf("finished job %+v", j3)
	}
}

// An upload that breaks off ends its job failed, with what was stored.
func TestJobFailsWhenUploadBreaks(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Broken upload")
	up := e.startUpload(o.key)
	up.write(t, jobLines("brk", 1, 600, nil))
	running := e.waitJob(o, "running with 500 accepted", func(j jobView) bool { return j.Status == "running" && j.Accepted == 500 })

	up.pw.CloseWithError(errors.New("the client gave up"))
	if res := up.result(t); res.err == nil && res.status == http.StatusOK {
		t.Fatalf("a broken upload answered 200: %s", res.body)
	}
	j := e.waitJob(o, "failed", func(j jobView) bool { return j.Status != "running" })
	if j.ID != running.ID || j.Status != "failed" || j.Accepted != 500 || j.FinishedAt == nil || j.Error == nil || j.Error.Message == "" {
		t.Errorf("job %+v, want failed with 500 accepted and an error", j)
	}
	// The 100 signals of the unfinished chunk were not stored. (Counted once
	// processed: the stats of signals in flight may count some twice.)
	if n := e.settle(o, 20*time.Second).total(); n != 500 {
		t.Errorf("%d signals stored, want 500", n)
	}
}

// ---- rate limits through a real node

// limited asserts a 429 rate_limited answer with Retry-After whose message
// says each of says.
func (e *tenv) limited(r resp, retryAfter string, says ...string) {
	e.t.Helper()
	e.fails(r, http.StatusTooManyRequests, "rate_limited", "")
	if got := r.Header.Get("Retry-After"); got != retryAfter {
		e.t.Errorf("%s: Retry-After %q, want %q", r, got, retryAfter)
	}
	for _, s := range says {
		if !strings.Contains(string(r.Body), s) {
			e.t.Errorf("%s: the message does not say %q", r, s)
		}
	}
}

func TestIngestRateLimitPerKey(t *testing.T) {
	e := newEnv(t, apitest.Options{IngestLimits: api.IngestLimits{KeyRate: 2, KeyBurst: 3}})
	o := e.ingestOrg("Key limited")
	sig := func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("k%d@limited.example", i), "messageId": fmt.Sprintf("kl-%d", i)}
	}
	for i := 0; i < 3; i++ {
		e.ingest(o.key, sig(i))
	}
	e.limited(e.hook(o.key, sig(3)), "1", "this API key", "2 signals/s (burst 3)")
	// A batch counts its signals: 2 tokens at 2/s is 1 s away.
	e.limited(e.do("POST", hookPath+o.key+"/batch", "", []any{sig(4), sig(5)}), "1", "this API key")
	// The bearer form and another key of the organization.
	e.limited(e.do("POST", "/api/signal-staging/webhook", o.key, sig(6)), "1", "this API key")
	other := e.key(o.org.ID, o.owner.Token, nil)
	e.ingest(other.Key, sig(7))

	// Recovery: one second later two signals fit, a third does not.
	e.n.Clock.Advance(time.Second)
	if b := e.batch(hookPath+o.key+"/batch", []any{sig(8), sig(9)}); b.Accepted != 2 {
		t.Errorf("batch after the wait: %+v", b)
	}
	e.limited(e.hook(o.key, sig(10)), "1", "this API key")
	e.n.Clock.Advance(500 * time.Millisecond)
	e.ingest(o.key, sig(11))

	// Refused requests stored nothing.
	if n := e.settle(o, 20*time.Second).total(); n != 3+1+2+1 {
		t.Errorf("%d signals stored, want 7", n)
	}
}

func TestIngestRateLimitPerOrg(t *testing.T) {
	e := newEnv(t, apitest.Options{IngestLimits: api.IngestLimits{KeyRate: 100, KeyBurst: 100, OrgRate: 1, OrgBurst: 4}})
	o := e.ingestOrg("Org limited")
	k2 := e.key(o.org.ID, o.owner.Token, nil).Key
	sig := func(i int) map[string]any { return map[string]any{"email": fmt.Sprintf("o%d@limited.example", i)} }
	e.ingest(o.key, sig(1))
	e.ingest(o.key, sig(2))
	e.ingest(k2, sig(3))
	e.ingest(k2, sig(4))
	e.limited(e.hook(k2, sig(5)), "1", "this organization", "1 signals/s (burst 4)")
	e.limited(e.hook(o.key, sig(6)), "1", "this organization")
	// A batch of 3 is 3 s away.
	e.limited(e.do("POST", hookPath+o.key+"/batch", "", []any{sig(7), sig(8), sig(9)}), "3", "this organization")
	// Other organizations have their own bucket.
	o2 := e.ingestOrg("Unaffected")
	e.ingest(o2.key, sig(10))

	e.n.Clock.Advance(time.Second)
	e.ingest(k2, sig(11))
	e.limited(e.hook(o.key, sig(12)), "1", "this organization")
	e.n.Clock.Advance(3 * time.Second)
	if b := e.batch(hookPath+o.key+"/batch", []any{sig(7), sig(8), sig(9)}); b.Accepted != 3 {
		t.Errorf("batch after the wait: %+v", b)
	}
}

// A bulk import is throttled, not refused: each chunk waits for its tokens
// (on the node's clock), and the job shows the progress so far.
func TestIngestRateLimitBulkThrottled(t *testing.T) {
	e := newEnv(t, apitest.Options{IngestLimits: api.IngestLimits{KeyRate: 500, KeyBurst: 500}})
	o := e.ingestOrg("Throttled import")
	up := e.startUpload(o.key)
	go func() {
		_, _ = io.WriteString(up.pw, jobLines("thr", 1, 1500, nil))
		_ = up.pw.Close()
	}()

	j := e.waitJob(o, "running with 500 accepted", func(j jobView) bool { return j.Status == "running" && j.Accepted == 500 })
	time.Sleep(300 * time.Millisecond) // the clock stands still: so does the import
	if j2 := e.getJob(o, o.owner.Token, j.ID); j2.Accepted != 500 || j2.Status != "running" {
		t.Fatalf("the import went on without tokens: %+v", j2)
	}
	// Webhooks of the key see the import's debt.
	r := e.hook(o.key, map[string]any{"email": "live@thr.example"})
	e.fails(r, http.StatusTooManyRequests, "rate_limited", "")

	e.n.Clock.Advance(time.Second)
	e.waitJob(o, "running with 1000 accepted", func(j jobView) bool { return j.Accepted == 1000 })
	e.n.Clock.Advance(time.Second)
	res := up.result(t)
	if res.err != nil || res.status != http.StatusOK || !strings.Contains(string(res.body), `"accepted":1500`) {
		t.Fatalf("import answered %d %s (%v)", res.status, res.body, res.err)
	}
	if j := e.getJob(o, o.owner.Token, j.ID); j.Status != "completed" || j.Accepted != 1500 {
		t.Errorf("job %+v", j)
	}
}
