// Package host runs connector plugins for a TrailSpark node.
//
// It discovers binaries named trailspark-connector-<name> in a plugins
// directory, pins their SHA-256 (trust on first use, see below), starts each
// on first use or on Start (one process per connector per node, serving every
// tenant: the tenant's config travels with each call), health-checks it,
// restarts it with exponential backoff when it crashes or hangs, and bounds
// every call with a timeout. A call in flight when a plugin dies fails with a
// retryable error (connector.ErrRetryable); callers keep their input (log,
// outbox) and retry.
//
// Checksum pinning: the first time a binary name is seen its checksum is
// pinned automatically (trust on first use: whoever can write the plugins
// directory already chose that binary). Afterwards a binary whose checksum
// differs from its pin is refused (state unapproved) until an operator calls
// Approve. go-plugin re-checks the checksum right before exec (SecureConfig),
// so a binary swapped after discovery is refused too.
package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/trailspark/trailspark/sdk"
	"github.com/trailspark/trailspark/sdk/connector"
)

// BinaryPrefix is the file-name prefix of connector plugins.
const BinaryPrefix = "trailspark-connector-"

// State of a connector on this node.
type State string

const (
	StateDiscovered State = "discovered" // found and pinned, never started
	StateRunning    State = "running"
	StateStopped    State = "stopped"    // stopped by Stop; the next call starts it again
	StateCrashed    State = "crashed"    // died or failed its health check; restart pending (backoff)
	StateUnapproved State = "unapproved" // checksum differs from its pin: refused until Approve
	StateFailed     State = "failed"     // could not be started (handshake, describe, name mismatch)
)

// Errors returned by the host (all wrapped with the connector name).
var (
	ErrUnknown = errors.New("unknown connector")
	ErrClosed  = errors.New("plugin host closed")
	// ErrUnapproved: the binary changed since it was pinned. Permanent until
	// an operator approves it.
	ErrUnapproved = &connector.Error{Kind: connector.KindPermanent, Message: "connector binary checksum differs from its pin; approve it first"}
)

// Options configure a Host. Zero values take the defaults in brackets.
type Options struct {
	Dir            string        // plugins directory (required)
	Pins           PinStore      // required; NewFilePinStore(filepath.Join(dataDir, PinFileName))
	Logger         hclog.Logger  // [hclog.NewNullLogger()]; the host names it "plugins"
	CallTimeout    time.Duration // bound on every unary call [30s]
	ReadTimeout    time.Duration // bound on one Read stream (one page) [5m]
	StartTimeout   time.Duration // launch + handshake + Describe [10s]
	HealthInterval time.Duration // between health pings of a running plugin [10s]
	HealthTimeout  time.Duration // one health ping [2s]
	Backoff        Backoff       // restart delays [ExponentialBackoff{500ms, 1m}]
	// StableAfter: a plugin that ran this long before crashing restarts from
	// the first backoff step again [1m].
	StableAfter time.Duration
	Clock       Clock // [real time]
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.CallTimeout, 30*time.Second)
	def(&o.ReadTimeout, 5*time.Minute)
	def(&o.StartTimeout, 10*time.Second)
	def(&o.HealthInterval, 10*time.Second)
	def(&o.HealthTimeout, 2*time.Second)
	def(&o.StableAfter, time.Minute)
	if o.Backoff == nil {
		o.Backoff = ExponentialBackoff{Base: 500 * time.Millisecond, Max: time.Minute}
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
}

// Info describes one connector on this node (List).
type Info struct {
	Name         string
	Path         string
	Version      string // from Describe; empty until first started
	Description  string
	Capabilities []connector.Capability
	Kinds        []connector.Kind
	Checksum     string // hex SHA-256 of the binary on disk at discovery
	Pinned       string // the pinned checksum (differs from Checksum when unapproved)
	State        State
	Pid          int // 0 unless running
	Protocol     int // negotiated protocol version
	Restarts     int
	LastError    string
	NextRestart  time.Time // when crashed: the scheduled restart
}

// Host supervises the plugins of one node.
type Host struct {
	opts   Options
	logger hclog.Logger

	metrics *metrics

	mu      sync.Mutex
	entries map[string]*entry
	closed  bool
	wg      sync.WaitGroup // supervisors
}

