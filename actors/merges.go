package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/identity"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/store"
)

// Admin lead merges (SPEC §2.4): merging two already-identified people is
// an explicit admin action, recorded with its reason, and can be undone.
//
// A merge folds lead Merged into lead Survivor in one atomic store write:
// the identity index entries of Merged's identifiers (its listed ones and
// the anonymous ids linked to it) are re-pointed to Survivor; Survivor's
// record gains the identifiers, counters, timeline and first/last seen;
// Merged's record is kept, marked merged_into and emptied of identifiers;
// the merge record keeps what moved and a snapshot of both records as they
// were before the merge. The processor sends signals that still resolve to
// Merged (a cached identifier) to Survivor (process.go, flush).
//
// Undo, also one atomic write, moves the recorded identifiers back (those
// still on Survivor) and restores Merged exactly as it was before the merge.
// Survivor is restored from its snapshot too, but keeps its post-merge
// activity: signals it received after the merge (counters, timeline
// entries, last seen), identifiers it gained, account and title changes.
// The historical signals of Merged keep their lead_id in the signal log.

// MergeRecord is a stored merge: identity.Merge plus what undo needs.
type MergeRecord struct {
	identity.Merge
	// AnonymousIndex lists the identity index keys (hashed anonymous ids)
	// moved from Merged to Survivor; anonymous ids are indexed, not listed.
	AnonymousIndex []string `json:"anonymous_index,omitempty"`
	// SurvivorBefore and MergedBefore are both lead records before the merge.
	SurvivorBefore json.RawMessage `json:"survivor_before"`
	MergedBefore   json.RawMessage `json:"merged_before"`
}

// maxAnonScan bounds the scan for anonymous ids linked to the merged lead:
// anonymous ids are indexed by hash only, so finding a lead's ones means
// scanning the organization's anonymous index. Links beyond the bound stay
// on the merged lead (and the processor redirects their signals anyway).
const maxAnonScan = 100_000

const mergeAttempts = 5

func keyMerge(org, id string) []byte { return store.TenantKey(org, "merge", id) }
func keyMergeIndex(org string, at time.Time, id string) []byte {
	return store.TenantKey(org, "merget", fmt.Sprintf("%020d-%s", uint64(math.MaxInt64-at.UnixNano()), id))
}
func keyMergeIndexBase(org string) []byte { return store.TenantKey(org, "merget") }

// keyMergeEpoch changes on every merge and undo: partition processors
// compare it once per batch and drop their identifier and lead caches when
// it moved (an undo moves identifiers back; caches would keep them on the
// survivor).
func keyMergeEpoch(org string) []byte { return store.TenantKey(org, "mergev") }

// MergeLeads merges lead merged into lead survivor (Admin and up).
func (c *Client) MergeLeads(ctx context.Context, caller tenant.Caller, org, survivor, merged, reason string) (*MergeRecord, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapManageOrg); err != nil {
		return nil, err
	}
	by := caller.UserID
	if by == "" && caller.Operator {
		by = "operator"
	}
	return mergeLeads(ctx, c.env, org, survivor, merged, reason, by)
}

// UndoMerge undoes a merge (Admin and up).
func (c *Client) UndoMerge(ctx context.Context, caller tenant.Caller, org, id string) (*MergeRecord, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapManageOrg); err != nil {
		return nil, err
	}
	return undoMerge(ctx, c.env, org, id)
}

// Merge reads one merge (Viewer and up).
func (c *Client) Merge(ctx context.Context, caller tenant.Caller, org, id string) (*MergeRecord, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, err
	}
	m, _, err := loadMerge(ctx, c.env, org, id)
	return m, err
}

// Merges lists merges newest first (Viewer and up).
func (c *Client) Merges(ctx context.Context, caller tenant.Caller, org, after string, limit int) ([]MergeRecord, string, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapRead); err != nil {
		return nil, "", err
	}
	return listMerges(ctx, c.env, org, after, limit)
}

func loadMerge(ctx context.Context, env *Env, org, id string) (*MergeRecord, store.Version, error) {
	if !credential.ValidID(id, "mrg_") {
		return nil, 0, errs.NotFound("merge")
	}
	var m MergeRecord
	ver, err := env.loadJSON(ctx, keyMerge(org, id), &m)
	if err != nil {
		return nil, 0, notFoundIf(err, "merge")
	}
	return &m, ver, nil
}

