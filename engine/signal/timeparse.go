package signal

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Event times must fall in this range; anything else is a broken clock or a
// misread number, and would poison decay and lookback windows.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// Unix numbers below this are seconds, from here up to maxUnixMillis
// milliseconds. 1e11 s is the year 5138; 1e11 ms is March 1973.
const (
	maxUnixSeconds = 1e11
	maxUnixMillis  = 1e14
)

// timeLayouts are tried in order for string times. time.Parse accepts a
// fractional second after the seconds even when the layout has none.
var timeLayouts = [...]string{
	time.RFC3339,                // 2006-01-02T15:04:05Z, 2006-01-02T15:04:05.000+01:00
	"2006-01-02T15:04:05Z0700",  // Salesforce: 2006-01-02T15:04:05.000+0000
	"2006-01-02T15:04:05",       // no zone: UTC
	"2006-01-02 15:04:05Z07:00", // SQL-ish exports
	"2006-01-02 15:04:05Z0700",  //
	"2006-01-02 15:04:05",       //
	"2006-01-02 15:04:05 -0700", //
	"2006-01-02T15:04Z07:00",    // no seconds
	"2006-01-02T15:04",          //
	"2006-01-02",                // a date alone: midnight UTC
}

// parseTimeString parses a string time: RFC 3339 (with or without
// fractional seconds), the same without zone (UTC), with a space instead of
// 'T', with a ±hhmm zone, a date alone, or a string of digits read as a unix
// number. The result is UTC.
func parseTimeString(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if c := v[0]; '0' <= c && c <= '9' && isUnixNumber(v) {
		return parseTimeNumber(v)
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return inRange(t.UTC())
		}
	}
	return time.Time{}, false
}

// isUnixNumber reports whether v is digits with at most one '.' (not first
// or last), so "2024-01-15" is not one.
func isUnixNumber(v string) bool {
	dot := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '.' && !dot && i > 0 && i < len(v)-1 {
			dot = true
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseTimeNumber reads a JSON number literal as unix seconds (below 1e11)
// or milliseconds (below 1e14). Negative numbers and larger ones are
// refused.
func parseTimeNumber(lit string) (time.Time, bool) {
	if !strings.ContainsAny(lit, ".eE") {
		n, err := strconv.ParseInt(lit, 10, 64)
		if err != nil || n < 0 || n >= maxUnixMillis {
			return time.Time{}, false
		}
		if n < maxUnixSeconds {
			return inRange(time.Unix(n, 0).UTC())
		}
		return inRange(time.UnixMilli(n).UTC())
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || f < 0 || f >= maxUnixMillis || math.IsNaN(f) {
		return time.Time{}, false
	}
	if f < maxUnixSeconds {
		sec, frac := math.Modf(f)
		return inRange(time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC())
	}
	ms, frac := math.Modf(f)
	return inRange(time.UnixMilli(int64(ms)).Add(time.Duration(math.Round(frac * 1e6))).UTC())
}

func inRange(t time.Time) (time.Time, bool) {
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, false
	}
	return t, true
}
