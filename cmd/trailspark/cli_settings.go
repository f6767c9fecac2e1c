package main

// Scoring settings (SPEC §3.3): the gates before a lead is evaluated, the
// minimum confidence and the cooldowns.

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trailspark/trailspark/api/client"
)

// scoringSettingKeys are the settings in the order they are printed, with
// what `settings set` accepts for each.
var scoringSettingKeys = []struct {
	key, help string
	isBool    bool
	get       func(*client.ScoringSettings) string
	set       func(*client.ScoringSettingsUpdate, int, bool)
}{
	{"min_signals", "mapped signals within the lookback before a lead is evaluated (1-50)", false,
		func(s *client.ScoringSettings) string { return strconv.Itoa(s.MinSignals) },
		func(u *client.ScoringSettingsUpdate, n int, _ bool) { u.MinSignals = &n }},
	{"min_signal_types", "distinct signal types within the lookback (1-10)", false,
		func(s *client.ScoringSettings) string { return strconv.Itoa(s.MinSignalTypes) },
		func(u *client.ScoringSettingsUpdate, n int, _ bool) { u.MinSignalTypes = &n }},
	{"lookback_days", "days the gates look back (1-365)", false,
		func(s *client.ScoringSettings) string { return strconv.Itoa(s.LookbackDays) },
		func(u *client.ScoringSettingsUpdate, n int, _ bool) { u.LookbackDays = &n }},
	{"min_confidence", "percent; below it an evaluation is never hot or warm (0-100)", false,
		func(s *client.ScoringSettings) string { return strconv.Itoa(s.MinConfidence) },
		func(u *client.ScoringSettingsUpdate, n int, _ bool) { u.MinConfidence = &n }},
	{"cooling_off", "true or false: wait the cooldown after a grade", true,
		func(s *client.ScoringSettings) string { return strconv.FormatBool(s.CoolingOff) },
		func(u *client.ScoringSettingsUpdate, _ int, b bool) { u.CoolingOff = &b }},
	{"cooldown_hot_hours", "hours after a hot grade (1-2160)", false,
		func(s *client.ScoringSettings) string { return strconv.Itoa(s.CooldownHotHours) },
		func(u *client.ScoringSettingsUpdate, n int, _ bool) { u.CooldownHotHours = &n }},
	{"cooldown_warm_hours", "hours after a warm grade (1-2160)", false,
		func(s *client.ScoringSettings) string { return strconv.Itoa(s.CooldownWarmHours) },
		func(u *client.ScoringSettingsUpdate, n int, _ bool) { u.CooldownWarmHours = &n }},
	{"cooldown_cold_hours", "hours after a cold grade (1-2160)", false,
		func(s *client.ScoringSettings) string { return strconv.Itoa(s.CooldownColdHours) },
		func(u *client.ScoringSettingsUpdate, n int, _ bool) { u.CooldownColdHours = &n }},
}

func settingsTable(w io.Writer, s *client.ScoringSettings) {
	row(w, "SETTING", "VALUE")
	for _, k := range scoringSettingKeys {
		row(w, k.key, k.get(s))
	}
}

// parseSettingsArgs turns key=value arguments into an update; ranges are
// the server's to check.
func parseSettingsArgs(args []string) (client.ScoringSettingsUpdate, error) {
	var u client.ScoringSettingsUpdate
	seen := map[string]bool{}
	for _, a := range args {
		key, val, ok := strings.Cut(a, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !ok || key == "" || val == "" {
			return u, fmt.Errorf("%q: want key=value, e.g. min_signals=5", a)
		}
		if seen[key] {
			return u, fmt.Errorf("%s is given twice", key)
		}
		seen[key] = true
		found := false
		for _, k := range scoringSettingKeys {
			if k.key != key {
				continue
			}
			found = true
			if k.isBool {
				b, err := strconv.ParseBool(val)
				if err != nil {
					return u, fmt.Errorf("%s must be true or false, not %q", key, val)
				}
				k.set(&u, 0, b)
			} else {
				n, err := strconv.Atoi(val)
				if err != nil {
					return u, fmt.Errorf("%s must be a whole number, not %q", key, val)
				}
				k.set(&u, n, false)
			}
		}
		if !found {
			names := make([]string, len(scoringSettingKeys))
			for i, k := range scoringSettingKeys {
				names[i] = k.key
			}
			return u, fmt.Errorf("unknown setting %q: use one of %s", key, strings.Join(names, ", "))
		}
	}
	return u, nil
}

func newSettingsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "settings",
		Short: "Read and change an organization's scoring settings",
	}

	get := &cobra.Command{
		Use:   "get ORG",
		Short: "Show the scoring settings",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			var s client.ScoringSettings
			raw, err := c.getRaw(orgPath(args[0], "settings"), nil, &s)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { settingsTable(w, &s) })
		}),
	}

	var keys []string
	for _, k := range scoringSettingKeys {
		keys = append(keys, fmt.Sprintf("  %-20s %s", k.key, k.help))
	}
	set := &cobra.Command{
		Use:   "set ORG key=value…",
		Short: "Change scoring settings (Admin); the others keep their value",
		Long: "Change scoring settings (Admin), e.g.\n\n  trailspark settings set ORG min_signals=5 cooldown_hot_hours=24\n\n" +
			"Settings not named keep their value. The settings:\n\n" + strings.Join(keys, "\n"),
		Args: cobra.MinimumNArgs(2),
		RunE: run(func(c *cli, args []string) error {
			u, err := parseSettingsArgs(args[1:])
			if err != nil {
				return err
			}
			var s client.ScoringSettings
			raw, err := c.callRaw(http.MethodPut, orgPath(args[0], "settings"), nil, u, &s)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { settingsTable(w, &s) })
		}),
	}

	cmd.AddCommand(get, set)
	return cmd
}
