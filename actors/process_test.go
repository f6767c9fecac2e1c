package actors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/mapping"
)

// A full batch of distinct people is written in several transactions (a
// single one would exceed the store's transaction size on the small
// profile), and every lead lands.
func TestProcessorFlushesLargeBatchesInChunks(t *testing.T) {
	env := queueEnv(t)
	rules := func(context.Context) ([]mapping.Rule, uint64, error) { return nil, 1, nil }
	p := newProcessor(env, env.SignalLog, mergeOrg, 0, rules)
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var sigs []mergeSig
	for i := 0; i < 2*batchSize+7; i++ {
		sigs = append(sigs, mergeSig{part: 0, email: fmt.Sprintf("person%d@company%d.com", i, i), at: t0.Add(time.Duration(i) * time.Second)})
	}
	appendMergeSigs(t, env, sigs...)
	drain(t, p)
	for i := 0; i < len(sigs); i += 37 {
		l := mustLead(t, env, leadOf(t, env, sigs[i].email))
		if l.SignalCount != 1 || l.Email != sigs[i].email {
			t.Fatalf("lead of %s: %+v", sigs[i].email, l)
		}
	}
	if n, err := env.SignalLog.Backlog(context.Background(), mergeOrg); err != nil || n != 0 {
		t.Fatalf("backlog %d %v", n, err)
	}
}
