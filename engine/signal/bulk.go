package signal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/trailspark/trailspark/engine/errs"
)

// BulkReader reads a bulk import one item at a time without loading the
// whole input. It detects the format from the first non-space byte (a
// leading UTF-8 byte order mark is skipped): '[' → one JSON array, streamed
// element by element with json.Decoder; anything else → NDJSON, one JSON
// value per line, blank lines skipped, "\n" or "\r\n" line ends.
//
// Typical use:
//
//	r := signal.NewBulkReader(body, signal.MaxSignalBytes)
//	for {
//		item, line, err := r.Next()
//		if err == io.EOF {
//			break
//		}
//		if err != nil {
//			report(line, err) // then go on: the reader knows whether it can
//			continue
//		}
//		sig, err := signal.Normalize(item, opts)
//		...
//	}
//
// A BulkReader is not safe for concurrent use.
type BulkReader struct {
	br      *bufio.Reader
	maxLine int
	state   int
	line    int    // NDJSON: lines consumed; array: elements returned
	buf     []byte // NDJSON line buffer, reused
	dec     *json.Decoder
	lim     *boundedReader
}

const (
	bulkStart = iota
	bulkNDJSON
	bulkArray
	bulkDone
)

// NewBulkReader returns a reader over r. maxLine bounds one item (an NDJSON
// line without its line end, or an array element) in bytes; <= 0 means
// MaxSignalBytes. NewBulkReader does not read from r.
func NewBulkReader(r io.Reader, maxLine int) *BulkReader {
	if maxLine <= 0 {
		maxLine = MaxSignalBytes
	}
	return &BulkReader{br: bufio.NewReaderSize(r, 64<<10), maxLine: maxLine}
}

// Next returns the next item and its line: in NDJSON mode the 1-based line
// number in the input, in array mode the 1-based position of the element
// (the first element is 1). At the end it returns io.EOF.
//
// In NDJSON mode the item is only valid until the next call (the buffer is
// reused; Normalize copies what it keeps); it is one syntactically valid
// JSON value with surrounding whitespace removed. In array mode each item is
// a fresh slice.
//
// Errors come in two sorts, and a caller handles both the same way — record
// it and call Next again:
//   - about one item: a malformed line (Code "malformed_json"), a line or
//     element over maxLine (Kind too_large, Code "payload_too_large"). The
//     reader goes on with the next item, so one bad line does not sink an
//     import.
//   - about the stream: the input cannot be read (the reader's error,
//     wrapped), or a JSON array is broken (malformed, truncated, data after
//     the closing ']', or an element so long it would have to be buffered
//     whole — more than maxLine + 64 KiB), after which items cannot be told
//     apart. The error is returned once; every later call returns io.EOF.
//
// Every error but a read error is an *errs.Error whose message names the
// line.
func (b *BulkReader) Next() (item []byte, line int, err error) {
	switch b.state {
	case bulkStart:
		if err := b.detect(); err != nil {
			b.state = bulkDone
			return nil, b.line, err
		}
		return b.Next()
	case bulkNDJSON:
		return b.nextLine()
	case bulkArray:
		return b.nextElement()
	}
	return nil, b.line, io.EOF
}

// detect skips leading whitespace (counting lines) and a byte order mark,
// then picks the mode.
func (b *BulkReader) detect() error {
	if p, err := b.br.Peek(3); err == nil && bytes.Equal(p, []byte("\xef\xbb\xbf")) {
		_, _ = b.br.Discard(3)
	}
	for {
		c, err := b.br.ReadByte()
		if err == io.EOF {
			b.state = bulkDone
			return nil
		}
		if err != nil {
			return readError(err)
		}
		if isSpace(c) {
			if c == '\n' {
				b.line++
			}
			continue
		}
		_ = b.br.UnreadByte()
		if c == '[' {
			b.state = bulkArray
			b.lim = &boundedReader{r: b.br, limit: int64(b.maxLine) + 2*boundedChunk}
			b.dec = json.NewDecoder(b.lim)
			b.line = 0                               // counts elements from here on
			if _, err := b.dec.Token(); err != nil { // the '['
				return b.arrayError(err)
			}
			return nil
		}
		b.state = bulkNDJSON
		return nil
	}
}

// nextLine returns the next non-blank NDJSON line.
func (b *BulkReader) nextLine() ([]byte, int, error) {
	for {
		content, over, eof, err := b.readLine()
		if err != nil {
			b.state = bulkDone
			return nil, b.line, err
		}
		if eof && len(content) == 0 && !over {
			b.state = bulkDone
			return nil, b.line, io.EOF
		}
		b.line++
		if eof {
			b.state = bulkDone // after this last (unterminated) line
		}
		if over {
			return nil, b.line, b.itemTooLarge()
		}
		item := bytes.TrimSpace(content)
		if len(item) == 0 {
			if eof {
				return nil, b.line, io.EOF
			}
			continue
		}
		if !validJSON(item) {
			e := malformed("", item)
			e.Message = fmt.Sprintf("line %d: %s", b.line, e.Message)
			return nil, b.line, e
		}
		return item, b.line, nil
	}
}

