package main

// Scoring commands: evaluations, feedback on them, and refining the model
// from pending feedback (with the rescore job it starts).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trailspark/trailspark/api/client"
)

// ---- evaluations --------------------------------------------------------------------------------

func fmtGrade(e *client.Evaluation) string {
	if e.HeldBack && e.ModelGrade != "" && e.ModelGrade != e.Grade {
		return e.Grade + " (held back: the model said " + e.ModelGrade + ")"
	}
	return e.Grade
}

func evaluationTable(w io.Writer, e *client.Evaluation) {
	kv(w, "ID", e.ID, "LEAD", e.LeadID, "ACCOUNT", orDash(e.AccountID), "GRADE", fmtGrade(e),
		"SCORE", strconv.Itoa(e.Score), "PROBABILITY", fmtPercent(e.Probability), "CONFIDENCE", strconv.Itoa(e.Confidence)+"%",
		"FIT", strconv.Itoa(e.FitScore), "INTENT", strconv.Itoa(e.IntentScore), "MODEL", orDash(e.ModelVersion),
		"TRIGGER", orDash(e.Trigger), "EVALUATED", fmtTime(e.EvaluatedAt), "REASONING", orDash(e.Reasoning))
	fmt.Fprintln(w)
	row(w, "FEATURE", "KIND", "VALUE", "POINTS", "LABEL")
	row(w, "intercept", "-", "-", fmtPoints(e.Intercept), "base logit")
	for _, ct := range e.Contributions {
		row(w, ct.Feature, ct.Kind, fmtFixed(ct.Value, 2), fmtPoints(ct.Points), orDash(ct.Label))
	}
	row(w, "= logit", "", "", fmtPoints(e.Logit), "")
}

// fmtPoints prints logit points with a sign: +1.25, -0.40.
func fmtPoints(f float64) string {
	s := fmtFixed(f, 2)
	if f >= 0 {
		s = "+" + s
	}
	return s
}

func newEvaluationsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "evaluations",
		Aliases: []string{"evaluation", "evals"},
		Short:   "Read a lead's evaluations (grade, score, reasoning, contributions) and evaluate leads now",
	}

	var lead string
	var limit int
	list := &cobra.Command{
		Use:   "list ORG [--lead ID] [--limit N]",
		Short: "List evaluations, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			if limit < 0 {
				return errors.New("--limit must be 0 (all) or more")
			}
			q := url.Values{}
			if lead != "" {
				q.Set("lead_id", lead)
			}
			raws, more, err := c.listRaw(orgPath(args[0], "evaluations"), q, limit)
			if err != nil {
				return err
			}
			items, err := decodeItems[client.Evaluation](raws)
			if err != nil {
				return err
			}
			err = c.emit(raws, func(w io.Writer) {
				row(w, "ID", "LEAD", "GRADE", "SCORE", "CONFIDENCE", "MODEL", "TRIGGER", "EVALUATED")
				for i := range items {
					e := &items[i]
					grade := e.Grade
					if e.HeldBack {
						grade += " (held back)"
					}
					row(w, e.ID, e.LeadID, grade, strconv.Itoa(e.Score), strconv.Itoa(e.Confidence)+"%", orDash(e.ModelVersion),
						orDash(e.Trigger), fmtTime(e.EvaluatedAt))
				}
			})
			c.moreHint(more, len(items), "evaluations")
			return err
		}),
	}
	list.Flags().StringVar(&lead, "lead", "", "only this lead's evaluations")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many evaluations (0 for all)")

	get := &cobra.Command{
		Use:   "get ORG ID",
		Short: "Show an evaluation: grade, score, confidence, reasoning and the contributions to its logit",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			var e client.Evaluation
			raw, err := c.getRaw(orgPath(args[0], "evaluations", args[1]), nil, &e)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { evaluationTable(w, &e) })
		}),
	}

	evaluate := &cobra.Command{
		Use:   "evaluate ORG LEAD_ID",
		Short: "Evaluate a lead now with the active model, ignoring the gates and cooldown (Editor)",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			var e client.Evaluation
			raw, err := c.callRaw(http.MethodPost, orgPath(args[0], "leads", args[1], "evaluate"), nil, nil, &e)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { evaluationTable(w, &e) })
		}),
	}

	cmd.AddCommand(list, get, evaluate)
	return cmd
}

// ---- feedback -----------------------------------------------------------------------------------

