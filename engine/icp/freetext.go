package icp

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Phrase is one piece of free text that was understood, the Definition
// field it set (JSON path: "account.industries", "account_detractors.
// employee_ranges", "personas.seniorities" …) and the value it set there.
type Phrase struct {
	Text  string `json:"text"`
	Field string `json:"field"`
	Value string `json:"value"`
}

// TextResult is what ParseText understood and what it did not.
type TextResult struct {
	Definition Definition `json:"definition"`
	Understood []Phrase   `json:"understood"`
	// NotUnderstood are runs of words that were neither recognised nor
	// filler, in text order, as written.
	NotUnderstood []string `json:"not_understood"`
}

// ParseText turns an ICP description in prose into a Definition, e.g.
//
//	B2B SaaS companies in fintech and healthcare, 50-1000 employees, in
//	North America and EMEA, using Salesforce or HubSpot; targeting VPs of
//	Sales and marketing directors; not students or agencies
//
// It recognises industries, employee ranges ("50-1000", "50 to 1000",
// "1k-5k", "500+", "over 200 employees", "SMB"/"mid-market"/"enterprise"
// as segment and range), regions and countries from a small gazetteer,
// technologies from a vocabulary of common SaaS tools, business models
// (b2b, b2c, saas, marketplace …), personas (seniority and department,
// with ParseTitle's keywords: "VPs of Sales", "marketing directors") and
// buying roles. "not …", "no …", "excluding …", "except …" make the rest
// of the clause (up to ; . : or a line break) detractors. Deterministic,
// no I/O; criteria carry weight 0 (DefaultWeight). The Definition passes
// Validate.
func ParseText(text string) TextResult {
	p := &textParser{src: text, toks: tokenize(text)}
	p.run()
	return TextResult{Definition: p.def, Understood: p.understood, NotUnderstood: p.unknown}
}

// --- tokens -----------------------------------------------------------

type tokKind uint8

const (
	tWord tokKind = iota
	tNum
	tPunct
)

type token struct {
	text       string // lowercased (words), canonical punctuation
	orig       string
	start, end int
	kind       tokKind
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// tokenize splits text into words (letters/digits, with inner dots like
// "u.s" or "monday.com", inner apostrophes), numbers (with thousands
// commas and decimals: "1,000", "1.5", "5k" stays a word), and single
// punctuation marks. "&" becomes the word "and"; dashes become "-".
func tokenize(s string) []token {
	var toks []token
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsSpace(r) && r != '\n':
			i += n
		case isWordRune(r):
			j := i + n
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if isWordRune(r2) {
					j += n2
					continue
				}
				// inner . , ' followed by a word rune
				if (r2 == '.' || r2 == '\'' || r2 == ',') && j+n2 < len(s) {
					r3, _ := utf8.DecodeRuneInString(s[j+n2:])
					prev, _ := utf8.DecodeLastRuneInString(s[:j])
					if r2 == ',' {
						// thousands separator: digit , ddd (not followed by a digit)
						if unicode.IsDigit(prev) && j+4 <= len(s) && allDigits(s[j+1:j+4]) && (j+4 == len(s) || !isDigitByte(s[j+4])) {
							j += 4
							continue
						}
						break
					}
					if r2 == '.' && unicode.IsDigit(prev) != unicode.IsDigit(r3) {
						break // "2024.Next" or "x.5": a sentence end
					}
					if isWordRune(r3) {
						j += n2
						continue
					}
				}
				break
			}
			w := s[i:j]
			k := tWord
			if isNumberWord(w) {
				k = tNum
			}
			toks = append(toks, token{text: strings.ToLower(w), orig: w, start: i, end: j, kind: k})
			i = j
		default:
			t := string(r)
			switch r {
			case '&':
				toks = append(toks, token{text: "and", orig: t, start: i, end: i + n, kind: tWord})
				i += n
				continue
			case '–', '—', '‐', '‑', '−':
				t = "-"
			case '\n', '\r':
				t = "\n"
			}
			toks = append(toks, token{text: t, orig: s[i : i+n], start: i, end: i + n, kind: tPunct})
			i += n
		}
	}
	return toks
}

func isDigitByte(b byte) bool { return b >= '0' && b <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigitByte(s[i]) {
			return false
		}
	}
	return s != ""
}

