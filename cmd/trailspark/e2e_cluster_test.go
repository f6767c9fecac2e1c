package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trailspark/trailspark/store/postgres/pgtest"
)

// testCluster is three `trailspark serve --cluster` processes sharing one
// throwaway PostgreSQL database and finding each other through the
// automanaged provider on loopback.
type testCluster struct {
	t        *testing.T
	pgURL    string
	op       string // operator token (the same on every node)
	key      string // encryption key (the same on every node)
	peers    string
	ports    []int // node ports
	dataDirs []string

	mu    sync.Mutex
	procs []*proc // nil while a node is down
}

func newTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	c := &testCluster{t: t, pgURL: pgtest.URL(t), op: "tso_cluster-e2e-operator-token"}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	c.key = base64.StdEncoding.EncodeToString(k)
	var peers []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		c.ports = append(c.ports, port)
		peers = append(peers, "127.0.0.1:"+strconv.Itoa(port))
		c.dataDirs = append(c.dataDirs, t.TempDir())
	}
	c.peers = strings.Join(peers, ",")
	c.procs = make([]*proc, n)
	return c
}

// start starts node i and waits until it answers /readyz.
func (c *testCluster) start(i int) (*proc, error) {
	cmd := exec.Command(binPath, "serve", "--cluster", "--store", c.pgURL,
		"--cluster-provider", "automanaged", "--peers", c.peers, "--node-port", strconv.Itoa(c.ports[i]),
		"--data-dir", c.dataDirs[i], "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "TRAILSPARK_PASSWORD_HASHING=fast",
		"TRAILSPARK_ENCRYPTION_KEY="+c.key, "TRAILSPARK_ADMIN_TOKEN="+c.op)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.stdout.WriteString(sc.Text() + "\n")
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case p.url = <-urlc:
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("node %d did not print its address; stderr:\n%s", i, p.stderr.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				c.mu.Lock()
				c.procs[i] = p
				c.mu.Unlock()
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("node %d never became ready; stderr:\n%s", i, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *testCluster) mustStart(i int) *proc {
	c.t.Helper()
	p, err := c.start(i)
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *testCluster) proc(i int) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[i]
}

// url is a live node's API, the n-th modulo the live ones ("" if none).
func (c *testCluster) url(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var live []string
	for _, p := range c.procs {
		if p != nil {
			live = append(live, p.url)
		}
	}
	if len(live) == 0 {
		return ""
	}
	return live[n%len(live)]
}

// down marks node i as gone (before it is killed, so no new traffic goes
// there).
func (c *testCluster) down(i int) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.procs[i]
	c.procs[i] = nil
	return p
}

type clusterMember struct {
	ID     string         `json:"id"`
	Peer   string         `json:"peer"`
	Status string         `json:"status"`
	Self   bool           `json:"self"`
	Grains map[string]int `json:"grains"`
}

// members asks node p for GET /api/v1/cluster (nil on any failure).
func (c *testCluster) members(p *proc) []clusterMember {
	req, _ := http.NewRequest("GET", p.url+"/api/v1/cluster", nil)
	req.Header.Set("Authorization", "Bearer "+c.op)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil
	}
	var v struct {
		Members []clusterMember `json:"members"`
	}
	if json.NewDecoder(resp.Body).Decode(&v) != nil {
		return nil
	}
	return v.Members
}

func alive(ms []clusterMember) int {
	n := 0
	for _, m := range ms {
		if m.Status == "alive" && m.ID != "" {
			n++
		}
	}
	return n
}

