package sdk_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoEngineDependencies: connector authors must not inherit the engine's
// dependencies. The SDK may use only go-plugin, hclog, gRPC, protobuf and
// what they pull in.
func TestNoEngineDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, banned := range []string{"protoactor", "dgraph-io/badger", "gin-gonic", "gonum.org", "github.com/trailspark/trailspark/engine", "github.com/trailspark/trailspark/actors"} {
		if bytes.Contains(out, []byte(banned)) {
			t.Errorf("the SDK depends on %s", banned)
		}
	}
}

// TestGeneratedCodeIsCurrent regenerates proto/v1 into a temporary
// directory and compares. It skips when protoc or the generators are missing.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	for _, tool := range []string{"protoc", "protoc-gen-go", "protoc-gen-go-grpc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not on PATH", tool)
		}
	}
	tmp := t.TempDir()
	cmd := exec.Command("protoc", "--proto_path=.", "--go_out="+tmp, "--go_opt=paths=source_relative",
		"--go-grpc_out="+tmp, "--go-grpc_opt=paths=source_relative", "proto/v1/connector.proto")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	for _, f := range []string{"connector.pb.go", "connector_grpc.pb.go"} {
		want, err := os.ReadFile(filepath.Join(tmp, "proto/v1", f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("proto/v1", f))
		if err != nil {
			t.Fatal(err)
		}
		// Generator versions are stamped in a header comment; compare the rest.
		if strip(got) != strip(want) {
			t.Errorf("proto/v1/%s is stale: run go generate ./proto/v1", f)
		}
	}
}

func strip(b []byte) string {
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "// \tprotoc") || strings.HasPrefix(l, "// - protoc") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
