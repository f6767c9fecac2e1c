package main

// The admin CLI: commands over the HTTP API, built on api/client.
//
// Credentials: --token, else TRAILSPARK_TOKEN, else the token saved by
// `trailspark login` in the CLI config file ($XDG_CONFIG_HOME/trailspark/cli.json
// or ~/.config/trailspark/cli.json, mode 0600). The saved token is only sent to
// the server it was issued by. Server: --server, else TRAILSPARK_SERVER, else
// the saved server, else http://127.0.0.1:8080.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/trailspark/trailspark/api/client"
)

const (
	defaultServer = "http://127.0.0.1:8080"
	envServer     = "TRAILSPARK_SERVER"
	envToken      = "TRAILSPARK_TOKEN"
	showOnceLine  = "store this now; it will not be shown again"
)

// addClientCommands adds the admin commands and their persistent flags to root.
func addClientCommands(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.String("server", defaultServer, "TrailSpark server URL (env "+envServer+")")
	pf.String("token", "", "credential: operator token, session token or personal access token (env "+envToken+"; default: the one saved by login)")
	pf.String("output", "table", "output format: table or json")

	root.AddCommand(
		newRegisterCmd(), newLoginCmd(), newLogoutCmd(), newWhoamiCmd(),
		newTokenCmd(), newOrgCmd(), newMemberCmd(), newInviteCmd(), newKeyCmd(),
		newSignalsCmd(), newRulesCmd(), newLeadsCmd(), newAccountsCmd(),
		newModelsCmd(), newEvaluationsCmd(), newFeedbackCmd(), newRefineCmd(), newSettingsCmd(), newPluginsCmd(),
		newUsageCmd(), newBillingCmd(),
		newDestinationsCmd(), // cli_destinations.go
	)
}

// ---- per-invocation environment ------------------------------------------------------------

// cli is what a command needs: where to send requests, with which
// credential, and how to print.
type cli struct {
	cmd         *cobra.Command
	server      string
	token       string
	tokenSource string // "flag", "env", "config" or ""
	json        bool
	cfg         *cliConfig
	cfgPath     string
	client      *client.Client
	out, errOut io.Writer
}

// newCLI resolves flags, environment and the config file for cmd.
func newCLI(cmd *cobra.Command) (*cli, error) {
	c := &cli{cmd: cmd, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr()}
	output, _ := cmd.Flags().GetString("output")
	switch output {
	case "table", "":
	case "json":
		c.json = true
	default:
		return nil, fmt.Errorf("--output must be table or json, not %q", output)
	}

	path, err := configPath()
	if err == nil {
		c.cfgPath = path
		c.cfg, err = loadConfig(path, c.errOut)
		if err != nil {
			return nil, err
		}
	}
	if c.cfg == nil {
		c.cfg = &cliConfig{}
	}

	// Server: flag, env, config, default.
	serverFlag := cmd.Flags().Lookup("server")
	switch {
	case serverFlag != nil && serverFlag.Changed:
		c.server = serverFlag.Value.String()
	case os.Getenv(envServer) != "":
		c.server = os.Getenv(envServer)
	case c.cfg.Server != "":
		c.server = c.cfg.Server
	default:
		c.server = defaultServer
	}
	c.server = strings.TrimRight(strings.TrimSpace(c.server), "/")
	if u, err := url.Parse(c.server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the server must be an http:// or https:// URL, not %q", c.server)
	}

	// Token: flag, env, config (only for the server it was issued by).
	tokenFlag := cmd.Flags().Lookup("token")
	switch {
	case tokenFlag != nil && tokenFlag.Changed && tokenFlag.Value.String() != "":
		c.token, c.tokenSource = tokenFlag.Value.String(), "flag"
	case os.Getenv(envToken) != "":
		c.token, c.tokenSource = os.Getenv(envToken), "env"
	case c.cfg.Token != "" && sameServer(c.cfg.Server, c.server):
		c.token, c.tokenSource = c.cfg.Token, "config"
	}
	c.token = strings.TrimSpace(c.token)

	c.client = client.New(c.server, c.token,
		client.WithUserAgent("trailspark-cli/"+version),
		client.WithHTTPClient(&http.Client{Timeout: 60 * time.Second}))
	return c, nil
}

// needToken fails early, with a hint, when no credential is configured.
func (c *cli) needToken() error {
	if c.token == "" {
		return errors.New("not signed in: run `trailspark login --email you@example.com`, or pass --token / set " + envToken)
	}
	return nil
}

