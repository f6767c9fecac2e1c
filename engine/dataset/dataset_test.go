package dataset

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
)

func TestReadRecordsDialects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		delim  rune
		header []string
		rows   [][]string
		lines  []int
	}{
		{"comma", "a,b\n1,2\n", ',', []string{"a", "b"}, [][]string{{"1", "2"}}, []int{2}},
		{"semicolon with decimal commas", "a;b\n1,5;2\n3,5;4\n", ';', []string{"a", "b"}, [][]string{{"1,5", "2"}, {"3,5", "4"}}, []int{2, 3}},
		{"tab", "a\tb\tc\nx\ty\tz\n", '\t', []string{"a", "b", "c"}, [][]string{{"x", "y", "z"}}, []int{2}},
		{"BOM and CRLF", "\ufeffa,b\r\n1,2\r\n", ',', []string{"a", "b"}, [][]string{{"1", "2"}}, []int{2}},
		{"quoted delimiter and newline", "a,b\n\"x, y\",\"multi\nline\"\n3,4\n", ',', []string{"a", "b"}, [][]string{{"x, y", "multi\nline"}, {"3", "4"}}, []int{2, 4}},
		{"stray quote in a field", "a,b\n5'11\" tall,2\n", ',', []string{"a", "b"}, [][]string{{"5'11\" tall", "2"}}, []int{2}},
		{"blank and duplicate header names", "a,,a\n1,2,3\n", ',', []string{"a", "column 2", "a (2)"}, [][]string{{"1", "2", "3"}}, []int{2}},
		{"UTF-16LE with BOM (Excel Unicode text)", "\xff\xfea\x00\t\x00b\x00\n\x00\xe9\x00\t\x002\x00\n\x00", '\t', []string{"a", "b"}, [][]string{{"é", "2"}}, []int{2}},
		{"semicolon file with commas in text", "name;note\nx;\"a, b, c\"\ny;d\n", ';', []string{"name", "note"}, [][]string{{"x", "a, b, c"}, {"y", "d"}}, []int{2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ReadRecords(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if r.Delimiter != tc.delim {
				t.Errorf("delimiter %q, want %q", r.Delimiter, tc.delim)
			}
			if fmt.Sprint(r.Header) != fmt.Sprint(tc.header) || fmt.Sprintf("%q", r.Rows) != fmt.Sprintf("%q", tc.rows) || fmt.Sprint(r.Lines) != fmt.Sprint(tc.lines) {
				t.Errorf("got %q %q %v, want %q %q %v", r.Header, r.Rows, r.Lines, tc.header, tc.rows, tc.lines)
			}
		})
	}
}

func TestReadRecordsErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         string
		code       string
		line, col  int
		msgContain string
	}{
		{"invalid UTF-8", "a,b\n1,2\nca\xe9,3\n", CodeEncoding, 3, 3, "invalid UTF-8"},
		{"ragged", "a,b,c\n1,2,3\n1,2\n", CodeRagged, 3, 0, "expected 3 fields (as in the header) but found 2"},
		{"single column", "a|b|c\n1|2|3\n", CodeDelimiter, 1, 1, "single column"},
		{"unterminated quote", "a,b\n1,\"2\n", CodeQuote, 2, 0, "quote"},
		{"empty", " \n\n", CodeEmpty, 0, 0, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadRecords(strings.NewReader(tc.in))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want *dataset.Error", err)
			}
			var ee *errs.Error
			if !errors.As(err, &ee) || ee.Kind != errs.KindInvalid || ee.Code != tc.code {
				t.Fatalf("got %#v, want invalid/%s", ee, tc.code)
			}
			if e.Line != tc.line || (tc.col != 0 && e.Column != tc.col) {
				t.Errorf("line %d column %d, want %d %d", e.Line, e.Column, tc.line, tc.col)
			}
			if !strings.Contains(err.Error(), tc.msgContain) {
				t.Errorf("%q lacks %q", err, tc.msgContain)
			}
			if tc.line > 0 && !strings.Contains(err.Error(), fmt.Sprintf("line %d", tc.line)) {
				t.Errorf("%q does not name line %d", err, tc.line)
			}
		})
	}
}

