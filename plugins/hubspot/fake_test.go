package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHS is a local HubSpot account following the documented CRM v3 shapes:
// objects list, search (filterGroups, sorts, limit ≤ 200, after, the 10,000
// result window), properties, batch update/upsert (100 inputs, 200/207,
// whole-batch 400 on an invalid property), v4 association batch read, the
// OAuth authorize page and /oauth/v1/token, and 429 with Retry-After.
type fakeHS struct {
	*httptest.Server
	t *testing.T

	mu        sync.Mutex
	objs      map[string][]*hsObj
	tokens    map[string]bool
	refresh   map[string]bool
	codes     map[string]hsCode
	assoc     map[string][]int64 // deal id -> company ids
	recErr    map[string]string  // record id -> error category
	fail      func(r *http.Request) (int, http.Header, string)
	calls     map[string]int
	batchLens []int
	nextID    int
	lastProps []string // properties asked by the last search
}

type hsObj struct {
	id    string
	props map[string]string
	mod   time.Time
}

type hsCode struct{ challenge, redirect string }

const (
	hsClientID = "5f3e-client-id"
	hsSecret   = "hs-client-secret"
	hsToken    = "pat-na1-fake-token"
)

var h0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func modProp(object string) string {
	if object == "contacts" {
		return "lastmodifieddate"
	}
	return "hs_lastmodifieddate"
}

func newFakeHS(t *testing.T) *fakeHS {
	f := &fakeHS{
		t: t, objs: map[string][]*hsObj{}, tokens: map[string]bool{hsToken: true}, refresh: map[string]bool{"hs-refresh": true},
		codes: map[string]hsCode{}, assoc: map[string][]int64{}, recErr: map[string]string{}, calls: map[string]int{}, nextID: 1000,
	}
	at := func(min int) time.Time { return h0.Add(time.Duration(min) * time.Minute) }
	f.add("companies", at(1), map[string]string{"name": "Initech", "domain": "initech.com", "industry": "COMPUTER_SOFTWARE", "numberofemployees": "329", "country": "United States"})
	f.add("companies", at(1), map[string]string{"name": "Hooli", "domain": "hooli.xyz", "industry": "INTERNET", "numberofemployees": "12000", "country": "United States"})
	f.add("companies", at(2), map[string]string{"name": "Globex", "domain": "globex.com", "industry": "MACHINERY", "numberofemployees": "800", "country": "Germany"})
	f.add("companies", at(3), map[string]string{"name": "Stark", "domain": "stark.com", "industry": "UTILITIES", "numberofemployees": "40000", "country": "United States"})
	f.add("contacts", at(1), map[string]string{"email": "peter@initech.com", "firstname": "Peter", "lastname": "Gibbons", "jobtitle": "Engineer", "associatedcompanyid": "1001"})
	f.add("contacts", at(1), map[string]string{"email": "dana@hooli.xyz", "firstname": "Dana", "lastname": "Ng", "jobtitle": "VP Sales", "associatedcompanyid": "1002"})
	f.add("contacts", at(1), map[string]string{"email": "hans@globex.com", "firstname": "Hans", "lastname": "Gruber", "jobtitle": "CFO"})
	f.add("contacts", at(4), map[string]string{"email": "tony@stark.com", "firstname": "Tony", "lastname": "Stark", "jobtitle": "CEO"})
	d1 := f.add("deals", at(1), map[string]string{"dealname": "Initech renewal", "dealstage": "closedwon", "pipeline": "default", "amount": "12000", "closedate": "2026-04-01T00:00:00Z", "hs_is_closed_won": "true", "hs_is_closed": "true"})
	d2 := f.add("deals", at(2), map[string]string{"dealname": "Hooli pilot", "dealstage": "closedlost", "pipeline": "default", "amount": "5000", "hs_is_closed_won": "false", "hs_is_closed": "true"})
	f.add("deals", at(2), map[string]string{"dealname": "Globex", "dealstage": "appointmentscheduled", "pipeline": "default", "hs_is_closed_won": "false", "hs_is_closed": "false"})
	f.assoc[d1] = []int64{1001}
	f.assoc[d2] = []int64{1002, 1003}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeHS) add(object string, mod time.Time, props map[string]string) string {
	f.nextID++
	id := strconv.Itoa(f.nextID)
	p := map[string]string{"hs_object_id": id, "createdate": h0.Format(time.RFC3339)}
	for k, v := range props {
		p[k] = v
	}
	o := &hsObj{id: id, props: p}
	f.touch(object, o, mod)
	f.objs[object] = append(f.objs[object], o)
	return id
}

