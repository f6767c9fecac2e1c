package actors

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/engine/score"
	"github.com/trailspark/trailspark/engine/seal"
	"github.com/trailspark/trailspark/store"
	badgerstore "github.com/trailspark/trailspark/store/badger"
)

// codecLead is a lead as ingestion builds it: n signals, every other one
// mapped by one of two rules, plus the scalar fields.
func codecLead(n int) *Lead {
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 123000000, time.UTC)
	l := &Lead{ID: "lead_x", Email: "a@b.com", Title: "VP Sales", Identifiers: []LeadIdentifier{{Kind: "email", Value: "a@b.com"}},
		Account: &AccountLink{AccountID: "acct_1", How: "domain"}, SignalCount: n, CountsByType: map[string]int{"page_view": n / 2},
		FirstSeenAt: t0, LastSeenAt: t0.Add(time.Duration(n) * time.Minute), AppliedUpTo: map[string]uint64{"3": 900},
		Evaluation:   &EvaluationSummary{ID: "ev_1", Grade: score.Grade("hot"), Score: 82, Probability: 0.82, Reasoning: "demo requested", EvaluatedAt: t0},
		ActivePeriod: "2026-11-01", CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)}
	for i := 0; i < n; i++ {
		e := TimelineEntry{SignalID: uint64(1000 + 7*i), At: t0.Add(time.Duration(i) * time.Minute), Source: "segment", Event: "Viewed", Type: "track"}
		if i%2 == 0 {
			e.RuleID, e.RuleName, e.SignalType, e.Weight, e.HalfLifeH = "rule_1", "Starter: Pricing page", "page_view", 1, 168
			if i%4 == 0 {
				e.RuleID, e.RuleName, e.SignalType, e.Weight, e.HalfLifeH, e.HighIntent = "rule_2", "Demo", "demo_request", 2.5, 336, true
			}
			l.MappedCount++
			l.addWindow(windowOfEntry(&e))
		}
		l.Timeline = append(l.Timeline, e)
		if len(l.Timeline) > maxTimeline {
			l.Timeline = l.Timeline[len(l.Timeline)-maxTimeline:]
		}
	}
	return l
}

// apiJSON is what GET leads shows of a lead.
func apiJSON(t testing.TB, l *Lead) string {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func roundTrip(t *testing.T, l *Lead) *Lead {
	t.Helper()
	b, err := encodeLead(l)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != leadCodecV2 {
		t.Fatalf("first byte %d", b[0])
	}
	var got Lead
	if err := decodeLead(b, &got); err != nil {
		t.Fatal(err)
	}
	if a, b := apiJSON(t, l), apiJSON(t, &got); a != b {
		t.Fatalf("round trip changed the API view:\n%s\n%s", a, b)
	}
	return &got
}

func TestLeadCodecRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 2, 19, 20, 21, 60, 450} {
		l := codecLead(n)
		got := roundTrip(t, l)
		if len(got.Window) != len(l.Window) || len(got.Timeline) != len(l.Timeline) {
			t.Fatalf("n=%d: window %d/%d timeline %d/%d", n, len(got.Window), len(l.Window), len(got.Timeline), len(l.Timeline))
		}
		// Re-encoding a decoded lead gives the same bytes (the flush
		// rewrites cached, decoded leads).
		b1, _ := encodeLead(l)
		b2, _ := encodeLead(got)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("n=%d: re-encoding differs", n)
		}
		old, _ := json.Marshal(l)
		t.Logf("n=%d: %d bytes (JSON %d)", n, len(b1), len(old))
	}
}

func TestLeadCodecEdgeCases(t *testing.T) {
	l := codecLead(30)
	// A relabelled signal (reprocess) differs from its window entry: it
	// must be stored in full, not as a reference.
	l.Timeline[len(l.Timeline)-2].RuleName = "Renamed"
	l.Timeline[len(l.Timeline)-2].Weight = 3
	// Times with an offset, before 1970, sub-second; the zero time.
	l.Timeline[0].At = time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("", 2*3600+1800))
	l.Timeline[1].At = time.Date(1950, 1, 2, 3, 4, 5, 999999999, time.UTC)
	l.Timeline[2].At = time.Time{}
	l.Window[0].At = time.Date(2025, 6, 1, 0, 0, 0, 1, time.FixedZone("", -5*3600))
	l.Window = append(l.Window, WindowSignal{SignalID: 1, Type: "x", At: time.Now(), Weight: -0.1, HalfLifeH: 1e-9, Rule: "ünïcode"})
	roundTrip(t, l)

	// Nil and empty timelines read back as they were.
	l = codecLead(0)
	l.Timeline = nil
	if got := roundTrip(t, l); got.Timeline != nil {
		t.Fatal("nil timeline became empty")
	}
	l.Timeline = []TimelineEntry{}
	if got := roundTrip(t, l); got.Timeline == nil {
		t.Fatal("empty timeline became nil")
	}
	// Unknown window entries only (the timeline rolled past them).
	l = codecLead(100)
	l.Timeline = l.Timeline[:1]
	roundTrip(t, l)
}

