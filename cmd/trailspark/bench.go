package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// `trailspark bench` measures a whole node the way an operator meets it:
// it starts this binary's `serve` as a child process on an empty data
// directory and reports cold start to /readyz, management request latency
// over loopback, and the node's idle resident memory.
func newBenchCmd() *cobra.Command {
	var requests, starts int
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure cold start, management latency and idle memory of a local node",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd.OutOrStdout(), starts, requests)
		},
	}
	cmd.AddCommand(newBenchIngestCmd(), newBenchRescoreCmd(), newBenchDeliverCmd())
	cmd.Flags().IntVar(&starts, "starts", 5, "cold starts to time")
	cmd.Flags().IntVar(&requests, "requests", 2000, "management requests per measured operation")
	return cmd
}

type benchNode struct {
	cmd *exec.Cmd
	url string
	dir string
}

var benchListenRe = regexp.MustCompile(`listening on (http://\S+)`)

// startBenchNode starts `serve` on an empty data directory; extra are more
// serve flags (e.g. --store postgres://…).
func startBenchNode(extra ...string) (*benchNode, time.Duration, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, 0, err
	}
	dir, err := os.MkdirTemp("", "trailspark-bench-")
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	args := append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--log-level", "warn"}, extra...)
	cmd := exec.Command(exe, args...)
	// Passwords keep the production KDF: login latency is part of the story,
	// but it is measured separately from the other management calls.
	cmd.Env = append(os.Environ(), "TRAILSPARK_ADMIN_TOKEN=bench-operator-token-0123456789", "TRAILSPARK_DEBUG_PPROF=true",
		// The bench measures capacity, not the rate limits.
		"TRAILSPARK_INGEST_RATE_PER_KEY=0", "TRAILSPARK_INGEST_RATE_PER_ORG=0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	cmd.Stderr = io.Discard
	if os.Getenv("TRAILSPARK_BENCH_STDERR") != "" {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	n := &benchNode{cmd: cmd, dir: dir}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := benchListenRe.FindStringSubmatch(sc.Text()); m != nil {
			n.url = m[1]
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if n.url == "" {
		n.stop()
		return nil, 0, fmt.Errorf("serve did not report its address")
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		resp, err := http.Get(n.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return n, time.Since(start), nil
			}
		}
	}
	n.stop()
	return nil, 0, fmt.Errorf("node not ready within 60 s")
}

func (n *benchNode) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(n.dir)
}

func (n *benchNode) call(method, path, token string, body any) (map[string]any, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, n.url+path, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return out, nil
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	return pctOf(d, 0.5), pctOf(d, 0.99)
}

// pctOf is the p-quantile of d (0 for none); d is not reordered.
func pctOf(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

// memStatus reads VmRSS and its split into anonymous memory (heap, stacks)
// and file-backed pages (Badger's memory-mapped tables and logs, which the
// kernel can reclaim) from /proc/<pid>/status.
func memStatus(pid int) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return "", err
	}
	v := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "RssAnon:" || f[0] == "RssFile:") {
			kib, _ := strconv.Atoi(f[1])
			v[f[0]] = float64(kib) / 1024
		}
	}
	return fmt.Sprintf("%.1f MiB (anonymous %.1f MiB, file-backed %.1f MiB)", v["VmRSS:"], v["RssAnon:"], v["RssFile:"]), nil
}

// procUsage is what the kernel has counted for a process so far: CPU time
// (user + system) and bytes it caused to be written to storage. Both are
// steadier than throughput on a shared machine, so the bench prints them
// per signal.
type procUsage struct {
	cpu          time.Duration
	writtenBytes int64
}

func readProcUsage(pid int) (procUsage, error) {
	var u procUsage
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return u, err
	}
	// Fields after the command (which may hold spaces) start after ')';
	// utime and stime are the 12th and 13th of them, in clock ticks
	// (100 a second on Linux).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return u, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	u.cpu = time.Duration(ut+st) * 10 * time.Millisecond
	io, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "io"))
	if err != nil {
		return u, err
	}
	for _, l := range strings.Split(string(io), "\n") {
		if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
			u.writtenBytes, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return u, nil
}

// waitStoreSettled waits until the process writes less than 4 MiB/s to
// storage (the compactions a load phase left behind have finished), at
// most max, and returns how long it waited. A phase started earlier would
// pay for the previous phase's compactions.
func waitStoreSettled(pid int, max time.Duration) time.Duration {
	start := time.Now()
	prev, err := readProcUsage(pid)
	if err != nil {
		return 0
	}
	quiet := 0
	for time.Since(start) < max {
		time.Sleep(500 * time.Millisecond)
		cur, err := readProcUsage(pid)
		if err != nil {
			break
		}
		if cur.writtenBytes-prev.writtenBytes < 2<<20 { // per half second
			if quiet++; quiet == 2 {
				break
			}
		} else {
			quiet = 0
		}
		prev = cur
	}
	return time.Since(start)
}

