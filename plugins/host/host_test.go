package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/trailspark/trailspark/sdk/connector"
)

func sum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func csvConfig(t *testing.T, tenant string) connector.Config {
	t.Helper()
	d, err := filepath.Abs("../../sdk/examples/csvconnector/testdata/crm")
	if err != nil {
		t.Fatal(err)
	}
	return connector.Config{Tenant: tenant, Options: map[string]string{"directory": d}}
}

var ping = connector.TranslateRequest{Payload: []byte(`{}`)}

func pidOf(t *testing.T, sigs []connector.Signal) int {
	t.Helper()
	var p struct{ Pid int }
	if len(sigs) != 1 || json.Unmarshal(sigs[0].Properties, &p) != nil {
		t.Fatalf("unexpected signals %+v", sigs)
	}
	return p.Pid
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t, map[string]string{"csv": "csv", "crashy": "crashy"}, nil)
	// Files the host must ignore: not executable, bad name, wrong prefix.
	for name, mode := range map[string]os.FileMode{BinaryPrefix + "notexec": 0o644, BinaryPrefix + "Bad_Name": 0o755, "README": 0o755} {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(e.dir, BinaryPrefix+"adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Discover(); err != nil {
		t.Fatal(err)
	}
	list := e.h.List()
	if len(list) != 2 || list[0].Name != "crashy" || list[1].Name != "csv" {
		t.Fatalf("List = %+v, want crashy and csv", list)
	}
	for _, i := range list {
		if i.State != StateDiscovered || i.Pid != 0 {
			t.Errorf("%s: state %s pid %d, want discovered and not started (lazy)", i.Name, i.State, i.Pid)
		}
		if want := sum(t, i.Path); i.Checksum != want || i.Pinned != want {
			t.Errorf("%s: checksum %s pinned %s, want %s", i.Name, i.Checksum, i.Pinned, want)
		}
	}
	// Trust on first use: both pinned, file private.
	fi, err := os.Stat(e.pinPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("pin file mode %v, want 0600", fi.Mode().Perm())
	}
	var pf pinFile
	b, _ := os.ReadFile(e.pinPath)
	if err := json.Unmarshal(b, &pf); err != nil || pf.Pins["csv"].How != "first-use" || pf.Pins["crashy"].SHA256 != list[0].Checksum {
		t.Errorf("pin file = %s (%v)", b, err)
	}
}

func TestLazyStartAndCalls(t *testing.T) {
	e := newEnv(t, map[string]string{"csv": "csv"}, nil)
	c, err := e.h.Connector("csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.Connector("nope"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Connector(nope) = %v, want ErrUnknown", err)
	}
	ctx := context.Background()
	// Two tenants, one process: the config travels with each call.
	var wg sync.WaitGroup
	for _, tenant := range []string{"t1", "t2", "t3"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ids []string
			res, err := c.Read(ctx, csvConfig(t, tenant), connector.ReadRequest{Kind: connector.KindAccounts, Limit: 2}, func(r connector.Record) error {
				ids = append(ids, r.ID)
				return nil
			})
			if err != nil || len(ids) != 2 || !res.More || res.NextCursor != "2" {
				t.Errorf("tenant %s Read = %v %+v %v", tenant, ids, res, err)
			}
		}()
	}
	wg.Wait()
	info := e.info(t, "csv")
	if info.State != StateRunning || info.Pid == 0 || !alive(info.Pid) || info.Version != "1.0.0" || info.Protocol != connector.ProtocolVersion || len(info.Capabilities) != 3 {
		t.Fatalf("after first use: %+v", info)
	}
	md, err := c.Metadata(ctx, csvConfig(t, "t1"), connector.MetadataRequest{Objects: []string{"Account"}})
	if err != nil || len(md.Objects) != 1 {
		t.Errorf("Metadata = %+v, %v", md, err)
	}
	if _, err := c.Write(ctx, csvConfig(t, "t1"), connector.WriteRequest{Object: "Account"}); !errors.Is(err, connector.ErrUnsupported) {
		t.Errorf("Write on a read-only connector = %v, want ErrUnsupported", err)
	}
	if err := c.Configure(ctx, connector.Config{}); !errors.Is(err, connector.ErrInvalidConfig) {
		t.Errorf("Configure(empty) = %v, want ErrInvalidConfig", err)
	}
	if again := e.info(t, "csv"); again.Pid != info.Pid || again.Restarts != 0 {
		t.Errorf("one process per connector: pid %d then %d", info.Pid, again.Pid)
	}
}

