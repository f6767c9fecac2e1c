package actorpb

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestGeneratedCodeIsCurrent regenerates grain.pb.go with protoc and the
// protoc-gen-go pinned in go.mod, and fails when the committed file differs:
// a .proto edit without `go tool task generate` must not land. It skips when
// protoc is absent (CI installs it).
func TestGeneratedCodeIsCurrent(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc not installed (apt-get install protobuf-compiler); CI installs it")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	tmp := t.TempDir()
	gen := filepath.Join(tmp, "protoc-gen-go")
	build := exec.Command("go", "build", "-o", gen, "google.golang.org/protobuf/cmd/protoc-gen-go")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build protoc-gen-go: %v\n%s", err, out)
	}
	cmd := exec.Command(protoc, "--plugin=protoc-gen-go="+gen, "--go_out="+tmp,
		"--go_opt=module=github.com/trailspark/trailspark", "actors/actorpb/grain.proto")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	fresh, err := os.ReadFile(filepath.Join(tmp, "actors", "actorpb", "grain.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(root, "actors", "actorpb", "grain.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(withoutProtocVersion(fresh), withoutProtocVersion(committed)) {
		t.Fatal("actors/actorpb/grain.pb.go is stale: run `go tool task generate` and commit the result")
	}
}

// withoutProtocVersion drops the "// \tprotoc vX" header line, which names
// the local protoc build rather than anything that affects the code.
func withoutProtocVersion(b []byte) []byte {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "// \tprotoc ") {
			continue
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}
