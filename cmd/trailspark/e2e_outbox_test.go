package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// outboxReceiver is a webhook receiver that answers 503 (Retry-After: 1)
// while down and counts what it accepted by delivery id.
type outboxReceiver struct {
	mu       sync.Mutex
	down     bool
	posts    int
	accepted map[string]int // TrailSpark-Delivery → times accepted
	srv      *httptest.Server
}

func newOutboxReceiver(t *testing.T) *outboxReceiver {
	r := &outboxReceiver{down: true, accepted: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var body struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		_ = json.Unmarshal(b, &body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.posts++
		if r.down {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		id := req.Header.Get("TrailSpark-Delivery")
		if id == "" || id != body.ID {
			t.Errorf("delivery header %q, body id %q", id, body.ID)
		}
		if body.Type == "evaluation.created" {
			r.accepted[id]++
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *outboxReceiver) state() (posts int, accepted map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.accepted {
		out[k] = v
	}
	return r.posts, out
}

// TestOutboxSurvivesSIGKILL: deliveries pending at a webhook receiver that
// is down when the node is SIGKILLed are delivered after the restart, once
// each: the outbox items were written with their evaluations, and only a
// delivered item leaves the queue.
func TestOutboxSurvivesSIGKILL(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	rcv := newOutboxReceiver(t)
	p := startServe(t, data)
	op := operatorToken(t, data)
	p.call(t, "POST", "/api/v1/auth/register", "", map[string]any{"email": "ann@acme.io", "password": "correct horse", "name": "Ann"}, 201)
	org := p.call(t, "POST", "/api/v1/orgs", op, map[string]any{"name": "Acme", "size": "11-50", "industry": "Technology",
		"owner_email": "ann@acme.io", "plan": "scale"}, 201) // the starter rules and model evaluate signals
	base := "/api/v1/orgs/" + org["id"].(string)
	key := p.call(t, "POST", base+"/api-keys", op, map[string]any{"name": "web"}, 201)["key"].(string)
	dest := p.call(t, "POST", base+"/destinations", op, map[string]any{"kind": "webhook", "name": "hook", "url": rcv.srv.URL + "/hook"}, 201)["id"].(string)

	// Eight leads, three signals each (two types): each is evaluated.
	const leads = 8
	var batch []map[string]any
	for i := 0; i < leads; i++ {
		email := fmt.Sprintf("p%d@globex.com", i)
		for j, b := range []map[string]any{{"type": "page", "name": "Pricing"}, {"event": "Form Submitted"}, {"event": "Demo Requested"}} {
			b["email"], b["messageId"] = email, fmt.Sprintf("m-%d-%d", i, j)
			batch = append(batch, b)
		}
	}
	buf, _ := json.Marshal(batch)
	resp, err := http.Post(p.url+"/api/signal-staging/webhook/"+key+"/batch", "application/json", bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("batch answered %d", resp.StatusCode)
	}
	evaluations := func(p *proc) map[string]bool {
		out := map[string]bool{}
		for _, x := range p.call(t, "GET", base+"/evaluations?limit=200", op, nil, 200)["items"].([]any) {
			out[x.(map[string]any)["id"].(string)] = true
		}
		return out
	}
	deliveries := func(p *proc) []map[string]any {
		var out []map[string]any
		after := ""
		for {
			l := p.call(t, "GET", base+"/destinations/"+dest+"/deliveries?limit=200&cursor="+after, op, nil, 200)
			for _, x := range l["items"].([]any) {
				out = append(out, x.(map[string]any))
			}
			next, _ := l["next_cursor"].(string)
			if next == "" {
				return out
			}
			after = next
		}
	}
	// Wait until every lead is evaluated and the receiver has refused
	// some attempts: the deliveries are pending or failed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		leadsDone := map[string]bool{}
		for _, x := range p.call(t, "GET", base+"/evaluations?limit=200", op, nil, 200)["items"].([]any) {
			leadsDone[x.(map[string]any)["lead_id"].(string)] = true
		}
		posts, _ := rcv.state()
		if len(leadsDone) == leads && posts >= leads {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d leads evaluated, %d posts; stderr:\n%s", len(leadsDone), posts, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := evaluations(p)
	queued := 0
	for _, d := range deliveries(p) {
		if s := d["status"]; s == "pending" || s == "failed" {
			queued++
		} else if s == "delivered" {
			t.Fatalf("delivered while the receiver is down: %v", d)
		}
	}
	if queued == 0 {
		t.Fatal("no delivery pending before the kill")
	}

	// SIGKILL with deliveries pending; the receiver recovers; restart.
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	rcv.mu.Lock()
	rcv.down = false
	rcv.mu.Unlock()
	p2 := startServe(t, data)

	// The dead node's delivery lease lapses within 30 s; then the queue
	// drains.
	var ds []map[string]any
	deadline = time.Now().Add(60 * time.Second)
	for {
		ds = deliveries(p2)
		left := 0
		for _, d := range ds {
			if s := d["status"]; s == "pending" || s == "failed" {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still queued 60 s after the restart: %v", left, ds)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // nothing more arrives
	after := evaluations(p2)
	for id := range before {
		if !after[id] {
			t.Errorf("evaluation %s lost in the crash", id)
		}
	}
	_, accepted := rcv.state()
	byEval := map[string]map[string]any{}
	delivered := 0
	for _, d := range ds {
		byEval[d["evaluation_id"].(string)] = d
		id := d["id"].(string)
		switch d["status"] {
		case "delivered":
			delivered++
			if accepted[id] != 1 {
				t.Errorf("delivery %s accepted %d times", id, accepted[id])
			}
		case "skipped_unchanged":
			if accepted[id] != 0 {
				t.Errorf("skipped delivery %s was sent", id)
			}
		default:
			t.Errorf("delivery %v", d)
		}
	}
	for id, n := range accepted {
		if n != 1 {
			t.Errorf("delivery %s accepted %d times", id, n)
		}
	}
	if len(accepted) != delivered || delivered < leads {
		t.Errorf("%d delivered, %d accepted, %d leads", delivered, len(accepted), leads)
	}
	for id := range after {
		if byEval[id] == nil {
			t.Errorf("evaluation %s has no delivery", id)
		}
	}
}
