package mapping

import (
	"cmp"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of the unmapped-signal aggregator.
const (
	DefaultGroupCapacity = 1000     // groups kept; the least recently seen is evicted
	MaxSamplePaths       = 50       // distinct leaf paths kept per group
	MaxSamplePayload     = 16 << 10 // bytes; a larger payload is not kept as the sample
	maxKeyPart           = 200      // bytes of each GroupKey field
	maxWalkNodes         = 2000     // payload nodes visited per Add when collecting paths
)

// GroupKey identifies a group of unmapped signals (SPEC §2.5).
type GroupKey struct {
	Source string `json:"source"`
	Type   string `json:"type"`
	Event  string `json:"event"`
}

// KeyFor derives the group key of a signal: its type, and its event name
// ("event"; for page and screen calls, which have none, the page "name").
// Each part is cut to 200 bytes.
func KeyFor(source string, payload map[string]any) GroupKey {
	str := func(k string) string {
		s, _ := payload[k].(string)
		return strings.TrimSpace(s)
	}
	k := GroupKey{Source: source, Type: str("type"), Event: str("event")}
	if k.Event == "" && (k.Type == "page" || k.Type == "screen") {
		k.Event = str("name")
	}
	return k.clip()
}

func (k GroupKey) clip() GroupKey {
	return GroupKey{Source: clip(k.Source, maxKeyPart), Type: clip(k.Type, maxKeyPart), Event: clip(k.Event, maxKeyPart)}
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Group is an aggregate of unmapped signals sharing a key.
type Group struct {
	Key           GroupKey        `json:"key"`
	Count         int             `json:"count"`
	FirstSeen     time.Time       `json:"first_seen"`
	LastSeen      time.Time       `json:"last_seen"`
	SamplePaths   []string        `json:"sample_paths"`             // ≤ 50 distinct leaf dot paths, sorted
	SamplePayload json.RawMessage `json:"sample_payload,omitempty"` // the latest signal's payload
}

func (g *Group) clone() Group {
	c := *g
	c.SamplePaths = append([]string{}, g.SamplePaths...) // never nil: JSON []
	c.SamplePayload = slices.Clone(g.SamplePayload)
	return c
}

// Groups aggregates unmapped signals by GroupKey, keeping at most a fixed
// number of groups (the least recently seen is evicted). The zero value is
// ready to use with DefaultGroupCapacity. It is not safe for concurrent use:
// one grain owns it.
type Groups struct {
	capacity int
	m        map[GroupKey]*Group
}

// NewGroups returns an aggregator keeping at most capacity groups
// (DefaultGroupCapacity when capacity <= 0).
func NewGroups(capacity int) *Groups {
	return &Groups{capacity: capacity}
}

func (gs *Groups) limit() int {
	if gs.capacity <= 0 {
		return DefaultGroupCapacity
	}
	return gs.capacity
}

// Add records one unmapped signal seen at time at. raw is its JSON payload
// (copied; when nil, payload is encoded instead) and becomes the group's
// sample when the signal is the latest one seen; payload supplies the
// sample paths.
func (gs *Groups) Add(key GroupKey, payload map[string]any, raw []byte, at time.Time) {
	key = key.clip()
	if gs.m == nil {
		gs.m = make(map[GroupKey]*Group)
	}
	g, ok := gs.m[key]
	if !ok {
		if len(gs.m) >= gs.limit() {
			gs.evict()
		}
		g = &Group{Key: key, FirstSeen: at, LastSeen: at}
		gs.m[key] = g
	}
	g.Count++
	if at.Before(g.FirstSeen) {
		g.FirstSeen = at
	}
	if !at.Before(g.LastSeen) {
		g.LastSeen = at
		if sample := samplePayload(payload, raw); sample != nil {
			g.SamplePayload = sample
		}
	} else if g.SamplePayload == nil {
		g.SamplePayload = samplePayload(payload, raw)
	}
	if len(g.SamplePaths) < MaxSamplePaths {
		addLeafPaths(g, payload)
	}
}

// evict drops the least recently seen group (ties: the smallest key).
func (gs *Groups) evict() {
	var victim *Group
	for _, g := range gs.m {
		if victim == nil || g.LastSeen.Before(victim.LastSeen) ||
			g.LastSeen.Equal(victim.LastSeen) && keyLess(g.Key, victim.Key) {
			victim = g
		}
	}
	if victim != nil {
		delete(gs.m, victim.Key)
	}
}

func keyLess(a, b GroupKey) bool { return compareKeys(a, b) < 0 }

func compareKeys(a, b GroupKey) int {
	if c := strings.Compare(a.Source, b.Source); c != 0 {
		return c
	}
	if c := strings.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	return strings.Compare(a.Event, b.Event)
}

func samplePayload(payload map[string]any, raw []byte) json.RawMessage {
	if raw == nil {
		if payload == nil {
			return nil
		}
		b, err := json.Marshal(payload)
		if err != nil {
			return nil
		}
		raw = b
	} else {
		raw = slices.Clone(raw)
	}
	if len(raw) > MaxSamplePayload || !json.Valid(raw) {
		return nil
	}
	return raw
}

// addLeafPaths adds the payload's leaf paths (scalars and nulls) to the
// group's sample, breadth first with keys in order so shallow paths (where
// identifiers and event names live) are kept first. Arrays contribute their
// first element only; keys that cannot appear in a rule path are skipped.
func addLeafPaths(g *Group, payload map[string]any) {
	type item struct {
		prefix string
		depth  int
		v      any
	}
	queue := []item{{v: payload}}
	visited := 0
	for len(queue) > 0 && len(g.SamplePaths) < MaxSamplePaths && visited < maxWalkNodes {
		it := queue[0]
		queue = queue[1:]
		visited++
		join := func(seg string) string {
			if it.prefix == "" {
				return seg
			}
			return it.prefix + "." + seg
		}
		switch v := it.v.(type) {
		case map[string]any:
			if it.depth >= MaxPathSegments {
				continue
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				if validPath(k) && !strings.Contains(k, ".") {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				queue = append(queue, item{prefix: join(k), depth: it.depth + 1, v: v[k]})
			}
		case []any:
			if len(v) > 0 && it.depth < MaxPathSegments {
				queue = append(queue, item{prefix: join("0"), depth: it.depth + 1, v: v[0]})
			}
		default:
			if it.prefix == "" || len(it.prefix) > MaxPathLen {
				continue
			}
			if i, found := slices.BinarySearch(g.SamplePaths, it.prefix); !found {
				g.SamplePaths = slices.Insert(g.SamplePaths, i, it.prefix)
			}
		}
	}
}

// Len is the number of groups.
func (gs *Groups) Len() int { return len(gs.m) }

// Get returns a copy of one group.
func (gs *Groups) Get(key GroupKey) (Group, bool) {
	g, ok := gs.m[key.clip()]
	if !ok {
		return Group{}, false
	}
	return g.clone(), true
}

// Remove drops a group (e.g. once a rule maps it) and reports whether it
// existed.
func (gs *Groups) Remove(key GroupKey) bool {
	key = key.clip()
	_, ok := gs.m[key]
	delete(gs.m, key)
	return ok
}

// List returns copies of the groups, most signals first (then most
// recently seen, then by key).
func (gs *Groups) List() []Group {
	out := make([]Group, 0, len(gs.m))
	for _, g := range gs.m {
		out = append(out, g.clone())
	}
	slices.SortFunc(out, func(a, b Group) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return compareKeys(a.Key, b.Key)
	})
	return out
}

// ---- drafting a rule from a group ----

// DraftRule pre-fills a rule from a group of unmapped signals: a name from
// the event, a guessed signal type, conditions selecting the group's
// signals, its source, and identifier mappings guessed from the sample
// paths. It is a starting point for a person to review, not a saved rule:
// it has no id or timestamps. When no persistent identifier path was seen
// it maps "email" so the draft validates; the editor should confirm it.
func DraftRule(g Group) Rule {
	k := g.Key
	words := splitWords(k.Event)
	squashed := strings.ToLower(strings.Join(words, ""))
	r := Rule{
		Name:       draftName(k, words),
		SignalType: guessType(k.Type, squashed, words),
		Source:     k.Source,
		Mappings:   guessMappings(g.SamplePaths),
	}
	r.HighIntent = r.SignalType == FormFill && containsAny(squashed, "demo", "contactsales", "pricing", "quote")
	r.Negative = strings.Contains(squashed, "unsubscrib")
	switch {
	case k.Event != "":
		p := "event"
		if !slices.Contains(g.SamplePaths, "event") && slices.Contains(g.SamplePaths, "name") {
			p = "name"
		}
		if p == "name" && k.Type != "" {
			r.Conditions.All = append(r.Conditions.All, Condition{Path: "type", Op: OpEquals, Value: k.Type})
		}
		r.Conditions.All = append(r.Conditions.All, Condition{Path: p, Op: OpEquals, Value: k.Event})
	case k.Type != "":
		r.Conditions.All = []Condition{{Path: "type", Op: OpEquals, Value: k.Type}}
	}
	return r
}

// splitWords splits an event name on anything but letters and digits and
// at camelCase boundaries: "formSubmitted", "form_submitted" and
// "Form Submitted" all give [form Submitted]-like words.
func splitWords(s string) []string {
	var words []string
	start := -1
	var prev rune
	for i, r := range s {
		alnum := unicode.IsLetter(r) || unicode.IsDigit(r)
		switch {
		case !alnum:
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
			}
		case start < 0:
			start = i
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			words = append(words, s[start:i])
			start = i
		}
		prev = r
	}
	if start >= 0 {
		words = append(words, s[start:])
	}
	return words
}

func draftName(k GroupKey, words []string) string {
	if len(words) == 0 {
		switch k.Type {
		case "page":
			words = []string{"Page", "View"}
		case "screen":
			words = []string{"Screen", "View"}
		default:
			words = splitWords(k.Type)
		}
	}
	var name string
	switch {
	case len(words) > 0:
		var b strings.Builder
		for i, w := range words {
			if i > 0 {
				b.WriteByte(' ')
			}
			r, n := utf8.DecodeRuneInString(w)
			b.WriteRune(unicode.ToUpper(r))
			b.WriteString(w[n:])
		}
		name = b.String()
	case strings.TrimSpace(k.Source) != "":
		name = "Signals from " + strings.ToValidUTF8(strings.TrimSpace(k.Source), "\uFFFD")
	default:
		name = "Untitled Signal"
	}
	if utf8.RuneCountInString(name) > MaxNameLen {
		name = strings.TrimSpace(string([]rune(name)[:MaxNameLen]))
	}
	return name
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// guessType maps an event to a signal type; squashed is the event's words
// lowercased and joined ("formsubmitted").
func guessType(typ, squashed string, words []string) SignalType {
	hasWord := func(ws ...string) bool {
		for _, w := range words {
			for _, x := range ws {
				if strings.EqualFold(w, x) {
					return true
				}
			}
		}
		return false
	}
	switch {
	case typ == "page" || typ == "screen" || containsAny(squashed, "pageview", "viewedpage", "screenview"):
		return PageView
	case strings.Contains(squashed, "unsubscrib"):
		return EmailClick // the unsubscribe link; DraftRule also marks it Negative
	case strings.Contains(squashed, "email") && containsAny(squashed, "click"):
		return EmailClick
	case strings.Contains(squashed, "email") && containsAny(squashed, "open"):
		return EmailOpen
	case containsAny(squashed, "form", "submit", "signup", "signedup", "demo", "register", "contactus", "contactsales", "quote"):
		return FormFill
	case containsAny(squashed, "meeting", "opportunit") || hasWord("deal", "deals"):
		return SalesEvent
	}
	return ProductActivity
}

// mappingGuesses: normalised last path segment (lowercase, letters and
// digits only) → target.
var mappingGuesses = map[string]Target{
	"email": TargetEmail, "emailaddress": TargetEmail, "useremail": TargetEmail,
	"workemail": TargetEmail, "contactemail": TargetEmail, "businessemail": TargetEmail,
	"userid": TargetProductUserID, "productuserid": TargetProductUserID,
	"crmid": TargetCRMID, "sfdcid": TargetCRMID, "salesforceid": TargetCRMID, "hsobjectid": TargetCRMID,
	"hubspotid": TargetCRMID, "contactid": TargetCRMID, "leadid": TargetCRMID,
	"mapid": TargetMapID, "mktleadid": TargetMapID, "marketoid": TargetMapID, "marketoleadid": TargetMapID,
	"anonymousid": TargetCDPID, "cdpid": TargetCDPID,
	"title": TargetTitle, "jobtitle": TargetTitle,
}

var targetRank = map[Target]int{
	TargetEmail: 0, TargetProductUserID: 1, TargetCRMID: 2, TargetMapID: 3, TargetCDPID: 4, TargetTitle: 5,
}

const maxGuessesPerTarget = 3

func guessMappings(paths []string) []IdentifierMapping {
	var out []IdentifierMapping
	for _, p := range paths {
		if !validPath(p) {
			continue
		}
		segs := strings.Split(p, ".")
		last := normaliseKey(segs[len(segs)-1])
		t, ok := mappingGuesses[last]
		if !ok {
			continue
		}
		// A bare "title" is a job title only in traits; in page
		// properties it is the document title.
		if t == TargetTitle && last == "title" && len(segs) > 1 && !slices.Contains(segs, "traits") {
			continue
		}
		out = append(out, IdentifierMapping{Path: p, Target: t})
	}
	slices.SortStableFunc(out, func(a, b IdentifierMapping) int {
		if c := cmp.Compare(targetRank[a.Target], targetRank[b.Target]); c != 0 {
			return c
		}
		if c := cmp.Compare(strings.Count(a.Path, "."), strings.Count(b.Path, ".")); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	var kept []IdentifierMapping
	per := map[Target]int{}
	persistent := false
	for _, m := range out {
		if per[m.Target] < maxGuessesPerTarget {
			per[m.Target]++
			kept = append(kept, m)
			persistent = persistent || m.Target.IsPersistent()
		}
	}
	if !persistent {
		kept = append([]IdentifierMapping{{Path: "email", Target: TargetEmail}}, kept...)
	}
	return kept
}

func normaliseKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}