func (f *fakeHS) touch(object string, o *hsObj, mod time.Time) {
	o.mod = mod
	o.props[modProp(object)] = mod.UTC().Format("2006-01-02T15:04:05.000Z")
}

func (f *fakeHS) find(object, id string) *hsObj {
	for _, o := range f.objs[object] {
		if o.id == id {
			return o
		}
	}
	return nil
}

// schema: object -> property -> (type, fieldType, options, readOnly).
type hsProp struct {
	typ, fieldType string
	options        []string
	readOnly       bool
}

var hsSchema = map[string]map[string]hsProp{
	"contacts": {
		"email": {typ: "string", fieldType: "text"}, "firstname": {typ: "string", fieldType: "text"}, "lastname": {typ: "string", fieldType: "text"},
		"jobtitle": {typ: "string", fieldType: "text"}, "company": {typ: "string", fieldType: "text"},
		"lifecyclestage":      {typ: "enumeration", fieldType: "radio", options: []string{"lead", "marketingqualifiedlead", "customer"}},
		"hs_lead_status":      {typ: "enumeration", fieldType: "radio", options: []string{"NEW", "OPEN"}},
		"associatedcompanyid": {typ: "number", fieldType: "number"}, "createdate": {typ: "datetime", fieldType: "date", readOnly: true},
		"lastmodifieddate": {typ: "datetime", fieldType: "date", readOnly: true}, "hs_object_id": {typ: "number", fieldType: "number", readOnly: true},
		"trailspark_score": {typ: "number", fieldType: "number"}, "trailspark_reasoning": {typ: "string", fieldType: "textarea"},
		"trailspark_evaluation_date": {typ: "datetime", fieldType: "date"}, "hs_email_optout": {typ: "bool", fieldType: "booleancheckbox", options: []string{"true", "false"}},
	},
	"companies": {
		"name": {typ: "string", fieldType: "text"}, "domain": {typ: "string", fieldType: "text"}, "website": {typ: "string", fieldType: "text"},
		"industry":          {typ: "enumeration", fieldType: "select", options: []string{"COMPUTER_SOFTWARE", "INTERNET", "MACHINERY", "UTILITIES"}},
		"numberofemployees": {typ: "number", fieldType: "number"}, "annualrevenue": {typ: "number", fieldType: "number"},
		"country": {typ: "string", fieldType: "text"}, "state": {typ: "string", fieldType: "text"},
		"lifecyclestage": {typ: "enumeration", fieldType: "radio", options: []string{"lead", "customer"}},
		"createdate":     {typ: "datetime", fieldType: "date", readOnly: true}, "hs_lastmodifieddate": {typ: "datetime", fieldType: "date", readOnly: true},
		"hs_object_id": {typ: "number", fieldType: "number", readOnly: true}, "trailspark_propensity": {typ: "number", fieldType: "number"},
	},
	"deals": {
		"dealname": {typ: "string", fieldType: "text"}, "dealstage": {typ: "enumeration", fieldType: "radio", options: []string{"appointmentscheduled", "closedwon", "closedlost"}},
		"pipeline": {typ: "enumeration", fieldType: "select", options: []string{"default"}}, "amount": {typ: "number", fieldType: "number"},
		"closedate": {typ: "datetime", fieldType: "date"}, "hs_is_closed_won": {typ: "bool", fieldType: "booleancheckbox", options: []string{"true", "false"}, readOnly: true},
		"hs_is_closed": {typ: "bool", fieldType: "booleancheckbox", options: []string{"true", "false"}, readOnly: true},
		"createdate":   {typ: "datetime", fieldType: "date", readOnly: true}, "hs_lastmodifieddate": {typ: "datetime", fieldType: "date", readOnly: true},
		"hs_object_id": {typ: "number", fieldType: "number", readOnly: true},
	},
}

func hsJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func hsErr(w http.ResponseWriter, status int, category, msg string) {
	hsJSON(w, status, map[string]any{"status": "error", "message": msg, "correlationId": "5d7f9c2a-fake", "category": category})
}

var (
	objPathRe   = regexp.MustCompile(`^/crm/v3/objects/(\w+)(/search|/batch/update|/batch/upsert)?$`)
	propsPathRe = regexp.MustCompile(`^/crm/v3/properties/(\w+)$`)
)

