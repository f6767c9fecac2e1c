package icp

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/errs"
)

// Column roles (SPEC §3.1, "Upload & analyze"). Overrides and the detected
// mapping are keyed by these names.
const (
	RoleName      = "name"
	RoleID        = "id"
	RoleURL       = "url"
	RoleIndustry  = "industry"
	RoleEmployees = "employees"
	RoleRegion    = "region"

	RoleAmount    = "amount"
	RoleStage     = "stage"
	RoleCreated   = "created"
	RoleClosed    = "closed"
	RoleAccount   = "account"    // the opportunity's account name
	RoleAccountID = "account_id" // the opportunity's account id
)

// Candidate header names per role, most specific first. Matching ignores
// case, spaces, underscores, hyphens and dots. When no header matches
// exactly, a header whose last word is a one-word candidate matches
// ("office_location" → region), so common CRM export names work without an
// override.
var (
	accountRoles = []roleSpec{
		{RoleID, []string{"account_id", "external_id", "id", "crm_id", "company_id"}},
		{RoleName, []string{"account_name", "company_name", "name", "account", "company", "organization", "organisation"}},
		{RoleURL, []string{"url", "website", "domain", "web_site", "company_domain"}},
		{RoleIndustry, []string{"industry", "sector", "vertical"}},
		{RoleEmployees, []string{"employees", "employee_count", "number_of_employees", "num_employees", "company_size", "headcount", "size"}},
		{RoleRegion, []string{"region", "country", "location", "geo", "office_location", "billing_country"}},
	}
	opportunityRoles = []roleSpec{
		{RoleID, []string{"opportunity_id", "deal_id", "crm_id", "external_id", "id"}},
		{RoleAccountID, []string{"account_id", "company_id", "external_account_id"}},
		{RoleAccount, []string{"account_name", "company_name", "account", "company", "organization"}},
		{RoleName, []string{"opportunity_name", "deal_name", "name", "opportunity", "deal", "title"}},
		{RoleAmount, []string{"amount", "close_value", "deal_value", "value", "deal_amount", "revenue", "arr"}},
		{RoleStage, []string{"stage", "deal_stage", "stage_name", "dealstage", "status", "outcome"}},
		{RoleCreated, []string{"created", "created_date", "create_date", "created_at", "createdate", "engage_date", "open_date"}},
		{RoleClosed, []string{"close_date", "closed_date", "closedate", "closed", "closed_at", "close"}},
	}
)

type roleSpec struct {
	role  string
	names []string
}

// Default stage names (compared case-, space- and underscore-insensitively);
// every other non-empty stage is open.
var (
	DefaultWonStages  = []string{"won", "closed won", "closedwon", "win"}
	DefaultLostStages = []string{"lost", "closed lost", "closedlost", "loss", "closed lost no decision"}
)

// Outcome of an opportunity.
type Outcome string

const (
	OutcomeUnknown Outcome = "" // classify from Stage
	OutcomeWon     Outcome = "won"
	OutcomeLost    Outcome = "lost"
	OutcomeOpen    Outcome = "open"
)

// AccountRecord is one account, from a CSV row or a CRM connector.
type AccountRecord struct {
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	URL       string `json:"url,omitempty"`
	Industry  string `json:"industry,omitempty"`
	Employees *int   `json:"employees,omitempty"`
	Region    string `json:"region,omitempty"`
	Line      int    `json:"line,omitempty"` // CSV line (0 when not from a file)
}

// OpportunityRecord is one opportunity (deal). Outcome, when set, wins
// over Stage (connectors that know IsWon/IsClosed set it).
type OpportunityRecord struct {
	ID          string  `json:"id,omitempty"`
	Name        string  `json:"name,omitempty"`
	AccountID   string  `json:"account_id,omitempty"`
	AccountName string  `json:"account_name,omitempty"`
	Amount      float64 `json:"amount,omitempty"`
	Stage       string  `json:"stage,omitempty"`
	Outcome     Outcome `json:"outcome,omitempty"`
	Created     string  `json:"created,omitempty"`
	Closed      string  `json:"closed,omitempty"`
	Line        int     `json:"line,omitempty"`
}

