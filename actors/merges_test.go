package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/identity"
	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/store"
)

// Admin merges over a real store and signal log, with real partition
// processors (no protoactor): the Client methods add only authorization.

const mergeOrg = "org_0000000000000000mrga"

type mergeSig struct {
	part  int
	email string
	anon  string
	at    time.Time
}

func appendMergeSigs(t *testing.T, env *Env, sigs ...mergeSig) {
	t.Helper()
	for _, s := range sigs {
		data, err := encodeStoredSignal(&storedSignal{Source: "generic", Type: "track", Event: "Viewed", Email: s.email,
			AnonymousID: s.anon, Timestamp: s.at, ReceivedAt: s.at, Payload: json.RawMessage(`{"event":"Viewed"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.SignalLog.Append(context.Background(), mergeOrg, []store.LogRecord{{Partition: s.part, Data: data}}, 0); err != nil {
			t.Fatal(err)
		}
	}
}

func drain(t *testing.T, ps ...*processor) {
	t.Helper()
	for _, p := range ps {
		for {
			n, more, err := p.step(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 || !more {
				break
			}
		}
	}
}

func leadOf(t *testing.T, env *Env, email string) string {
	t.Helper()
	id, err := env.lookupIdentity(context.Background(), mergeOrg, "email", email)
	if err != nil || id == "" {
		t.Fatalf("lookup %s: %q %v", email, id, err)
	}
	return id
}

func mustLead(t *testing.T, env *Env, id string) *Lead {
	t.Helper()
	l, _, err := env.loadLead(context.Background(), mergeOrg, id)
	if err != nil || l == nil {
		t.Fatalf("lead %s: %v", id, err)
	}
	return l
}

func TestMergeAndUndo(t *testing.T) {
	ctx := context.Background()
	env := queueEnv(t)
	rules := func(context.Context) ([]mapping.Rule, uint64, error) { return nil, 1, nil }
	p0 := newProcessor(env, env.SignalLog, mergeOrg, 0, rules)
	p1 := newProcessor(env, env.SignalLog, mergeOrg, 1, rules)
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	appendMergeSigs(t, env,
		mergeSig{part: 0, email: "ann@acme.com", at: t0.Add(time.Hour)},
		mergeSig{part: 0, email: "ann@acme.com", at: t0.Add(3 * time.Hour)},
		mergeSig{part: 1, email: "ann.b@other.com", anon: "anon-1", at: t0},
	)
	drain(t, p0, p1)
	a, b := leadOf(t, env, "ann@acme.com"), leadOf(t, env, "ann.b@other.com")
	if a == b {
		t.Fatal("one lead for two emails")
	}
	if got, _ := env.lookupIdentity(ctx, mergeOrg, "anonymous_id", "anon-1"); got != b {
		t.Fatalf("anon-1 → %q, want %s", got, b)
	}

	// Validation.
	_, err := mergeLeads(ctx, env, mergeOrg, a, a, "dup", "usr_x")
	wantField(t, err, "merge_lead_id")
	_, err = mergeLeads(ctx, env, mergeOrg, a, b, "  ", "usr_x")
	wantField(t, err, "reason")
	_, err = mergeLeads(ctx, env, mergeOrg, a, b, string(bytes.Repeat([]byte("x"), 1001)), "usr_x")
	wantField(t, err, "reason")
	_, err = mergeLeads(ctx, env, mergeOrg, a, "lead_nope", "dup", "usr_x")
	wantKind(t, err, errs.KindNotFound, "lead_not_found")

	before := mustLead(t, env, b)
	m, err := mergeLeads(ctx, env, mergeOrg, a, b, "same person", "usr_x")
	if err != nil {
		t.Fatal(err)
	}
	if m.Survivor != a || m.Merged != b || m.By != "usr_x" || len(m.Identifiers) != 1 || len(m.AnonymousIndex) != 1 {
		t.Fatalf("merge %+v", m)
	}
	s := mustLead(t, env, a)
	if !s.hasIdentifier("email", "ann.b@other.com") || !s.hasIdentifier("email", "ann@acme.com") ||
		s.SignalCount != 3 || len(s.Timeline) != 3 || !s.FirstSeenAt.Equal(t0) || s.AnonymousLinks != 1 {
		t.Fatalf("survivor %+v", s)
	}
	if mg := mustLead(t, env, b); mg.MergedInto != a || len(mg.Identifiers) != 0 || mg.SignalCount != 1 {
		t.Fatalf("merged %+v", mg)
	}
	if leadOf(t, env, "ann.b@other.com") != a {
		t.Fatal("merged email not re-pointed")
	}
	if got, _ := env.lookupIdentity(ctx, mergeOrg, "anonymous_id", "anon-1"); got != a {
		t.Fatalf("anon-1 → %q after merge", got)
	}
	_, err = mergeLeads(ctx, env, mergeOrg, a, b, "again", "usr_x")
	wantKind(t, err, errs.KindConflict, "lead_merged")
	_, err = mergeLeads(ctx, env, mergeOrg, b, a, "again", "usr_x")
	wantKind(t, err, errs.KindConflict, "lead_merged")

	// A processor whose cache still links the email to the merged lead
	// (the merge epoch not yet seen) still lands on the survivor: the
	// flush follows merged_into.
	p1.mergeEpoch = m.ID + "/merge"
	p1.idCache.put(identity.Identifier{Kind: identity.KindEmail, Value: "ann.b@other.com"}, b)
	appendMergeSigs(t, env, mergeSig{part: 1, email: "ann.b@other.com", at: t0.Add(5 * time.Hour)})
	drain(t, p1)
	if s := mustLead(t, env, a); s.SignalCount != 4 || !s.LastSeenAt.Equal(t0.Add(5*time.Hour)) {
		t.Fatalf("post-merge signal: survivor %+v", s)
	}
	if mg := mustLead(t, env, b); mg.SignalCount != 1 {
		t.Fatalf("merged lead took a signal: %+v", mg)
	}
	if leadOf(t, env, "ann.b@other.com") != a {
		t.Fatal("redirected link not written to the survivor")
	}

	list, next, err := listMerges(ctx, env, mergeOrg, "", 10)
	if err != nil || len(list) != 1 || list[0].ID != m.ID || next != "" {
		t.Fatalf("list %v %q %v", list, next, err)
	}

	// Undo: merged lead back exactly, survivor keeps its post-merge signal.
	u, err := undoMerge(ctx, env, mergeOrg, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.UndoneAt == nil {
		t.Fatal("undone_at not set")
	}
	if mg := mustLead(t, env, b); mg.MergedInto != "" || mg.SignalCount != before.SignalCount || !mg.hasIdentifier("email", "ann.b@other.com") {
		t.Fatalf("restored merged %+v", mg)
	}
	s = mustLead(t, env, a)
	if s.hasIdentifier("email", "ann.b@other.com") || s.SignalCount != 3 || len(s.Timeline) != 3 || s.AnonymousLinks != 0 ||
		!s.FirstSeenAt.Equal(t0.Add(time.Hour)) || !s.LastSeenAt.Equal(t0.Add(5*time.Hour)) {
		t.Fatalf("restored survivor %+v", s)
	}
	if leadOf(t, env, "ann.b@other.com") != b {
		t.Fatal("email not moved back")
	}
	if got, _ := env.lookupIdentity(ctx, mergeOrg, "anonymous_id", "anon-1"); got != b {
		t.Fatalf("anon-1 → %q after undo", got)
	}
	_, err = undoMerge(ctx, env, mergeOrg, m.ID)
	wantKind(t, err, errs.KindConflict, "merge_already_undone")
	_, err = undoMerge(ctx, env, mergeOrg, "mrg_nope")
	wantKind(t, err, errs.KindNotFound, "merge_not_found")

	// After the undo the processors' caches are dropped: a new signal of
	// the merged lead's email goes to it again.
	appendMergeSigs(t, env, mergeSig{part: 1, email: "ann.b@other.com", at: t0.Add(6 * time.Hour)})
	drain(t, p1)
	if mg := mustLead(t, env, b); mg.SignalCount != 2 {
		t.Fatalf("after undo: merged lead %+v", mg)
	}
	if s := mustLead(t, env, a); s.SignalCount != 3 {
		t.Fatalf("after undo: survivor %+v", s)
	}

	// Merging again works and is listed newest first.
	m2, err := mergeLeads(ctx, env, mergeOrg, b, a, "again, the other way", "usr_y")
	if err != nil {
		t.Fatal(err)
	}
	list, _, err = listMerges(ctx, env, mergeOrg, "", 1)
	if err != nil || len(list) != 1 {
		t.Fatalf("list %v %v", list, err)
	}
	got, _, err := loadMerge(ctx, env, mergeOrg, m2.ID)
	if err != nil || got.Survivor != b {
		t.Fatalf("load %+v %v", got, err)
	}
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	e := errs.As(err)
	if err == nil || e.Kind != errs.KindInvalid || e.Field != field {
		t.Fatalf("got %v, want invalid %s", err, field)
	}
}
