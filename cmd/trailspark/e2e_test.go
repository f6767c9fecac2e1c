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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trailspark/trailspark/store/postgres/pgtest"
)

// The end-to-end tests run the real binary as a child process, the way an
// operator does, on a random port with its own data directory.

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trailspark-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "trailspark")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build trailspark: %v\n%s", err, out)
		os.Exit(1)
	}
	code := pgtest.Run(m) // stops the throwaway PostgreSQL of the cluster tests
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	cmd    *exec.Cmd
	url    string
	stdout *lockedBuffer
	stderr *lockedBuffer
}

// lockedBuffer is written by the process's output goroutines while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listenRe = regexp.MustCompile(`listening on (http://\S+)`)

// startServe runs `trailspark serve` on a free port and waits for /readyz.
func startServe(t *testing.T, dataDir string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binPath, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = append(os.Environ(), "TRAILSPARK_PASSWORD_HASHING=fast", "TRAILSPARK_STORE_PROFILE=small")
	cmd.Env = append(cmd.Env, env...)
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdoutPipe)
		sent := false
		for sc.Scan() {
			p.stdout.WriteString(sc.Text() + "\n")
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil && !sent {
				urlc <- m[1]
				sent = true
			}
		}
	}()
	select {
	case p.url = <-urlc:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not print its address; stderr:\n%s", p.stderr.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				// The banner's last line tells how to go on; wait for the
				// reader goroutine to have it so banner checks see it all.
				for !strings.Contains(p.stdout.String(), "API reference") {
					if time.Now().After(deadline) {
						t.Fatalf("banner incomplete:\n%s", p.stdout.String())
					}
					time.Sleep(5 * time.Millisecond)
				}
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node never became ready; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) call(t *testing.T, method, path, token string, body any, want int) map[string]any {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, p.url+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	out := map[string]any{}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out)
	}
	return out
}

func operatorToken(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "operator-token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Everything acknowledged before a SIGKILL is there after a restart, and a
// SIGTERM stops the node gracefully with exit status 0.
func TestRestartDurability(t *testing.T) {
	dataDir := t.TempDir()
	p := startServe(t, dataDir)
	if !strings.Contains(p.stdout.String(), "Operator token (shown once") {
		t.Fatalf("first start did not print the operator token:\n%s", p.stdout.String())
	}
	op := operatorToken(t, dataDir)

	p.call(t, "POST", "/api/v1/auth/register", "", map[string]any{"email": "ann@acme.io", "password": "correct horse", "name": "Ann"}, 201)
	login := p.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": "ann@acme.io", "password": "correct horse"}, 200)
	tok := login["token"].(string)
	org := p.call(t, "POST", "/api/v1/orgs", tok, map[string]any{"name": "Acme", "size": "11-50", "industry": "Technology"}, 201)
	orgID := org["id"].(string)
	key := p.call(t, "POST", "/api/v1/orgs/"+orgID+"/api-keys", tok, map[string]any{"name": "prod"}, 201)
	sk := key["key"].(string)
	pat := p.call(t, "POST", "/api/v1/me/tokens", tok, map[string]any{"name": "script"}, 201)["token"].(string)
	inv := p.call(t, "POST", "/api/v1/orgs/"+orgID+"/invitations", tok, map[string]any{"email": "bob@acme.io", "role": "editor"}, 201)

	// Crash: no chance to flush anything.
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	p2 := startServe(t, dataDir)
	if strings.Contains(p2.stdout.String(), "shown once") {
		t.Fatal("restart printed the operator token again")
	}
	got := p2.call(t, "GET", "/api/v1/orgs/"+orgID, tok, nil, 200)
	if got["name"] != "Acme" || got["role"] != "owner" {
		t.Fatalf("org after restart = %v", got)
	}
	p2.call(t, "GET", "/api/v1/orgs/"+orgID, pat, nil, 200)
	p2.call(t, "GET", "/api/v1/orgs", op, nil, 200)
	self := p2.call(t, "GET", "/api/v1/api-keys/self", sk, nil, 200)
	if self["org_id"] != orgID {
		t.Fatalf("key self after restart = %v", self)
	}
	invs := p2.call(t, "GET", "/api/v1/orgs/"+orgID+"/invitations", tok, nil, 200)["items"].([]any)
	if len(invs) != 1 || invs[0].(map[string]any)["id"] != inv["invitation"].(map[string]any)["id"] {
		t.Fatalf("invitations after restart = %v", invs)
	}
	p2.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"email": "ann@acme.io", "password": "correct horse"}, 200)

	// Graceful stop.
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p2.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("graceful stop exited with %v; stderr:\n%s", err, p2.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("SIGTERM did not stop the node within 20 s")
	}

	// And a third start after the graceful stop still has it all.
	p3 := startServe(t, dataDir)
	p3.call(t, "GET", "/api/v1/orgs/"+orgID, tok, nil, 200)

	for _, secret := range []string{tok, pat, sk, op, "correct horse"} {
		for name, out := range map[string]string{"stderr": p.stderr.String() + p2.stderr.String()} {
			if strings.Contains(out, secret) {
				t.Fatalf("a secret leaked into %s", name)
			}
		}
	}
}

// The operator token can come from TRAILSPARK_ADMIN_TOKEN; then nothing is
// generated or written.
func TestAdminTokenFromEnvironment(t *testing.T) {
	dataDir := t.TempDir()
	const admin = "an-operator-token-from-env"
	p := startServe(t, dataDir, "TRAILSPARK_ADMIN_TOKEN="+admin)
	p.call(t, "GET", "/api/v1/orgs", admin, nil, 200)
	p.call(t, "GET", "/api/v1/orgs", "wrong-token-of-enough-length", nil, 401)
	if _, err := os.Stat(filepath.Join(dataDir, "operator-token")); err == nil {
		t.Fatal("an operator-token file was written although TRAILSPARK_ADMIN_TOKEN was set")
	}
	if fi, err := os.Stat(filepath.Join(dataDir, "encryption.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("encryption.key missing or not 0600: %v %v", fi, err)
	}
}

// A bad configuration fails fast with every problem named.
func TestServeRejectsBadConfig(t *testing.T) {
	cmd := exec.Command(binPath, "serve", "--data-dir", t.TempDir(), "--listen", "nonsense", "--log-level", "loud")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve accepted a bad config:\n%s", out)
	}
	for _, want := range []string{"listen:", "log_level:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error output does not name %q:\n%s", want, out)
		}
	}
}