func TestParseLabel(t *testing.T) {
	for _, tc := range []struct {
		in    string
		v     bool
		state LabelState
	}{
		{"1", true, LabelKnown}, {"0", false, LabelKnown}, {"1.0", true, LabelKnown},
		{"Yes", true, LabelKnown}, {"NO", false, LabelKnown}, {"true", true, LabelKnown}, {"False", false, LabelKnown},
		{"Won", true, LabelKnown}, {"lost", false, LabelKnown}, {"Closed Won", true, LabelKnown}, {"closed-lost", false, LabelKnown},
		{"Converted", true, LabelKnown}, {"Not  Converted", false, LabelKnown},
		{"", false, LabelOpen}, {"N/A", false, LabelOpen}, {"Engaging", false, LabelOpen}, {"Prospecting", false, LabelOpen},
		{"maybe", false, LabelInvalid}, {"2", false, LabelInvalid}, {"0.5", false, LabelInvalid},
	} {
		v, st := ParseLabel(tc.in)
		if v != tc.v || st != tc.state {
			t.Errorf("ParseLabel(%q) = %v, %v; want %v, %v", tc.in, v, st, tc.v, tc.state)
		}
	}
}

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct {
		in    string
		delim rune
		want  float64
		ok    bool
	}{
		{"12", ',', 12, true}, {"-3.5", ',', -3.5, true}, {"1e3", ',', 1000, true},
		{"1,234.5", ',', 1234.5, true}, {"$1,200", ',', 1200, true}, {"45%", ',', 45, true},
		{"3,5", ';', 3.5, true}, {"3,5", ',', 0, false}, {"1,234,567", ';', 1234567, true},
		{"Inf", ',', 0, false}, {"0x10", ',', 0, false}, {"abc", ',', 0, false}, {"12,34,5", ',', 0, false},
	} {
		got, ok := ParseNumber(tc.in, tc.delim)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("ParseNumber(%q, %q) = %v, %v; want %v, %v", tc.in, tc.delim, got, ok, tc.want, tc.ok)
		}
	}
}

func TestIDLikeName(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   bool
	}{
		{"Prospect ID", true}, {"Lead Number", true}, {"opportunity_id", true}, {"LeadId", true}, {"UUID", true},
		{"Email", true}, {"email_address", true}, {"Phone Number", true}, {"id", true},
		{"Lead Source", false}, {"Paid", false}, {"Total Visits", false}, {"Email Opened", false}, {"Video", false},
	} {
		if got := idLikeName(tc.name) != ""; got != tc.id {
			t.Errorf("idLikeName(%q) = %v, want %v", tc.name, got, tc.id)
		}
	}
}

// build is a CSV body with a header; rows are generated by f.
func build(header string, n int, f func(i int) string) string {
	var b strings.Builder
	b.WriteString(header + "\n")
	for i := 0; i < n; i++ {
		b.WriteString(f(i) + "\n")
	}
	return b.String()
}

