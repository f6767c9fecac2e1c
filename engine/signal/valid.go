package signal

import (
	"encoding/binary"
	"math/bits"
)

// validJSON reports whether b is one JSON value, optionally surrounded by
// whitespace: exactly what encoding/json.Valid reports, for every input.
//
// It exists because json.Valid was a hot spot of batch ingestion: its
// scanner is a state machine that makes an indirect call through a function
// pointer for every input byte (including every byte of every string), which
// for a ~170 KB batch body cost about 6% of a node's CPU. Here the grammar is
// walked directly, string bodies (most of a batch) are skipped eight bytes
// at a time, and nesting is tracked in a small explicit stack instead of by
// recursion, so the common path makes no calls per byte and does not
// allocate.
//
// Compatibility points that are easy to get wrong, all taken from
// encoding/json's scanner:
//   - strings are not checked for valid UTF-8 (only control bytes < 0x20 and
//     bad escapes are rejected), so invalid UTF-8 is accepted;
//   - whitespace is only space, tab, CR and LF;
//   - more than maxJSONNesting arrays/objects open at once is rejected, even
//     when the innermost one is empty (the scanner counts a container when it
//     opens, not when it first holds a value).
func validJSON(b []byte) bool {
	// Each open container is remembered by its closing byte ('}' or ']').
	// 64 levels cover every realistic payload without touching the heap;
	// deeper input (up to maxJSONNesting) grows the slice.
	var stackBuf [64]byte
	stack := stackBuf[:0]
	n := len(b)
	i := validSpace(b, 0)

value: // a value must start at b[i]
	for {
		if i >= n {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) == maxJSONNesting {
				return false
			}
			closer := c + 2 // '{'+2 == '}', '['+2 == ']'
			stack = append(stack, closer)
			i = validSpace(b, i+1)
			if i < n && b[i] == closer {
				stack = stack[:len(stack)-1]
				i++
				break // an empty container is a complete value
			}
			if closer == '}' {
				if i = validKey(b, i); i < 0 {
					return false
				}
			}
			continue value
		case '"':
			if i = validString(b, i+1); i < 0 {
				return false
			}
		case 't':
			if n-i < 4 || string(b[i:i+4]) != "true" {
				return false
			}
			i += 4
		case 'f':
			if n-i < 5 || string(b[i:i+5]) != "false" {
				return false
			}
			i += 5
		case 'n':
			if n-i < 4 || string(b[i:i+4]) != "null" {
				return false
			}
			i += 4
		default:
			if i = validNumber(b, i); i < 0 {
				return false
			}
		}

		// A value ended just before b[i]: what may follow is a separator
		// (then another value), the closer of the innermost container (then
		// that container has ended too), or, at the top, only whitespace.
		for {
			i = validSpace(b, i)
			if len(stack) == 0 {
				return i == n
			}
			if i >= n {
				return false
			}
			top := stack[len(stack)-1]
			switch b[i] {
			case ',':
				i = validSpace(b, i+1)
				if top == '}' {
					if i = validKey(b, i); i < 0 {
						return false
					}
				}
				continue value
			case top:
				stack = stack[:len(stack)-1]
				i++
			default:
				return false
			}
		}
	}
}

// maxJSONNesting is encoding/json's maxNestingDepth (scanner.go): the most
// arrays and objects that may be open at once.
const maxJSONNesting = 10000

// Byte classes for validJSON, one table so that every test is a single load.
const (
	vcStop  = 1 << iota // ends the fast run through a string body: '"', '\\', < 0x20
	vcSpace             // whitespace between tokens
	vcDigit             // 0-9
	vcHex               // 0-9 a-f A-F
	vcEsc               // a one-byte escape after '\\' ('u' is handled apart)
)

var validClass = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] |= vcStop
	}
	t['"'] |= vcStop
	t['\\'] |= vcStop
	for _, c := range []byte(" \t\r\n") {
		t[c] |= vcSpace
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= vcDigit | vcHex
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] |= vcHex
		t[c-'a'+'A'] |= vcHex
	}
	for _, c := range []byte(`"\/bfnrt`) {
		t[c] |= vcEsc
	}
	return t
}()

// validSpace returns the index of the first non-whitespace byte at or after i.
func validSpace(b []byte, i int) int {
	for i < len(b) && validClass[b[i]]&vcSpace != 0 {
		i++
	}
	return i
}

// validKey checks an object key and its colon starting at b[i] and returns
// the index where the member's value must start, or -1.
func validKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = validString(b, i+1); i < 0 {
		return -1
	}
	i = validSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return validSpace(b, i+1)
}

// validString checks a string body starting just after its opening quote and
// returns the index just after the closing quote, or -1.
func validString(b []byte, i int) int {
	for {
		// Nearly all string bytes are ordinary. Test eight at a time (SWAR):
		// a word with no '"', '\\' or control byte is skipped whole, and in
		// one that has some, the lowest flagged byte is exactly the first
		// such byte (a borrow only spreads to higher bytes), so most short
		// strings end after a single load.
		for {
			if len(b)-i < 8 {
				for i < len(b) && validClass[b[i]]&vcStop == 0 {
					i++
				}
				break
			}
			x := binary.LittleEndian.Uint64(b[i:])
			q := x ^ (swarOnes * '"')
			s := x ^ (swarOnes * '\\')
			m := ((q - swarOnes) &^ q) | ((s - swarOnes) &^ s) | ((x - swarOnes*0x20) &^ x)
			if m &= swarHigh; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(b) {
				return -1
			}
			if validClass[b[i+1]]&vcEsc != 0 {
				i += 2
				continue
			}
			if b[i+1] != 'u' || len(b)-i < 6 ||
				validClass[b[i+2]]&validClass[b[i+3]]&validClass[b[i+4]]&validClass[b[i+5]]&vcHex == 0 {
				return -1
			}
			i += 6
		default: // a control byte
			return -1
		}
	}
}

// Masks for validString's word-at-a-time scan.
const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// validNumber checks the number starting at b[i] (grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?) and returns the index just
// after it, or -1. What follows is the caller's concern: "01" is the number 0
// followed by a stray byte.
func validNumber(b []byte, i int) int {
	n := len(b)
	if b[i] == '-' {
		i++
		if i >= n {
			return -1
		}
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i = validDigits(b, i+1)
	default:
		return -1
	}
	if i < n && b[i] == '.' {
		i++
		if i >= n || validClass[b[i]]&vcDigit == 0 {
			return -1
		}
		i = validDigits(b, i+1)
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= n || validClass[b[i]]&vcDigit == 0 {
			return -1
		}
		i = validDigits(b, i+1)
	}
	return i
}

// validDigits returns the index of the first non-digit at or after i.
func validDigits(b []byte, i int) int {
	for i < len(b) && validClass[b[i]]&vcDigit != 0 {
		i++
	}
	return i
}