// readLine reads up to and including the next '\n' (or the end). content
// excludes the line end; over reports a line longer than maxLine (its
// content is then dropped, not buffered); eof reports the input ended.
func (b *BulkReader) readLine() (content []byte, over, eof bool, err error) {
	b.buf = b.buf[:0]
	for {
		frag, rerr := b.br.ReadSlice('\n')
		if !over {
			if len(b.buf)+len(frag) > b.maxLine+2 { // room for "\r\n"
				over = true
				b.buf = b.buf[:0]
			} else {
				b.buf = append(b.buf, frag...)
			}
		}
		switch {
		case rerr == nil:
		case rerr == bufio.ErrBufferFull:
			continue
		case rerr == io.EOF:
			eof = true
		default:
			return nil, false, false, readError(rerr)
		}
		break
	}
	content = b.buf
	content = bytes.TrimSuffix(content, []byte("\n"))
	content = bytes.TrimSuffix(content, []byte("\r"))
	if len(content) > b.maxLine {
		over = true
	}
	if over {
		content = nil
	}
	return content, over, eof, nil
}

// nextElement returns the next element of a JSON array.
func (b *BulkReader) nextElement() ([]byte, int, error) {
	if !b.dec.More() {
		tok, err := b.dec.Token()
		if err != nil {
			return nil, b.line, b.arrayError(err)
		}
		if d, ok := tok.(json.Delim); !ok || d != ']' {
			return nil, b.line, b.arrayError(fmt.Errorf("unexpected %v", tok))
		}
		// Only whitespace may follow the array.
		if _, err := b.dec.Token(); err != io.EOF {
			if err == nil {
				err = errors.New("data after the closing ]")
			}
			return nil, b.line, b.arrayError(err)
		}
		b.state = bulkDone
		return nil, b.line, io.EOF
	}
	b.line++
	var raw json.RawMessage
	if err := b.dec.Decode(&raw); err != nil {
		return nil, b.line, b.arrayError(err)
	}
	b.lim.base = b.dec.InputOffset()
	if len(raw) > b.maxLine {
		return nil, b.line, b.itemTooLarge()
	}
	return raw, b.line, nil
}

// arrayError ends an array stream with the error it hit.
func (b *BulkReader) arrayError(err error) error {
	b.state = bulkDone
	var se *json.SyntaxError
	switch {
	case errors.Is(err, errElementTooLong):
		return errs.New(errs.KindTooLarge, CodePayloadTooLarge, fmt.Sprintf(
			"element %d: longer than %d bytes; the array cannot be read past it, import stopped", b.line, b.maxLine))
	case errors.As(err, &se):
		return errs.Invalid("", CodeMalformedJSON, "element %d: malformed JSON at byte %d of the input: %s; import stopped",
			b.line, se.Offset, se.Error())
	case errors.As(err, new(*readErr)): // before the EOF case: a reader may fail with io.ErrUnexpectedEOF
		return err
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return errs.Invalid("", CodeMalformedJSON, "element %d: the input ends inside the JSON array (missing ']'); import stopped", b.line)
	}
	return errs.Invalid("", CodeMalformedJSON, "element %d: %s; import stopped", b.line, err.Error())
}

func (b *BulkReader) itemTooLarge() *errs.Error {
	what := "line"
	if b.state == bulkArray {
		what = "element"
	}
	return errs.New(errs.KindTooLarge, CodePayloadTooLarge,
		fmt.Sprintf("%s %d: longer than the limit of %d bytes", what, b.line, b.maxLine))
}

// readErr marks an error of the underlying reader.
type readErr struct{ err error }

func (e *readErr) Error() string { return "signal: reading bulk input: " + e.err.Error() }
func (e *readErr) Unwrap() error { return e.err }

func readError(err error) error { return &readErr{err} }

// boundedReader feeds json.Decoder in small reads and fails once the
// decoder has buffered more than limit bytes past the last complete element
// (base), so one huge element cannot make it buffer without bound.
type boundedReader struct {
	r     io.Reader
	read  int64
	base  int64
	limit int64
}

const boundedChunk = 32 << 10

var errElementTooLong = errors.New("array element too long")

func (l *boundedReader) Read(p []byte) (int, error) {
	if l.read-l.base > l.limit {
		return 0, errElementTooLong
	}
	if len(p) > boundedChunk {
		p = p[:boundedChunk]
	}
	n, err := l.r.Read(p)
	l.read += int64(n)
	if err != nil && err != io.EOF {
		err = readError(err)
	}
	return n, err
}