func TestLeadCodecRejectsDamage(t *testing.T) {
	b, _ := encodeLead(codecLead(40))
	for _, cut := range []int{1, 2, 10, len(b) / 2, len(b) - 1} {
		var l Lead
		if err := decodeLead(b[:cut], &l); err == nil {
			t.Fatalf("truncated at %d: no error", cut)
		}
	}
	var l Lead
	if err := decodeLead(append(append([]byte(nil), b...), 0), &l); err == nil {
		t.Fatal("trailing byte: no error")
	}
}

// Lead records written before the compact encoding (plain JSON) still
// load, through the store as the API and the processor read them, and the
// next write stores them compactly.
func TestLeadCodecReadsOldRecords(t *testing.T) {
	env := testEnv(t)
	ctx := context.Background()
	l := codecLead(25)
	old, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	const org = "org_codec"
	ver, err := env.Store.Save(ctx, keyLead(org, l.ID), old, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, gotVer, err := env.loadLead(ctx, org, l.ID)
	if err != nil || got == nil || gotVer != ver {
		t.Fatalf("load: %v %v %v", got, gotVer, err)
	}
	if a, b := apiJSON(t, l), apiJSON(t, got); a != b {
		t.Fatalf("old record read differently:\n%s\n%s", a, b)
	}
	b, _ := encodeLead(got)
	if _, err := env.Store.Save(ctx, keyLead(org, l.ID), b, ver); err != nil {
		t.Fatal(err)
	}
	got2, _, err := env.loadLead(ctx, org, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := apiJSON(t, l), apiJSON(t, got2); a != b {
		t.Fatalf("rewritten record read differently:\n%s\n%s", a, b)
	}
	if len(b) >= len(old)/2 {
		t.Errorf("compact record %d bytes, JSON %d", len(b), len(old))
	}
}

func BenchmarkLeadEncode(b *testing.B) {
	for _, n := range []int{13, 200} {
		l := codecLead(2 * n) // n mapped signals in the window
		b.Run("compact/"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				buf, _ := encodeLead(l)
				size = len(buf)
			}
			b.ReportMetric(float64(size), "bytes")
		})
		b.Run("json/"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				buf, _ := json.Marshal(l)
				size = len(buf)
			}
			b.ReportMetric(float64(size), "bytes")
		})
	}
}

