package signal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/trailspark/trailspark/engine/errs"
)

// step is one expected result of BulkReader.Next: an item, or an error
// code ("eof" for io.EOF).
type step struct {
	item string
	line int
	code string
}

// drain reads r to the end (bounded), returning every step.
func drain(t testing.TB, r *BulkReader, limit int) []step {
	t.Helper()
	var out []step
	for range limit {
		item, line, err := r.Next()
		switch {
		case err == io.EOF:
			if item != nil {
				t.Fatalf("item %q with io.EOF", item)
			}
			out = append(out, step{line: line, code: "eof"})
			// EOF is sticky.
			if _, _, err := r.Next(); err != io.EOF {
				t.Fatalf("Next after EOF: %v", err)
			}
			return out
		case err != nil:
			if item != nil {
				t.Fatalf("item %q with error %v", item, err)
			}
			var e *errs.Error
			if errors.As(err, &e) {
				out = append(out, step{line: line, code: e.Code})
			} else {
				out = append(out, step{line: line, code: "read:" + err.Error()})
			}
		default:
			out = append(out, step{item: string(item), line: line})
		}
	}
	t.Fatalf("no io.EOF after %d calls", limit)
	return nil
}

func checkSteps(t *testing.T, got, want []step) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d steps %+v\nwant %d %+v", len(got), got, len(want), want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("step %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestBulkReaderNDJSON(t *testing.T) {
	t.Parallel()
	long := `{"a":"` + strings.Repeat("x", 40) + `"}`
	tests := []struct {
		name    string
		in      string
		maxLine int
		want    []step
	}{
		{"empty", "", 0, []step{{code: "eof"}}},
		{"only space", " \n\t\r\n  ", 0, []step{{line: 2, code: "eof"}}},
		{"simple", "{\"a\":1}\n{\"b\":2}\n", 0, []step{{`{"a":1}`, 1, ""}, {`{"b":2}`, 2, ""}, {line: 2, code: "eof"}}},
		{"no final newline", "{\"a\":1}\n{\"b\":2}", 0, []step{{`{"a":1}`, 1, ""}, {`{"b":2}`, 2, ""}, {line: 2, code: "eof"}}},
		{"blank lines and CRLF", "{\"a\":1}\r\n\r\n  {\"b\":2}  \r\n   \n{\"c\":3}", 0,
			[]step{{`{"a":1}`, 1, ""}, {`{"b":2}`, 3, ""}, {`{"c":3}`, 5, ""}, {line: 5, code: "eof"}}},
		{"leading blank lines", "\n\n  \n{\"a\":1}\n", 0, []step{{`{"a":1}`, 4, ""}, {line: 4, code: "eof"}}},
		{"trailing blank lines", "{\"a\":1}\n\n\n", 0, []step{{`{"a":1}`, 1, ""}, {line: 3, code: "eof"}}},
		{"bom", "\xef\xbb\xbf{\"a\":1}\n", 0, []step{{`{"a":1}`, 1, ""}, {line: 1, code: "eof"}}},
		{"bad line in the middle", "{\"a\":1}\n{bad\n{\"c\":3}\n", 0,
			[]step{{`{"a":1}`, 1, ""}, {line: 2, code: "malformed_json"}, {`{"c":3}`, 3, ""}, {line: 3, code: "eof"}}},
		{"two values on a line", "{} {}\n{\"c\":3}", 0, []step{{line: 1, code: "malformed_json"}, {`{"c":3}`, 2, ""}, {line: 2, code: "eof"}}},
		{"bad last line", "{\"a\":1}\n{\"b\":", 0, []step{{`{"a":1}`, 1, ""}, {line: 2, code: "malformed_json"}, {line: 2, code: "eof"}}},
		{"items need not be objects", "1\n\"x\"\n[1]\n", 0, []step{{"1", 1, ""}, {`"x"`, 2, ""}, {"[1]", 3, ""}, {line: 3, code: "eof"}}},
		{"over-long line", "{\"a\":1}\n" + long + "\n{\"c\":3}\n", 20,
			[]step{{`{"a":1}`, 1, ""}, {line: 2, code: "payload_too_large"}, {`{"c":3}`, 3, ""}, {line: 3, code: "eof"}}},
		{"over-long last line", "{\"a\":1}\n" + long, 20, []step{{`{"a":1}`, 1, ""}, {line: 2, code: "payload_too_large"}, {line: 2, code: "eof"}}},
		{"line exactly the limit with CRLF", long + "\r\n" + long, len(long),
			[]step{{long, 1, ""}, {long, 2, ""}, {line: 2, code: "eof"}}},
		{"one over the limit", long + "\n", len(long) - 1, []step{{line: 1, code: "payload_too_large"}, {line: 1, code: "eof"}}},
		{"line longer than the read buffer", "{\"a\":1}\n{\"b\":\"" + strings.Repeat("y", 200<<10) + "\"}\n{\"c\":3}", 1000,
			[]step{{`{"a":1}`, 1, ""}, {line: 2, code: "payload_too_large"}, {`{"c":3}`, 3, ""}, {line: 3, code: "eof"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkSteps(t, drain(t, NewBulkReader(strings.NewReader(tt.in), tt.maxLine), 100), tt.want)
			// Same result when the input trickles in byte by byte.
			checkSteps(t, drain(t, NewBulkReader(iotest.OneByteReader(strings.NewReader(tt.in)), tt.maxLine), 100), tt.want)
		})
	}
}

func TestBulkReaderArray(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		maxLine int
		want    []step
	}{
		{"empty array", "[]", 0, []step{{code: "eof"}}},
		{"empty array spaced", "\n [ \n ] \n", 0, []step{{code: "eof"}}},
		{"elements", `[{"a":1}, {"b":{"c":[1,2,{"d":"]"}]}} ,3]`, 0,
			[]step{{`{"a":1}`, 1, ""}, {`{"b":{"c":[1,2,{"d":"]"}]}}`, 2, ""}, {"3", 3, ""}, {line: 3, code: "eof"}}},
		{"pretty printed", "[\n  {\n    \"a\": 1\n  },\n  {\"b\": 2}\n]\n", 0,
			[]step{{"{\n    \"a\": 1\n  }", 1, ""}, {`{"b": 2}`, 2, ""}, {line: 2, code: "eof"}}},
		{"bom", "\xef\xbb\xbf[1]", 0, []step{{"1", 1, ""}, {line: 1, code: "eof"}}},
		{"malformed element stops", `[{"a":1}, {bad}, {"c":3}]`, 0,
			[]step{{`{"a":1}`, 1, ""}, {line: 2, code: "malformed_json"}, {line: 2, code: "eof"}}},
		{"missing comma stops", `[1 2]`, 0, []step{{"1", 1, ""}, {line: 2, code: "malformed_json"}, {line: 2, code: "eof"}}},
		{"unterminated", `[1, 2`, 0, []step{{"1", 1, ""}, {"2", 2, ""}, {line: 2, code: "malformed_json"}, {line: 2, code: "eof"}}},
		{"unterminated element", `[1, {"a":`, 0, []step{{"1", 1, ""}, {line: 2, code: "malformed_json"}, {line: 2, code: "eof"}}},
		{"data after the array", `[1] {}`, 0, []step{{"1", 1, ""}, {line: 1, code: "malformed_json"}, {line: 1, code: "eof"}}},
		{"second array", `[1][2]`, 0, []step{{"1", 1, ""}, {line: 1, code: "malformed_json"}, {line: 1, code: "eof"}}},
		{"not closed by bracket", `[1}`, 0, []step{{"1", 1, ""}, {line: 1, code: "malformed_json"}, {line: 1, code: "eof"}}},
		{"element over the limit is skipped", `[{"a":1},{"b":"` + strings.Repeat("x", 100) + `"},{"c":3}]`, 50,
			[]step{{`{"a":1}`, 1, ""}, {line: 2, code: "payload_too_large"}, {`{"c":3}`, 3, ""}, {line: 3, code: "eof"}}},
		{"element far over the limit stops", `[{"a":1},{"b":"` + strings.Repeat("x", 300<<10) + `"},{"c":3}]`, 50,
			[]step{{`{"a":1}`, 1, ""}, {line: 2, code: "payload_too_large"}, {line: 2, code: "eof"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkSteps(t, drain(t, NewBulkReader(strings.NewReader(tt.in), tt.maxLine), 100), tt.want)
			checkSteps(t, drain(t, NewBulkReader(iotest.OneByteReader(strings.NewReader(tt.in)), tt.maxLine), 100), tt.want)
		})
	}
}

// genReader produces n NDJSON lines or array elements on demand, counting
// what has been read, so tests can see the input is streamed.
type genReader struct {
	n, next        int
	array          bool
	opened, closed bool
	buf            bytes.Buffer
	read           int
}

func (g *genReader) Read(p []byte) (int, error) {
	for g.buf.Len() < len(p) && !g.closed {
		switch {
		case g.array && !g.opened:
			g.buf.WriteString("[")
			g.opened = true
		case g.next < g.n:
			if g.array && g.next > 0 {
				g.buf.WriteString(",")
			}
			g.next++
			fmt.Fprintf(&g.buf, `{"type":"track","userId":"u%d","event":"e","properties":{"n":%d}}`, g.next, g.next)
			if !g.array {
				g.buf.WriteString("\n")
			}
		default:
			if g.array {
				g.buf.WriteString("]")
			}
			g.closed = true
		}
	}
	if g.buf.Len() == 0 {
		return 0, io.EOF
	}
	n, _ := g.buf.Read(p)
	g.read += n
	return n, nil
}

func TestBulkReaderStreams(t *testing.T) {
	t.Parallel()
	for _, array := range []bool{false, true} {
		t.Run(fmt.Sprint("array=", array), func(t *testing.T) {
			t.Parallel()
			const n = 20000 // about 1.4 MB
			g := &genReader{n: n, array: array}
			r := NewBulkReader(g, 0)
			count := 0
			for {
				item, _, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				count++
				if count == 1 && g.read > 200<<10 {
					t.Fatalf("read %d bytes before the first item", g.read)
				}
				s, err := Normalize(item, opts())
				if err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprint("u", count); s.UserID != want {
					t.Fatalf("item %d: userId %q", count, s.UserID)
				}
			}
			if count != n {
				t.Fatalf("%d items, want %d", count, n)
			}
		})
	}
}

type failingReader struct {
	data string
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestBulkReaderReadError(t *testing.T) {
	t.Parallel()
	for _, boom := range []error{errors.New("connection reset"), io.ErrUnexpectedEOF} {
		for _, in := range []string{"{\"a\":1}\n{\"b\"", `[{"a":1},{"b"`, `[{"a":1}`, "", "  "} {
			checkReadError(t, in, boom)
		}
	}
}

func checkReadError(t *testing.T, in string, boom error) {
	t.Helper()
	r := NewBulkReader(&failingReader{data: in, err: boom}, 0)
	var got error
	for range 10 {
		_, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil && got == nil {
			got = err
		}
	}
	if !errors.Is(got, boom) {
		t.Errorf("%q, %v: error %v does not wrap the read error", in, boom, got)
	}
	if e := (*errs.Error)(nil); errors.As(got, &e) {
		t.Errorf("%q, %v: read error reported as *errs.Error %v", in, boom, e)
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Errorf("%q, %v: Next after a read error = %v", in, boom, err)
	}
}

func TestBulkReaderErrorMessagesNameTheLine(t *testing.T) {
	t.Parallel()
	r := NewBulkReader(strings.NewReader("{}\n\n{oops}\n"), 0)
	r.Next()
	_, line, err := r.Next()
	if line != 3 || err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("line %d err %v", line, err)
	}
	r = NewBulkReader(strings.NewReader("[{}, {oops}]"), 0)
	r.Next()
	_, line, err = r.Next()
	if line != 2 || err == nil || !strings.Contains(err.Error(), "element 2") {
		t.Fatalf("line %d err %v", line, err)
	}
}
