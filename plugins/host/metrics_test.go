package host

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailspark/trailspark/sdk/connector"
)

// metric sums the series of name whose labels include want (for a
// histogram: its sample count).
func metric(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				total += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				total += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				total += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return total
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, map[string]string{"crashy": "crashy", "noisy": "noisy"}, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.h.Collectors()...)
	ctx := context.Background()
	crashy := map[string]string{"connector": "crashy"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"connector": "crashy"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	if v := metric(t, reg, "trailspark_plugin_state", with("state", "discovered")); v != 1 {
		t.Errorf("state discovered = %v before any call", v)
	}

	c, _ := e.h.Connector("crashy")
	sigs, err := c.Translate(ctx, connector.Config{}, ping)
	if err != nil {
		t.Fatal(err)
	}
	pid := pidOf(t, sigs)
	if _, err := c.Write(ctx, connector.Config{}, connector.WriteRequest{Object: "x"}); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("Write = %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = c.Translate(cctx, connector.Config{}, ping)

	for _, tc := range []struct {
		name string
		want map[string]string
		v    float64
	}{
		{"trailspark_plugin_starts_total", with("result", "ok"), 1},
		{"trailspark_plugin_calls_total", with("method", "translate", "outcome", "ok"), 1},
		{"trailspark_plugin_calls_total", with("method", "write", "outcome", "unsupported"), 1},
		{"trailspark_plugin_calls_total", with("method", "translate", "outcome", "canceled"), 1},
		{"trailspark_plugin_call_duration_seconds", with("method", "translate"), 2},
		{"trailspark_plugin_state", with("state", "running"), 1},
		{"trailspark_plugin_state", crashy, 1}, // exactly one state is 1
		{"trailspark_plugin_state", map[string]string{"connector": "noisy", "state": "discovered"}, 1},
		{"trailspark_plugin_crashes_total", crashy, 0},
	} {
		if v := metric(t, reg, tc.name, tc.want); v != tc.v {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.want, v, tc.v)
		}
	}

	// A crash and its restart.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "crashed", func() bool { return metric(t, reg, "trailspark_plugin_state", with("state", "crashed")) == 1 })
	if v := metric(t, reg, "trailspark_plugin_crashes_total", with("reason", "exited")); v != 1 {
		t.Errorf("crashes{exited} = %v", v)
	}
	_, err = c.Translate(ctx, connector.Config{}, ping)
	if !errors.Is(err, connector.ErrRetryable) {
		t.Fatalf("call while crashed = %v", err)
	}
	if v := metric(t, reg, "trailspark_plugin_calls_total", with("method", "translate", "outcome", "retryable")); v != 1 {
		t.Errorf("calls{translate,retryable} = %v", v)
	}
	waitFor(t, "restart timer", func() bool { return e.clock.pending(100 * time.Millisecond) })
	e.clock.Advance(100 * time.Millisecond)
	waitFor(t, "restart", func() bool { return e.info(t, "crashy").State == StateRunning })
	if v := metric(t, reg, "trailspark_plugin_restarts_total", crashy); v != 1 {
		t.Errorf("restarts = %v", v)
	}
	if v := metric(t, reg, "trailspark_plugin_starts_total", with("result", "ok")); v != 2 {
		t.Errorf("starts{ok} = %v, want 2 (first start and restart)", v)
	}

	// A binary that cannot start.
	if err := e.h.Start(ctx, "noisy"); err == nil {
		t.Fatal("noisy started")
	}
	noisy := map[string]string{"connector": "noisy"}
	if v := metric(t, reg, "trailspark_plugin_starts_total", map[string]string{"connector": "noisy", "result": "failed"}); v != 1 {
		t.Errorf("starts{noisy,failed} = %v", v)
	}
	if v := metric(t, reg, "trailspark_plugin_state", map[string]string{"connector": "noisy", "state": "failed"}); v != 1 {
		t.Errorf("state{noisy,failed} = %v (%v)", v, metric(t, reg, "trailspark_plugin_state", noisy))
	}
}

// TestGarbageOnStdoutAfterHandshake: a plugin that prints to stdout while
// serving (after the handshake) breaks nothing: go-plugin captures its
// stdout, the call answers and the process keeps running.
func TestGarbageOnStdoutAfterHandshake(t *testing.T) {
	e := newEnv(t, map[string]string{"crashy": "crashy"}, nil)
	c, _ := e.h.Connector("crashy")
	ctx := context.Background()
	var pid int
	for i := 0; i < 3; i++ {
		sigs, err := c.Translate(ctx, connector.Config{Options: map[string]string{"mode": "garbage"}}, ping)
		if err != nil {
			t.Fatalf("call %d with stdout garbage: %v", i, err)
		}
		if p := pidOf(t, sigs); pid != 0 && p != pid {
			t.Fatalf("the plugin was replaced: pid %d then %d", pid, p)
		} else {
			pid = p
		}
	}
	time.Sleep(100 * time.Millisecond)
	if i := e.info(t, "crashy"); i.State != StateRunning || i.Pid != pid || i.Restarts != 0 {
		t.Fatalf("after stdout garbage: %+v", i)
	}
}

// TestReadContacts: the test connector's Read (used by the API's sync
// tests) pages by cursor, and its malformed mode crosses the wire as is.
func TestReadContacts(t *testing.T) {
	e := newEnv(t, map[string]string{"crashy": "crashy"}, nil)
	c, _ := e.h.Connector("crashy")
	cfg := connector.Config{Options: map[string]string{"count": "8", "mode": "malformed"}}
	var ids []string
	var fields []string
	cur := ""
	for {
		res, err := c.Read(context.Background(), cfg, connector.ReadRequest{Kind: connector.KindContacts, Cursor: cur, Limit: 3}, func(r connector.Record) error {
			ids = append(ids, r.ID)
			fields = append(fields, string(r.Fields))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		cur = res.NextCursor
		if !res.More {
			break
		}
	}
	if len(ids) != 8 || ids[2] != "" || ids[7] != "m-8" || fields[4] != `{"email":"m5@example.com",` || fields[6] != `["m7@example.com"]` {
		t.Fatalf("read %q %q", ids, fields)
	}
}

// TestCallDuringRelaunchWaits: once the backoff has elapsed and the
// supervisor is relaunching a crashed plugin, a call waits for the launch
// instead of failing with nothing left to wait for.
func TestCallDuringRelaunchWaits(t *testing.T) {
	e := newEnv(t, map[string]string{"crashy": "crashy"}, nil)
	ctx := context.Background()
	if err := e.h.Start(ctx, "crashy"); err != nil {
		t.Fatal(err)
	}
	old := e.info(t, "crashy").Pid
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restart timer", func() bool { return e.clock.pending(100 * time.Millisecond) })
	ent, _ := e.h.entry("crashy")
	e.clock.Advance(100 * time.Millisecond)
	waitFor(t, "the relaunch", func() bool {
		ent.mu.Lock()
		defer ent.mu.Unlock()
		return ent.launching != nil || ent.state == StateRunning
	})
	c, _ := e.h.Connector("crashy")
	sigs, err := c.Translate(ctx, connector.Config{}, ping)
	if err != nil {
		t.Fatalf("call during the relaunch = %v, want it to wait for the new process", err)
	}
	if pid := pidOf(t, sigs); pid == old || pid != e.info(t, "crashy").Pid {
		t.Errorf("answered by pid %d (old %d)", pid, old)
	}
}
