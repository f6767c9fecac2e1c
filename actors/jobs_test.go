package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/trailspark/trailspark/engine/clocktest"
	"sync"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

func jobEnv(t *testing.T) (*Env, *clocktest.Clock) {
	t.Helper()
	env := testEnv(t)
	clk := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	env.Clock = clk.Now
	return env, clk
}

const (
	jobOrgA = "org_0000000000000000jbsa"
	jobOrgB = "org_0000000000000000jbsb"
)

func wantKind(t *testing.T, err error, kind errs.Kind, code string) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != kind || e.Code != code {
		t.Fatalf("got %v, want %s %s", err, kind, code)
	}
}

func TestJobLifecycle(t *testing.T) {
	env, clk := jobEnv(t)
	ctx := context.Background()
	start := clk.Now()
	run, err := startJob(ctx, env, jobOrgA, JobKindSignalImport, "key_1")
	if err != nil {
		t.Fatal(err)
	}
	j, err := loadJob(ctx, env, jobOrgA, run.ID())
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != JobRunning || j.Kind != JobKindSignalImport || j.KeyID != "key_1" || !j.StartedAt.Equal(start) ||
		j.FinishedAt != nil || j.Errors == nil || j.Accepted != 0 {
		t.Fatalf("new job %+v", j)
	}

	// Progress is written through; the caller's slice is copied.
	clk.Advance(time.Second)
	p := JobProgress{Accepted: 500, Rejected: 1, BytesRead: 4096, Errors: []JobLineError{{Line: 7, Error: JobError{Code: "malformed_json", Message: "bad"}}}}
	if err := run.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Errors[0].Line = 99
	if j, _ = loadJob(ctx, env, jobOrgA, run.ID()); j.Accepted != 500 || j.BytesRead != 4096 || j.Status != JobRunning ||
		len(j.Errors) != 1 || j.Errors[0].Line != 7 || !j.UpdatedAt.Equal(start.Add(time.Second)) {
		t.Fatalf("after update %+v", j)
	}
	if run.Job().Errors[0].Line != 7 {
		t.Errorf("the run's copy changed with the caller's slice")
	}

	// At most 100 errors are kept.
	many := JobProgress{Accepted: 900, Rejected: 150}
	for i := 0; i < 150; i++ {
		many.Errors = append(many.Errors, JobLineError{Line: i + 1, Error: JobError{Code: "x", Message: "x"}})
	}
	clk.Advance(time.Second)
	if err := run.Complete(ctx, many); err != nil {
		t.Fatal(err)
	}
	j, _ = loadJob(ctx, env, jobOrgA, run.ID())
	if j.Status != JobCompleted || len(j.Errors) != 100 || j.Errors[99].Line != 100 || j.FinishedAt == nil ||
		!j.FinishedAt.Equal(start.Add(2*time.Second)) || j.Error != nil {
		t.Fatalf("completed job %+v", j)
	}
	// A finished job is not written again.
	wantKind(t, run.Update(ctx, p), errs.KindConflict, "job_finished")
	wantKind(t, run.Fail(ctx, p, errs.Unavailable("x", nil)), errs.KindConflict, "job_finished")
}

