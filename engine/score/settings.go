package score

import (
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

// Settings are an organization's scoring settings (SPEC §3.3).
type Settings struct {
	MinSignals     int           `json:"min_signals"`      // 1–50, default 3
	MinSignalTypes int           `json:"min_signal_types"` // 1–10, default 2
	LookbackDays   int           `json:"lookback_days"`    // 1–365, default 90
	MinConfidence  int           `json:"min_confidence"`   // 0–100 (%), default 70
	CoolingOff     bool          `json:"cooling_off"`      // default on
	CooldownHot    time.Duration `json:"cooldown_hot"`     // 1–2160 h, default 168 h
	CooldownWarm   time.Duration `json:"cooldown_warm"`    // 1–2160 h, default 72 h
	CooldownCold   time.Duration `json:"cooldown_cold"`    // 1–2160 h, default 336 h
}

// DefaultSettings returns the SPEC §3.3 defaults.
func DefaultSettings() Settings {
	return Settings{
		MinSignals: 3, MinSignalTypes: 2, LookbackDays: 90, MinConfidence: 70, CoolingOff: true,
		CooldownHot: 168 * time.Hour, CooldownWarm: 72 * time.Hour, CooldownCold: 336 * time.Hour,
	}
}

// Lookback is the lookback window as a duration.
func (s Settings) Lookback() time.Duration { return time.Duration(s.LookbackDays) * 24 * time.Hour }

// Validate reports the first setting out of its range, naming it
// (KindInvalid, code "out_of_range").
func (s Settings) Validate() error {
	checks := []struct {
		field  string
		v      int64
		lo, hi int64
		unit   string
	}{
		{"min_signals", int64(s.MinSignals), 1, 50, ""},
		{"min_signal_types", int64(s.MinSignalTypes), 1, 10, ""},
		{"lookback_days", int64(s.LookbackDays), 1, 365, " days"},
		{"min_confidence", int64(s.MinConfidence), 0, 100, "%"},
		{"cooldown_hot", int64(s.CooldownHot / time.Hour), 1, 2160, " h"},
		{"cooldown_warm", int64(s.CooldownWarm / time.Hour), 1, 2160, " h"},
		{"cooldown_cold", int64(s.CooldownCold / time.Hour), 1, 2160, " h"},
	}
	for _, c := range checks {
		if c.v < c.lo || c.v > c.hi {
			return errs.Invalid(c.field, "out_of_range", "%s must be between %d%s and %d%s", c.field, c.lo, c.unit, c.hi, c.unit)
		}
	}
	for _, c := range []struct {
		field string
		d     time.Duration
	}{{"cooldown_hot", s.CooldownHot}, {"cooldown_warm", s.CooldownWarm}, {"cooldown_cold", s.CooldownCold}} {
		if c.d%time.Hour != 0 {
			return errs.Invalid(c.field, "out_of_range", "%s must be a whole number of hours", c.field)
		}
	}
	return nil
}

// normalized replaces non-positive minimums with defaults so Evaluate never
// divides by zero on a zero-valued Settings.
func (s Settings) normalized() Settings {
	d := DefaultSettings()
	if s.MinSignals <= 0 {
		s.MinSignals = d.MinSignals
	}
	if s.MinSignalTypes <= 0 {
		s.MinSignalTypes = d.MinSignalTypes
	}
	if s.LookbackDays <= 0 {
		s.LookbackDays = d.LookbackDays
	}
	if s.MinConfidence < 0 {
		s.MinConfidence = 0
	}
	return s
}