func listMerges(ctx context.Context, env *Env, org, after string, limit int) ([]MergeRecord, string, error) {
	return listIndexed(ctx, env, keyMergeIndexBase(org), after, limit, func(id string) (*MergeRecord, error) {
		m, _, err := loadMerge(ctx, env, org, id)
		return m, err
	})
}

// indexEntry is an identity index key as read (value and version).
type indexEntry struct {
	key  []byte
	lead string
	ver  store.Version
}

func loadIndexEntry(ctx context.Context, env *Env, key []byte) (indexEntry, error) {
	b, ver, err := env.Store.Load(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return indexEntry{key: key}, nil
	}
	if err != nil {
		return indexEntry{}, err
	}
	return indexEntry{key: key, lead: string(b), ver: ver}, nil
}

func anonIndexPrefix(org string) []byte {
	return append(store.TenantKey(org, "idx", string(identity.KindAnonymousID)), '/')
}

// anonLinks finds the anonymous-id index entries that point at lead (at
// most want of them; the scan is bounded by maxAnonScan).
func anonLinks(ctx context.Context, env *Env, org, lead string, want int) ([]indexEntry, error) {
	var out []indexEntry
	if want <= 0 {
		return nil, nil
	}
	stop := errors.New("stop")
	n := 0
	err := env.Store.Scan(ctx, anonIndexPrefix(org), nil, func(it store.Item) error {
		n++
		if string(it.Value) == lead {
			out = append(out, indexEntry{key: it.Key, lead: lead, ver: it.Version})
		}
		if len(out) >= want || n >= maxAnonScan {
			return stop
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return nil, err
	}
	return out, nil
}

func cloneLead(l *Lead) *Lead {
	b, _ := json.Marshal(l)
	var c Lead
	_ = json.Unmarshal(b, &c)
	return &c
}

// combineLeads is the survivor after the merge: s with m's identifiers
// (moved), counters, timeline and first/last seen folded in.
func combineLeads(s, m *Lead, moved []LeadIdentifier, anon int, now time.Time) *Lead {
	out := cloneLead(s)
	for _, id := range moved {
		out.addIdentifier(id.Kind, id.Value)
		if id.Kind == string(identity.KindEmail) && out.Email == "" {
			out.Email = id.Value
		}
	}
	out.AnonymousLinks += anon
	out.SignalCount += m.SignalCount
	out.MappedCount += m.MappedCount
	if out.CountsByType == nil {
		out.CountsByType = map[string]int{}
	}
	for k, v := range m.CountsByType {
		out.CountsByType[k] += v
	}
	out.Timeline = mergeTimelines(out.Timeline, m.Timeline)
	if !m.FirstSeenAt.IsZero() && (out.FirstSeenAt.IsZero() || m.FirstSeenAt.Before(out.FirstSeenAt)) {
		out.FirstSeenAt = m.FirstSeenAt
	}
	if m.LastSeenAt.After(out.LastSeenAt) {
		out.LastSeenAt = m.LastSeenAt
	}
	if out.Title == "" {
		out.Title = m.Title
	}
	if out.Account == nil && m.Account != nil {
		out.Account, out.Unmatched = m.Account, ""
	}
	out.Conflicts = without(out.Conflicts, s.ID, m.ID)
	out.UpdatedAt = now
	return out
}

func without(xs []string, drop ...string) []string {
	var out []string
	for _, x := range xs {
		if !contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

// mergeTimelines joins timelines (no duplicate signal), sorted by time and
// capped at maxTimeline like the processor does.
func mergeTimelines(a, b []TimelineEntry) []TimelineEntry {
	seen := map[uint64]bool{}
	var out []TimelineEntry
	for _, xs := range [][]TimelineEntry{a, b} {
		for _, e := range xs {
			if !seen[e.SignalID] {
				seen[e.SignalID] = true
				out = append(out, e)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	if len(out) > maxTimeline {
		out = out[len(out)-maxTimeline:]
	}
	if out == nil {
		out = []TimelineEntry{}
	}
	return out
}

func mergeConflictErr() error {
	return errs.Unavailable("the leads are being changed concurrently; retry", nil)
}

func mergeLeads(ctx context.Context, env *Env, org, survivor, merged, reason, by string) (*MergeRecord, error) {
	survivor, merged = strings.TrimSpace(survivor), strings.TrimSpace(merged)
	if merged == "" {
		return nil, errs.Invalid("merge_lead_id", "required", "merge_lead_id is required")
	}
	if survivor == merged {
		return nil, errs.Invalid("merge_lead_id", "same_lead", "a lead cannot be merged into itself")
	}
	if strings.TrimSpace(reason) == "" {
		return nil, errs.Invalid("reason", "required", "a merge needs a reason")
	}
	if len([]rune(strings.TrimSpace(reason))) > 1000 {
		return nil, errs.Invalid("reason", "too_long", "reason must be at most 1000 characters")
	}
	if !strings.HasPrefix(survivor, "lead_") || !strings.HasPrefix(merged, "lead_") {
		return nil, errs.NotFound("lead")
	}
	id, err := credential.NewID(env.Rand, "mrg_")
	if err != nil {
		return nil, errs.Internal(err)
	}
	for attempt := 0; attempt < mergeAttempts; attempt++ {
		rec, writes, err := planMergeWrites(ctx, env, org, survivor, merged, reason, by, id)
		if err != nil {
			return nil, err
		}
		if _, err := env.Store.SaveBatch(ctx, writes); err == nil {
			return rec, nil
		} else if !errors.Is(err, store.ErrConflict) {
			return nil, storeErr(err)
		}
	}
	return nil, mergeConflictErr()
}

// loadLeadRaw reads a lead and its record as JSON (the stored bytes, or
// the lead re-encoded as JSON when stored in the compact encoding): merge
// records keep it, and undo writes it back as the lead record.
func loadLeadRaw(ctx context.Context, env *Env, org, id string) (*Lead, []byte, store.Version, error) {
	b, ver, err := env.Store.Load(ctx, keyLead(org, id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, 0, errs.NotFound("lead")
	}
	if err != nil {
		return nil, nil, 0, storeErr(err)
	}
	var l Lead
	if err := decodeLead(b, &l); err != nil {
		return nil, nil, 0, errs.Internal(err)
	}
	if len(b) > 0 && b[0] == leadCodecV2 {
		if b, err = json.Marshal(&l); err != nil {
			return nil, nil, 0, errs.Internal(err)
		}
	}
	return &l, b, ver, nil
}

func planMergeWrites(ctx context.Context, env *Env, org, survivor, merged, reason, by, id string) (*MergeRecord, []store.Write, error) {
	s, sRaw, sVer, err := loadLeadRaw(ctx, env, org, survivor)
	if err != nil {
		return nil, nil, err
	}
	m, mRaw, mVer, err := loadLeadRaw(ctx, env, org, merged)
	if err != nil {
		return nil, nil, err
	}
	if s.MergedInto != "" || m.MergedInto != "" {
		return nil, nil, errs.Conflict("lead_merged", "", "one of the leads was already merged into another lead")
	}
	now := env.now()
	var writes []store.Write
	var moved []LeadIdentifier
	var movedIDs []identity.Identifier
	for _, x := range m.Identifiers {
		ie, err := loadIndexEntry(ctx, env, keyIdentity(org, x.Kind, env.Sealer.Index("id:"+x.Kind, x.Value)))
		if err != nil {
			return nil, nil, storeErr(err)
		}
		if ie.lead != "" && ie.lead != merged {
			continue // indexed to another lead: not the merged lead's to move
		}
		writes = append(writes, store.Write{Key: ie.key, Value: []byte(survivor), Expected: ie.ver})
		moved = append(moved, x)
		movedIDs = append(movedIDs, identity.Identifier{Kind: identity.Kind(x.Kind), Value: x.Value})
	}
	anon, err := anonLinks(ctx, env, org, merged, max(m.AnonymousLinks, 1))
	if err != nil {
		return nil, nil, storeErr(err)
	}
	var anonKeys []string
	prefix := anonIndexPrefix(org)
	for _, a := range anon {
		writes = append(writes, store.Write{Key: a.key, Value: []byte(survivor), Expected: a.ver})
		anonKeys = append(anonKeys, string(a.key[len(prefix):]))
	}
	plan, err := identity.PlanMerge(survivor, merged, movedIDs, reason, by, now, id)
	if err != nil {
		return nil, nil, err
	}
	rec := &MergeRecord{Merge: plan, AnonymousIndex: anonKeys, SurvivorBefore: sRaw, MergedBefore: mRaw}
	if rec.Identifiers == nil {
		rec.Identifiers = []identity.Identifier{}
	}
	ns := combineLeads(s, m, moved, len(anon), now)
	nm := cloneLead(m)
	nm.MergedInto, nm.Identifiers, nm.AnonymousLinks, nm.UpdatedAt = survivor, []LeadIdentifier{}, 0, now
	sb, _ := encodeLead(ns)
	mb, _ := encodeLead(nm)
	rb, err := json.Marshal(rec)
	if err != nil {
		return nil, nil, errs.Internal(err)
	}
	writes = append(writes,
		store.Write{Key: keyLead(org, survivor), Value: sb, Expected: sVer},
		store.Write{Key: keyLead(org, merged), Value: mb, Expected: mVer},
		store.Write{Key: keyMerge(org, id), Value: rb, Expected: 0},
		store.Write{Key: keyMergeIndex(org, now, id), Value: []byte(id), Expected: 0},
		store.Write{Key: keyMergeEpoch(org), Value: []byte(id + "/merge"), Expected: store.AnyVersion})
	return rec, writes, nil
}

func undoMerge(ctx context.Context, env *Env, org, id string) (*MergeRecord, error) {
	for attempt := 0; attempt < mergeAttempts; attempt++ {
		rec, writes, err := planUndoWrites(ctx, env, org, id)
		if err != nil {
			return nil, err
		}
		if _, err := env.Store.SaveBatch(ctx, writes); err == nil {
			return rec, nil
		} else if !errors.Is(err, store.ErrConflict) {
			return nil, storeErr(err)
		}
	}
	return nil, mergeConflictErr()
}

func planUndoWrites(ctx context.Context, env *Env, org, id string) (*MergeRecord, []store.Write, error) {
	rec, rVer, err := loadMerge(ctx, env, org, id)
	if err != nil {
		return nil, nil, err
	}
	now := env.now()
	undone, back, err := rec.Merge.Undo(now)
	if err != nil {
		return nil, nil, err
	}
	var sBefore, mBefore Lead
	if err := json.Unmarshal(rec.SurvivorBefore, &sBefore); err != nil {
		return nil, nil, errs.Internal(err)
	}
	if err := json.Unmarshal(rec.MergedBefore, &mBefore); err != nil {
		return nil, nil, errs.Internal(err)
	}
	cur, _, sVer, err := loadLeadRaw(ctx, env, org, rec.Survivor)
	if err != nil {
		return nil, nil, err
	}
	mCur, _, mVer, err := loadLeadRaw(ctx, env, org, rec.Merged)
	if err != nil {
		return nil, nil, err
	}
	if cur.MergedInto != "" || mCur.MergedInto != rec.Survivor {
		return nil, nil, errs.Conflict("lead_merged", "", "a lead of this merge was merged again since; undo that merge first")
	}
	var writes []store.Write
	movedBack := 0
	var backIDs []LeadIdentifier
	for _, x := range back {
		ie, err := loadIndexEntry(ctx, env, keyIdentity(org, string(x.Kind), env.Sealer.Index("id:"+string(x.Kind), x.Value)))
		if err != nil {
			return nil, nil, storeErr(err)
		}
		backIDs = append(backIDs, LeadIdentifier{Kind: string(x.Kind), Value: x.Value})
		if ie.lead != rec.Survivor {
			continue
		}
		writes = append(writes, store.Write{Key: ie.key, Value: []byte(rec.Merged), Expected: ie.ver})
	}
	prefix := anonIndexPrefix(org)
	for _, k := range rec.AnonymousIndex {
		ie, err := loadIndexEntry(ctx, env, append(append([]byte(nil), prefix...), k...))
		if err != nil {
			return nil, nil, storeErr(err)
		}
		if ie.lead != rec.Survivor {
			continue
		}
		movedBack++
		writes = append(writes, store.Write{Key: ie.key, Value: []byte(rec.Merged), Expected: ie.ver})
	}
	ns := restoreSurvivor(&sBefore, &mBefore, cur, backIDs, movedBack, now)
	sb, _ := encodeLead(ns)
	rec.Merge = undone
	rb, err := json.Marshal(rec)
	if err != nil {
		return nil, nil, errs.Internal(err)
	}
	writes = append(writes,
		store.Write{Key: keyLead(org, rec.Survivor), Value: sb, Expected: sVer},
		store.Write{Key: keyLead(org, rec.Merged), Value: rec.MergedBefore, Expected: mVer},
		store.Write{Key: keyMerge(org, id), Value: rb, Expected: rVer},
		store.Write{Key: keyMergeEpoch(org), Value: []byte(id + "/undo"), Expected: store.AnyVersion})
	return rec, writes, nil
}

// restoreSurvivor is the survivor's pre-merge record plus what happened to
// it after the merge: cur minus what the merge brought from m.
func restoreSurvivor(before, m, cur *Lead, back []LeadIdentifier, anonBack int, now time.Time) *Lead {
	out := cloneLead(before)
	// Identifiers gained after the merge stay.
	for _, x := range cur.Identifiers {
		if !before.hasIdentifier(x.Kind, x.Value) && !containsID(back, x) {
			out.addIdentifier(x.Kind, x.Value)
		}
	}
	if out.Identifiers == nil {
		out.Identifiers = []LeadIdentifier{}
	}
	out.AnonymousLinks = max(cur.AnonymousLinks-anonBack, 0)
	// Counters: the merge added m's; whatever exceeds before+m is post-merge.
	out.SignalCount = before.SignalCount + max(cur.SignalCount-before.SignalCount-m.SignalCount, 0)
	out.MappedCount = before.MappedCount + max(cur.MappedCount-before.MappedCount-m.MappedCount, 0)
	out.CountsByType = map[string]int{}
	for k, v := range before.CountsByType {
		out.CountsByType[k] = v
	}
	for k, v := range cur.CountsByType {
		if d := v - before.CountsByType[k] - m.CountsByType[k]; d > 0 {
			out.CountsByType[k] += d
		}
	}
	// Timeline: the pre-merge entries plus those that came after the merge.
	fromM := map[uint64]bool{}
	for _, e := range m.Timeline {
		fromM[e.SignalID] = true
	}
	var post []TimelineEntry
	for _, e := range cur.Timeline {
		if !fromM[e.SignalID] && !before.hasSignal(e.SignalID) {
			post = append(post, e)
		}
	}
	out.Timeline = mergeTimelines(before.Timeline, post)
	for _, e := range post {
		if out.FirstSeenAt.IsZero() || e.At.Before(out.FirstSeenAt) {
			out.FirstSeenAt = e.At
		}
		if e.At.After(out.LastSeenAt) {
			out.LastSeenAt = e.At
		}
	}
	// Later changes of title and account stay; what the merge brought goes.
	if cur.Title != "" && !(before.Title == "" && cur.Title == m.Title) {
		out.Title = cur.Title
	}
	if !(before.Account == nil && reflect.DeepEqual(cur.Account, m.Account)) {
		out.Account, out.Unmatched = cur.Account, cur.Unmatched
	}
	out.AppliedUpTo = cur.AppliedUpTo // replay protection covers post-merge signals
	out.CapReached = cur.CapReached
	for _, c := range cur.Conflicts {
		if !contains(out.Conflicts, c) {
			out.Conflicts = append(out.Conflicts, c)
		}
	}
	if out.Email != "" && !out.hasIdentifier(string(identity.KindEmail), out.Email) {
		out.Email = ""
	}
	if out.Email == "" {
		for _, x := range out.Identifiers {
			if x.Kind == string(identity.KindEmail) {
				out.Email = x.Value
				break
			}
		}
	}
	out.UpdatedAt = now
	return out
}

func containsID(xs []LeadIdentifier, x LeadIdentifier) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
