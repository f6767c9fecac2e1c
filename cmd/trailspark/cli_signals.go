package main

// Commands over an organization's data: signals (including the streamed bulk
// import), mapping rules, leads and accounts.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/trailspark/trailspark/api/client"
)

const (
	envKey       = "TRAILSPARK_KEY"
	envKeySecret = "TRAILSPARK_KEY_SECRET"

	// maxRuleFile bounds a rule file (the server takes 1 MiB bodies).
	maxRuleFile = 1 << 20
	// listPageMax is the largest page the API serves.
	listPageMax = 200
)

// Tables decode into the api/client types; JSON output prints the server's
// JSON as it came.

// ---- request helpers ----------------------------------------------------------------------------

func orgPath(org string, parts ...string) string {
	p := "/api/v1/orgs/" + url.PathEscape(org)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// getRaw GETs path and returns the JSON answer as it came, decoding it into v
// as well (for the table).
func (c *cli) getRaw(path string, q url.Values, v any) (json.RawMessage, error) {
	return c.callRaw(http.MethodGet, path, q, nil, v)
}

func (c *cli) callRaw(method, path string, q url.Values, body, v any) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.client.Do(c.cmd.Context(), method, path, q, body, &raw); err != nil {
		return nil, err
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, fmt.Errorf("trailspark: decoding %s %s response: %w", method, path, err)
		}
	}
	return raw, nil
}

// listRaw follows next_cursor until limit items (0: all of them) and returns
// the items as they came. more reports that the server had more than limit.
func (c *cli) listRaw(path string, q url.Values, limit int) (items []json.RawMessage, more bool, err error) {
	items = []json.RawMessage{}
	seen := map[string]bool{}
	cursor := ""
	for {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		size := listPageMax
		if limit > 0 && limit-len(items) < size {
			size = limit - len(items)
		}
		qq.Set("limit", strconv.Itoa(size))
		if cursor != "" {
			qq.Set("cursor", cursor)
		}
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := c.client.Do(c.cmd.Context(), http.MethodGet, path, qq, nil, &page); err != nil {
			return items, false, err
		}
		items = append(items, page.Items...)
		if limit > 0 && len(items) >= limit {
			return items[:limit], page.NextCursor != "" || len(items) > limit, nil
		}
		if page.NextCursor == "" {
			return items, false, nil
		}
		if seen[page.NextCursor] {
			return items, false, fmt.Errorf("trailspark: server repeated cursor %q", page.NextCursor)
		}
		seen[page.NextCursor] = true
		cursor = page.NextCursor
	}
}

func decodeItems[T any](raws []json.RawMessage) ([]T, error) {
	out := make([]T, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return nil, fmt.Errorf("trailspark: decoding list item %d: %w", i+1, err)
		}
	}
	return out, nil
}

// moreHint tells, on stderr, that a list stopped at --limit.
func (c *cli) moreHint(more bool, n int, what string) {
	if more && !c.json {
		fmt.Fprintf(c.errOut, "(the first %d %s; pass a larger --limit, or --limit 0 for all)\n", n, what)
	}
}

// sendRaw sends body as it is (streamed, never buffered here) with the headers
// in hdr and returns a 2xx answer's body. API errors come back as
// *client.APIError, like the typed client's. size is the body length, or -1
// when unknown (sent chunked).
func (c *cli) sendRaw(ctx context.Context, hc *http.Client, method, path string, hdr http.Header, body io.Reader, size int64) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return nil, fmt.Errorf("trailspark: %w", err)
	}
	if size > 0 {
		req.ContentLength = size
	} else if size == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header = hdr.Clone()
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "trailspark-cli/"+version)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("trailspark: %w", err) // *url.Error names the method and URL
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("trailspark: reading %s %s response: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, client.ErrorFromResponse(resp, raw)
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("trailspark: decoding %s %s response: not JSON", method, path)
	}
	return raw, nil
}

// openImportInput opens FILE, or stdin for "-", and tells its size when known (-1 otherwise).
func openImportInput(c *cli, path string) (r io.Reader, size int64, closeFn func(), err error) {
	if path == "-" {
		in := c.cmd.InOrStdin()
		size = -1
		if f, ok := in.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
				if off, err := f.Seek(0, io.SeekCurrent); err == nil {
					size = fi.Size() - off
				}
			}
		}
		return in, size, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, 0, nil, fmt.Errorf("%s is a directory", path)
	}
	size = -1
	if fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return f, size, func() { f.Close() }, nil
}

func inputName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

