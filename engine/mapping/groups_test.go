package mapping_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/mapping"
)

func TestKeyFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc  string
		want mapping.GroupKey
	}{
		{`{"type":"track","event":"Form Filled"}`, mapping.GroupKey{"segment", "track", "Form Filled"}},
		{`{"type":"page","name":"Pricing"}`, mapping.GroupKey{"segment", "page", "Pricing"}},
		{`{"type":"page","event":" Ev ","name":"Pricing"}`, mapping.GroupKey{"segment", "page", "Ev"}},
		{`{"type":"track","name":"not an event"}`, mapping.GroupKey{"segment", "track", ""}},
		{`{"type":7,"event":["x"]}`, mapping.GroupKey{"segment", "", ""}},
		{`{}`, mapping.GroupKey{"segment", "", ""}},
	}
	for _, tt := range tests {
		if got := mapping.KeyFor("segment", decode(t, tt.doc, false)); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.doc, got, tt.want)
		}
	}
	long := mapping.KeyFor("s", map[string]any{"event": strings.Repeat("é", 150)})
	if len(long.Event) > 200 || !strings.HasPrefix(strings.Repeat("é", 150), long.Event) || len(long.Event) != 200 {
		t.Errorf("long event cut to %d bytes", len(long.Event))
	}
}

func TestGroupsAggregate(t *testing.T) {
	t.Parallel()
	var gs mapping.Groups // zero value is usable
	key := mapping.GroupKey{Source: "segment", Type: "track", Event: "Form Filled"}
	raw1 := []byte(`{"type":"track","event":"Form Filled","userId":"u1","properties":{"form":"demo","fields":[{"name":"email"}]}}`)
	raw2 := []byte(`{"type":"track","event":"Form Filled","anonymousId":"a1","context":{"traits":{"email":"x@y.z"}}}`)
	raw0 := []byte(`{"type":"track","event":"Form Filled","old":true}`)
	gs.Add(key, decode(t, string(raw1), false), raw1, t0)
	gs.Add(key, decode(t, string(raw2), false), raw2, t0.Add(time.Hour))
	gs.Add(key, decode(t, string(raw0), false), raw0, t0.Add(-time.Hour)) // late arrival of an older signal
	other := mapping.GroupKey{Source: "hubspot", Type: "", Event: ""}
	gs.Add(other, map[string]any{"hs_object_id": 5.0}, nil, t0)

	if gs.Len() != 2 {
		t.Fatalf("Len = %d", gs.Len())
	}
	list := gs.List()
	g := list[0]
	if g.Key != key || g.Count != 3 || !g.FirstSeen.Equal(t0.Add(-time.Hour)) || !g.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Fatalf("group = %+v", g)
	}
	if string(g.SamplePayload) != string(raw2) {
		t.Errorf("sample payload is not the latest: %s", g.SamplePayload)
	}
	wantPaths := []string{"anonymousId", "context.traits.email", "event", "old", "properties.fields.0.name",
		"properties.form", "type", "userId"}
	if !reflect.DeepEqual(g.SamplePaths, wantPaths) {
		t.Errorf("paths = %v", g.SamplePaths)
	}
	// nil raw: the payload is encoded.
	if h := list[1]; h.Key != other || string(h.SamplePayload) != `{"hs_object_id":5}` || !reflect.DeepEqual(h.SamplePaths, []string{"hs_object_id"}) {
		t.Errorf("other = %+v", h)
	}
	// List returns copies.
	list[0].SamplePaths[0] = "mutated"
	if got, _ := gs.Get(key); got.SamplePaths[0] != "anonymousId" {
		t.Error("List shares memory with the aggregator")
	}
	// The raw buffer is copied.
	raw2[2] = 'X'
	if got, _ := gs.Get(key); string(got.SamplePayload) == string(raw2) {
		t.Error("sample payload shares the caller's buffer")
	}
	// Invalid or oversized raw payloads are not kept as samples.
	gs.Add(key, nil, []byte(`{not json`), t0.Add(2*time.Hour))
	gs.Add(key, nil, []byte(`{"big":"`+strings.Repeat("x", mapping.MaxSamplePayload)+`"}`), t0.Add(3*time.Hour))
	if got, _ := gs.Get(key); got.Count != 5 || !json.Valid(got.SamplePayload) || len(got.SamplePayload) > mapping.MaxSamplePayload {
		t.Errorf("after bad samples: count %d sample %.40s", got.Count, got.SamplePayload)
	}
	if !gs.Remove(other) || gs.Remove(other) || gs.Len() != 1 {
		t.Error("Remove")
	}
	if _, ok := gs.Get(other); ok {
		t.Error("Get after Remove")
	}
	// The group serialises with snake_case keys.
	b, _ := json.Marshal(gs.List()[0])
	for _, k := range []string{`"first_seen"`, `"sample_paths"`, `"sample_payload":{`, `"key":{"source":"segment"`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON lacks %s: %s", k, b)
		}
	}
}