func (f *fakeHS) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/oauth/authorize":
		f.authorize(w, r)
		return
	case "/oauth/v1/token":
		f.token(w, r)
		return
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !f.tokens[auth] {
		hsErr(w, 401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
		return
	}
	f.calls[r.Method+" "+r.URL.Path]++
	if f.fail != nil {
		if status, h, body := f.fail(r); status != 0 {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return
		}
	}
	w.Header().Set("X-HubSpot-RateLimit-Daily-Remaining", "249000")
	if m := objPathRe.FindStringSubmatch(r.URL.Path); m != nil {
		if _, ok := hsSchema[m[1]]; !ok {
			hsErr(w, 400, "VALIDATION_ERROR", "Unable to infer object type from: "+m[1])
			return
		}
		switch {
		case m[2] == "" && r.Method == "GET":
			f.list(w, r, m[1])
		case m[2] == "/search" && r.Method == "POST":
			f.search(w, r, m[1])
		case (m[2] == "/batch/update" || m[2] == "/batch/upsert") && r.Method == "POST":
			f.batch(w, r, m[1], m[2] == "/batch/upsert")
		default:
			hsErr(w, 405, "", "method not allowed")
		}
		return
	}
	if m := propsPathRe.FindStringSubmatch(r.URL.Path); m != nil && r.Method == "GET" {
		f.properties(w, m[1])
		return
	}
	if r.URL.Path == "/crm/v4/associations/deals/companies/batch/read" && r.Method == "POST" {
		f.associations(w, r)
		return
	}
	hsErr(w, 404, "OBJECT_NOT_FOUND", "resource not found")
}

func (f *fakeHS) render(o *hsObj, props []string) map[string]any {
	p := map[string]any{"hs_object_id": o.id}
	for _, k := range props {
		if v, ok := o.props[k]; ok {
			p[k] = v
		} else {
			p[k] = nil
		}
	}
	return map[string]any{"id": o.id, "properties": p, "createdAt": h0.Format(time.RFC3339), "updatedAt": o.mod.Format("2006-01-02T15:04:05.000Z"), "archived": false}
}

func (f *fakeHS) list(w http.ResponseWriter, r *http.Request, object string) {
	n, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	var out []map[string]any
	for i, o := range f.objs[object] {
		if i >= n {
			break
		}
		out = append(out, f.render(o, []string{"email"}))
	}
	hsJSON(w, 200, map[string]any{"results": out})
}