// firstSignificantByte peeks past a byte order mark and white space at the first
// significant byte (0 for an empty input), the way the server picks the format.
func firstSignificantByte(br *bufio.Reader) byte {
	start := 0
	if p, err := br.Peek(3); err == nil && bytes.Equal(p, []byte("\xef\xbb\xbf")) {
		start = 3
	}
	for i := start; ; i++ {
		p, _ := br.Peek(i + 1) // short at the end of the input or of the buffer
		if len(p) <= i {
			return 0
		}
		switch p[i] {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return p[i]
	}
}

// ---- signals --------------------------------------------------------------------------------

func signalTable(w io.Writer, s *client.Signal) {
	payload := "-"
	if len(s.Payload) > 0 {
		var b bytes.Buffer
		if json.Compact(&b, s.Payload) == nil {
			payload = b.String()
		}
	}
	attempts := "-"
	if s.Attempts > 0 {
		attempts = strconv.Itoa(s.Attempts)
	}
	kv(w, "ID", strconv.FormatUint(s.ID, 10), "STATUS", s.Status, "SOURCE", orDash(s.Source), "TYPE", orDash(s.Type),
		"EVENT", orDash(s.Event), "TIMESTAMP", fmtTime(s.Timestamp), "RECEIVED", fmtTime(s.ReceivedAt),
		"PROCESSED", fmtTimePtr(s.ProcessedAt), "RULE", orDash(s.RuleID), "LEAD", orDash(s.LeadID),
		"ACCOUNT", orDash(s.AccountID), "ERROR", orDash(s.Error), "ATTEMPTS", attempts, "PAYLOAD", payload)
}

// signalStatusOrder lists the statuses in the order a person reads them.
var signalStatusOrder = []string{"pending", "completed", "skipped", "cold", "failed", "permanently_failed"}

func newSignalsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "signals",
		Aliases: []string{"signal"},
		Short:   "Import signals and read an organization's signals",
	}

	var key, secret, source string
	imp := &cobra.Command{
		Use:   "import FILE --key sk_… [--secret S] [--source X]",
		Short: "Import signals in bulk from an NDJSON file or a JSON array (- for stdin), streamed",
		Long: `Import signals in bulk (POST /api/signal-staging/bulk).

FILE holds one signal (a JSON object) per line (NDJSON), or one JSON array of
signals; "-" reads stdin. The format is told by the first non-space byte ("["
for an array) and sent as application/json or application/x-ndjson. The file is
streamed to the server as it is read, never loaded in memory, so it may be of
any size (one signal at most 32 KB).

The organization is the one of the ingestion API key (--key sk_…, or env
` + envKey + `); it is sent as Authorization: Bearer, never in the URL. A key
created with a secret also needs --secret (or env ` + envKeySecret + `), sent
as X-Api-Secret. --source forces the source of every signal (X-Source). The
key and secret are checked first (GET /api/v1/api-keys/self), so a wrong key
fails before anything is uploaded; --token is not used.

While uploading, progress (bytes sent, percentage and ETA when the size is
known, signals per second) is drawn on stderr when it is a terminal, else
printed as a line every few seconds, ending with a summary line.

The server answers once every accepted signal is durable, with what it
accepted, rejected and found to be duplicates (the same messageId within
24 h), and the first 100 rejected lines (for a JSON array: elements) by
number. Exit status: 0 whenever the server answered with a summary, even if
it rejected lines (read the summary, or --output json); 1 when the request
failed (authentication, an unreachable server, a broken upload). After a
failure some signals may already be stored: re-running is safe for signals
that carry a messageId (they count as duplicates).`,
		Args: cobra.ExactArgs(1),
		RunE: runAnon(func(c *cli, args []string) error {
			if key == "" {
				key = strings.TrimSpace(os.Getenv(envKey))
			}
			if secret == "" {
				secret = os.Getenv(envKeySecret)
			}
			if key == "" {
				return fmt.Errorf("pass the ingestion API key with --key sk_… (or set %s); create one with `trailspark key create ORG --name NAME`", envKey)
			}
			if !strings.HasPrefix(key, "sk_") {
				return errors.New("--key must be an ingestion API key (sk_…), not a user or operator token")
			}
			if source != "" && !validSignalSource(source) {
				return fmt.Errorf("--source %q: want 1-32 characters of a-z, 0-9, '_' and '-'", source)
			}
			return c.importSignals(args[0], key, secret, source)
		}),
	}
	imp.Flags().StringVar(&key, "key", "", "the organization's signal_staging API key sk_… (env "+envKey+")")
	imp.Flags().StringVar(&secret, "secret", "", "the key's secret, for a key created with one (env "+envKeySecret+")")
	imp.Flags().StringVar(&source, "source", "", "force the source of every signal (a-z, 0-9, _ and -)")

	get := &cobra.Command{
		Use:   "get ORG ID",
		Short: "Show one accepted signal and its processing status",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			var s client.Signal
			raw, err := c.getRaw(orgPath(args[0], "signals", args[1]), nil, &s)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { signalTable(w, &s) })
		}),
	}

	var status, lsSource, rule, lead string
	var limit int
	list := &cobra.Command{
		Use:   "list ORG [--status S] [--source S] [--rule R] [--lead L] [--limit N]",
		Short: "List processed signals, oldest first",
		Long: "List processed signals, oldest first, following pages up to --limit (default 50; 0 for all).\n" +
			"Signals not processed yet are not listed: see `signals stats` for the backlog and\n" +
			"`signals get` for any accepted signal.",
		Args: cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			if limit < 0 {
				return errors.New("--limit must be 0 (all) or more")
			}
			q := url.Values{}
			for k, v := range map[string]string{"status": status, "source": lsSource, "rule_id": rule, "lead_id": lead} {
				if v != "" {
					q.Set(k, v)
				}
			}
			raws, more, err := c.listRaw(orgPath(args[0], "signals"), q, limit)
			if err != nil {
				return err
			}
			items, err := decodeItems[client.Signal](raws)
			if err != nil {
				return err
			}
			err = c.emit(raws, func(w io.Writer) {
				row(w, "ID", "STATUS", "SOURCE", "TYPE", "EVENT", "TIMESTAMP", "RULE", "LEAD", "ACCOUNT")
				for _, s := range items {
					row(w, strconv.FormatUint(s.ID, 10), s.Status, orDash(s.Source), orDash(s.Type), orDash(s.Event),
						fmtTime(s.Timestamp), orDash(s.RuleID), orDash(s.LeadID), orDash(s.AccountID))
				}
			})
			c.moreHint(more, len(items), "signals")
			return err
		}),
	}
	list.Flags().StringVar(&status, "status", "", "only this status: "+strings.Join(signalStatusOrder, "|"))
	list.Flags().StringVar(&lsSource, "source", "", "only signals from this source")
	list.Flags().StringVar(&rule, "rule", "", "only signals mapped by this rule id")
	list.Flags().StringVar(&lead, "lead", "", "only signals attributed to this lead id")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many signals (0 for all)")

	stats := &cobra.Command{
		Use:   "stats ORG",
		Short: "Count signals by status, with the processing backlog",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			var st client.SignalStats
			raw, err := c.getRaw(orgPath(args[0], "signals", "stats"), nil, &st)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) {
				kv(w, "PENDING", strconv.FormatInt(st.Pending, 10))
				fmt.Fprintln(w)
				row(w, "STATUS", "COUNT")
				done := map[string]bool{}
				for _, s := range signalStatusOrder {
					done[s] = true
					row(w, s, strconv.FormatInt(st.ByStatus[s], 10))
				}
				var others []string
				for s := range st.ByStatus {
					if !done[s] {
						others = append(others, s)
					}
				}
				sort.Strings(others)
				for _, s := range others {
					row(w, s, strconv.FormatInt(st.ByStatus[s], 10))
				}
				if st.Truncated {
					fmt.Fprintln(w, "\n(counts cover only the first 200,000 signals)")
				}
			})
		}),
	}

	cmd.AddCommand(imp, get, list, stats)
	return cmd
}