func isNumberWord(w string) bool {
	if w == "" || !isDigitByte(w[0]) {
		return false
	}
	for _, r := range w {
		if !(r >= '0' && r <= '9' || r == ',' || r == '.') {
			return false
		}
	}
	return true
}

// countOf reads a number token or a word like "5k"/"1.5k"/"2m".
func countOf(t token) (int, bool) {
	if t.kind == tNum {
		return parseCount(t.text)
	}
	if t.kind == tWord && len(t.text) > 1 && isDigitByte(t.text[0]) {
		last := t.text[len(t.text)-1]
		if (last == 'k' || last == 'm') && isNumberWord(t.text[:len(t.text)-1]) {
			return parseCount(t.text)
		}
	}
	return 0, false
}

// --- vocabulary ---------------------------------------------------------

type action struct {
	field string // account fields: industries, regions, technologies, business_models, market_segments, employee_ranges; persona: buying_roles
	value string
	rng   Range // employee_ranges
}

type lexEntry struct {
	words   []string
	exact   string // when set, the original text must equal it (e.g. "US")
	actions []action
}

var lexicon = map[string][]lexEntry{} // first word → entries, longest first

func addLex(field, value string, phrases ...string) {
	addEntries([]action{{field: field, value: value}}, phrases...)
}

func addEntries(actions []action, phrases ...string) {
	for _, ph := range phrases {
		e := lexEntry{actions: actions}
		if strings.HasPrefix(ph, "=") { // case-sensitive
			ph = ph[1:]
			e.exact = ph
		}
		for _, t := range tokenize(ph) {
			if t.kind != tPunct {
				e.words = append(e.words, t.text)
			}
		}
		lexicon[e.words[0]] = append(lexicon[e.words[0]], e)
	}
}

func addSegment(value string, r Range, phrases ...string) {
	addEntries([]action{{field: "market_segments", value: value}, {field: "employee_ranges", rng: r}}, phrases...)
}

