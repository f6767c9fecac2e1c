package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/spf13/cobra"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/signal"
	"github.com/trailspark/trailspark/store"
	badgerstore "github.com/trailspark/trailspark/store/badger"
	"github.com/trailspark/trailspark/store/postgres"
)

// `trailspark bench ingest` drives signal ingestion against a fresh node
// (a child process, like an operator runs it) and against a bare baseline
// (a minimal Gin handler doing only the same durable append), and reports
// throughput, latency percentiles, processing lag and memory. --store runs
// both on PostgreSQL instead of Badger.
func newBenchIngestCmd() *cobra.Command {
	var dur time.Duration
	var conc, batch, leads int
	var storeURL string
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Measure signal ingestion throughput, latency and processing lag",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchIngest(cmd.OutOrStdout(), dur, conc, batch, leads, storeURL)
		},
	}
	cmd.Flags().StringVar(&storeURL, "store", "", "a postgres:// URL: the node and the baseline use this database instead of Badger")
	cmd.Flags().DurationVar(&dur, "duration", 10*time.Second, "how long each load phase runs")
	cmd.Flags().IntVar(&conc, "concurrency", 8, "concurrent HTTP clients")
	cmd.Flags().IntVar(&batch, "batch", 500, "signals per batch request")
	cmd.Flags().IntVar(&leads, "leads", 20000, "distinct people the signals come from")
	return cmd
}

// runID makes message ids unique across bench runs (dedup would otherwise
// turn a second run into duplicates).
var runID = time.Now().UnixNano()

// appendPayload appends a ~300-byte Segment-like track signal. It is built
// with Appendf rather than json.Marshal so the load generator, which shares
// the machine, spends little CPU.
func appendPayload(b []byte, i, leads int) []byte {
	p := i % leads
	return fmt.Appendf(b, `{"type":"track","event":"Viewed","messageId":"bench-%d-%d","email":"person%d@company%d.com",`+
		`"properties":{"page_url":"https://acme.example/pricing","plan":"pro","seats":12},`+
		`"context":{"ip":"203.0.113.7","userAgent":"Mozilla/5.0 (X11; Linux x86_64)"},"timestamp":"2026-11-28T10:00:00.000Z"}`,
		runID, i, p, p%(leads/10+1))
}

type loadResult struct {
	signals   int64
	requests  int64
	errors    int64
	elapsed   time.Duration
	latencies []time.Duration
	ids       []string // sampled signal ids (see drive)
}

func (r *loadResult) rate() float64 { return float64(r.signals) / r.elapsed.Seconds() }

func (r *loadResult) pct(p float64) time.Duration { return pctOf(r.latencies, p) }

// drive posts bodies from gen for dur with conc clients; rate limits the
// total request rate when > 0. With sampleEvery > 0 it keeps the signal id
// of every sampleEvery-th request (for the processing lag).
func drive(url string, conc int, dur time.Duration, perReq int, rate float64, gen func(i int) []byte, sampleEvery ...int) *loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: conc * 2, MaxConnsPerHost: conc * 2}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	res := &loadResult{}
	var mu sync.Mutex
	var n atomic.Int64
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for time.Now().Before(deadline) {
				i := int(n.Add(1))
				if rate > 0 {
					due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				}
				body := gen(i)
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					atomic.AddInt64(&res.errors, 1)
					continue
				}
				if len(sampleEvery) > 0 && sampleEvery[0] > 0 && i%sampleEvery[0] == 0 {
					var acc struct {
						ID json.Number `json:"id"`
					}
					if json.NewDecoder(resp.Body).Decode(&acc) == nil && acc.ID != "" {
						mu.Lock()
						res.ids = append(res.ids, acc.ID.String())
						mu.Unlock()
					}
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
					atomic.AddInt64(&res.errors, 1)
					continue
				}
				atomic.AddInt64(&res.requests, 1)
				atomic.AddInt64(&res.signals, int64(perReq))
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func batchGen(batch, leads int) func(int) []byte {
	return func(i int) []byte {
		b := make([]byte, 0, batch*340)
		b = append(b, '[')
		for j := 0; j < batch; j++ {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendPayload(b, i*batch+j, leads)
		}
		return append(b, ']')
	}
}