// validSignalSource is the server's rule for X-Source (checked here so that a
// typo does not cost an upload).
func validSignalSource(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// importSignals streams the file to POST /api/signal-staging/bulk.
func (c *cli) importSignals(path, key, secret, source string) error {
	in, size, closeIn, err := openImportInput(c, path)
	if err != nil {
		return fmt.Errorf("reading the signals: %w", err)
	}
	defer closeIn()

	// Check the key (and secret) first: a refusal then comes before any
	// upload, and says which organization the signals go to.
	self, err := client.New(c.server, key, client.WithUserAgent("trailspark-cli/"+version),
		client.WithHTTPClient(&http.Client{Timeout: 60 * time.Second})).KeySelf(c.cmd.Context(), secret)
	if err != nil {
		return err
	}
	if self.Type != client.KeyTypeSignalStaging {
		return fmt.Errorf("the key %s is a %s key; signal imports need a %s key", self.Name, self.Type, client.KeyTypeSignalStaging)
	}
	fmt.Fprintf(c.errOut, "Importing %s into organization %s (key %s).\n", inputName(path), self.OrgID, orDash(self.Name))
	br := bufio.NewReaderSize(in, 64<<10)
	array := firstSignificantByte(br) == '['
	ctype := "application/x-ndjson"
	if array {
		ctype = "application/json"
	}
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+key)
	hdr.Set("Content-Type", ctype)
	if secret != "" {
		hdr.Set("X-Api-Secret", secret)
	}
	if source != "" {
		hdr.Set("X-Source", source)
	}

	f, _ := c.errOut.(*os.File)
	p := newImportProgress(c.errOut, f != nil && isTerminal(f), size, array)
	p.start()
	// No overall timeout: an import is as long as its file; the server
	// answers once everything is durable.
	raw, err := c.sendRaw(c.cmd.Context(), &http.Client{}, http.MethodPost, "/api/signal-staging/bulk", hdr, &importReader{r: br, p: p}, size)
	p.stop()
	if err != nil {
		return err
	}
	var sum struct {
		client.BulkSummary
		JobID string `json:"job_id"` // servers that track imports as jobs
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		return fmt.Errorf("trailspark: decoding the import summary: %w", err)
	}
	return c.emit(raw, func(w io.Writer) {
		kv(w, "ACCEPTED", strconv.Itoa(sum.Accepted), "REJECTED", strconv.Itoa(sum.Rejected),
			"DUPLICATES", strconv.Itoa(sum.Duplicates), "DURATION", (time.Duration(sum.DurationMS) * time.Millisecond).String())
		if sum.JobID != "" {
			kv(w, "JOB", sum.JobID)
		}
		if len(sum.Errors) == 0 {
			return
		}
		what := "LINE"
		if array {
			what = "ELEMENT"
		}
		fmt.Fprintln(w)
		row(w, what, "CODE", "FIELD", "MESSAGE")
		const show = 20
		for i, e := range sum.Errors {
			if i == show {
				break
			}
			row(w, strconv.Itoa(e.Line), e.Error.Code, orDash(e.Error.Field), e.Error.Message)
		}
		if sum.Rejected > min(len(sum.Errors), show) {
			fmt.Fprintf(w, "(%d rejected in all; the server lists the first 100: --output json)\n", sum.Rejected)
		}
	})
}

