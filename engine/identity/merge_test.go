package identity

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

var (
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t1 = t0.Add(36 * time.Hour)
)

func TestPlanMerge(t *testing.T) {
	t.Parallel()
	ids := []Identifier{email("Bob@Acme.com"), anon("a1"), email("bob@acme.com ")}
	paris := time.FixedZone("CET", 3600)
	m, err := PlanMerge("lead_A", "lead_B", ids, " same person, two emails ", "usr_admin", t0.In(paris), "mrg_1")
	if err != nil {
		t.Fatal(err)
	}
	want := Merge{ID: "mrg_1", Survivor: "lead_A", Merged: "lead_B", Identifiers: []Identifier{email("bob@acme.com"), anon("a1")},
		Reason: "same person, two emails", By: "usr_admin", At: t0}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %+v\nwant %+v", m, want)
	}
	ids[1].Value = "mutated"
	if m.Identifiers[1].Value != "a1" {
		t.Error("PlanMerge kept the caller's slice")
	}

	d1, _ := PlanMerge("lead_A", "lead_B", nil, "r", "u", t0, "")
	d2, _ := PlanMerge("lead_A", "lead_B", nil, "other reason", "v", t0, "")
	d3, _ := PlanMerge("lead_A", "lead_B", nil, "r", "u", t1, "")
	if !strings.HasPrefix(d1.ID, "merge_") || d1.ID != d2.ID || d1.ID == d3.ID {
		t.Errorf("derived ids: %q %q %q", d1.ID, d2.ID, d3.ID)
	}

	bad := []struct {
		name                         string
		survivor, merged, reason, by string
		at                           time.Time
		field, code                  string
	}{
		{"no survivor", "", "lead_B", "r", "u", t0, "survivor", "required"},
		{"no merged", "lead_A", " ", "r", "u", t0, "merged", "required"},
		{"same lead", "lead_A", "lead_A", "r", "u", t0, "merged", "same_lead"},
		{"no reason", "lead_A", "lead_B", "", "u", t0, "reason", "required"},
		{"blank reason", "lead_A", "lead_B", "  \t", "u", t0, "reason", "required"},
		{"long reason", "lead_A", "lead_B", strings.Repeat("x", 1001), "u", t0, "reason", "too_long"},
		{"no actor", "lead_A", "lead_B", "r", "", t0, "by", "required"},
		{"no time", "lead_A", "lead_B", "r", "u", time.Time{}, "at", "required"},
	}
	for _, c := range bad {
		_, err := PlanMerge(c.survivor, c.merged, nil, c.reason, c.by, c.at, "")
		var e *errs.Error
		if err == nil || !errors.As(err, &e) || e.Kind != errs.KindInvalid || e.Field != c.field || e.Code != c.code {
			t.Errorf("%s: err = %#v, want invalid %s/%s", c.name, err, c.field, c.code)
		}
	}
}

func TestMergeUndo(t *testing.T) {
	t.Parallel()
	m, err := PlanMerge("lead_A", "lead_B", []Identifier{email("bob@acme.com"), user("u_b")}, "dup", "usr_admin", t0, "mrg_1")
	if err != nil {
		t.Fatal(err)
	}
	undone, back, err := m.Undo(t1)
	if err != nil {
		t.Fatal(err)
	}
	if undone.UndoneAt == nil || !undone.UndoneAt.Equal(t1) {
		t.Fatalf("UndoneAt = %v", undone.UndoneAt)
	}
	if m.UndoneAt != nil {
		t.Fatal("Undo modified the receiver")
	}
	if !reflect.DeepEqual(back, m.Identifiers) {
		t.Fatalf("back = %v, want %v", back, m.Identifiers)
	}
	back[0].Value = "x"
	if undone.Identifiers[0].Value != "bob@acme.com" || m.Identifiers[0].Value != "bob@acme.com" {
		t.Fatal("returned slice aliases the record")
	}
	undone.Identifiers[1].Value = "y"
	if m.Identifiers[1].Value != "u_b" {
		t.Fatal("undone record aliases the original")
	}

	_, _, err = undone.Undo(t1.Add(time.Hour))
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.KindConflict || e.Code != "merge_already_undone" {
		t.Fatalf("second undo: %v", err)
	}
	if _, _, err := m.Undo(t0.Add(-time.Second)); err == nil {
		t.Fatal("undo before the merge accepted")
	}
	if _, _, err := m.Undo(time.Time{}); err == nil {
		t.Fatal("undo at zero time accepted")
	}
	if _, _, err := m.Undo(t0); err != nil {
		t.Fatalf("undo at the merge instant: %v", err)
	}
}
