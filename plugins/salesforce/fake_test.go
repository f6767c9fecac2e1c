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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSF is a local Salesforce org that follows the documented REST shapes:
// OAuth web-server flow with PKCE (/services/oauth2/authorize, /token),
// sObject describe, SOQL query/queryAll with nextRecordsUrl paging, sObject
// Collections (PATCH/POST /composite/sobjects) with SaveResults, limits and
// the Sforce-Limit-Info header. It understands only the SOQL shapes the
// connector sends and rejects anything else with MALFORMED_QUERY.
type fakeSF struct {
	*httptest.Server
	t *testing.T

	mu        sync.Mutex
	records   map[string][]map[string]any // object -> rows (Id, SystemModstamp as time.Time, IsDeleted, fields)
	tokens    map[string]bool             // valid access tokens
	refresh   map[string]bool             // valid refresh tokens
	codes     map[string]authCode         // issued authorization codes
	cursors   map[string][]map[string]any // query locator -> remaining rows
	pageSize  int                         // rows per query page (Salesforce: 2000 by default)
	nextID    int
	calls     map[string]int    // "METHOD /path-kind" -> count
	batchLens []int             // records per composite call
	recErr    map[string]string // record id -> statusCode to fail it with
	fail      func(r *http.Request) (int, string)
	usage     [2]int64 // api-usage used/max for Sforce-Limit-Info
	lastForm  url.Values
}

type authCode struct{ challenge, redirect, clientID string }

const (
	fakeClientID = "3MVG9fakeConsumerKey"
	fakeSecret   = "fake-consumer-secret"
	fakeToken    = "00Dfake!AQ4AQtokenvalue"
)