type entry struct {
	name string

	mu          sync.Mutex
	path        string
	checksum    string // on disk at discovery
	pinned      string
	state       State
	info        connector.Info
	inst        *instance
	restarts    int
	attempt     int // backoff step
	lastErr     error
	nextRestart time.Time
	launching   chan struct{} // closed when an ensure-launch finishes
	stop        chan struct{} // closes to stop the supervisor
	supDone     chan struct{} // closed when the supervisor has exited
}

type instance struct {
	client  *plugin.Client
	conn    *sdk.Client
	cmd     *exec.Cmd
	pid     int
	info    connector.Info
	proto   int
	started time.Time
}

// New creates a host and discovers the plugins in opts.Dir. It starts
// nothing: plugins start on first use or on Start.
func New(opts Options) (*Host, error) {
	opts.defaults()
	if opts.Dir == "" {
		return nil, errors.New("plugins host: Dir is required")
	}
	if opts.Pins == nil {
		return nil, errors.New("plugins host: Pins is required")
	}
	h := &Host{opts: opts, logger: opts.Logger.Named("plugins"), metrics: newMetrics(), entries: map[string]*entry{}}
	if err := h.Discover(); err != nil {
		return nil, err
	}
	return h, nil
}

var nameRe = regexp.MustCompile(`^[a-z][a-z0-9-]{1,39}$`)