func feedbackTable(w io.Writer, f *client.Feedback) {
	kv(w, "EVALUATION", f.EvaluationID, "LEAD", f.LeadID, "ORIGINAL GRADE", f.OriginalGrade, "EXPECTED GRADE", f.ExpectedGrade,
		"REASON", f.Reason, "STATUS", f.Status, "APPLIED MODEL", orDash(f.AppliedModel), "GIVEN BY", orDash(f.GivenBy),
		"CREATED", fmtTime(f.CreatedAt))
}

func validGrade(g string) bool {
	return g == client.GradeHot || g == client.GradeWarm || g == client.GradeCold
}

func newFeedbackCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "feedback",
		Short: "Say which grade an evaluation should have had, and list the feedback given",
	}

	var grade, reason string
	give := &cobra.Command{
		Use:   "give ORG EVAL_ID --grade hot|warm|cold --reason \"…\"",
		Short: "Give feedback on an evaluation (Editor; within 30 days, once per evaluation)",
		Long: `Give feedback on an evaluation (Editor): the grade it should have had and why
(10 to 1000 characters). Within 30 days of the evaluation, once per evaluation.
Pending feedback is what ` + "`trailspark refine`" + ` learns from.`,
		Args: cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			grade = strings.ToLower(strings.TrimSpace(grade))
			if !validGrade(grade) {
				return fmt.Errorf("--grade must be hot, warm or cold, not %q", grade)
			}
			body := client.FeedbackRequest{Reason: reason, ExpectedGrade: grade}
			var f client.Feedback
			raw, err := c.callRaw(http.MethodPost, orgPath(args[0], "evaluations", args[1], "feedback"), nil, body, &f)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { feedbackTable(w, &f) })
		}),
	}
	give.Flags().StringVar(&grade, "grade", "", "the grade it should have had: hot, warm or cold (required)")
	give.Flags().StringVar(&reason, "reason", "", "why, 10 to 1000 characters (required)")
	_ = give.MarkFlagRequired("grade")
	_ = give.MarkFlagRequired("reason")

	var status string
	list := &cobra.Command{
		Use:   "list ORG [--status pending|applied]",
		Short: "List the feedback given",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			q := url.Values{}
			switch status {
			case "":
			case client.FeedbackPending, client.FeedbackApplied:
				q.Set("status", status)
			default:
				return fmt.Errorf("--status must be pending or applied, not %q", status)
			}
			raws, _, err := c.listRaw(orgPath(args[0], "feedback"), q, 0)
			if err != nil {
				return err
			}
			items, err := decodeItems[client.Feedback](raws)
			if err != nil {
				return err
			}
			return c.emit(raws, func(w io.Writer) {
				row(w, "EVALUATION", "LEAD", "ORIGINAL", "EXPECTED", "STATUS", "CREATED", "REASON")
				for i := range items {
					f := &items[i]
					row(w, f.EvaluationID, f.LeadID, f.OriginalGrade, f.ExpectedGrade, f.Status, fmtTime(f.CreatedAt), oneLine(f.Reason, 60))
				}
			})
		}),
	}
	list.Flags().StringVar(&status, "status", "", "only pending or applied feedback")

	cmd.AddCommand(give, list)
	return cmd
}

// oneLine flattens s to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// ---- refine -------------------------------------------------------------------------------------

func refinementPreviewTable(w io.Writer, p *client.RefinementPreview) {
	kv(w, "BASE MODEL", p.BaseModelID, "FEEDBACK", strconv.Itoa(p.Feedback),
		"MATCHED BEFORE", fmt.Sprintf("%d of %d", p.MatchedBefore, p.Feedback),
		"MATCHED AFTER", fmt.Sprintf("%d of %d", p.MatchedAfter, p.Feedback), "SUMMARY", orDash(p.Summary))
	if len(p.Rows) > 0 {
		fmt.Fprintln(w)
		row(w, "EVALUATION", "LEAD", "EXPECTED", "OLD GRADE", "OLD SCORE", "NEW GRADE", "NEW SCORE")
		for _, r := range p.Rows {
			row(w, r.EvaluationID, r.LeadID, r.ExpectedGrade, r.OldGrade, strconv.Itoa(r.OldScore), r.NewGrade, strconv.Itoa(r.NewScore))
		}
	}
	if len(p.Changes) > 0 {
		fmt.Fprintln(w)
		row(w, "WEIGHT", "OLD", "NEW", "CHANGE")
		for _, ch := range p.Changes {
			row(w, ch.Feature, fmtFixed(ch.Old, 2), fmtFixed(ch.New, 2), fmtPoints(ch.New-ch.Old))
		}
	}
}