func TestChecksumChangeRefusedUntilApproved(t *testing.T) {
	e := newEnv(t, map[string]string{"crashy": "crashy"}, nil)
	ctx := context.Background()
	if err := e.h.Start(ctx, "crashy"); err != nil {
		t.Fatal(err)
	}
	oldPid := e.info(t, "crashy").Pid

	// Upgrade in place: same name, different binary.
	path := install(t, e.dir, "crashy", bin["crashy2"])
	newSum := sum(t, path)
	if err := e.h.Discover(); err != nil {
		t.Fatal(err)
	}
	i := e.info(t, "crashy")
	if i.State != StateUnapproved || i.Checksum != newSum || i.Pinned == newSum {
		t.Fatalf("after the binary changed: %+v", i)
	}
	waitFor(t, "the old process to be stopped", func() bool { return !alive(oldPid) })

	c, _ := e.h.Connector("crashy")
	_, err := c.Translate(ctx, connector.Config{}, ping)
	if !errors.Is(err, ErrUnapproved) || connector.IsRetryable(err) {
		t.Fatalf("call to an unapproved plugin = %v, want ErrUnapproved, not retryable", err)
	}

	// A node restart does not forget: the pin is on disk.
	h2, err := New(Options{Dir: e.dir, Pins: NewFilePinStore(e.pinPath)})
	if err != nil {
		t.Fatal(err)
	}
	if i, _ := h2.Get("crashy"); i.State != StateUnapproved {
		t.Errorf("new host on the same pin file: state %s, want unapproved", i.State)
	}
	_ = h2.Close()

	if err := e.h.ApproveChecksum("crashy", sum(t, bin["crashy"])); err == nil {
		t.Fatal("approving a checksum that is not on disk succeeded")
	}
	if err := e.h.ApproveChecksum("crashy", newSum); err != nil {
		t.Fatal(err)
	}
	sigs, err := c.Translate(ctx, connector.Config{}, ping)
	if err != nil {
		t.Fatalf("after approval: %v", err)
	}
	if pid := pidOf(t, sigs); pid == oldPid || e.info(t, "crashy").Pinned != newSum {
		t.Errorf("after approval: pid %d (old %d), info %+v", pid, oldPid, e.info(t, "crashy"))
	}
}

// TestSwapBeforeLaunchRefused: a binary replaced after discovery but before
// its first start must not run (checked again at launch).
func TestSwapBeforeLaunchRefused(t *testing.T) {
	e := newEnv(t, map[string]string{"crashy": "crashy"}, nil)
	install(t, e.dir, "crashy", bin["crashy2"]) // no Discover: the host still trusts the pin
	err := e.h.Start(context.Background(), "crashy")
	if !errors.Is(err, ErrUnapproved) {
		t.Fatalf("Start of a swapped binary = %v, want ErrUnapproved", err)
	}
	if i := e.info(t, "crashy"); i.State != StateUnapproved || i.Pid != 0 {
		t.Errorf("state %s pid %d, want unapproved and not running", i.State, i.Pid)
	}
}

