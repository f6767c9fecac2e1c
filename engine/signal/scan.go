package signal

import (
	"encoding/json"
	"errors"
)

// This file holds a small walker over JSON already validated (validJSON,
// which answers as encoding/json.Valid does). Decoding a signal into
// map[string]any costs tens of allocations; Normalize needs a dozen values
// at known places, so it validates with validJSON (no allocation), then
// walks the bytes once, remembering where the interesting values are
// (spans) and measuring the nesting depth. Only the values actually used
// are decoded.
//
// The walker relies on the input being valid JSON; it still bounds-checks
// every access so that a broken invariant yields errBadJSON, never a panic.

var (
	errTooDeep = errors.New("nesting too deep")
	errBadJSON = errors.New("unexpected JSON") // invariant broken: input was not valid JSON
)

// span locates a raw JSON value in the input: b[start:end]. end == 0 means
// absent (no value can end at offset 0).
type span struct{ start, end int32 }

func (s span) set() bool { return s.end > 0 }

type scanner struct {
	b        []byte
	i        int
	maxDepth int
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *scanner) ws() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}

// peek returns the byte at the cursor, or 0 at the end.
func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// skipString moves past the string starting at the cursor ('"'). escaped
// reports a backslash escape inside it, nonASCII a byte >= 0x80.
func (s *scanner) skipString() (escaped, nonASCII bool, err error) {
	i := s.i + 1
	for i < len(s.b) {
		c := s.b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return escaped, nonASCII, nil
		case c == '\\':
			escaped = true
			i += 2
			continue
		case c >= 0x80:
			nonASCII = true
		}
		i++
	}
	return false, false, errBadJSON
}

// skipValue moves past the value starting at the cursor. depth is the
// nesting depth the value would have if it is an object or array.
func (s *scanner) skipValue(depth int) error {
	switch s.peek() {
	case '"':
		_, _, err := s.skipString()
		return err
	case '{', '[':
		d := depth
		if d > s.maxDepth {
			return errTooDeep
		}
		s.i++
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, _, err := s.skipString(); err != nil {
					return err
				}
				continue
			case '{', '[':
				d++
				if d > s.maxDepth {
					return errTooDeep
				}
			case '}', ']':
				d--
				if d < depth {
					s.i++
					return nil
				}
			}
			s.i++
		}
		return errBadJSON
	case 0:
		return errBadJSON
	default: // number, true, false, null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return nil
			}
			s.i++
		}
		return nil
	}
}

// objectStart expects '{' at the cursor and moves past it and the following
// whitespace; it reports whether the object is empty (and then consumes '}').
func (s *scanner) objectStart() (empty bool, err error) {
	if s.peek() != '{' {
		return false, errBadJSON
	}
	s.i++
	s.ws()
	if s.peek() == '}' {
		s.i++
		return true, nil
	}
	return false, nil
}

// key reads an object key at the cursor plus the ':' and whitespace after
// it. Keys with escapes are unescaped (rare; allocates).
func (s *scanner) key() ([]byte, error) {
	if s.peek() != '"' {
		return nil, errBadJSON
	}
	start := s.i
	escaped, _, err := s.skipString()
	if err != nil {
		return nil, err
	}
	k := s.b[start+1 : s.i-1]
	if escaped {
		var str string
		if json.Unmarshal(s.b[start:s.i], &str) != nil {
			return nil, errBadJSON
		}
		k = []byte(str)
	}
	s.ws()
	if s.peek() != ':' {
		return nil, errBadJSON
	}
	s.i++
	s.ws()
	return k, nil
}

// next moves past the whitespace and ',' after a member or element; it
// reports whether another one follows (false: the closer was consumed).
func (s *scanner) next(closer byte) (more bool, err error) {
	s.ws()
	switch s.peek() {
	case ',':
		s.i++
		s.ws()
		return true, nil
	case closer:
		s.i++
		return false, nil
	}
	return false, errBadJSON
}

// arrayElements calls fn with the span of each element of the array at the
// cursor (elements are skipped with no depth limit beyond s.maxDepth).
func (s *scanner) arrayElements(fn func(sp span) error) error {
	if s.peek() != '[' {
		return errBadJSON
	}
	s.i++
	s.ws()
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		start := s.i
		if err := s.skipValue(2); err != nil {
			return err
		}
		if err := fn(span{int32(start), int32(s.i)}); err != nil {
			return err
		}
		more, err := s.next(']')
		if err != nil || !more {
			return err
		}
	}
}

// firstByte returns the first non-space byte of b and its index, or 0, -1.
func firstByte(b []byte) (byte, int) {
	for i, c := range b {
		if !isSpace(c) {
			return c, i
		}
	}
	return 0, -1
}

// jsonKind names the JSON type of a value by its first byte, for messages.
func jsonKind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case 0:
		return "nothing"
	}
	return "a number"
}
