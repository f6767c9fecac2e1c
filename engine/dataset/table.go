package dataset

import (
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/trailspark/trailspark/engine/errs"
)

// Kind is how a feature column is modelled.
type Kind int

const (
	Numeric Kind = iota + 1
	Categorical
)

func (k Kind) String() string {
	switch k {
	case Numeric:
		return "numeric"
	case Categorical:
		return "categorical"
	}
	return "unknown"
}

// MarshalText makes Kind read as "numeric"/"categorical" in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// OtherLevel is the level rare categorical values are pooled into.
const OtherLevel = "(other)"

// Column is one feature column, one entry per kept row.
type Column struct {
	Name string `json:"name"`
	// Index is the 0-based position in the header (Index+1 is the column
	// number used in messages).
	Index int  `json:"index"`
	Kind  Kind `json:"kind"`
	// Num holds numeric values, NaN where missing (Kind Numeric).
	Num []float64 `json:"-"`
	// Cat holds level indexes into Levels, -1 where missing (Kind Categorical).
	Cat    []int    `json:"-"`
	Levels []string `json:"levels,omitempty"`
	// Missing counts rows where the value was empty or a placeholder.
	Missing int `json:"missing"`
	// Pooled counts distinct rare values merged into OtherLevel.
	Pooled int `json:"pooled,omitempty"`
	// Unparsed counts values of a numeric column that were not numbers and
	// were treated as missing.
	Unparsed int `json:"unparsed,omitempty"`
}

// Dropped is a column not used as a feature, and why.
type Dropped struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// DateColumn is the date used for a time-based split: days since
// 1970-01-01 (UTC) per kept row, NaN where missing.
type DateColumn struct {
	Name string    `json:"name"`
	Days []float64 `json:"-"`
}

// Table is a labelled CSV ready for learning.
type Table struct {
	Delimiter rune   `json:"-"`
	Label     string `json:"label"`
	// Y is the label of each kept row; Lines its source line.
	Y     []bool `json:"-"`
	Lines []int  `json:"-"`
	// Columns are the features, in header order.
	Columns []Column  `json:"columns"`
	Dropped []Dropped `json:"dropped"`
	// Date is the date column chosen for a time split, nil when none.
	Date *DateColumn `json:"date,omitempty"`
	// Placeholders counts each placeholder text (as written, e.g. "Select")
	// read as missing in feature columns.
	Placeholders map[string]int `json:"placeholders"`
	// DataRows is every data row in the file; Unlabelled those skipped
	// because the label was empty or an open stage (OpenLabels counts them
	// by value).
	DataRows   int            `json:"data_rows"`
	Unlabelled int            `json:"unlabelled"`
	OpenLabels map[string]int `json:"open_labels,omitempty"`
	Positives  int            `json:"positives"`
}

// Rows is the number of labelled rows kept.
func (t *Table) Rows() int { return len(t.Y) }

// Options configures Read.
type Options struct {
	// Label names the outcome column (matched case-insensitively). Required.
	Label string
	// Exclude names columns never to use (matched case-insensitively); an
	// unknown name is an error so a typo does not silently leak a column.
	Exclude []string
	// MinLevelCount: categorical levels seen fewer times are pooled into
	// OtherLevel. Zero: rows/300 clamped to [5, 30].
	MinLevelCount int
	// DateColumn forces the time-split column; empty: detected.
	DateColumn string
}

// Read reads a labelled CSV (see ReadRecords) and types its columns.
func Read(r io.Reader, opts Options) (*Table, error) {
	recs, err := ReadRecords(r)
	if err != nil {
		return nil, err
	}
	return Build(recs, opts)
}

// LabelState says how a label cell was read.
type LabelState int

const (
	LabelKnown   LabelState = iota // a win or a loss
	LabelOpen                      // empty, a placeholder or an open stage: not an outcome yet
	LabelInvalid                   // not readable as an outcome
)

