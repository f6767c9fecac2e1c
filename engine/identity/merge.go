package identity

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

// Merge records that lead Merged was folded into lead Survivor by an
// explicit admin action: which identifiers moved, why, by whom and when.
// Merges are never destroyed; Undo marks one undone and says which
// identifiers to move back.
type Merge struct {
	ID          string       `json:"id"`
	Survivor    string       `json:"survivor"`
	Merged      string       `json:"merged"`
	Identifiers []Identifier `json:"identifiers"` // moved from Merged to Survivor
	Reason      string       `json:"reason"`
	By          string       `json:"by"`
	At          time.Time    `json:"at"`
	UndoneAt    *time.Time   `json:"undone_at,omitempty"`
}

// maxReasonLen bounds the recorded reason, in bytes.
const maxReasonLen = 1000

// PlanMerge validates and records a merge of lead merged into lead survivor,
// moving mergedIDs (the identifiers merged holds; stored normalised and
// de-duplicated, in the given order). at is stored in UTC. id is the
// caller's record id; when empty a deterministic one is derived
// ("merge_" + hash of survivor, merged and at).
//
// Errors (*errs.Error, KindInvalid): survivor or merged empty (Field
// "survivor"/"merged", Code "required"); survivor == merged (Field "merged",
// Code "same_lead"); reason empty or blank (Field "reason", Code
// "required") or too long ("too_long"); by empty (Field "by", Code
// "required": every merge names the admin who made it); at zero (Field "at",
// Code "required").
func PlanMerge(survivor, merged string, mergedIDs []Identifier, reason, by string, at time.Time, id string) (Merge, error) {
	survivor, merged = strings.TrimSpace(survivor), strings.TrimSpace(merged)
	reason, by = strings.TrimSpace(reason), strings.TrimSpace(by)
	switch {
	case survivor == "":
		return Merge{}, errs.Invalid("survivor", "required", "survivor lead is required")
	case merged == "":
		return Merge{}, errs.Invalid("merged", "required", "lead to merge is required")
	case survivor == merged:
		return Merge{}, errs.Invalid("merged", "same_lead", "a lead cannot be merged into itself")
	case reason == "":
		return Merge{}, errs.Invalid("reason", "required", "a merge needs a reason")
	case len(reason) > maxReasonLen:
		return Merge{}, errs.Invalid("reason", "too_long", "reason must be at most %d characters", maxReasonLen)
	case by == "":
		return Merge{}, errs.Invalid("by", "required", "a merge must name who made it")
	case at.IsZero():
		return Merge{}, errs.Invalid("at", "required", "merge time is required")
	}
	at = at.UTC()
	if id == "" {
		id = hashID("merge_", survivor, merged, strconv.FormatInt(at.UnixNano(), 10))
	}
	moved := make([]Identifier, 0, len(mergedIDs))
	for _, x := range mergedIDs {
		n := x.Normalized()
		if !slices.Contains(moved, n) {
			moved = append(moved, n)
		}
	}
	return Merge{ID: id, Survivor: survivor, Merged: merged, Identifiers: moved, Reason: reason, By: by, At: at}, nil
}

// Undo returns m marked undone at at, and the identifiers to move back from
// Survivor to Merged (a fresh slice). The receiver is not modified.
//
// Errors (*errs.Error): already undone (KindConflict, Code
// "merge_already_undone"); at zero (KindInvalid, Field "at", Code
// "required") or before the merge (Field "at", Code "before_merge").
//
// Identifiers linked to Survivor after the merge stay with Survivor: only
// the recorded ones move back.
func (m Merge) Undo(at time.Time) (Merge, []Identifier, error) {
	switch {
	case m.UndoneAt != nil:
		return Merge{}, nil, errs.Conflict("merge_already_undone", "", "this merge was already undone")
	case at.IsZero():
		return Merge{}, nil, errs.Invalid("at", "required", "undo time is required")
	case at.Before(m.At):
		return Merge{}, nil, errs.Invalid("at", "before_merge", "a merge cannot be undone before it happened")
	}
	t := at.UTC()
	m.UndoneAt = &t
	m.Identifiers = slices.Clone(m.Identifiers)
	return m, slices.Clone(m.Identifiers), nil
}
