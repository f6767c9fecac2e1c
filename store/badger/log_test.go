package badgerstore

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHclogAdapter(t *testing.T) {
	var buf bytes.Buffer
	a := hclogAdapter{hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace})}
	a.Debugf("debug %d", 1)
	a.Infof("info %d\n", 2)
	a.Warningf("warn %d\n", 3)
	a.Errorf("error %d", 4)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (warn and error only):\n%s", len(lines), buf.String())
	}
	if !strings.HasSuffix(lines[0], "[WARN]  warn 3") {
		t.Errorf("line 1 = %q, want a WARN line ending in %q", lines[0], "warn 3")
	}
	if !strings.HasSuffix(lines[1], "[ERROR] error 4") {
		t.Errorf("line 2 = %q, want an ERROR line ending in %q", lines[1], "error 4")
	}
}