func TestGroupsSamplePathsBounded(t *testing.T) {
	t.Parallel()
	gs := mapping.NewGroups(0)
	key := mapping.GroupKey{Source: "generic"}
	// 30 shallow keys, 40 nested ones, and keys a rule path cannot use.
	p := map[string]any{"nested": map[string]any{}, "bad key": "x", "dotted.key": "y", "list": []any{}}
	for i := range 30 {
		p[fmt.Sprintf("k%02d", i)] = i
	}
	for i := range 40 {
		p["nested"].(map[string]any)[fmt.Sprintf("n%02d", i)] = "v"
	}
	gs.Add(key, p, nil, t0)
	g, _ := gs.Get(key)
	if len(g.SamplePaths) != mapping.MaxSamplePaths {
		t.Fatalf("%d paths", len(g.SamplePaths))
	}
	if !slices.IsSorted(g.SamplePaths) {
		t.Error("paths not sorted")
	}
	// Breadth first: every shallow key is kept, then the first nested ones.
	if !slices.Contains(g.SamplePaths, "k29") || !slices.Contains(g.SamplePaths, "nested.n19") || slices.Contains(g.SamplePaths, "nested.n20") {
		t.Errorf("paths = %v", g.SamplePaths)
	}
	for _, s := range g.SamplePaths {
		if strings.Contains(s, " ") || s == "dotted.key" || s == "list" {
			t.Errorf("unusable path kept: %q", s)
		}
	}
	// Once full, new paths are not added.
	gs.Add(key, map[string]any{"aaa": 1.0}, nil, t0)
	g, _ = gs.Get(key)
	if slices.Contains(g.SamplePaths, "aaa") || len(g.SamplePaths) != mapping.MaxSamplePaths {
		t.Error("paths grew past the cap")
	}
	// Deep payloads stop at 16 segments.
	deep := map[string]any{"v": 1.0}
	for range 30 {
		deep = map[string]any{"d": deep}
	}
	k2 := mapping.GroupKey{Source: "deep"}
	gs.Add(k2, deep, nil, t0)
	if g, _ := gs.Get(k2); len(g.SamplePaths) != 0 {
		t.Errorf("too-deep path kept: %v", g.SamplePaths)
	}
}

func TestGroupsEviction(t *testing.T) {
	t.Parallel()
	gs := mapping.NewGroups(3)
	k := func(e string) mapping.GroupKey { return mapping.GroupKey{Source: "s", Type: "track", Event: e} }
	gs.Add(k("a"), nil, nil, t0)
	gs.Add(k("b"), nil, nil, t0.Add(1*time.Minute))
	gs.Add(k("c"), nil, nil, t0.Add(2*time.Minute))
	gs.Add(k("a"), nil, nil, t0.Add(3*time.Minute)) // a is now the most recent
	gs.Add(k("d"), nil, nil, t0.Add(4*time.Minute)) // evicts b
	if gs.Len() != 3 {
		t.Fatalf("Len = %d", gs.Len())
	}
	if _, ok := gs.Get(k("b")); ok {
		t.Error("b (least recently seen) not evicted")
	}
	var order []string
	for _, g := range gs.List() {
		order = append(order, fmt.Sprintf("%s:%d", g.Key.Event, g.Count))
	}
	// Count desc, then most recently seen first.
	if want := []string{"a:2", "d:1", "c:1"}; !reflect.DeepEqual(order, want) {
		t.Errorf("List order = %v, want %v", order, want)
	}
	// Bounded under many distinct keys.
	for i := range 5000 {
		gs.Add(k(fmt.Sprint(i)), nil, nil, t0.Add(time.Duration(i)*time.Second))
	}
	if gs.Len() != 3 {
		t.Fatalf("Len = %d after churn", gs.Len())
	}
	if _, ok := gs.Get(k("4999")); !ok {
		t.Error("newest group evicted")
	}
	var zero mapping.Groups
	for i := range mapping.DefaultGroupCapacity + 10 {
		zero.Add(k(fmt.Sprint(i)), nil, nil, t0.Add(time.Duration(i)*time.Second))
	}
	if zero.Len() != mapping.DefaultGroupCapacity {
		t.Errorf("zero value holds %d groups", zero.Len())
	}
}

