package identity

import "slices"

// Lookup returns the lead currently holding an identifier ("" if none). It
// receives normalised identifiers (Identifier.Normalized).
type Lookup func(Identifier) string

// Resolution is what Resolve decided for one signal. Empty lists are nil.
type Resolution struct {
	// LeadID is the lead this signal belongs to ("" when Anonymous).
	LeadID string `json:"lead_id,omitempty"`
	// Created: no identifier of the signal was indexed, so a new lead is
	// needed; LeadID = LeadID(org, strongest usable persistent identifier).
	// Because that id is deterministic, "create if absent" is idempotent.
	Created bool `json:"created,omitempty"`
	// Link lists normalised identifiers to index to LeadID: those not yet
	// held by any lead, strongest first, anonymous ids last. Anonymous ids
	// are linked only when the signal also carries a usable persistent
	// identifier; identifiers held by another lead are never re-linked.
	Link []Identifier `json:"link,omitempty"`
	// Anonymous: no usable persistent identifier and no known anonymous id;
	// the signal goes to cold storage.
	Anonymous bool `json:"anonymous,omitempty"`
	// Conflict lists other leads (sorted by the precedence of the identifier
	// that pointed at them, then first seen) that hold one of the signal's
	// identifiers. They are NOT merged: the signal goes to LeadID, chosen
	// by precedence, and the conflict is reported for an explicit admin
	// merge.
	Conflict []string `json:"conflict,omitempty"`
	// CapReached: linking every new identifier would exceed
	// Guards.MaxIdentitiesPerPerson; the excess (weakest first to go) is in
	// OverCap and is not linked.
	CapReached bool         `json:"cap_reached,omitempty"`
	OverCap    []Identifier `json:"over_cap,omitempty"`
	// Dropped lists the identifiers, as given, that Guards.Usable refused.
	Dropped []Identifier `json:"dropped,omitempty"`
}

type candidate struct {
	id     Identifier // normalised
	holder string     // lead holding it, "" if none
}

// Resolve decides which lead a signal with identifiers ids belongs to.
// known returns the lead holding an identifier (nil means nothing is
// indexed); currentCount returns how many identifiers a lead already holds
// (nil means 0). Neither is called for a lead that is being created.
//
// Rules, in order:
//
//  1. Identifiers Guards.Usable refuses go to Dropped; the rest are
//     normalised, de-duplicated and ordered by Kind.Precedence (stable).
//  2. If a usable persistent identifier is held by a lead, the holder of the
//     strongest such identifier is LeadID.
//  3. Otherwise, if there is a usable persistent identifier, a lead is
//     Created from the strongest one — even when an anonymous id of the
//     signal is already held by a lead: a known anonymous id (a browser) is
//     not allowed to pull an unknown person into an identified lead; that
//     lead is reported in Conflict instead.
//  4. Otherwise (anonymous ids only), the holder of the first held
//     anonymous id is LeadID (later signals with a known anonymousId skip
//     cold storage); nothing new is linked.
//  5. Otherwise the signal is Anonymous.
//
// Every other lead holding one of the identifiers is reported in Conflict.
// Link is then capped to Guards.Max() minus currentCount(LeadID);
// currentCount is only asked when there is something to link (it may cost
// a store read, and most signals of a known person link nothing).
func Resolve(org string, ids []Identifier, known Lookup, currentCount func(leadID string) int, g Guards) Resolution {
	var r Resolution
	var small [8]candidate
	cands := small[:0]
	var seen map[Identifier]bool // only for large inputs
	for _, raw := range ids {
		if !g.Usable(raw) {
			r.Dropped = append(r.Dropped, raw)
			continue
		}
		n := raw.Normalized()
		if len(cands) < 16 {
			if slices.ContainsFunc(cands, func(c candidate) bool { return c.id == n }) {
				continue
			}
		} else {
			if seen == nil {
				seen = make(map[Identifier]bool, len(ids))
				for _, c := range cands {
					seen[c.id] = true
				}
			}
			if seen[n] {
				continue
			}
			seen[n] = true
		}
		cands = append(cands, candidate{id: n})
	}
	if len(cands) == 0 {
		r.Anonymous = true
		return r
	}
	slices.SortStableFunc(cands, func(a, b candidate) int {
		return a.id.Kind.Precedence() - b.id.Kind.Precedence()
	})
	if known != nil {
		for i := range cands {
			cands[i].holder = known(cands[i].id)
		}
	}

	persistent := cands[0].id.Kind.Persistent() // sorted: persistent first
	lead := ""
	for _, c := range cands {
		if c.holder != "" && (c.id.Kind.Persistent() || !persistent) {
			lead = c.holder
			break
		}
	}
	switch {
	case lead == "" && persistent:
		lead = LeadID(org, cands[0].id)
		r.Created = true
	case lead == "":
		r.Anonymous = true
		return r
	}
	r.LeadID = lead

	for _, c := range cands {
		if c.holder != "" && c.holder != lead && !slices.Contains(r.Conflict, c.holder) {
			r.Conflict = append(r.Conflict, c.holder)
		}
	}
	if !persistent {
		return r // anonymous ids only: route to the known lead, link nothing
	}
	for _, c := range cands {
		if c.holder == "" {
			r.Link = append(r.Link, c.id)
		}
	}

	if len(r.Link) == 0 {
		return r
	}
	room := g.Max()
	if !r.Created && currentCount != nil {
		room -= currentCount(lead)
	}
	room = max(room, 0)
	if len(r.Link) > room {
		r.CapReached = true
		r.OverCap = slices.Clone(r.Link[room:])
		r.Link = r.Link[:room:room]
		if len(r.Link) == 0 {
			r.Link = nil
		}
	}
	return r
}
