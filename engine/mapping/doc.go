// Package mapping implements signal mapping rules (SPEC §2.5): which incoming
// signals count as which kind of intent, and which payload fields identify
// the lead they belong to.
//
// It is pure domain code: no goroutines, no I/O, no clock reads (every time
// is an argument). Errors a user can act on are *errs.Error values of kind
// invalid whose Field is the dot path into the request ("name",
// "mappings[1].path", "conditions.all[2].op"; "rules[3]." is prefixed by
// Compile).
//
// # Model
//
// A Rule has a signal type, a condition tree (AND/OR over "path op value"
// leaves), a priority, identifier mappings (payload path → lead field) and
// an intent weight and half-life. A RuleSet is a compiled, immutable list of
// rules: Match returns the highest-priority matching rule (ties: the older
// rule, then the smaller id), or nil, in which case the signal is "skipped".
// Extract then applies the winning rule's mappings to the payload.
//
// # Why rules are compiled once per configuration version
//
// Every signal of a tenant is checked against every one of its rules, so the
// per-signal cost must not include anything that depends only on the rules:
// validation, regular-expression compilation, splitting dot paths, parsing
// constant numbers and timestamps, ASCII-lowercasing constant strings and
// sorting by priority. Compile does all of that once, and also numbers the
// distinct paths the rules test so that one Match looks each of them up in
// the payload only once, however many rules share it. Match then walks
// pre-split paths and compares against prepared constants without
// allocating at all (see BenchmarkMatch200Rules and
// TestMatchDoesNotAllocate). The org grain owns the rules and versions its
// configuration; the grains that process signals compile the rules when they
// see a new version and keep the *RuleSet until the next one. Because a
// RuleSet is immutable it can be shared by any number of goroutines without
// locks, and every signal is evaluated against exactly one consistent
// version of the rules — never half an edit — which is also what makes
// "reprocess matching signals" reproducible.
//
// # Why RE2 (Go's regexp) for "matches"
//
// Rule regexes are written by tenants and run against payloads that anyone
// holding an ingestion key — or a public browser tracking key — can shape.
// Backtracking engines (PCRE, JavaScript, .NET) have inputs that take
// exponential time ("catastrophic backtracking", ReDoS), which would let one
// tenant's rule or one hostile payload stall a shared ingest partition for
// every tenant on it. Go's regexp implements RE2: matching is linear in the
// input length, always. The price is that backreferences and look-around are
// not supported; such patterns fail to compile and are rejected with
// invalid_regex when the rule is saved. Patterns are also capped at 512
// characters so the compiled program stays small.
//
// # Condition semantics (our choices, where SPEC §2.5 is silent)
//
//   - Paths are dot paths: segments of [A-Za-z0-9_$@-]+; a numeric segment
//     indexes an array ("items.0.sku") or names an object key ("0"). Keys
//     are case-sensitive (they are JSON keys). At most 256 characters and 16
//     segments. Keys containing dots or spaces cannot be addressed.
//   - Payloads are what encoding/json decodes into map[string]any; numbers
//     may be float64 or json.Number (Decoder.UseNumber) and behave the same.
//   - String comparisons (equals, contains, starts_with, ends_with, in) are
//     case-insensitive using Unicode simple case folding (strings.EqualFold
//     semantics). "matches" is case-sensitive as written; use (?i).
//   - equals compares numerically when at least one side is a real JSON
//     number and the other is a number or a numeric string (42 = "42" =
//     42.0); two strings compare as strings ("42.0" ≠ "42"). Booleans equal
//     true/false or the strings "true"/"false" (any case). Objects, arrays
//     and null never equal anything.
//   - contains, starts_with, ends_with and matches apply to strings only; a
//     number, bool or object never matches them. As an extension, contains
//     on an array is true when an element equals the value (tags lists).
//     Number and bool constants given to string operators are used in their
//     canonical text form.
//   - gt, gte, lt, lte take a number (or numeric string): the payload value
//     must be a number or a numeric string. If the constant is an RFC 3339
//     timestamp ("2025-01-31T00:00:00Z") or full date ("2025-01-31", taken
//     as midnight UTC) the comparison is between instants and the payload
//     value must be such a string too. Anything else never matches.
//   - exists: the path is present and not null. not_exists: absent or null.
//     Neither takes a value.
//   - in: equals (as above) any element of a non-empty list of at most 1000
//     scalars.
//   - not_equals and not_contains are exact negations of equals and
//     contains: a missing path, null or a value of another type makes them
//     true.
//   - An empty condition tree at the root matches every signal (useful for
//     a low-priority catch-all, usually narrowed by Source). An empty node
//     anywhere else is rejected. A node may not mix a leaf with all/any, nor
//     set both all and any (nest them instead). Depth counts nested groups
//     (at most 8); at most 100 leaves per rule.
//   - Source, when set, restricts the rule to signals from that source
//     (compared case-insensitively).
//
// # Unmapped signals
//
// Groups aggregates the signals no rule matched by (source, type, event)
// with a count, first/last seen, up to 50 sample leaf paths and the latest
// payload, keeping at most 1000 groups (least recently seen evicted).
// DraftRule turns a group into a pre-filled rule for a person to finish,
// and RuleSet.Preview / PreviewWins count how many stored signals a draft
// would match (and win against the current rules).
//
// # Weights and half-lives (our defaults)
//
// Intent decays as weight × 0.5^(age / half_life) (SPEC §3.2). When a rule
// leaves them unset, its signal type decides:
//
//	page_view         1.0   7 days
//	form_fill         5.0  30 days
//	product_activity  3.0  14 days
//	sales_event       8.0  30 days
//	email_open        0.5   7 days
//	email_click       1.5  14 days
//
// A Negative rule (e.g. unsubscribes) counts against intent: its effective
// weight is −|weight|.
package mapping