func (f *fakeHS) search(w http.ResponseWriter, r *http.Request, object string) {
	var body struct {
		FilterGroups []struct {
			Filters []struct {
				PropertyName string `json:"propertyName"`
				Operator     string `json:"operator"`
				Value        string `json:"value"`
			} `json:"filters"`
		} `json:"filterGroups"`
		Sorts []struct {
			PropertyName string `json:"propertyName"`
			Direction    string `json:"direction"`
		} `json:"sorts"`
		Properties []string `json:"properties"`
		Limit      int      `json:"limit"`
		After      string   `json:"after"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		hsErr(w, 400, "VALIDATION_ERROR", "Invalid input JSON")
		return
	}
	f.lastProps = body.Properties
	if body.Limit > 200 {
		hsErr(w, 400, "VALIDATION_ERROR", "limit must be at most 200")
		return
	}
	mp := modProp(object)
	if len(body.Sorts) != 1 || body.Sorts[0].PropertyName != mp || body.Sorts[0].Direction != "ASCENDING" {
		hsErr(w, 400, "VALIDATION_ERROR", "this fake only sorts by "+mp+" ASCENDING")
		return
	}
	match := func(*hsObj) bool { return true }
	if len(body.FilterGroups) > 1 {
		hsErr(w, 400, "VALIDATION_ERROR", "one filter group expected")
		return
	}
	for _, g := range body.FilterGroups {
		for _, fl := range g.Filters {
			if fl.PropertyName != mp {
				hsErr(w, 400, "VALIDATION_ERROR", "unexpected filter property "+fl.PropertyName)
				return
			}
			ms, err := strconv.ParseInt(fl.Value, 10, 64)
			if err != nil {
				hsErr(w, 400, "VALIDATION_ERROR", "bad datetime value")
				return
			}
			prev, op := match, fl.Operator
			match = func(o *hsObj) bool {
				v := o.mod.UnixMilli()
				switch op {
				case "GTE":
					return prev(o) && v >= ms
				case "LT":
					return prev(o) && v < ms
				}
				return false
			}
			if op != "GTE" && op != "LT" {
				hsErr(w, 400, "VALIDATION_ERROR", "unexpected operator "+op)
				return
			}
		}
	}
	var rows []*hsObj
	for _, o := range f.objs[object] {
		if match(o) {
			rows = append(rows, o)
		}
	}
	// Ties come in an order the API does not promise: here, descending id.
	sort.SliceStable(rows, func(i, j int) bool {
		if !rows[i].mod.Equal(rows[j].mod) {
			return rows[i].mod.Before(rows[j].mod)
		}
		a, _ := strconv.Atoi(rows[i].id)
		b, _ := strconv.Atoi(rows[j].id)
		return a > b
	})
	off := 0
	if body.After != "" {
		off, _ = strconv.Atoi(body.After)
	}
	limit := body.Limit
	if limit == 0 {
		limit = 10
	}
	if off+limit > 10000 {
		hsErr(w, 400, "VALIDATION_ERROR", "search results are limited to 10,000")
		return
	}
	resp := map[string]any{"total": len(rows)}
	out := []map[string]any{}
	for i := off; i < len(rows) && i < off+limit; i++ {
		out = append(out, f.render(rows[i], body.Properties))
	}
	resp["results"] = out
	if off+limit < len(rows) {
		resp["paging"] = map[string]any{"next": map[string]string{"after": strconv.Itoa(off + limit), "link": "?after=" + strconv.Itoa(off+limit)}}
	}
	hsJSON(w, 200, resp)
}

func (f *fakeHS) properties(w http.ResponseWriter, object string) {
	schema, ok := hsSchema[object]
	if !ok {
		hsErr(w, 400, "VALIDATION_ERROR", "Unable to infer object type from: "+object)
		return
	}
	var names []string
	for n := range schema {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []map[string]any
	for _, n := range names {
		p := schema[n]
		opts := []map[string]any{}
		for i, o := range p.options {
			opts = append(opts, map[string]any{"label": strings.ToUpper(o[:1]) + o[1:], "value": o, "displayOrder": i, "hidden": false})
		}
		if p.typ == "enumeration" {
			opts = append(opts, map[string]any{"label": "Old", "value": "old", "displayOrder": 99, "hidden": true})
		}
		out = append(out, map[string]any{
			"name": n, "label": strings.ReplaceAll(n, "_", " "), "type": p.typ, "fieldType": p.fieldType, "groupName": object + "information",
			"options": opts, "calculated": false, "hidden": false, "hasUniqueValue": n == "email",
			"modificationMetadata": map[string]any{"archivable": true, "readOnlyDefinition": true, "readOnlyValue": p.readOnly},
		})
	}
	hsJSON(w, 200, map[string]any{"results": out})
}

func (f *fakeHS) associations(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Inputs []struct {
			ID string `json:"id"`
		} `json:"inputs"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	results := []map[string]any{}
	var errs []map[string]any
	for _, in := range body.Inputs {
		to := []map[string]any{}
		for _, c := range f.assoc[in.ID] {
			to = append(to, map[string]any{"toObjectId": c, "associationTypes": []map[string]any{{"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"}}})
		}
		if len(to) == 0 {
			errs = append(errs, map[string]any{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "No company is associated with deal " + in.ID, "context": map[string][]string{"fromObjectId": {in.ID}}})
			continue
		}
		results = append(results, map[string]any{"from": map[string]string{"id": in.ID}, "to": to})
	}
	status := 200
	resp := map[string]any{"status": "COMPLETE", "results": results, "startedAt": h0, "completedAt": h0}
	if len(errs) > 0 {
		status, resp["errors"], resp["numErrors"] = 207, errs, len(errs)
	}
	hsJSON(w, status, resp)
}

func (f *fakeHS) batch(w http.ResponseWriter, r *http.Request, object string, upsert bool) {
	var body struct {
		Inputs []struct {
			ID         string            `json:"id"`
			IDProperty string            `json:"idProperty"`
			Properties map[string]string `json:"properties"`
		} `json:"inputs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		hsErr(w, 400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
		return
	}
	if len(body.Inputs) > 100 {
		hsErr(w, 400, "VALIDATION_ERROR", "Batch input limit of 100 exceeded")
		return
	}
	f.batchLens = append(f.batchLens, len(body.Inputs))
	seen := map[string]bool{}
	schema := hsSchema[object]
	for _, in := range body.Inputs {
		if seen[in.ID] {
			hsErr(w, 400, "VALIDATION_ERROR", "Duplicate IDs found in batch input: ["+in.ID+"]. IDs must be unique")
			return
		}
		seen[in.ID] = true
		for k, v := range in.Properties {
			p, ok := schema[k]
			if !ok {
				hsErr(w, 400, "VALIDATION_ERROR", fmt.Sprintf(`Property values were not valid: [{"isValid":false,"message":"Property \"%s\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"%s"}]`, k, k))
				return
			}
			if p.typ == "number" && v != "" {
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					hsErr(w, 400, "VALIDATION_ERROR", fmt.Sprintf(`Property values were not valid: [{"isValid":false,"message":"%s was not a valid number.","error":"INVALID_LONG","name":"%s"}]`, v, k))
					return
				}
			}
			if p.readOnly {
				hsErr(w, 400, "VALIDATION_ERROR", "Property "+k+" is read only")
				return
			}
		}
	}
	type res struct {
		ID         string            `json:"id"`
		New        bool              `json:"new,omitempty"`
		Properties map[string]string `json:"properties"`
		UpdatedAt  string            `json:"updatedAt"`
		Archived   bool              `json:"archived"`
	}
	var results []res
	var notFound []string
	var errs []map[string]any
	for _, in := range body.Inputs {
		var o *hsObj
		if in.IDProperty == "email" {
			for _, c := range f.objs[object] {
				if strings.EqualFold(c.props["email"], in.ID) {
					o = c
				}
			}
		} else {
			o = f.find(object, in.ID)
		}
		created := false
		if o == nil && upsert {
			id := f.add(object, h0.Add(time.Hour), map[string]string{"email": strings.ToLower(in.ID)})
			o, created = f.find(object, id), true
		}
		if o == nil {
			notFound = append(notFound, in.ID)
			continue
		}
		if cat := f.recErr[o.id]; cat != "" {
			errs = append(errs, map[string]any{"status": "error", "category": cat, "message": "scripted " + cat, "context": map[string][]string{"ids": {in.ID}}})
			continue
		}
		for k, v := range in.Properties {
			o.props[k] = v
		}
		f.touch(object, o, h0.Add(time.Hour))
		p := map[string]string{"hs_object_id": o.id, modProp(object): o.props[modProp(object)]}
		for k := range in.Properties {
			p[k] = o.props[k]
		}
		if in.IDProperty == "email" {
			p["email"] = o.props["email"]
		}
		results = append(results, res{ID: o.id, New: created, Properties: p, UpdatedAt: o.mod.Format(time.RFC3339)})
	}
	if len(notFound) > 0 {
		errs = append(errs, map[string]any{"status": "error", "category": "OBJECT_NOT_FOUND",
			"message": "Could not get some " + strings.ToUpper(strings.TrimSuffix(object, "s")) + " objects, they may be deleted or not exist. Check that ids are valid.",
			"context": map[string][]string{"ids": notFound}})
	}
	// Results come in no promised order.
	sort.Slice(results, func(i, j int) bool { return results[i].ID > results[j].ID })
	resp := map[string]any{"status": "COMPLETE", "results": results, "startedAt": h0, "completedAt": h0}
	status := 200
	if len(errs) > 0 {
		status, resp["errors"], resp["numErrors"] = 207, errs, len(errs)
	}
	hsJSON(w, status, resp)
}