// ImportOptions configures CSV reading.
type ImportOptions struct {
	// AccountOverrides and OpportunityOverrides map a role (RoleName …) to
	// a header; an empty header means "do not use any column for this
	// role". They win over auto-detection.
	AccountOverrides     map[string]string
	OpportunityOverrides map[string]string
	// WonStages and LostStages replace the defaults when non-empty.
	WonStages  []string
	LostStages []string
	// SampleRows is how many first rows Preview returns (0: 5).
	SampleRows int
	// MaxRows bounds each file's data rows (0: 1,000,000).
	MaxRows int
}

const (
	defaultSampleRows = 5
	defaultMaxRows    = 1_000_000
	maxWarningsListed = 5
)

// table is a parsed CSV: header, rows and each row's line number.
type table struct {
	file   string // "accounts" or "opportunities", for errors
	header []string
	rows   [][]string
	lines  []int
	delim  rune
}

// readTable parses one CSV: strips a UTF-8 BOM, detects the delimiter
// among comma, semicolon and tab from the header line, and rejects invalid
// UTF-8, rows whose field count differs from the header's, and files with
// no header. Errors are *errs.Error (KindInvalid, Field = file) naming the
// line and column.
func readTable(file string, r io.Reader, maxRows int) (*table, error) {
	if r == nil {
		return nil, errs.Invalid(file, "empty_file", "the %s file is empty", file)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, errs.Invalid(file, "unreadable", "the %s file could not be read: %v", file, err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if strings.TrimSpace(string(data)) == "" {
		return nil, errs.Invalid(file, "empty_file", "the %s file is empty: it needs a header line and at least one row", file)
	}
	if bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")) {
		return nil, errs.Invalid(file, "bad_encoding", "%s file, line 1, column 1: the file is UTF-16; save it as UTF-8 CSV", file)
	}
	t := &table{file: file, delim: detectDelimiter(data)}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = t.delim
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	first := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, errs.Invalid(file, "bad_csv", "%s file, line %d, column %d: %v", file, pe.Line, pe.Column, pe.Err)
			}
			return nil, errs.Invalid(file, "bad_csv", "%s file: %v", file, err)
		}
		line, _ := cr.FieldPos(0)
		for i, f := range rec {
			if !utf8.ValidString(f) {
				off := firstInvalid(f)
				name := ""
				if !first && i < len(t.header) {
					name = fmt.Sprintf(" (%q)", t.header[i])
				}
				return nil, errs.Invalid(file, "bad_encoding", "%s file, line %d, column %d%s: invalid UTF-8 byte 0x%02x; save the file as UTF-8",
					file, lineOf(cr, i, f, off), i+1, name, f[off])
			}
		}
		if first {
			first = false
			t.header = make([]string, len(rec))
			for i, h := range rec {
				t.header[i] = strings.TrimSpace(h)
			}
			seen := map[string]int{}
			for i, h := range t.header {
				k := normHeader(h)
				if k == "" {
					continue
				}
				if j, dup := seen[k]; dup {
					return nil, errs.Invalid(file, "duplicate_column", "%s file, line %d: columns %d and %d are both named %q", file, line, j+1, i+1, h)
				}
				seen[k] = i
			}
			continue
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		if len(rec) != len(t.header) {
			return nil, errs.Invalid(file, "ragged_row", "%s file, line %d: the row has %d fields but the header has %d (delimiter %s)",
				file, line, len(rec), len(t.header), delimName(t.delim))
		}
		if len(t.rows) >= maxRows {
			return nil, errs.Invalid(file, "too_many_rows", "%s file: more than %d rows", file, maxRows)
		}
		t.rows = append(t.rows, rec)
		t.lines = append(t.lines, line)
	}
	if t.header == nil {
		return nil, errs.Invalid(file, "empty_file", "the %s file is empty: it needs a header line", file)
	}
	return t, nil
}

// lineOf returns the line of byte off within field i of the record just
// read (fields may span lines inside quotes).
func lineOf(cr *csv.Reader, i int, f string, off int) int {
	l, _ := cr.FieldPos(i)
	return l + strings.Count(f[:off], "\n")
}

func firstInvalid(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return 0
}

