package mapping_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/errs/errstest"
	"github.com/trailspark/trailspark/engine/mapping"
)

// t0 is the fixed "now" every test starts from; no test reads the wall clock.
var t0 = time.Date(2025, time.March, 10, 9, 30, 0, 0, time.UTC)

// wantErr asserts err is an *errs.Error with the given kind, code and field.
func wantErr(t *testing.T, err error, kind errs.Kind, code, field string) {
	t.Helper()
	errstest.Want(t, err, kind, code, field)
}

// wantNoErr asserts err is nil, catching typed-nil *errs.Error values.
func wantNoErr(t *testing.T, err error) {
	t.Helper()
	errstest.NoErr(t, err)
}

// decode parses a JSON object the way the pipeline may: with float64
// numbers, or with json.Number when useNumber is set.
func decode(t testing.TB, s string, useNumber bool) map[string]any {
	t.Helper()
	m, err := decodeErr([]byte(s), useNumber)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return m
}

func decodeErr(b []byte, useNumber bool) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	if useNumber {
		d.UseNumber()
	}
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// validRule is a minimal valid rule that tests modify.
func validRule() mapping.Rule {
	return mapping.Rule{
		ID:         "r1",
		Name:       "Demo Requested",
		SignalType: mapping.FormFill,
		Conditions: mapping.Condition{All: []mapping.Condition{
			{Path: "event", Op: mapping.OpEquals, Value: "Demo Requested"},
		}},
		Mappings:  []mapping.IdentifierMapping{{Path: "context.traits.email", Target: mapping.TargetEmail}},
		CreatedAt: t0,
		UpdatedAt: t0,
	}
}

func ptr[T any](v T) *T { return &v }

func leaf(path string, op mapping.Op, v any) mapping.Condition {
	return mapping.Condition{Path: path, Op: op, Value: v}
}

func all(cs ...mapping.Condition) mapping.Condition   { return mapping.Condition{All: cs} }
func anyOf(cs ...mapping.Condition) mapping.Condition { return mapping.Condition{Any: cs} }

// mustCompile compiles rules or fails the test.
func mustCompile(t testing.TB, rules ...mapping.Rule) *mapping.RuleSet {
	t.Helper()
	rs, err := mapping.Compile(rules)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return rs
}

func repeat(s string, n int) string { return strings.Repeat(s, n) }