func (f *fakeHS) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != hsClientID || q.Get("redirect_uri") == "" || !strings.Contains(q.Get("scope"), "oauth") {
		http.Error(w, "invalid request", 400)
		return
	}
	f.nextID++
	code := fmt.Sprintf("na1-code-%d", f.nextID)
	f.codes[code] = hsCode{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	http.Redirect(w, r, q.Get("redirect_uri")+"?code="+url.QueryEscape(code)+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
}

func (f *fakeHS) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	bad := func(status, msg string) {
		hsJSON(w, 400, map[string]string{"status": status, "message": msg, "correlationId": "c0ffee"})
	}
	if r.PostForm.Get("client_id") != hsClientID {
		bad("BAD_CLIENT_ID", "missing or invalid client_id")
		return
	}
	if r.PostForm.Get("client_secret") != hsSecret {
		bad("BAD_CLIENT_SECRET", "missing or invalid client secret")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		c, ok := f.codes[r.PostForm.Get("code")]
		if !ok {
			bad("BAD_AUTH_CODE", "missing or unknown auth code")
			return
		}
		delete(f.codes, r.PostForm.Get("code"))
		if c.challenge != "" {
			sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
			if base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
				bad("BAD_AUTH_CODE", "code_verifier does not match code_challenge")
				return
			}
		}
		if r.PostForm.Get("redirect_uri") != c.redirect {
			bad("BAD_REDIRECT_URI", "redirect_uri does not match")
			return
		}
	case "refresh_token":
		if !f.refresh[r.PostForm.Get("refresh_token")] {
			bad("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
			return
		}
	default:
		bad("BAD_GRANT_TYPE", "unknown grant type")
		return
	}
	f.nextID++
	access := fmt.Sprintf("CJfake-access-%d", f.nextID)
	rt := fmt.Sprintf("hs-refresh-%d", f.nextID)
	f.tokens[access], f.refresh[rt] = true, true
	hsJSON(w, 200, map[string]any{"access_token": access, "refresh_token": rt, "expires_in": 1800, "token_type": "bearer"})
}