func init() {
	ind := func(v string, ph ...string) { addLex("industries", v, append([]string{v}, ph...)...) }
	ind("software", "software companies", "isvs", "isv", "software vendors")
	ind("fintech", "financial technology")
	ind("financial services", "finance", "banking", "banks", "financial institutions")
	ind("insurance", "insurtech", "insurers")
	ind("healthcare", "health care", "healthtech", "health tech", "hospitals", "medical", "health")
	ind("life sciences", "biotech", "biotechnology", "pharma", "pharmaceuticals", "pharmaceutical")
	ind("retail", "retailers")
	ind("ecommerce", "e-commerce", "online retail", "online stores")
	ind("manufacturing", "manufacturers", "industrial")
	ind("education", "edtech", "schools", "universities", "higher education", "higher ed")
	ind("government", "public sector", "governments")
	ind("nonprofit", "nonprofits", "non-profit", "non-profits", "not-for-profit", "ngos", "ngo", "charities")
	ind("media", "publishing", "publishers")
	ind("entertainment", "gaming", "games")
	ind("telecommunications", "telecom", "telecoms", "telco", "telcos")
	ind("logistics", "transportation", "shipping", "freight")
	ind("real estate", "proptech", "property")
	ind("hospitality", "hotels", "travel", "restaurants")
	ind("energy", "utilities", "oil and gas", "cleantech", "renewables")
	ind("automotive")
	ind("construction")
	ind("legal", "legal services", "law firms", "legaltech")
	ind("consulting", "consultancies", "consultancy", "professional services")
	ind("agency", "agencies")
	ind("marketing and advertising", "marketing agencies", "advertising", "adtech", "martech")
	ind("cybersecurity", "cyber security", "infosec", "security companies")
	ind("information technology", "it services", "=IT", "tech companies", "technology companies", "technology", "tech")
	ind("staffing", "recruiting agencies", "recruitment agencies", "hr tech", "employment")
	ind("agriculture", "agtech", "farming")
	ind("food and beverage", "f&b", "cpg", "consumer goods")
	ind("aerospace", "defense", "defence")
	ind("crypto", "web3", "blockchain")
	ind("ai", "artificial intelligence", "machine learning")

	reg := func(v string, ph ...string) { addLex("regions", v, append([]string{v}, ph...)...) }
	reg("North America", "=NA", "=NAM", "n. america", "northern america")
	reg("EMEA", "europe middle east and africa")
	reg("Europe", "european", "eu", "=EU", "western europe", "eastern europe", "central europe")
	reg("APAC", "asia pacific", "asia-pacific", "asia")
	reg("LATAM", "latin america", "south america", "central america")
	reg("Middle East", "mena", "gcc")
	reg("Africa")
	reg("DACH")
	reg("Nordics", "nordic countries", "scandinavia")
	reg("Benelux")
	reg("ANZ", "australia and new zealand", "oceania")
	reg("United States", "=US", "=U.S", "usa", "=U.S.A", "united states of america", "america")
	reg("Canada")
	reg("Mexico")
	reg("Brazil")
	reg("Argentina")
	reg("Chile")
	reg("Colombia")
	reg("United Kingdom", "uk", "=U.K", "great britain", "britain", "england")
	reg("Ireland")
	reg("Germany")
	reg("France")
	reg("Spain")
	reg("Italy")
	reg("Portugal")
	reg("Netherlands", "the netherlands", "holland")
	reg("Belgium")
	reg("Switzerland")
	reg("Austria")
	reg("Sweden")
	reg("Norway")
	reg("Denmark")
	reg("Finland")
	reg("Poland")
	reg("Romania")
	reg("Israel")
	reg("United Arab Emirates", "uae", "=UAE")
	reg("Saudi Arabia")
	reg("South Africa")
	reg("Nigeria")
	reg("Kenya")
	reg("Egypt")
	reg("India")
	reg("China")
	reg("Japan")
	reg("South Korea", "korea")
	reg("Singapore")
	reg("Australia")
	reg("New Zealand")
	reg("Indonesia")
	reg("Philippines")
	reg("Vietnam")
	reg("Malaysia")
	reg("Hong Kong")
	reg("Taiwan")
	reg("Panama")
	reg("Jordan")

	tech := func(v string, ph ...string) { addLex("technologies", v, append([]string{v}, ph...)...) }
	for _, t := range []string{"salesforce", "hubspot", "marketo", "pardot", "zendesk", "intercom", "slack", "jira", "confluence", "atlassian",
		"shopify", "magento", "wordpress", "stripe", "snowflake", "mixpanel", "amplitude", "outreach", "salesloft", "gong", "zoominfo",
		"netsuite", "sap", "oracle", "workday", "servicenow", "mailchimp", "klaviyo", "okta", "datadog", "github", "gitlab", "kubernetes",
		"docker", "tableau", "looker", "notion", "asana", "pipedrive", "zoho", "freshdesk", "freshworks", "twilio", "docusign", "segment",
		"dbt", "databricks", "bigquery", "redshift", "terraform", "figma", "clearbit", "apollo", "6sense", "demandbase", "braze", "iterable",
		"heap", "pendo", "gainsight", "totango", "chargebee", "recurly", "zuora", "quickbooks", "xero", "bamboohr", "greenhouse", "lever"} {
		tech(t)
	}
	tech("aws", "amazon web services")
	tech("azure", "microsoft azure")
	tech("google cloud", "gcp", "google cloud platform")
	tech("google analytics", "ga4")
	tech("microsoft dynamics", "dynamics 365", "ms dynamics")
	tech("power bi", "powerbi")
	tech("monday.com")
	tech("linkedin sales navigator", "sales navigator")
	tech("microsoft teams", "ms teams")
	tech("google workspace", "g suite", "gsuite")
	tech("adobe experience cloud", "adobe marketing cloud")

	bm := func(v string, ph ...string) { addLex("business_models", v, append([]string{v}, ph...)...) }
	bm("b2b", "business to business", "business-to-business")
	bm("b2c", "business to consumer", "business-to-consumer", "consumer")
	bm("b2b2c")
	bm("saas", "software as a service", "cloud software")
	bm("marketplace", "marketplaces", "two sided marketplace", "two-sided marketplaces")
	bm("d2c", "dtc", "direct to consumer", "direct-to-consumer")
	bm("subscription", "subscription businesses")
	bm("paas", "platform as a service")
	bm("open source", "open-source", "oss")

	addSegment("smb", Range{Min: 1, Max: 99}, "smb", "smbs", "sme", "smes", "small business", "small businesses", "small and medium businesses",
		"small and medium sized businesses", "small and medium-sized businesses", "small companies", "small and mid-sized businesses")
	addSegment("mid-market", Range{Min: 100, Max: 999}, "mid-market", "midmarket", "mid market", "mid-sized", "mid-size", "midsize",
		"medium-sized", "medium sized", "medium businesses", "mid-sized companies", "medium-sized companies", "mid-sized businesses")
	addSegment("enterprise", Range{Min: 1000}, "enterprise", "enterprises", "large enterprises", "large companies", "fortune 500",
		"fortune 1000", "global 2000", "large organizations", "large organisations")
	addSegment("startup", Range{Min: 1, Max: 50}, "startup", "startups", "start-ups", "start-up", "early stage", "early-stage")

	br := func(v string, ph ...string) { addLex("buying_roles", v, ph...) }
	br("decision_maker", "decision makers", "decision maker", "decision-makers", "economic buyers", "economic buyer", "budget holders")
	br("champion", "champions", "champion")
	br("influencer", "influencers", "influencer")
	br("user", "end users", "end-users", "users", "end user")
	br("blocker", "blockers", "gatekeepers")

	// longest phrases first so the scanner's first match is the longest
	for k, l := range lexicon {
		for a := 1; a < len(l); a++ {
			for b := a; b > 0 && len(l[b].words) > len(l[b-1].words); b-- {
				l[b], l[b-1] = l[b-1], l[b]
			}
		}
		lexicon[k] = l
	}
}

