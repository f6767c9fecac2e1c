package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeMkto is a local Marketo instance following the documented REST
// shapes: /identity/oauth/token (client credentials, expires_in), errors in
// a 200 body (success=false, errors[{code,message}], 601/602 for bad or
// expired tokens), activities/types.json, activities/pagingtoken.json,
// activities.json (nextPageToken, moreResult, batchSize ≤ 300, at most 10
// activityTypeIds, pages that can be empty when filtered), and leads.json
// by id (≤ 300 filter values).
type fakeMkto struct {
	*httptest.Server
	t *testing.T

	mu          sync.Mutex
	acts        []map[string]any // in activity id order
	leads       map[int64]map[string]any
	tokens      map[string]time.Time // token -> expiry
	tokenCalls  int
	tokenTTL    int
	calls       map[string]int
	fail        func(r *http.Request) string // Marketo error code to answer with, "" for none
	nextTok     int
	lastBatches []int
}

const (
	mkClientID = "7c1b-client"
	mkSecret   = "mk-secret-value"
)

var m0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func newFakeMkto(t *testing.T, n int) *fakeMkto {
	f := &fakeMkto{t: t, leads: map[int64]map[string]any{}, tokens: map[string]time.Time{}, tokenTTL: 3599, calls: map[string]int{}}
	for i := range 20 {
		id := int64(100 + i)
		f.leads[id] = map[string]any{"id": id, "email": fmt.Sprintf("Lead%d@Example.com", i), "firstName": fmt.Sprintf("F%d", i), "lastName": "L", "company": "Co", "title": "T", "updatedAt": "2026-05-01T00:00:00Z"}
	}
	types := []int{1, 2, 6, 10, 12, 1, 11, 7} // 6 and 7 are not read by default
	for i := range n {
		typ := types[i%len(types)]
		a := map[string]any{
			"id": 5000 + i, "marketoGUID": strconv.Itoa(5000 + i), "leadId": 100 + i%20,
			"activityDate": m0.Add(time.Duration(i) * time.Minute).Format("2006-01-02T15:04:05Z"), "activityTypeId": typ,
			"campaignId": 77, "primaryAttributeValueId": 3, "primaryAttributeValue": "pricing.html",
			"attributes": []map[string]any{{"name": "Client IP Address", "value": "203.0.113.9"}, {"name": "Query Parameters", "value": ""}},
		}
		if i%11 == 5 {
			a["leadId"] = 999 // a deleted lead: no email
		}
		f.acts = append(f.acts, a)
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func mkJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

func mkErr(w http.ResponseWriter, code, msg string) {
	mkJSON(w, map[string]any{"requestId": "e42b#14272d07d78", "success": false, "errors": []map[string]string{{"code": code, "message": msg}}})
}

func pageToken(pos int) string {
	return base64.StdEncoding.EncodeToString([]byte("GIYDAOBNGEYS2MBWKQYDAORQGA5DAMBOGAYDAKZQGAYDALBQ" + strconv.Itoa(pos)))
}

func tokenPos(tok string) (int, bool) {
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), "GIYDAOBNGEYS2MBWKQYDAORQGA5DAMBOGAYDAKZQGAYDALBQ") {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "GIYDAOBNGEYS2MBWKQYDAORQGA5DAMBOGAYDAKZQGAYDALBQ"))
	return n, err == nil
}

var messages = map[string]string{
	"601": "Access token invalid", "602": "Access token expired", "606": "Max rate limit '100' exceeded with in '20' secs",
	"615": "Concurrent access limit reached", "607": "Daily quota reached", "604": "Request timed out",
	"1003": "Invalid value", "603": "Access denied", "611": "System error",
}

