package actors

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/outbox"
	"github.com/trailspark/trailspark/sdk/connector"
	"github.com/trailspark/trailspark/store"
)

// CRM write-back (SPEC §4). Salesforce: a person whose CRM id is a Contact
// (003…) is written on the Contact, a Lead id (00Q…) on the Lead — when
// Salesforce refuses a converted Lead the connector writes its Contact
// instead, never the converted Lead. Without an id the person is matched
// by email: Contacts first (a converted person is a Contact), then
// unconverted Leads (the connector's email match skips converted ones),
// then, when create_if_not_found allows the grade, a new Lead with the
// last name and company Salesforce requires. HubSpot: contacts by id or by
// email (upsert when a create is allowed). The account propensity goes to
// the Account/company by the account's CRM id (its external id).
//
// Id memory: a delivery stores the record it wrote (record_id, object) in
// the lead's change-only state, and later deliveries of a person without
// a CRM id of their own go to it by id, with no email lookup (a Lead id
// whose Lead was since written as its Contact goes to the Contact). When
// the CRM refuses a remembered id (deleted, merged), the delivery falls
// back to matching by email in the same round.

// crmTarget is one queued item on its way to the CRM.
type crmTarget struct {
	q      *queued
	next   outbox.State
	last   *outbox.State // last delivered (nil: none)
	id     string        // CRM record id when known
	object string        // object for the id
	done   bool
	// remembered: id comes from the state's id memory (on a refusal the
	// target falls back to email); noMemory: do not use the memory.
	remembered, noMemory bool
}

// crm delivers a round's batches (each at most the vendor's limit, every
// lead at most once in the round), outboxSends at a time, and stores each
// batch's outcomes when it is done. It returns how many batches went.
func (r *round) crm(ctx context.Context, batches [][]queued) (int, error) {
	_, conn, cfg, err := r.w.st.resolve(ctx, r.org, r.d.ConnectionID)
	if err != nil {
		cerr := connector.Retryable("connection %s: %v", r.d.ConnectionID, err)
		if errs.As(err).Kind == errs.KindNotFound {
			cerr = connector.Permanent("connection %s no longer exists", r.d.ConnectionID)
		}
		for _, b := range batches {
			for i := range b {
				r.fail(ctx, &b[i], cerr)
			}
		}
		r.flush(ctx)
		return 0, nil
	}
	r.conn, r.cfg = conn, cfg
	bver, err := r.w.env.loadJSON(ctx, keyOutboxBudget(r.org, r.d.ID), &r.bud)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		r.flush(ctx) // the superseded
		return 0, err
	}
	r.bud.Allowance = r.d.DailyBudget
	r.bud.Roll(r.now)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sent     int
	)
	sem := make(chan struct{}, max(1, outboxSends))
	started := time.Now()
	for _, b := range batches {
		// Stay well inside the lease: the rest waits for the next round.
		if ctx.Err() != nil || time.Since(started) > outboxLeaseTTL/2 {
			break
		}
		sem <- struct{}{}
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			<-sem
			break
		}
		wg.Add(1)
		sent++
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := r.crmBatch(ctx, b)
			r.flush(ctx)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.flush(ctx) // the superseded, when no batch went
	r.mu.Lock()
	buf, merr := json.Marshal(r.bud)
	r.mu.Unlock()
	if merr == nil {
		if _, serr := r.w.env.Store.Save(ctx, keyOutboxBudget(r.org, r.d.ID), buf, bver); serr != nil && !errors.Is(serr, store.ErrConflict) {
			r.w.env.Log.Warn("save delivery budget", "org", r.org, "destination", r.d.ID, "error", serr)
		}
	}
	return sent, firstErr
}

