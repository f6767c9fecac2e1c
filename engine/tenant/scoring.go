package tenant

import (
	"sort"
	"strconv"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/icp"
	"github.com/trailspark/trailspark/engine/rules"
	"github.com/trailspark/trailspark/engine/score"
)

// Model sources: how a model version was built.
const (
	SourceStarter    = "starter"
	SourceManual     = "manual"
	SourceText       = "text"
	SourceUpload     = "upload"
	SourceSparkSense = "sparksense"
	SourceRefinement = "refinement"
)

// ModelStatus: one version is active at a time.
const (
	ModelActive   = "active"
	ModelInactive = "inactive"
)

// ModelVersion is one version of an organization's ICP model. Versions
// are immutable once created; activating one deactivates the others.
type ModelVersion struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Version    int            `json:"version"`
	Status     string         `json:"status"`
	Source     string         `json:"source"`
	Definition icp.Definition `json:"definition"`
	Fitted     *icp.Fitted    `json:"fitted,omitempty"`
	// ParentID is the version a refinement started from.
	ParentID  string    `json:"parent_id,omitempty"`
	Note      string    `json:"note,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Label is the version string evaluations carry ("icp_x@3").
func (m *ModelVersion) Label() string { return m.ID + "@" + strconv.Itoa(m.Version) }

// Compile gives the scoring view of this version.
func (m *ModelVersion) Compile() *icp.Compiled {
	return icp.CompileFitted(m.Definition, m.Label(), m.Fitted)
}

// Scoring is an organization's scoring configuration (SPEC §3.3–§3.4) and
// its ICP model versions.
type Scoring struct {
	Settings    score.Settings           `json:"settings"`
	EvalRules   []rules.Rule             `json:"evaluation_rules"`
	Models      map[string]*ModelVersion `json:"models"`
	ActiveModel string                   `json:"active_model"`
	NextVersion int                      `json:"next_version"`
}

// StarterModelID is the id of the model every organization starts with.
const StarterModelID = "icp_starter"

// maxModels bounds stored versions per organization.
const maxModels = 200

// EnsureScoring gives an organization (including one created before
// scoring existed) its defaults: SPEC §3.3 settings and the starter ICP as
// the active version 1. It reports whether it changed anything.
func (s *State) EnsureScoring(now time.Time) bool {
	if s.Scoring != nil {
		return false
	}
	s.Scoring = &Scoring{
		Settings: score.DefaultSettings(),
		Models: map[string]*ModelVersion{StarterModelID: {
			ID: StarterModelID, Name: "Starter ICP", Version: 1, Status: ModelActive, Source: SourceStarter,
			Definition: icp.Starter(), Note: "Editable default: behaviour-led scoring until your own outcomes arrive.", CreatedAt: now,
		}},
		ActiveModel: StarterModelID,
		NextVersion: 2,
		EvalRules:   []rules.Rule{},
	}
	s.ConfigVersion++
	return true
}

// Active returns the active model version.
func (s *State) Active() *ModelVersion {
	if s.Scoring == nil {
		return nil
	}
	return s.Scoring.Models[s.Scoring.ActiveModel]
}

// SortedModels lists model versions, newest first.
func (s *State) SortedModels() []ModelVersion {
	out := []ModelVersion{}
	if s.Scoring == nil {
		return out
	}
	for _, m := range s.Scoring.Models {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version > out[j].Version })
	return out
}

// AddModel validates and stores a new version (inactive unless activate).
func (s *State) AddModel(m ModelVersion, id string, activate bool, now time.Time) (*ModelVersion, error) {
	s.EnsureScoring(now)
	if len(s.Scoring.Models) >= maxModels {
		return nil, errs.Conflict("too_many_models", "", "this organization has too many model versions")
	}
	if m.Name == "" {
		m.Name = "ICP model"
	}
	if len([]rune(m.Name)) > maxNameLen {
		return nil, errs.Invalid("name", "too_long", "name is at most %d characters", maxNameLen)
	}
	if err := m.Definition.Validate(); err != nil {
		return nil, err
	}
	m.ID, m.CreatedAt, m.Version, m.Status = id, now, s.Scoring.NextVersion, ModelInactive
	s.Scoring.NextVersion++
	s.Scoring.Models[id] = &m
	if activate {
		s.activate(id)
	}
	s.ConfigVersion++
	return &m, nil
}

// ActivateModel makes a version the active one.
func (s *State) ActivateModel(id string, now time.Time) (*ModelVersion, error) {
	s.EnsureScoring(now)
	m, ok := s.Scoring.Models[id]
	if !ok {
		return nil, errs.NotFound("model")
	}
	s.activate(id)
	s.ConfigVersion++
	return m, nil
}

func (s *State) activate(id string) {
	for k, m := range s.Scoring.Models {
		m.Status = ModelInactive
		if k == id {
			m.Status = ModelActive
		}
	}
	s.Scoring.ActiveModel = id
}

// SetSettings validates and replaces the scoring settings.
func (s *State) SetSettings(set score.Settings, now time.Time) error {
	if err := set.Validate(); err != nil {
		return err
	}
	s.EnsureScoring(now)
	s.Scoring.Settings = set
	s.ConfigVersion++
	return nil
}

// SetEvalRules validates and replaces the evaluation rules; ids are given
// to rules without one.
func (s *State) SetEvalRules(rs []rules.Rule, newID func() (string, error), now time.Time) ([]rules.Rule, error) {
	if rs == nil {
		rs = []rules.Rule{}
	}
	if err := rules.ValidateAll(rs); err != nil {
		return nil, err
	}
	for i := range rs {
		if rs[i].ID == "" {
			id, err := newID()
			if err != nil {
				return nil, errs.Internal(err)
			}
			rs[i].ID = id
		}
	}
	rules.SortRules(rs)
	s.EnsureScoring(now)
	s.Scoring.EvalRules = rs
	s.ConfigVersion++
	return rs, nil
}