// benchMessageID finds the dedup key of an item appendPayload made, with
// the least work a handler could do: its messageId, keyed as the ingest
// path keys it.
func benchMessageID(item []byte) string {
	const field = `"messageId":"`
	i := bytes.Index(item, []byte(field))
	if i < 0 {
		return ""
	}
	rest := item[i+len(field):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return actors.MessageDedupKey(string(rest[:j]))
}

func singleGen(leads int) func(int) []byte {
	return func(i int) []byte { return appendPayload(make([]byte, 0, 340), 1_000_000_000+i, leads) }
}

// baseline serves a bare Gin handler that splits a JSON array and appends
// the raw items to the same kind of signal log as the node's (Badger, or
// PostgreSQL at storeURL), durable before answering. With dedup, each item
// is appended with its messageId as the dedup key for the node's window,
// as the node's append does (the signal log's dedup index is part of the
// append, not logic around it); without, the append writes the items only.
func baseline(storeURL string, dedup bool, org string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "trailspark-baseline-")
	if err != nil {
		return "", nil, err
	}
	var st interface {
		SignalLog() store.SignalLog
		Close() error
	}
	if storeURL != "" {
		st, err = postgres.Open(context.Background(), storeURL, postgres.Options{})
	} else {
		st, err = badgerstore.Open(badgerstore.Options{Dir: dir, GCInterval: -1})
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	log := st.SignalLog()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/batch", func(c *gin.Context) {
		body, _ := io.ReadAll(c.Request.Body)
		// The node's own batch splitter (validation and split, several
		// times faster than encoding/json's): the baseline does the least
		// work a handler could, so the ratio is not flattered by a slow one.
		items, err := signal.SplitBatch(body)
		if err != nil {
			c.Status(400)
			return
		}
		recs := make([]store.LogRecord, len(items))
		for i, it := range items {
			recs[i] = store.LogRecord{Partition: i % store.Partitions, Data: it}
			if dedup {
				recs[i].DedupKey = benchMessageID(it)
			}
		}
		window := time.Duration(0)
		if dedup {
			window = actors.DedupWindow
		}
		if _, err := log.Append(c.Request.Context(), org, recs, window); err != nil {
			c.Status(503)
			return
		}
		c.Status(http.StatusAccepted)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: r}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() {
		_ = srv.Shutdown(context.Background())
		_ = st.Close()
		os.RemoveAll(dir)
	}, nil
}