// Filler words: understood as glue, never reported.
var fillers = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the in at of for to and or with using use uses used that who which whose are is be been being
		companies company businesses business organizations organisations organization organisation orgs firms firm teams team based
		located headquartered hq from across within target targeting targets targeted we our us you your sell selling sells sold into
		mainly mostly primarily especially like such as including include includes plus also both either ideally preferably typically
		customers customer clients client accounts account prospects ideal icp profile size sized employees employee staff people headcount
		fte ftes workers anywhere globally worldwide global region regions country countries on run running runs has have having with
		e g eg i ie etc via by they them their those these any all other others who're industry industries sector sectors vertical verticals
		market markets segment segments operating operate operates serving serve serves focus focused focusing mostly some many more than
		buy buying buyers buyer want wants looking people's stack tech-stack tools tool platform platforms on their`) {
		fillers[w] = true
	}
}

var negations = map[string]bool{"not": true, "no": true, "excluding": true, "exclude": true, "excludes": true, "except": true,
	"avoid": true, "without": true, "never": true, "nor": true, "excluded": true, "disqualify": true, "disqualified": true}

var employeeNouns = map[string]bool{"employees": true, "employee": true, "staff": true, "people": true, "ftes": true, "fte": true,
	"headcount": true, "workers": true, "persons": true, "person": true, "heads": true, "seats": true}

// --- persona vocabulary ---------------------------------------------------

var personaPlural = map[string]string{"vps": "vp", "svps": "svp", "evps": "evp", "avps": "avp", "ceos": "ceo", "ctos": "cto", "cfos": "cfo",
	"coos": "coo", "cmos": "cmo", "cios": "cio", "cros": "cro", "cpos": "cpo", "cisos": "ciso", "founders": "founder", "cofounders": "cofounder",
	"presidents": "president", "owners": "owner", "heads": "head", "directors": "director", "managers": "manager", "mgrs": "mgr",
	"interns": "intern", "juniors": "junior", "trainees": "trainee", "graduates": "graduate", "assistants": "assistant", "students": "student",
	"officers": "officer", "engineers": "engineer", "developers": "developer", "architects": "architect", "designers": "designer",
	"analysts": "analyst", "scientists": "scientist", "recruiters": "recruiter", "accountants": "accountant", "controllers": "controller",
	"programmers": "programmer", "leaders": "leader", "executives": "executive", "marketers": "marketer", "sellers": "seller",
	"reps": "rep", "lawyers": "lawyer", "attorneys": "attorney", "sdrs": "sdr", "bdrs": "bdr", "aes": "ae"}

