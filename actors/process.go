package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trailspark/trailspark/engine/identity"
	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/engine/signal"
	"github.com/trailspark/trailspark/store"
)

// Signal processing statuses (SPEC §2.3), plus "cold": anonymous signals
// held in cold storage until an identify links them to a lead.
const (
	StatusPending           = "pending"
	StatusCompleted         = "completed"
	StatusSkipped           = "skipped"
	StatusFailed            = "failed"
	StatusPermanentlyFailed = "permanently_failed"
	StatusCold              = "cold"
)

// maxAttempts before a signal whose processing keeps failing is parked as
// permanently_failed (with its error kept) so the partition moves on.
const maxAttempts = 5

// rulesSource returns the organization's mapping rules and their version.
type rulesSource func(ctx context.Context) ([]mapping.Rule, uint64, error)

// processor is the logic of one ingest partition grain, a plain struct so
// it is testable without protoactor. It is the only reader of its
// partition; leads it touches may also be touched by another partition (a
// person known by email in one and by user id in another), so lead writes
// are compare-and-set with re-application on conflict.
type processor struct {
	env       *Env
	log       store.SignalLog
	org       string
	partition int
	rules     rulesSource
	// scoring, when set, fetches the scoring configuration; leads with new
	// mapped signals are then evaluated in the flush that stores them.
	scoring       scoringSource
	scoringCfg    *scoringConfig
	scoringVer    uint64
	scoringLoaded bool
	// billing is the plan state (with the scoring configuration); counter
	// is this partition's usage counter; quota decides evaluations.
	billing   *billingSnapshot
	billingAt time.Time
	counter   partitionCounter
	free      *identity.FreeMail
	guards    identity.Guards

	rulesVer   uint64
	ruleSet    *mapping.RuleSet
	mergeEpoch string         // keyMergeEpoch as last seen
	attempts   map[uint64]int // failing signal → attempts so far

	// Caches. An identifier, once linked to a lead, stays linked (only an
	// admin merge or its undo moves it, and checkMerges invalidates), so positive
	// lookups are cached, keyed by the normalised identifier (computing its
	// keyed index is an HMAC, and most signals come from known people);
	// absence is never cached (another partition may link it). Leads are
	// cached with their version: a stale one fails its compare-and-set and
	// is reloaded. Domains are cached for the node (Env.domains) until an
	// account's domain is indexed outside processing (keyDomainEpoch,
	// checked every step): an account created through the API or a CRM
	// sync is seen by the next step.
	idCache     *lru[identity.Identifier, string]
	leadCache   *lru[string, cachedLead]
	domainEpoch store.Version // keyDomainEpoch's version as last seen
	salt        string
}

// cachedLead is a decoded lead at a version. The flush applies changes to
// it in place; a failed write drops it from the cache, so a cached lead
// is always one that was stored.
type cachedLead struct {
	lead *Lead
	ver  store.Version
}

func newProcessor(env *Env, log store.SignalLog, org string, p int, rules rulesSource) *processor {
	return &processor{env: env, log: log, org: org, partition: p, rules: rules,
		free: identity.DefaultFreeMail(), guards: identity.DefaultGuards(), attempts: map[uint64]int{},
		idCache: newLRU[identity.Identifier, string](50000), leadCache: newLRU[string, cachedLead](2000)}
}

// batchSize bounds one processing round. A backlog is where it matters: a
// lead is written once per step however many of its signals the step
// holds, so bigger steps mean fewer lead rewrites, compare-and-set reads
// and compactions. With 20,000 people over 16 partitions, 8,192 signals a
// step doubled in-process throughput over 2,048 (docs/performance.md);
// a step holds its entries in memory (~4 MB at 500 bytes a signal).
const batchSize = 8192