func TestCrashRestartWithBackoff(t *testing.T) {
	e := newEnv(t, map[string]string{"crashy": "crashy"}, nil)
	ctx := context.Background()
	c, _ := e.h.Connector("crashy")
	sigs, err := c.Translate(ctx, connector.Config{}, ping)
	if err != nil {
		t.Fatal(err)
	}
	pid := pidOf(t, sigs)

	for restart, backoff := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "crashed state", func() bool { return e.info(t, "crashy").State == StateCrashed })
		waitFor(t, "the restart timer", func() bool { return e.clock.pending(backoff) })

		// Until the backoff elapses, calls fail fast and retryable, and
		// nothing restarts however long we wait in real time.
		_, err := c.Translate(ctx, connector.Config{}, ping)
		if ra, ok := connector.RetryAfter(err); !errors.Is(err, connector.ErrRetryable) || !ok || ra != backoff {
			t.Fatalf("call while crashed = %v (retry after %v), want retryable after %v", err, ra, backoff)
		}
		time.Sleep(150 * time.Millisecond)
		if st := e.info(t, "crashy").State; st != StateCrashed {
			t.Fatalf("restarted before the backoff elapsed (state %s)", st)
		}

		e.clock.Advance(backoff - time.Millisecond)
		time.Sleep(50 * time.Millisecond)
		if st := e.info(t, "crashy").State; st != StateCrashed {
			t.Fatalf("restarted %s before the backoff elapsed", time.Millisecond)
		}
		e.clock.Advance(time.Millisecond)
		waitFor(t, "restart", func() bool { return e.info(t, "crashy").State == StateRunning })
		i := e.info(t, "crashy")
		if i.Restarts != restart+1 || i.Pid == pid || !alive(i.Pid) || alive(pid) {
			t.Fatalf("after restart %d: %+v (old pid %d alive=%v)", restart+1, i, pid, alive(pid))
		}
		sigs, err := c.Translate(ctx, connector.Config{}, ping)
		if err != nil || pidOf(t, sigs) != i.Pid {
			t.Fatalf("call after restart: %v", err)
		}
		pid = i.Pid
	}

	// A plugin that stayed up past StableAfter restarts from the first step.
	e.clock.Advance(2 * time.Minute)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first-step backoff after a stable run", func() bool { return e.clock.pending(100 * time.Millisecond) })
}

func TestInFlightCallFailsRetryableOnCrash(t *testing.T) {
	e := newEnv(t, map[string]string{"crashy": "crashy"}, func(o *Options) { o.CallTimeout = time.Minute })
	ctx := context.Background()
	if err := e.h.Start(ctx, "crashy"); err != nil {
		t.Fatal(err)
	}
	pid := e.info(t, "crashy").Pid
	c, _ := e.h.Connector("crashy")
	errc := make(chan error, 1)
	begin := time.Now()
	go func() {
		_, err := c.Translate(ctx, connector.Config{Options: map[string]string{"mode": "hang"}}, ping)
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the call reach the plugin
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, connector.ErrRetryable) {
			t.Fatalf("in-flight call = %v, want ErrRetryable", err)
		}
		if d := time.Since(begin); d > 5*time.Second {
			t.Errorf("in-flight call took %s to fail", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight call did not return after the plugin was killed")
	}
}

func TestCallTimeout(t *testing.T) {
	e := newEnv(t, map[string]string{"crashy": "crashy"}, func(o *Options) { o.CallTimeout = 300 * time.Millisecond })
	ctx := context.Background()
	c, _ := e.h.Connector("crashy")
	tests := []struct {
		mode    string
		wantErr bool
	}{
		{"hang", true},  // ignores its context entirely
		{"slow", false}, // 200ms: inside the bound
		{"", false},
	}
	for _, tc := range tests {
		t.Run("mode="+tc.mode, func(t *testing.T) {
			begin := time.Now()
			_, err := c.Translate(ctx, connector.Config{Options: map[string]string{"mode": tc.mode}}, ping)
			d := time.Since(begin)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !errors.Is(err, context.DeadlineExceeded) || !connector.IsRetryable(err) {
				t.Fatalf("got %v, want a retryable timeout", err)
			}
			if d < 300*time.Millisecond || d > 3*time.Second {
				t.Errorf("timed out after %s, want about 300ms", d)
			}
		})
	}
	// A timeout is not a crash: same process, no restart.
	if i := e.info(t, "crashy"); i.State != StateRunning || i.Restarts != 0 {
		t.Errorf("after a timeout: %+v", i)
	}
	// The caller's own deadline is the caller's error, not the host's.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Translate(cctx, connector.Config{}, ping); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller = %v, want context.Canceled", err)
	}
}