// personaSeniority: free-text seniority words (after singularising).
var personaSeniority = map[string]string{}

// personaNouns carry no seniority but mark a persona phrase.
var personaNouns = map[string]bool{"officer": true, "leader": true, "leadership": true, "engineer": true, "developer": true,
	"architect": true, "designer": true, "analyst": true, "scientist": true, "recruiter": true, "accountant": true, "controller": true,
	"programmer": true, "marketer": true, "seller": true, "rep": true, "lawyer": true, "attorney": true, "counsel": true, "sdr": true, "bdr": true,
	"ae": true, "professional": true, "professionals": true, "team": true, "teams": true, "department": true, "departments": true}

// personaDept: department words usable in free text (ParseTitle's, minus
// ambiguous short ones, plus "marketer"/"seller").
var personaDept = map[string]string{}

func init() {
	skip := map[string]bool{"partner": true, "staff": true, "lead": true, "general manager": true, "managing director": true, "co founder": true}
	for _, s := range seniorityWords {
		for _, w := range s.words {
			if !skip[w] && !strings.Contains(w, " ") {
				personaSeniority[w] = s.level
			}
		}
	}
	personaSeniority["cxo"] = "c_level"
	personaSeniority["executive"] = "c_level"
	personaSeniority["chief"] = "c_level"
	skipD := map[string]bool{"it": true, "bi": true, "ui": true, "people": true, "content": true, "success": true, "systems": true, "ae": true}
	for _, d := range departmentWords {
		for _, w := range d.words {
			if !skipD[w] && !strings.Contains(w, " ") {
				if _, ok := personaDept[w]; !ok {
					personaDept[w] = d.dept
				}
			}
		}
	}
	for w, d := range map[string]string{"marketer": "marketing", "seller": "sales", "rep": "sales", "sdr": "sales", "bdr": "sales", "ae": "sales",
		"technology": "engineering", "tech": "engineering", "recruiter": "hr", "lawyer": "legal", "attorney": "legal", "accountant": "finance",
		"counsel": "legal", "revops": "operations", "hr": "hr", "it": "it"} {
		personaDept[w] = d
	}
}

// persona multi-word department phrases (two words).
var personaDept2 = map[string]string{"human resources": "hr", "business development": "sales", "customer success": "support",
	"customer service": "support", "supply chain": "operations", "demand generation": "marketing", "demand gen": "marketing",
	"information technology": "it", "revenue operations": "operations", "sales operations": "operations", "marketing operations": "marketing",
	"c level": "", "c suite": "", "account executive": "sales+", "sales rep": "sales+", "sales representative": "sales+"}

// nextWord is the index of the word after k, skipping one dash; 0 if none.
func (p *textParser) nextWord(k int) int {
	j := k + 1
	if j < len(p.toks) && p.toks[j].text == "-" {
		j++
	}
	if j < len(p.toks) && p.toks[j].kind != tPunct {
		return j
	}
	return 0
}

// --- parser ---------------------------------------------------------------

type textParser struct {
	src        string
	toks       []token
	def        Definition
	understood []Phrase
	unknown    []string
	negated    bool
	runStart   int // first token of the current unknown run, -1 none
	runEnd     int
	seen       map[string]bool
}

func (p *textParser) run() {
	p.runStart = -1
	p.seen = map[string]bool{}
	for i := 0; i < len(p.toks); {
		t := p.toks[i]
		if t.kind == tPunct {
			p.flush()
			switch t.text {
			case ";", ".", ":", "!", "?", "\n", "(", ")":
				p.negated = false
			}
			i++
			continue
		}
		if n := p.employees(i); n > 0 {
			i += n
			continue
		}
		if n := p.persona(i); n > 0 {
			i += n
			continue
		}
		if n := p.lex(i); n > 0 {
			i += n
			continue
		}
		switch {
		case t.text == "but":
			p.flush()
			p.negated = i+1 < len(p.toks) && p.toks[i+1].text == "not"
			if p.negated {
				i++
			}
			i++
			continue
		case t.text == "other" && i+1 < len(p.toks) && p.toks[i+1].text == "than":
			p.flush()
			p.negated = true
			i += 2
			continue
		case negations[t.text]:
			p.flush()
			p.negated = true
			i++
			continue
		case fillers[t.text]:
			p.flush()
			i++
			continue
		}
		if p.runStart < 0 {
			p.runStart = i
		}
		p.runEnd = i
		i++
	}
	p.flush()
}