// step processes up to one batch. It returns how many entries it consumed
// and whether more may be waiting. A retryable failure stops the batch at
// the failing signal (later ones wait, keeping per-person order) and is
// returned so the grain retries after a backoff.
func (p *processor) step(ctx context.Context) (int, bool, error) {
	cursor, err := p.log.Cursor(ctx, p.org, p.partition)
	if err != nil {
		return 0, false, err
	}
	entries, err := p.log.ReadPartition(ctx, p.org, p.partition, cursor, batchSize)
	if err != nil || len(entries) == 0 {
		return 0, false, err
	}
	if err := p.refreshRules(ctx); err != nil {
		return 0, false, err
	}
	if err := p.checkMerges(ctx); err != nil {
		return 0, false, err
	}
	if err := p.checkDomains(ctx); err != nil {
		return 0, false, err
	}
	now := p.env.now()
	if err := p.loadCounter(ctx, now); err != nil {
		return 0, false, err
	}
	if err := p.env.quotaFor(p.org).refresh(ctx, p.env, p.org, p.billing, now); err != nil {
		return 0, false, err
	}
	b := newBatch(p)
	var statuses []store.SignalStatus
	received := make([]time.Time, 0, len(entries)) // of the entries consumed, in order
	next := cursor
	var stepErr error
	for _, e := range entries {
		st, err := b.process(ctx, e)
		received = append(received, b.received)
		if errors.Is(err, errNewerStoredSignal) {
			// Not this signal's failure: stop here, and retry the step
			// (with backoff) until a newer node drains the partition.
			stepErr = err
			break
		}
		if err != nil {
			p.attempts[e.ID]++
			if p.attempts[e.ID] < maxAttempts {
				statuses = append(statuses, store.SignalStatus{ID: e.ID, Status: StatusFailed, Error: err.Error(), Attempts: p.attempts[e.ID]})
				stepErr = err
				break
			}
			st = store.SignalStatus{ID: e.ID, Status: StatusPermanentlyFailed, Error: err.Error(), Attempts: p.attempts[e.ID]}
			p.env.Log.Error("signal permanently failed", "org", p.org, "signal", e.ID, "error", err)
		}
		delete(p.attempts, e.ID)
		st.ProcessedAt = p.env.now()
		statuses = append(statuses, st)
		next = e.ID
	}
	// Signals consumed by this step and not counted before (a replay of
	// a batch whose counter was written but whose cursor was not).
	if p.counter.loaded {
		for _, e := range entries {
			if e.ID > next {
				break
			}
			if e.ID > p.counter.cur.UpTo {
				b.pending.signals++
			}
		}
		if next > p.counter.cur.UpTo {
			b.pending.upTo = next
		}
	}
	if err := b.flush(ctx); err != nil {
		return 0, false, err // nothing committed: the whole batch replays
	}
	if err := b.flushCounter(ctx); err != nil {
		return 0, false, err
	}
	// Replayed cold signals get their statuses too.
	statuses = append(statuses, b.replayed...)
	if err := p.log.Commit(ctx, p.org, p.partition, next, statuses); err != nil {
		return 0, false, err
	}
	p.recordRetentionMarks(ctx, entries, received, next) // retention.go
	b.afterCommit(ctx)
	more := len(entries) == batchSize && stepErr == nil
	return len(entries), more, stepErr
}

