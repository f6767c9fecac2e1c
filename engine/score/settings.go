package score

import (
	"encoding/json"
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
		{"cooldown_hot_hours", int64(s.CooldownHot / time.Hour), 1, 2160, " h"},
		{"cooldown_warm_hours", int64(s.CooldownWarm / time.Hour), 1, 2160, " h"},
		{"cooldown_cold_hours", int64(s.CooldownCold / time.Hour), 1, 2160, " h"},
	}
	for _, c := range checks {
		if c.v < c.lo || c.v > c.hi {
			return errs.Invalid(c.field, "out_of_range", "%s must be between %d%s and %d%s", c.field, c.lo, c.unit, c.hi, c.unit)
		}
	}
	for _, c := range []struct {
		field string
		d     time.Duration
	}{{"cooldown_hot_hours", s.CooldownHot}, {"cooldown_warm_hours", s.CooldownWarm}, {"cooldown_cold_hours", s.CooldownCold}} {
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

// settingsJSON is the wire form: cooldowns in whole hours, as SPEC §3.3
// states them (a time.Duration would marshal as nanoseconds).
type settingsJSON struct {
	MinSignals     *int  `json:"min_signals,omitempty"`
	MinSignalTypes *int  `json:"min_signal_types,omitempty"`
	LookbackDays   *int  `json:"lookback_days,omitempty"`
	MinConfidence  *int  `json:"min_confidence,omitempty"`
	CoolingOff     *bool `json:"cooling_off,omitempty"`
	CooldownHotH   *int  `json:"cooldown_hot_hours,omitempty"`
	CooldownWarmH  *int  `json:"cooldown_warm_hours,omitempty"`
	CooldownColdH  *int  `json:"cooldown_cold_hours,omitempty"`
}

// MarshalJSON writes every setting, cooldowns in hours.
func (s Settings) MarshalJSON() ([]byte, error) {
	h := func(d time.Duration) *int { v := int(d / time.Hour); return &v }
	return json.Marshal(settingsJSON{&s.MinSignals, &s.MinSignalTypes, &s.LookbackDays, &s.MinConfidence, &s.CoolingOff,
		h(s.CooldownHot), h(s.CooldownWarm), h(s.CooldownCold)})
}

// UnmarshalJSON overlays the settings present in b onto s, so a partial
// document changes only what it names (decode onto the current settings to
// update them; onto DefaultSettings() to fill the rest with defaults).
func (s *Settings) UnmarshalJSON(b []byte) error {
	var w settingsJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	setI := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setD := func(dst *time.Duration, v *int) {
		if v != nil {
			*dst = time.Duration(*v) * time.Hour
		}
	}
	setI(&s.MinSignals, w.MinSignals)
	setI(&s.MinSignalTypes, w.MinSignalTypes)
	setI(&s.LookbackDays, w.LookbackDays)
	setI(&s.MinConfidence, w.MinConfidence)
	if w.CoolingOff != nil {
		s.CoolingOff = *w.CoolingOff
	}
	setD(&s.CooldownHot, w.CooldownHotH)
	setD(&s.CooldownWarm, w.CooldownWarmH)
	setD(&s.CooldownCold, w.CooldownColdH)
	return nil
}
