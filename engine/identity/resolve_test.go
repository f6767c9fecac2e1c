package identity

import (
	"fmt"
	"reflect"
	"testing"
)

const org = "org_test"

// index is a fake store: normalised identifier → lead.
type index map[Identifier]string

func (ix index) lookup(id Identifier) string { return ix[id] }

func email(v string) Identifier { return Identifier{KindEmail, v} }
func user(v string) Identifier  { return Identifier{KindUserID, v} }
func anon(v string) Identifier  { return Identifier{KindAnonymousID, v} }
func crm(v string) Identifier   { return Identifier{KindCRMID, v} }

func TestResolve(t *testing.T) {
	t.Parallel()
	leadAnn := LeadID(org, email("ann@acme.com"))
	store := index{
		email("bob@acme.com"):  "lead_B",
		user("u_bob"):          "lead_B",
		user("u_carol"):        "lead_C",
		anon("a_known"):        "lead_B",
		anon("a_carol"):        "lead_C",
		crm("003_bob"):         "lead_B",
		email("full@acme.com"): "lead_F",
	}
	counts := map[string]int{"lead_B": 4, "lead_C": 2, "lead_F": 49}
	count := func(l string) int { return counts[l] }

	cases := []struct {
		name string
		ids  []Identifier
		g    Guards
		want Resolution
	}{
		{
			name: "new lead from email",
			ids:  []Identifier{email("Ann@Acme.com")},
			want: Resolution{LeadID: leadAnn, Created: true, Link: []Identifier{email("ann@acme.com")}},
		},
		{
			name: "new lead id derives from the strongest identifier, not the first given",
			ids:  []Identifier{crm("003_ann"), user("u_ann"), email("ann@acme.com")},
			want: Resolution{LeadID: leadAnn, Created: true, Link: []Identifier{email("ann@acme.com"), user("u_ann"), crm("003_ann")}},
		},
		{
			name: "existing lead via userId",
			ids:  []Identifier{user("u_bob")},
			want: Resolution{LeadID: "lead_B"},
		},
		{
			name: "existing lead via userId links the new email",
			ids:  []Identifier{user("u_bob"), email("Bob.Smith@acme.com")},
			want: Resolution{LeadID: "lead_B", Link: []Identifier{email("bob.smith@acme.com")}},
		},
		{
			name: "anonymous only",
			ids:  []Identifier{anon("a_new")},
			want: Resolution{Anonymous: true},
		},
		{
			name: "no identifiers at all",
			ids:  nil,
			want: Resolution{Anonymous: true},
		},
		{
			name: "anonymous + email links the anonymous id",
			ids:  []Identifier{anon("a_new"), email("ann@acme.com")},
			want: Resolution{LeadID: leadAnn, Created: true, Link: []Identifier{email("ann@acme.com"), anon("a_new")}},
		},
		{
			name: "anonymous + known email links the anonymous id to that lead",
			ids:  []Identifier{anon("a_new"), email("BOB@acme.com")},
			want: Resolution{LeadID: "lead_B", Link: []Identifier{anon("a_new")}},
		},
		{
			name: "known anonymous id alone goes to its lead, not cold storage",
			ids:  []Identifier{anon("a_known")},
			want: Resolution{LeadID: "lead_B"},
		},
		{
			name: "known + unknown anonymous ids: routed, nothing linked without a persistent id",
			ids:  []Identifier{anon("a_new"), anon("a_known")},
			want: Resolution{LeadID: "lead_B"},
		},
		{
			name: "two anonymous ids of two leads: first wins, other reported",
			ids:  []Identifier{anon("a_carol"), anon("a_known")},
			want: Resolution{LeadID: "lead_C", Conflict: []string{"lead_B"}},
		},
		{
			name: "conflict between two identified leads: not merged, precedence picks the email's lead",
			ids:  []Identifier{user("u_carol"), email("bob@acme.com")},
			want: Resolution{LeadID: "lead_B", Conflict: []string{"lead_C"}},
		},
		{
			name: "conflict: new ids still link to the chosen lead, claimed ones are not stolen",
			ids:  []Identifier{email("bob@acme.com"), user("u_carol"), anon("a_carol"), crm("003_new")},
			want: Resolution{LeadID: "lead_B", Conflict: []string{"lead_C"}, Link: []Identifier{crm("003_new")}},
		},
		{
			name: "new email with an anonymous id known to another lead: new lead, conflict reported, anon not moved",
			ids:  []Identifier{email("ann@acme.com"), anon("a_known")},
			want: Resolution{LeadID: leadAnn, Created: true, Link: []Identifier{email("ann@acme.com")}, Conflict: []string{"lead_B"}},
		},
		{
			name: "blocked values dropped",
			ids:  []Identifier{user("null"), anon("00000000-0000-0000-0000-000000000000"), email("undefined"), crm("-1"), user("u_bob"), Identifier{"phone", "1"}},
			want: Resolution{LeadID: "lead_B", Dropped: []Identifier{user("null"), anon("00000000-0000-0000-0000-000000000000"), email("undefined"), crm("-1"), Identifier{"phone", "1"}}},
		},
		{
			name: "only blocked values: anonymous",
			ids:  []Identifier{user("0"), email("Anonymous")},
			want: Resolution{Anonymous: true, Dropped: []Identifier{user("0"), email("Anonymous")}},
		},
		{
			name: "duplicates after normalisation are linked once",
			ids:  []Identifier{email("ann@acme.com"), email(" ANN@acme.com"), user("u1"), user("u1 ")},
			want: Resolution{LeadID: leadAnn, Created: true, Link: []Identifier{email("ann@acme.com"), user("u1")}},
		},
		{
			name: "cap reached: links beyond the cap dropped, weakest first",
			ids:  []Identifier{email("full@acme.com"), anon("a1"), user("u_full"), crm("c_full")},
			want: Resolution{LeadID: "lead_F", Link: []Identifier{user("u_full")}, CapReached: true, OverCap: []Identifier{crm("c_full"), anon("a1")}},
		},
		{
			name: "cap reached with no room at all",
			ids:  []Identifier{email("bob@acme.com"), anon("a2")},
			g:    Guards{Blocked: DefaultGuards().Blocked, MaxIdentitiesPerPerson: 3},
			want: Resolution{LeadID: "lead_B", CapReached: true, OverCap: []Identifier{anon("a2")}},
		},
		{
			name: "cap on a new lead",
			ids:  []Identifier{email("ann@acme.com"), user("u1"), anon("a1")},
			g:    Guards{MaxIdentitiesPerPerson: 2},
			want: Resolution{LeadID: leadAnn, Created: true, Link: []Identifier{email("ann@acme.com"), user("u1")}, CapReached: true, OverCap: []Identifier{anon("a1")}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			g := c.g
			if g.Blocked == nil && g.MaxIdentitiesPerPerson == 0 {
				g = DefaultGuards()
			}
			got := Resolve(org, c.ids, store.lookup, count, g)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Resolve(%v)\n got %+v\nwant %+v", c.ids, got, c.want)
			}
			checkResolution(t, org, c.ids, store.lookup, count, g, got)
		})
	}
}