func runBenchIngest(w io.Writer, dur time.Duration, conc, batch, leads int, storeURL string) error {
	kind, extra := "Badger", []string(nil)
	if storeURL != "" {
		if !strings.HasPrefix(storeURL, "postgres://") && !strings.HasPrefix(storeURL, "postgresql://") {
			return fmt.Errorf("--store: want a postgres:// URL, got %q", storeURL)
		}
		kind, extra = "PostgreSQL", []string{"--store", storeURL}
	}
	fmt.Fprintf(w, "machine: %d CPUs; load generator on the same machine; %v per phase, %d clients; store %s\n", numCPU(), dur, conc, kind)

	// Two baselines: the same durable append as the node's (each item with
	// its messageId as the dedup key) and a bare append of the items alone.
	// The first runs twice, each run on a fresh store, before the node
	// starts and again once the node's batch phase has drained: on a
	// shared 2-core machine one 6–10 s sample varied by ±15% from run to
	// run, and the ratio is taken against the mean of the two.
	runs := 0
	runBaseline := func(dedup bool, profile string) (*loadResult, error) {
		// Each run appends for an organization of its own: on PostgreSQL
		// the store is not fresh, and a second run's messageIds would all
		// be repeats of the first's.
		runs++
		burl, stopBase, err := baseline(storeURL, dedup, fmt.Sprintf("org_baseline_%d_%d", runID, runs))
		if err != nil {
			return nil, err
		}
		defer stopBase()
		if profile != "" {
			// The baseline runs in this process, next to the load
			// generator: its profile has both (the handler is under
			// baseline.func).
			if f, err := os.Create(profile); err == nil && pprof.StartCPUProfile(f) == nil {
				defer f.Close()
				defer pprof.StopCPUProfile()
			}
		}
		return drive(burl+"/batch", conc, dur, batch, 0, batchGen(batch, leads)), nil
	}
	profDir := os.Getenv("TRAILSPARK_BENCH_PROFILE") // save CPU/heap profiles here
	baseProfile := ""
	if profDir != "" {
		baseProfile = profDir + "/cpu-baseline.prof"
	}
	bare, err := runBaseline(false, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "bare append baseline (Gin + durable %s append of the items, no dedup keys), batches of %d: %.0f signals/s\n", kind, batch, bare.rate())
	base, err := runBaseline(true, baseProfile)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "baseline (Gin + the node's durable %s append: items with their messageId dedup keys), batches of %d: %.0f signals/s\n", kind, batch, base.rate())

	n, _, err := startBenchNode(extra...)
	if err != nil {
		return err
	}
	defer n.stop()
	const op = "bench-operator-token-0123456789"
	if _, err := n.call("POST", "/api/v1/auth/register", "", map[string]any{"email": "bench@example.com", "password": "bench-password", "name": "Bench"}); err != nil {
		return err
	}
	org, err := n.call("POST", "/api/v1/orgs", op, map[string]any{"name": fmt.Sprintf("Bench Ingest %d", runID), "size": "51-200", "industry": "Technology", "owner_email": "bench@example.com",
		// The free plan would stop the load at 10,000 signals (SPEC §5).
		"plan": "scale"})
	if err != nil {
		return err
	}
	orgID := org["id"].(string)
	if _, err := n.call("POST", "/api/v1/orgs/"+orgID+"/signal-rules", op, map[string]any{"name": "Viewed", "signal_type": "page_view",
		"conditions": map[string]any{"path": "event", "op": "equals", "value": "Viewed"},
		"mappings":   []any{map[string]any{"path": "email", "target": "email"}}}); err != nil {
		return err
	}
	k, err := n.call("POST", "/api/v1/orgs/"+orgID+"/api-keys", op, map[string]any{"name": "bench"})
	if err != nil {
		return err
	}
	key := k["key"].(string)

	var profWG sync.WaitGroup
	if profDir != "" {
		profWG.Add(1)
		go func() {
			defer profWG.Done()
			saveProfile(n, op, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(dur.Seconds())-1), profDir+"/cpu-batch.prof")
		}()
		go func() { // where the node's goroutines wait mid-phase
			time.Sleep(dur / 2)
			saveProfile(n, op, "/debug/pprof/goroutine?debug=1", profDir+"/goroutines-batch.txt")
		}()
	}
	pid := n.cmd.Process.Pid
	u0, uerr := readProcUsage(pid)
	b := drive(n.url+"/api/signal-staging/webhook/"+key+"/batch", conc, dur, batch, 0, batchGen(batch, leads))
	profWG.Wait()
	if profDir != "" {
		go saveProfile(n, op, "/debug/pprof/profile?seconds=5", profDir+"/cpu-processing.prof")
	}
	fmt.Fprintf(w, "batch ingest to durable 202, batches of %d: %.0f signals/s, p50 %v p99 %v per request, %d errors\n",
		batch, b.rate(), b.pct(0.5).Round(time.Millisecond), b.pct(0.99).Round(time.Millisecond), b.errors)
	lag := waitProcessed(n, op, orgID, b.signals)
	fmt.Fprintf(w, "processing: the %d batch signals were all processed %v after the load stopped (%.0f signals/s from the first request)\n",
		b.signals, lag.Round(time.Millisecond), float64(b.signals)/(b.elapsed+lag).Seconds())
	if u1, err := readProcUsage(pid); err == nil && uerr == nil {
		fmt.Fprintf(w, "  ingest and processing of the batches: %s\n", usageLine(u0, u1, b.signals))
	}

	fmt.Fprintf(w, "  (the store's compactions settled %v later)\n", waitStoreSettled(pid, time.Minute).Round(100*time.Millisecond))
	base2, err := runBaseline(true, "")
	if err != nil {
		return err
	}
	mean := (base.rate() + base2.rate()) / 2
	fmt.Fprintf(w, "baseline again, fresh store: %.0f signals/s; batch ingest is %.2f of the baseline (mean %.0f), %.2f of the bare append\n",
		base2.rate(), b.rate()/mean, mean, b.rate()/bare.rate())
	if profDir != "" {
		profWG.Add(1)
		go func() {
			defer profWG.Done()
			saveProfile(n, op, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(dur.Seconds())-1), profDir+"/cpu-single.prof")
		}()
	}
	u2, uerr := readProcUsage(pid)
	s := drive(n.url+"/api/signal-staging/webhook/"+key, conc*4, dur, 1, 0, singleGen(leads))
	profWG.Wait()
	fmt.Fprintf(w, "single-signal webhook, max rate: %.0f requests/s, p50 %v p99 %v, %d errors\n",
		s.rate(), s.pct(0.5).Round(100*time.Microsecond), s.pct(0.99).Round(100*time.Microsecond), s.errors)
	if u3, err := readProcUsage(pid); err == nil && uerr == nil {
		fmt.Fprintf(w, "  during the phase (processing included): %s\n", usageLine(u2, u3, s.signals))
	}
	s2 := drive(n.url+"/api/signal-staging/webhook/"+key, conc*4, dur, 1, 5000, singleGen(leads), 25)
	fmt.Fprintf(w, "single-signal webhook at 5,000 requests/s offered: %.0f achieved, p50 %v p99 %v\n",
		s2.rate(), s2.pct(0.5).Round(100*time.Microsecond), s2.pct(0.99).Round(100*time.Microsecond))
	waitProcessed(n, op, orgID, s2.signals)
	if lags, err := processingLags(n, op, orgID, s2.ids); err != nil {
		fmt.Fprintf(w, "processing lag at 5,000 signals/s: not measured (%v)\n", err)
	} else if len(lags) > 0 {
		fmt.Fprintf(w, "processing lag at 5,000 signals/s (received → processed, %d sampled signals): p50 %v p99 %v max %v\n",
			len(lags), pctOf(lags, 0.5).Round(time.Millisecond), pctOf(lags, 0.99).Round(time.Millisecond), pctOf(lags, 1).Round(time.Millisecond))
	}
	time.Sleep(3 * time.Second)
	if profDir != "" {
		saveProfile(n, op, "/debug/pprof/heap", profDir+"/heap.prof")
	}
	if m, err := memStatus(n.cmd.Process.Pid); err == nil {
		fmt.Fprintf(w, "RSS after the run: %s\n", m)
	}
	return nil
}

