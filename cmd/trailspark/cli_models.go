package main

// ICP model commands: versions, activation, quality, text parsing and the
// upload-and-analyze of an accounts CSV and an opportunities CSV.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trailspark/trailspark/api/client"
)

// maxModelFile bounds a definition file (the server takes 1 MiB bodies).
const maxModelFile = 1 << 20

// fmtNum prints a float briefly: 1.25, -0.4, 3.
func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// fmtFixed prints a float with n decimals.
func fmtFixed(f float64, n int) string { return strconv.FormatFloat(f, 'f', n, 64) }

// fmtPercent prints a rate in [0, 1] as a percentage with one decimal.
func fmtPercent(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" }

// oneLineJSON prints raw JSON on one line ("-" when empty or null).
func oneLineJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if len(bytes.TrimSpace(raw)) == 0 || json.Compact(&b, raw) != nil || b.String() == "null" {
		return "-"
	}
	return b.String()
}

func modelLabel(m *client.ICPModel) string { return m.ID + "@" + strconv.Itoa(m.Version) }

func modelTable(w io.Writer, m *client.ICPModel) {
	kv(w, "ID", m.ID, "NAME", orDash(m.Name), "VERSION", strconv.Itoa(m.Version), "STATUS", m.Status,
		"SOURCE", m.Source, "PARENT", orDash(m.ParentID), "NOTE", orDash(m.Note), "CREATED BY", orDash(m.CreatedBy),
		"CREATED", fmtTime(m.CreatedAt), "DEFINITION", oneLineJSON(m.Definition))
	if m.Fitted != nil && (m.Fitted.Intercept != nil || len(m.Fitted.Weights) > 0) {
		if m.Fitted.Intercept != nil {
			kv(w, "FITTED INTERCEPT", fmtNum(*m.Fitted.Intercept))
		}
		if len(m.Fitted.Weights) > 0 {
			names := make([]string, 0, len(m.Fitted.Weights))
			for k := range m.Fitted.Weights {
				names = append(names, k)
			}
			sort.Strings(names)
			parts := make([]string, len(names))
			for i, k := range names {
				parts[i] = k + "=" + fmtNum(m.Fitted.Weights[k])
			}
			kv(w, "FITTED WEIGHTS", strings.Join(parts, ", "))
		}
	}
	if m.Parsed != nil {
		fmt.Fprintln(w)
		textParseTable(w, m.Parsed, false)
	}
}

// textParseTable prints what a text parse understood and what it did not.
func textParseTable(w io.Writer, p *client.ICPTextParse, withDefinition bool) {
	if len(p.Understood) == 0 {
		fmt.Fprintln(w, "Nothing was understood.")
	} else {
		fmt.Fprintf(w, "Understood: %d\n", len(p.Understood))
		row(w, "TEXT", "FIELD", "VALUE")
		for _, u := range p.Understood {
			row(w, u.Text, u.Field, u.Value)
		}
	}
	if len(p.NotUnderstood) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Not understood: %s\n", strings.Join(quoteAll(p.NotUnderstood), ", "))
	}
	if withDefinition {
		fmt.Fprintln(w)
		kv(w, "DEFINITION", oneLineJSON(p.Definition))
	}
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strconv.Quote(x)
	}
	return out
}

