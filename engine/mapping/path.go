package mapping

import (
	"strings"
)

const (
	// MaxPathLen is the longest accepted dot path, in bytes.
	MaxPathLen = 256
	// MaxPathSegments is the most segments a dot path may have.
	MaxPathSegments = 16
	// maxIndexDigits bounds numeric segments used as array indexes so the
	// conversion cannot overflow an int.
	maxIndexDigits = 9
)

// segment is one pre-split part of a dot path. idx >= 0 when the segment is
// numeric, so it can index an array; it is always also usable as a key.
type segment struct {
	key string
	idx int
}

// path is a compiled dot path.
type path []segment

// validPath reports whether p is a well-formed dot path.
func validPath(p string) bool {
	if p == "" || len(p) > MaxPathLen {
		return false
	}
	segs := 1
	prevDot := true // a leading dot is an empty segment
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '.' {
			if prevDot {
				return false
			}
			segs++
			if segs > MaxPathSegments {
				return false
			}
			prevDot = true
			continue
		}
		if !segmentByte(c) {
			return false
		}
		prevDot = false
	}
	return !prevDot
}

func segmentByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '$' || c == '@' || c == '-'
}

// compilePath splits a valid path. Callers check validPath first.
func compilePath(p string) path {
	out := make(path, 0, strings.Count(p, ".")+1)
	for s := range strings.SplitSeq(p, ".") {
		out = append(out, segment{key: s, idx: indexOf(s)})
	}
	return out
}

// indexOf returns the array index a segment names, or -1.
func indexOf(s string) int {
	if s == "" || len(s) > maxIndexDigits {
		return -1
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// step descends one segment from cur.
func step(cur any, key string, idx int) (any, bool) {
	switch c := cur.(type) {
	case map[string]any:
		v, ok := c[key]
		return v, ok
	case []any:
		if idx < 0 || idx >= len(c) {
			return nil, false
		}
		return c[idx], true
	}
	return nil, false
}

// lookup resolves a compiled path. A present JSON null is (nil, true).
func (p path) lookup(root map[string]any) (any, bool) {
	if root == nil {
		return nil, false
	}
	var cur any = root
	for i := range p {
		v, ok := step(cur, p[i].key, p[i].idx)
		if !ok {
			return nil, false
		}
		cur = v
	}
	return cur, true
}

// Lookup resolves a dot path ("properties.page_url", "context.traits.email",
// "items.0.sku") in a decoded JSON payload. A numeric segment indexes an
// array, or is a key in an object. It reports false when the path is
// malformed or absent; a present JSON null is returned as (nil, true).
// Lookup does not allocate.
func Lookup(payload map[string]any, p string) (any, bool) {
	if payload == nil || !validPath(p) {
		return nil, false
	}
	var cur any = payload
	for p != "" {
		seg := p
		if i := strings.IndexByte(p, '.'); i >= 0 {
			seg, p = p[:i], p[i+1:]
		} else {
			p = ""
		}
		v, ok := step(cur, seg, indexOf(seg))
		if !ok {
			return nil, false
		}
		cur = v
	}
	return cur, true
}