func TestJobFail(t *testing.T) {
	env, _ := jobEnv(t)
	ctx := context.Background()
	run, err := startJob(ctx, env, jobOrgA, JobKindSignalImport, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Fail(ctx, JobProgress{Accepted: 3}, errs.Invalid("", "malformed_json", "the body could not be read")); err != nil {
		t.Fatal(err)
	}
	j, _ := loadJob(ctx, env, jobOrgA, run.ID())
	if j.Status != JobFailed || j.Accepted != 3 || j.Error == nil || j.Error.Code != "malformed_json" || j.FinishedAt == nil {
		t.Fatalf("failed job %+v", j)
	}
	// Internal causes are not shown.
	run2, _ := startJob(ctx, env, jobOrgA, JobKindSignalImport, "")
	if err := run2.Fail(ctx, JobProgress{}, fmt.Errorf("disk on fire at /var/lib/secret")); err != nil {
		t.Fatal(err)
	}
	j, _ = loadJob(ctx, env, jobOrgA, run2.ID())
	if j.Error == nil || j.Error.Code != "internal" || j.Error.Message != "internal error" {
		t.Fatalf("internal failure shown as %+v", j.Error)
	}
}

// The run is the job's only writer: a write it did not make is never
// overwritten.
func TestJobWriteIsCompareAndSet(t *testing.T) {
	env, _ := jobEnv(t)
	ctx := context.Background()
	run, err := startJob(ctx, env, jobOrgA, JobKindSignalImport, "")
	if err != nil {
		t.Fatal(err)
	}
	key := keyJob(jobOrgA, run.ID())
	b, ver, err := env.Store.Load(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var j Job
	_ = json.Unmarshal(b, &j)
	j.Status = "cancelled by someone else"
	b, _ = json.Marshal(j)
	if _, err := env.Store.Save(ctx, key, b, ver); err != nil {
		t.Fatal(err)
	}
	if err := run.Update(ctx, JobProgress{Accepted: 1}); err == nil {
		t.Fatal("the run overwrote another writer's change")
	}
	got, _ := loadJob(ctx, env, jobOrgA, run.ID())
	if got.Status != "cancelled by someone else" || got.Accepted != 0 {
		t.Fatalf("job %+v", got)
	}
}

func TestJobReadsAreTenantScoped(t *testing.T) {
	env, _ := jobEnv(t)
	ctx := context.Background()
	run, err := startJob(ctx, env, jobOrgA, JobKindSignalImport, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = loadJob(ctx, env, jobOrgB, run.ID())
	wantKind(t, err, errs.KindNotFound, "job_not_found")
	for _, id := range []string{"", "job_", "nope", "job_../../o/x", "key_0000000000000000000x"} {
		_, err := loadJob(ctx, env, jobOrgA, id)
		wantKind(t, err, errs.KindNotFound, "job_not_found")
	}
	if l, _, err := listJobs(ctx, env, jobOrgB, "", 50); err != nil || len(l) != 0 {
		t.Fatalf("org B lists %v, %v", l, err)
	}
	_, err = startJob(ctx, env, "not-an-org", JobKindSignalImport, "")
	wantKind(t, err, errs.KindNotFound, "organization_not_found")
}

func TestJobListNewestFirst(t *testing.T) {
	env, clk := jobEnv(t)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 5; i++ {
		run, err := startJob(ctx, env, jobOrgA, JobKindSignalImport, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID())
		clk.Advance(time.Minute)
	}
	if _, err := startJob(ctx, env, jobOrgB, JobKindSignalImport, ""); err != nil {
		t.Fatal(err)
	}
	var got []string
	cursor := ""
	pages := 0
	for {
		l, next, err := listJobs(ctx, env, jobOrgA, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, j := range l {
			got = append(got, j.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Fatalf("listed %v in %d pages, want %v in 3", got, pages, want)
	}
	// An exact page has no next page.
	if l, next, _ := listJobs(ctx, env, jobOrgA, "", 5); len(l) != 5 || next != "" {
		t.Fatalf("%d jobs, next %q", len(l), next)
	}
	_, _, err := listJobs(ctx, env, jobOrgA, "x/y", 5)
	wantKind(t, err, errs.KindInvalid, "invalid_format")
}

// Readers poll while the run writes (run with -race).
func TestJobPolledWhileWritten(t *testing.T) {
	env, _ := jobEnv(t)
	ctx := context.Background()
	run, err := startJob(ctx, env, jobOrgA, JobKindSignalImport, "")
	if err != nil {
		t.Fatal(err)
	}
	id := run.ID()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad error
	var mu sync.Mutex
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := -1
			for {
				select {
				case <-stop:
					return
				default:
				}
				j, err := loadJob(ctx, env, jobOrgA, id)
				if err == nil && j.Accepted < last {
					err = fmt.Errorf("progress went back from %d to %d", last, j.Accepted)
				}
				if err != nil {
					mu.Lock()
					bad = err
					mu.Unlock()
					return
				}
				last = j.Accepted
				if _, _, err := listJobs(ctx, env, jobOrgA, "", 10); err != nil {
					mu.Lock()
					bad = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	for i := 1; i <= 50; i++ {
		if err := run.Update(ctx, JobProgress{Accepted: i * 500}); err != nil {
			t.Fatal(err)
		}
	}
	if err := run.Complete(ctx, JobProgress{Accepted: 25000}); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if bad != nil {
		t.Fatal(bad)
	}
}
