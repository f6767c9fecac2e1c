// Package wire reads the compact binary encodings of stored records (lead
// records, processing statuses): varints and length-prefixed bytes. A read
// past the end or a malformed varint marks the reader bad and makes every
// later read return a zero value, so a decoder checks Bad once at the end
// rather than after every field.
package wire

import "encoding/binary"

// Reader reads b from the front.
type Reader struct {
	b   []byte
	bad bool
}

// NewReader reads b (not copied: Bytes returns parts of it).
func NewReader(b []byte) Reader { return Reader{b: b} }

// Bad reports whether a read failed.
func (r *Reader) Bad() bool { return r.bad }

// Len is how many bytes are left.
func (r *Reader) Len() int { return len(r.b) }

// Fail marks the reader bad (for a value the caller finds out of range).
func (r *Reader) Fail() { r.bad, r.b = true, nil }

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.b) == 0 {
		r.Fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if !r.advance(n) {
		return 0
	}
	return v
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.b)
	if !r.advance(n) {
		return 0
	}
	return v
}

// advance consumes a varint of n bytes as encoding/binary reports it
// (n <= 0: truncated or overflowing), failing the reader when there is none.
func (r *Reader) advance(n int) bool {
	if n <= 0 {
		r.Fail()
		return false
	}
	r.b = r.b[n:]
	return true
}

// Bytes reads a uvarint length and that many bytes (a part of the input,
// not a copy).
func (r *Reader) Bytes() []byte {
	n := r.Uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.Fail()
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}
