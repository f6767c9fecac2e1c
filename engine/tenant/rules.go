package tenant

import (
	"sort"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/mapping"
)

// maxRules bounds an organization's mapping rules.
const maxRules = 500

// SortedRules lists rules by priority (highest first), then age.
func (s *State) SortedRules() []mapping.Rule {
	out := make([]mapping.Rule, 0, len(s.Rules))
	for _, r := range s.Rules {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority > out[j].Priority
		}
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// AddRule validates and stores a new rule with the given id.
func (s *State) AddRule(r mapping.Rule, id string, now time.Time) (*mapping.Rule, error) {
	if len(s.Rules) >= maxRules {
		return nil, errs.Conflict("too_many_rules", "", "this organization has too many mapping rules; delete some first")
	}
	r.ID, r.CreatedAt, r.UpdatedAt = id, now, now
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if s.Rules == nil {
		s.Rules = map[string]*mapping.Rule{}
	}
	s.Rules[id] = &r
	s.ConfigVersion++
	return &r, nil
}

// ReplaceRule validates and replaces a rule, keeping its id and age.
func (s *State) ReplaceRule(id string, r mapping.Rule, now time.Time) (*mapping.Rule, error) {
	old, ok := s.Rules[id]
	if !ok {
		return nil, errs.NotFound("rule")
	}
	r.ID, r.CreatedAt, r.UpdatedAt = id, old.CreatedAt, now
	if err := r.Validate(); err != nil {
		return nil, err
	}
	s.Rules[id] = &r
	s.ConfigVersion++
	return &r, nil
}

// DeleteRule removes a rule; processed data is kept.
func (s *State) DeleteRule(id string) error {
	if _, ok := s.Rules[id]; !ok {
		return errs.NotFound("rule")
	}
	delete(s.Rules, id)
	s.ConfigVersion++
	return nil
}