func (p *textParser) flush() {
	if p.runStart >= 0 {
		p.unknown = append(p.unknown, p.src[p.toks[p.runStart].start:p.toks[p.runEnd].end])
		p.runStart = -1
	}
}

func (p *textParser) span(i, j int) string { return p.src[p.toks[i].start:p.toks[j].end] }

func (p *textParser) accountSide() (*AccountProfile, string) {
	if p.negated {
		return &p.def.AccountDetractors, "account_detractors"
	}
	return &p.def.Account, "account"
}

func (p *textParser) personaSide() (*Personas, string) {
	if p.negated {
		return &p.def.PersonaDetractors, "persona_detractors"
	}
	return &p.def.Personas, "personas"
}

// apply records one action for the phrase toks[i..j].
func (p *textParser) apply(a action, i, j int) {
	text := p.span(i, j)
	if a.field == "employee_ranges" {
		side, name := p.accountSide()
		v := rangeName(a.rng)
		p.understood = append(p.understood, Phrase{Text: text, Field: name + ".employee_ranges", Value: v})
		key := name + ".employee_ranges=" + v
		if !p.seen[key] && len(side.EmployeeRanges) < MaxCriteria {
			p.seen[key] = true
			side.EmployeeRanges = append(side.EmployeeRanges, Range{Min: a.rng.Min, Max: a.rng.Max})
		}
		return
	}
	var list *[]Criterion
	var name string
	switch a.field {
	case "seniorities", "departments", "buying_roles", "titles":
		side, n := p.personaSide()
		name = n
		switch a.field {
		case "seniorities":
			list = &side.Seniorities
		case "departments":
			list = &side.Departments
		case "buying_roles":
			list = &side.BuyingRoles
		default:
			list = &side.Titles
		}
	default:
		side, n := p.accountSide()
		name = n
		switch a.field {
		case "industries":
			list = &side.Industries
		case "regions":
			list = &side.Regions
		case "technologies":
			list = &side.Technologies
		case "business_models":
			list = &side.BusinessModels
		default:
			list = &side.MarketSegments
		}
	}
	field := name + "." + a.field
	p.understood = append(p.understood, Phrase{Text: text, Field: field, Value: a.value})
	key := field + "=" + norm(a.value)
	if !p.seen[key] && len(*list) < MaxCriteria {
		p.seen[key] = true
		*list = append(*list, Criterion{Value: a.value})
	}
}

// lex matches the longest vocabulary phrase at i (dashes and dots between
// words are skipped); it returns the tokens consumed.
func (p *textParser) lex(i int) int {
	t := p.toks[i]
	if t.kind == tPunct {
		return 0
	}
	for _, e := range lexicon[t.text] {
		j, k := i, 0
		last := i
		for k < len(e.words) && j < len(p.toks) {
			tk := p.toks[j]
			if tk.kind == tPunct {
				if tk.text == "-" && k > 0 {
					j++
					continue
				}
				break
			}
			if tk.text != e.words[k] {
				break
			}
			last = j
			k++
			j++
		}
		if k < len(e.words) {
			continue
		}
		if e.exact != "" && p.span(i, last) != e.exact {
			continue
		}
		p.flush()
		for _, a := range e.actions {
			p.apply(a, i, last)
		}
		return last - i + 1
	}
	return 0
}

