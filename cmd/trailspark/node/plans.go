package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/trailspark/trailspark/engine/plan"
)

// LoadPlans reads the operator's plans file (YAML or JSON: a list of plans
// with the fields of GET /api/v1/plans) and validates it; an empty path
// gives the shipped defaults.
func LoadPlans(path string) ([]plan.Plan, error) {
	if path == "" {
		return plan.DefaultPlans(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plans_file: %w", err)
	}
	// The plan types carry JSON tags; YAML is decoded into generic values
	// and re-encoded, so one set of field names serves both formats.
	var raw any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("plans_file %s: %w", path, err)
	}
	plans, err := decodePlans(raw)
	if err != nil {
		return nil, fmt.Errorf("plans_file %s: %w", path, err)
	}
	if err := plan.ValidatePlans(plans); err != nil {
		return nil, fmt.Errorf("plans_file %s: %w", path, err)
	}
	return plans, nil
}

func decodePlans(raw any) ([]plan.Plan, error) {
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var plans []plan.Plan
	if err := dec.Decode(&plans); err != nil {
		return nil, fmt.Errorf("a list of plans was expected: %w", err)
	}
	if len(plans) == 0 {
		return nil, fmt.Errorf("the file lists no plans")
	}
	return plans, nil
}