var positiveLabels = set("1", "1.0", "yes", "y", "true", "t", "won", "win", "closed won", "closed-won", "closed_won", "closedwon",
	"converted", "convert", "success", "successful", "positive", "pos", "qualified", "customer", "paid")
var negativeLabels = set("0", "0.0", "no", "n", "false", "f", "lost", "loss", "lose", "closed lost", "closed-lost", "closed_lost", "closedlost",
	"not converted", "not_converted", "unconverted", "failure", "failed", "negative", "neg", "disqualified", "unqualified", "churned")
var openLabels = set("open", "engaging", "prospecting", "pending", "in progress", "in_progress", "working", "new", "nurturing", "active")

// ParseLabel reads an outcome cell: 1/0, yes/no, true/false, won/lost,
// converted/not converted, closed won/closed lost … (case-insensitive).
// Empty cells, placeholders and open stages ("engaging", "prospecting",
// "open" …) are LabelOpen: the outcome is not known yet.
func ParseLabel(s string) (bool, LabelState) {
	v := strings.ToLower(strings.Join(strings.Fields(s), " "))
	switch {
	case positiveLabels[v]:
		return true, LabelKnown
	case negativeLabels[v]:
		return false, LabelKnown
	case v == "" || placeholders[v] || openLabels[v]:
		return false, LabelOpen
	}
	return false, LabelInvalid
}

// placeholders are cell values that mean "no answer". "Select" is what a
// web form stores when the drop-down was left at its prompt.
var placeholders = set("", "select", "na", "n/a", "n.a.", "nan", "null", "none", "nil", "-", "--", "?", "unknown",
	"not provided", "not specified", "not available", "#n/a", "undefined", "(blank)", "blank", "missing")

// IsPlaceholder reports whether a cell is read as missing.
func IsPlaceholder(s string) bool {
	return placeholders[strings.ToLower(strings.TrimSpace(s))]
}

func set(vs ...string) map[string]bool {
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[v] = true
	}
	return m
}

func findColumn(header []string, name string) int {
	name = strings.TrimSpace(name)
	for i, h := range header {
		if h == name {
			return i
		}
	}
	for i, h := range header {
		if strings.EqualFold(h, name) {
			return i
		}
	}
	return -1
}