// readDefinition reads an ICP definition (a JSON object) from a file or
// stdin ("-"). A model as `models get --output json` prints it is accepted
// too: its "definition" is taken (and its name, when name is empty).
func readDefinition(c *cli, path string) (def json.RawMessage, name string, err error) {
	var r io.Reader
	if path == "-" {
		r = c.cmd.InOrStdin()
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, "", fmt.Errorf("reading the definition: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxModelFile+1))
	if err != nil {
		return nil, "", fmt.Errorf("reading the definition: %w", err)
	}
	if len(b) > maxModelFile {
		return nil, "", fmt.Errorf("the definition %s is larger than 1 MiB", path)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil || obj == nil {
		if err == nil {
			err = errors.New("null")
		}
		return nil, "", fmt.Errorf("the definition %s must hold a JSON object: %v", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "", fmt.Errorf("the definition %s must hold one JSON object, and nothing after it", path)
	}
	if inner, ok := obj["definition"]; ok {
		_ = json.Unmarshal(obj["name"], &name)
		return inner, name, nil
	}
	return json.RawMessage(b), "", nil
}

// readTextArg is the text argument, or stdin for "-".
func readTextArg(c *cli, arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	b, err := io.ReadAll(io.LimitReader(c.cmd.InOrStdin(), maxModelFile))
	if err != nil {
		return "", fmt.Errorf("reading the text from stdin: %w", err)
	}
	return string(b), nil
}

func newModelsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "models",
		Aliases: []string{"model"},
		Short:   "Manage an organization's ICP model versions",
	}

	list := &cobra.Command{
		Use:   "list ORG",
		Short: "List ICP model versions, newest first; one is active",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			raws, _, err := c.listRaw(orgPath(args[0], "icp-models"), nil, 0)
			if err != nil {
				return err
			}
			items, err := decodeItems[client.ICPModel](raws)
			if err != nil {
				return err
			}
			return c.emit(raws, func(w io.Writer) {
				row(w, "ID", "VERSION", "NAME", "STATUS", "SOURCE", "PARENT", "CREATED")
				for i := range items {
					m := &items[i]
					row(w, m.ID, strconv.Itoa(m.Version), orDash(m.Name), m.Status, m.Source, orDash(m.ParentID), fmtTime(m.CreatedAt))
				}
			})
		}),
	}

	get := &cobra.Command{
		Use:   "get ORG ID",
		Short: "Show a model version: definition and learned weights",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			var m client.ICPModel
			raw, err := c.getRaw(orgPath(args[0], "icp-models", args[1]), nil, &m)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { modelTable(w, &m) })
		}),
	}

	var crFile, crText, crName, crNote string
	var crActivate bool
	create := &cobra.Command{
		Use:   "create ORG (--file def.json | --text \"…\") [--name N] [--activate]",
		Short: "Create a model version from a definition or from text (Editor)",
		Long: `Create an ICP model version (Editor).

--file names a JSON file (- for stdin) holding the structured definition
(IcpDefinition in api/openapi.yaml: intercept, account, personas, signals,
detractors, thresholds), or a whole model as ` + "`models get ORG ID --output json`" + `
prints it (its definition is taken). --text gives an ICP description in prose
instead, parsed on the server (see ` + "`models parse-text`" + `; - reads stdin).
--activate makes the new version the active one.`,
		Args: cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			req := client.CreateICPModelRequest{Name: crName, Activate: crActivate, Note: crNote}
			if crFile != "" {
				def, name, err := readDefinition(c, crFile)
				if err != nil {
					return err
				}
				req.Definition = def
				if req.Name == "" {
					req.Name = name
				}
			} else {
				text, err := readTextArg(c, crText)
				if err != nil {
					return err
				}
				if strings.TrimSpace(text) == "" {
					return errors.New("--text is empty")
				}
				req.Text = text
			}
			var m client.ICPModel
			raw, err := c.callRaw(http.MethodPost, orgPath(args[0], "icp-models"), nil, req, &m)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { modelTable(w, &m) })
		}),
	}
	create.Flags().StringVar(&crFile, "file", "", "the definition: a JSON file (- for stdin)")
	create.Flags().StringVar(&crText, "text", "", "an ICP description in prose, parsed on the server (- for stdin)")
	create.Flags().StringVar(&crName, "name", "", "a name for the model")
	create.Flags().StringVar(&crNote, "note", "", "a note stored with the version")
	create.Flags().BoolVar(&crActivate, "activate", false, "make it the active model")
	create.MarkFlagsOneRequired("file", "text")
	create.MarkFlagsMutuallyExclusive("file", "text")

	activate := &cobra.Command{
		Use:   "activate ORG ID",
		Short: "Make a model version the active one; new evaluations use it (Editor)",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			var m client.ICPModel
			raw, err := c.callRaw(http.MethodPost, orgPath(args[0], "icp-models", args[1], "activate"), nil, nil, &m)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { modelTable(w, &m) })
		}),
	}

	quality := &cobra.Command{
		Use:   "quality ORG ID",
		Short: "How well a model version separates the labelled leads (AUC, log loss, Brier, lift, reliability)",
		Long: `How well a model version separates the organization's labelled leads: feedback
grades (hot/warm = converts) and account outcomes (won/lost). In-sample: run
` + "`trailspark backtest`" + ` for held-out numbers on a CSV.`,
		Args: cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			var q client.ModelQuality
			raw, err := c.getRaw(orgPath(args[0], "icp-models", args[1], "quality"), nil, &q)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { qualityTable(w, &q) })
		}),
	}

	parse := &cobra.Command{
		Use:   "parse-text ORG \"TEXT\"",
		Short: "Parse an ICP description: the definition, what was understood and what was not (nothing stored)",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			text, err := readTextArg(c, args[1])
			if err != nil {
				return err
			}
			body := struct {
				Text string `json:"text"`
			}{text}
			var p client.ICPTextParse
			raw, err := c.callRaw(http.MethodPost, orgPath(args[0], "icp-models", "parse-text"), nil, body, &p)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { textParseTable(w, &p, true) })
		}),
	}

	var an analyzeOptions
	analyze := &cobra.Command{
		Use:   "analyze ORG --accounts A.csv --opportunities O.csv [--preview] [--disable id,id] [--create --name N [--activate]]",
		Short: "Upload an accounts CSV and an opportunities CSV: win-rate insights and fitted weights (Editor)",
		Long: `Upload an accounts CSV and an opportunities CSV (multipart, streamed; the server
takes up to 32 MiB in all). Delimiters and columns are detected; override them
with --account-columns / --opportunity-columns (JSON objects role → header).

--preview shows only the detected mapping, counts and first rows. Otherwise the
command prints the insights (an attribute value's win rate against the base
rate; SIGNIFICANT "no" means within noise) and the weights fitted towards the
active model. --disable id,id leaves insights out of the model (ids are in the
first column). --create stores the result as a new model version (--name,
--activate).`,
		Args: cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			return c.analyzeICP(args[0], &an)
		}),
	}
	fl := analyze.Flags()
	fl.StringVar(&an.accounts, "accounts", "", "the accounts CSV file (required)")
	fl.StringVar(&an.opportunities, "opportunities", "", "the opportunities CSV file (required)")
	fl.BoolVar(&an.preview, "preview", false, "only show the detected columns, counts and first rows")
	fl.StringVar(&an.disabled, "disable", "", "comma list of insight ids to leave out of the model")
	fl.BoolVar(&an.onlySignificant, "only-significant", false, "leave insights within noise out of the model")
	fl.BoolVar(&an.create, "create", false, "store the result as a new model version")
	fl.StringVar(&an.name, "name", "", "the new version's name (with --create)")
	fl.BoolVar(&an.activate, "activate", false, "make the new version active (with --create)")
	fl.StringVar(&an.accountColumns, "account-columns", "", `JSON object role → header for the accounts file, e.g. {"industry":"Sector"}`)
	fl.StringVar(&an.opportunityColumns, "opportunity-columns", "", "JSON object role → header for the opportunities file")
	fl.StringVar(&an.wonStages, "won-stages", "", "comma list replacing the default won stages")
	fl.StringVar(&an.lostStages, "lost-stages", "", "comma list replacing the default lost stages")
	fl.StringVar(&an.unit, "unit", "", "what one row of the analysis is: opportunity or account")
	_ = analyze.MarkFlagRequired("accounts")
	_ = analyze.MarkFlagRequired("opportunities")
	analyze.MarkFlagsMutuallyExclusive("preview", "create")

	cmd.AddCommand(list, get, create, activate, quality, parse, analyze)
	return cmd
}

