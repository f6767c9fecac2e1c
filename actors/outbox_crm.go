package actors

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/outbox"
	"github.com/trailspark/trailspark/sdk/connector"
	"github.com/trailspark/trailspark/store"
)

// CRM write-back (SPEC §4). Salesforce: a person whose CRM id is a Contact
// (003…) is written on the Contact, a Lead id (00Q…) on the Lead — the
// connector looks conversion up itself and writes a converted Lead's
// Contact instead, never the converted Lead. Without an id the person is
// matched by email: Contacts first (a converted person is a Contact), then
// unconverted Leads (the connector's email match skips converted ones),
// then, when create_if_not_found allows the grade, a new Lead with the
// last name and company Salesforce requires. HubSpot: contacts by id or by
// email (upsert when a create is allowed). The account propensity goes to
// the Account/company by the account's CRM id (its external id).

// crmTarget is one queued item on its way to the CRM.
type crmTarget struct {
	q      *queued
	next   outbox.State
	id     string // CRM record id when known
	object string // object for the id
	done   bool
}

func (r *round) crm(ctx context.Context, kept []queued) error {
	_, conn, cfg, err := r.w.st.resolve(ctx, r.org, r.d.ConnectionID)
	if err != nil {
		cerr := connector.Retryable("connection %s: %v", r.d.ConnectionID, err)
		if errs.As(err).Kind == errs.KindNotFound {
			cerr = connector.Permanent("connection %s no longer exists", r.d.ConnectionID)
		}
		for i := range kept {
			r.fail(ctx, &kept[i], cerr)
		}
		return nil
	}
	var bud outbox.Budget
	bver, err := r.w.env.loadJSON(ctx, keyOutboxBudget(r.org, r.d.ID), &bud)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	bud.Allowance = r.d.DailyBudget
	bud.Roll(r.now)

	// Change-only, then the budget.
	var targets []*crmTarget
	high := false
	for i := range kept {
		q := &kept[i]
		t := &crmTarget{q: q, next: itemState(&q.item)}
		last, err := r.state(ctx, q.item.LeadID)
		if err != nil {
			return err
		}
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
	if ok, why := bud.Allow(1, high); !ok {
		for _, t := range targets {
			r.defer_(ctx, t.q, outbox.NextDay(r.now), why)
		}
		return nil
	}
	if bud.Low() {
		// Only high-priority changes spend a low budget.
		var keep []*crmTarget
		for _, t := range targets {
			last, _ := r.state(ctx, t.q.item.LeadID)
			if outbox.HighPriority(last, t.next) {
				keep = append(keep, t)
			} else {
				_, why := bud.Allow(1, false)
				r.defer_(ctx, t.q, outbox.NextDay(r.now), why)
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
		return conn.Write(ctx, cfg, req)
	}
	switch r.d.Kind {
	case outbox.KindSalesforce:
		err = r.salesforce(ctx, targets, write)
	default:
		err = r.hubspot(ctx, targets, write)
	}
	if err == nil {
		r.accounts(ctx, targets, write)
	}
	bud.Spend(calls)
	if buf, merr := json.Marshal(bud); merr == nil {
		if _, serr := r.w.env.Store.Save(ctx, keyOutboxBudget(r.org, r.d.ID), buf, bver); serr != nil && !errors.Is(serr, store.ErrConflict) {
			r.w.env.Log.Warn("save delivery budget", "org", r.org, "destination", r.d.ID, "error", serr)
		}
	}
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
// did not find (for the next step) when non-nil.
func (r *round) apply(ctx context.Context, object string, ts []*crmTarget, res []connector.WriteResult, err error, notFound *[]*crmTarget) {
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
			t.done = true
			r.fail(ctx, t.q, wr.Err)
			continue
		}
		t.done = true
		t.q.item.RecordID, t.q.item.Object, t.q.item.Created = wr.RecordID, object, wr.Created
		note := ""
		if wr.Unchanged {
			note = "the CRM already had these values"
		}
		r.saveState(ctx, t.q.item.LeadID, t.next)
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

func (r *round) salesforce(ctx context.Context, targets []*crmTarget, write writeFn) error {
	var contacts, leadsByID, byEmail []*crmTarget
	for _, t := range targets {
		for _, id := range t.q.item.CRMIDs {
			switch {
			case strings.HasPrefix(id, "003") && t.id == "":
				t.id, t.object = id, "Contact"
			case strings.HasPrefix(id, "00Q") && t.id == "":
				t.id, t.object = id, "Lead"
			}
		}
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
	var missing []*crmTarget
	r.apply(ctx, "Contact", step1, res, err, &missing)
	// Leads: by id (the connector redirects converted ones to their
	// Contact) and the emails no Contact had.
	step2 := append(append([]*crmTarget(nil), leadsByID...), missing...)
	res, err = write("Lead", step2, func(t *crmTarget) connector.ScoreUpdate { return r.updateOf(t, "Lead", t.id != "") })
	var absent []*crmTarget
	r.apply(ctx, "Lead", step2, res, err, &absent)
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
	r.apply(ctx, "Lead", create, res, err, &stillAbsent)
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
	var absent []*crmTarget
	r.apply(ctx, "contacts", ts, res, err, &absent)
	r.notInCRM(ctx, absent)
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
	seen := map[string]bool{}
	var ts []*crmTarget
	for _, t := range targets {
		a := t.q.item.AccountID
		if a == "" || seen[a] {
			continue
		}
		seen[a] = true
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
			r.saveState(ctx, t.q.item.AccountID, t.next)
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
