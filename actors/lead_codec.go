package actors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/bits"
	"time"

	"github.com/trailspark/trailspark/store/wire"
)

// Lead records are rewritten on every batch that touches the lead, so their
// size is what the store's compactions pay for. The storage encoding
// (leadCodecV2) keeps the scalar fields as JSON but packs the timeline and
// the scoring window, which are most of a lead's bytes, in binary:
//
//	byte     leadCodecV2
//	uvarint  length of the header, then the header: the lead as JSON
//	         without "timeline" and "window"
//	uvarint  number of strings n, then n-1 of them (uvarint length, bytes):
//	         every source, event, type, rule id, rule name and signal type
//	         of the lists, once; index 0 is "" and not written
//	byte     timeline flags (1: the timeline is nil, not empty)
//	uvarint  timeline length, then the entries (timelineEntry below)
//	uvarint  window length, then the entries (windowEntry below)
//
// A window entry that says the same as the timeline entry of its signal (the
// usual case: the timeline's mapped entries are the window's newest) is
// stored as a reference to it, so a signal is stored once.
//
// The API view is unchanged: Lead's JSON is what GET leads returns. Records
// written before this encoding are JSON (they start with '{'); decodeLead
// reads both.
const leadCodecV2 = 2

// leadHeader is a lead's JSON header: the lead without its lists (the
// shallower fields shadow the embedded ones and are always nil).
type leadHeader struct {
	*Lead
	Timeline *struct{} `json:"timeline,omitempty"`
	Window   *struct{} `json:"window,omitempty"`
}

// Entry flags.
const (
	entHighIntent = 1 << iota
	entZeroTime   // At is the zero time
	entZone       // At has a non-UTC offset: varint seconds follow the time
	entRef        // window only: the entry is the timeline's entry at the given index
)

// leadJSONForBench makes encodeLead write the previous encoding (plain
// JSON), for benchmarks comparing the two.
var leadJSONForBench bool

// encodeLead is a lead's storage encoding.
func encodeLead(l *Lead) ([]byte, error) {
	if leadJSONForBench {
		return json.Marshal(l)
	}
	hdr, err := json.Marshal(leadHeader{Lead: l})
	if err != nil {
		return nil, err
	}
	var e leadEncoder
	e.buf = make([]byte, 0, 1+binary.MaxVarintLen64+len(hdr)+32*len(l.Timeline)+16*len(l.Window)+64)
	e.buf = append(e.buf, leadCodecV2)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(hdr)))
	e.buf = append(e.buf, hdr...)

	// Strings first (the decoder needs the table before the entries).
	e.strs = make([]string, 1, internLinear) // "" is 0
	for i := range l.Timeline {
		t := &l.Timeline[i]
		e.intern(t.Source)
		e.intern(t.Event)
		e.intern(t.Type)
		e.intern(t.RuleID)
		e.intern(t.RuleName)
		e.intern(t.SignalType)
	}
	// Which window entries repeat a timeline entry: by signal id (the
	// timeline has at most maxTimeline entries, so a scan is cheap).
	refs := make([]int, len(l.Window))
	for i := range l.Window {
		w := &l.Window[i]
		refs[i] = -1
		if j := timelineIndex(l.Timeline, w.SignalID); j >= 0 && sameWindow(windowOfEntry(&l.Timeline[j]), *w) {
			refs[i] = j
			continue
		}
		e.intern(w.Type)
		e.intern(w.Rule)
	}
	e.buf = binary.AppendUvarint(e.buf, uint64(len(e.strs)))
	for _, s := range e.strs[1:] { // "" is implied
		e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
		e.buf = append(e.buf, s...)
	}

	var flags byte
	if l.Timeline == nil {
		flags |= 1
	}
	e.buf = append(e.buf, flags)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(l.Timeline)))
	var prevID uint64
	var prevSec int64
	for i := range l.Timeline {
		t := &l.Timeline[i]
		var f byte
		if t.HighIntent {
			f |= entHighIntent
		}
		f |= timeFlags(t.At)
		e.buf = append(e.buf, f)
		e.buf = binary.AppendVarint(e.buf, int64(t.SignalID-prevID))
		prevID = t.SignalID
		prevSec = e.time(t.At, f, prevSec)
		e.str(t.Source)
		e.str(t.Event)
		e.str(t.Type)
		e.str(t.RuleID)
		e.str(t.RuleName)
		e.str(t.SignalType)
		e.float(t.Weight)
		e.float(t.HalfLifeH)
	}
	e.buf = binary.AppendUvarint(e.buf, uint64(len(l.Window)))
	prevID, prevSec = 0, 0
	for i := range l.Window {
		w := &l.Window[i]
		if refs[i] >= 0 {
			e.buf = append(e.buf, entRef)
			e.buf = binary.AppendUvarint(e.buf, uint64(refs[i]))
			continue
		}
		var f byte
		if w.HighIntent {
			f |= entHighIntent
		}
		f |= timeFlags(w.At)
		e.buf = append(e.buf, f)
		e.buf = binary.AppendVarint(e.buf, int64(w.SignalID-prevID))
		prevID = w.SignalID
		prevSec = e.time(w.At, f, prevSec)
		e.str(w.Type)
		e.str(w.Rule)
		e.float(w.Weight)
		e.float(w.HalfLifeH)
	}
	return e.buf, nil
}