func sfid(prefix string, n int) string { return fmt.Sprintf("%s%012dAAA", prefix, n) }

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func newFakeSF(t *testing.T) *fakeSF {
	f := &fakeSF{
		t: t, records: map[string][]map[string]any{}, tokens: map[string]bool{fakeToken: true},
		refresh: map[string]bool{"5Aep-refresh": true}, codes: map[string]authCode{},
		cursors: map[string][]map[string]any{}, pageSize: 2000, calls: map[string]int{},
		recErr: map[string]string{}, usage: [2]int64{25, 15000},
	}
	f.seed()
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// seed creates a small org. Some rows share a SystemModstamp so the Id
// tie-break of the cursor is exercised.
func (f *fakeSF) seed() {
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	f.records["Account"] = []map[string]any{
		{"Id": sfid("001", 1), "SystemModstamp": at(1), "Name": "Initech", "Website": "initech.com", "Industry": "Technology", "NumberOfEmployees": 329, "BillingCountry": "US"},
		{"Id": sfid("001", 2), "SystemModstamp": at(1), "Name": "Hooli", "Website": "hooli.xyz", "Industry": "Technology", "NumberOfEmployees": 12000, "BillingCountry": "US"},
		{"Id": sfid("001", 3), "SystemModstamp": at(2), "Name": "Globex", "Website": "globex.com", "Industry": "Manufacturing", "NumberOfEmployees": 800, "BillingCountry": "DE"},
		{"Id": sfid("001", 4), "SystemModstamp": at(3), "Name": "Umbrella", "Website": "umbrella.co", "Industry": "Pharma", "NumberOfEmployees": 5000, "BillingCountry": "GB", "IsDeleted": true},
		{"Id": sfid("001", 5), "SystemModstamp": at(4), "Name": "Stark", "Website": "stark.com", "Industry": "Energy", "NumberOfEmployees": 40000, "BillingCountry": "US"},
	}
	f.records["Contact"] = []map[string]any{
		{"Id": sfid("003", 1), "SystemModstamp": at(1), "Email": "peter@initech.com", "FirstName": "Peter", "LastName": "Gibbons", "Title": "Engineer", "AccountId": sfid("001", 1)},
		{"Id": sfid("003", 2), "SystemModstamp": at(2), "Email": "dana@hooli.xyz", "FirstName": "Dana", "LastName": "Ng", "Title": "VP Sales", "AccountId": sfid("001", 2)},
		{"Id": sfid("003", 3), "SystemModstamp": at(2), "Email": "hans@globex.com", "FirstName": "Hans", "LastName": "Gruber", "Title": "CFO", "AccountId": sfid("001", 3)},
		{"Id": sfid("003", 4), "SystemModstamp": at(5), "Email": "tony@stark.com", "FirstName": "Tony", "LastName": "Stark", "Title": "CEO", "AccountId": sfid("001", 5)},
	}
	f.records["Lead"] = []map[string]any{
		{"Id": sfid("00Q", 1), "SystemModstamp": at(1), "Email": "ann@acme.test", "FirstName": "Ann", "LastName": "Lee", "Company": "Acme", "Title": "CTO", "IsConverted": false, "Status": "Open"},
		{"Id": sfid("00Q", 2), "SystemModstamp": at(1), "Email": "bob@acme.test", "FirstName": "Bob", "LastName": "Ray", "Company": "Acme", "Title": "Dev", "IsConverted": false, "Status": "Open"},
		{"Id": sfid("00Q", 3), "SystemModstamp": at(2), "Email": "peter@initech.com", "FirstName": "Peter", "LastName": "Gibbons", "Company": "Initech", "IsConverted": true, "ConvertedContactId": sfid("003", 1), "ConvertedAccountId": sfid("001", 1), "Status": "Converted"},
		{"Id": sfid("00Q", 4), "SystemModstamp": at(3), "Email": "cy@beta.test", "FirstName": "Cy", "LastName": "Dee", "Company": "Beta", "IsConverted": false, "Status": "Working"},
		{"Id": sfid("00Q", 5), "SystemModstamp": at(6), "Email": "eve@gamma.test", "FirstName": "Eve", "LastName": "Fox", "Company": "Gamma", "IsConverted": false, "Status": "Open"},
	}
	f.records["Opportunity"] = []map[string]any{
		{"Id": sfid("006", 1), "SystemModstamp": at(1), "Name": "Initech renewal", "AccountId": sfid("001", 1), "StageName": "Closed Won", "IsWon": true, "IsClosed": true, "Amount": 12000.0, "CloseDate": "2026-04-01"},
		{"Id": sfid("006", 2), "SystemModstamp": at(2), "Name": "Hooli pilot", "AccountId": sfid("001", 2), "StageName": "Closed Lost", "IsWon": false, "IsClosed": true, "Amount": 5000.0, "CloseDate": "2026-04-15"},
		{"Id": sfid("006", 3), "SystemModstamp": at(2), "Name": "Globex", "AccountId": sfid("001", 3), "StageName": "Prospecting", "IsWon": false, "IsClosed": false, "Amount": nil, "CloseDate": "2026-07-01"},
		{"Id": sfid("006", 4), "SystemModstamp": at(7), "Name": "Stark expansion", "AccountId": sfid("001", 5), "StageName": "Negotiation", "IsWon": false, "IsClosed": false, "Amount": 90000.0, "CloseDate": "2026-08-01"},
	}
	f.nextID = 100
	for _, rows := range f.records {
		for _, r := range rows {
			if _, ok := r["IsDeleted"]; !ok {
				r["IsDeleted"] = false
			}
		}
	}
}

// describe is each object's field list: name -> (type, updateable, picklist).
type fakeField struct {
	typ        string
	updateable bool
	picklist   []string
	refTo      string
}

var fakeSchema = map[string]map[string]fakeField{
	"Account": {
		"Id": {typ: "id"}, "SystemModstamp": {typ: "datetime"}, "IsDeleted": {typ: "boolean"}, "CreatedDate": {typ: "datetime"},
		"Name": {typ: "string", updateable: true}, "Website": {typ: "url", updateable: true},
		"Industry":          {typ: "picklist", updateable: true, picklist: []string{"Technology", "Manufacturing", "Pharma", "Energy"}},
		"NumberOfEmployees": {typ: "int", updateable: true}, "AnnualRevenue": {typ: "currency", updateable: true},
		"BillingCountry": {typ: "string", updateable: true}, "BillingState": {typ: "string", updateable: true},
		"Type": {typ: "picklist", updateable: true, picklist: []string{"Customer", "Prospect"}}, "OwnerId": {typ: "reference", updateable: true, refTo: "User"},
		"TrailSpark_Propensity__c": {typ: "double", updateable: true},
	},
	"Contact": {
		"Id": {typ: "id"}, "SystemModstamp": {typ: "datetime"}, "IsDeleted": {typ: "boolean"}, "CreatedDate": {typ: "datetime"},
		"Email": {typ: "email", updateable: true}, "FirstName": {typ: "string", updateable: true}, "LastName": {typ: "string", updateable: true},
		"Title": {typ: "string", updateable: true}, "AccountId": {typ: "reference", updateable: true, refTo: "Account"},
		"LeadSource": {typ: "picklist", updateable: true, picklist: []string{"Web", "Event"}}, "OwnerId": {typ: "reference", updateable: true, refTo: "User"},
		"TrailSpark_Score__c": {typ: "double", updateable: true}, "TrailSpark_Reasoning__c": {typ: "textarea", updateable: true},
		"TrailSpark_Evaluation_Date__c": {typ: "datetime", updateable: true},
	},
	"Lead": {
		"Id": {typ: "id"}, "SystemModstamp": {typ: "datetime"}, "IsDeleted": {typ: "boolean"}, "CreatedDate": {typ: "datetime"},
		"Email": {typ: "email", updateable: true}, "FirstName": {typ: "string", updateable: true}, "LastName": {typ: "string", updateable: true},
		"Title": {typ: "string", updateable: true}, "Company": {typ: "string", updateable: true}, "Website": {typ: "url", updateable: true},
		"Industry": {typ: "picklist", updateable: true, picklist: []string{"Technology", "Manufacturing"}}, "NumberOfEmployees": {typ: "int", updateable: true},
		"Country": {typ: "string", updateable: true}, "Status": {typ: "picklist", updateable: true, picklist: []string{"Open", "Working", "Converted"}},
		"LeadSource": {typ: "picklist", updateable: true, picklist: []string{"Web", "Event"}}, "IsConverted": {typ: "boolean"},
		"ConvertedContactId": {typ: "reference", refTo: "Contact"}, "ConvertedAccountId": {typ: "reference", refTo: "Account"},
		"ConvertedOpportunityId": {typ: "reference", refTo: "Opportunity"}, "ConvertedDate": {typ: "date"},
		"OwnerId":             {typ: "reference", updateable: true, refTo: "User"},
		"TrailSpark_Score__c": {typ: "double", updateable: true}, "TrailSpark_Reasoning__c": {typ: "textarea", updateable: true},
		"TrailSpark_Evaluation_Date__c": {typ: "datetime", updateable: true},
	},
	"Opportunity": {
		"Id": {typ: "id"}, "SystemModstamp": {typ: "datetime"}, "IsDeleted": {typ: "boolean"}, "CreatedDate": {typ: "datetime"},
		"Name": {typ: "string", updateable: true}, "AccountId": {typ: "reference", updateable: true, refTo: "Account"},
		"StageName": {typ: "picklist", updateable: true, picklist: []string{"Prospecting", "Negotiation", "Closed Won", "Closed Lost"}},
		"IsWon":     {typ: "boolean"}, "IsClosed": {typ: "boolean"}, "Amount": {typ: "currency", updateable: true}, "CloseDate": {typ: "date", updateable: true},
		"Probability": {typ: "percent", updateable: true}, "Type": {typ: "picklist", updateable: true, picklist: []string{"New", "Renewal"}},
		"LeadSource": {typ: "picklist", updateable: true, picklist: []string{"Web"}}, "OwnerId": {typ: "reference", updateable: true, refTo: "User"},
	},
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func sfErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, []map[string]any{{"message": msg, "errorCode": code}})
}

