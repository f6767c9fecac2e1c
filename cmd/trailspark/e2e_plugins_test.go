package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestPluginsAdministration is the operator's path with a real connector
// binary: the node discovers it, pins its checksum, starts and stops it
// on request, refuses it after the binary changes until re-approved, and
// never leaves it running after the node dies.
func TestPluginsAdministration(t *testing.T) {
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(plugins, "trailspark-connector-segment")
	if out, err := exec.Command("go", "build", "-o", bin, "../../plugins/segment").CombinedOutput(); err != nil {
		t.Fatalf("build the segment connector: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	p := startServe(t, data, "TRAILSPARK_PLUGINS_DIR="+plugins)
	op := operatorToken(t, data)
	doc, err := openapi3.NewLoader().LoadFromFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	schema := doc.Components.Schemas["Plugin"].Value
	valid := func(v map[string]any) map[string]any {
		t.Helper()
		if err := schema.VisitJSON(v); err != nil {
			t.Errorf("plugin %v does not match the Plugin schema: %v", v, err)
		}
		return v
	}

	list := p.call(t, "GET", "/api/v1/plugins", op, nil, 200)["items"].([]any)
	if len(list) != 1 {
		t.Fatalf("plugins %v", list)
	}
	seg := valid(list[0].(map[string]any))
	if seg["name"] != "segment" || len(seg["checksum"].(string)) != 64 || seg["state"] == "unapproved" {
		t.Errorf("discovered %v", seg)
	}
	p.call(t, "GET", "/api/v1/plugins", "", nil, 401)

	started := valid(p.call(t, "POST", "/api/v1/plugins/segment/start", op, nil, 200))
	pid := int(started["pid"].(float64))
	if started["state"] != "running" || pid == 0 || started["version"] == "" || !strings.Contains(strings.Join(anyStrings(started["capabilities"]), ","), "translate") {
		t.Errorf("started %v", started)
	}
	if st := valid(p.call(t, "POST", "/api/v1/plugins/segment/stop", op, nil, 200)); st["state"] != "stopped" {
		t.Errorf("stopped %v", st)
	}
	p.call(t, "POST", "/api/v1/plugins/nope/start", op, nil, 404)

	// A changed binary is refused until the operator approves it again.
	f, err := os.OpenFile(bin, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("tampered")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if st := valid(p.call(t, "GET", "/api/v1/plugins", op, nil, 200)["items"].([]any)[0].(map[string]any)); st["state"] != "unapproved" {
		t.Errorf("after the binary changed: %v", st)
	}
	p.call(t, "POST", "/api/v1/plugins/segment/start", op, nil, 409)
	valid(p.call(t, "POST", "/api/v1/plugins/segment/approve", op, nil, 200))
	again := p.call(t, "POST", "/api/v1/plugins/segment/start", op, nil, 200)
	pid = int(again["pid"].(float64))
	if !processAlive(pid) {
		t.Fatalf("plugin pid %d not running after start", pid)
	}

	// A crashed plugin is restarted by the node's supervisor (not by a
	// request): that process, too, must die with the node.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := valid(p.call(t, "GET", "/api/v1/plugins", op, nil, 200)["items"].([]any)[0].(map[string]any))
		if st["state"] == "running" && st["pid"] != nil && int(st["pid"].(float64)) != pid {
			if st["restarts"].(float64) < 1 {
				t.Errorf("restarted plugin: %v", st)
			}
			pid = int(st["pid"].(float64))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin not restarted after a crash: %v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !processAlive(pid) {
		t.Fatalf("restarted plugin pid %d not running", pid)
	}

	// The plugin never outlives its node, even a SIGKILLed one.
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin pid %d still alive after the node was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processAlive reports whether pid runs (a zombie, dead but not yet reaped
// by whoever inherited it, does not count).
func processAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: trust kill(0)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return !(i >= 0 && i+2 < len(s) && s[i+2] == 'Z')
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