// employees matches an employee range at i and returns the tokens used.
func (p *textParser) employees(i int) int {
	toks := p.toks
	word := func(k int) string {
		if k >= 0 && k < len(toks) {
			return toks[k].text
		}
		return ""
	}
	num := func(k int) (int, bool) {
		if k < 0 || k >= len(toks) {
			return 0, false
		}
		return countOf(toks[k])
	}
	var r Range
	end := -1     // last token of the range expression
	bare := false // a bare "N-M" or "N+" (accepted without an employee noun)
	switch w := word(i); {
	case w == "between":
		a, ok1 := num(i + 1)
		b, ok2 := num(i + 3)
		if ok1 && ok2 && word(i+2) == "and" {
			r, end = Range{Min: a, Max: b}, i+3
		}
	case w == "over" || w == "above" || w == "more" && word(i+1) == "than" || w == "greater" && word(i+1) == "than" || w == ">":
		k := i + 1
		if w == "more" || w == "greater" {
			k++
		}
		if a, ok := num(k); ok {
			r, end = Range{Min: a + 1}, k
		}
	case w == "at" && word(i+1) == "least" || w == "minimum" || w == "min":
		k := i + 1
		if w == "at" {
			k++
		}
		if a, ok := num(k); ok {
			r, end = Range{Min: a}, k
		}
	case w == "under" || w == "below" || w == "less" && word(i+1) == "than" || w == "fewer" && word(i+1) == "than" || w == "up" && word(i+1) == "to" || w == "<" || w == "maximum" || w == "max":
		k := i + 1
		if w == "less" || w == "fewer" || w == "up" {
			k++
		}
		if b, ok := num(k); ok {
			if w == "up" || w == "maximum" || w == "max" {
				r, end = Range{Min: 1, Max: b}, k
			} else {
				r, end = Range{Min: 1, Max: b - 1}, k
			}
		}
	default:
		a, ok := num(i)
		if !ok {
			return 0
		}
		switch {
		case (word(i+1) == "-" || word(i+1) == "to") && i+2 < len(toks):
			if b, ok := num(i + 2); ok {
				r, end, bare = Range{Min: a, Max: b}, i+2, word(i+1) == "-"
			}
		case word(i+1) == "+":
			r, end, bare = Range{Min: a}, i+1, true
		case word(i+1) == "or" && (word(i+2) == "more" || word(i+2) == "above"):
			r, end = Range{Min: a}, i+2
		case word(i+1) == "and" && (word(i+2) == "up" || word(i+2) == "above"):
			r, end = Range{Min: a}, i+2
		case word(i+1) == "or" && (word(i+2) == "fewer" || word(i+2) == "less"):
			r, end = Range{Min: 1, Max: a}, i+2
		case word(i+1) == "plus":
			r, end, bare = Range{Min: a}, i+1, true
		}
	}
	if end < 0 {
		return 0
	}
	// An employee noun after (optionally "+"), or a headcount word before.
	after := end + 1
	if word(after) == "+" {
		after++
	}
	noun := employeeNouns[word(after)]
	before := employeeNouns[word(i-1)] || word(i-1) == "size" || word(i-1) == "of" && employeeNouns[word(i-2)] || word(i-1) == ":" && employeeNouns[word(i-2)]
	money := word(i-1) == "$" || word(i-1) == "€" || word(i-1) == "£"
	switch word(end + 1) {
	case "%", "m", "million", "mm", "b", "billion", "revenue", "arr", "usd", "eur", "$", "k", "years", "year", "months", "days":
		money = true
	}
	if money || !(noun || before || bare) {
		return 0
	}
	if r.Max != 0 && r.Max < r.Min || r.Min < 0 || r.Max < 0 || (r.Max == 0 && r.Min == 0) {
		return 0
	}
	last := end
	if noun {
		last = after
	}
	p.flush()
	p.apply(action{field: "employee_ranges", rng: r}, i, last)
	return last - i + 1
}

// persona matches a persona phrase at i: seniority, department and role
// words ("VPs of Sales", "marketing directors", "Chief Revenue Officers",
// "sales and marketing leaders"); it returns the tokens consumed.
func (p *textParser) persona(i int) int {
	end, sen, depts, ok := p.personaWindow(i, 0)
	if !ok {
		return 0
	}
	p.flush()
	if sen != "" {
		p.apply(action{field: "seniorities", value: sen}, i, end)
	}
	for _, d := range depts {
		p.apply(action{field: "departments", value: d}, i, end)
	}
	return end - i + 1
}