func TestDraftRule(t *testing.T) {
	t.Parallel()
	segmentPaths := []string{"anonymousId", "context.traits.email", "context.traits.title", "event",
		"properties.title", "type", "userId"}
	tests := []struct {
		name       string
		key        mapping.GroupKey
		paths      []string
		wantName   string
		wantType   mapping.SignalType
		high, neg  bool
		wantCond   mapping.Condition
		wantTarget []mapping.IdentifierMapping
	}{
		{
			name: "form filled", key: mapping.GroupKey{"segment", "track", "Form Filled"}, paths: segmentPaths,
			wantName: "Form Filled", wantType: mapping.FormFill,
			wantCond: all(leaf("event", mapping.OpEquals, "Form Filled")),
			wantTarget: []mapping.IdentifierMapping{
				{Path: "context.traits.email", Target: mapping.TargetEmail},
				{Path: "userId", Target: mapping.TargetProductUserID},
				{Path: "anonymousId", Target: mapping.TargetCDPID},
				{Path: "context.traits.title", Target: mapping.TargetTitle},
			},
		},
		{
			name: "snake case demo", key: mapping.GroupKey{"segment", "track", "demo_requested"}, paths: []string{"email", "event"},
			wantName: "Demo Requested", wantType: mapping.FormFill, high: true,
			wantCond:   all(leaf("event", mapping.OpEquals, "demo_requested")),
			wantTarget: []mapping.IdentifierMapping{{Path: "email", Target: mapping.TargetEmail}},
		},
		{
			name: "camel case signup", key: mapping.GroupKey{"segment", "track", "userSignedUp"}, paths: []string{"userId"},
			wantName: "User Signed Up", wantType: mapping.FormFill,
			wantCond:   all(leaf("event", mapping.OpEquals, "userSignedUp")),
			wantTarget: []mapping.IdentifierMapping{{Path: "userId", Target: mapping.TargetProductUserID}},
		},
		{
			name: "page with name", key: mapping.GroupKey{"segment", "page", "Pricing"}, paths: []string{"anonymousId", "name", "properties.title", "type"},
			wantName: "Pricing", wantType: mapping.PageView,
			wantCond: all(leaf("type", mapping.OpEquals, "page"), leaf("name", mapping.OpEquals, "Pricing")),
			// No persistent identifier seen: email is pre-filled; the page
			// title is not a job title.
			wantTarget: []mapping.IdentifierMapping{{Path: "email", Target: mapping.TargetEmail}, {Path: "anonymousId", Target: mapping.TargetCDPID}},
		},
		{
			name: "page without name", key: mapping.GroupKey{"segment", "page", ""}, paths: []string{"userId"},
			wantName: "Page View", wantType: mapping.PageView,
			wantCond:   all(leaf("type", mapping.OpEquals, "page")),
			wantTarget: []mapping.IdentifierMapping{{Path: "userId", Target: mapping.TargetProductUserID}},
		},
		{
			name: "marketo email open", key: mapping.GroupKey{"marketo", "", "Open Email"}, paths: []string{"event", "mktLeadId", "email"},
			wantName: "Open Email", wantType: mapping.EmailOpen,
			wantCond: all(leaf("event", mapping.OpEquals, "Open Email")),
			wantTarget: []mapping.IdentifierMapping{
				{Path: "email", Target: mapping.TargetEmail}, {Path: "mktLeadId", Target: mapping.TargetMapID},
			},
		},
		{
			name: "email clicked", key: mapping.GroupKey{"marketo", "", "Email Link Clicked"}, paths: []string{"mktLeadId"},
			wantName: "Email Link Clicked", wantType: mapping.EmailClick,
			wantCond:   all(leaf("event", mapping.OpEquals, "Email Link Clicked")),
			wantTarget: []mapping.IdentifierMapping{{Path: "mktLeadId", Target: mapping.TargetMapID}},
		},
		{
			name: "unsubscribe is negative", key: mapping.GroupKey{"marketo", "", "Unsubscribe Email"}, paths: []string{"mktLeadId"},
			wantName: "Unsubscribe Email", wantType: mapping.EmailClick, neg: true,
			wantCond:   all(leaf("event", mapping.OpEquals, "Unsubscribe Email")),
			wantTarget: []mapping.IdentifierMapping{{Path: "mktLeadId", Target: mapping.TargetMapID}},
		},
		{
			name: "salesforce meeting", key: mapping.GroupKey{"salesforce", "", "Meeting Booked"}, paths: []string{"sObject.Email", "sObject.Id", "sObject.Title"},
			wantName: "Meeting Booked", wantType: mapping.SalesEvent,
			wantCond:   all(leaf("event", mapping.OpEquals, "Meeting Booked")),
			wantTarget: []mapping.IdentifierMapping{{Path: "sObject.Email", Target: mapping.TargetEmail}},
		},
		{
			name: "product activity", key: mapping.GroupKey{"segment", "track", "Report Exported"},
			paths:    []string{"userId", "context.traits.crmId", "properties.hs_object_id", "traits.email", "context.traits.email", "properties.email"},
			wantName: "Report Exported", wantType: mapping.ProductActivity,
			wantCond: all(leaf("event", mapping.OpEquals, "Report Exported")),
			// Shallowest first, at most 3 per target.
			wantTarget: []mapping.IdentifierMapping{
				{Path: "properties.email", Target: mapping.TargetEmail},
				{Path: "traits.email", Target: mapping.TargetEmail},
				{Path: "context.traits.email", Target: mapping.TargetEmail},
				{Path: "userId", Target: mapping.TargetProductUserID},
				{Path: "properties.hs_object_id", Target: mapping.TargetCRMID},
				{Path: "context.traits.crmId", Target: mapping.TargetCRMID},
			},
		},
		{
			name: "identify, no event", key: mapping.GroupKey{"segment", "identify", ""}, paths: []string{"traits.email", "traits.jobTitle"},
			wantName: "Identify", wantType: mapping.ProductActivity,
			wantCond: all(leaf("type", mapping.OpEquals, "identify")),
			wantTarget: []mapping.IdentifierMapping{
				{Path: "traits.email", Target: mapping.TargetEmail}, {Path: "traits.jobTitle", Target: mapping.TargetTitle},
			},
		},
		{
			name: "nothing known", key: mapping.GroupKey{"hubspot", "", ""}, paths: nil,
			wantName: "Signals from hubspot", wantType: mapping.ProductActivity,
			wantCond:   mapping.Condition{},
			wantTarget: []mapping.IdentifierMapping{{Path: "email", Target: mapping.TargetEmail}},
		},
		{
			name: "long event name", key: mapping.GroupKey{"s", "track", strings.Repeat("word ", 40)}, paths: []string{"email"},
			wantName: strings.TrimSpace(strings.Repeat("Word ", 20)), wantType: mapping.ProductActivity,
			wantCond:   all(leaf("event", mapping.OpEquals, strings.Repeat("word ", 40))),
			wantTarget: []mapping.IdentifierMapping{{Path: "email", Target: mapping.TargetEmail}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mapping.DraftRule(mapping.Group{Key: tt.key, Count: 3, SamplePaths: tt.paths})
			if r.Name != tt.wantName || r.SignalType != tt.wantType || r.HighIntent != tt.high || r.Negative != tt.neg || r.Source != tt.key.Source {
				t.Errorf("name=%q type=%s high=%v neg=%v source=%q", r.Name, r.SignalType, r.HighIntent, r.Negative, r.Source)
			}
			if !reflect.DeepEqual(r.Conditions, tt.wantCond) {
				t.Errorf("conditions = %+v", r.Conditions)
			}
			if !reflect.DeepEqual(r.Mappings, tt.wantTarget) {
				t.Errorf("mappings = %+v", r.Mappings)
			}
			wantNoErr(t, r.Validate())
		})
	}
}

// A rule drafted from a group matches the group's signals.
func TestDraftRuleMatchesItsGroup(t *testing.T) {
	t.Parallel()
	var gs mapping.Groups
	docs := []string{
		`{"type":"track","event":"Trial Started","userId":"u1","context":{"traits":{"email":"a@b.io"}}}`,
		`{"type":"page","name":"Pricing","anonymousId":"x","context":{"traits":{"email":"c@d.io"}}}`,
	}
	var payloads []map[string]any
	for _, d := range docs {
		p := decode(t, d, false)
		payloads = append(payloads, p)
		gs.Add(mapping.KeyFor("segment", p), p, []byte(d), t0)
	}
	for _, g := range gs.List() {
		r := mapping.DraftRule(g)
		n, err := (*mapping.RuleSet)(nil).Preview(r, payloads, []string{"segment", "segment"})
		wantNoErr(t, err)
		if n != 1 {
			t.Errorf("draft for %+v matches %d signals", g.Key, n)
		}
		if ex := mapping.Extract(&r, payloads[0]); g.Key.Event == "Trial Started" && ex.Email != "a@b.io" {
			t.Errorf("draft extracts %+v", ex)
		}
	}
}
