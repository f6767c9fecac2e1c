package mapping

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fold scans must agree with a reference built from strings.EqualFold.
func refPrefix(s, p string) bool {
	for i := 0; i <= len(s); i++ {
		if (i == len(s) || utf8.RuneStart(s[i])) && strings.EqualFold(s[:i], p) {
			return true
		}
	}
	return false
}

func refSuffix(s, p string) bool {
	for i := 0; i <= len(s); i++ {
		if (i == len(s) || utf8.RuneStart(s[i])) && strings.EqualFold(s[i:], p) {
			return true
		}
	}
	return false
}

func refContains(s, p string) bool {
	for i := 0; i <= len(s); i++ {
		if i < len(s) && !utf8.RuneStart(s[i]) {
			continue
		}
		if refPrefix(s[i:], p) {
			return true
		}
	}
	return false
}

var foldSamples = []string{
	"", "a", "A", "ab", "Ab", "aB", "abc", "ABC", "k", "K", "\u212A", "\u212Aelvin", "kelvin", "KELVIN",
	"s", "S", "\u017F", "ß", "ẞ", "straße", "STRASSE", "İ", "i", "ı", "I", "é", "É", "Ωmega", "ωMEGA",
	"\xff", "a\xffb", "https://Example.com/Pricing", "pricing", "PRICING", "/p", "日本", "日本語",
}

func TestFoldScans(t *testing.T) {
	t.Parallel()
	for _, s := range foldSamples {
		for _, p := range foldSamples {
			low := asciiLower(p)
			if got, want := hasPrefixFold(s, low), refPrefix(s, p); got != want {
				t.Errorf("hasPrefixFold(%q, %q) = %v, want %v", s, p, got, want)
			}
			if got, want := hasSuffixFold(s, low), refSuffix(s, p); got != want {
				t.Errorf("hasSuffixFold(%q, %q) = %v, want %v", s, p, got, want)
			}
			if got, want := containsFold(s, low), refContains(s, p); got != want {
				t.Errorf("containsFold(%q, %q) = %v, want %v", s, p, got, want)
			}
		}
	}
}

func FuzzFoldScans(f *testing.F) {
	for _, s := range foldSamples {
		f.Add(s+"x", s)
	}
	f.Fuzz(func(t *testing.T, s, p string) {
		if len(s) > 64 || len(p) > 16 {
			return
		}
		low := asciiLower(p)
		if !utf8.ValidString(s) || !utf8.ValidString(p) {
			// Invalid bytes all fold to U+FFFD, as in strings.EqualFold;
			// the reference below cannot model that, so only check
			// that nothing panics. Payload strings decoded by
			// encoding/json are always valid UTF-8.
			hasPrefixFold(s, low)
			hasSuffixFold(s, low)
			containsFold(s, low)
			return
		}
		if got, want := hasPrefixFold(s, low), refPrefix(s, p); got != want {
			t.Errorf("hasPrefixFold(%q, %q) = %v, want %v", s, p, got, want)
		}
		if got, want := hasSuffixFold(s, low), refSuffix(s, p); got != want {
			t.Errorf("hasSuffixFold(%q, %q) = %v, want %v", s, p, got, want)
		}
		if got, want := containsFold(s, low), refContains(s, p); got != want {
			t.Errorf("containsFold(%q, %q) = %v, want %v", s, p, got, want)
		}
	})
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	good := []string{
		"2025-03-01T10:00:00Z", "2025-03-01t10:00:00z", "2025-03-01 10:00:00Z", "2025-03-01T10:00:00.5+02:00",
		"2025-03-01T10:00:00.123456789-07:30", "2024-02-29T23:59:59Z", "0001-01-01T00:00:00Z",
		"2025-12-31T23:59:59.1234567891234Z",
	}
	for _, s := range good {
		got, ok := parseTime(s)
		norm := strings.NewReplacer("t", "T", "z", "Z", " ", "T").Replace(s)
		want, err := time.Parse(time.RFC3339Nano, norm)
		if !ok || err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; time.Parse = %v, %v", s, got, ok, want, err)
		}
	}
	if got, ok := parseTime("2025-03-01"); !ok || !got.Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date: %v %v", got, ok)
	}
	bad := []string{
		"", "2025", "2025-3-01", "2025-13-01", "2025-00-01", "2025-02-29", "2025-04-31", "2025-03-01T",
		"2025-03-01T24:00:00Z", "2025-03-01T10:60:00Z", "2025-03-01T10:00:60Z", "2025-03-01T10:00:00",
		"2025-03-01T10:00:00.Z", "2025-03-01T10:00:00+0200", "2025-03-01T10:00:00+24:00", "2025-03-01X10:00:00Z",
		"2025-03-01T10:00:00ZZ", "abcd-ef-ghT10:00:00Z", "2025-03-01T1a:00:00Z", "2025-03-01T10:00:00+02:60",
	}
	for _, s := range bad {
		if got, ok := parseTime(s); ok {
			t.Errorf("parseTime(%q) = %v, want failure", s, got)
		}
	}
}

func TestHotPathHelpersDoNotAllocate(t *testing.T) {
	checks := map[string]func(){
		"parseTime":     func() { parseTime("2025-03-01T10:00:00.5+02:00") },
		"parseNumber":   func() { parseNumber("not a number") },
		"containsFold":  func() { containsFold("https://Example.com/\u212Aelvin/Pricing", "kelvin") },
		"hasSuffixFold": func() { hasSuffixFold("Ada@Example.COM", "@example.com") },
	}
	for name, f := range checks {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times", name, n)
		}
	}
}

func TestIsJSONNumber(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"0", "-0", "12", "-12.5", "1e3", "1E+3", "1.5e-3", "0.0"} {
		if !isJSONNumber(s) {
			t.Errorf("%q should be a number", s)
		}
	}
	for _, s := range []string{"", "-", "+1", "01", "1.", ".5", "1e", "1e+", "0x10", "Inf", "NaN", "1_000", " 1", "1 ", strings.Repeat("1", 65)} {
		if isJSONNumber(s) {
			t.Errorf("%q should not be a number", s)
		}
	}
}
