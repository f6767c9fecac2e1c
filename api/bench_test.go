package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/trailspark/trailspark/api/apitest"
)

func benchCall(b *testing.B, method, url, token string, body any) map[string]any {
	var r io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 300 {
		b.Fatalf("%s %s: %d %v", method, url, resp.StatusCode, out)
	}
	return out
}

// BenchmarkManagementGetOrg is a read through the whole stack: HTTP,
// session authentication, grain request, JSON.
func BenchmarkManagementGetOrg(b *testing.B) {
	n := apitest.Start(b)
	benchCall(b, "POST", n.URL+"/api/v1/auth/register", "", map[string]any{"email": "b@x.io", "password": "password1", "name": "B"})
	tok := benchCall(b, "POST", n.URL+"/api/v1/auth/login", "", map[string]any{"email": "b@x.io", "password": "password1"})["token"].(string)
	org := benchCall(b, "POST", n.URL+"/api/v1/orgs", tok, map[string]any{"name": "Bench", "size": "1-10", "industry": "Other"})["id"].(string)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchCall(b, "GET", n.URL+"/api/v1/orgs/"+org, tok, nil)
	}
}

// BenchmarkManagementCreateKey is a write: grain command, CAS save, index.
func BenchmarkManagementCreateKey(b *testing.B) {
	n := apitest.Start(b)
	op := n.OperatorToken
	benchCall(b, "POST", n.URL+"/api/v1/auth/register", "", map[string]any{"email": "b@x.io", "password": "password1", "name": "B"})
	b.ResetTimer()
	var org string
	for i := 0; i < b.N; i++ {
		if i%400 == 0 { // stay under the per-organization key cap
			b.StopTimer()
			org = benchCall(b, "POST", n.URL+"/api/v1/orgs", op, map[string]any{"name": "Bench", "size": "1-10", "industry": "Other", "owner_email": "b@x.io", "subdomain": "bench-" + itoa(i)})["id"].(string)
			b.StartTimer()
		}
		benchCall(b, "POST", n.URL+"/api/v1/orgs/"+org+"/api-keys", op, map[string]any{"name": "k"})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