func qualityTable(w io.Writer, q *client.ModelQuality) {
	kv(w, "MODEL", q.ModelVersion, "LABELLED", strconv.Itoa(q.Labelled), "POSITIVES", strconv.Itoa(q.Positives),
		"FROM FEEDBACK", strconv.Itoa(q.FromFeedback), "FROM OUTCOMES", strconv.Itoa(q.FromOutcomes))
	if m := q.Metrics; m != nil {
		kv(w, "ROC AUC", fmtFixed(m.AUC, 3), "LOG LOSS", fmtFixed(m.LogLoss, 3), "BRIER", fmtFixed(m.Brier, 3),
			"TOP-DECILE LIFT", fmtFixed(m.TopDecileLift, 2), "TOP-DECILE PRECISION", fmtPercent(m.TopDecilePrecision))
	}
	if q.Note != "" {
		kv(w, "NOTE", q.Note)
	}
	if len(q.Reliability) > 0 {
		fmt.Fprintln(w)
		row(w, "PREDICTED", "COUNT", "MEAN PREDICTED", "OBSERVED")
		for _, b := range q.Reliability {
			mean, obs := "-", "-"
			if b.Count > 0 {
				mean, obs = fmtPercent(b.MeanPredicted), fmtPercent(b.ObservedRate)
			}
			row(w, fmtFixed(b.Lo, 1)+"–"+fmtFixed(b.Hi, 1), strconv.Itoa(b.Count), mean, obs)
		}
	}
}