// processingLags reads sampled signals back and returns each one's
// processed_at − received_at (both stamped by the node). received_at is
// taken before the durable append, so this slightly overstates the lag
// from the 202.
func processingLags(n *benchNode, op, org string, ids []string) ([]time.Duration, error) {
	var lags []time.Duration
	for _, id := range ids {
		res, err := n.call("GET", "/api/v1/orgs/"+org+"/signals/"+id, op, nil)
		if err != nil {
			return nil, err
		}
		rec, _ := res["received_at"].(string)
		pro, _ := res["processed_at"].(string)
		r, err1 := time.Parse(time.RFC3339Nano, rec)
		p, err2 := time.Parse(time.RFC3339Nano, pro)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("signal %s: received_at %q, processed_at %q", id, rec, pro)
		}
		lags = append(lags, p.Sub(r))
	}
	return lags, nil
}

// waitProcessed polls the signal list until the newest signal has a final
// status, returning how long that took.
func waitProcessed(n *benchNode, op, org string, _ int64) time.Duration {
	start := time.Now()
	for time.Since(start) < 5*time.Minute {
		done, err := allProcessed(n, op, org)
		if err == nil && done {
			return time.Since(start)
		}
		time.Sleep(time.Second) // polling is not free: keep it rare
	}
	return time.Since(start)
}

func allProcessed(n *benchNode, op, org string) (bool, error) {
	res, err := n.call("GET", "/api/v1/orgs/"+org+"/signals/stats?status_counts=false", op, nil)
	if err != nil {
		return false, err
	}
	return res["pending"].(float64) == 0, nil
}

func numCPU() int { return runtime.NumCPU() }

func saveProfile(n *benchNode, op, path, file string) {
	req, _ := http.NewRequest("GET", n.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+op)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_ = os.WriteFile(file, b, 0o644)
}