func quotedList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// Build types the columns of parsed records (see Read).
func Build(recs *Records, opts Options) (*Table, error) {
	if strings.TrimSpace(opts.Label) == "" {
		return nil, &Error{Err: errs.Invalid("label", "required", "name the label column (the outcome to predict)")}
	}
	li := findColumn(recs.Header, opts.Label)
	if li < 0 {
		return nil, &Error{Name: opts.Label, Err: errs.Invalid("label", CodeNoLabel,
			"label column %q not found; the columns are: %s", opts.Label, quotedList(recs.Header))}
	}
	t := &Table{Delimiter: recs.Delimiter, Label: recs.Header[li], Placeholders: map[string]int{}, DataRows: len(recs.Rows)}
	keep := make([]int, 0, len(recs.Rows))
	for i, row := range recs.Rows {
		v, st := ParseLabel(row[li])
		switch st {
		case LabelInvalid:
			return nil, newErr(recs.Lines[i], li+1, recs.Header[li], CodeBadLabel,
				"cannot read label %q as an outcome; use 1/0, yes/no, true/false, won/lost or converted/not converted",
				truncate(strings.TrimSpace(row[li]), 40))
		case LabelOpen:
			t.Unlabelled++
			if t.OpenLabels == nil {
				t.OpenLabels = map[string]int{}
			}
			t.OpenLabels[strings.TrimSpace(row[li])]++
			continue
		}
		keep = append(keep, i)
		t.Y = append(t.Y, v)
		t.Lines = append(t.Lines, recs.Lines[i])
		if v {
			t.Positives++
		}
	}
	n := len(keep)
	if n == 0 || t.Positives == 0 || t.Positives == n {
		return nil, &Error{Name: t.Label, Err: errs.Invalid("label", CodeOneClass,
			"label column %q has %d labelled rows, %d positive: both outcomes are needed", t.Label, n, t.Positives)}
	}

	excluded := map[int]bool{}
	for _, e := range opts.Exclude {
		if strings.TrimSpace(e) == "" {
			continue
		}
		j := findColumn(recs.Header, e)
		if j < 0 {
			return nil, &Error{Name: e, Err: errs.Invalid("exclude", CodeUnknownExcl,
				"excluded column %q not found; the columns are: %s", e, quotedList(recs.Header))}
		}
		excluded[j] = true
	}
	forcedDate := -1
	if opts.DateColumn != "" {
		forcedDate = findColumn(recs.Header, opts.DateColumn)
		if forcedDate < 0 {
			return nil, &Error{Name: opts.DateColumn, Err: errs.Invalid("date", CodeBadDate,
				"date column %q not found; the columns are: %s", opts.DateColumn, quotedList(recs.Header))}
		}
	}
	minLevel := opts.MinLevelCount
	if minLevel <= 0 {
		minLevel = min(max(n/300, 5), 30)
	}

	type dateCand struct {
		col     int
		days    []float64
		missing int
	}
	var dates []dateCand
	vals := make([]string, n)
	for j, name := range recs.Header {
		if j == li {
			continue
		}
		if excluded[j] {
			t.Dropped = append(t.Dropped, Dropped{name, "excluded"})
			continue
		}
		missing := 0
		localPH := map[string]int{}
		for k, i := range keep {
			v := strings.TrimSpace(recs.Rows[i][j])
			if placeholders[strings.ToLower(v)] {
				if v != "" {
					localPH[v]++
				}
				v = ""
				missing++
			}
			vals[k] = v
		}
		if missing == n {
			t.Dropped = append(t.Dropped, Dropped{name, "empty (every value missing)"})
			continue
		}
		if reason := idLikeName(name); reason != "" {
			t.Dropped = append(t.Dropped, Dropped{name, reason})
			continue
		}
		if days, ok := parseDates(vals, n-missing); ok {
			dates = append(dates, dateCand{j, days, missing})
			t.Dropped = append(t.Dropped, Dropped{name, "date (not a feature)"})
			continue
		}
		if j == forcedDate {
			return nil, &Error{Name: name, Err: errs.Invalid("date", CodeBadDate, "column %q is not a date column", name)}
		}
		for v, c := range localPH {
			t.Placeholders[v] += c
		}
		col := Column{Name: name, Index: j, Missing: missing}
		if nums, unparsed, ok := parseNumbers(vals, n-missing, recs.Delimiter); ok {
			if reason := idLikeNumbers(nums, n); reason != "" {
				t.Dropped = append(t.Dropped, Dropped{name, reason})
				continue
			}
			if distinctNums(nums) <= 1 && missing+unparsed == 0 {
				t.Dropped = append(t.Dropped, Dropped{name, "constant"})
				continue
			}
			col.Kind, col.Num, col.Unparsed = Numeric, nums, unparsed
			col.Missing += unparsed
		} else {
			counts := map[string]int{}
			for _, v := range vals {
				if v != "" {
					counts[v]++
				}
			}
			nonMissing := n - missing
			switch {
			case len(counts) == 1 && missing == 0:
				t.Dropped = append(t.Dropped, Dropped{name, "constant"})
				continue
			case len(counts) == nonMissing && nonMissing >= 20:
				t.Dropped = append(t.Dropped, Dropped{name, "ID-like (unique per row)"})
				continue
			case nonMissing >= 50 && float64(len(counts)) >= 0.9*float64(nonMissing):
				t.Dropped = append(t.Dropped, Dropped{name, "ID-like (nearly unique per row: free text or identifier)"})
				continue
			}
			col.Kind = Categorical
			col.Levels, col.Cat, col.Pooled = levels(vals, counts, minLevel)
		}
		t.Columns = append(t.Columns, col)
	}
	if len(t.Columns) == 0 {
		return nil, &Error{Err: errs.Invalid("csv", CodeNoFeatures, "no usable feature columns besides the label %q", t.Label)}
	}
	// The time split uses the forced date column, else the detected one
	// with the fewest missing values (the first on ties).
	for _, d := range dates {
		if forcedDate >= 0 && d.col != forcedDate {
			continue
		}
		if t.Date == nil || d.missing < countNaN(t.Date.Days) {
			t.Date = &DateColumn{Name: recs.Header[d.col], Days: d.days}
		}
	}
	return t, nil
}