func TestResolveNilCallbacks(t *testing.T) {
	t.Parallel()
	got := Resolve(org, []Identifier{anon("a"), user("u")}, nil, nil, DefaultGuards())
	want := Resolution{LeadID: LeadID(org, user("u")), Created: true, Link: []Identifier{user("u"), anon("a")}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := Resolve(org, []Identifier{anon("a")}, nil, nil, Guards{}); !got.Anonymous {
		t.Errorf("anonymous with nil lookup: %+v", got)
	}
}

// TestResolveCountsOnlyToLink: the identity count (a store read in the
// processor) is asked only when the signal brings identifiers to link.
func TestResolveCountsOnlyToLink(t *testing.T) {
	t.Parallel()
	known := index{email("bob@acme.com"): "lead_B", user("u_bob"): "lead_B"}
	cases := []struct {
		name  string
		ids   []Identifier
		asked bool
	}{
		{"known person, nothing new", []Identifier{email("bob@acme.com"), user("u_bob")}, false},
		{"known person, anonymous id only", []Identifier{anon("a1")}, false},
		{"known person, new identifier", []Identifier{email("bob@acme.com"), user("u_bob2")}, true},
		{"new person", []Identifier{email("new@acme.com")}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			asked := false
			Resolve(org, c.ids, known.lookup, func(string) int { asked = true; return 1 }, DefaultGuards())
			if asked != c.asked {
				t.Errorf("count asked = %v, want %v", asked, c.asked)
			}
		})
	}
}

