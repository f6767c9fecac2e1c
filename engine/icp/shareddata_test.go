package icp

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedData is the path of a file of the project's shared datasets:
// TRAILSPARK_SHARED_DATA when set (.ci/run sets it), else ../shared/data
// beside the repository. An absent file skips the test, unless
// TRAILSPARK_REQUIRE_DATA=1 (CI, when it found the datasets): then it fails.
func sharedData(t testing.TB, parts ...string) string {
	t.Helper()
	base := os.Getenv("TRAILSPARK_SHARED_DATA")
	if base == "" {
		base = filepath.Join("..", "..", "..", "shared", "data")
	}
	p := filepath.Join(append([]string{base}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("TRAILSPARK_REQUIRE_DATA") == "1" {
			t.Fatalf("dataset required but absent: %v", err)
		}
		t.Skipf("dataset absent: %v", err)
	}
	return p
}