// timelineIndex is the index of the (last) timeline entry of signal id,
// -1 if none.
func timelineIndex(tl []TimelineEntry, id uint64) int {
	for j := len(tl) - 1; j >= 0; j-- {
		if tl[j].SignalID == id {
			return j
		}
	}
	return -1
}

// decodeLead reads a lead record in either encoding into l.
func decodeLead(b []byte, l *Lead) error {
	if len(b) == 0 || b[0] != leadCodecV2 {
		return json.Unmarshal(b, l) // written before leadCodecV2
	}
	d := leadDecoder{Reader: wire.NewReader(b[1:])}
	hdr := d.Bytes()
	if d.Bad() {
		return errLeadCodec
	}
	if err := json.Unmarshal(hdr, &leadHeader{Lead: l}); err != nil {
		return err
	}
	ns := d.Uvarint()
	if d.Bad() || ns == 0 || ns > uint64(d.Len())+1 {
		return errLeadCodec
	}
	d.strs = make([]string, ns)
	for i := uint64(1); i < ns; i++ {
		d.strs[i] = string(d.Bytes())
	}
	flags := d.Byte()
	nt := d.Uvarint()
	if d.Bad() || nt > uint64(d.Len()) {
		return errLeadCodec
	}
	l.Timeline = nil
	if flags&1 == 0 {
		l.Timeline = make([]TimelineEntry, nt)
	}
	var prevID uint64
	var prevSec int64
	for i := uint64(0); i < nt && !d.Bad(); i++ {
		var t TimelineEntry
		f := d.Byte()
		t.HighIntent = f&entHighIntent != 0
		t.SignalID = prevID + uint64(d.Varint())
		prevID = t.SignalID
		t.At, prevSec = d.time(f, prevSec)
		t.Source, t.Event, t.Type = d.str(), d.str(), d.str()
		t.RuleID, t.RuleName, t.SignalType = d.str(), d.str(), d.str()
		t.Weight, t.HalfLifeH = d.float(), d.float()
		if l.Timeline != nil {
			l.Timeline[i] = t
		}
	}
	nw := d.Uvarint()
	if d.Bad() || nw > uint64(d.Len()) {
		return errLeadCodec
	}
	l.Window = nil
	if nw > 0 {
		l.Window = make([]WindowSignal, nw)
	}
	prevID, prevSec = 0, 0
	for i := uint64(0); i < nw && !d.Bad(); i++ {
		f := d.Byte()
		if f&entRef != 0 {
			j := d.Uvarint()
			if j >= uint64(len(l.Timeline)) {
				return errLeadCodec
			}
			l.Window[i] = windowOfEntry(&l.Timeline[j])
			continue
		}
		w := &l.Window[i]
		w.HighIntent = f&entHighIntent != 0
		w.SignalID = prevID + uint64(d.Varint())
		prevID = w.SignalID
		w.At, prevSec = d.time(f, prevSec)
		w.Type, w.Rule = d.str(), d.str()
		w.Weight, w.HalfLifeH = d.float(), d.float()
	}
	if d.Bad() || d.Len() != 0 {
		return errLeadCodec
	}
	return nil
}

var errLeadCodec = errors.New("lead record: bad encoding")

