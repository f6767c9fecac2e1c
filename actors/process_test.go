package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/identity"
	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/store"
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

// TestIdentifyTitleSetsLeadTitle: an identify's traits carry the person's
// job title (a CRM sync's mapped title arrives that way); it becomes the
// lead's title without a rule that maps it, and a rule's mapped title wins.
func TestIdentifyTitleSetsLeadTitle(t *testing.T) {
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	titleRule := func(context.Context) ([]mapping.Rule, uint64, error) {
		r := eventRule("Signed up", 1)
		r.ID = "rule_title"
		r.Mappings = append(r.Mappings, mapping.IdentifierMapping{Path: "properties.role", Target: mapping.TargetTitle})
		return []mapping.Rule{r}, 1, nil
	}
	noRules := func(context.Context) ([]mapping.Rule, uint64, error) { return nil, 1, nil }
	for _, tc := range []struct {
		name, typ, payload string
		rules              rulesSource
		want               string
	}{
		{"traits.title", "identify", `{"type":"identify","traits":{"email":"a@x.io","title":"  VP of Sales "}}`, noRules, "VP of Sales"},
		{"context.traits.title", "identify", `{"type":"identify","context":{"traits":{"title":"CTO"}}}`, noRules, "CTO"},
		{"job_title", "identify", `{"type":"identify","traits":{"job_title":"Head of Growth"}}`, noRules, "Head of Growth"},
		{"a track's traits are not the person's", "track", `{"type":"track","event":"Viewed","context":{"traits":{"title":"CTO"}}}`, noRules, ""},
		{"a rule's title wins", "identify", `{"type":"identify","event":"Signed up","traits":{"title":"Engineer"},"properties":{"role":"Director"}}`, titleRule, "Director"},
		{"no title", "identify", `{"type":"identify","traits":{"title":7}}`, noRules, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := queueEnv(t)
			email := "person@acme-title.com"
			data, err := encodeStoredSignal(&storedSignal{Source: "segment", Type: tc.typ, Event: "Signed up", Email: email,
				Timestamp: t0, ReceivedAt: t0, Payload: json.RawMessage(tc.payload)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := env.SignalLog.Append(context.Background(), mergeOrg, []store.LogRecord{{Partition: 0, Data: data}}, 0); err != nil {
				t.Fatal(err)
			}
			drain(t, newProcessor(env, env.SignalLog, mergeOrg, 0, tc.rules))
			if got := mustLead(t, env, leadOf(t, env, email)).Title; got != tc.want {
				t.Fatalf("lead title %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDomainCacheSeesNewAccounts: a partition keeps what it learned about a
// domain across steps, and drops it when an account's domain is indexed
// outside processing (the account API, a CRM sync): the next step's
// signal sees both accounts (an ambiguous domain), not the cached one.
func TestDomainCacheSeesNewAccounts(t *testing.T) {
	ctx := context.Background()
	env := queueEnv(t)
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	noRules := func(context.Context) ([]mapping.Rule, uint64, error) { return nil, 1, nil }
	p := newProcessor(env, env.SignalLog, mergeOrg, 0, noRules)
	if err := env.putDomain(ctx, mergeOrg, "initech.com", "acct_initech_a"); err != nil {
		t.Fatal(err)
	}
	appendMergeSigs(t, env, mergeSig{email: "ann@initech.com", at: t0})
	drain(t, p)
	if a := mustLead(t, env, leadOf(t, env, "ann@initech.com")).Account; a == nil || a.AccountID != "acct_initech_a" {
		t.Fatalf("first person: %+v", a)
	}
	if _, ok := env.domains.get(mergeOrg, "initech.com", p.domainEpoch); !ok {
		t.Fatal("the domain was not cached")
	}
	// A second account for the domain, as the account API would index it.
	if err := env.putDomain(ctx, mergeOrg, "initech.com", "acct_initech_b"); err != nil {
		t.Fatal(err)
	}
	appendMergeSigs(t, env, mergeSig{email: "bob@initech.com", at: t0.Add(time.Minute)})
	drain(t, p)
	l := mustLead(t, env, leadOf(t, env, "bob@initech.com"))
	if l.Account != nil || l.Unmatched == "" {
		t.Fatalf("second person after a second account: account %+v, unmatched %q; want an ambiguous domain", l.Account, l.Unmatched)
	}
	// Indexing an account that is indexed already changes nothing.
	_, before, _ := env.Store.Load(ctx, keyDomainEpoch(mergeOrg))
	if err := env.putDomain(ctx, mergeOrg, "initech.com", "acct_initech_b"); err != nil {
		t.Fatal(err)
	}
	if _, after, _ := env.Store.Load(ctx, keyDomainEpoch(mergeOrg)); after != before {
		t.Errorf("re-indexing bumped the domain epoch %d → %d", before, after)
	}

	// A domain no account has: processing infers one and remembers it, and
	// the real account that takes the domain over later is seen.
	appendMergeSigs(t, env, mergeSig{email: "cy@hooli.com", at: t0.Add(2 * time.Minute)})
	drain(t, p)
	inferred := identity.AccountIDForDomain(mergeOrg, "hooli.com")
	if a := mustLead(t, env, leadOf(t, env, "cy@hooli.com")).Account; a == nil || a.AccountID != inferred {
		t.Fatalf("inferred: %+v, want %s", a, inferred)
	}
	if accounts, ok := env.domains.get(mergeOrg, "hooli.com", p.domainEpoch); !ok || len(accounts) != 1 || accounts[0] != inferred {
		t.Fatalf("the inferred account was not remembered: %+v %v", accounts, ok)
	}
	if err := env.deleteDomain(ctx, mergeOrg, "hooli.com", inferred); err != nil {
		t.Fatal(err)
	}
	if err := env.putDomain(ctx, mergeOrg, "hooli.com", "acct_hooli"); err != nil {
		t.Fatal(err)
	}
	appendMergeSigs(t, env, mergeSig{email: "dee@hooli.com", at: t0.Add(3 * time.Minute)})
	drain(t, p)
	if a := mustLead(t, env, leadOf(t, env, "dee@hooli.com")).Account; a == nil || a.AccountID != "acct_hooli" {
		t.Fatalf("after the real account took the domain: %+v", a)
	}
}

// TestDomainCacheIsShared: a domain one partition looked up is not looked
// up again by another partition of the organization on the node, until the
// domain epoch moves; other organizations have their own answers.
func TestDomainCacheIsShared(t *testing.T) {
	ctx := context.Background()
	env := queueEnv(t)
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	noRules := func(context.Context) ([]mapping.Rule, uint64, error) { return nil, 1, nil }
	p0 := newProcessor(env, env.SignalLog, mergeOrg, 0, noRules)
	p1 := newProcessor(env, env.SignalLog, mergeOrg, 1, noRules)
	if err := env.putDomain(ctx, mergeOrg, "initech.com", "acct_initech_a"); err != nil {
		t.Fatal(err)
	}
	appendMergeSigs(t, env, mergeSig{part: 0, email: "ann@initech.com", at: t0})
	drain(t, p0)
	// The index entry goes without an epoch bump (no API path does this):
	// partition 1 can only still match it through partition 0's answer.
	if err := env.deleteIndex(ctx, keyDomain(mergeOrg, "initech.com", "acct_initech_a")); err != nil {
		t.Fatal(err)
	}
	appendMergeSigs(t, env, mergeSig{part: 1, email: "bob@initech.com", at: t0.Add(time.Minute)})
	drain(t, p1)
	if a := mustLead(t, env, leadOf(t, env, "bob@initech.com")).Account; a == nil || a.AccountID != "acct_initech_a" {
		t.Fatalf("partition 1 did not use partition 0's answer: %+v", a)
	}
	if _, ok := env.domains.get("org_other", "initech.com", p1.domainEpoch); ok {
		t.Fatal("another organization sees this one's answer")
	}
	// An epoch bump (another account indexed for some domain) retires the
	// answer: the next step reads the index again.
	if err := env.putDomain(ctx, mergeOrg, "globex.com", "acct_globex"); err != nil {
		t.Fatal(err)
	}
	appendMergeSigs(t, env, mergeSig{part: 1, email: "cy@initech.com", at: t0.Add(2 * time.Minute)})
	drain(t, p1)
	inferred := identity.AccountIDForDomain(mergeOrg, "initech.com")
	if a := mustLead(t, env, leadOf(t, env, "cy@initech.com")).Account; a == nil || a.AccountID != inferred {
		t.Fatalf("after the epoch moved: %+v, want the index read again (no account: inferred %s)", a, inferred)
	}
}

// TestNewerStoredSignalIsRetried: an entry in a framing newer than this
// release (written by an upgraded node during a rolling upgrade) stops the
// step without failing the signal, however often the step is retried; the
// entries before it are processed.
func TestNewerStoredSignalIsRetried(t *testing.T) {
	ctx := context.Background()
	env := queueEnv(t)
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	noRules := func(context.Context) ([]mapping.Rule, uint64, error) { return nil, 1, nil }
	p := newProcessor(env, env.SignalLog, mergeOrg, 0, noRules)
	appendMergeSigs(t, env, mergeSig{email: "ann@initech.com", at: t0})
	newer, err := env.SignalLog.Append(ctx, mergeOrg, []store.LogRecord{{Partition: 0, Data: []byte{storedSignalV2 + 1, 0, 0, 0}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range maxAttempts + 2 {
		if _, _, err := p.step(ctx); !errors.Is(err, errNewerStoredSignal) {
			t.Fatalf("step: %v, want errNewerStoredSignal", err)
		}
	}
	leadOf(t, env, "ann@initech.com") // the entry before it was processed
	if cur, err := env.SignalLog.Cursor(ctx, mergeOrg, 0); err != nil || cur >= newer[0].ID {
		t.Fatalf("cursor %d (%v), want before %d", cur, err, newer[0].ID)
	}
	var st *store.SignalStatus
	if err := env.SignalLog.ScanStatuses(ctx, mergeOrg, 0, func(s store.SignalStatus) (bool, error) {
		if s.ID == newer[0].ID {
			st = &s
		}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if st != nil {
		t.Fatalf("the newer entry got a status: %+v", st)
	}
}
