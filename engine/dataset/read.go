// Package dataset reads a labelled CSV a user is likely to have exported
// from a CRM or a spreadsheet and turns it into typed feature columns for
// engine/learn: the delimiter is detected, a UTF-8 BOM is stripped,
// placeholders such as "Select" or "N/A" become missing values, rare
// categorical levels are pooled, ID-like columns are dropped and reported.
//
// Pure: no goroutines, no clock reads; the only input is an io.Reader.
// Every error a user can cause is an *Error naming the line and column.
package dataset

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/errs"
)

// MaxBytes bounds how much of a CSV Read accepts (the file is held in memory).
const MaxBytes = 1 << 30

// Error is a problem with the CSV itself. Line and Column are 1-based
// (Column counts fields — except for encoding and quoting errors, where it
// counts characters, because there is no reliable field yet); 0 means "not
// about one line/column". It unwraps to an *errs.Error of KindInvalid so the
// API can map it like any other bad request.
type Error struct {
	Line   int
	Column int
	// Name is the column's header name when known.
	Name string
	Err  *errs.Error
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Line > 0 && e.Column > 0 && e.Name != "":
		fmt.Fprintf(&b, "line %d, column %d (%q): ", e.Line, e.Column, e.Name)
	case e.Line > 0 && e.Column > 0:
		fmt.Fprintf(&b, "line %d, column %d: ", e.Line, e.Column)
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	b.WriteString(e.Err.Message)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Error codes (errs.Error.Code) so callers and tests need no string matching.
const (
	CodeEmpty       = "csv_empty"
	CodeTooLarge    = "csv_too_large"
	CodeEncoding    = "csv_encoding"
	CodeDelimiter   = "csv_delimiter"
	CodeRagged      = "csv_ragged_row"
	CodeQuote       = "csv_quote"
	CodeNoLabel     = "csv_label_missing"
	CodeBadLabel    = "csv_label_value"
	CodeOneClass    = "csv_one_class"
	CodeNoFeatures  = "csv_no_features"
	CodeUnknownExcl = "csv_exclude_unknown"
	CodeBadDate     = "csv_date_column"
	fieldCSV        = "csv"
)

func newErr(line, col int, name, code, format string, args ...any) *Error {
	field := fieldCSV
	if line > 0 {
		field = fmt.Sprintf("csv:%d:%d", line, col)
	}
	return &Error{Line: line, Column: col, Name: name, Err: errs.Invalid(field, code, format, args...)}
}

// Delimiters are the field separators Read recognises, in preference order
// for ties.
var Delimiters = []rune{',', ';', '\t'}

// Records is a CSV parsed into strings: the header, the data rows (every row
// has len(Header) fields), and for each row the 1-based line it starts on.
type Records struct {
	Delimiter rune
	Header    []string
	Rows      [][]string
	Lines     []int
}

// ReadRecords reads a whole CSV: it decodes UTF-16 files that start with a
// byte-order mark, strips a UTF-8 BOM, rejects invalid
// UTF-8 (naming line and character column), detects the delimiter among
// Delimiters, honours quoted fields, and rejects ragged rows (naming the line
// and the expected vs found field count). Header names are trimmed; blank
// ones become "column N" and duplicates get a " (2)" suffix so every column
// can be named in messages.
func ReadRecords(r io.Reader) (*Records, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, &Error{Err: errs.Invalid(fieldCSV, "csv_read", "cannot read the CSV: %v", err)}
	}
	if len(data) > MaxBytes {
		return nil, &Error{Err: &errs.Error{Kind: errs.KindTooLarge, Code: CodeTooLarge, Field: fieldCSV, Message: fmt.Sprintf("the CSV is larger than %d bytes", MaxBytes)}}
	}
	data = decodeUTF16(data)
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if line, col, ok := firstInvalidUTF8(data); !ok {
		return nil, newErr(line, col, "", CodeEncoding, "invalid UTF-8 at character %d; save the file as UTF-8 (many spreadsheets offer \"CSV UTF-8\")", col)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, newErr(0, 0, "", CodeEmpty, "the CSV is empty")
	}
	delim := detectDelimiter(data)
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = delim
	cr.FieldsPerRecord = -1 // we check ourselves to give a better message
	recs, lines, err := readAll(cr)
	if err != nil && errors.Is(err, csv.ErrBareQuote) {
		// Spreadsheet exports often contain a stray quote inside an
		// unquoted field (5'11" tall); accept it literally rather than fail.
		cr = csv.NewReader(bytes.NewReader(data))
		cr.Comma = delim
		cr.FieldsPerRecord = -1
		cr.LazyQuotes = true
		recs, lines, err = readAll(cr)
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, newErr(pe.Line, pe.Column, "", CodeQuote, "%v at character %d; a quoted field must end with a quote (double a quote inside it)", pe.Err, pe.Column)
		}
		return nil, &Error{Err: errs.Invalid(fieldCSV, "csv_read", "cannot read the CSV: %v", err)}
	}
	if len(recs) == 0 {
		return nil, newErr(0, 0, "", CodeEmpty, "the CSV is empty")
	}
	header := recs[0]
	if len(header) < 2 {
		return nil, newErr(lines[0], 1, "", CodeDelimiter,
			"the header has a single column %q: no field separator found among comma, semicolon and tab", truncate(header[0], 80))
	}
	seen := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == "" {
			h = fmt.Sprintf("column %d", i+1)
		}
		if n := seen[h]; n > 0 {
			seen[h] = n + 1
			h = fmt.Sprintf("%s (%d)", h, n+1)
		} else {
			seen[h] = 1
		}
		header[i] = h
	}
	out := &Records{Delimiter: delim, Header: header, Rows: recs[1:], Lines: lines[1:]}
	for i, row := range out.Rows {
		if len(row) != len(header) {
			return nil, newErr(out.Lines[i], 0, "", CodeRagged,
				"expected %d fields (as in the header) but found %d; check the delimiter (%s) and quoting",
				len(header), len(row), DelimiterName(delim))
		}
	}
	return out, nil
}

