package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/errs/errstest"
	"github.com/trailspark/trailspark/engine/score"
)

func TestRuleValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		r           Rule
		code, field string
	}{
		{"ok string", Rule{Integration: "trailspark", Object: "lead", Field: "title", Operator: Contains, Value: "vp"}, "", ""},
		{"ok number", Rule{Integration: "salesforce", Object: "Account", Field: "NumberOfEmployees", FieldType: TypeNumber, Operator: GTE, Value: "50"}, "", ""},
		{"ok bool", Rule{Integration: "hubspot", Object: "Company", Field: "is_customer", FieldType: TypeBool, Operator: IsFalse}, "", ""},
		{"unknown integration", Rule{Integration: "zoho", Object: "Lead", Field: "x", Operator: Equals, Value: "1"}, "unknown_integration", "r.integration"},
		{"object of another integration", Rule{Integration: "hubspot", Object: "Lead", Field: "x", Operator: Equals, Value: "1"}, "unknown_object", "r.object"},
		{"no field", Rule{Integration: "trailspark", Object: "lead", Operator: IsEmpty}, "required", "r.field"},
		{"operator by type", Rule{Integration: "trailspark", Object: "account", Field: "employees", FieldType: TypeNumber, Operator: Contains, Value: "5"}, "operator_not_allowed", "r.operator"},
		{"bool operator on a string", Rule{Integration: "trailspark", Object: "lead", Field: "title", Operator: IsTrue}, "operator_not_allowed", "r.operator"},
		{"missing value", Rule{Integration: "trailspark", Object: "lead", Field: "title", Operator: StartsWith}, "required", "r.value"},
		{"not a number", Rule{Integration: "trailspark", Object: "account", Field: "employees", FieldType: TypeNumber, Operator: LT, Value: "many"}, "not_a_number", "r.value"},
		{"unknown type", Rule{Integration: "trailspark", Object: "lead", Field: "x", FieldType: "date", Operator: Equals, Value: "1"}, "unknown_field_type", "r.field_type"},
	}
	for _, c := range cases {
		err := c.r.Validate("r")
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		errstest.Want(t, err, errs.KindInvalid, c.code, c.field)
	}
	many := make([]Rule, MaxRules+1)
	errstest.Want(t, ValidateAll(many), errs.KindInvalid, "too_many", "rules")
}

func TestPasses(t *testing.T) {
	t.Parallel()
	fields := map[string]string{"trailspark/lead/title": "VP of Sales", "trailspark/account/employees": "120", "trailspark/account/industry": "",
		"hubspot/Company/is_customer": "false"}
	look := func(i, o, f string) (string, bool) {
		v, ok := fields[i+"/"+o+"/"+f]
		return v, ok
	}
	cases := []struct {
		name string
		r    Rule
		want bool
	}{
		{"contains, any case", Rule{Integration: "trailspark", Object: "lead", Field: "title", Operator: Contains, Value: "sales"}, true},
		{"not contains", Rule{Integration: "trailspark", Object: "lead", Field: "title", Operator: NotContains, Value: "sales"}, false},
		{"starts with", Rule{Integration: "trailspark", Object: "lead", Field: "title", Operator: StartsWith, Value: "vp"}, true},
		{"ends with", Rule{Integration: "trailspark", Object: "lead", Field: "title", Operator: EndsWith, Value: "sales"}, true},
		{"equals", Rule{Integration: "trailspark", Object: "lead", Field: "title", Operator: Equals, Value: "vp of sales"}, true},
		{"number gte", Rule{Integration: "trailspark", Object: "account", Field: "employees", FieldType: TypeNumber, Operator: GTE, Value: "120"}, true},
		{"number lt", Rule{Integration: "trailspark", Object: "account", Field: "employees", FieldType: TypeNumber, Operator: LT, Value: "100"}, false},
		{"number equals numerically", Rule{Integration: "trailspark", Object: "account", Field: "employees", FieldType: TypeNumber, Operator: Equals, Value: "120.0"}, true},
		{"empty field fails", Rule{Integration: "trailspark", Object: "account", Field: "industry", Operator: Equals, Value: "Software"}, false},
		{"empty field allowed", Rule{Integration: "trailspark", Object: "account", Field: "industry", Operator: Equals, Value: "Software", AllowIfEmpty: true}, true},
		{"absent record allowed", Rule{Integration: "salesforce", Object: "Lead", Field: "Status", Operator: Equals, Value: "Open", AllowIfEmpty: true}, true},
		{"absent record refused", Rule{Integration: "salesforce", Object: "Lead", Field: "Status", Operator: Equals, Value: "Open"}, false},
		{"is empty", Rule{Integration: "trailspark", Object: "account", Field: "industry", Operator: IsEmpty}, true},
		{"is not empty", Rule{Integration: "trailspark", Object: "lead", Field: "title", Operator: IsNotEmpty}, true},
		{"is false", Rule{Integration: "hubspot", Object: "Company", Field: "is_customer", FieldType: TypeBool, Operator: IsFalse}, true},
		{"is true", Rule{Integration: "hubspot", Object: "Company", Field: "is_customer", FieldType: TypeBool, Operator: IsTrue}, false},
	}
	for _, c := range cases {
		if got, why := Passes([]Rule{c.r}, look); got != c.want {
			t.Errorf("%s: passes %v (%s), want %v", c.name, got, why, c.want)
		}
	}
	// All rules must pass; the reason names the failing one.
	ok, why := Passes([]Rule{cases[0].r, cases[1].r}, look)
	if ok || !strings.Contains(why, "not_contains") {
		t.Errorf("two rules, one failing: %v %q", ok, why)
	}
}

