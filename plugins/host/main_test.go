package host

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"
)

// bin holds the real plugin binaries the tests run, built once by TestMain:
//
//	csv       sdk/examples/csvconnector (its own module, built as a third party would)
//	crashy    testdata/testconnector, describes itself as "crashy"
//	crashy2   the same connector built differently: same name, other checksum
//	noisy     writes to stdout before the handshake
var bin = map[string]string{}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		hostHelper() // never returns
	}
	dir, err := os.MkdirTemp("", "plugins-host-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := buildAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "building test plugins:", err)
	} else {
		// goleak after every test: Close must leave no goroutine behind.
		code = m.Run()
		if code == 0 {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, "goroutine leak:", err)
				code = 1
			}
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildAll(dir string) error {
	builds := []struct {
		name, pkg, workdir, ldflags string
	}{
		{"csv", ".", "../../sdk/examples/csvconnector", ""},
		{"crashy", "./testdata/testconnector", "", "-X main.name=crashy"},
		{"crashy2", "./testdata/testconnector", "", "-X main.name=crashy -X main.variant=v2"},
		{"noisy", "./testdata/testconnector", "", "-X main.name=noisy -X main.variant=stdout"},
		{"other", "./testdata/testconnector", "", "-X main.name=other"},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(builds))
	for i, b := range builds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := filepath.Join(dir, b.name)
			cmd := exec.Command("go", "build", "-o", out, "-ldflags", b.ldflags, b.pkg)
			cmd.Dir = b.workdir
			if o, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%s: %v\n%s", b.name, err, o)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return err
		}
		bin[builds[i].name] = filepath.Join(dir, builds[i].name)
	}
	return nil
}

// install copies src into dir as trailspark-connector-<name>.
func install(t testing.TB, dir, name, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, BinaryPrefix+name)
	// Write a new file (new inode) so a running process keeps its own.
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

type env struct {
	dir, pinPath string
	clock        *fakeClock
	h            *Host
}

// newEnv installs plugins (name -> bin key) and starts a host on them.
func newEnv(t *testing.T, plugins map[string]string, mutate func(*Options)) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), clock: newFakeClock()}
	e.pinPath = filepath.Join(t.TempDir(), PinFileName)
	for name, key := range plugins {
		install(t, e.dir, name, bin[key])
	}
	opts := Options{
		Dir: e.dir, Pins: NewFilePinStore(e.pinPath), Clock: e.clock,
		Logger:         hclog.New(&hclog.LoggerOptions{Level: hclog.LevelFromString(envOr("HOST_TEST_LOG", "off")), Output: os.Stderr}),
		HealthInterval: time.Hour, // health checks fire only when a test advances the clock
		HealthTimeout:  500 * time.Millisecond,
		Backoff:        ExponentialBackoff{Base: 100 * time.Millisecond, Max: time.Second},
	}
	if mutate != nil {
		mutate(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	t.Cleanup(func() { _ = h.Close() })
	return e
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (e *env) info(t *testing.T, name string) Info {
	t.Helper()
	i, err := e.h.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// waitFor polls cond in real time: plugin processes live in real time even
// when the host's clock is fake.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// alive reports whether pid is a live (non-zombie) process.
func alive(pid int) bool {
	st := procState(pid)
	return st != 0 && st != 'Z'
}

// procState is pid's state letter from /proc (R, S, T, Z, …), 0 if gone.
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2]
	}
	return '?'
}

// fakeClock fires After channels only when Advance passes their deadline.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	d  time.Duration
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), d: d, ch: ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

// pending reports whether a waiter for exactly d is registered.
func (c *fakeClock) pending(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.waiters {
		if w.d == d {
			return true
		}
	}
	return false
}

// The host helper is this test binary re-executed as a node that starts a
// plugin, prints its pid and waits to be SIGKILLed (TestPluginDiesWithHost).
const helperEnv = "PLUGINS_HOST_TEST_HELPER"

func hostHelper() {
	dir := os.Getenv(helperEnv)
	h, err := New(Options{Dir: dir, Pins: NewFilePinStore(filepath.Join(dir, "pins.json"))})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if err := h.Start(context.Background(), "crashy"); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("pid", h.List()[0].Pid)
	select {}
}

func startHelper(t *testing.T, dir string) (helper *exec.Cmd, pluginPid int) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "pid" {
		t.Fatalf("helper said %q", line)
	}
	pid, _ := strconv.Atoi(f[1])
	return cmd, pid
}