// Discover (re)scans the plugins directory. New binaries are pinned on first
// use; a binary whose checksum no longer matches its pin becomes unapproved
// and, if it was running, is stopped. Entries whose file disappeared are
// forgotten unless running.
func (h *Host) Discover() error {
	des, err := os.ReadDir(h.opts.Dir)
	if err != nil {
		return fmt.Errorf("plugins dir: %w", err)
	}
	found := map[string]string{}
	for _, de := range des {
		fn := de.Name()
		if !strings.HasPrefix(fn, BinaryPrefix) {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(fn, BinaryPrefix), ".exe")
		if !nameRe.MatchString(name) {
			h.logger.Warn("ignoring plugin with an invalid name", "file", fn)
			continue
		}
		path := filepath.Join(h.opts.Dir, fn)
		fi, err := os.Stat(path) // follows symlinks
		if err != nil || !fi.Mode().IsRegular() || (runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0) {
			h.logger.Warn("ignoring plugin that is not an executable file", "file", fn)
			continue
		}
		found[name] = path
	}

	for name, path := range found {
		sum, err := fileSHA256(path)
		h.mu.Lock()
		e, ok := h.entries[name]
		if !ok {
			e = &entry{name: name, state: StateDiscovered}
			h.entries[name] = e
		}
		h.mu.Unlock()
		if err != nil {
			e.mu.Lock()
			e.path, e.state, e.lastErr = path, StateFailed, err
			e.mu.Unlock()
			continue
		}
		h.pinAndMark(e, path, sum)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	for name, e := range h.entries {
		if _, ok := found[name]; ok {
			continue
		}
		e.mu.Lock()
		running := e.stop != nil
		e.mu.Unlock()
		if !running {
			delete(h.entries, name)
		}
	}
	return nil
}

func (h *Host) pinAndMark(e *entry, path, sum string) {
	log := h.logger.With("plugin", e.name)
	pinned, ok, err := h.opts.Pins.Pin(e.name)
	if err == nil && !ok {
		// Trust on first use (see the package comment).
		if err = h.opts.Pins.SetPin(e.name, sum, "first-use"); err == nil {
			pinned = sum
			log.Info("pinned new plugin on first use", "sha256", sum, "path", path)
		}
	}
	e.mu.Lock()
	e.path, e.checksum = path, sum
	if err != nil {
		e.state, e.lastErr = StateFailed, fmt.Errorf("pin store: %w", err)
		e.mu.Unlock()
		return
	}
	e.pinned = pinned
	if pinned == sum {
		if e.state == StateUnapproved {
			e.state, e.lastErr = StateDiscovered, nil
		}
		e.mu.Unlock()
		return
	}
	wasRunning := e.stop != nil
	e.state, e.lastErr = StateUnapproved, fmt.Errorf("checksum %s differs from pinned %s", short(sum), short(pinned))
	e.mu.Unlock()
	log.Warn("plugin binary changed since it was pinned; refusing it until approved", "sha256", sum, "pinned", pinned)
	if wasRunning {
		h.stopEntry(e, StateUnapproved)
	}
}

// Approve pins the binary currently on disk for name and clears the
// unapproved state.
func (h *Host) Approve(name string) error { return h.ApproveChecksum(name, "") }

// ApproveChecksum approves name only if the binary on disk has checksum
// (hex SHA-256), so an operator approves exactly what they inspected.
// An empty checksum approves whatever is on disk.
func (h *Host) ApproveChecksum(name, checksum string) error {
	e, err := h.entry(name)
	if err != nil {
		return err
	}
	e.mu.Lock()
	path := e.path
	e.mu.Unlock()
	sum, err := fileSHA256(path)
	if err != nil {
		return err
	}
	if checksum != "" && !strings.EqualFold(checksum, sum) {
		return fmt.Errorf("connector %s: binary on disk has checksum %s, not %s", name, sum, checksum)
	}
	if err := h.opts.Pins.SetPin(name, sum, "approved"); err != nil {
		return err
	}
	e.mu.Lock()
	e.checksum, e.pinned = sum, sum
	if e.state == StateUnapproved {
		e.state, e.lastErr, e.attempt = StateDiscovered, nil, 0
	}
	e.mu.Unlock()
	h.logger.Info("plugin approved", "plugin", name, "sha256", sum)
	return nil
}

// List returns every known connector, sorted by name.
func (h *Host) List() []Info {
	h.mu.Lock()
	es := make([]*entry, 0, len(h.entries))
	for _, e := range h.entries {
		es = append(es, e)
	}
	h.mu.Unlock()
	out := make([]Info, 0, len(es))
	for _, e := range es {
		out = append(out, e.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns one connector's Info.
func (h *Host) Get(name string) (Info, error) {
	e, err := h.entry(name)
	if err != nil {
		return Info{}, err
	}
	return e.snapshot(), nil
}

func (e *entry) snapshot() Info {
	e.mu.Lock()
	defer e.mu.Unlock()
	i := Info{
		Name: e.name, Path: e.path, Version: e.info.Version, Description: e.info.Description,
		Capabilities: e.info.Capabilities, Kinds: e.info.Kinds, Checksum: e.checksum, Pinned: e.pinned,
		State: e.state, Restarts: e.restarts,
	}
	if e.lastErr != nil {
		i.LastError = e.lastErr.Error()
	}
	if e.inst != nil && e.state == StateRunning {
		i.Pid, i.Protocol = e.inst.pid, e.inst.proto
	}
	if e.state == StateCrashed {
		i.NextRestart = e.nextRestart
	}
	return i
}

func (h *Host) entry(name string) (*entry, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	e, ok := h.entries[name]
	if !ok {
		return nil, fmt.Errorf("connector %q: %w", name, ErrUnknown)
	}
	return e, nil
}

// Start launches name now (if it is not running) and waits for its
// handshake. Unlike a lazy start it ignores the backoff of a failed launch.
func (h *Host) Start(ctx context.Context, name string) error {
	e, err := h.entry(name)
	if err != nil {
		return err
	}
	_, err = h.ensure(ctx, e, true)
	return err
}

// Stop kills name's process. The next call starts it again.
func (h *Host) Stop(name string) error {
	e, err := h.entry(name)
	if err != nil {
		return err
	}
	h.stopEntry(e, StateStopped)
	return nil
}

// stopEntry stops the supervisor (which kills the process) and sets state.
func (h *Host) stopEntry(e *entry, state State) {
	for {
		e.mu.Lock()
		if ch := e.launching; ch != nil {
			e.mu.Unlock()
			<-ch // a launch in progress finishes first, then is stopped
			continue
		}
		stop, done := e.stop, e.supDone
		e.stop, e.supDone = nil, nil
		if stop == nil {
			if e.state == StateRunning || e.state == StateCrashed {
				e.state = state
			}
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		close(stop)
		<-done
		e.mu.Lock()
		e.inst = nil
		if e.state != StateUnapproved || state == StateUnapproved {
			e.state = state
		}
		e.mu.Unlock()
		return
	}
}

// Close stops every plugin and waits for all supervision goroutines.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	es := make([]*entry, 0, len(h.entries))
	for _, e := range h.entries {
		es = append(es, e)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range es {
		wg.Add(1)
		go func() { defer wg.Done(); h.stopEntry(e, StateStopped) }()
	}
	wg.Wait()
	h.wg.Wait()
	return nil
}

func (h *Host) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// ensure returns the running instance of e, launching it if needed.
func (h *Host) ensure(ctx context.Context, e *entry, explicit bool) (*instance, error) {
	for {
		e.mu.Lock()
		switch {
		case e.state == StateRunning && e.inst != nil:
			inst := e.inst
			e.mu.Unlock()
			return inst, nil
		case e.state == StateUnapproved:
			e.mu.Unlock()
			return nil, fmt.Errorf("connector %s: %w", e.name, ErrUnapproved)
		case e.launching != nil:
			ch := e.launching
			e.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case e.state == StateCrashed:
			// The supervisor owns the restart (after its backoff);
			// callers retry after it.
			err := &connector.Error{Kind: connector.KindRetryable, RetryAfter: max(e.nextRestart.Sub(h.opts.Clock.Now()), time.Millisecond),
				Message: fmt.Sprintf("connector %s crashed and is restarting: %v", e.name, e.lastErr)}
			e.mu.Unlock()
			return nil, err
		case e.state == StateFailed && !explicit && h.opts.Clock.Now().Before(e.nextRestart):
			err := &connector.Error{Kind: connector.KindRetryable, RetryAfter: e.nextRestart.Sub(h.opts.Clock.Now()),
				Message: fmt.Sprintf("connector %s failed to start: %v", e.name, e.lastErr)}
			e.mu.Unlock()
			return nil, err
		}
		if h.isClosed() {
			e.mu.Unlock()
			return nil, ErrClosed
		}
		e.launching = make(chan struct{})
		e.mu.Unlock()

		inst, err := h.launch(e)

		e.mu.Lock()
		close(e.launching)
		e.launching = nil
		if err == nil && h.isClosed() {
			inst.kill(false)
			err = ErrClosed
		}
		if err != nil {
			h.failed(e, err)
			e.mu.Unlock()
			return nil, err
		}
		h.running(e, inst)
		e.stop, e.supDone = make(chan struct{}), make(chan struct{})
		h.wg.Add(1)
		go h.supervise(e, inst, e.stop, e.supDone)
		e.mu.Unlock()
		return inst, nil
	}
}

// failed records a launch failure; e.mu is held.
func (h *Host) failed(e *entry, err error) {
	e.lastErr = err
	if errors.Is(err, ErrUnapproved) || errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
		e.state = StateUnapproved
		return
	}
	e.state = StateFailed
	e.nextRestart = h.opts.Clock.Now().Add(h.opts.Backoff.Delay(e.attempt))
	e.attempt++
	h.logger.Error("plugin failed to start", "plugin", e.name, "error", err)
}

// running records a started instance; e.mu is held.
func (h *Host) running(e *entry, inst *instance) {
	e.state, e.inst, e.info, e.lastErr = StateRunning, inst, inst.info, nil
	h.logger.Info("plugin started", "plugin", e.name, "pid", inst.pid, "version", inst.info.Version, "protocol", inst.proto)
}

// launch starts the binary, completes the handshake and checks Describe.
func (h *Host) launch(e *entry) (*instance, error) {
	inst, err := h.launchOnce(e)
	h.metrics.started(e.name, err)
	return inst, err
}

func (h *Host) launchOnce(e *entry) (*instance, error) {
	e.mu.Lock()
	path, pinned := e.path, e.pinned
	e.mu.Unlock()
	raw, err := hex.DecodeString(pinned)
	if err != nil || len(raw) != sha256.Size {
		return nil, fmt.Errorf("connector %s: pinned checksum %q is not a hex SHA-256: %w", e.name, pinned, ErrUnapproved)
	}
	cmd := exec.Command(path)
	cmd.SysProcAttr = sysProcAttr()
	cfg := sdk.ClientConfig(cmd, h.logger.With("plugin", e.name))
	// go-plugin hashes the file right before exec and refuses a mismatch
	// (plugin.ErrChecksumsDoNotMatch): a binary swapped after discovery
	// never runs. Hashing once here, not twice, keeps launches fast.
	cfg.SecureConfig = &plugin.SecureConfig{Checksum: raw, Hash: sha256.New()}
	cfg.StartTimeout = h.opts.StartTimeout

	begin := time.Now()
	client := plugin.NewClient(cfg)
	inst := &instance{client: client, cmd: cmd, started: h.opts.Clock.Now()}
	conn, err := sdk.Dispense(client)
	if err != nil {
		inst.kill(true)
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("connector %s: binary on disk differs from pin %s: %w", e.name, short(pinned), ErrUnapproved)
		}
		return nil, fmt.Errorf("connector %s: launch: %w", e.name, err)
	}
	inst.conn, inst.proto = conn, conn.Protocol()
	if rc := client.ReattachConfig(); rc != nil {
		inst.pid = rc.Pid
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.StartTimeout)
	defer cancel()
	info, err := conn.Describe(ctx)
	if err == nil {
		err = info.Validate()
	}
	if err == nil && info.Name != e.name {
		err = fmt.Errorf("binary %s describes itself as %q", filepath.Base(path), info.Name)
	}
	if err != nil {
		inst.kill(true)
		return nil, fmt.Errorf("connector %s: describe: %w", e.name, err)
	}
	inst.info = info
	h.logger.Debug("plugin launched", "plugin", e.name, "pid", inst.pid, "elapsed", time.Since(begin))
	return inst, nil
}

// kill stops the process. force sends SIGKILL first: a hung or stopped
// plugin would never answer go-plugin's graceful shutdown RPC, which
// client.Kill waits on. The bounded wait covers the same case for force=false.
func (inst *instance) kill(force bool) {
	if force && inst.cmd.Process != nil {
		_ = inst.cmd.Process.Kill()
	}
	done := make(chan struct{})
	go func() { inst.client.Kill(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		if inst.cmd.Process != nil {
			_ = inst.cmd.Process.Kill()
		}
		<-done
	}
}

var errExited = errors.New("plugin process exited")

// supervise owns a running instance until stop closes: it watches for exit
// and failed health checks and restarts with backoff.
func (h *Host) supervise(e *entry, inst *instance, stop, done chan struct{}) {
	defer h.wg.Done()
	defer close(done)
	log := h.logger.With("plugin", e.name)
	for {
		reason := h.watch(inst, stop)
		if reason == nil {
			inst.kill(false)
			return
		}
		// Crashed from the moment the check failed: no caller may be handed
		// the instance while it is being killed (a hung process can take
		// seconds to go), and the state says so at once.
		h.metrics.crashed(e.name, reason)
		e.mu.Lock()
		e.state, e.inst, e.lastErr = StateCrashed, nil, reason
		e.mu.Unlock()
		inst.kill(true)
		e.mu.Lock()
		if h.opts.Clock.Now().Sub(inst.started) >= h.opts.StableAfter {
			e.attempt = 0
		}
		for {
			d := h.opts.Backoff.Delay(e.attempt)
			e.attempt++
			e.nextRestart = h.opts.Clock.Now().Add(d)
			e.mu.Unlock()
			log.Warn("plugin crashed; restarting after backoff", "pid", inst.pid, "reason", reason, "backoff", d)
			select {
			case <-stop:
				return
			case <-h.opts.Clock.After(d):
			}
			// Callers arriving during the relaunch wait for it (as for a
			// first launch) instead of failing at once with nothing
			// left to wait for.
			e.mu.Lock()
			relaunch := make(chan struct{})
			e.launching = relaunch
			e.mu.Unlock()
			next, err := h.launch(e)
			e.mu.Lock()
			close(relaunch)
			e.launching = nil
			select {
			case <-stop:
				if next != nil {
					next.kill(false)
				}
				e.mu.Unlock()
				return
			default:
			}
			if err != nil {
				e.lastErr = err
				if errors.Is(err, ErrUnapproved) || errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
					e.state = StateUnapproved
					e.mu.Unlock()
					log.Error("plugin binary changed; not restarting it until approved", "error", err)
					return
				}
				reason = err
				continue // e.mu held
			}
			e.restarts++
			h.metrics.restarts.WithLabelValues(e.name).Inc()
			h.running(e, next)
			e.mu.Unlock()
			inst = next
			break
		}
	}
}

// watch returns nil when stop closes, or why the instance must be replaced.
func (h *Host) watch(inst *instance, stop chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		case <-inst.conn.Done():
			return errExited
		case <-h.opts.Clock.After(h.opts.HealthInterval):
			ctx, cancel := context.WithTimeout(context.Background(), h.opts.HealthTimeout)
			err := inst.conn.Ping(ctx)
			cancel()
			if err != nil {
				select {
				case <-inst.conn.Done():
					return errExited
				default:
				}
				return fmt.Errorf("health check failed: %w", err)
			}
		}
	}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hsh := sha256.New()
	if _, err := io.Copy(hsh, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(hsh.Sum(nil)), nil
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}