func TestReadTyping(t *testing.T) {
	csv := build("Lead ID,visits,source,country,signup,year,serial,const,empty,note,Converted", 300, func(i int) string {
		visits := fmt.Sprint(i % 17)
		if i%10 == 0 {
			visits = "N/A"
		}
		source := []string{"Google", "Referral", "Direct"}[i%3]
		if i == 7 {
			source = "Fax" // rare: pooled
		}
		country := []string{"India", "Select", "UK", ""}[i%4]
		date := fmt.Sprintf("2024-%02d-%02d", 1+i%12, 1+i%28)
		label := []string{"yes", "no", "Engaging"}[i%3]
		if i%3 == 2 && i%2 == 0 {
			label = "won"
		}
		return fmt.Sprintf("L%d,%s,%s,%s,%s,%d,%d,same,,free text %d,%s", i, visits, source, country, date, 1990+i%30, 5000+i, i, label)
	})
	tab, err := Read(strings.NewReader(csv), Options{Label: "converted"})
	if err != nil {
		t.Fatal(err)
	}
	open := 0
	for i := 0; i < 300; i++ {
		if i%3 == 2 && i%2 != 0 {
			open++
		}
	}
	if tab.Rows() != 300-open || tab.Unlabelled != open || tab.OpenLabels["Engaging"] != open {
		t.Errorf("rows %d unlabelled %d (%v), want %d and %d", tab.Rows(), tab.Unlabelled, tab.OpenLabels, 300-open, open)
	}
	kinds := map[string]string{}
	for _, c := range tab.Columns {
		kinds[c.Name] = c.Kind.String()
	}
	wantKinds := map[string]string{"visits": "numeric", "source": "categorical", "country": "categorical", "year": "numeric"}
	if fmt.Sprint(kinds) != fmt.Sprint(wantKinds) {
		t.Errorf("kinds %v, want %v", kinds, wantKinds)
	}
	dropped := map[string]string{}
	for _, d := range tab.Dropped {
		dropped[d.Name] = d.Reason
	}
	for name, reason := range map[string]string{
		"Lead ID": "ID-like (name)", "signup": "date (not a feature)", "serial": "ID-like (unique running number)",
		"const": "constant", "empty": "empty (every value missing)", "note": "ID-like (unique per row)",
	} {
		if dropped[name] != reason {
			t.Errorf("%s: dropped as %q, want %q", name, dropped[name], reason)
		}
	}
	if tab.Date == nil || tab.Date.Name != "signup" || tab.Date.Days[0] != 19723 { // 2024-01-01
		t.Errorf("date column %+v, want signup with 2024-01-01 = day 19723", tab.Date)
	}
	col := func(name string) Column {
		for _, c := range tab.Columns {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no column %s", name)
		return Column{}
	}
	src := col("source")
	if src.Pooled != 1 || src.Levels[len(src.Levels)-1] != OtherLevel {
		t.Errorf("source levels %v pooled %d, want the rare level in %s", src.Levels, src.Pooled, OtherLevel)
	}
	ctry := col("country")
	if len(ctry.Levels) != 2 || ctry.Missing == 0 || tab.Placeholders["Select"] == 0 {
		t.Errorf("country levels %v missing %d placeholders %v: Select and empty must be missing", ctry.Levels, ctry.Missing, tab.Placeholders)
	}
	v := col("visits")
	nan := 0
	for _, x := range v.Num {
		if math.IsNaN(x) {
			nan++
		}
	}
	if nan != v.Missing || nan == 0 {
		t.Errorf("visits: %d NaN, %d missing", nan, v.Missing)
	}
}

func TestReadErrors(t *testing.T) {
	good := "a,b,Converted\n1,x,1\n2,y,0\n"
	for _, tc := range []struct {
		name      string
		in        string
		opts      Options
		code      string
		line, col int
		contains  []string
	}{
		{"missing label", good, Options{Label: "Won"}, CodeNoLabel, 0, 0, []string{`"Won" not found`, `"a", "b", "Converted"`}},
		{"bad label value", "a,Converted\n1,1\n2,perhaps\n", Options{Label: "Converted"}, CodeBadLabel, 3, 2, []string{"line 3, column 2", `"perhaps"`}},
		{"one class", "a,Converted\n1,1\n2,yes\n", Options{Label: "Converted"}, CodeOneClass, 0, 0, []string{"both outcomes"}},
		{"unknown exclude", good, Options{Label: "Converted", Exclude: []string{"c"}}, CodeUnknownExcl, 0, 0, []string{`"c" not found`}},
		{"no features", "Prospect ID,Converted\nx,1\ny,0\n", Options{Label: "Converted"}, CodeNoFeatures, 0, 0, []string{"no usable feature"}},
		{"label required", good, Options{}, "required", 0, 0, []string{"label column"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), tc.opts)
			var e *Error
			var ee *errs.Error
			if !errors.As(err, &e) || !errors.As(err, &ee) || ee.Code != tc.code {
				t.Fatalf("got %v, want code %s", err, tc.code)
			}
			if e.Line != tc.line || e.Column != tc.col {
				t.Errorf("line %d column %d, want %d %d", e.Line, e.Column, tc.line, tc.col)
			}
			for _, c := range tc.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("%q lacks %q", err, c)
				}
			}
		})
	}
}

// FuzzReadRecords: any bytes either parse into rectangular records with
// increasing line numbers or fail with a *Error — never a panic.
func FuzzReadRecords(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "\ufeffa;b\r\n1;2\r\n", "a\tb\n\"x\ty\"\tz\n", "a,b\n1\n", "a,\"b\n", "\xff\xfe", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ReadRecords(strings.NewReader(string(data)))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not a *dataset.Error", err)
			}
			return
		}
		prev := 0
		for i, row := range r.Rows {
			if len(row) != len(r.Header) {
				t.Fatalf("row %d has %d fields, header %d", i, len(row), len(r.Header))
			}
			if r.Lines[i] <= prev {
				t.Fatalf("line numbers not increasing: %v", r.Lines)
			}
			prev = r.Lines[i]
		}
	})
}

// FuzzRead: typing any parseable CSV must not panic, and kept columns must
// have one value per kept row.
func FuzzRead(f *testing.F) {
	for _, s := range []string{"x,y\n1,1\n2,0\n", "x;y\nSelect;yes\n3,5;no\n", "id,x,y\n1,a,won\n2,b,lost\n3,,open\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := Read(strings.NewReader(string(data)), Options{Label: "y"})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not a *dataset.Error", err)
			}
			return
		}
		for _, c := range tab.Columns {
			n := len(c.Num) + len(c.Cat)
			if n != tab.Rows() {
				t.Fatalf("column %s has %d values for %d rows", c.Name, n, tab.Rows())
			}
			for _, k := range c.Cat {
				if k < -1 || k >= len(c.Levels) {
					t.Fatalf("column %s level index %d of %d", c.Name, k, len(c.Levels))
				}
			}
		}
	})
}
