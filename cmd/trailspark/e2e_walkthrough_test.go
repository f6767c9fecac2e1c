package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestReadmeWalkthrough runs docs/walkthrough.sh — the README's curl and
// CLI commands, with their answers checked — against the real binary, so the
// README stays true. It needs bash, curl and jq (.ci/run installs them).
func TestReadmeWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed; .ci/run installs it", tool)
		}
	}
	dataDir := t.TempDir()
	p := startServe(t, dataDir)
	script, err := filepath.Abs(filepath.Join("..", "..", "docs", "walkthrough.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "URL="+p.url, "OP="+operatorToken(t, dataDir), "TRAILSPARK="+binPath,
		"XDG_CONFIG_HOME="+t.TempDir(), "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
}