// analyzeOptions are the flags of `models analyze`.
type analyzeOptions struct {
	accounts, opportunities            string
	preview, create, activate          bool
	onlySignificant                    bool
	disabled, name, unit               string
	accountColumns, opportunityColumns string
	wonStages, lostStages              string
}

// fields are the form fields besides the two files, in a stable order.
func (o *analyzeOptions) fields() ([][2]string, error) {
	var f [][2]string
	for _, js := range []struct{ flag, field, v string }{
		{"--account-columns", "account_columns", o.accountColumns},
		{"--opportunity-columns", "opportunity_columns", o.opportunityColumns},
	} {
		if js.v == "" {
			continue
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(js.v), &m); err != nil {
			return nil, fmt.Errorf("%s must be a JSON object of role → column header, e.g. {\"industry\":\"Sector\"}", js.flag)
		}
		f = append(f, [2]string{js.field, js.v})
	}
	if o.unit != "" && o.unit != "opportunity" && o.unit != "account" {
		return nil, fmt.Errorf("--unit must be opportunity or account, not %q", o.unit)
	}
	if (o.name != "" || o.activate) && !o.create {
		return nil, errors.New("--name and --activate need --create")
	}
	for _, s := range []struct{ field, v string }{
		{"won_stages", o.wonStages}, {"lost_stages", o.lostStages}, {"unit", o.unit}, {"disabled", o.disabled}, {"name", o.name},
	} {
		if s.v != "" {
			f = append(f, [2]string{s.field, s.v})
		}
	}
	for _, b := range []struct {
		field string
		v     bool
	}{{"only_significant", o.onlySignificant}, {"preview_only", o.preview}, {"create", o.create}, {"activate", o.activate}} {
		if b.v {
			f = append(f, [2]string{b.field, "true"})
		}
	}
	return f, nil
}