func BenchmarkLeadDecode(b *testing.B) {
	l := codecLead(400)
	compact, _ := encodeLead(l)
	old, _ := json.Marshal(l)
	for name, buf := range map[string][]byte{"compact": compact, "json": old} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var x Lead
				if err := decodeLead(buf, &x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProcessLeads processes signals of 2,000 people (each lead
// rewritten once a batch it appears in, its window growing to ~25 mapped
// signals) through a processor on an on-disk server-profile store: the
// lead write pattern of `bench ingest`, without HTTP and with no other load.
func BenchmarkProcessLeads(b *testing.B) {
	for _, enc := range []string{"compact", "json"} {
		b.Run(enc, func(b *testing.B) {
			leadJSONForBench = enc == "json"
			defer func() { leadJSONForBench = false }()
			const signals, people = 50000, 1250
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				env := benchProcessEnv(b)
				ctx := context.Background()
				t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
				recs := make([]store.LogRecord, 0, 500)
				for i := 0; i < signals; i++ {
					p := (i * 7919) % people
					data, _ := encodeStoredSignal(&storedSignal{Source: "segment", Type: "track", Event: "Viewed",
						Email: fmt.Sprintf("person%d@company%d.com", p, p%200), Timestamp: t0.Add(time.Duration(i) * time.Second), ReceivedAt: t0,
						Payload: json.RawMessage(fmt.Sprintf(`{"event":"Viewed","email":"person%d@company%d.com","properties":{"page_url":"https://acme.example/pricing"}}`, p, p%200))})
					recs = append(recs, store.LogRecord{Partition: 0, Data: data})
					if len(recs) == cap(recs) {
						if _, err := env.SignalLog.Append(ctx, mergeOrg, recs, 0); err != nil {
							b.Fatal(err)
						}
						recs = recs[:0]
					}
				}
				rules := func(context.Context) ([]mapping.Rule, uint64, error) {
					r := eventRule("Viewed", 1)
					r.ID, r.SignalType = "rule_viewed", mapping.PageView
					return []mapping.Rule{r}, 1, nil
				}
				p := newProcessor(env, env.SignalLog, mergeOrg, 0, rules)
				start := time.Now()
				b.StartTimer()
				for {
					n, more, err := p.step(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if n == 0 || !more {
						break
					}
				}
				b.StopTimer()
				total += time.Since(start)
				b.StartTimer()
			}
			b.ReportMetric(float64(signals*b.N)/total.Seconds(), "signals/s")
		})
	}
}

func benchProcessEnv(b *testing.B) *Env {
	st, err := badgerstore.Open(badgerstore.Options{Dir: b.TempDir(), Profile: badgerstore.ProfileServer, GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	key, _ := seal.NewMasterKey(rand.Reader)
	sealer, err := seal.New(key)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	return &Env{Store: st, SignalLog: st.SignalLog(), Sealer: sealer, Hasher: credential.NewHasher(sealer.Pepper()),
		Clock: func() time.Time { return now }, Rand: rand.Reader, Log: hclog.NewNullLogger()}
}

// A lead stored as JSON by an earlier version (an existing data directory)
// takes new signals: the processor reads it, applies the signal and stores
// it compactly, and nothing of it is lost.
func TestProcessorContinuesOldJSONLead(t *testing.T) {
	ctx := context.Background()
	env := queueEnv(t)
	rules := func(context.Context) ([]mapping.Rule, uint64, error) {
		r := eventRule("Viewed", 1)
		r.ID, r.SignalType = "rule_viewed", mapping.PageView
		return []mapping.Rule{r}, 1, nil
	}
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	appendMergeSigs(t, env, mergeSig{email: "old@oldcorp.com", at: t0})
	drain(t, newProcessor(env, env.SignalLog, mergeOrg, 0, rules))
	id := leadOf(t, env, "old@oldcorp.com")
	l := mustLead(t, env, id)
	if len(l.Window) != 1 {
		t.Fatalf("window %+v", l.Window)
	}
	// Rewrite it as the previous version stored it.
	_, ver, _ := env.Store.Load(ctx, keyLead(mergeOrg, id))
	old, _ := json.Marshal(l)
	if _, err := env.Store.Save(ctx, keyLead(mergeOrg, id), old, ver); err != nil {
		t.Fatal(err)
	}
	appendMergeSigs(t, env, mergeSig{email: "old@oldcorp.com", at: t0.Add(time.Hour)})
	drain(t, newProcessor(env, env.SignalLog, mergeOrg, 0, rules)) // a fresh processor: no cached lead
	raw, _, err := env.Store.Load(ctx, keyLead(mergeOrg, id))
	if err != nil || raw[0] != leadCodecV2 {
		t.Fatalf("not rewritten compactly: %v", err)
	}
	l2 := mustLead(t, env, id)
	if l2.SignalCount != 2 || len(l2.Timeline) != 2 || len(l2.Window) != 2 || l2.Window[0] != l.Window[0] ||
		l2.Timeline[0].RuleName != "Viewed" || l2.Email != "old@oldcorp.com" || !l2.CreatedAt.Equal(l.CreatedAt) {
		t.Fatalf("lead after the new signal: %+v", l2)
	}
}

// The codec lists the fields of TimelineEntry and WindowSignal one by one:
// a field added to either must be added to encodeLead/decodeLead (and to
// windowOfEntry) too, or it would silently not be stored.
func TestLeadCodecCoversListFields(t *testing.T) {
	if n := reflect.TypeFor[TimelineEntry]().NumField(); n != 11 {
		t.Errorf("TimelineEntry has %d fields: update lead_codec.go and this test", n)
	}
	if n := reflect.TypeFor[WindowSignal]().NumField(); n != 7 {
		t.Errorf("WindowSignal has %d fields: update lead_codec.go and this test", n)
	}
}
