package mapping

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestStarterRulesMapCommonEvents(t *testing.T) {
	t.Parallel()
	rules := StarterRules()
	for i := range rules {
		rules[i].ID = fmt.Sprintf("starter_%d", i)
	}
	rs, err := Compile(rules)
	if err != nil {
		t.Fatalf("starter rules do not compile: %v", err)
	}
	cases := []struct {
		payload    string
		want       string // rule name; "" = no match
		highIntent bool
	}{
		{`{"event":"Demo Requested"}`, "Starter: demo requested", true},
		{`{"event":"book_a_demo"}`, "Starter: demo requested", true},
		{`{"type":"page","name":"Pricing"}`, "Starter: pricing page viewed", false},
		{`{"type":"page","properties":{"path":"/pricing/enterprise"}}`, "Starter: pricing page viewed", false},
		{`{"type":"page","properties":{"url":"https://x.io/demo"}}`, "Starter: demo page viewed", false},
		{`{"event":"Form Submitted"}`, "Starter: form submitted", false},
		{`{"event":"Signed Up"}`, "Starter: signed up", false},
		{`{"event":"trial_started"}`, "Starter: trial started", false},
		{`{"event":"Feature Activated"}`, "Starter: feature activated", false},
		{`{"event":"Email Opened"}`, "Starter: email opened", false},
		{`{"event":"Email Link Clicked"}`, "Starter: email clicked", false},
		{`{"event":"Unsubscribed"}`, "Starter: unsubscribed", false},
		{`{"event":"Viewed"}`, "", false},
		{`{"type":"page","name":"Careers"}`, "", false},
		{`{"event":"Demo Requested later"}`, "", false},
	}
	for _, c := range cases {
		var p map[string]any
		if err := json.Unmarshal([]byte(c.payload), &p); err != nil {
			t.Fatal(err)
		}
		r := rs.Match(p, "generic")
		got := ""
		if r != nil {
			got = r.Name
		}
		if got != c.want {
			t.Errorf("%s: matched %q, want %q", c.payload, got, c.want)
			continue
		}
		if r != nil && r.HighIntent != c.highIntent {
			t.Errorf("%s: high intent %v, want %v", c.payload, r.HighIntent, c.highIntent)
		}
	}
	if u := rules[len(rules)-1]; u.EffectiveWeight() >= 0 {
		t.Errorf("unsubscribe weight %v, want negative", u.EffectiveWeight())
	}
}