func TestGate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	set := score.DefaultSettings()
	noCool := set
	noCool.CoolingOff = false
	enough := Window{Signals: 3, Types: 2}
	cases := []struct {
		name    string
		set     score.Settings
		w       Window
		last    *Last
		high    bool
		trigger string
		reason  string
	}{
		{"too few signals", set, Window{Signals: 2, Types: 2}, nil, false, "", "2 of the 3 signals"},
		{"too few types", set, Window{Signals: 5, Types: 1}, nil, false, "", "1 of the 2 distinct signal types"},
		{"first evaluation", set, enough, nil, false, TriggerSignals, ""},
		{"cooling after hot", set, enough, &Last{At: now.Add(-100 * time.Hour), Grade: score.GradeHot}, false, "", "cooling off after a hot evaluation"},
		{"hot cooldown over", set, enough, &Last{At: now.Add(-169 * time.Hour), Grade: score.GradeHot}, false, TriggerSignals, ""},
		{"warm cooldown is shorter", set, enough, &Last{At: now.Add(-73 * time.Hour), Grade: score.GradeWarm}, false, TriggerSignals, ""},
		{"cold cooldown is longest", set, enough, &Last{At: now.Add(-300 * time.Hour), Grade: score.GradeCold}, false, "", "cooling off after a cold evaluation"},
		{"high intent ignores the cooldown", set, enough, &Last{At: now.Add(-time.Hour), Grade: score.GradeHot}, true, TriggerHighIntent, ""},
		{"high intent still needs the minimums", set, Window{Signals: 1, Types: 1}, nil, true, "", "1 of the 3 signals"},
		{"cooling off disabled", noCool, enough, &Last{At: now.Add(-time.Hour), Grade: score.GradeHot}, false, TriggerSignals, ""},
	}
	for _, c := range cases {
		trigger, reason := Gate(c.set, c.w, c.last, c.high, now)
		if trigger != c.trigger || (c.reason != "" && !strings.Contains(reason, c.reason)) {
			t.Errorf("%s: trigger %q reason %q, want %q / %q", c.name, trigger, reason, c.trigger, c.reason)
		}
	}
	// A changed cooldown applies when the lead is next checked.
	shorter := set
	shorter.CooldownHot = 24 * time.Hour
	if trigger, _ := Gate(shorter, enough, &Last{At: now.Add(-25 * time.Hour), Grade: score.GradeHot}, false, now); trigger != TriggerSignals {
		t.Errorf("a shortened cooldown did not apply: %q", trigger)
	}
}

func TestCountWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	at := []time.Time{now.Add(-100 * day), now.Add(-10 * day), now.Add(-day), now.Add(time.Minute), now.Add(time.Hour)}
	types := []string{"page_view", "form_fill", "form_fill", "email_open", "sales_event"}
	w := CountWindow(at, types, 90*day, now)
	// Outside the lookback and beyond the clock skew do not count.
	if w.Signals != 3 || w.Types != 2 {
		t.Errorf("window %+v: want 3 signals of 2 types (form_fill twice, email_open)", w)
	}
}
