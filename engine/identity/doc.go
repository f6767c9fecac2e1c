// Package identity decides who a signal belongs to (SPEC §2.4): it normalises
// domains and identifiers, refuses sentinel values, derives deterministic lead
// and account ids, resolves a signal's identifiers to one lead, records and
// undoes merges, and matches a lead to an account.
//
// It is pure domain code: no goroutines, no I/O (apart from the embedded
// free-mail list), no clock reads. Every store lookup is done by the caller
// and passed in as a function or a value; this package only decides.
//
// # Identity model
//
// A lead is created from its strongest persistent identifier, in precedence
// order email > user_id > product_user_id > crm_id > map_id > mkt_lead_id,
// and its id is a hash of (org, kind, normalised value) — see LeadID — so a
// signal that carries the identifier the lead was created from can address
// the lead with no index read (PostHog's deterministic person-id trick).
//
// Over-merging is the failure that hurts (peers §3.3), so resolution is
// conservative:
//
//   - sentinel values ("null", "0", "0000-…", …) are dropped (Guards);
//   - a lead holds at most Guards.MaxIdentitiesPerPerson identifiers;
//   - two leads claimed by one signal are never merged here: the signal goes
//     to the lead of its strongest identifier and the other leads are
//     reported as a conflict; merging needs an explicit admin action, which
//     PlanMerge records with a reason and Merge.Undo reverses;
//   - persistent identifiers outrank anonymous links: an anonymous id already
//     linked to lead A never pulls a new, unknown email into A (a shared
//     browser is not a person), it is reported as a conflict instead.
//
// Email values are compared case-insensitively (lower-cased as a whole, like
// seal.NormalizeEmail); every other identifier is compared exactly after
// trimming surrounding white space.
package identity