func sameServer(a, b string) bool {
	return strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

// run wraps a command body that needs a signed-in client.
func run(fn func(c *cli, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := newCLI(cmd)
		if err != nil {
			return err
		}
		if err := c.needToken(); err != nil {
			return err
		}
		return c.explain(fn(c, args))
	}
}

// runAnon wraps a command body that may run without a credential.
func runAnon(fn func(c *cli, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := newCLI(cmd)
		if err != nil {
			return err
		}
		return c.explain(fn(c, args))
	}
}

// explain adds a hint to transport failures; API errors pass through
// untouched, so main prints them as "error: <message> (code …, field …, request …)".
func (c *cli) explain(err error) error {
	var ue *url.Error
	if err != nil && errors.As(err, &ue) && client.StatusOf(err) == 0 {
		return fmt.Errorf("%w\n(is a TrailSpark server running at %s? set --server or %s)", err, c.server, envServer)
	}
	return err
}

// ---- the config file -----------------------------------------------------------------------

// cliConfig is what `login` saves.
type cliConfig struct {
	Server    string     `json:"server,omitempty"`
	Token     string     `json:"token,omitempty"`
	Email     string     `json:"email,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// configPath is $XDG_CONFIG_HOME/trailspark/cli.json, else ~/.config/trailspark/cli.json.
func configPath() (string, error) {
	if dir := os.Getenv("XDG_CONFIG_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "trailspark", "cli.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the CLI config directory: %w", err)
	}
	return filepath.Join(home, ".config", "trailspark", "cli.json"), nil
}

func loadConfig(path string, warn io.Writer) (*cliConfig, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(warn, "warning: %s is readable by other users; run: chmod 600 %s\n", path, path)
	}
	var cfg cliConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON (%v): fix or delete it", path, err)
	}
	return &cfg, nil
}

// saveConfig writes the file atomically with mode 0600 (directory 0700).
func saveConfig(path string, cfg *cliConfig) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".cli-*.json")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// ---- output --------------------------------------------------------------------------------

// emit prints v as indented JSON with --output json, else calls table with a
// tabwriter that is flushed afterwards.
func (c *cli) emit(v any, table func(w io.Writer)) error {
	if c.json {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// done reports an action without a result: a sentence, or {"ok":true,...} in JSON.
func (c *cli) done(msg string, fields map[string]any) error {
	if c.json {
		v := map[string]any{"ok": true}
		for k, x := range fields {
			v[k] = x
		}
		return c.emit(v, nil)
	}
	_, err := fmt.Fprintln(c.out, msg)
	return err
}

// showOnce warns on stderr, after the output, that a secret printed on
// stdout will not be shown again.
func (c *cli) showOnce(what string) {
	fmt.Fprintf(c.errOut, "%s shown above: %s.\n", what, showOnceLine)
}

// kv prints "KEY<tab>value" rows.
func kv(w io.Writer, rows ...string) {
	for i := 0; i+1 < len(rows); i += 2 {
		fmt.Fprintf(w, "%s\t%s\n", rows[i], rows[i+1])
	}
}

// row prints tab-separated cells.
func row(w io.Writer, cells ...string) {
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

func fmtStrPtr(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ---- input ---------------------------------------------------------------------------------

// readPassword reads a password from stdin: the first line with
// --password-stdin, else after a prompt on stderr (without echo on a
// terminal). confirm asks twice when prompting on a terminal.
func (c *cli) readPassword(fromStdin, confirm bool) (string, error) {
	in := c.cmd.InOrStdin()
	r := bufio.NewReader(in)
	if fromStdin {
		pw, err := readLine(r)
		if err != nil {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		if pw == "" {
			return "", errors.New("the password read from stdin is empty")
		}
		return pw, nil
	}
	f, _ := in.(*os.File)
	tty := f != nil && isTerminal(f)
	ask := func(prompt string) (string, error) {
		fmt.Fprint(c.errOut, prompt)
		if tty {
			restore := disableEcho(f)
			defer func() {
				restore()
				fmt.Fprintln(c.errOut)
			}()
		}
		return readLine(r)
	}
	pw, err := ask("Password: ")
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if pw == "" {
		return "", errors.New("the password is empty")
	}
	if confirm && tty {
		again, err := ask("Password (again): ")
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if again != pw {
			return "", errors.New("the passwords do not match")
		}
	}
	return pw, nil
}

// readLine reads up to a newline (or EOF) and drops the line ending.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no input")
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// parseExpiresIn accepts Go durations ("720h", "90m") and whole days ("30d").
func parseExpiresIn(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("--expires-in %q: want a duration such as 720h or 30d", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("--expires-in %q: want a duration such as 720h or 30d", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("--expires-in %q must be positive", s)
	}
	return d, nil
}
