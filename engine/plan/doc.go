// Package plan holds what TrailSpark knows about plans, billing periods,
// usage meters and quota decisions (SPEC §5), as pure functions: no
// goroutines, no I/O, no clock reads. Every function that depends on time
// takes it as an argument, so every rule here is table-tested with fixed
// instants.
//
// What is pure here:
//   - plan definitions and their validation (Plan, Validate, ValidatePlans,
//     DefaultPlans);
//   - period arithmetic: monthly usage periods anchored on the subscription
//     start, calendar-correct (PeriodFor, Next), and billing terms
//     (BillingPeriod);
//   - meter states and threshold crossings (State, Crossed);
//   - quota decisions for one request (Decide);
//   - plan changes: prorated upgrades, downgrades scheduled at the period
//     end, billing-cycle switches (Upgrade, ScheduleDowngrade, Exceeds,
//     SwitchCycle);
//   - estimated overage charges (Charges).
//
// What the org grain does with it (not here): it is the single writer of an
// organization's Usage and counts exactly, once per accepted unit, keyed by
// idempotency so a replayed signal or a retried evaluation is not counted
// twice; it persists the counts with the org state, rolls Usage over when
// PeriodFor moves on, keeps past periods as history, emits an event for each
// threshold Crossed returns, applies a ScheduledChange when it is Due, and
// passes Plan.WithOverages(org's toggle) to Decide. Ingestion nodes call
// Decide against an approximate local copy of the counts so the ingest path
// never waits on the grain per signal; the grain's exact count is the truth.
package plan
