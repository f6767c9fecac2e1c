package client

// Types of the scoring routes (docs/api.md "Scoring: evaluations, models,
// feedback"), the jobs routes and the operator's plugin routes: each is the
// JSON object of that name in api/openapi.yaml. Definitions (IcpDefinition)
// are kept as raw JSON: they are written by people and sent back as they are.

import (
	"encoding/json"
	"time"
)

// Grades of an evaluation.
const (
	GradeHot  = "hot"
	GradeWarm = "warm"
	GradeCold = "cold"
)

// Feedback statuses.
const (
	FeedbackPending = "pending"
	FeedbackApplied = "applied"
)

// Job statuses.
const (
	JobRunning   = "running"
	JobCompleted = "completed"
	JobFailed    = "failed"
)

// ScoringSettings is the JSON object of that name in api/openapi.yaml (SPEC §3.3).
type ScoringSettings struct {
	MinSignals        int  `json:"min_signals"`
	MinSignalTypes    int  `json:"min_signal_types"`
	LookbackDays      int  `json:"lookback_days"`
	MinConfidence     int  `json:"min_confidence"`
	CoolingOff        bool `json:"cooling_off"`
	CooldownHotHours  int  `json:"cooldown_hot_hours"`
	CooldownWarmHours int  `json:"cooldown_warm_hours"`
	CooldownColdHours int  `json:"cooldown_cold_hours"`
}

// ScoringSettingsUpdate changes the settings that are non-nil (PUT …/settings).
type ScoringSettingsUpdate struct {
	MinSignals        *int  `json:"min_signals,omitempty"`
	MinSignalTypes    *int  `json:"min_signal_types,omitempty"`
	LookbackDays      *int  `json:"lookback_days,omitempty"`
	MinConfidence     *int  `json:"min_confidence,omitempty"`
	CoolingOff        *bool `json:"cooling_off,omitempty"`
	CooldownHotHours  *int  `json:"cooldown_hot_hours,omitempty"`
	CooldownWarmHours *int  `json:"cooldown_warm_hours,omitempty"`
	CooldownColdHours *int  `json:"cooldown_cold_hours,omitempty"`
}

// ICPFitted is the weights an ICP model version learned (from feedback or an
// upload); they override the definition's.
type ICPFitted struct {
	Intercept *float64           `json:"intercept,omitempty"`
	Weights   map[string]float64 `json:"weights,omitempty"`
}