// detectDelimiter counts comma, semicolon and tab outside quotes on the
// first line and picks the most frequent (comma on a tie or when none).
func detectDelimiter(data []byte) rune {
	counts := map[rune]int{}
	inQ := false
	for _, b := range data {
		if b == '"' {
			inQ = !inQ
			continue
		}
		if inQ {
			continue
		}
		if b == '\n' {
			break
		}
		switch b {
		case ',', ';', '\t':
			counts[rune(b)]++
		}
	}
	best := ','
	for _, d := range []rune{';', '\t'} {
		if counts[d] > counts[best] {
			best = d
		}
	}
	return best
}

func delimName(d rune) string {
	switch d {
	case ';':
		return "semicolon"
	case '\t':
		return "tab"
	}
	return "comma"
}

// normHeader folds case and drops spaces, underscores, hyphens and dots.
func normHeader(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if r == ' ' || r == '_' || r == '-' || r == '.' || r == '\t' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// lastWord is the header's last word (split on case changes and
// separators), lowercased.
func lastWord(s string) string {
	words := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '_' || r == '-' || r == '.' })
	if len(words) == 0 {
		return ""
	}
	w := words[len(words)-1]
	// camelCase: take the trailing capitalised word
	for i := len(w) - 1; i > 0; i-- {
		if unicode.IsUpper(rune(w[i])) && unicode.IsLower(rune(w[i-1])) {
			w = w[i:]
			break
		}
	}
	return strings.ToLower(w)
}

// detectColumns maps roles to column indexes: overrides first, then exact
// (normalised) names in role order, then last-word matches. A column is
// used for at most one role.
func detectColumns(file string, header []string, specs []roleSpec, overrides map[string]string) (map[string]int, error) {
	idx := map[string]int{}
	used := map[int]bool{}
	byNorm := map[string]int{}
	for i, h := range header {
		if _, ok := byNorm[normHeader(h)]; !ok {
			byNorm[normHeader(h)] = i
		}
	}
	known := map[string]bool{}
	for _, s := range specs {
		known[s.role] = true
	}
	roles := make([]string, 0, len(overrides))
	for r := range overrides {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	skip := map[string]bool{}
	for _, role := range roles {
		col := overrides[role]
		if !known[role] {
			names := make([]string, 0, len(specs))
			for _, s := range specs {
				names = append(names, s.role)
			}
			return nil, errs.Invalid(file+".overrides."+role, "unknown_role", "unknown %s column role %q; one of %v", file, role, names)
		}
		if strings.TrimSpace(col) == "" {
			skip[role] = true
			continue
		}
		i, ok := byNorm[normHeader(col)]
		if !ok {
			return nil, errs.Invalid(file+".overrides."+role, "unknown_column", "%s file has no column %q; found columns: %s", file, col, quoteList(header))
		}
		idx[role] = i
		used[i] = true
	}
	for pass := 0; pass < 2; pass++ {
		for _, s := range specs {
			if _, ok := idx[s.role]; ok || skip[s.role] {
				continue
			}
			for _, name := range s.names {
				n := normHeader(name)
				found := -1
				if pass == 0 {
					if i, ok := byNorm[n]; ok && !used[i] {
						found = i
					}
				} else if !strings.Contains(name, "_") {
					for i, h := range header {
						if !used[i] && lastWord(h) == n {
							found = i
							break
						}
					}
				}
				if found >= 0 {
					idx[s.role] = found
					used[found] = true
					break
				}
			}
		}
	}
	return idx, nil
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

func missingColumn(t *table, what string, names ...string) error {
	hint := ""
	if len(t.header) == 1 {
		hint = "; the header has a single column — is the file delimited by something other than comma, semicolon or tab?"
	}
	return errs.Invalid(t.file, "missing_column", "%s file, line 1: no %s column (looked for %s); found columns: %s%s",
		t.file, what, strings.Join(names, ", "), quoteList(t.header), hint)
}

func get(row []string, idx map[string]int, role string) string {
	if i, ok := idx[role]; ok && i < len(row) {
		return strings.TrimSpace(row[i])
	}
	return ""
}

// parseEmployees reads "2822", "2,822", "1.5k", "51-200" (midpoint),
// "10000+" or "10,001+"; ok is false for anything else (e.g. "Enterprise").
func parseEmployees(s string) (int, bool) {
	s = strings.TrimSpace(strings.ToLower(s))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "employees"), "staff")
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if strings.HasSuffix(s, "+") {
		return parseCount(strings.TrimSuffix(s, "+"))
	}
	for _, sep := range []string{"–", "-", " to "} {
		if a, b, ok := strings.Cut(s, sep); ok {
			lo, ok1 := parseCount(a)
			hi, ok2 := parseCount(b)
			if !ok1 || !ok2 || hi < lo {
				return 0, false
			}
			return lo + (hi-lo)/2, true
		}
	}
	return parseCount(s)
}