// ---- upload progress --------------------------------------------------------------------------

// importReader is the request body: it counts what the transport reads.
type importReader struct {
	r io.Reader
	p *importProgress
}

func (cr *importReader) Read(b []byte) (int, error) {
	n, err := cr.r.Read(b)
	cr.p.add(b[:n])
	if err == io.EOF {
		cr.p.eof()
	}
	return n, err
}

// importProgress tracks an upload and reports it on w: redrawn in place on a
// terminal, else a line every importProgressEvery and a final line.
type importProgress struct {
	w     io.Writer
	tty   bool
	total int64 // -1 when unknown
	array bool

	sent    atomic.Int64
	signals atomic.Int64
	began   time.Time
	upEnd   atomic.Int64 // unix nanos when the body hit EOF

	// signal counting, touched only by the reading goroutine
	lineHasData        bool
	depth              int
	inString, escaping bool

	quit chan struct{}
	wg   sync.WaitGroup
}

const (
	importProgressEvery = 5 * time.Second        // a line every … when stderr is not a terminal
	importProgressTTY   = 200 * time.Millisecond // redraw period on a terminal
	importBarWidth      = 20
)

func newImportProgress(w io.Writer, tty bool, total int64, array bool) *importProgress {
	return &importProgress{w: w, tty: tty, total: total, array: array, quit: make(chan struct{})}
}

// add counts bytes and, from them, signals: non-blank lines of NDJSON, or
// the elements of a JSON array (values closing at depth 1).
func (p *importProgress) add(b []byte) {
	if len(b) == 0 {
		return
	}
	p.sent.Add(int64(len(b)))
	var n int64
	if !p.array {
		for _, c := range b {
			switch c {
			case '\n':
				if p.lineHasData {
					n++
				}
				p.lineHasData = false
			case ' ', '\t', '\r':
			default:
				p.lineHasData = true
			}
		}
	} else {
		for _, c := range b {
			if p.inString {
				switch {
				case p.escaping:
					p.escaping = false
				case c == '\\':
					p.escaping = true
				case c == '"':
					p.inString = false
				}
				continue
			}
			switch c {
			case '"':
				p.inString = true
			case '{', '[':
				p.depth++
			case '}', ']':
				p.depth--
				if p.depth == 1 {
					n++
				}
			}
		}
	}
	if n > 0 {
		p.signals.Add(n)
	}
}

func (p *importProgress) eof() {
	if !p.array && p.lineHasData {
		p.lineHasData = false
		p.signals.Add(1)
	}
	p.upEnd.CompareAndSwap(0, time.Now().UnixNano())
}

func (p *importProgress) start() {
	p.began = time.Now()
	every := importProgressEvery
	if p.tty {
		every = importProgressTTY
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				if p.tty {
					fmt.Fprintf(p.w, "\r%s\x1b[K", p.bar())
				} else {
					fmt.Fprintln(p.w, "import: "+p.status())
				}
			}
		}
	}()
}

// stop ends the reports with a final line.
func (p *importProgress) stop() {
	close(p.quit)
	p.wg.Wait()
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintln(p.w, "import: "+p.final())
}

func (p *importProgress) elapsed() time.Duration {
	if end := p.upEnd.Load(); end != 0 {
		return time.Unix(0, end).Sub(p.began)
	}
	return time.Since(p.began)
}

func (p *importProgress) rate() int64 {
	secs := p.elapsed().Seconds()
	if secs <= 0 {
		return 0
	}
	return int64(float64(p.signals.Load()) / secs)
}

// amount is "1.2 MiB / 4.0 MiB (30%)", or "1.2 MiB" when the size is unknown.
func (p *importProgress) amount() string {
	sent := p.sent.Load()
	if p.total <= 0 {
		return fmtBytes(sent)
	}
	return fmt.Sprintf("%s / %s (%d%%)", fmtBytes(sent), fmtBytes(p.total), importPercent(sent, p.total))
}