// ICPModel is the JSON object IcpModel in api/openapi.yaml: one version of an
// organization's ICP model.
type ICPModel struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Version    int             `json:"version"`
	Status     string          `json:"status"` // active | inactive
	Source     string          `json:"source"` // starter, manual, text, upload, sparksense, refinement
	Definition json.RawMessage `json:"definition"`
	Fitted     *ICPFitted      `json:"fitted,omitempty"`
	ParentID   string          `json:"parent_id,omitempty"`
	Note       string          `json:"note,omitempty"`
	CreatedBy  string          `json:"created_by,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	// Parsed is set on a version created from text: what was understood.
	Parsed *ICPTextParse `json:"parsed,omitempty"`
}

// CreateICPModelRequest creates a model version from a structured definition
// or from text to parse (not both) (POST …/icp-models).
type CreateICPModelRequest struct {
	Name       string          `json:"name,omitempty"`
	Definition json.RawMessage `json:"definition,omitempty"`
	Text       string          `json:"text,omitempty"`
	Activate   bool            `json:"activate,omitempty"`
	Note       string          `json:"note,omitempty"`
}

// ICPPhrase is one piece of an ICP text the parser understood.
type ICPPhrase struct {
	Text  string `json:"text"`
	Field string `json:"field"`
	Value string `json:"value"`
}

// ICPTextParse is the JSON object IcpTextParse in api/openapi.yaml.
type ICPTextParse struct {
	Definition    json.RawMessage `json:"definition"`
	Understood    []ICPPhrase     `json:"understood"`
	NotUnderstood []string        `json:"not_understood"`
}

// ICPInsight is one attribute value's win rate against the base rate in an
// upload analysis; Significant is false when it is within noise.
type ICPInsight struct {
	ID          string  `json:"id"`
	Attribute   string  `json:"attribute"`
	Value       string  `json:"value"`
	N           int     `json:"n"`
	Wins        int     `json:"wins"`
	Rate        float64 `json:"rate"`
	Lo          float64 `json:"lo"`
	Hi          float64 `json:"hi"`
	BaseRate    float64 `json:"base_rate"`
	Lift        float64 `json:"lift"`
	Accounts    int     `json:"accounts,omitempty"`
	Significant bool    `json:"significant"`
	Text        string  `json:"text"`
	Enabled     bool    `json:"enabled"`
	Weight      float64 `json:"weight"`
}

// ICPUploadPreview is the detected mapping, counts and first rows of an upload.
type ICPUploadPreview struct {
	AccountColumns         []string          `json:"account_columns"`
	OpportunityColumns     []string          `json:"opportunity_columns"`
	AccountMapping         map[string]string `json:"account_mapping"`
	OpportunityMapping     map[string]string `json:"opportunity_mapping"`
	AccountDelimiter       string            `json:"account_delimiter"`
	OpportunityDelimiter   string            `json:"opportunity_delimiter"`
	AccountRows            int               `json:"account_rows"`
	OpportunityRows        int               `json:"opportunity_rows"`
	AccountSample          [][]string        `json:"account_sample"`
	OpportunitySample      [][]string        `json:"opportunity_sample"`
	Won                    int               `json:"won"`
	Lost                   int               `json:"lost"`
	Open                   int               `json:"open"`
	MatchedOpportunities   int               `json:"matched_opportunities"`
	UnmatchedOpportunities int               `json:"unmatched_opportunities"`
	AccountsWithOutcomes   int               `json:"accounts_with_outcomes"`
	Warnings               []string          `json:"warnings,omitempty"`
}

// ICPAnalysis is the JSON object IcpAnalysis in api/openapi.yaml: the preview,
// the analysis (unless preview_only) and the created model (with create).
type ICPAnalysis struct {
	Preview  *ICPUploadPreview `json:"preview"`
	Analysis *struct {
		Insights   []ICPInsight    `json:"insights"`
		Definition json.RawMessage `json:"definition"`
		Stats      map[string]any  `json:"stats"`
		Warnings   []string        `json:"warnings"`
	} `json:"analysis,omitempty"`
	Model *ICPModel `json:"model,omitempty"`
}

// ModelQualityMetrics are a model version's metrics on the labelled leads.
type ModelQualityMetrics struct {
	AUC                float64 `json:"auc"`
	LogLoss            float64 `json:"log_loss"`
	Brier              float64 `json:"brier"`
	TopDecileLift      float64 `json:"top_decile_lift"`
	TopDecilePrecision float64 `json:"top_decile_precision"`
	Note               string  `json:"note,omitempty"`
}

// ReliabilityBin is one row of a reliability table.
type ReliabilityBin struct {
	Lo            float64 `json:"lo"`
	Hi            float64 `json:"hi"`
	MeanPredicted float64 `json:"mean_predicted"`
	ObservedRate  float64 `json:"observed_rate"`
	Count         int     `json:"count"`
}

// ModelQuality is the JSON object of that name in api/openapi.yaml.
type ModelQuality struct {
	ModelID      string               `json:"model_id"`
	ModelVersion string               `json:"model_version"`
	Labelled     int                  `json:"labelled"`
	Positives    int                  `json:"positives"`
	FromFeedback int                  `json:"from_feedback"`
	FromOutcomes int                  `json:"from_outcomes"`
	Metrics      *ModelQualityMetrics `json:"metrics,omitempty"`
	Reliability  []ReliabilityBin     `json:"reliability,omitempty"`
	Note         string               `json:"note,omitempty"`
}

// Contribution is one feature's part of an evaluation's logit.
type Contribution struct {
	Feature string  `json:"feature"`
	Kind    string  `json:"kind"` // fit | intent
	Value   float64 `json:"value"`
	Points  float64 `json:"points"`
	Label   string  `json:"label"`
}

// Evaluation is the JSON object of that name in api/openapi.yaml:
// Intercept + Σ Contributions[].Points == Logit.
type Evaluation struct {
	ID            string         `json:"id"`
	LeadID        string         `json:"lead_id"`
	AccountID     string         `json:"account_id,omitempty"`
	ModelID       string         `json:"model_id"`
	Trigger       string         `json:"trigger"`
	Grade         string         `json:"grade"`
	ModelGrade    string         `json:"model_grade,omitempty"`
	HeldBack      bool           `json:"held_back,omitempty"`
	Score         int            `json:"score"`
	Probability   float64        `json:"probability"`
	Logit         float64        `json:"logit"`
	Intercept     float64        `json:"intercept"`
	FitScore      int            `json:"fit_score"`
	IntentScore   int            `json:"intent_score"`
	Confidence    int            `json:"confidence"`
	FitKnown      int            `json:"fit_known,omitempty"`
	Contributions []Contribution `json:"contributions"`
	TopSignals    []Contribution `json:"top_signals"`
	Reasoning     string         `json:"reasoning"`
	ModelVersion  string         `json:"model_version"`
	EvaluatedAt   time.Time      `json:"evaluated_at"`
}

// FeedbackRequest says which grade an evaluation should have had.
type FeedbackRequest struct {
	Reason        string `json:"reason"`
	ExpectedGrade string `json:"expected_grade"`
}

// Feedback is the JSON object of that name in api/openapi.yaml.
type Feedback struct {
	EvaluationID  string    `json:"evaluation_id"`
	LeadID        string    `json:"lead_id"`
	Reason        string    `json:"reason"`
	ExpectedGrade string    `json:"expected_grade"`
	OriginalGrade string    `json:"original_grade"`
	GivenBy       string    `json:"given_by,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	Status        string    `json:"status"`
	AppliedModel  string    `json:"applied_model,omitempty"`
}