func countNaN(v []float64) int {
	c := 0
	for _, x := range v {
		if math.IsNaN(x) {
			c++
		}
	}
	return c
}

func levels(vals []string, counts map[string]int, minLevel int) (lv []string, idx []int, pooled int) {
	for v, c := range counts {
		if c >= minLevel {
			lv = append(lv, v)
		} else {
			pooled++
		}
	}
	// most frequent first; name breaks ties so the order is deterministic
	sort.Slice(lv, func(a, b int) bool {
		if counts[lv[a]] != counts[lv[b]] {
			return counts[lv[a]] > counts[lv[b]]
		}
		return lv[a] < lv[b]
	})
	pos := make(map[string]int, len(lv)+1)
	for i, v := range lv {
		pos[v] = i
	}
	other := -1
	if pooled > 0 {
		other = len(lv)
		lv = append(lv, OtherLevel)
	}
	idx = make([]int, len(vals))
	for k, v := range vals {
		switch p, ok := pos[v]; {
		case v == "":
			idx[k] = -1
		case ok:
			idx[k] = p
		default:
			idx[k] = other
		}
	}
	return lv, idx, pooled
}

// nameTokens splits "ProspectID", "opportunity_id" and "Lead Number" into
// lower-case words.
func nameTokens(name string) []string {
	var toks []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			toks = append(toks, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		if unicode.IsUpper(r) && len(cur) > 0 && (unicode.IsLower(cur[len(cur)-1]) ||
			(i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(cur[len(cur)-1]))) {
			flush()
		}
		cur = append(cur, r)
	}
	flush()
	return toks
}

var idTokens = set("id", "uuid", "guid", "uid", "pk")
var recordNouns = set("lead", "record", "row", "customer", "account", "prospect", "contact", "opportunity", "deal",
	"case", "order", "ticket", "user", "person", "client", "serial")
var personalTokens = set("email", "e-mail", "phone", "mobile", "telephone")

// idLikeName recognises identifier columns by name: they carry no signal
// that generalises to new leads, only memorised rows.
func idLikeName(name string) string {
	toks := nameTokens(name)
	if len(toks) == 0 {
		return ""
	}
	last := toks[len(toks)-1]
	joined := strings.Join(toks, " ")
	switch {
	case idTokens[last]:
		return "ID-like (name)"
	case (last == "number" || last == "no" || last == "num" || last == "key") && len(toks) >= 2 && recordNouns[toks[len(toks)-2]]:
		return "ID-like (name)"
	case joined == "index" || joined == "unnamed 0" || joined == "row":
		return "ID-like (name)"
	case personalTokens[toks[0]] && (len(toks) == 1 || last == "address" || last == "number"):
		return "personal identifier (name)"
	}
	return ""
}

// idLikeNumbers recognises running numbers: unique integers that are
// (nearly) consecutive or sorted in file order.
func idLikeNumbers(nums []float64, n int) string {
	if n < 100 {
		return ""
	}
	seen := make(map[float64]bool, n)
	lo, hi := math.Inf(1), math.Inf(-1)
	inc, dec := true, true
	prev := math.NaN()
	for _, v := range nums {
		if math.IsNaN(v) || v != math.Trunc(v) || seen[v] {
			return ""
		}
		seen[v] = true
		lo, hi = math.Min(lo, v), math.Max(hi, v)
		if !math.IsNaN(prev) {
			inc = inc && v > prev
			dec = dec && v < prev
		}
		prev = v
	}
	if hi-lo+1 <= 1.5*float64(n) || inc || dec {
		return "ID-like (unique running number)"
	}
	return ""
}