func (p *importProgress) eta() string {
	sent, el := p.sent.Load(), p.elapsed()
	if p.total <= 0 || sent <= 0 || sent >= p.total || el <= 0 {
		return ""
	}
	left := time.Duration(float64(el) * float64(p.total-sent) / float64(sent))
	return ", ETA " + left.Round(time.Second).String()
}

// status is a progress line while uploading.
func (p *importProgress) status() string {
	s := fmt.Sprintf("%s, %d signals, %d signals/s", p.amount(), p.signals.Load(), p.rate())
	if p.upEnd.Load() != 0 {
		return s + "; uploaded, waiting for the server's summary"
	}
	return s + p.eta()
}

// final is the last line: what was sent, in how long.
func (p *importProgress) final() string {
	return fmt.Sprintf("sent %s, %d signals in %s (%d signals/s)", p.amount(), p.signals.Load(),
		fmtElapsed(p.elapsed()), p.rate())
}

// bar is the terminal form, short enough for 80 columns:
// "[=====>              ]  25%  1.0 MiB / 4.0 MiB  8000 signals/s  ETA 3s".
func (p *importProgress) bar() string {
	sent := p.sent.Load()
	tail := fmt.Sprintf("  %d signals/s", p.rate())
	if p.upEnd.Load() != 0 {
		tail += "  waiting for the server…"
	} else if eta := p.eta(); eta != "" {
		tail += "  " + strings.TrimPrefix(eta, ", ")
	}
	if p.total <= 0 {
		return fmt.Sprintf("%s sent, %d signals", fmtBytes(sent), p.signals.Load()) + tail
	}
	pct := importPercent(sent, p.total)
	done := int(pct) * importBarWidth / 100
	b := strings.Repeat("=", done)
	if done < importBarWidth {
		b += ">" + strings.Repeat(" ", importBarWidth-done-1)
	}
	return fmt.Sprintf("[%s] %3d%%  %s / %s", b, pct, fmtBytes(sent), fmtBytes(p.total)) + tail
}

func importPercent(n, total int64) int64 {
	if total <= 0 {
		return 0
	}
	if n >= total {
		return 100
	}
	return n * 100 / total
}

func fmtBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
}

func fmtElapsed(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// ---- rules ----------------------------------------------------------------------------------

func fmtFloatPtr(f *float64) string {
	if f == nil {
		return "default"
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

func ruleMappings(r *client.Rule) string {
	var s []string
	for _, m := range r.Mappings {
		s = append(s, m.Path+"→"+m.Target)
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

func ruleTable(w io.Writer, r *client.Rule) {
	cond := "{}"
	if len(r.Conditions) > 0 {
		var b bytes.Buffer
		if json.Compact(&b, r.Conditions) == nil {
			cond = b.String()
		}
	}
	kv(w, "ID", r.ID, "NAME", r.Name, "SIGNAL TYPE", r.SignalType, "DESCRIPTION", orDash(r.Description),
		"SOURCE", orDash(r.Source), "PRIORITY", strconv.Itoa(r.Priority), "HIGH INTENT", yesNo(r.HighIntent),
		"NEGATIVE", yesNo(r.Negative), "WEIGHT", fmtFloatPtr(r.Weight), "HALF-LIFE (H)", fmtFloatPtr(r.HalfLifeHours),
		"CONDITIONS", cond, "MAPPINGS", ruleMappings(r), "CREATED", fmtTime(r.CreatedAt), "UPDATED", fmtTime(r.UpdatedAt))
}

// readRuleFile reads a rule (a JSON object) from a file or stdin ("-"). The
// fields the server sets (id, created_at, updated_at) are dropped, so the
// output of `rules get --output json` can be edited and sent back.
func readRuleFile(c *cli, path string) (json.RawMessage, error) {
	var r io.Reader
	if path == "-" {
		r = c.cmd.InOrStdin()
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading the rule: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxRuleFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading the rule: %w", err)
	}
	if len(b) > maxRuleFile {
		return nil, fmt.Errorf("the rule %s is larger than 1 MiB", path)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var rule map[string]any
	if err := dec.Decode(&rule); err != nil || rule == nil {
		if err == nil {
			err = errors.New("null")
		}
		return nil, fmt.Errorf("the rule %s must hold a JSON object: %v", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("the rule %s must hold one JSON object, and nothing after it", path)
	}
	for _, k := range []string{"id", "created_at", "updated_at"} {
		delete(rule, k)
	}
	out, err := json.Marshal(rule)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rules",
		Aliases: []string{"rule"},
		Short:   "Manage an organization's signal mapping rules",
	}
	ruleFileHelp := "The rule is a JSON object (see RuleInput in api/openapi.yaml) read from --file (- for stdin);\n" +
		"id, created_at and updated_at are ignored, so `rules get ORG ID --output json` can be edited and sent back."

	list := &cobra.Command{
		Use:   "list ORG",
		Short: "List mapping rules, highest priority first",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			raws, _, err := c.listRaw(orgPath(args[0], "signal-rules"), nil, 0)
			if err != nil {
				return err
			}
			items, err := decodeItems[client.Rule](raws)
			if err != nil {
				return err
			}
			return c.emit(raws, func(w io.Writer) {
				row(w, "ID", "NAME", "SIGNAL TYPE", "PRIORITY", "SOURCE", "HIGH INTENT", "NEGATIVE", "WEIGHT", "MAPPINGS")
				for i := range items {
					r := &items[i]
					row(w, r.ID, r.Name, r.SignalType, strconv.Itoa(r.Priority), orDash(r.Source), yesNo(r.HighIntent),
						yesNo(r.Negative), fmtFloatPtr(r.Weight), ruleMappings(r))
				}
			})
		}),
	}

	get := &cobra.Command{
		Use:   "get ORG ID",
		Short: "Show a mapping rule",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			var r client.Rule
			raw, err := c.getRaw(orgPath(args[0], "signal-rules", args[1]), nil, &r)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { ruleTable(w, &r) })
		}),
	}

	var crFile string
	create := &cobra.Command{
		Use:   "create ORG --file rule.json|-",
		Short: "Create a mapping rule (Editor)",
		Long:  "Create a mapping rule (Editor); it applies to signals processed from now on.\n" + ruleFileHelp,
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			body, err := readRuleFile(c, crFile)
			if err != nil {
				return err
			}
			var r client.Rule
			raw, err := c.callRaw(http.MethodPost, orgPath(args[0], "signal-rules"), nil, body, &r)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { ruleTable(w, &r) })
		}),
	}
	create.Flags().StringVar(&crFile, "file", "", "the rule: a JSON file (- for stdin) (required)")
	_ = create.MarkFlagRequired("file")

	var upFile string
	update := &cobra.Command{
		Use:   "update ORG ID --file rule.json|-",
		Short: "Replace a mapping rule (Editor)",
		Long: "Replace a mapping rule (Editor): every field is replaced, its id and created_at stay;\n" +
			"signals already processed keep their result.\n" + ruleFileHelp,
		Args: cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			body, err := readRuleFile(c, upFile)
			if err != nil {
				return err
			}
			var r client.Rule
			raw, err := c.callRaw(http.MethodPut, orgPath(args[0], "signal-rules", args[1]), nil, body, &r)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { ruleTable(w, &r) })
		}),
	}
	update.Flags().StringVar(&upFile, "file", "", "the rule: a JSON file (- for stdin) (required)")
	_ = update.MarkFlagRequired("file")

	del := &cobra.Command{
		Use:   "delete ORG ID",
		Short: "Delete a mapping rule (Editor); processed data stays",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			if err := c.client.Do(c.cmd.Context(), http.MethodDelete, orgPath(args[0], "signal-rules", args[1]), nil, nil, nil); err != nil {
				return err
			}
			return c.done("Deleted rule "+args[1]+".", map[string]any{"id": args[1]})
		}),
	}

	cmd.AddCommand(list, get, create, update, del)
	return cmd
}