// usageLine describes a process's usage between two readings for n signals.
func usageLine(before, after procUsage, n int64) string {
	if n == 0 {
		return ""
	}
	cpu := after.cpu - before.cpu
	wr := after.writtenBytes - before.writtenBytes
	return fmt.Sprintf("node CPU %.1f s (%.0f µs a signal), storage writes %.0f MiB (%.0f bytes a signal)",
		cpu.Seconds(), float64(cpu.Microseconds())/float64(n), float64(wr)/(1<<20), float64(wr)/float64(n))
}

func runBench(w io.Writer, starts, requests int) error {
	fmt.Fprintf(w, "machine: %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	var colds []time.Duration
	for i := 0; i < starts; i++ {
		n, d, err := startBenchNode()
		if err != nil {
			return err
		}
		colds = append(colds, d)
		n.stop()
	}
	sort.Slice(colds, func(i, j int) bool { return colds[i] < colds[j] })
	fmt.Fprintf(w, "cold start to /readyz (empty data dir, %d starts): min %v, median %v, max %v\n",
		len(colds), colds[0].Round(time.Millisecond), colds[len(colds)/2].Round(time.Millisecond), colds[len(colds)-1].Round(time.Millisecond))

	n, _, err := startBenchNode()
	if err != nil {
		return err
	}
	defer n.stop()
	time.Sleep(3 * time.Second) // idle: nothing has happened yet
	if m, err := memStatus(n.cmd.Process.Pid); err == nil {
		fmt.Fprintf(w, "idle RSS after start (no traffic yet): %s\n", m)
	}
	const op = "bench-operator-token-0123456789"
	if _, err := n.call("POST", "/api/v1/auth/register", "", map[string]any{"email": "bench@example.com", "password": "bench-password", "name": "Bench"}); err != nil {
		return err
	}
	t0 := time.Now()
	login, err := n.call("POST", "/api/v1/auth/login", "", map[string]any{"email": "bench@example.com", "password": "bench-password"})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "login (Argon2id, default parameters): %v\n", time.Since(t0).Round(time.Millisecond))
	tok := login["token"].(string)
	org, err := n.call("POST", "/api/v1/orgs", tok, map[string]any{"name": "Bench Org", "size": "11-50", "industry": "Technology"})
	if err != nil {
		return err
	}
	orgID := org["id"].(string)

	measure := func(name string, fn func(i int) error) error {
		ds := make([]time.Duration, 0, requests)
		for i := 0; i < requests; i++ {
			s := time.Now()
			if err := fn(i); err != nil {
				return err
			}
			ds = append(ds, time.Since(s))
		}
		p50, p99 := percentiles(ds)
		fmt.Fprintf(w, "%-44s n=%d p50 %v p99 %v\n", name, requests, p50.Round(time.Microsecond), p99.Round(time.Microsecond))
		return nil
	}
	if err := measure("GET /api/v1/orgs/{org} (user session)", func(int) error {
		_, err := n.call("GET", "/api/v1/orgs/"+orgID, tok, nil)
		return err
	}); err != nil {
		return err
	}
	if err := measure("GET /api/v1/orgs/{org}/members (operator)", func(int) error {
		_, err := n.call("GET", "/api/v1/orgs/"+orgID+"/members", op, nil)
		return err
	}); err != nil {
		return err
	}
	// Writes rewrite the organization's document, so their cost grows with
	// the number of keys it holds; spread them over organizations of at
	// most 100 keys each (a realistic upper range) to stay under the cap.
	keyOrg := orgID
	if err := measure("POST /api/v1/orgs/{org}/api-keys (write)", func(i int) error {
		if i > 0 && i%100 == 0 {
			o, err := n.call("POST", "/api/v1/orgs", tok, map[string]any{"name": fmt.Sprintf("Bench %d", i), "size": "11-50", "industry": "Technology"})
			if err != nil {
				return err
			}
			keyOrg = o["id"].(string)
		}
		_, err := n.call("POST", "/api/v1/orgs/"+keyOrg+"/api-keys", tok, map[string]any{"name": fmt.Sprintf("k%d", i)})
		return err
	}); err != nil {
		return err
	}

	time.Sleep(3 * time.Second) // let the node settle
	m, err := memStatus(n.cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "idle RSS after the measured run: %s\n", m)
	return nil
}
