package api

import (
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/mapping"
	"github.com/trailspark/trailspark/engine/tenant"
)

// --- signals

func (s *Server) getSignal(c *gin.Context) {
	v, err := s.client.Signal(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) listSignals(c *gin.Context) {
	f := actors.SignalFilter{Status: c.Query("status"), Source: c.Query("source"), RuleID: c.Query("rule_id"), LeadID: c.Query("lead_id")}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			fail(c, errs.Invalid("limit", "out_of_range", "limit must be an integer from 1 to 200"))
			return
		}
		f.Limit = n
	}
	if v := c.Query("cursor"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			fail(c, errs.Invalid("cursor", "invalid_format", "cursor is not one this API returned"))
			return
		}
		f.After = n
	}
	items, next, err := s.client.Signals(c.Request.Context(), caller(c), c.Param("org"), f)
	if err != nil {
		fail(c, err)
		return
	}
	if items == nil {
		items = []actors.SignalView{}
	}
	cur := ""
	if next > 0 {
		cur = strconv.FormatUint(next, 10)
	}
	c.JSON(http.StatusOK, list[actors.SignalView]{Items: items, NextCursor: cur})
}

func (s *Server) signalStats(c *gin.Context) {
	counts := c.DefaultQuery("status_counts", "true") != "false"
	v, err := s.client.SignalStats(c.Request.Context(), caller(c), c.Param("org"), counts)
	respond(c, http.StatusOK, v, err)
}

// --- rules

func (s *Server) listRules(c *gin.Context) {
	items, err := s.client.Rules(c.Request.Context(), caller(c), c.Param("org"))
	respondList(c, items, err)
}