func (f *fakeMkto) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	if r.URL.Path == "/identity/oauth/token" {
		f.tokenCalls++
		if q.Get("grant_type") != "client_credentials" || q.Get("client_id") != mkClientID || q.Get("client_secret") != mkSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":"unauthorized","error_description":"Bad client credentials"}`))
			return
		}
		f.nextTok++
		tok := fmt.Sprintf("cdf01657-110d-4155-99a7-f986b2ff13a0:int-%d", f.nextTok)
		f.tokens[tok] = time.Now().Add(time.Duration(f.tokenTTL) * time.Second)
		mkJSON(w, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": f.tokenTTL, "scope": "apiuser@acme.test"})
		return
	}
	if r.Method != "GET" {
		w.WriteHeader(405)
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	exp, known := f.tokens[tok]
	switch {
	case !ok || !known:
		mkErr(w, "601", messages["601"])
		return
	case time.Now().After(exp):
		mkErr(w, "602", messages["602"])
		return
	}
	f.calls[r.URL.Path]++
	if f.fail != nil {
		if code := f.fail(r); code != "" {
			mkErr(w, code, messages[code])
			return
		}
	}
	switch r.URL.Path {
	case "/rest/v1/activities/types.json":
		mkJSON(w, map[string]any{"requestId": "1", "success": true, "result": []map[string]any{
			{"id": 1, "name": "Visit Webpage", "primaryAttribute": map[string]string{"name": "Webpage ID", "dataType": "integer"}},
			{"id": 2, "name": "Fill Out Form", "primaryAttribute": map[string]string{"name": "Webform ID", "dataType": "integer"}},
			{"id": 6, "name": "Send Email", "primaryAttribute": map[string]string{"name": "Mailing ID", "dataType": "integer"}},
			{"id": 7, "name": "Email Delivered", "primaryAttribute": map[string]string{"name": "Mailing ID", "dataType": "integer"}},
			{"id": 10, "name": "Open Email", "primaryAttribute": map[string]string{"name": "Mailing ID", "dataType": "integer"}},
			{"id": 11, "name": "Click Email", "primaryAttribute": map[string]string{"name": "Mailing ID", "dataType": "integer"}},
			{"id": 12, "name": "New Lead"},
		}})
	case "/rest/v1/activities/pagingtoken.json":
		since, err := time.Parse(time.RFC3339, q.Get("sinceDatetime"))
		if err != nil {
			mkErr(w, "1003", "Invalid value for sinceDatetime")
			return
		}
		pos := len(f.acts)
		for i, a := range f.acts {
			at, _ := time.Parse(time.RFC3339, a["activityDate"].(string))
			if !at.Before(since) {
				pos = i
				break
			}
		}
		mkJSON(w, map[string]any{"requestId": "2", "success": true, "nextPageToken": pageToken(pos)})
	case "/rest/v1/activities.json":
		pos, ok := tokenPos(q.Get("nextPageToken"))
		if !ok {
			mkErr(w, "1003", "Invalid value for nextPageToken")
			return
		}
		types := map[float64]bool{}
		parts := strings.Split(q.Get("activityTypeIds"), ",")
		if len(parts) > 10 || q.Get("activityTypeIds") == "" {
			mkErr(w, "1003", "Invalid value for activityTypeIds")
			return
		}
		for _, p := range parts {
			n, _ := strconv.Atoi(p)
			types[float64(n)] = true
		}
		size := 300
		if v := q.Get("batchSize"); v != "" {
			size, _ = strconv.Atoi(v)
			if size < 1 || size > 300 {
				mkErr(w, "1003", "Invalid value for batchSize")
				return
			}
		}
		f.lastBatches = append(f.lastBatches, size)
		// Marketo fills a page with up to batchSize matching activities but
		// scans a bounded window; here at most 3×batchSize, so filtered
		// pages can come back short or empty with moreResult=true.
		var out []map[string]any
		i := pos
		for ; i < len(f.acts) && len(out) < size && i < pos+3*size; i++ {
			a := f.acts[i]
			if types[float64(a["activityTypeId"].(int))] {
				out = append(out, a)
			}
		}
		resp := map[string]any{"requestId": "3", "success": true, "nextPageToken": pageToken(i), "moreResult": i < len(f.acts)}
		if len(out) > 0 {
			resp["result"] = out
		}
		mkJSON(w, resp)
	case "/rest/v1/leads.json":
		if q.Get("filterType") != "id" {
			mkErr(w, "1003", "Invalid filterType")
			return
		}
		vals := strings.Split(q.Get("filterValues"), ",")
		if len(vals) > 300 {
			mkErr(w, "1003", "Too many filterValues")
			return
		}
		fields := strings.Split(q.Get("fields"), ",")
		out := []map[string]any{}
		for _, v := range vals {
			id, _ := strconv.ParseInt(v, 10, 64)
			if l, ok := f.leads[id]; ok {
				row := map[string]any{}
				for _, fl := range fields {
					row[fl] = l[fl]
				}
				out = append(out, row)
			}
		}
		mkJSON(w, map[string]any{"requestId": "4", "success": true, "result": out})
	default:
		w.WriteHeader(404)
	}
}

// expireAll makes every issued token expired (602 on next use).
func (f *fakeMkto) expireAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.tokens {
		f.tokens[k] = time.Now().Add(-time.Second)
	}
}

func (f *fakeMkto) wantedIDs(types []int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, a := range f.acts {
		if slices.Contains(types, a["activityTypeId"].(int)) {
			out = append(out, a["marketoGUID"].(string))
		}
	}
	return out
}