// windowOfEntry is the window signal a mapped timeline entry makes (the
// processor adds exactly this; see processEntry).
func windowOfEntry(t *TimelineEntry) WindowSignal {
	return WindowSignal{SignalID: t.SignalID, Type: t.SignalType, At: t.At, Weight: t.Weight,
		HalfLifeH: t.HalfLifeH, HighIntent: t.HighIntent, Rule: t.RuleName}
}

// sameWindow compares window signals as the encoding keeps them: times by
// instant and offset (== would also compare locations by pointer and
// monotonic readings).
func sameWindow(a, b WindowSignal) bool {
	ta, tb := a.At, b.At
	a.At, b.At = time.Time{}, time.Time{}
	return a == b && ta.Equal(tb) && zoneOffset(ta) == zoneOffset(tb)
}

func zoneOffset(t time.Time) int {
	_, off := t.Zone()
	return off
}

// timeFlags: the zero time is flagged; a time at UTC offset 0 (whatever its
// location) decodes as UTC, which is how its JSON reads too.
func timeFlags(t time.Time) byte {
	if t.IsZero() {
		return entZeroTime
	}
	if zoneOffset(t) != 0 {
		return entZone
	}
	return 0
}

type leadEncoder struct {
	buf   []byte
	strs  []string
	index map[string]uint64 // once strs outgrows a linear search
}

// internLinear is how many strings are looked up by scanning: a lead's
// timeline repeats a handful of sources, events and rules, and scanning
// that few beats hashing (the encoder runs for every lead written).
const internLinear = 16

func (e *leadEncoder) lookup(s string) (uint64, bool) {
	if e.index != nil {
		i, ok := e.index[s]
		return i, ok
	}
	for i, x := range e.strs {
		if x == s {
			return uint64(i), true
		}
	}
	return 0, false
}

func (e *leadEncoder) intern(s string) {
	if _, ok := e.lookup(s); ok {
		return
	}
	e.strs = append(e.strs, s)
	switch {
	case e.index != nil:
		e.index[s] = uint64(len(e.strs) - 1)
	case len(e.strs) > internLinear:
		e.index = make(map[string]uint64, 2*len(e.strs))
		for i, x := range e.strs {
			e.index[x] = uint64(i)
		}
	}
}

func (e *leadEncoder) str(s string) {
	i, _ := e.lookup(s)
	e.buf = binary.AppendUvarint(e.buf, i)
}

// float is gob's encoding: the byte-reversed bits as a uvarint, so round
// numbers (weights 1, 2.5; half-lives 168) take two or three bytes.
func (e *leadEncoder) float(f float64) {
	e.buf = binary.AppendUvarint(e.buf, bits.ReverseBytes64(math.Float64bits(f)))
}

// time appends t (seconds as a delta from prev, then nanoseconds, then the
// zone offset when flagged) and returns its seconds.
func (e *leadEncoder) time(t time.Time, f byte, prev int64) int64 {
	if f&entZeroTime != 0 {
		return prev
	}
	sec := t.Unix()
	e.buf = binary.AppendVarint(e.buf, sec-prev)
	e.buf = binary.AppendUvarint(e.buf, uint64(t.Nanosecond()))
	if f&entZone != 0 {
		e.buf = binary.AppendVarint(e.buf, int64(zoneOffset(t)))
	}
	return sec
}

// leadDecoder reads a compact lead record: wire's reads plus the record's
// string table, floats and times.
type leadDecoder struct {
	wire.Reader
	strs []string
}

func (d *leadDecoder) str() string {
	i := d.Uvarint()
	if i >= uint64(len(d.strs)) {
		d.Fail()
		return ""
	}
	return d.strs[i]
}

func (d *leadDecoder) float() float64 {
	return math.Float64frombits(bits.ReverseBytes64(d.Uvarint()))
}

func (d *leadDecoder) time(f byte, prev int64) (time.Time, int64) {
	if f&entZeroTime != 0 {
		return time.Time{}, prev
	}
	sec := prev + d.Varint()
	ns := d.Uvarint()
	if ns >= 1e9 {
		d.Fail()
		return time.Time{}, prev
	}
	t := time.Unix(sec, int64(ns)).UTC()
	if f&entZone != 0 {
		off := d.Varint()
		if off < -24*3600 || off > 24*3600 {
			d.Fail()
			return time.Time{}, prev
		}
		t = t.In(time.FixedZone("", int(off)))
	}
	return t, sec
}