func (s *Server) getRule(c *gin.Context) {
	v, err := s.client.Rule(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

// ruleReq is a rule as clients send it (no id or timestamps).
type ruleReq struct {
	Name          string                      `json:"name"`
	SignalType    mapping.SignalType          `json:"signal_type"`
	Description   string                      `json:"description"`
	HighIntent    bool                        `json:"high_intent"`
	Negative      bool                        `json:"negative"`
	Source        string                      `json:"source"`
	Conditions    mapping.Condition           `json:"conditions"`
	Priority      int                         `json:"priority"`
	Mappings      []mapping.IdentifierMapping `json:"mappings"`
	Weight        *float64                    `json:"weight"`
	HalfLifeHours *float64                    `json:"half_life_hours"`
}

func (r ruleReq) rule() mapping.Rule {
	return mapping.Rule{Name: r.Name, SignalType: r.SignalType, Description: r.Description, HighIntent: r.HighIntent,
		Negative: r.Negative, Source: r.Source, Conditions: r.Conditions, Priority: r.Priority, Mappings: r.Mappings,
		Weight: r.Weight, HalfLifeHours: r.HalfLifeHours}
}

func (s *Server) createRule(c *gin.Context) {
	var req ruleReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.CreateRule(c.Request.Context(), caller(c), c.Param("org"), req.rule())
	respond(c, http.StatusCreated, v, err)
}

func (s *Server) updateRule(c *gin.Context) {
	var req ruleReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.UpdateRule(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"), req.rule())
	respond(c, http.StatusOK, v, err)
}

func (s *Server) deleteRule(c *gin.Context) {
	respond(c, http.StatusNoContent, nil, s.client.DeleteRule(c.Request.Context(), caller(c), c.Param("org"), c.Param("id")))
}

// --- leads and accounts

func pageParams(c *gin.Context) (string, int, error) {
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return "", 0, errs.Invalid("limit", "out_of_range", "limit must be an integer from 1 to 200")
		}
		limit = n
	}
	return c.Query("cursor"), limit, nil
}

func (s *Server) listLeads(c *gin.Context) {
	after, limit, err := pageParams(c)
	if err != nil {
		fail(c, err)
		return
	}
	items, next, err := s.client.Leads(c.Request.Context(), caller(c), c.Param("org"), c.Query("email"), after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[actors.Lead]{Items: items, NextCursor: next})
}

func (s *Server) getLead(c *gin.Context) {
	v, err := s.client.Lead(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) listAccounts(c *gin.Context) {
	after, limit, err := pageParams(c)
	if err != nil {
		fail(c, err)
		return
	}
	items, next, err := s.client.Accounts(c.Request.Context(), caller(c), c.Param("org"), after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list[actors.Account]{Items: items, NextCursor: next})
}

func (s *Server) getAccount(c *gin.Context) {
	v, err := s.client.Account(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) createAccount(c *gin.Context) {
	var req actors.AccountInput
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.CreateAccount(c.Request.Context(), caller(c), c.Param("org"), req, "api")
	respond(c, http.StatusCreated, v, err)
}

type importResult struct {
	Created int           `json:"created"`
	Failed  int           `json:"failed"`
	Errors  []importError `json:"errors"`
}

type importError struct {
	Row   int         `json:"row"`
	Error errorDetail `json:"error"`
}

// importAccounts takes a CSV (text/csv) or a JSON array of accounts. CSV
// columns are detected by name: name/account_name/account/company,
// url/website/domain, industry/sector, employees/employee_count/size,
// region/country/location, id/external_id/account_id.
func (s *Server) importAccounts(c *gin.Context) {
	if err := s.client.Authorize(c.Request.Context(), caller(c), c.Param("org"), tenant.CapEditConfig); err != nil {
		fail(c, err)
		return
	}
	var rows []actors.AccountInput
	ct := strings.ToLower(c.GetHeader("Content-Type"))
	switch {
	case strings.HasPrefix(ct, "text/csv"):
		var err error
		if rows, err = parseAccountsCSV(c.Request.Body); err != nil {
			fail(c, err)
			return
		}
	default:
		if err := bindJSON(c, &rows); err != nil {
			fail(c, err)
			return
		}
	}
	out := importResult{Errors: []importError{}}
	for i, in := range rows {
		if _, err := s.client.CreateAccount(c.Request.Context(), caller(c), c.Param("org"), in, "import"); err != nil {
			e := errs.As(err)
			if e.Kind == errs.KindNotFound || e.Kind == errs.KindForbidden || e.Kind == errs.KindUnavailable || e.Kind == errs.KindInternal {
				fail(c, err)
				return
			}
			out.Failed++
			if len(out.Errors) < 100 {
				out.Errors = append(out.Errors, importError{Row: i + 1, Error: errorDetail{Code: e.Code, Message: e.Message, Field: e.Field}})
			}
			continue
		}
		out.Created++
	}
	c.JSON(http.StatusOK, out)
}

var accountColumns = map[string][]string{
	"name":        {"name", "account_name", "account", "company"},
	"domain":      {"domain", "website", "url"},
	"industry":    {"industry", "sector"},
	"employees":   {"employees", "employee_count", "company_size", "size"},
	"region":      {"region", "country", "location", "office_location"},
	"external_id": {"external_id", "account_id", "id"},
}

func parseAccountsCSV(r io.Reader) ([]actors.AccountInput, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, errs.Invalid("", "malformed_csv", "the CSV has no header row")
	}
	col := map[string]int{}
	for field, names := range accountColumns {
		for _, n := range names {
			for i, h := range header {
				if strings.EqualFold(strings.TrimSpace(h), n) {
					if _, ok := col[field]; !ok {
						col[field] = i
					}
				}
			}
		}
	}
	if _, ok := col["name"]; !ok {
		return nil, errs.Invalid("name", "required", "the CSV needs a name column (name, account_name, account or company)")
	}
	get := func(rec []string, f string) string {
		if i, ok := col[f]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var rows []actors.AccountInput
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, &errs.Error{Kind: errs.KindTooLarge, Code: "payload_too_large",
					Message: "the import is larger than the limit of 10 MiB"}
			}
			return nil, errs.Invalid("", "malformed_csv", "%s", err.Error())
		}
		in := actors.AccountInput{Name: get(rec, "name"), Domain: get(rec, "domain"), Industry: get(rec, "industry"),
			Region: get(rec, "region"), ExternalID: get(rec, "external_id")}
		if v := get(rec, "employees"); v != "" {
			if n, err := strconv.Atoi(strings.ReplaceAll(v, ",", "")); err == nil {
				in.Employees = &n
			}
		}
		rows = append(rows, in)
	}
	return rows, nil
}

// listPlans serves GET /api/v1/plans: the plans the operator offers.
func (s *Server) listPlans(c *gin.Context) {
	respondList(c, s.client.Plans(), nil)
}
