package actors

import (
	"testing"

	"go.uber.org/goleak"
)

// Grain logic is tested without protoactor, so nothing may outlive a test:
// the store's GC loop and every worker goroutine must be gone.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
