package icp

import "strings"

// Keyword tables for ParseTitle. Order matters: the first seniority whose
// keyword occurs wins, so "Senior Vice President" is vp, not senior, and
// "Head of Sales" is head even though "sales" is a department word.
var seniorityWords = []struct {
	level string
	words []string
}{
	// vp before c_level: "Senior Vice President" contains "president".
	{"vp", []string{"vp", "svp", "evp", "avp", "vice president"}},
	{"c_level", []string{"ceo", "cto", "cfo", "coo", "cmo", "cio", "cro", "cpo", "ciso", "chief", "founder", "co founder", "cofounder", "president", "owner", "managing director", "general manager", "partner"}},
	{"head", []string{"head"}},
	{"director", []string{"director"}},
	{"manager", []string{"manager", "mgr", "team lead", "lead"}},
	{"senior", []string{"senior", "sr", "principal", "staff"}},
	{"entry", []string{"intern", "junior", "jr", "trainee", "graduate", "assistant", "student"}},
}

var departmentWords = []struct {
	dept  string
	words []string
}{
	{"sales", []string{"sales", "account executive", "ae", "sdr", "bdr", "business development", "revenue", "account manager", "cro"}},
	{"marketing", []string{"marketing", "growth", "demand generation", "demand gen", "brand", "content", "seo", "communications", "cmo"}},
	// "information technology" is IT, checked before engineering's "technology".
	{"it", []string{"information technology"}},
	{"engineering", []string{"engineering", "engineer", "developer", "software", "devops", "architect", "cto", "programmer", "sre", "technology"}},
	{"product", []string{"product", "cpo"}},
	{"data", []string{"data", "analytics", "analyst", "scientist", "bi"}},
	{"design", []string{"design", "designer", "ux", "ui"}},
	{"finance", []string{"finance", "financial", "accounting", "accountant", "controller", "cfo", "treasury"}},
	{"operations", []string{"operations", "ops", "coo", "supply chain", "logistics", "procurement"}},
	{"it", []string{"it", "information technology", "cio", "ciso", "security", "infrastructure", "systems", "network"}},
	{"hr", []string{"hr", "human resources", "people", "talent", "recruiter", "recruiting"}},
	{"legal", []string{"legal", "counsel", "lawyer", "attorney", "compliance"}},
	{"support", []string{"support", "customer success", "customer service", "success"}},
	{"executive", []string{"ceo", "founder", "co founder", "cofounder", "president", "owner", "managing director", "general manager"}},
}

// ParseTitle normalises a job title into a seniority and a department
// (values from Seniorities and Departments; empty when the title says
// nothing). Deterministic and allocation-light: it runs for every lead.
func ParseTitle(title string) (seniority, department string) {
	t := " " + normWords(title) + " "
	if t == "  " {
		return "", ""
	}
	for _, s := range seniorityWords {
		if hasAnyWord(t, s.words) {
			seniority = s.level
			break
		}
	}
	if seniority == "" {
		seniority = "individual"
	}
	for _, d := range departmentWords {
		if hasAnyWord(t, d.words) {
			department = d.dept
			break
		}
	}
	return seniority, department
}

// hasAnyWord reports whether padded text t contains one of words as whole
// words.
func hasAnyWord(t string, words []string) bool {
	for _, w := range words {
		if strings.Contains(t, " "+w+" ") {
			return true
		}
	}
	return false
}