// RefinementRow is one feedback lead in a refinement preview.
type RefinementRow struct {
	EvaluationID  string `json:"evaluation_id"`
	LeadID        string `json:"lead_id"`
	OldGrade      string `json:"old_grade"`
	NewGrade      string `json:"new_grade"`
	ExpectedGrade string `json:"expected_grade"`
	OldScore      int    `json:"old_score"`
	NewScore      int    `json:"new_score"`
}

// WeightChange is one weight a refinement moves.
type WeightChange struct {
	Feature string  `json:"feature"`
	Old     float64 `json:"old"`
	New     float64 `json:"new"`
}

// RefinementPreview is the JSON object of that name in api/openapi.yaml.
type RefinementPreview struct {
	BaseModelID   string          `json:"base_model_id"`
	Feedback      int             `json:"feedback"`
	MatchedBefore int             `json:"matched_before"`
	MatchedAfter  int             `json:"matched_after"`
	Rows          []RefinementRow `json:"rows"`
	Changes       []WeightChange  `json:"changes"`
	Summary       string          `json:"summary"`
}

// RefinementApplied is the new active model version, the preview it came
// from and the job re-scoring recent leads.
type RefinementApplied struct {
	Model   ICPModel          `json:"model"`
	Preview RefinementPreview `json:"preview"`
	Job     Job               `json:"job"`
}

// Job is the JSON object of that name in api/openapi.yaml: a bulk import, a
// signal reprocess or a rescore, with its progress so far.
type Job struct {
	ID         string          `json:"id"`
	Kind       string          `json:"kind"`   // signal_import, signal_reprocess, rescore
	Status     string          `json:"status"` // running, completed, failed
	KeyID      string          `json:"key_id,omitempty"`
	Accepted   int64           `json:"accepted"`
	Rejected   int64           `json:"rejected"`
	Duplicates int64           `json:"duplicates"`
	BytesRead  int64           `json:"bytes_read"`
	Scanned    int64           `json:"scanned,omitempty"`
	Processed  int64           `json:"processed,omitempty"`
	Changed    int64           `json:"changed,omitempty"`
	Errors     []BulkLineError `json:"errors"`
	StartedAt  time.Time       `json:"started_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	Error      *ErrorDetail    `json:"error,omitempty"`
}

// Plugin is the JSON object of that name in api/openapi.yaml: a connector
// plugin of the node that answered (operator only).
type Plugin struct {
	Name           string     `json:"name"`
	Version        string     `json:"version,omitempty"`
	Description    string     `json:"description,omitempty"`
	Capabilities   []string   `json:"capabilities"`
	Checksum       string     `json:"checksum"`
	PinnedChecksum string     `json:"pinned_checksum,omitempty"`
	State          string     `json:"state"` // discovered, running, stopped, crashed, unapproved, failed
	Pid            int        `json:"pid,omitempty"`
	Protocol       int        `json:"protocol,omitempty"`
	Restarts       int        `json:"restarts"`
	LastError      string     `json:"last_error,omitempty"`
	NextRestart    *time.Time `json:"next_restart,omitempty"`
}