// personaWindow scans persona words from i. ok needs a seniority word or
// a role noun (department words alone are not a persona, they may be an
// industry), or departments joined by and/or/comma to a persona.
// A window is at most maxPersonaTokens tokens and chains at most
// maxPersonaChain departments ("sales, marketing and product leaders"), so
// parsing stays linear in the text length.
func (p *textParser) personaWindow(i, depth int) (end int, sen string, depts []string, ok bool) {
	toks := p.toks
	hasAnchor := false
	end = -1
	addDept := func(d string) {
		if d != "" && !contains(depts, d) {
			depts = append(depts, d)
		}
	}
	for k := i; k < len(toks) && k-i < maxPersonaTokens; {
		t := toks[k]
		if t.kind == tPunct {
			if t.text == "-" && k > i { // "co-founders", "vice-president"
				k++
				continue
			}
			// "sales, marketing and product leaders"
			if t.text == "," && !hasAnchor && len(depts) > 0 && end == k-1 && depth < maxPersonaChain {
				if e2, s2, d2, ok2 := p.personaWindow(k+1, depth+1); ok2 {
					for _, d := range d2 {
						addDept(d)
					}
					return e2, s2, depts, true
				}
			}
			break
		}
		w := t.text
		if s, ok2 := personaPlural[w]; ok2 {
			w = s
		}
		if k2 := p.nextWord(k); k2 > 0 {
			two := w + " " + singular(toks[k2].text)
			if d, ok2 := personaDept2[two]; ok2 {
				switch d {
				case "":
					sen, hasAnchor = "c_level", true
				case "sales+":
					addDept("sales")
					hasAnchor = true
				default:
					addDept(d)
				}
				end = k2
				k = k2 + 1
				continue
			}
			if two == "vice president" {
				if sen == "" || seniorityRank("vp") < seniorityRank(sen) {
					sen = "vp"
				}
				hasAnchor = true
				end = k2
				k = k2 + 1
				continue
			}
		}
		if s, ok2 := personaSeniority[w]; ok2 && !(w == "head" && !p.headOK(k)) {
			if sen == "" || seniorityRank(s) < seniorityRank(sen) {
				sen = s
			}
			hasAnchor = true
			if d := personaDept[w]; d != "" { // cto → engineering, cmo → marketing
				addDept(d)
			}
			end = k
			k++
			continue
		}
		if personaNouns[w] {
			hasAnchor = true
			if d := personaDept[w]; d != "" {
				addDept(d)
			}
			end = k
			k++
			continue
		}
		if d, ok2 := personaDept[w]; ok2 && (w != "it" || t.orig == "IT") {
			addDept(d)
			end = k
			k++
			continue
		}
		// connectors inside a persona: "VPs of Sales", "heads of growth"
		if (w == "of" || w == "for") && end == k-1 && k+1 < len(toks) && hasAnchor {
			nw := singular(toks[k+1].text)
			if _, ok2 := personaDept[nw]; ok2 {
				k++
				continue
			}
			if k+2 < len(toks) {
				if _, ok2 := personaDept2[nw+" "+singular(toks[k+2].text)]; ok2 {
					k++
					continue
				}
			}
		}
		// distributive: "sales and marketing leaders"
		if (w == "and" || w == "or") && !hasAnchor && len(depts) > 0 && end == k-1 && depth < maxPersonaChain {
			if e2, s2, d2, ok2 := p.personaWindow(k+1, depth+1); ok2 {
				for _, d := range d2 {
					addDept(d)
				}
				return e2, s2, depts, true
			}
		}
		break
	}
	if !hasAnchor || end < i {
		return 0, "", nil, false
	}
	if sen == "" && len(depts) == 0 {
		// a bare role noun like "teams" or "leaders" says nothing
		return 0, "", nil, false
	}
	return end, sen, depts, true
}

const (
	maxPersonaTokens = 8
	maxPersonaChain  = 3
)

// headOK: "head" is a seniority only as "head(s) of" or after a
// department word ("marketing heads"); "500 heads" is a headcount.
func (p *textParser) headOK(k int) bool {
	if k+1 < len(p.toks) && p.toks[k+1].text == "of" {
		return true
	}
	if k > 0 {
		_, ok := personaDept[singular(p.toks[k-1].text)]
		return ok
	}
	return false
}

func singular(w string) string {
	if s, ok := personaPlural[w]; ok {
		return s
	}
	return w
}

func seniorityRank(s string) int {
	for i, x := range Seniorities {
		if x == s {
			return i
		}
	}
	return len(Seniorities)
}

// FormatRange names an employee range as the parser and the analysis do
// ("50-1000", "500+").
func FormatRange(r Range) string { return rangeName(r) }
