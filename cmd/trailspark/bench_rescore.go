package main

// `trailspark bench rescore`: how long re-scoring the recently evaluated
// leads takes after a refinement (issue target: 100,000 leads < 30 s on
// the 2-core machine). It builds the leads through the real ingestion
// path first (three mapped signals each, so the starter rules and ICP
// evaluate every one), then applies a refinement and times its job.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func newBenchRescoreCmd() *cobra.Command {
	var leads int
	cmd := &cobra.Command{
		Use:   "rescore",
		Short: "Measure re-scoring the evaluated leads after a refinement",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchRescore(cmd.OutOrStdout(), leads)
		},
	}
	cmd.Flags().IntVar(&leads, "leads", 100_000, "leads to build and re-score")
	return cmd
}

func runBenchRescore(w io.Writer, leads int) error {
	fmt.Fprintf(w, "machine: %d CPUs; %d leads\n", numCPU(), leads)
	n, _, err := startBenchNode()
	if err != nil {
		return err
	}
	defer n.stop()
	const op = "bench-operator-token-0123456789"
	if _, err := n.call("POST", "/api/v1/auth/register", "", map[string]any{"email": "bench@example.com", "password": "bench-password", "name": "Bench"}); err != nil {
		return err
	}
	org, err := n.call("POST", "/api/v1/orgs", op, map[string]any{"name": "Bench Rescore", "size": "51-200", "industry": "Technology",
		"owner_email": "bench@example.com", "plan": "scale"})
	if err != nil {
		return err
	}
	orgID := org["id"].(string)
	base := "/api/v1/orgs/" + orgID
	k, err := n.call("POST", base+"/api-keys", op, map[string]any{"name": "bench"})
	if err != nil {
		return err
	}
	url := n.url + "/api/signal-staging/webhook/" + k["key"].(string) + "/batch"

	// Three mapped signals of two types per lead, in batches of 500.
	start := time.Now()
	events := []string{`"event":"Form Submitted"`, `"event":"Demo Requested"`, `"type":"page","name":"Pricing"`}
	const batch = 500
	var buf bytes.Buffer
	sent := 0
	flush := func() error {
		if buf.Len() == 0 {
			return nil
		}
		buf.WriteByte(']')
		resp, err := http.Post(url, "application/json", bytes.NewReader(buf.Bytes()))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("batch answered %d", resp.StatusCode)
		}
		buf.Reset()
		return nil
	}
	for e, ev := range events {
		for i := 0; i < leads; i++ {
			if buf.Len() == 0 {
				buf.WriteByte('[')
			} else {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `{"email":"p%d@c%d-bench.com","messageId":"r%d-%d-%d",%s}`, i, i%5000, runID, e, i, ev)
			if sent++; sent%batch == 0 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "ingested %d signals in %v\n", sent, time.Since(start).Round(time.Millisecond))
	lag := waitProcessed(n, op, orgID, int64(sent))
	fmt.Fprintf(w, "processed (leads created and evaluated) %v after the last batch\n", lag.Round(time.Millisecond))

	evs, err := n.call("GET", base+"/evaluations?limit=1", op, nil)
	if err != nil {
		return err
	}
	items, _ := evs["items"].([]any)
	if len(items) == 0 {
		return fmt.Errorf("no evaluations: the leads were not scored")
	}
	ev := items[0].(map[string]any)["id"].(string)
	if _, err := n.call("POST", base+"/evaluations/"+ev+"/feedback", op, map[string]any{"reason": "benchmark feedback", "expected_grade": "cold"}); err != nil {
		return err
	}
	start = time.Now()
	res, err := n.call("POST", base+"/refinements", op, nil)
	if err != nil {
		return err
	}
	job := res["job"].(map[string]any)["id"].(string)
	for {
		j, err := n.call("GET", base+"/jobs/"+job, op, nil)
		if err != nil {
			return err
		}
		if j["status"] != "running" {
			took := time.Since(start)
			processed, _ := j["processed"].(float64)
			fmt.Fprintf(w, "re-scored %.0f leads in %v (%.0f leads/s), job %s\n", processed, took.Round(time.Millisecond), processed/took.Seconds(), j["status"])
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}