func TestHealthCheckReplacesHungPlugin(t *testing.T) {
	e := newEnv(t, map[string]string{"crashy": "crashy"}, func(o *Options) { o.HealthInterval = 10 * time.Second })
	if err := e.h.Start(context.Background(), "crashy"); err != nil {
		t.Fatal(err)
	}
	pid := e.info(t, "crashy").Pid
	waitFor(t, "health timer", func() bool { return e.clock.pending(10 * time.Second) })
	e.clock.Advance(10 * time.Second) // a healthy ping: nothing happens
	waitFor(t, "next health timer", func() bool { return e.clock.pending(10 * time.Second) })
	if i := e.info(t, "crashy"); i.State != StateRunning || i.Pid != pid {
		t.Fatalf("healthy plugin disturbed: %+v", i)
	}

	// Frozen, not dead: only the health check can notice.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// kill(2) returns before the stop takes effect: a check that ran in
	// between would be answered (seen on a loaded machine).
	waitFor(t, "the process stopped", func() bool { return procState(pid) == 'T' })
	e.clock.Advance(10 * time.Second)
	waitFor(t, "crash after a failed health check", func() bool { return e.info(t, "crashy").State == StateCrashed })
	if i := e.info(t, "crashy"); i.LastError == "" {
		t.Errorf("no last error recorded: %+v", i)
	}
	waitFor(t, "hung process killed", func() bool { return !alive(pid) })
	waitFor(t, "restart timer", func() bool { return e.clock.pending(100 * time.Millisecond) })
	e.clock.Advance(100 * time.Millisecond)
	waitFor(t, "restart", func() bool { return e.info(t, "crashy").State == StateRunning })
	if i := e.info(t, "crashy"); i.Pid == pid || i.Restarts != 1 {
		t.Errorf("after restart: %+v", i)
	}
}

func TestStartFailures(t *testing.T) {
	tests := []struct {
		name, binary string
	}{
		{"noisy", "noisy"},    // writes to stdout before the handshake
		{"mismatch", "other"}, // describes itself as "other"
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]string{tc.name: tc.binary}, nil)
			if err := e.h.Start(context.Background(), tc.name); err == nil {
				t.Fatal("Start succeeded")
			}
			i := e.info(t, tc.name)
			if i.State != StateFailed || i.LastError == "" || i.Pid != 0 {
				t.Fatalf("after a failed start: %+v", i)
			}
			// Lazy calls do not relaunch a failing binary on every call.
			c, _ := e.h.Connector(tc.name)
			_, err := c.Translate(context.Background(), connector.Config{}, ping)
			if ra, ok := connector.RetryAfter(err); !errors.Is(err, connector.ErrRetryable) || !ok || ra != 100*time.Millisecond {
				t.Fatalf("call after a failed start = %v, want retryable after the backoff", err)
			}
		})
	}
}

func TestStopAndLazyRestart(t *testing.T) {
	e := newEnv(t, map[string]string{"crashy": "crashy"}, nil)
	ctx := context.Background()
	if err := e.h.Start(ctx, "crashy"); err != nil {
		t.Fatal(err)
	}
	pid := e.info(t, "crashy").Pid
	if err := e.h.Stop("crashy"); err != nil {
		t.Fatal(err)
	}
	if i := e.info(t, "crashy"); i.State != StateStopped || i.Pid != 0 || alive(pid) {
		t.Fatalf("after Stop: %+v, old pid alive %v", i, alive(pid))
	}
	c, _ := e.h.Connector("crashy")
	sigs, err := c.Translate(ctx, connector.Config{}, ping)
	if err != nil || pidOf(t, sigs) == pid {
		t.Fatalf("lazy start after Stop: %v", err)
	}
	if i := e.info(t, "crashy"); i.Restarts != 0 {
		t.Errorf("a Stop/start is not a crash restart: %+v", i)
	}
}

func TestCloseKillsEverythingAndLeaksNothing(t *testing.T) {
	e := newEnv(t, map[string]string{"crashy": "crashy", "csv": "csv"}, func(o *Options) { o.HealthInterval = 10 * time.Millisecond })
	ctx := context.Background()
	var pids []int
	for _, n := range []string{"crashy", "csv"} {
		if err := e.h.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, e.info(t, n).Pid)
	}
	// One plugin crashed and waiting for its restart while Close runs.
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "crashed", func() bool { return e.info(t, "crashy").State == StateCrashed })
	if err := e.h.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d survived Close", pid)
		}
	}
	if _, err := e.h.Connector("csv"); !errors.Is(err, ErrClosed) {
		t.Errorf("Connector after Close = %v, want ErrClosed", err)
	}
	if err := e.h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	goleak.VerifyNone(t)
}

// TestPluginDiesWithHost: a node killed with SIGKILL runs no cleanup; the
// plugin must still go (Pdeathsig, and the SDK's parent watch).
func TestPluginDiesWithHost(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "crashy", bin["crashy"])
	helper, pid := startHelper(t, dir)
	if !alive(pid) {
		t.Fatalf("plugin %d not running under the helper", pid)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	waitFor(t, "the orphaned plugin to exit", func() bool { return !alive(pid) })
}