var (
	dataPathRe = regexp.MustCompile(`^/services/data/v(\d+\.\d)(/.*)?$`)
	describeRe = regexp.MustCompile(`^/sobjects/(\w+)/describe$`)
	locatorRe  = regexp.MustCompile(`^/query/(\w+-\d+)$`)
)

// maxURI is Salesforce's request-line limit.
const maxURI = 16_384

func (f *fakeSF) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/services/oauth2/authorize":
		f.authorize(w, r)
		return
	case "/services/oauth2/token":
		f.token(w, r)
		return
	}
	if len(r.URL.RequestURI()) > maxURI {
		// Salesforce refuses request lines over 16,384 bytes.
		f.calls["too long"]++
		sfErr(w, 414, "URI_TOO_LONG", "URI Too Long")
		return
	}
	m := dataPathRe.FindStringSubmatch(r.URL.Path)
	if m == nil {
		sfErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	rest := m[2]
	if rest == "" || rest == "/" {
		writeJSON(w, 200, map[string]any{"sobjects": "/services/data/v" + m[1] + "/sobjects", "query": "/services/data/v" + m[1] + "/query"})
		return
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !f.tokens[auth] {
		sfErr(w, 401, "INVALID_SESSION_ID", "Session expired or invalid")
		return
	}
	kind := rest
	switch {
	case strings.HasPrefix(rest, "/query"), strings.HasPrefix(rest, "/queryAll"):
		kind = "/query"
	case strings.HasPrefix(rest, "/sobjects/"):
		kind = "/describe"
	}
	f.calls[r.Method+" "+kind]++
	if f.fail != nil {
		if status, body := f.fail(r); status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return
		}
	}
	f.usage[0]++
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", f.usage[0], f.usage[1]))
	switch {
	case rest == "/limits" && r.Method == "GET":
		writeJSON(w, 200, map[string]any{"DailyApiRequests": map[string]int64{"Max": f.usage[1], "Remaining": f.usage[1] - f.usage[0]}})
	case describeRe.MatchString(rest) && r.Method == "GET":
		f.describe(w, describeRe.FindStringSubmatch(rest)[1])
	case (rest == "/query" || rest == "/queryAll") && r.Method == "GET":
		f.query(w, r.URL.Query().Get("q"), rest == "/queryAll", m[1])
	case locatorRe.MatchString(rest) && r.Method == "GET":
		f.more(w, locatorRe.FindStringSubmatch(rest)[1], m[1])
	case rest == "/composite/sobjects" && (r.Method == "PATCH" || r.Method == "POST"):
		f.collection(w, r)
	default:
		sfErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (f *fakeSF) describe(w http.ResponseWriter, object string) {
	schema, ok := fakeSchema[object]
	if !ok {
		sfErr(w, 404, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range schema {
			if !yield(k) {
				return
			}
		}
	})
	var fields []map[string]any
	for _, n := range names {
		fd := schema[n]
		pl := []map[string]any{}
		for i, v := range fd.picklist {
			pl = append(pl, map[string]any{"active": true, "defaultValue": i == 0, "label": v, "value": v, "validFor": nil})
		}
		if fd.picklist != nil {
			pl = append(pl, map[string]any{"active": false, "defaultValue": false, "label": "Retired", "value": "Retired"})
		}
		ref := []string{}
		if fd.refTo != "" {
			ref = []string{fd.refTo}
		}
		fields = append(fields, map[string]any{
			"name": n, "label": strings.ReplaceAll(n, "_", " "), "type": fd.typ, "updateable": fd.updateable, "createable": fd.updateable,
			"nillable": n != "Id" && n != "LastName", "defaultedOnCreate": n == "Id", "referenceTo": ref, "picklistValues": pl, "length": 255,
		})
	}
	writeJSON(w, 200, map[string]any{"name": object, "label": object, "custom": false, "queryable": true, "updateable": true, "fields": fields})
}

var (
	soqlRe    = regexp.MustCompile(`^SELECT (.+?) FROM (\w+)(?: WHERE (.+?))?(?: ORDER BY (.+?))?(?: LIMIT (\d+))?$`)
	cursorRe  = regexp.MustCompile(`^SystemModstamp > (\S+) OR \(SystemModstamp = (\S+) AND Id > '(\w+)'\)$`)
	inRe      = regexp.MustCompile(`^(Id|Email) IN \((.+)\)( AND IsConverted = false)?$`)
	literalRe = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`)
)

func (f *fakeSF) query(w http.ResponseWriter, q string, all bool, version string) {
	m := soqlRe.FindStringSubmatch(q)
	if m == nil {
		sfErr(w, 400, "MALFORMED_QUERY", "unexpected token")
		return
	}
	object := m[2]
	schema, ok := fakeSchema[object]
	if !ok {
		sfErr(w, 400, "INVALID_TYPE", "sObject type '"+object+"' is not supported.")
		return
	}
	var sel []string
	for s := range strings.SplitSeq(m[1], ",") {
		s = strings.TrimSpace(s)
		if _, ok := schema[s]; !ok {
			sfErr(w, 400, "INVALID_FIELD", "No such column '"+s+"' on entity '"+object+"'.")
			return
		}
		sel = append(sel, s)
	}
	match := func(map[string]any) bool { return true }
	if where := m[3]; where != "" {
		if c := cursorRe.FindStringSubmatch(where); c != nil {
			ts, err := time.Parse("2006-01-02T15:04:05Z", c[1])
			if err != nil || c[1] != c[2] {
				sfErr(w, 400, "MALFORMED_QUERY", "bad datetime literal")
				return
			}
			id := c[3]
			match = func(r map[string]any) bool {
				st := r["SystemModstamp"].(time.Time)
				return st.After(ts) || (st.Equal(ts) && r["Id"].(string) > id)
			}
		} else if c := inRe.FindStringSubmatch(where); c != nil {
			field, onlyUnconverted := c[1], c[3] != ""
			vals := map[string]bool{}
			for _, l := range literalRe.FindAllStringSubmatch(c[2], -1) {
				v := strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(l[1])
				vals[strings.ToLower(v)] = true
			}
			match = func(r map[string]any) bool {
				v, _ := r[field].(string)
				conv, _ := r["IsConverted"].(bool)
				return vals[strings.ToLower(v)] && !(onlyUnconverted && conv)
			}
		} else {
			sfErr(w, 400, "MALFORMED_QUERY", "unexpected WHERE: "+where)
			return
		}
	}
	var rows []map[string]any
	for _, r := range f.records[object] {
		if (all || !r["IsDeleted"].(bool)) && match(r) {
			rows = append(rows, r)
		}
	}
	switch m[4] {
	case "", "SystemModstamp ASC, Id ASC":
		sort.SliceStable(rows, func(i, j int) bool {
			a, b := rows[i]["SystemModstamp"].(time.Time), rows[j]["SystemModstamp"].(time.Time)
			if !a.Equal(b) {
				return a.Before(b)
			}
			return rows[i]["Id"].(string) < rows[j]["Id"].(string)
		})
	case "SystemModstamp DESC":
		sort.SliceStable(rows, func(i, j int) bool {
			return rows[i]["SystemModstamp"].(time.Time).After(rows[j]["SystemModstamp"].(time.Time))
		})
	default:
		sfErr(w, 400, "MALFORMED_QUERY", "unexpected ORDER BY")
		return
	}
	if m[5] != "" {
		n, _ := strconv.Atoi(m[5])
		if len(rows) > n {
			rows = rows[:n]
		}
	}
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		o := map[string]any{"attributes": map[string]string{"type": object, "url": "/services/data/v" + version + "/sobjects/" + object + "/" + r["Id"].(string)}}
		for _, s := range sel {
			v := r[s]
			if t, ok := v.(time.Time); ok {
				v = t.UTC().Format("2006-01-02T15:04:05.000+0000")
			}
			o[s] = v
		}
		out[i] = o
	}
	f.page(w, out, len(out), version)
}

// page answers one page and parks the rest under a query locator.
func (f *fakeSF) page(w http.ResponseWriter, rows []map[string]any, total int, version string) {
	resp := map[string]any{"totalSize": total, "done": true}
	if len(rows) > f.pageSize {
		f.nextID++
		loc := fmt.Sprintf("01gFAKE%d-%d", f.nextID, f.pageSize)
		f.cursors[loc] = rows[f.pageSize:]
		rows = rows[:f.pageSize]
		resp["done"] = false
		resp["nextRecordsUrl"] = "/services/data/v" + version + "/query/" + loc
	}
	if rows == nil {
		rows = []map[string]any{}
	}
	resp["records"] = rows
	writeJSON(w, 200, resp)
}

func (f *fakeSF) more(w http.ResponseWriter, loc, version string) {
	rows, ok := f.cursors[loc]
	if !ok {
		sfErr(w, 400, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	delete(f.cursors, loc)
	f.page(w, rows, len(rows), version)
}

func (f *fakeSF) find(object, id string) map[string]any {
	for _, r := range f.records[object] {
		if r["Id"] == id {
			return r
		}
	}
	return nil
}

var idPrefix = map[string]string{"Account": "001", "Contact": "003", "Lead": "00Q", "Opportunity": "006"}

func (f *fakeSF) collection(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AllOrNone bool             `json:"allOrNone"`
		Records   []map[string]any `json:"records"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		sfErr(w, 400, "JSON_PARSER_ERROR", err.Error())
		return
	}
	if len(body.Records) > 200 {
		sfErr(w, 400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
		return
	}
	if body.AllOrNone {
		f.t.Errorf("composite call with allOrNone=true")
	}
	f.batchLens = append(f.batchLens, len(body.Records))
	type errT struct {
		StatusCode string   `json:"statusCode"`
		Message    string   `json:"message"`
		Fields     []string `json:"fields"`
	}
	type res struct {
		ID      string `json:"id,omitempty"`
		Success bool   `json:"success"`
		Errors  []errT `json:"errors"`
	}
	out := make([]res, len(body.Records))
	for i, rec := range body.Records {
		attrs, _ := rec["attributes"].(map[string]any)
		object, _ := attrs["type"].(string)
		id, _ := rec["id"].(string)
		fail := func(code, msg string, fields ...string) {
			out[i] = res{Success: false, Errors: []errT{{StatusCode: code, Message: msg, Fields: fields}}}
		}
		schema, ok := fakeSchema[object]
		if !ok {
			fail("INVALID_TYPE", "no such type")
			continue
		}
		if code := f.recErr[id]; code != "" {
			fail(code, "scripted failure")
			continue
		}
		bad := ""
		for k := range rec {
			if k == "attributes" || k == "id" {
				continue
			}
			if fd, ok := schema[k]; !ok || !fd.updateable {
				bad = k
			}
		}
		if bad != "" {
			fail("INVALID_FIELD", "No such column '"+bad+"' on sobject of type "+object, bad)
			continue
		}
		if r.Method == "POST" {
			if id != "" {
				fail("INVALID_FIELD", "cannot specify Id in an insert call", "Id")
				continue
			}
			if object == "Lead" && (rec["LastName"] == nil || rec["Company"] == nil) {
				fail("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName, Company]", "LastName", "Company")
				continue
			}
			f.nextID++
			row := map[string]any{"Id": sfid(idPrefix[object], f.nextID), "SystemModstamp": t0.Add(time.Hour), "IsDeleted": false}
			for k, v := range rec {
				if k != "attributes" {
					row[k] = v
				}
			}
			f.records[object] = append(f.records[object], row)
			out[i] = res{ID: row["Id"].(string), Success: true, Errors: []errT{}}
			continue
		}
		row := f.find(object, id)
		switch {
		case row == nil:
			fail("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
			continue
		case row["IsDeleted"] == true:
			fail("ENTITY_IS_DELETED", "entity is deleted")
			continue
		case row["IsConverted"] == true:
			fail("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
			continue
		}
		for k, v := range rec {
			if k != "attributes" && k != "id" {
				row[k] = v
			}
		}
		row["SystemModstamp"] = t0.Add(time.Hour)
		out[i] = res{ID: id, Success: true, Errors: []errT{}}
	}
	writeJSON(w, 200, out)
}

// authorize plays the Salesforce login page: it records the PKCE challenge
// with a new code and redirects to the app.
func (f *fakeSF) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") != fakeClientID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "error=invalid_request", http.StatusBadRequest)
		return
	}
	f.nextID++
	code := fmt.Sprintf("aPrx%d", f.nextID)
	f.codes[code] = authCode{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), clientID: q.Get("client_id")}
	http.Redirect(w, r, q.Get("redirect_uri")+"?code="+url.QueryEscape(code)+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
}

func (f *fakeSF) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != "POST" {
		writeJSON(w, 400, map[string]string{"error": "invalid_request", "error_description": "bad request"})
		return
	}
	f.lastForm = r.PostForm
	bad := func(code, desc string) {
		writeJSON(w, 400, map[string]string{"error": code, "error_description": desc})
	}
	if r.PostForm.Get("client_id") != fakeClientID {
		bad("invalid_client_id", "client identifier invalid")
		return
	}
	if r.PostForm.Get("client_secret") != fakeSecret {
		bad("invalid_client", "invalid client credentials")
		return
	}
	f.nextID++
	access := fmt.Sprintf("00Dfake!access%d", f.nextID)
	resp := map[string]string{
		"access_token": access, "instance_url": f.URL, "id": f.URL + "/id/00Dxx0000001gPL/005xx000001Sv6A",
		"token_type": "Bearer", "issued_at": "1778000000000", "signature": "c2lnbmF0dXJl", "scope": "api refresh_token",
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		c, ok := f.codes[r.PostForm.Get("code")]
		if !ok {
			bad("invalid_grant", "invalid authorization code")
			return
		}
		delete(f.codes, r.PostForm.Get("code"))
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
			bad("invalid_grant", "invalid code verifier")
			return
		}
		if r.PostForm.Get("redirect_uri") != c.redirect {
			bad("redirect_uri_mismatch", "redirect_uri must match configuration")
			return
		}
		f.nextID++
		rt := fmt.Sprintf("5Aep-refresh%d", f.nextID)
		f.refresh[rt] = true
		resp["refresh_token"] = rt
	case "refresh_token":
		if !f.refresh[r.PostForm.Get("refresh_token")] {
			bad("invalid_grant", "expired access/refresh token")
			return
		}
	default:
		bad("unsupported_grant_type", "grant type not supported")
		return
	}
	f.tokens[access] = true
	writeJSON(w, 200, resp)
}

func (f *fakeSF) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[key]
}
