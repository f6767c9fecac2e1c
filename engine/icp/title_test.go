package icp

import "testing"

func TestParseTitle(t *testing.T) {
	cases := []struct{ title, sen, dep string }{
		{"VP of Sales", "vp", "sales"},
		{"Chief Technology Officer", "c_level", "engineering"},
		{"Marketing Intern", "entry", "marketing"},
		{"Senior Software Engineer", "senior", "engineering"},
		{"Head of Growth", "head", "marketing"},
		{"", "", ""},
		{"   ", "", ""},
		{"Senior Vice President, Sales", "vp", "sales"},
		{"President", "c_level", "executive"},
		{"CEO & Co-Founder", "c_level", "executive"},
		{"Director of Information Technology", "director", "it"},
		{"Account Executive", "individual", "sales"},
		{"Sr. Data Scientist", "senior", "data"},
		{"Engineering Manager", "manager", "engineering"},
		{"CFO", "c_level", "finance"},
		{"Receptionist", "individual", ""},
	}
	for _, c := range cases {
		s, d := ParseTitle(c.title)
		if s != c.sen || d != c.dep {
			t.Errorf("ParseTitle(%q) = %q, %q; want %q, %q", c.title, s, d, c.sen, c.dep)
		}
	}
}

func TestParseTitleVocabulary(t *testing.T) {
	for _, s := range seniorityWords {
		if !contains(Seniorities, s.level) {
			t.Errorf("seniority %q not in Seniorities", s.level)
		}
	}
	for _, d := range departmentWords {
		if !contains(Departments, d.dept) {
			t.Errorf("department %q not in Departments", d.dept)
		}
	}
}
