package signal

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// DecodePayload decodes a payload object as encoding/json's Decoder with
// UseNumber does (numbers as json.Number, so CRM ids beyond 2^53 stay
// exact): the same map, the same errors. Processing decodes every signal's
// payload for the mapping rules, and encoding/json's reflection-driven
// decoder was the largest single cost of it; this reader builds the map
// directly and hands anything unusual — a payload that is not an object,
// invalid JSON, very deep nesting — to encoding/json, so the two always
// agree (FuzzDecodePayload checks it).
func DecodePayload(b []byte) (map[string]any, error) {
	d := payloadDecoder{b: b}
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '{' {
		if v, ok := d.object(0); ok {
			return v, nil
		}
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	err := dec.Decode(&m)
	return m, err
}

// maxFastDepth bounds the reader's recursion; deeper payloads (which the
// ingest limits refuse anyway) take encoding/json's path.
const maxFastDepth = 64

type payloadDecoder struct {
	b []byte
	i int
}

func (d *payloadDecoder) ws() {
	for d.i < len(d.b) && isSpace(d.b[d.i]) {
		d.i++
	}
}

// value reads any JSON value at d.i (after whitespace).
func (d *payloadDecoder) value(depth int) (any, bool) {
	d.ws()
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		m, ok := d.object(depth + 1)
		return m, ok
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return nil, false
}

func (d *payloadDecoder) literal(word string) bool {
	if !bytes.HasPrefix(d.b[d.i:], []byte(word)) {
		return false
	}
	d.i += len(word)
	return true
}

func (d *payloadDecoder) object(depth int) (map[string]any, bool) {
	if depth > maxFastDepth {
		return nil, false
	}
	d.i++ // '{'
	m := map[string]any{}
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return m, true
	}
	for {
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, false
		}
		k, ok := d.str()
		if !ok {
			return nil, false
		}
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, false
		}
		d.i++
		v, ok := d.value(depth)
		if !ok {
			return nil, false
		}
		m[k.(string)] = v
		if more, ok := d.sep('}'); !ok {
			return nil, false
		} else if !more {
			return m, true
		}
	}
}

func (d *payloadDecoder) array(depth int) (any, bool) {
	if depth > maxFastDepth {
		return nil, false
	}
	d.i++ // '['
	a := []any{}
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return a, true
	}
	for {
		v, ok := d.value(depth)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		if more, ok := d.sep(']'); !ok {
			return nil, false
		} else if !more {
			return a, true
		}
	}
}

// sep reads what follows a member or an element: ',' (more follow) or
// closer (the end); anything else is not ok.
func (d *payloadDecoder) sep(closer byte) (more, ok bool) {
	d.ws()
	if d.i >= len(d.b) {
		return false, false
	}
	switch d.b[d.i] {
	case ',':
		d.i++
		return true, true
	case closer:
		d.i++
		return false, true
	}
	return false, false
}

// str reads a string at d.i == '"'. Plain strings (no escapes, valid
// UTF-8) are taken as they are; the rest are unquoted by encoding/json
// (escapes, surrogate pairs and invalid bytes are its business).
func (d *payloadDecoder) str() (any, bool) {
	start := d.i
	plain := true
	for j := d.i + 1; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			d.i = j + 1
			raw := d.b[start+1 : j]
			if plain && utf8.Valid(raw) {
				return string(raw), true
			}
			var s string
			if err := json.Unmarshal(d.b[start:j+1], &s); err != nil {
				return nil, false
			}
			return s, true
		case c == '\\':
			plain = false
			j++ // the escaped character cannot end the string
		case c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// number reads a JSON number (RFC 8259 grammar) as a json.Number.
func (d *payloadDecoder) number() (any, bool) {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	n := json.Number(b[d.i:i])
	d.i = i
	return n, true
}