// waitFormed waits until every live node sees want alive members.
func (c *testCluster) waitFormed(want int, within time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	for {
		ok := true
		for i := range c.ports {
			if p := c.proc(i); p != nil && alive(c.members(p)) != want {
				ok = false
			}
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			for i := range c.ports {
				if p := c.proc(i); p != nil {
					c.t.Logf("node %d sees %+v", i, c.members(p))
				}
			}
			c.t.Fatalf("the cluster did not settle on %d members within %v", want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nodeOf maps a member's peer (node port) to the node index.
func (c *testCluster) nodeOf(peer string) int {
	for i, p := range c.ports {
		if peer == "127.0.0.1:"+strconv.Itoa(p) {
			return i
		}
	}
	return -1
}

// Three nodes over one PostgreSQL database: signals flow through all of
// them while the node hosting the organization's grain is SIGKILLed,
// restarted, and then every node is restarted in turn. Every signal is
// retried with its messageId until acknowledged, so each must be stored
// exactly once, processed, and counted once on its lead.
func TestClusterFailoverLosesNothing(t *testing.T) {
	testStart := time.Now()
	c := newTestCluster(t, 3)
	errc := make(chan error, 3)
	for i := range c.ports {
		go func() { _, err := c.start(i); errc <- err }()
	}
	for range c.ports {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("3 nodes ready in %v; formed after %v more", time.Since(testStart), c.waitFormed(3, 20*time.Second))

	// Non-operators may not see the cluster.
	tok, org, key := setupIngest(t, c.proc(0))
	c.proc(1).call(t, "GET", "/api/v1/cluster", tok, nil, 403)

	var (
		mu      sync.Mutex
		acked   = map[string]uint64{} // messageId → signal id
		emailOf = map[string]string{} // messageId → email
		stop    atomic.Bool
		lost    atomic.Int64 // sends never acknowledged
		lastErr atomic.Value // string: the last failed send
		retries atomic.Int64
		sent    atomic.Int64
		wg      sync.WaitGroup
	)
	client := &http.Client{Timeout: 8 * time.Second}
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				// Paced and capped: the organization's plan (free) has a
				// quota of 10000 signals per period.
				time.Sleep(10 * time.Millisecond)
				if sent.Add(1) > maxSignals {
					continue
				}
				mid := fmt.Sprintf("w%d-%d", w, i)
				email := fmt.Sprintf("person%d@customer%d.com", (w*7+i)%30, w%3)
				body, _ := json.Marshal(map[string]any{"email": email, "event": "Viewed", "messageId": mid})
				giveUp := time.Now().Add(40 * time.Second)
				for attempt := 0; ; attempt++ {
					if time.Now().After(giveUp) {
						lost.Add(1)
						break
					}
					base := c.url(w + i + attempt)
					if base == "" {
						time.Sleep(50 * time.Millisecond)
						continue
					}
					resp, err := client.Post(base+"/api/signal-staging/webhook/"+key, "application/json", bytes.NewReader(body))
					if err != nil {
						retries.Add(1)
						lastErr.Store(time.Now().Format("15:04:05.000") + " " + err.Error())
						time.Sleep(20 * time.Millisecond)
						continue
					}
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					var r struct {
						ID uint64 `json:"id"`
					}
					if resp.StatusCode != 202 || json.Unmarshal(raw, &r) != nil || r.ID == 0 {
						retries.Add(1)
						lastErr.Store(fmt.Sprintf("%s %s: %d %s", time.Now().Format("15:04:05.000"), base, resp.StatusCode, raw))
						time.Sleep(50 * time.Millisecond)
						continue
					}
					mu.Lock()
					if prev, ok := acked[mid]; ok && prev != r.ID {
						t.Errorf("messageId %s acknowledged as %d and as %d", mid, prev, r.ID)
					}
					acked[mid], emailOf[mid] = r.ID, email
					mu.Unlock()
					break
				}
			}
		}(w)
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitCount := func(n int) {
		deadline := time.Now().Add(30 * time.Second)
		for count() < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCount(200)

	// Kill the node hosting the organization's grain (else node 1).
	victim := 1
	for _, m := range c.members(c.proc(0)) {
		if m.Grains["org"] > 0 {
			victim = c.nodeOf(m.Peer)
		}
	}
	survivor := (victim + 1) % 3
	before := count()
	dead := c.down(victim)
	killedAt := time.Now()
	if err := dead.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = dead.cmd.Wait()
	// The survivors drop the dead member, and the organization answers
	// again on a survivor (its grain re-activated there). A request that
	// was in flight to the dead node when it died waits out its timeout
	// (5 s), so each probe gets at most 1 s and the next one starts fresh.
	probe := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequest("GET", c.proc(survivor).url+"/api/v1/orgs/"+org, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := probe.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(killedAt) > 20*time.Second {
			t.Fatalf("the dead node's grains did not come back on the survivors within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	failover := time.Since(killedAt)
	c.waitFormed(2, 20*time.Second)
	dropped := time.Since(killedAt)
	waitCount(count() + 100)
	t.Logf("node %d (hosting the org grain) SIGKILLed after %d acknowledged signals; its org grain answered on a survivor after %v; both survivors list 2 members after %v; %d acknowledged since",
		victim, before, failover, dropped, count()-before)
	if failover > 10*time.Second {
		t.Errorf("failover took %v, want seconds", failover)
	}

	// Restart it: it rejoins (with a new member id) and takes grains again.
	rejoinStart := time.Now()
	c.mustStart(victim)
	c.waitFormed(3, 20*time.Second)
	t.Logf("node %d restarted and rejoined in %v", victim, time.Since(rejoinStart))
	waitCount(count() + 100)

	// Rolling restart: each node in turn stops gracefully and comes back.
	rollStart := time.Now()
	for i := range c.ports {
		p := c.down(i)
		stepStart := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("node %d: graceful stop exited with %v; stderr:\n%s", i, err, tail(p.stderr.String(), 2000))
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("node %d: SIGTERM did not stop it within 20 s", i)
		}
		stopped := time.Since(stepStart)
		c.mustStart(i)
		c.waitFormed(3, 20*time.Second)
		t.Logf("rolling restart: node %d stopped gracefully in %v, back and rejoined %v later", i, stopped, time.Since(stepStart)-stopped)
		waitCount(count() + 50)
	}
	t.Logf("rolling restart of 3 nodes under load took %v", time.Since(rollStart))

	stop.Store(true)
	wg.Wait()
	if n := lost.Load(); n > 0 {
		c.dumpLogs()
		t.Fatalf("%d signals were never acknowledged within 40 s of retrying; last failure: %v", n, lastErr.Load())
	}
	t.Logf("%d signals acknowledged (%d retried sends; last failure: %v)", len(acked), retries.Load(), lastErr.Load())

	// Every acknowledged signal is stored once and reaches a final status.
	ids := map[uint64]string{}
	for mid, id := range acked {
		if other, dup := ids[id]; dup {
			t.Fatalf("messageIds %s and %s share signal id %d", mid, other, id)
		}
		ids[id] = mid
	}
	p := c.proc(0)
	deadline := time.Now().Add(45 * time.Second)
	var statuses map[uint64]string
	for {
		statuses = map[uint64]string{}
		cursor := ""
		for {
			path := "/api/v1/orgs/" + org + "/signals?limit=200"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			page := p.call(t, "GET", path, tok, nil, 200)
			for _, it := range page["items"].([]any) {
				s := it.(map[string]any)
				id := uint64(s["id"].(float64))
				if _, seen := statuses[id]; seen {
					t.Fatalf("signal %d listed twice", id)
				}
				statuses[id] = s["status"].(string)
			}
			cursor, _ = page["next_cursor"].(string)
			if cursor == "" {
				break
			}
		}
		final := 0
		for id := range ids {
			if st := statuses[id]; st == "completed" || st == "skipped" {
				final++
			}
		}
		if final == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged signals processed after 45 s", final, len(ids))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for id := range ids {
		if _, ok := statuses[id]; !ok {
			t.Fatalf("acknowledged signal %d (%s) is not stored", id, ids[id])
		}
	}
	if len(statuses) != len(ids) {
		t.Fatalf("%d signals stored, %d acknowledged: every send was retried until acknowledged, so they must match", len(statuses), len(ids))
	}

	// None applied twice: each lead counts exactly its acknowledged signals.
	want := map[string]int{}
	for mid := range acked {
		want[emailOf[mid]]++
	}
	got := map[string]int{}
	cursor := ""
	for {
		path := "/api/v1/orgs/" + org + "/leads?limit=200"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		page := c.proc(2).call(t, "GET", path, tok, nil, 200)
		for _, it := range page["items"].([]any) {
			l := it.(map[string]any)
			email, _ := l["email"].(string)
			got[strings.ToLower(email)] += int(l["signal_count"].(float64))
		}
		cursor, _ = page["next_cursor"].(string)
		if cursor == "" {
			break
		}
	}
	for email, n := range want {
		if got[email] != n {
			t.Errorf("lead %s: signal_count %d, want %d acknowledged", email, got[email], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d leads, want %d", len(got), len(want))
	}
	// A re-sent messageId is a duplicate of its first acknowledgement.
	for mid, id := range acked {
		body, _ := json.Marshal(map[string]any{"email": emailOf[mid], "event": "Viewed", "messageId": mid})
		resp, err := http.Post(c.proc(1).url+"/api/signal-staging/webhook/"+key, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			ID        uint64 `json:"id"`
			Duplicate bool   `json:"duplicate"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if !r.Duplicate || r.ID != id {
			t.Fatalf("re-sent %s: id %d duplicate=%v, want a duplicate of %d", mid, r.ID, r.Duplicate, id)
		}
		break
	}
	t.Logf("whole test: %v", time.Since(testStart))
}

// dumpLogs logs the tail of every live node's stderr.
func (c *testCluster) dumpLogs() {
	for i := range c.ports {
		if p := c.proc(i); p != nil {
			c.t.Logf("node %d stderr:\n%s", i, tail(p.stderr.String(), 4000))
		}
	}
}

// maxSignals bounds the signals the failover test sends, below the free
// plan's quota.
const maxSignals = 8000

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Cluster mode refuses to start with settings that would differ per node
// or that cannot be shared.
func TestClusterRefusesUnsharedSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"badger store", []string{"--cluster", "--cluster-provider", "automanaged", "--peers", "127.0.0.1:1", "--node-port", "1"},
			[]string{"TRAILSPARK_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(make([]byte, 32)), "TRAILSPARK_ADMIN_TOKEN=an-operator-token-of-length"},
			[]string{"cluster mode needs --store postgres://"}},
		{"generated secrets", []string{"--cluster", "--store", "postgres://u@127.0.0.1:1/db", "--cluster-provider", "automanaged", "--peers", "127.0.0.1:1", "--node-port", "1"},
			nil, []string{"encryption_key:", "admin_token:"}},
		{"unavailable provider", []string{"--cluster", "--store", "postgres://u@127.0.0.1:1/db", "--cluster-provider", "zookeeper"},
			nil, []string{"cluster_provider: \"zookeeper\" is not available"}},
		{"etcd without endpoints", []string{"--cluster", "--store", "postgres://u@127.0.0.1:1/db", "--cluster-provider", "etcd", "--consul-address", "127.0.0.1:8500"},
			nil, []string{"etcd_endpoints: the etcd provider needs", "consul_address: the consul_* settings are for --cluster-provider consul, not \"etcd\""}},
		{"kubernetes without the pod IP", []string{"--cluster", "--store", "postgres://u@127.0.0.1:1/db", "--cluster-provider", "kubernetes"},
			nil, []string{"advertise_host: the kubernetes provider reaches members at their pod IP"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binPath, append([]string{"serve", "--data-dir", filepath.Join(t.TempDir(), "d")}, tc.args...)...)
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("serve started:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output does not say %q:\n%s", w, out)
				}
			}
		})
	}
}