// crmBatch delivers one batch: change-only, the budget, the writes.
func (r *round) crmBatch(ctx context.Context, kept []queued) error {
	var targets []*crmTarget
	high := false
	for i := range kept {
		q := &kept[i]
		t := &crmTarget{q: q, next: itemState(&q.item)}
		last, err := r.state(ctx, q.item.LeadID)
		if err != nil {
			return err
		}
		t.last = last
		if changed, why := outbox.Changed(last, t.next, r.d.ScoreBand); !changed {
			r.finish(ctx, q, outbox.StatusSkipped, why)
			continue
		}
		if outbox.HighPriority(last, t.next) {
			high = true
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return nil
	}
	// The budget: one call is reserved while the batch goes (so
	// concurrent batches see it), the rest counted when it is done.
	r.mu.Lock()
	ok, why := r.bud.Allow(1, high)
	low := r.bud.Low()
	_, lowWhy := r.bud.Allow(1, false)
	if ok {
		r.bud.Spend(1)
	}
	r.mu.Unlock()
	if !ok {
		for _, t := range targets {
			r.defer_(ctx, t.q, outbox.NextDay(r.now), why)
		}
		return nil
	}
	if low {
		// Only high-priority changes spend a low budget.
		var keep []*crmTarget
		for _, t := range targets {
			if outbox.HighPriority(t.last, t.next) {
				keep = append(keep, t)
			} else {
				r.defer_(ctx, t.q, outbox.NextDay(r.now), lowWhy)
			}
		}
		targets = keep
	}
	calls := 0
	write := func(object string, ts []*crmTarget, mk func(t *crmTarget) connector.ScoreUpdate) ([]connector.WriteResult, error) {
		if len(ts) == 0 {
			return nil, nil
		}
		req := connector.WriteRequest{Object: object}
		for _, t := range ts {
			req.Updates = append(req.Updates, mk(t))
		}
		calls++
		return r.conn.Write(ctx, r.cfg, req)
	}
	var err error
	switch r.d.Kind {
	case outbox.KindSalesforce:
		err = r.salesforce(ctx, targets, write)
	default:
		err = r.hubspot(ctx, targets, write)
	}
	if err == nil {
		r.accounts(ctx, targets, write)
	}
	r.mu.Lock()
	r.bud.Spend(calls - 1)
	r.mu.Unlock()
	return err
}

type writeFn func(object string, ts []*crmTarget, mk func(t *crmTarget) connector.ScoreUpdate) ([]connector.WriteResult, error)

// fieldsFor are the mapped fields of object, falling back to the other
// person object's mapping (a Lead mapping serves its converted Contact).
func (r *round) fieldsFor(object string) outbox.ObjectFields {
	if f, ok := r.d.Fields[object]; ok {
		return f
	}
	for _, f := range r.d.Fields {
		return f
	}
	return outbox.ObjectFields{}
}

func (r *round) updateOf(t *crmTarget, object string, byID bool) connector.ScoreUpdate {
	v := r.fieldsFor(object).Values(t.next, t.q.item.EvaluatedAt)
	buf, _ := json.Marshal(v)
	u := connector.ScoreUpdate{Fields: buf, IdempotencyKey: t.q.item.Seq}
	if byID {
		u.RecordID = t.id
	} else {
		u.Email = t.q.item.Email
	}
	return u
}

func (r *round) mayCreate(t *crmTarget) bool {
	return r.d.CreateIfNotFound && slices.Contains(r.d.CreateGrades, t.next.Grade) && strings.Contains(t.q.item.Email, "@")
}

// apply records one batch's results; notFound collects the targets the CRM
// did not find (for the next step) when non-nil, and stale the ones whose
// remembered id the CRM refused (for matching by email again).
func (r *round) apply(ctx context.Context, object string, ts []*crmTarget, res []connector.WriteResult, err error, notFound, stale *[]*crmTarget) {
	if err != nil {
		for _, t := range ts {
			t.done = true
			r.fail(ctx, t.q, err)
		}
		return
	}
	for i, t := range ts {
		if i >= len(res) {
			t.done = true
			r.fail(ctx, t.q, connector.Retryable("the connector returned no result for this record"))
			continue
		}
		wr := res[i]
		if wr.Err != nil {
			if notFound != nil && wr.Err.Kind == connector.KindNotFound && t.id == "" {
				*notFound = append(*notFound, t)
				continue
			}
			if stale != nil && t.remembered && (wr.Err.Kind == connector.KindNotFound || wr.Err.Kind == connector.KindPermanent) {
				t.id, t.object, t.remembered, t.noMemory = "", "", false, true
				*stale = append(*stale, t)
				continue
			}
			t.done = true
			r.fail(ctx, t.q, wr.Err)
			continue
		}
		t.done = true
		obj := r.objectOf(object, wr.RecordID)
		t.q.item.RecordID, t.q.item.Object, t.q.item.Created = wr.RecordID, obj, wr.Created
		note := ""
		if wr.Unchanged {
			note = "the CRM already had these values"
		}
		st := t.next
		if wr.RecordID != "" {
			st.RecordID, st.Object = wr.RecordID, obj // the id memory
		}
		r.saveState(t.q.item.LeadID, st)
		r.finish(ctx, t.q, outbox.StatusDelivered, note)
	}
}

func (r *round) notInCRM(ctx context.Context, ts []*crmTarget) {
	for _, t := range ts {
		t.done = true
		why := "no matching record in the CRM and create_if_not_found is off"
		if r.d.CreateIfNotFound {
			why = "no matching record in the CRM; grade " + t.next.Grade + " is not one create_if_not_found creates"
		}
		if !strings.Contains(t.q.item.Email, "@") {
			why = "no CRM id and no email to match the lead by"
		}
		r.finish(ctx, t.q, outbox.StatusSkipped, why)
	}
}

// objectOf is the object a written record is: Salesforce ids say it by
// their prefix (a Lead update may have gone to its converted Contact).
func (r *round) objectOf(object, id string) string {
	if r.d.Kind == outbox.KindSalesforce {
		switch {
		case strings.HasPrefix(id, "003"):
			return "Contact"
		case strings.HasPrefix(id, "00Q"):
			return "Lead"
		}
	}
	return object
}

// sfTarget picks the record a Salesforce delivery goes to by id: the
// person's Contact id; else, when the memory holds the Contact the
// person's Lead was written as (converted), that Contact (unless
// converted_leads=skip); else the Lead id; else the remembered record.
func (r *round) sfTarget(t *crmTarget) {
	var contact, lead string
	for _, id := range t.q.item.CRMIDs {
		switch {
		case strings.HasPrefix(id, "003") && contact == "":
			contact = id
		case strings.HasPrefix(id, "00Q") && lead == "":
			lead = id
		}
	}
	var memID, memObj string
	if m := t.last; m != nil && !t.noMemory && (m.Object == "Contact" || m.Object == "Lead") && m.RecordID != "" {
		memID, memObj = m.RecordID, m.Object
	}
	switch {
	case contact != "":
		t.id, t.object = contact, "Contact"
	case lead != "" && memObj == "Contact" && r.cfg.Option("converted_leads", "contact") == "contact":
		t.id, t.object, t.remembered = memID, memObj, true
	case lead != "":
		t.id, t.object = lead, "Lead"
	case memID != "":
		t.id, t.object, t.remembered = memID, memObj, true
	}
}

func (r *round) salesforce(ctx context.Context, targets []*crmTarget, write writeFn) error {
	var contacts, leadsByID, byEmail []*crmTarget
	for _, t := range targets {
		r.sfTarget(t)
		switch {
		case t.object == "Contact":
			contacts = append(contacts, t)
		case t.object == "Lead":
			leadsByID = append(leadsByID, t)
		case strings.Contains(t.q.item.Email, "@"):
			byEmail = append(byEmail, t)
		default:
			r.notInCRM(ctx, []*crmTarget{t})
		}
	}
	// Contacts: by id, and by email (a converted person is a Contact).
	step1 := append(append([]*crmTarget(nil), contacts...), byEmail...)
	res, err := write("Contact", step1, func(t *crmTarget) connector.ScoreUpdate { return r.updateOf(t, "Contact", t.id != "") })
	var missing, stale []*crmTarget
	r.apply(ctx, "Contact", step1, res, err, &missing, &stale)
	// Leads: by id (the connector redirects converted ones to their
	// Contact) and the emails no Contact had.
	step2 := append(append([]*crmTarget(nil), leadsByID...), missing...)
	res, err = write("Lead", step2, func(t *crmTarget) connector.ScoreUpdate { return r.updateOf(t, "Lead", t.id != "") })
	var absent []*crmTarget
	r.apply(ctx, "Lead", step2, res, err, &absent, &stale)
	if len(stale) > 0 {
		// Remembered records the CRM refused (deleted, merged): match
		// those people by email again, as if never delivered.
		if err := r.salesforce(ctx, stale, write); err != nil {
			return err
		}
	}
	// Create the Leads the grade filter allows.
	var create, skip []*crmTarget
	for _, t := range absent {
		if r.mayCreate(t) {
			create = append(create, t)
		} else {
			skip = append(skip, t)
		}
	}
	r.notInCRM(ctx, skip)
	res, err = write("Lead", create, func(t *crmTarget) connector.ScoreUpdate {
		company := ""
		if p := r.propensity(ctx, t.q.item.AccountID); p != nil && p.acct != nil {
			company = p.acct.Name
		}
		v := createValues(r.d, "Lead", t.next, t.q.item.EvaluatedAt, t.q.item.Email, company)
		delete(v, "Email") // the connector sets it from the match key
		buf, _ := json.Marshal(v)
		return connector.ScoreUpdate{Email: t.q.item.Email, Fields: buf, CreateIfMissing: true, IdempotencyKey: t.q.item.Seq}
	})
	var stillAbsent []*crmTarget
	r.apply(ctx, "Lead", create, res, err, &stillAbsent, nil)
	for _, t := range stillAbsent {
		t.done = true
		r.fail(ctx, t.q, connector.Permanent("the CRM refused to create the Lead"))
	}
	return nil
}

func (r *round) hubspot(ctx context.Context, targets []*crmTarget, write writeFn) error {
	var ts, skip []*crmTarget
	for _, t := range targets {
		for _, id := range t.q.item.CRMIDs {
			if id != "" && strings.Trim(id, "0123456789") == "" && t.id == "" {
				t.id, t.object = id, "contacts"
			}
		}
		if m := t.last; t.id == "" && m != nil && !t.noMemory && m.Object == "contacts" && m.RecordID != "" {
			t.id, t.object, t.remembered = m.RecordID, m.Object, true
		}
		if t.id == "" && !strings.Contains(t.q.item.Email, "@") {
			skip = append(skip, t)
			continue
		}
		ts = append(ts, t)
	}
	r.notInCRM(ctx, skip)
	res, err := write("contacts", ts, func(t *crmTarget) connector.ScoreUpdate {
		u := r.updateOf(t, "contacts", t.id != "")
		u.CreateIfMissing = t.id == "" && r.mayCreate(t)
		return u
	})
	var absent, stale []*crmTarget
	r.apply(ctx, "contacts", ts, res, err, &absent, &stale)
	r.notInCRM(ctx, absent)
	if len(stale) > 0 {
		return r.hubspot(ctx, stale, write) // by email again
	}
	return nil
}

// accounts writes the propensity of the accounts of delivered people when
// it changed. A failure is logged on the next round's attempt: the state
// is only saved on success, so the next evaluation of the account retries.
func (r *round) accounts(ctx context.Context, targets []*crmTarget, write writeFn) {
	if r.d.PropensityField == "" {
		return
	}
	object := outbox.AccountObject[r.d.Kind]
	var ts []*crmTarget
	for _, t := range targets {
		a := t.q.item.AccountID
		if a == "" {
			continue
		}
		// One write per account a round, whichever batch claims it.
		r.mu.Lock()
		seen := r.claimed[a]
		r.claimed[a] = true
		r.mu.Unlock()
		if seen {
			continue
		}
		p := r.propensity(ctx, a)
		if p == nil || p.acct == nil || p.propensity == "" || !r.accountID(p.acct.ExternalID) {
			continue
		}
		last, err := r.state(ctx, a)
		if err != nil {
			continue
		}
		next := outbox.State{Propensity: p.propensity}
		if last != nil && last.Propensity == next.Propensity {
			continue
		}
		ts = append(ts, &crmTarget{id: p.acct.ExternalID, object: object, next: next, q: &queued{item: outbox.Item{AccountID: a}}})
	}
	res, err := write(object, ts, func(t *crmTarget) connector.ScoreUpdate {
		buf, _ := json.Marshal(map[string]string{r.d.PropensityField: outbox.PropensityLabel(t.next.Propensity)})
		return connector.ScoreUpdate{RecordID: t.id, Fields: buf}
	})
	if err != nil {
		r.w.env.Log.Warn("write account propensity", "org", r.org, "destination", r.d.ID, "error", err)
		return
	}
	for i, t := range ts {
		if i < len(res) && res[i].Err == nil {
			r.saveState(t.q.item.AccountID, t.next)
		} else if i < len(res) {
			r.w.env.Log.Warn("write account propensity", "org", r.org, "destination", r.d.ID, "account", t.q.item.AccountID, "error", res[i].Err)
		}
	}
}

// accountID reports whether id looks like the CRM's account id.
func (r *round) accountID(id string) bool {
	if id == "" {
		return false
	}
	if r.d.Kind == outbox.KindSalesforce {
		return strings.HasPrefix(id, "001")
	}
	return strings.Trim(id, "0123456789") == ""
}