// checkMerges drops the identifier and lead caches when an admin merged
// or unmerged leads since the last batch (merges.go bumps keyMergeEpoch in
// the same write): cached links would keep identifiers on the wrong lead.
func (p *processor) checkMerges(ctx context.Context) error {
	epoch := ""
	if b, _, err := p.env.Store.Load(ctx, keyMergeEpoch(p.org)); err == nil {
		epoch = string(b)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if epoch != p.mergeEpoch {
		p.idCache = newLRU[identity.Identifier, string](50000)
		p.leadCache = newLRU[string, cachedLead](2000)
		p.mergeEpoch = epoch
	}
	return nil
}

// checkDomains reads the domain epoch for this step: cached domain answers
// of an earlier epoch are not used once an account's domain was indexed or
// unindexed (env.putDomain bumps keyDomainEpoch).
// Processing's own inferred accounts do not bump it: one is only created
// for a domain without accounts, and absence is never cached.
func (p *processor) checkDomains(ctx context.Context) error {
	_, v, err := p.env.Store.Load(ctx, keyDomainEpoch(p.org))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	p.domainEpoch = v // answers of other epochs are not used (domainCache)
	return nil
}

func (p *processor) refreshRules(ctx context.Context) error {
	ver := uint64(0)
	if b, _, err := p.env.Store.Load(ctx, keyConfigVersion(p.org)); err == nil {
		fmt.Sscan(string(b), &ver)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := p.refreshScoring(ctx, ver); err != nil {
		return err
	}
	if p.ruleSet != nil && ver == p.rulesVer {
		return nil
	}
	rules, v, err := p.rules(ctx)
	if err != nil {
		return err
	}
	rs, err := mapping.Compile(rules)
	if err != nil {
		return fmt.Errorf("compile rules: %w", err)
	}
	p.ruleSet, p.rulesVer = rs, v
	return nil
}

// leadChange is what one signal does to a lead; changes are re-applied
// onto a freshly loaded lead when a concurrent write wins.
type leadChange func(l *Lead)

type batch struct {
	p        *processor
	changes  map[string][]leadChange // lead id → changes in order
	order    []string
	links    map[identity.Identifier]string // normalised identifier → lead id, as proposed in this batch (lookups see them)
	linked   map[string]int                 // lead id → identifiers proposed for it in this batch
	accepted map[string]string              // links the leads accepted in the flush being built (only these are written)
	replayed []store.SignalStatus
	accounts map[string]*Account // loaded for evaluations, once per batch
	// pending is the usage not yet written with a lead chunk (the
	// batch's signals, until the first chunk write carries them).
	pending  usageDelta
	coldDone []coldTaken // cold entries to delete once the batch is committed
	// received is when the entry process last handled was received (zero
	// when undecodable): the retention marks need it, and the entry is
	// decoded here anyway.
	received time.Time
}

type coldTaken struct {
	key string
	ids []uint64
}

func newBatch(p *processor) *batch {
	return &batch{p: p, changes: map[string][]leadChange{}, links: map[identity.Identifier]string{}, linked: map[string]int{}}
}

func (b *batch) change(lead string, c leadChange) {
	if _, ok := b.changes[lead]; !ok {
		b.order = append(b.order, lead)
	}
	b.changes[lead] = append(b.changes[lead], c)
}

// lookup resolves a normalised identifier, seeing this batch's unflushed
// links.
func (b *batch) lookup(ctx context.Context, id identity.Identifier) (string, error) {
	if lead, ok := b.links[id]; ok {
		return lead, nil
	}
	if lead, ok := b.p.idCache.get(id); ok {
		return lead, nil
	}
	lead, err := b.p.env.lookupIdentity(ctx, b.p.org, string(id.Kind), id.Value)
	if err == nil && lead != "" {
		b.p.idCache.put(id, lead)
	}
	return lead, err
}

// process handles one log entry and returns its status. replay is set for
// cold-stored signals replayed after an identify.
func (b *batch) process(ctx context.Context, e store.LogEntry) (store.SignalStatus, error) {
	b.received = time.Time{}
	return b.processEntry(ctx, e, false)
}

func (b *batch) processEntry(ctx context.Context, e store.LogEntry, replay bool) (store.SignalStatus, error) {
	var s storedSignal
	if err := decodeStoredSignal(e.Data, &s); err != nil {
		if errors.Is(err, errNewerStoredSignal) {
			return store.SignalStatus{}, fmt.Errorf("signal %d: %w; retrying until a node of that release processes this partition", e.ID, err)
		}
		return store.SignalStatus{ID: e.ID, Status: StatusPermanentlyFailed, Error: "undecodable log entry: " + err.Error()}, nil
	}
	if !replay {
		b.received = s.ReceivedAt
	}
	// Numbers stay json.Number, so large numeric ids (CRM ids beyond 2^53)
	// are exact.
	payload, err := signal.DecodePayload(s.Payload)
	if err != nil {
		return store.SignalStatus{ID: e.ID, Status: StatusPermanentlyFailed, Error: "payload is not a JSON object"}, nil
	}
	rule := b.p.ruleSet.Match(payload, s.Source)
	ids := signalIdentifiers(&s)
	var title string
	if rule != nil {
		ex := mapping.Extract(rule, payload)
		ids = append(ids, extractedIdentifiers(ex)...)
		title = ex.Title
	}
	if title == "" && s.Type == "identify" {
		// An identify describes the person: its traits' job title (a CRM
		// sync's mapped title arrives this way) sets the lead's, with or
		// without a rule that maps it.
		title = traitTitle(payload)
	}

	// Resolve against the index (and this batch's new links).
	known := map[identity.Identifier]string{}
	var lookupErr error
	for _, id := range ids {
		n := id.Normalized()
		lead, err := b.lookup(ctx, n)
		if err != nil {
			lookupErr = err
			break
		}
		known[n] = lead
	}
	if lookupErr != nil {
		return store.SignalStatus{}, lookupErr
	}
	// Lead ids hash the first identifier (an email, often): derive them
	// under a keyed salt so an id never lets anyone confirm a guessed
	// address (emails are only ever stored behind keyed hashes).
	res := identity.Resolve(b.p.leadSalt(), ids, func(id identity.Identifier) string { return known[id.Normalized()] },
		func(lead string) int { return b.identityCount(ctx, lead) }, b.p.guards)
	if res.Anonymous || res.LeadID == "" {
		// Signals with no identifier at all are kept (for the retention)
		// under a key no anonymous id can produce, so an identify can never
		// pull them onto a lead.
		key := noIDColdKey
		if s.AnonymousID != "" {
			key = anonColdKey(s.AnonymousID)
		}
		if err := b.p.log.PutCold(ctx, b.p.org, key, e, b.p.coldRetention()); err != nil {
			return store.SignalStatus{}, err
		}
		return store.SignalStatus{ID: e.ID, Status: StatusCold}, nil
	}
	leadID := res.LeadID
	// New links are proposals: the lead's change accepts them (or drops
	// them at the identity cap) against the fresh lead record inside the
	// flush, and only accepted links are written, in the same atomic write
	// as the lead. That keeps the cap exact even when several partitions
	// add identifiers to one person at once.
	type proposal struct {
		id  identity.Identifier
		key string
	}
	var proposals []proposal
	var newAnon []string
	for _, id := range res.Link {
		prev, had := b.links[id]
		if prev == leadID {
			continue
		}
		if had {
			b.linked[prev]--
		}
		b.links[id] = leadID
		b.linked[leadID]++
		k := string(keyIdentity(b.p.org, string(id.Kind), b.p.env.Sealer.Index("id:"+string(id.Kind), id.Value)))
		proposals = append(proposals, proposal{id: id, key: k})
		if id.Kind == identity.KindAnonymousID {
			newAnon = append(newAnon, id.Value)
		}
	}
	// Identifiers already indexed to this lead (e.g. earlier in this batch)
	// are listed on it too; identifiers owned by another lead are not.
	var owned []identity.Identifier
	for _, id := range ids {
		n := id.Normalized()
		if n.Kind.Persistent() && b.p.guards.Usable(n) && known[n] == leadID {
			owned = append(owned, n)
		}
	}
	status := StatusSkipped
	entry := TimelineEntry{SignalID: e.ID, At: s.Timestamp, Source: s.Source, Event: s.Event, Type: s.Type}
	if rule != nil {
		status = StatusCompleted
		entry.RuleID, entry.RuleName, entry.SignalType = rule.ID, rule.Name, string(rule.SignalType)
		entry.HighIntent, entry.Weight = rule.HighIntent, rule.EffectiveWeight()
		entry.HalfLifeH = rule.EffectiveHalfLife().Hours()
	}
	acct, err := b.matchAccount(ctx, &s, leadID)
	if err != nil {
		return store.SignalStatus{}, err
	}
	now := b.p.env.now()
	conflicts := res.Conflict
	part := strconv.Itoa(e.Partition)
	capacity := b.p.guards.Max()
	b.change(leadID, func(l *Lead) {
		// Applied already (a replay after a crash)?
		if replay {
			if l.hasSignal(e.ID) {
				return
			}
		} else if e.ID <= l.AppliedUpTo[part] {
			return
		} else {
			if l.AppliedUpTo == nil {
				l.AppliedUpTo = map[string]uint64{}
			}
			l.AppliedUpTo[part] = e.ID
		}
		if l.CreatedAt.IsZero() {
			l.CreatedAt = now
		}
		for _, p := range proposals {
			if p.id.Kind != identity.KindAnonymousID && l.hasIdentifier(string(p.id.Kind), p.id.Value) {
				b.accepted[p.key] = leadID
				continue
			}
			if len(l.Identifiers)+l.AnonymousLinks >= capacity {
				l.CapReached = true
				continue
			}
			b.accepted[p.key] = leadID
			if p.id.Kind == identity.KindAnonymousID {
				l.AnonymousLinks++
				continue
			}
			l.addIdentifier(string(p.id.Kind), p.id.Value)
			if p.id.Kind == identity.KindEmail && l.Email == "" {
				l.Email = p.id.Value
			}
		}
		for _, id := range owned {
			l.addIdentifier(string(id.Kind), id.Value)
			if id.Kind == identity.KindEmail && l.Email == "" {
				l.Email = id.Value
			}
		}
		if title != "" {
			l.Title = title
		}
		if acct != nil && (l.Account == nil || acct.How == "explicit" || l.Account.How == "inferred_domain") {
			if acct.AccountID != "" {
				l.Account, l.Unmatched = acct, ""
			} else if l.Account == nil {
				l.Unmatched = unmatchedReason(acct)
			}
		}
		l.SignalCount++
		if entry.RuleID != "" {
			l.MappedCount++
			if l.CountsByType == nil {
				l.CountsByType = map[string]int{}
			}
			l.CountsByType[entry.SignalType]++
		}
		if l.FirstSeenAt.IsZero() || entry.At.Before(l.FirstSeenAt) {
			l.FirstSeenAt = entry.At
		}
		if entry.At.After(l.LastSeenAt) {
			l.LastSeenAt = entry.At
		}
		l.Timeline = append(l.Timeline, entry)
		l.touched = true
		if entry.SignalType != "" {
			l.addWindow(WindowSignal{SignalID: entry.SignalID, Type: entry.SignalType, At: entry.At, Weight: entry.Weight,
				HalfLifeH: entry.HalfLifeH, HighIntent: entry.HighIntent, Rule: entry.RuleName})
			l.newSignals = true
			l.newHighIntent = l.newHighIntent || entry.HighIntent
		}
		slices.SortStableFunc(l.Timeline, func(a, b TimelineEntry) int { return a.At.Compare(b.At) })
		if len(l.Timeline) > maxTimeline {
			l.Timeline = l.Timeline[len(l.Timeline)-maxTimeline:]
		}
		for _, c := range conflicts {
			if c != l.ID && !contains(l.Conflicts, c) {
				l.Conflicts = append(l.Conflicts, c)
			}
		}
		l.UpdatedAt = now
	})
	st := store.SignalStatus{ID: e.ID, Status: status, RuleID: entry.RuleID, LeadID: leadID}
	if acct != nil {
		st.AccountID = acct.AccountID
	}
	// An anonymous id newly linked to this lead: replay what it left in
	// cold storage, now that it has an owner.
	// The cold entries are deleted only after the batch commits, so a
	// crash mid-replay replays again (applying is idempotent per signal).
	for _, anon := range newAnon {
		cold, err := b.p.log.ReadCold(ctx, b.p.org, anonColdKey(anon))
		if err != nil {
			return store.SignalStatus{}, err
		}
		var ids []uint64
		for _, ce := range cold {
			rst, err := b.processEntry(ctx, ce, true)
			if err != nil {
				return store.SignalStatus{}, err
			}
			rst.ProcessedAt = now
			b.replayed = append(b.replayed, rst)
			ids = append(ids, ce.ID)
		}
		if len(ids) > 0 {
			b.coldDone = append(b.coldDone, coldTaken{key: anonColdKey(anon), ids: ids})
		}
	}
	return st, nil
}

// traitTitle is the job title an identify carries in its traits (or
// context.traits), trimmed and bounded; "" if none.
func traitTitle(payload map[string]any) string {
	for _, p := range [...]string{"traits.title", "traits.job_title", "traits.jobtitle",
		"context.traits.title", "context.traits.job_title", "context.traits.jobtitle"} {
		v, _ := mapping.Lookup(payload, p)
		if t, ok := v.(string); ok {
			if t = strings.TrimSpace(t); t != "" {
				if utf8.RuneCountInString(t) > 200 {
					t = string([]rune(t)[:200])
				}
				return t
			}
		}
	}
	return ""
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func unmatchedReason(a *AccountLink) string {
	if len(a.Ambiguous) > 0 {
		return "ambiguous_domain"
	}
	return a.How
}

// signalIdentifiers lists the identifiers a signal carries itself.
func signalIdentifiers(s *storedSignal) []identity.Identifier {
	var out []identity.Identifier
	add := func(k identity.Kind, v string) {
		if v != "" {
			out = append(out, identity.Identifier{Kind: k, Value: v})
		}
	}
	add(identity.KindEmail, s.Email)
	add(identity.KindUserID, s.UserID)
	add(identity.KindProductUserID, s.ProductUserID)
	add(identity.KindCRMID, s.CRMID)
	add(identity.KindMapID, s.MapID)
	add(identity.KindMktLeadID, s.MktLeadID)
	add(identity.KindAnonymousID, s.AnonymousID)
	return out
}

// extractedIdentifiers maps a rule's identifier mappings to identifiers.
func extractedIdentifiers(ex mapping.Extracted) []identity.Identifier {
	var out []identity.Identifier
	add := func(k identity.Kind, v string) {
		if v != "" {
			out = append(out, identity.Identifier{Kind: k, Value: v})
		}
	}
	add(identity.KindEmail, ex.Email)
	add(identity.KindMapID, ex.MapID)
	add(identity.KindCRMID, ex.CRMID)
	add(identity.KindProductUserID, ex.ProductUserID)
	add(identity.KindAnonymousID, ex.CDPID)
	return out
}

// matchAccount decides the lead's account from the signal: explicit group
// id, else the email's corporate domain (creating an inferred account when
// none has it), never a free-mail domain.
func (b *batch) matchAccount(ctx context.Context, s *storedSignal, leadID string) (*AccountLink, error) {
	env, org := b.p.env, b.p.org
	var c identity.AccountCandidates
	if s.GroupID != "" {
		acct, _, err := env.Store.Load(ctx, keyGroup(org, env.Sealer.Index("group", s.GroupID)))
		switch {
		case err == nil:
			c.Explicit = string(acct)
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	domain := identity.EmailDomain(s.Email)
	if c.Explicit == "" && domain == "" {
		return nil, nil
	}
	if domain != "" && !b.p.free.IsFree(domain) {
		if accounts, ok := env.domains.get(org, domain, b.p.domainEpoch); ok {
			c.ByDomain = accounts
		} else {
			prefix := keyDomainPrefix(org, domain)
			err := env.Store.Scan(ctx, prefix, nil, func(it store.Item) error {
				c.ByDomain = append(c.ByDomain, string(it.Key[len(prefix):]))
				return nil
			})
			if err != nil {
				return nil, err
			}
			if len(c.ByDomain) > 0 { // absence is not cached: an inferred account may be created next
				env.domains.put(org, domain, b.p.domainEpoch, c.ByDomain)
			}
		}
	}
	m := identity.MatchAccount(org, s.Email, c, b.p.free)
	if m.Infer != "" {
		if err := env.ensureInferredAccount(ctx, org, m.AccountID, m.Infer); err != nil {
			return nil, err
		}
		// The domain now has this account: the next signal from it needs
		// no scan (each of a store read, waiting behind the writes in flight).
		if m.Infer == domain {
			env.domains.put(org, domain, b.p.domainEpoch, []string{m.AccountID})
		}
	}
	if m.AccountID == "" && len(m.Ambiguous) == 0 {
		if domain != "" && b.p.free.IsFree(domain) {
			return &AccountLink{How: "free_email_domain"}, nil
		}
		return nil, nil
	}
	return &AccountLink{AccountID: m.AccountID, How: m.How, Ambiguous: m.Ambiguous}, nil
}

// ensureInferredAccount creates the account inferred from a corporate
// domain, once (a create-only write; losing the race is fine).
func (e *Env) ensureInferredAccount(ctx context.Context, org, id, domain string) error {
	now := e.now()
	a := Account{ID: id, Name: domain, Domain: domain, Inferred: true, Source: "inferred", CreatedAt: now, UpdatedAt: now}
	b, _ := json.Marshal(a)
	if _, err := e.Store.Save(ctx, keyAccount(org, id), b, 0); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return e.putIndex(ctx, keyDomain(org, domain, id), "")
}

// flush writes the batch in one atomic store write: identity links
// (hints a reader verifies) and every touched lead at the version it was
// read at. When another partition wrote one of those leads meanwhile, the
// whole flush reloads and re-applies its changes.
func (b *batch) flush(ctx context.Context) error {
	// Leads are written in chunks: one store transaction has a size limit
	// (a few MB on the small store profile), and a lead's own writes (its
	// record and the links it accepted) are what must be atomic together.
	for start := 0; start < len(b.order); start += flushChunk {
		if err := b.flushLeads(ctx, b.order[start:min(start+flushChunk, len(b.order))]); err != nil {
			return err
		}
	}
	return nil
}

// flushChunk is how many leads one flush transaction writes.
const flushChunk = 64

// flushLeads writes the changes of the leads in order (see flush).
func (b *batch) flushLeads(ctx context.Context, order []string) error {
	env := b.p.env
	for attempt := 0; attempt < 8; attempt++ {
		b.accepted = map[string]string{}
		// A lead merged into another by an admin (merges.go) takes no new
		// signals: its changes go to the survivor (merged_into, followed
		// once), and so do the links they accept. targets lists the leads
		// written, each once, with the changes of every lead sent to it.
		var targets []string
		loaded := map[string]cachedLead{}
		redirect := map[string]string{}
		sources := map[string][]string{}
		for _, id := range order {
			l, ver, err := b.loadLead(ctx, id, attempt > 0)
			if err != nil {
				return err
			}
			t := id
			if l != nil && l.MergedInto != "" && l.MergedInto != id {
				t = l.MergedInto
				redirect[id] = t
			} else {
				loaded[id] = cachedLead{lead: l, ver: ver}
			}
			if _, ok := sources[t]; !ok {
				targets = append(targets, t)
			}
			sources[t] = append(sources[t], id)
		}
		if err := b.p.loadCounter(ctx, b.p.env.now()); err != nil {
			return err
		}
		delta := b.pending
		leads := make([]*Lead, len(targets))
		var leadWrites, extra []store.Write
		for i, id := range targets {
			cl, ok := loaded[id]
			if !ok {
				l, ver, err := b.loadLead(ctx, id, attempt > 0)
				if err != nil {
					return err
				}
				cl = cachedLead{lead: l, ver: ver}
			}
			l, ver := cl.lead, cl.ver
			if l == nil {
				l = &Lead{ID: id, Identifiers: []LeadIdentifier{}, CountsByType: map[string]int{}}
			}
			for _, src := range sources[id] {
				for _, c := range b.changes[src] {
					c(l)
				}
			}
			if l.touched && b.p.counter.loaded && l.ActivePeriod != b.p.counter.pk {
				l.ActivePeriod = b.p.counter.pk // first signal of the period: an active lead
				delta.active++
			}
			l.touched = false
			evWrites, err := b.evaluateInFlush(ctx, l)
			if err != nil {
				return err
			}
			if len(evWrites) > 0 {
				delta.evals++
			}
			extra = append(extra, evWrites...)
			buf, err := encodeLead(l)
			if err != nil {
				return err
			}
			leads[i] = l
			leadWrites = append(leadWrites, store.Write{Key: keyLead(b.p.org, id), Value: buf, Expected: ver})
		}
		for k, lead := range b.accepted {
			if t, ok := redirect[lead]; ok {
				b.accepted[k] = t
			}
		}
		writes := make([]store.Write, 0, len(b.accepted)+len(extra)+len(leadWrites))
		for k, lead := range b.accepted {
			writes = append(writes, store.Write{Key: []byte(k), Value: []byte(lead), Expected: store.AnyVersion})
		}
		writes = append(writes, extra...)
		cw, landing, hasCounter := b.p.counterWrite(delta)
		if hasCounter {
			writes = append(writes, cw)
		}
		writes = append(writes, leadWrites...)
		vers, err := env.Store.SaveBatch(ctx, writes)
		if err == nil {
			if hasCounter {
				b.p.commitCounter(landing, vers[len(writes)-len(targets)-1])
				b.pending = usageDelta{}
			}
			off := len(writes) - len(targets)
			for i, id := range targets {
				b.p.leadCache.put(id, cachedLead{lead: leads[i], ver: vers[off+i]})
			}
			return nil
		}
		if hasCounter {
			b.p.abandonCounter(landing)
		}
		for _, id := range targets {
			b.p.leadCache.del(id)
		}
		for _, id := range order {
			b.p.leadCache.del(id)
		}
		b.p.counter.loaded = false // reread on the next attempt (another activation may have written it)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("leads of this batch: too many concurrent writers")
}

// identityCount is how many identifiers a lead holds (for the cap of SPEC
// §2.4), including anonymous ids and links made earlier in this batch.
func (b *batch) identityCount(ctx context.Context, lead string) int {
	n := 0
	if l, _, err := b.loadLead(ctx, lead, false); err == nil && l != nil {
		n = len(l.Identifiers) + l.AnonymousLinks
	}
	return n + b.linked[lead]
}

// leadSalt is the organization's keyed salt for deterministic lead ids.
func (p *processor) leadSalt() string {
	if p.salt == "" {
		p.salt = p.env.Sealer.Index("lead-id", p.org)
	}
	return p.salt
}

// loadLead reads a lead from the cache or the store.
func (b *batch) loadLead(ctx context.Context, id string, fresh bool) (*Lead, store.Version, error) {
	if !fresh {
		if c, ok := b.p.leadCache.get(id); ok {
			return c.lead, c.ver, nil
		}
	}
	return b.p.env.loadLead(ctx, b.p.org, id)
}

// afterCommit removes cold entries whose replay is now committed.
func (b *batch) afterCommit(ctx context.Context) {
	for _, c := range b.coldDone {
		if err := b.p.log.DeleteCold(ctx, b.p.org, c.key, c.ids); err != nil {
			b.p.env.Log.Warn("deleting replayed cold signals; they will replay again harmlessly", "org", b.p.org, "error", err)
		}
	}
}

// Cold-storage keys: "a:" + anonymous id, or a key for signals with no
// identifier at all that no anonymous id can produce.
const noIDColdKey = "x:no-identifier"

func anonColdKey(anon string) string { return "a:" + anon }