func distinctNums(nums []float64) int {
	m := map[float64]bool{}
	for _, v := range nums {
		if !math.IsNaN(v) {
			m[v] = true
			if len(m) > 1 {
				return 2
			}
		}
	}
	return len(m)
}

// parseNumbers reads a column as numbers when at least 98% of its present
// values parse; the rest become missing (counted in unparsed).
func parseNumbers(vals []string, present int, delim rune) (nums []float64, unparsed int, ok bool) {
	if present == 0 {
		return nil, 0, false
	}
	nums = make([]float64, len(vals))
	bad := 0
	for k, v := range vals {
		if v == "" {
			nums[k] = math.NaN()
			continue
		}
		f, ok := ParseNumber(v, delim)
		if !ok {
			bad++
			nums[k] = math.NaN()
			if float64(bad) > 0.02*float64(present) {
				return nil, 0, false
			}
			continue
		}
		nums[k] = f
	}
	return nums, bad, true
}

// ParseNumber reads "12", "-3.5", "1e3", "1,234.5", "$1,200", "45%", and with
// a semicolon delimiter the European decimal comma "3,5".
func ParseNumber(s string, delim rune) (float64, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimLeft(s, "$€£")
	s = strings.TrimSuffix(s, "%")
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if strings.Contains(s, ",") {
		switch {
		case delim == ';' && strings.Count(s, ",") == 1 && !strings.Contains(s, "."):
			s = strings.Replace(s, ",", ".", 1)
		case thousands(s):
			s = strings.ReplaceAll(s, ",", "")
		default:
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	// Reject "Inf"-like words and hex forms ParseFloat accepts.
	if strings.ContainsAny(s, "xXpPiInN_") {
		return 0, false
	}
	return f, true
}

// thousands matches 1,234 and -12,345,678.9.
func thousands(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, _, _ := strings.Cut(s, ".")
	groups := strings.Split(intPart, ",")
	if len(groups[0]) < 1 || len(groups[0]) > 3 {
		return false
	}
	for _, g := range groups[1:] {
		if len(g) != 3 {
			return false
		}
	}
	for _, g := range groups {
		for _, c := range g {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

var dateLayouts = []string{
	"2006-01-02", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04",
	"2006/01/02", "1/2/2006", "01/02/2006", "2/1/2006", "02/01/2006", "1/2/2006 15:04", "1/2/2006 15:04:05",
	"02.01.2006", "2 Jan 2006", "Jan 2, 2006", "2006-01-02T15:04:05.000Z07:00",
}

// parseDates reads a column as dates when one layout parses at least 95% of
// its present values (and the values are not plain numbers, so a year
// column stays numeric).
func parseDates(vals []string, present int) ([]float64, bool) {
	var first string
	for _, v := range vals {
		if v != "" {
			first = v
			break
		}
	}
	if first == "" {
		return nil, false
	}
	if _, err := strconv.ParseFloat(first, 64); err == nil {
		return nil, false
	}
	for _, layout := range dateLayouts {
		if _, err := time.Parse(layout, first); err != nil {
			continue
		}
		days := make([]float64, len(vals))
		bad := 0
		for k, v := range vals {
			if v == "" {
				days[k] = math.NaN()
				continue
			}
			tm, err := time.Parse(layout, v)
			if err != nil {
				days[k] = math.NaN()
				bad++
				if float64(bad) > 0.05*float64(present) {
					break
				}
				continue
			}
			days[k] = float64(tm.Unix()) / 86400
		}
		if float64(bad) <= 0.05*float64(present) {
			return days, true
		}
	}
	return nil, false
}
