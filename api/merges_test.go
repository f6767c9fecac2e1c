package api_test

import (
	"strings"
	"testing"
	"time"
)

type mergeView struct {
	ID          string `json:"id"`
	Survivor    string `json:"survivor"`
	Merged      string `json:"merged"`
	Identifiers []struct {
		Kind  string `json:"kind"`
		Value string `json:"value"`
	} `json:"identifiers"`
	Reason   string     `json:"reason"`
	By       string     `json:"by"`
	At       time.Time  `json:"at"`
	UndoneAt *time.Time `json:"undone_at"`
}

type mergedLeadView struct {
	leadView
	MergedInto   string         `json:"merged_into"`
	CountsByType map[string]int `json:"counts_by_type"`
}

func (l leadView) hasEmail(email string) bool {
	for _, x := range l.Identifiers {
		if x.Kind == "email" && x.Value == email {
			return true
		}
	}
	return false
}

func TestMergeLeads(t *testing.T) {
	e := newEnv(t)
	o := e.ingestOrg("Merges")
	editor, admin := e.user("editor"), e.user("admin")
	e.join(o.org.ID, o.owner.Token, editor, "editor")
	e.join(o.org.ID, o.owner.Token, admin, "admin")
	other := e.ingestOrg("Other")

	sig := func(email, event string) uint64 {
		t.Helper()
		a := e.ingest(o.key, map[string]any{"type": "track", "event": event, "email": email})
		return a.ID
	}
	s1 := sig("kim@initech.com", "Viewed")
	s2 := sig("kim@initech.com", "Clicked")
	s3 := sig("kim.private@gmail.com", "Viewed")
	a := e.waitSignal(o.org.ID, o.owner.Token, s1).LeadID
	e.waitSignal(o.org.ID, o.owner.Token, s2)
	b := e.waitSignal(o.org.ID, o.owner.Token, s3).LeadID
	if a == "" || b == "" || a == b {
		t.Fatalf("leads %q %q", a, b)
	}
	mergePath := o.base + "/leads/" + a + "/merge"
	body := map[string]any{"merge_lead_id": b, "reason": "same person, two addresses"}

	// Validation and roles.
	e.fails(e.do("POST", mergePath, admin.Token, map[string]any{"merge_lead_id": a, "reason": "x"}), 400, "same_lead", "merge_lead_id")
	e.fails(e.do("POST", mergePath, admin.Token, map[string]any{"merge_lead_id": b, "reason": ""}), 400, "required", "reason")
	e.fails(e.do("POST", mergePath, admin.Token, map[string]any{"merge_lead_id": b, "reason": strings.Repeat("r", 1001)}), 400, "too_long", "reason")
	e.fails(e.do("POST", mergePath, admin.Token, map[string]any{"merge_lead_id": "lead_unknown", "reason": "x"}), 404, "lead_not_found", "")
	e.fails(e.do("POST", mergePath, editor.Token, body), 403, "forbidden", "")
	e.fails(e.do("POST", mergePath, other.owner.Token, body), 404, "organization_not_found", "")

	var m mergeView
	e.ok(e.do("POST", mergePath, admin.Token, body), 201, &m)
	if m.Survivor != a || m.Merged != b || m.By != admin.ID || m.Reason != body["reason"] || len(m.Identifiers) != 1 || m.UndoneAt != nil {
		t.Fatalf("merge %+v", m)
	}
	e.fails(e.do("POST", mergePath, admin.Token, body), 409, "lead_merged", "")

	surv := e.getLead(o, a)
	if !surv.hasEmail("kim@initech.com") || !surv.hasEmail("kim.private@gmail.com") || surv.SignalCount != 3 || len(surv.Timeline) != 3 {
		t.Fatalf("survivor %+v", surv)
	}
	var merged mergedLeadView
	e.ok(e.do("GET", o.base+"/leads/"+b, o.owner.Token, nil), 200, &merged)
	if merged.MergedInto != a || len(merged.Identifiers) != 0 {
		t.Fatalf("merged lead %+v", merged)
	}
	if l := e.leadByEmail(o, "kim.private@gmail.com"); l == nil || l.ID != a {
		t.Fatalf("merged email finds %+v", l)
	}

	// A new signal with the merged lead's email lands on the survivor.
	s4 := sig("kim.private@gmail.com", "Clicked")
	if got := e.waitSignal(o.org.ID, o.owner.Token, s4).LeadID; got != a {
		t.Fatalf("post-merge signal on %q, want %q", got, a)
	}
	if l := e.getLead(o, a); l.SignalCount != 4 {
		t.Fatalf("survivor after post-merge signal %+v", l)
	}

	// Reading: every member; other organizations cannot.
	var ms list[mergeView]
	e.ok(e.do("GET", o.base+"/merges", editor.Token, nil), 200, &ms)
	if len(ms.Items) != 1 || ms.Items[0].ID != m.ID {
		t.Fatalf("merges %+v", ms)
	}
	var got mergeView
	e.ok(e.do("GET", o.base+"/merges/"+m.ID, editor.Token, nil), 200, &got)
	if got.ID != m.ID {
		t.Fatalf("merge %+v", got)
	}
	e.fails(e.do("GET", o.base+"/merges/"+m.ID, other.owner.Token, nil), 404, "organization_not_found", "")
	e.fails(e.do("GET", other.base+"/merges/"+m.ID, other.owner.Token, nil), 404, "merge_not_found", "")

	// Undo: Admin and up; the merged lead is back, the survivor keeps its
	// post-merge signal.
	undo := o.base + "/merges/" + m.ID + "/undo"
	e.fails(e.do("POST", undo, editor.Token, nil), 403, "forbidden", "")
	e.fails(e.do("POST", undo, other.owner.Token, nil), 404, "organization_not_found", "")
	var u mergeView
	e.ok(e.do("POST", undo, admin.Token, nil), 200, &u)
	if u.UndoneAt == nil {
		t.Fatalf("undo %+v", u)
	}
	e.fails(e.do("POST", undo, admin.Token, nil), 409, "merge_already_undone", "")
	var back mergedLeadView
	e.ok(e.do("GET", o.base+"/leads/"+b, o.owner.Token, nil), 200, &back)
	if back.MergedInto != "" || !back.hasEmail("kim.private@gmail.com") || back.SignalCount != 1 {
		t.Fatalf("restored lead %+v", back)
	}
	if l := e.getLead(o, a); l.hasEmail("kim.private@gmail.com") || l.SignalCount != 3 {
		t.Fatalf("survivor after undo %+v", l)
	}
	if l := e.leadByEmail(o, "kim.private@gmail.com"); l == nil || l.ID != b {
		t.Fatalf("email after undo finds %+v", l)
	}
	s5 := sig("kim.private@gmail.com", "Viewed")
	if got := e.waitSignal(o.org.ID, o.owner.Token, s5).LeadID; got != b {
		t.Fatalf("signal after undo on %q, want %q", got, b)
	}
}
