package actors

import (
	"context"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/icp"
	"github.com/trailspark/trailspark/engine/tenant"
	"github.com/trailspark/trailspark/plugins/host"
	"github.com/trailspark/trailspark/sdk/connector"
)

// SparkSense (SPEC §3.1): the upload-and-analyze analysis on the accounts
// and opportunities a CRM connector reads, through the connection's field
// mapping. Needs a connected CRM with a mapping and a plan that allows it.

// MaxSparkSenseRecords bounds the records of each kind one analysis reads.
const MaxSparkSenseRecords = 200_000

// SparkSenseInput is an analysis request.
type SparkSenseInput struct {
	Options  icp.AnalyzeOptions `json:"-"`
	Create   bool               `json:"create"`
	Name     string             `json:"name"`
	Activate bool               `json:"activate"`
}

// SparkSenseResult is an analysis (and the model, when created) with the
// number of records read.
type SparkSenseResult struct {
	ICPAnalysisResult
	Accounts      int `json:"accounts_read"`
	Opportunities int `json:"opportunities_read"`
}

func errSparkSenseNotInPlan() error {
	return &errs.Error{Kind: errs.KindForbidden, Code: "sparksense_not_in_plan",
		Message: "the organization's plan does not include SparkSense; upgrade to a plan that does"}
}

// AnalyzeConnection runs SparkSense on a connection (Owner/Admin).
func (c *Client) AnalyzeConnection(ctx context.Context, caller tenant.Caller, org, id string, in SparkSenseInput) (*SparkSenseResult, error) {
	if err := c.authorize(ctx, caller, org, tenant.CapIntegrations); err != nil {
		return nil, err
	}
	snap, err := c.billingSnapshot(ctx, org)
	if err != nil {
		return nil, err
	}
	if !snap.Plan.SparkSense {
		return nil, errSparkSenseNotInPlan()
	}
	conn, _, err := c.env.loadConn(ctx, org, id)
	if err != nil {
		return nil, err
	}
	if conn.Status != ConnConnected {
		return nil, errs.Conflict("connection_not_connected", "", "the connection is "+conn.Status+"; connect it first")
	}
	if conn.Mapping == nil {
		return nil, errs.Conflict("mapping_required", "", "set the connection's field mapping first")
	}
	// SPEC §3.1 (and the hosted product's setup check): the scores a
	// SparkSense model produces must have somewhere to go.
	if dests, err := c.env.outbox().destinations(ctx, org); err != nil {
		return nil, err
	} else if len(dests) == 0 {
		return nil, errs.Conflict("destination_required", "",
			"SparkSense needs a score destination: add one (POST /api/v1/orgs/"+org+"/destinations) first")
	}
	cn, info, err := c.connectorFor(ctx, conn.Provider)
	if err != nil {
		return nil, err
	}
	readsAll := false
	for _, k := range info.Kinds {
		if k == connector.KindOpportunities {
			readsAll = true
		}
	}
	if !readsAll {
		return nil, errs.Conflict("connector_unsupported", "", "SparkSense needs a CRM connector that reads accounts and opportunities")
	}
	m := conn.Mapping
	var accs []icp.AccountRecord
	err = c.readAll(ctx, org, conn, cn, connector.KindAccounts, func(r connector.Record) {
		if r.Deleted {
			return
		}
		a := accountFrom(decodeFields(r.Fields), m, false)
		accs = append(accs, icp.AccountRecord{ID: r.ID, Name: a.Name, URL: a.Domain, Industry: a.Industry, Employees: a.Employees, Region: a.Region})
	})
	if err != nil {
		return nil, connectorErr(err)
	}
	var opps []icp.OpportunityRecord
	err = c.readAll(ctx, org, conn, cn, connector.KindOpportunities, func(r connector.Record) {
		if r.Deleted {
			return
		}
		f := decodeFields(r.Fields)
		acct, st := oppFrom(f, m)
		o := icp.OpportunityRecord{ID: r.ID, Name: firstField(f, "Name", "dealname", "name"), AccountID: acct, Amount: st.Amount,
			Stage: st.Stage, Closed: st.CloseDate, Created: firstField(f, "CreatedDate", "createdate", "created")}
		switch st.Outcome {
		case "won":
			o.Outcome = icp.OutcomeWon
		case "lost":
			o.Outcome = icp.OutcomeLost
		default:
			o.Outcome = icp.OutcomeOpen
		}
		opps = append(opps, o)
	})
	if err != nil {
		return nil, connectorErr(err)
	}
	res, err := c.analyzeAgainstActive(ctx, caller, org, func(prior icp.Definition) (icp.Analysis, error) {
		return icp.AnalyzeRecords(accs, opps, prior, in.Options)
	}, in.Create, in.Name, "ICP from "+conn.Name, tenant.SourceSparkSense, "SparkSense: fitted on "+conn.Name+" outcomes, shrunk towards ", in.Activate)
	if err != nil {
		return nil, err
	}
	c.env.Log.Info("sparksense analysis", "org", org, "connection", id, "accounts", len(accs), "opportunities", len(opps))
	return &SparkSenseResult{ICPAnalysisResult: *res, Accounts: len(accs), Opportunities: len(opps)}, nil
}

// readAll reads every record of a kind from the beginning (not the sync
// cursors), at most MaxSparkSenseRecords.
func (c *Client) readAll(ctx context.Context, org string, conn *Connection, cn *host.Conn, kind connector.Kind, fn func(connector.Record)) error {
	cursor, n := "", 0
	for {
		recs, res, err := c.readPage(ctx, org, conn, cn, kind, cursor, MaxSyncPageSize)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if n >= MaxSparkSenseRecords {
				return errs.Invalid("", "too_many_records", "the CRM holds more than %d %s; SparkSense reads at most that many", MaxSparkSenseRecords, kind)
			}
			fn(r)
			n++
		}
		if res.NextCursor != "" {
			cursor = res.NextCursor
		}
		if !res.More || len(recs) == 0 {
			return nil
		}
	}
}