// parseCount reads a non-negative count with optional thousands
// separators and a k/m suffix.
func parseCount(s string) (int, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	s = strings.ReplaceAll(s, "_", "")
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "m"):
		mult, s = 1e6, strings.TrimSuffix(s, "m")
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f*mult > 1e9 {
		return 0, false
	}
	return int(math.Round(f * mult)), true
}

// parseAmount reads "1054", "$1,054.50", "1 054" (0, false otherwise).
func parseAmount(s string) (float64, bool) {
	s = strings.Map(func(r rune) rune {
		if r == ',' || r == ' ' || r == '$' || r == '€' || r == '£' || r == '\u00a0' {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func stageKey(s string) string { return normHeader(s) }

// stageClassifier classifies stage names into outcomes.
type stageClassifier struct{ won, lost map[string]bool }

func newStageClassifier(won, lost []string) stageClassifier {
	if len(won) == 0 {
		won = DefaultWonStages
	}
	if len(lost) == 0 {
		lost = DefaultLostStages
	}
	c := stageClassifier{won: map[string]bool{}, lost: map[string]bool{}}
	for _, s := range won {
		c.won[stageKey(s)] = true
	}
	for _, s := range lost {
		c.lost[stageKey(s)] = true
	}
	return c
}

func (c stageClassifier) outcome(o *OpportunityRecord) Outcome {
	if o.Outcome != OutcomeUnknown {
		return o.Outcome
	}
	k := stageKey(o.Stage)
	switch {
	case c.won[k]:
		return OutcomeWon
	case c.lost[k]:
		return OutcomeLost
	}
	return OutcomeOpen
}

// ColumnMapping is the role → header mapping used for one file.
type ColumnMapping map[string]string

// Preview is what the upload screen shows before analysis.
type Preview struct {
	AccountColumns         []string      `json:"account_columns"`
	OpportunityColumns     []string      `json:"opportunity_columns"`
	AccountMapping         ColumnMapping `json:"account_mapping"`
	OpportunityMapping     ColumnMapping `json:"opportunity_mapping"`
	AccountDelimiter       string        `json:"account_delimiter"`
	OpportunityDelimiter   string        `json:"opportunity_delimiter"`
	AccountRows            int           `json:"account_rows"`
	OpportunityRows        int           `json:"opportunity_rows"`
	AccountSample          [][]string    `json:"account_sample"`
	OpportunitySample      [][]string    `json:"opportunity_sample"`
	Won                    int           `json:"won"`
	Lost                   int           `json:"lost"`
	Open                   int           `json:"open"`
	MatchedOpportunities   int           `json:"matched_opportunities"`
	UnmatchedOpportunities int           `json:"unmatched_opportunities"`
	AccountsWithOutcomes   int           `json:"accounts_with_outcomes"`
	Warnings               []string      `json:"warnings,omitempty"`
}

// Import is the result of reading both files.
type Import struct {
	Accounts      []AccountRecord
	Opportunities []OpportunityRecord
	Preview       Preview
}

// ReadCSVs reads and maps an accounts CSV and an opportunities CSV.
// Required: accounts need a name or id column; opportunities need a stage
// column and an account (name or id) column. Errors are *errs.Error
// (KindInvalid) naming the file, line and column.
func ReadCSVs(accounts, opps io.Reader, opts ImportOptions) (*Import, error) {
	maxRows := opts.MaxRows
	if maxRows <= 0 {
		maxRows = defaultMaxRows
	}
	at, err := readTable("accounts", accounts, maxRows)
	if err != nil {
		return nil, err
	}
	ot, err := readTable("opportunities", opps, maxRows)
	if err != nil {
		return nil, err
	}
	aidx, err := detectColumns("accounts", at.header, accountRoles, opts.AccountOverrides)
	if err != nil {
		return nil, err
	}
	oidx, err := detectColumns("opportunities", ot.header, opportunityRoles, opts.OpportunityOverrides)
	if err != nil {
		return nil, err
	}
	_, hasName := aidx[RoleName]
	_, hasID := aidx[RoleID]
	if !hasName && !hasID {
		return nil, missingColumn(at, "account name or id", "name, account_name, account, company, id, external_id, account_id")
	}
	if _, ok := oidx[RoleStage]; !ok {
		return nil, missingColumn(ot, "stage", "stage, deal_stage, status")
	}
	_, hasAcc := oidx[RoleAccount]
	_, hasAccID := oidx[RoleAccountID]
	if !hasAcc && !hasAccID {
		return nil, missingColumn(ot, "account", "account, account_name, company, account_id")
	}
	imp := &Import{}
	var warnings []string
	var badEmp []int
	for i, row := range at.rows {
		a := AccountRecord{ID: get(row, aidx, RoleID), Name: get(row, aidx, RoleName), URL: get(row, aidx, RoleURL),
			Industry: get(row, aidx, RoleIndustry), Region: get(row, aidx, RoleRegion), Line: at.lines[i]}
		if e := get(row, aidx, RoleEmployees); e != "" {
			if n, ok := parseEmployees(e); ok {
				a.Employees = &n
			} else {
				badEmp = append(badEmp, at.lines[i])
			}
		}
		imp.Accounts = append(imp.Accounts, a)
	}
	if len(badEmp) > 0 {
		warnings = append(warnings, fmt.Sprintf("%d account rows have an employee count that is not a number (lines %s); they get no size band",
			len(badEmp), intList(badEmp)))
	}
	var badAmt []int
	for i, row := range ot.rows {
		o := OpportunityRecord{ID: get(row, oidx, RoleID), Name: get(row, oidx, RoleName), AccountID: get(row, oidx, RoleAccountID),
			AccountName: get(row, oidx, RoleAccount), Stage: get(row, oidx, RoleStage), Created: get(row, oidx, RoleCreated),
			Closed: get(row, oidx, RoleClosed), Line: ot.lines[i]}
		if s := get(row, oidx, RoleAmount); s != "" {
			if f, ok := parseAmount(s); ok {
				o.Amount = f
			} else {
				badAmt = append(badAmt, ot.lines[i])
			}
		}
		imp.Opportunities = append(imp.Opportunities, o)
	}
	if len(badAmt) > 0 {
		warnings = append(warnings, fmt.Sprintf("%d opportunity rows have an amount that is not a number (lines %s)", len(badAmt), intList(badAmt)))
	}
	sample := opts.SampleRows
	if sample <= 0 {
		sample = defaultSampleRows
	}
	p := Preview{AccountColumns: at.header, OpportunityColumns: ot.header,
		AccountMapping: mappingOf(at.header, aidx), OpportunityMapping: mappingOf(ot.header, oidx),
		AccountDelimiter: delimName(at.delim), OpportunityDelimiter: delimName(ot.delim),
		AccountRows: len(at.rows), OpportunityRows: len(ot.rows),
		AccountSample: at.rows[:min(sample, len(at.rows))], OpportunitySample: ot.rows[:min(sample, len(ot.rows))]}
	j := joinRecords(imp.Accounts, imp.Opportunities, newStageClassifier(opts.WonStages, opts.LostStages))
	p.Won, p.Lost, p.Open = j.won, j.lost, j.open
	p.MatchedOpportunities, p.UnmatchedOpportunities = j.matched, len(j.unmatched)
	p.AccountsWithOutcomes = j.accountsWithOutcomes
	p.Warnings = append(warnings, j.warnings...)
	imp.Preview = p
	return imp, nil
}

// PreviewCSVs reads both files and returns the preview only.
func PreviewCSVs(accounts, opps io.Reader, opts ImportOptions) (Preview, error) {
	imp, err := ReadCSVs(accounts, opps, opts)
	if err != nil {
		return Preview{}, err
	}
	return imp.Preview, nil
}

func mappingOf(header []string, idx map[string]int) ColumnMapping {
	m := ColumnMapping{}
	for r, i := range idx {
		m[r] = header[i]
	}
	return m
}

func intList(xs []int) string {
	var b strings.Builder
	for i, x := range xs {
		if i == maxWarningsListed {
			fmt.Fprintf(&b, ", … (%d more)", len(xs)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(x))
	}
	return b.String()
}

// joined is opportunities attached to accounts.
type joined struct {
	accountOf            []int // per opportunity: account index or -1
	outcome              []Outcome
	won, lost, open      int
	matched              int
	unmatched            []int // opportunity indexes
	accountsWithOutcomes int
	warnings             []string
}

// joinRecords attaches each opportunity to an account: by account id when
// both sides have one, else by name (case- and space-insensitive), else
// the opportunity's account text against account ids.
func joinRecords(accs []AccountRecord, opps []OpportunityRecord, sc stageClassifier) joined {
	byID := map[string]int{}
	byName := map[string]int{}
	var dupIDs, dupNames []string
	for i, a := range accs {
		if k := norm(a.ID); k != "" {
			if _, dup := byID[k]; dup {
				dupIDs = append(dupIDs, a.ID)
			} else {
				byID[k] = i
			}
		}
		if k := norm(a.Name); k != "" {
			if _, dup := byName[k]; dup {
				dupNames = append(dupNames, a.Name)
			} else {
				byName[k] = i
			}
		}
	}
	j := joined{accountOf: make([]int, len(opps)), outcome: make([]Outcome, len(opps))}
	closedPer := make([]int, len(accs))
	noAccount := 0
	for i := range opps {
		o := &opps[i]
		out := sc.outcome(o)
		j.outcome[i] = out
		switch out {
		case OutcomeWon:
			j.won++
		case OutcomeLost:
			j.lost++
		default:
			j.open++
		}
		ai := -1
		if k := norm(o.AccountID); k != "" {
			if x, ok := byID[k]; ok {
				ai = x
			}
		}
		if ai < 0 {
			if k := norm(o.AccountName); k != "" {
				if x, ok := byName[k]; ok {
					ai = x
				} else if x, ok := byID[k]; ok {
					ai = x
				}
			}
		}
		j.accountOf[i] = ai
		if ai >= 0 {
			j.matched++
			if out == OutcomeWon || out == OutcomeLost {
				closedPer[ai]++
			}
		} else if norm(o.AccountID) == "" && norm(o.AccountName) == "" {
			noAccount++
		} else {
			j.unmatched = append(j.unmatched, i)
		}
	}
	without := 0
	for i, n := range closedPer {
		if n > 0 {
			j.accountsWithOutcomes++
		} else if i < len(accs) {
			without++
		}
	}
	if len(j.unmatched) > 0 {
		names := []string{}
		seen := map[string]bool{}
		for _, i := range j.unmatched {
			n := opps[i].AccountName
			if n == "" {
				n = opps[i].AccountID
			}
			if !seen[n] && len(names) < maxWarningsListed {
				seen[n] = true
				names = append(names, strconv.Quote(n))
			}
		}
		j.warnings = append(j.warnings, fmt.Sprintf("%d opportunities name an account that is not in the accounts file (e.g. %s); they are left out of the analysis",
			len(j.unmatched), strings.Join(names, ", ")))
	}
	if noAccount > 0 {
		j.warnings = append(j.warnings, fmt.Sprintf("%d opportunities have no account; they are left out of the analysis", noAccount))
	}
	if without > 0 {
		j.warnings = append(j.warnings, fmt.Sprintf("%d accounts have no won or lost opportunity; they are left out of the analysis", without))
	}
	if len(dupIDs) > 0 {
		j.warnings = append(j.warnings, fmt.Sprintf("%d duplicate account ids (e.g. %q); the first row of each is used", len(dupIDs), dupIDs[0]))
	}
	if len(dupNames) > 0 {
		j.warnings = append(j.warnings, fmt.Sprintf("%d duplicate account names (e.g. %q); the first row of each is used when joining by name", len(dupNames), dupNames[0]))
	}
	if j.won+j.lost == 0 {
		j.warnings = append(j.warnings, "no opportunity is won or lost (check the stage names); there is nothing to learn from")
	}
	return j
}
