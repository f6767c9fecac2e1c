package main

// Destination commands (SPEC §4): webhook and CRM destinations, their
// deliveries, redrive, and the CRM fields to create.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trailspark/trailspark/engine/outbox"
)

// destinationView is a destination as the API answers it.
type destinationView struct {
	ID               string                         `json:"id"`
	Name             string                         `json:"name"`
	Kind             string                         `json:"kind"`
	ConnectionID     string                         `json:"connection_id,omitempty"`
	SendEvaluations  bool                           `json:"send_evaluations"`
	Fields           map[string]outbox.ObjectFields `json:"fields,omitempty"`
	PropensityField  string                         `json:"propensity_field,omitempty"`
	CreateIfNotFound bool                           `json:"create_if_not_found"`
	CreateGrades     []string                       `json:"create_grades"`
	ScoreBand        int                            `json:"score_band"`
	DailyBudget      int                            `json:"daily_budget"`
	URL              string                         `json:"url,omitempty"`
	SecretHint       string                         `json:"secret_hint,omitempty"`
	Secret           string                         `json:"secret,omitempty"`
	CreatedAt        time.Time                      `json:"created_at"`
}

func destinationTable(w io.Writer, d *destinationView) {
	kv(w, "ID", d.ID, "NAME", d.Name, "KIND", d.Kind, "SEND EVALUATIONS", strconv.FormatBool(d.SendEvaluations),
		"SCORE BAND", strconv.Itoa(d.ScoreBand), "DAILY BUDGET", budgetText(d.DailyBudget), "CREATED", fmtTime(d.CreatedAt))
	if d.Kind == outbox.KindWebhook {
		kv(w, "URL", d.URL, "SECRET", orDash(d.SecretHint))
		if d.Secret != "" {
			kv(w, "SIGNING SECRET", d.Secret)
		}
		return
	}
	kv(w, "CONNECTION", d.ConnectionID, "PROPENSITY FIELD", orDash(d.PropensityField),
		"CREATE IF NOT FOUND", strconv.FormatBool(d.CreateIfNotFound)+" "+strings.Join(d.CreateGrades, ","))
	for obj, f := range d.Fields {
		kv(w, "FIELDS "+obj, fmt.Sprintf("score=%s grade=%s reasoning=%s evaluation_date=%s",
			orDash(f.Score), orDash(f.Grade), orDash(f.Reasoning), orDash(f.EvaluationDate)))
	}
}

func budgetText(n int) string {
	if n <= 0 {
		return "unlimited"
	}
	return strconv.Itoa(n) + " calls/day"
}

// parseFieldFlags reads --field OBJECT.PURPOSE=NAME values.
func parseFieldFlags(vals []string) (map[string]outbox.ObjectFields, error) {
	out := map[string]outbox.ObjectFields{}
	for _, v := range vals {
		lhs, name, ok := strings.Cut(v, "=")
		obj, purpose, ok2 := strings.Cut(lhs, ".")
		if !ok || !ok2 || name == "" || obj == "" {
			return nil, fmt.Errorf("--field %q: want OBJECT.PURPOSE=FIELD, e.g. Lead.score=TrailSpark_Score__c", v)
		}
		f := out[obj]
		switch purpose {
		case outbox.PurposeScore:
			f.Score = name
		case outbox.PurposeGrade:
			f.Grade = name
		case outbox.PurposeReasoning:
			f.Reasoning = name
		case outbox.PurposeEvaluationDate:
			f.EvaluationDate = name
		default:
			return nil, fmt.Errorf("--field %q: the purpose is score, grade, reasoning or evaluation_date", v)
		}
		out[obj] = f
	}
	return out, nil
}

func newDestinationsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "destinations",
		Aliases: []string{"destination", "dest"},
		Short:   "Send evaluations to webhooks and CRMs: destinations, deliveries, redrive, suggested CRM fields",
	}

	list := &cobra.Command{
		Use:   "list ORG",
		Short: "List an organization's destinations",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			raws, more, err := c.listRaw(orgPath(args[0], "destinations"), nil, 0)
			if err != nil {
				return err
			}
			items, err := decodeItems[destinationView](raws)
			if err != nil {
				return err
			}
			err = c.emit(raws, func(w io.Writer) {
				row(w, "ID", "NAME", "KIND", "TARGET", "SENDING", "BUDGET")
				for i := range items {
					d := &items[i]
					target := d.URL
					if d.Kind != outbox.KindWebhook {
						target = d.ConnectionID
					}
					row(w, d.ID, d.Name, d.Kind, target, strconv.FormatBool(d.SendEvaluations), budgetText(d.DailyBudget))
				}
			})
			c.moreHint(more, len(items), "destinations")
			return err
		}),
	}

	var (
		kind, name, dstURL, secret, conn, propField, grades string
		fields                                              []string
		create                                              bool
		band, budget                                        int
	)
	createCmd := &cobra.Command{
		Use:   "create ORG --kind webhook|salesforce|hubspot …",
		Short: "Add a destination (Owner/Admin)",
		Long: `Add a destination (Owner/Admin).

A webhook: --url (and optionally --secret whsec_…; one is generated and shown once otherwise).
Every delivery is POSTed as JSON with a TrailSpark-Signature: t=<unix>,v1=<hex> header.

A CRM (salesforce, hubspot): --connection and the fields that receive an evaluation, as
--field OBJECT.PURPOSE=FIELD (objects: Lead, Contact; HubSpot contacts; purposes: score, grade,
reasoning, evaluation_date), and --propensity-field for Account/companies. Fields are checked
against the CRM: see ` + "`trailspark destinations suggest-fields`" + ` for what to create first.`,
		Args: cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			if !outbox.ValidKind(kind) {
				return errors.New("--kind must be webhook, salesforce or hubspot")
			}
			body := map[string]any{"kind": kind}
			if name != "" {
				body["name"] = name
			}
			if c.cmd.Flags().Changed("score-band") {
				body["score_band"] = band
			}
			if c.cmd.Flags().Changed("daily-budget") {
				body["daily_budget"] = budget
			}
			if kind == outbox.KindWebhook {
				body["url"] = dstURL
				if secret != "" {
					body["secret"] = secret
				}
			} else {
				fm, err := parseFieldFlags(fields)
				if err != nil {
					return err
				}
				body["connection_id"] = conn
				if len(fm) > 0 {
					body["fields"] = fm
				}
				if propField != "" {
					body["propensity_field"] = propField
				}
				if create {
					body["create_if_not_found"] = true
					if grades != "" {
						body["create_grades"] = strings.Split(grades, ",")
					}
				}
			}
			var d destinationView
			raw, err := c.callRaw(http.MethodPost, orgPath(args[0], "destinations"), nil, body, &d)
			if err != nil {
				return err
			}
			err = c.emit(raw, func(w io.Writer) { destinationTable(w, &d) })
			if d.Secret != "" {
				c.showOnce("Signing secret")
			}
			return err
		}),
	}
	cf := createCmd.Flags()
	cf.StringVar(&kind, "kind", "", "webhook, salesforce or hubspot (required)")
	cf.StringVar(&name, "name", "", "a name for people")
	cf.StringVar(&dstURL, "url", "", "webhook: the receiver URL")
	cf.StringVar(&secret, "secret", "", "webhook: your own signing secret (whsec_…)")
	cf.StringVar(&conn, "connection", "", "CRM: the connection id")
	cf.StringArrayVar(&fields, "field", nil, "CRM: OBJECT.PURPOSE=FIELD, repeatable (e.g. Lead.score=TrailSpark_Score__c)")
	cf.StringVar(&propField, "propensity-field", "", "CRM: the account propensity field")
	cf.BoolVar(&create, "create-if-not-found", false, "CRM: create records for people the CRM does not have")
	cf.StringVar(&grades, "create-grades", "", "CRM: grades to create, comma-separated (default hot)")
	cf.IntVar(&band, "score-band", 5, "score moves within this many points are not written")
	cf.IntVar(&budget, "daily-budget", 0, "CRM API calls a day (0 = unlimited)")

	var status string
	var limit int
	deliveries := &cobra.Command{
		Use:   "deliveries ORG DEST_ID [--status pending|delivered|skipped_unchanged|failed|parked]",
		Short: "List a destination's deliveries: queued first, then the history",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			q := url.Values{}
			if status != "" {
				if !outbox.ValidStatus(status) {
					return fmt.Errorf("--status must be pending, delivered, skipped_unchanged, failed or parked, not %q", status)
				}
				q.Set("status", status)
			}
			if limit < 0 {
				return errors.New("--limit must be 0 (all) or more")
			}
			raws, more, err := c.listRaw(orgPath(args[0], "destinations", args[1], "deliveries"), q, limit)
			if err != nil {
				return err
			}
			items, err := decodeItems[outbox.Item](raws)
			if err != nil {
				return err
			}
			err = c.emit(raws, func(w io.Writer) {
				row(w, "ID", "LEAD", "GRADE", "SCORE", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "ERROR / NOTE")
				for i := range items {
					d := &items[i]
					next := "-"
					if outbox.Queued(d.Status) {
						next = fmtTime(d.NextAttemptAt)
					}
					msg := d.Error
					if msg == "" {
						msg = d.Note
					}
					row(w, d.Seq, d.LeadID, d.Grade, strconv.Itoa(d.Score), d.Status, strconv.Itoa(d.Attempts), next, orDash(msg))
				}
			})
			c.moreHint(more, len(items), "deliveries")
			return err
		}),
	}
	deliveries.Flags().StringVar(&status, "status", "", "only deliveries with this status")
	deliveries.Flags().IntVar(&limit, "limit", 50, "at most this many deliveries (0 for all)")

	redrive := &cobra.Command{
		Use:   "redrive ORG DEST_ID",
		Short: "Requeue a destination's parked deliveries and retry its failed ones now (Owner/Admin)",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			var res struct {
				Requeued int `json:"requeued"`
			}
			if _, err := c.callRaw(http.MethodPost, orgPath(args[0], "destinations", args[1], "redrive"), nil, nil, &res); err != nil {
				return err
			}
			return c.done(fmt.Sprintf("Requeued %d deliveries.", res.Requeued), map[string]any{"requeued": res.Requeued})
		}),
	}

	var provider string
	suggest := &cobra.Command{
		Use:   "suggest-fields [--provider salesforce|hubspot]",
		Short: "Print the CRM fields to create for TrailSpark and the CRM-side setup (no server needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			providers := []string{outbox.KindSalesforce, outbox.KindHubSpot}
			if provider != "" {
				providers = []string{provider}
			}
			w := cmd.OutOrStdout()
			for i, p := range providers {
				fields, setup, err := outbox.Suggest(p)
				if err != nil {
					return err
				}
				if i > 0 {
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "%-10s  %-16s  %-30s  %s\n", "OBJECT", "PURPOSE", "FIELD", "TYPE")
				for _, f := range fields {
					fmt.Fprintf(w, "%-10s  %-16s  %-30s  %s\n", f.Object, f.Purpose, f.Name, f.Type)
				}
				fmt.Fprintln(w)
				fmt.Fprint(w, setup)
			}
			return nil
		},
	}
	suggest.Flags().StringVar(&provider, "provider", "", "salesforce or hubspot (default both)")

	cmd.AddCommand(list, createCmd, deliveries, redrive, suggest)
	return cmd
}