// analyzeICP streams both files as multipart/form-data to POST …/icp-models/analyze.
func (c *cli) analyzeICP(org string, o *analyzeOptions) error {
	fields, err := o.fields()
	if err != nil {
		return err
	}
	files := [2]*os.File{}
	for i, p := range []string{o.accounts, o.opportunities} {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("reading the %s: %w", []string{"accounts", "opportunities"}[i], err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil || fi.IsDir() {
			return fmt.Errorf("%s is not a file", p)
		}
		files[i] = f
	}

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for _, f := range fields {
				if err := mw.WriteField(f[0], f[1]); err != nil {
					return err
				}
			}
			for i, name := range []string{"accounts", "opportunities"} {
				part, err := mw.CreatePart(csvPartHeader(name, filepath.Base(files[i].Name())))
				if err != nil {
					return err
				}
				if _, err := io.Copy(part, files[i]); err != nil {
					return fmt.Errorf("reading %s: %w", files[i].Name(), err)
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	defer pr.Close() // unblocks the writer when the server answered early

	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+c.token)
	hdr.Set("Content-Type", mw.FormDataContentType())
	raw, err := c.sendRaw(c.cmd.Context(), &http.Client{Timeout: 10 * time.Minute}, http.MethodPost, orgPath(org, "icp-models", "analyze"), hdr, pr, -1)
	if err != nil {
		return err
	}
	var res client.ICPAnalysis
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("trailspark: decoding the analysis: %w", err)
	}
	return c.emit(raw, func(w io.Writer) { analysisTable(w, &res) })
}

func csvPartHeader(field, filename string) textproto.MIMEHeader {
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return textproto.MIMEHeader{
		"Content-Disposition": {fmt.Sprintf(`form-data; name="%s"; filename="%s"`, field, esc.Replace(filename))},
		"Content-Type":        {"text/csv"},
	}
}

func analysisTable(w io.Writer, res *client.ICPAnalysis) {
	if p := res.Preview; p != nil {
		kv(w, "ACCOUNTS", fmt.Sprintf("%d rows, delimiter %q, mapping %s", p.AccountRows, p.AccountDelimiter, fmtMapping(p.AccountMapping)),
			"OPPORTUNITIES", fmt.Sprintf("%d rows, delimiter %q, mapping %s", p.OpportunityRows, p.OpportunityDelimiter, fmtMapping(p.OpportunityMapping)),
			"OUTCOMES", fmt.Sprintf("%d won, %d lost, %d open", p.Won, p.Lost, p.Open),
			"MATCHED", fmt.Sprintf("%d opportunities matched to accounts, %d unmatched; %d accounts with outcomes",
				p.MatchedOpportunities, p.UnmatchedOpportunities, p.AccountsWithOutcomes))
		for _, warn := range p.Warnings {
			kv(w, "WARNING", warn)
		}
		if res.Analysis == nil {
			for _, s := range []struct {
				title string
				cols  []string
				rows  [][]string
			}{{"Accounts", p.AccountColumns, p.AccountSample}, {"Opportunities", p.OpportunityColumns, p.OpportunitySample}} {
				if len(s.cols) == 0 {
					continue
				}
				fmt.Fprintf(w, "\n%s: first %d rows\n", s.title, len(s.rows))
				row(w, s.cols...)
				for _, r := range s.rows {
					row(w, r...)
				}
			}
		}
	}
	if a := res.Analysis; a != nil {
		for _, warn := range a.Warnings {
			kv(w, "WARNING", warn)
		}
		fmt.Fprintln(w)
		if len(a.Insights) == 0 {
			fmt.Fprintln(w, "No insights.")
		} else {
			row(w, "ID", "TEXT", "N", "SIGNIFICANT", "ENABLED", "WEIGHT")
			for _, in := range a.Insights {
				weight := "-"
				if in.Weight != 0 {
					weight = fmtFixed(in.Weight, 2)
				}
				row(w, in.ID, in.Text, strconv.Itoa(in.N), yesNo(in.Significant), yesNo(in.Enabled), weight)
			}
		}
	}
	if m := res.Model; m != nil {
		active := ""
		if m.Status == "active" {
			active = ", now active"
		}
		fmt.Fprintf(w, "\nCreated model %s (%s%s).\n", modelLabel(m), orDash(m.Name), active)
	}
}

func fmtMapping(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(m[k])
	}
	return strings.Join(parts, " ")
}