// DelimiterName is a human name for a delimiter.
func DelimiterName(d rune) string {
	switch d {
	case ',':
		return "comma"
	case ';':
		return "semicolon"
	case '\t':
		return "tab"
	}
	return fmt.Sprintf("%q", d)
}

func readAll(cr *csv.Reader) ([][]string, []int, error) {
	var recs [][]string
	var lines []int
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return recs, lines, nil
		}
		if err != nil {
			return nil, nil, err
		}
		line, _ := cr.FieldPos(0)
		recs = append(recs, rec)
		lines = append(lines, line)
	}
}

// decodeUTF16 converts a file that starts with a UTF-16 byte-order mark
// (Excel's "Unicode Text" export) to UTF-8; anything else is returned as is.
func decodeUTF16(b []byte) []byte {
	var order binary.ByteOrder
	switch {
	case len(b) >= 2 && b[0] == 0xFF && b[1] == 0xFE:
		order = binary.LittleEndian
	case len(b) >= 2 && b[0] == 0xFE && b[1] == 0xFF:
		order = binary.BigEndian
	default:
		return b
	}
	b = b[2:]
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = order.Uint16(b[2*i:])
	}
	out := make([]byte, 0, len(b))
	for _, r := range utf16.Decode(u) {
		out = utf8.AppendRune(out, r)
	}
	return out
}

// firstInvalidUTF8 returns the 1-based line and character column of the
// first invalid UTF-8 sequence, ok=false if there is one.
func firstInvalidUTF8(b []byte) (line, col int, ok bool) {
	if utf8.Valid(b) {
		return 0, 0, true
	}
	line, col = 1, 1
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			return line, col, false
		}
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
		b = b[size:]
	}
	return line, col, true
}

// detectDelimiter parses the first lines with each candidate and keeps the
// one that splits the header into the most fields while keeping the
// following rows at the same width. A file where no candidate splits the
// header yields ',' and the caller reports a single-column header.
func detectDelimiter(data []byte) rune {
	sample := data
	// about 64 KiB or 50 lines, cut at a line end
	if len(sample) > 64<<10 {
		sample = sample[:64<<10]
	}
	nl := 0
	for i, c := range sample {
		if c == '\n' {
			nl++
			if nl == 50 {
				sample = sample[:i+1]
				break
			}
		}
	}
	best, bestScore := ',', -1.0
	for _, d := range Delimiters {
		cr := csv.NewReader(bytes.NewReader(sample))
		cr.Comma = d
		cr.FieldsPerRecord = -1
		cr.LazyQuotes = true
		var widths []int
		for {
			rec, err := cr.Read()
			if err != nil {
				break // EOF, or the sample cut a quoted field: use what we have
			}
			widths = append(widths, len(rec))
		}
		if len(widths) == 0 || widths[0] < 2 {
			continue
		}
		same := 1
		for _, w := range widths[1:] {
			if w == widths[0] {
				same++
			}
		}
		// consistency first, then width
		score := float64(same)/float64(len(widths))*1000 + float64(widths[0])
		if score > bestScore {
			best, bestScore = d, score
		}
	}
	return best
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