func jobProgress(j *client.Job) string {
	switch {
	case j.Scanned > 0:
		return fmt.Sprintf("%d/%d (%d%%)", j.Processed, j.Scanned, j.Processed*100/j.Scanned)
	case j.Kind == "signal_import":
		return fmt.Sprintf("%d accepted, %d rejected", j.Accepted, j.Rejected)
	default:
		return fmt.Sprintf("%d processed", j.Processed)
	}
}

func jobLine(j *client.Job) string {
	s := fmt.Sprintf("job %s (%s): %s, %s", j.ID, j.Kind, j.Status, jobProgress(j))
	if n := len(j.Errors); n > 0 {
		s += fmt.Sprintf(", %d errors", n)
	}
	if j.Error != nil {
		s += ": " + j.Error.Message
	}
	return s
}

// waitJob polls GET …/jobs/{id} every interval, printing progress on stderr
// whenever it changes, until the job is no longer running.
func (c *cli) waitJob(org, id string, interval time.Duration) (json.RawMessage, *client.Job, error) {
	last := ""
	for {
		var j client.Job
		raw, err := c.getRaw(orgPath(org, "jobs", id), nil, &j)
		if err != nil {
			return nil, nil, err
		}
		if line := jobLine(&j); line != last {
			fmt.Fprintln(c.errOut, line)
			last = line
		}
		if j.Status != client.JobRunning {
			return raw, &j, nil
		}
		select {
		case <-c.cmd.Context().Done():
			return nil, nil, c.cmd.Context().Err()
		case <-time.After(interval):
		}
	}
}

func newRefineCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "refine",
		Aliases: []string{"refinement"},
		Short:   "Refine the active model from pending feedback",
	}

	preview := &cobra.Command{
		Use:   "preview ORG",
		Short: "Show, without applying, the model pending feedback gives: old vs new grades, weights that move (Editor)",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			var p client.RefinementPreview
			raw, err := c.callRaw(http.MethodPost, orgPath(args[0], "refinements", "preview"), nil, nil, &p)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { refinementPreviewTable(w, &p) })
		}),
	}

	var wait bool
	var interval time.Duration
	apply := &cobra.Command{
		Use:   "apply ORG [--wait]",
		Short: "Apply the refinement: a new active model version and a job re-scoring recent leads (Editor)",
		Long: `Apply the refinement (Editor): the model pending feedback gives becomes a new
active version (the old one inactive), the feedback is marked applied, and a
rescore job re-evaluates the leads evaluated in the last 30 days. The command
prints the new model and the job id; --wait polls the job, showing progress on
stderr, until it is done (exit status 1 when the job failed). With --output
json and --wait, "job" holds the finished job.`,
		Args: cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			if interval <= 0 {
				return errors.New("--interval must be positive")
			}
			org := args[0]
			var res client.RefinementApplied
			raw, err := c.callRaw(http.MethodPost, orgPath(org, "refinements"), nil, nil, &res)
			if err != nil {
				return err
			}
			if !c.json {
				err := c.emit(nil, func(w io.Writer) {
					kv(w, "MODEL", modelLabel(&res.Model)+" ("+res.Model.Status+")", "PARENT", orDash(res.Model.ParentID),
						"FEEDBACK", strconv.Itoa(res.Preview.Feedback),
						"MATCHED", fmt.Sprintf("%d of %d before, %d after", res.Preview.MatchedBefore, res.Preview.Feedback, res.Preview.MatchedAfter),
						"SUMMARY", orDash(res.Preview.Summary), "RESCORE JOB", res.Job.ID)
				})
				if err != nil || !wait || res.Job.ID == "" {
					return err
				}
			} else if !wait || res.Job.ID == "" {
				return c.emit(raw, nil)
			}
			jobRaw, job, err := c.waitJob(org, res.Job.ID, interval)
			if err != nil {
				return err
			}
			if c.json {
				var doc map[string]json.RawMessage
				if err := json.Unmarshal(raw, &doc); err != nil {
					return fmt.Errorf("trailspark: decoding the refinement: %w", err)
				}
				doc["job"] = jobRaw
				if err := c.emit(doc, nil); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(c.out, "Rescore %s: %s.\n", job.Status, jobProgress(job))
			}
			if job.Status == client.JobFailed {
				msg := "the rescore job " + job.ID + " failed"
				if job.Error != nil {
					msg += ": " + job.Error.Message
				}
				return errors.New(msg)
			}
			return nil
		}),
	}
	apply.Flags().BoolVar(&wait, "wait", false, "poll the rescore job until it is done, showing progress")
	apply.Flags().DurationVar(&interval, "interval", time.Second, "how often --wait polls the job")

	cmd.AddCommand(preview, apply)
	return cmd
}