func TestResolveLargeInput(t *testing.T) {
	t.Parallel()
	var ids []Identifier
	for i := range 200 {
		ids = append(ids, anon(fmt.Sprintf("a%d", i%120)), user(fmt.Sprintf("u%d", i%30)))
	}
	got := Resolve(org, ids, nil, nil, DefaultGuards())
	if !got.Created || len(got.Link) != 50 || !got.CapReached || len(got.OverCap) != 150-50 {
		t.Fatalf("links %d, over cap %d, %+v", len(got.Link), len(got.OverCap), got.CapReached)
	}
	if got.LeadID != LeadID(org, user("u0")) {
		t.Errorf("lead %q", got.LeadID)
	}
	checkResolution(t, org, ids, nil, nil, DefaultGuards(), got)
}

// checkResolution asserts the invariants every Resolution must satisfy.
func checkResolution(t *testing.T, org string, ids []Identifier, known Lookup, count func(string) int, g Guards, r Resolution) {
	t.Helper()
	holder := func(id Identifier) string {
		if known == nil {
			return ""
		}
		return known(id)
	}
	if r.Anonymous != (r.LeadID == "") {
		t.Fatalf("Anonymous=%v with LeadID %q", r.Anonymous, r.LeadID)
	}
	if r.Anonymous && (r.Created || r.Link != nil || r.Conflict != nil || r.CapReached) {
		t.Fatalf("anonymous resolution with effects: %+v", r)
	}
	if r.Created {
		var strongest *Identifier
		for _, id := range ids {
			if g.Usable(id) && id.Kind.Persistent() && (strongest == nil || id.Kind.Precedence() < strongest.Kind.Precedence()) {
				n := id.Normalized()
				strongest = &n
			}
		}
		if strongest == nil || r.LeadID != LeadID(org, *strongest) {
			t.Fatalf("created lead %q not derived from the strongest identifier %v", r.LeadID, strongest)
		}
	}
	seen := map[Identifier]bool{}
	hasPersistent := false
	for _, id := range r.Link {
		if seen[id] {
			t.Fatalf("identifier linked twice: %v", id)
		}
		seen[id] = true
		if !g.Usable(id) || id != id.Normalized() {
			t.Fatalf("unusable or unnormalised link %v", id)
		}
		if h := holder(id); h != "" {
			t.Fatalf("link %v already held by %q", id, h)
		}
		hasPersistent = hasPersistent || id.Kind.Persistent()
	}
	if len(r.Link) > 0 && !hasPersistent && r.Created {
		t.Fatalf("created lead without a persistent link")
	}
	room := g.Max()
	if !r.Created && count != nil && r.LeadID != "" {
		room -= count(r.LeadID)
	}
	if len(r.Link) > max(room, 0) {
		t.Fatalf("%d links exceed room %d", len(r.Link), room)
	}
	if r.CapReached != (len(r.OverCap) > 0) {
		t.Fatalf("CapReached=%v with %d over cap", r.CapReached, len(r.OverCap))
	}
	for _, c := range r.Conflict {
		if c == "" || c == r.LeadID {
			t.Fatalf("bad conflict %q (lead %q)", c, r.LeadID)
		}
	}
	for _, d := range r.Dropped {
		if g.Usable(d) {
			t.Fatalf("usable identifier dropped: %v", d)
		}
	}
	// Determinism.
	if again := Resolve(org, ids, known, count, g); !reflect.DeepEqual(again, r) {
		t.Fatalf("not deterministic:\n%+v\n%+v", r, again)
	}
}
