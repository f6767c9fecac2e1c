package wire

import (
	"encoding/binary"
	"testing"
)

func TestReader(t *testing.T) {
	t.Parallel()
	var b []byte
	b = append(b, 7)
	b = binary.AppendUvarint(b, 300)
	b = binary.AppendVarint(b, -5)
	b = binary.AppendUvarint(b, 3)
	b = append(b, "abc"...)
	r := NewReader(b)
	if c, u, v, s := r.Byte(), r.Uvarint(), r.Varint(), string(r.Bytes()); c != 7 || u != 300 || v != -5 || s != "abc" || r.Bad() || r.Len() != 0 {
		t.Fatalf("read %d %d %d %q, bad %v, %d left", c, u, v, s, r.Bad(), r.Len())
	}
	// Reads past the end fail, and stay failed with zero values.
	if r.Byte() != 0 || !r.Bad() || r.Uvarint() != 0 || r.Bytes() != nil {
		t.Fatal("a read past the end did not fail")
	}
	cases := map[string][]byte{
		"truncated varint": {0x80},
		"length past end":  {5, 'a'},
	}
	for name, in := range cases {
		r := NewReader(in)
		if r.Bytes(); !r.Bad() {
			t.Errorf("%s: not bad", name)
		}
	}
}