// ---- leads ----------------------------------------------------------------------------------

func leadAccount(l *client.Lead) string {
	if l.Account == nil {
		if l.UnmatchedReason != "" {
			return "- (" + l.UnmatchedReason + ")"
		}
		return "-"
	}
	return l.Account.AccountID + " (" + l.Account.How + ")"
}

func leadTable(w io.Writer, l *client.Lead, recent int) {
	var ids []string
	for _, id := range l.Identifiers {
		ids = append(ids, id.Kind+"="+id.Value)
	}
	var types []string
	for t, n := range l.CountsByType {
		types = append(types, t+"="+strconv.Itoa(n))
	}
	sort.Strings(types)
	kv(w, "ID", l.ID, "EMAIL", orDash(l.Email), "TITLE", orDash(l.Title), "IDENTIFIERS", orDash(strings.Join(ids, ", ")),
		"ACCOUNT", leadAccount(l))
	if l.Account != nil && len(l.Account.Ambiguous) > 0 {
		kv(w, "ALSO MATCHED", strings.Join(l.Account.Ambiguous, ", "))
	}
	kv(w, "SIGNALS", strconv.Itoa(l.SignalCount), "MAPPED", strconv.Itoa(l.MappedCount),
		"BY TYPE", orDash(strings.Join(types, ", ")), "FIRST SEEN", fmtTime(l.FirstSeenAt), "LAST SEEN", fmtTime(l.LastSeenAt))
	if len(l.Conflicts) > 0 {
		kv(w, "CONFLICTS", strings.Join(l.Conflicts, ", "))
	}
	kv(w, "CREATED", fmtTime(l.CreatedAt), "UPDATED", fmtTime(l.UpdatedAt))

	fmt.Fprintln(w)
	if len(l.Timeline) == 0 {
		fmt.Fprintln(w, "No signals in the timeline.")
		return
	}
	tl := l.Timeline
	if recent > 0 && len(tl) > recent {
		tl = tl[len(tl)-recent:]
		fmt.Fprintf(w, "Timeline: the latest %d of %d entries (--timeline N or --output json for more)\n", recent, len(l.Timeline))
	} else {
		fmt.Fprintf(w, "Timeline: %d entries\n", len(tl))
	}
	row(w, "AT", "SIGNAL", "SOURCE", "EVENT", "RULE", "SIGNAL TYPE", "WEIGHT", "HIGH INTENT")
	for _, e := range tl {
		event := e.Event
		if event == "" {
			event = e.Type
		}
		rule := "-"
		if e.RuleID != "" {
			rule = e.RuleID
			if e.RuleName != "" {
				rule += " (" + e.RuleName + ")"
			}
		}
		weight := "-"
		if e.Weight != 0 {
			weight = strconv.FormatFloat(e.Weight, 'g', -1, 64)
		}
		row(w, fmtTime(e.At), strconv.FormatUint(e.SignalID, 10), orDash(e.Source), orDash(event), rule,
			orDash(e.SignalType), weight, yesNo(e.HighIntent))
	}
}

func newLeadsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "leads",
		Aliases: []string{"lead"},
		Short:   "Read an organization's leads",
	}

	var limit int
	list := &cobra.Command{
		Use:   "list ORG [--limit N]",
		Short: "List leads by id",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			if limit < 0 {
				return errors.New("--limit must be 0 (all) or more")
			}
			raws, more, err := c.listRaw(orgPath(args[0], "leads"), nil, limit)
			if err != nil {
				return err
			}
			items, err := decodeItems[client.Lead](raws)
			if err != nil {
				return err
			}
			err = c.emit(raws, func(w io.Writer) {
				row(w, "ID", "EMAIL", "ACCOUNT", "SIGNALS", "MAPPED", "LAST SEEN")
				for i := range items {
					l := &items[i]
					row(w, l.ID, orDash(l.Email), leadAccount(l), strconv.Itoa(l.SignalCount), strconv.Itoa(l.MappedCount), fmtTime(l.LastSeenAt))
				}
			})
			c.moreHint(more, len(items), "leads")
			return err
		}),
	}
	list.Flags().IntVar(&limit, "limit", 50, "at most this many leads (0 for all)")

	var recent int
	get := &cobra.Command{
		Use:   "get ORG ID",
		Short: "Show a lead: identifiers, account link, counts and recent timeline",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			var l client.Lead
			raw, err := c.getRaw(orgPath(args[0], "leads", args[1]), nil, &l)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { leadTable(w, &l, recent) })
		}),
	}
	get.Flags().IntVar(&recent, "timeline", 10, "timeline entries to show in the table, latest last (0 for all)")

	var email string
	var findRecent int
	find := &cobra.Command{
		Use:   "find ORG --email EMAIL",
		Short: "Show the lead known by an email address (exit status 1 when there is none)",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			var page struct {
				Items []json.RawMessage `json:"items"`
			}
			if err := c.client.Do(c.cmd.Context(), http.MethodGet, orgPath(args[0], "leads"), url.Values{"email": {email}}, nil, &page); err != nil {
				return err
			}
			if len(page.Items) == 0 {
				return fmt.Errorf("no lead is known by the email %s in organization %s", email, args[0])
			}
			var l client.Lead
			if err := json.Unmarshal(page.Items[0], &l); err != nil {
				return fmt.Errorf("trailspark: decoding the lead: %w", err)
			}
			return c.emit(page.Items[0], func(w io.Writer) { leadTable(w, &l, findRecent) })
		}),
	}
	find.Flags().StringVar(&email, "email", "", "the email address (case-insensitive) (required)")
	find.Flags().IntVar(&findRecent, "timeline", 10, "timeline entries to show in the table, latest last (0 for all)")
	_ = find.MarkFlagRequired("email")

	cmd.AddCommand(list, get, find)
	return cmd
}

// ---- accounts -------------------------------------------------------------------------------

func fmtEmployees(n *int64) string {
	if n == nil {
		return "-"
	}
	return strconv.FormatInt(*n, 10)
}

func accountTable(w io.Writer, a *client.Account) {
	attrs := "-"
	if len(a.Attributes) > 0 {
		if b, err := json.Marshal(a.Attributes); err == nil {
			attrs = string(b)
		}
	}
	kv(w, "ID", a.ID, "NAME", a.Name, "DOMAIN", orDash(a.Domain), "INDUSTRY", orDash(a.Industry),
		"EMPLOYEES", fmtEmployees(a.Employees), "REGION", orDash(a.Region), "EXTERNAL ID", orDash(a.ExternalID),
		"SOURCE", orDash(a.Source), "INFERRED", yesNo(a.Inferred), "ATTRIBUTES", attrs,
		"CREATED", fmtTime(a.CreatedAt), "UPDATED", fmtTime(a.UpdatedAt))
}

func newAccountsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "accounts",
		Aliases: []string{"account"},
		Short:   "Manage an organization's accounts",
	}

	var limit int
	list := &cobra.Command{
		Use:   "list ORG [--limit N]",
		Short: "List accounts (created, imported and inferred from email domains)",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			if limit < 0 {
				return errors.New("--limit must be 0 (all) or more")
			}
			raws, more, err := c.listRaw(orgPath(args[0], "accounts"), nil, limit)
			if err != nil {
				return err
			}
			items, err := decodeItems[client.Account](raws)
			if err != nil {
				return err
			}
			err = c.emit(raws, func(w io.Writer) {
				row(w, "ID", "NAME", "DOMAIN", "INDUSTRY", "EMPLOYEES", "REGION", "SOURCE")
				for i := range items {
					a := &items[i]
					row(w, a.ID, a.Name, orDash(a.Domain), orDash(a.Industry), fmtEmployees(a.Employees), orDash(a.Region), orDash(a.Source))
				}
			})
			c.moreHint(more, len(items), "accounts")
			return err
		}),
	}
	list.Flags().IntVar(&limit, "limit", 0, "at most this many accounts (0 for all)")

	get := &cobra.Command{
		Use:   "get ORG ID",
		Short: "Show an account",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			var a client.Account
			raw, err := c.getRaw(orgPath(args[0], "accounts", args[1]), nil, &a)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { accountTable(w, &a) })
		}),
	}

	var in client.AccountInput
	var employees int64
	create := &cobra.Command{
		Use:   "create ORG --name NAME [--domain D] [--industry I] [--employees N] [--region R] [--external-id X]",
		Short: "Create an account (Editor); an account inferred for the same domain is taken over",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(c *cli, args []string) error {
			body := in
			if c.cmd.Flags().Changed("employees") {
				n := employees
				body.Employees = &n
			}
			var a client.Account
			raw, err := c.callRaw(http.MethodPost, orgPath(args[0], "accounts"), nil, body, &a)
			if err != nil {
				return err
			}
			return c.emit(raw, func(w io.Writer) { accountTable(w, &a) })
		}),
	}
	fl := create.Flags()
	fl.StringVar(&in.Name, "name", "", "account name (required)")
	fl.StringVar(&in.Domain, "domain", "", "website domain or URL (stored as the registrable domain)")
	fl.StringVar(&in.Industry, "industry", "", "industry")
	fl.Int64Var(&employees, "employees", 0, "head count")
	fl.StringVar(&in.Region, "region", "", "region or country")
	fl.StringVar(&in.ExternalID, "external-id", "", "the account's id in another system (a CRM, say)")
	_ = create.MarkFlagRequired("name")

	imp := &cobra.Command{
		Use:   "import ORG FILE",
		Short: "Create accounts from a CSV file or a JSON array (Editor); - for stdin",
		Long: `Create accounts from a CSV file (sent as text/csv) or a .json file holding a
JSON array of accounts (sent as application/json); "-" reads stdin, which is
taken for JSON when it starts with "[". The file is streamed; the server takes
up to 10 MiB.

CSV columns are recognized by header name: name / account_name / account /
company (required), domain / website / url, industry / sector, employees /
employee_count / company_size / size, region / country / location, external_id /
account_id / id. A bad row is reported, not fatal: the command prints how many
accounts were created and failed, and the first failed rows by number (1 is
the first row after the header, or the first array element). Exit status 0
whenever the server answered with that summary.`,
		Args: cobra.ExactArgs(2),
		RunE: run(func(c *cli, args []string) error {
			return c.importAccounts(args[0], args[1])
		}),
	}

	cmd.AddCommand(list, get, create, imp)
	return cmd
}

func (c *cli) importAccounts(org, path string) error {
	in, size, closeIn, err := openImportInput(c, path)
	if err != nil {
		return fmt.Errorf("reading the accounts: %w", err)
	}
	defer closeIn()
	br := bufio.NewReaderSize(in, 64<<10)
	var ctype string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		ctype = "application/json"
	case ".csv":
		ctype = "text/csv"
	default:
		ctype = "text/csv"
		if firstSignificantByte(br) == '[' {
			ctype = "application/json"
		}
	}
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+c.token)
	hdr.Set("Content-Type", ctype)
	raw, err := c.sendRaw(c.cmd.Context(), &http.Client{Timeout: 10 * time.Minute}, http.MethodPost, orgPath(org, "accounts", "import"), hdr, br, size)
	if err != nil {
		return err
	}
	var res client.AccountImportResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("trailspark: decoding the import result: %w", err)
	}
	return c.emit(raw, func(w io.Writer) {
		kv(w, "CREATED", strconv.Itoa(res.Created), "FAILED", strconv.Itoa(res.Failed))
		if len(res.Errors) == 0 {
			return
		}
		fmt.Fprintln(w)
		row(w, "ROW", "CODE", "FIELD", "MESSAGE")
		const show = 20
		for i, e := range res.Errors {
			if i == show {
				break
			}
			row(w, strconv.Itoa(e.Row), e.Error.Code, orDash(e.Error.Field), e.Error.Message)
		}
		if res.Failed > min(len(res.Errors), show) {
			fmt.Fprintf(w, "(%d failed in all; the server lists the first 100: --output json)\n", res.Failed)
		}
	})
}
