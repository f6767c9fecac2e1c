package client

import (
	"encoding/json"
	"testing"
)

// The scoring request types marshal into bodies api/openapi.yaml accepts, and
// objects shaped like the schemas decode into the response types.
func TestScoringTypesMatchOpenAPI(t *testing.T) {
	doc := loadKinDoc(t)
	five, off := 5, false
	cases := []struct {
		schema string
		value  any
		ok     bool
	}{
		{"FeedbackRequest", FeedbackRequest{Reason: "they signed last week", ExpectedGrade: GradeHot}, true},
		{"FeedbackRequest", FeedbackRequest{Reason: "short", ExpectedGrade: GradeHot}, false},
		{"FeedbackRequest", FeedbackRequest{Reason: "they signed last week", ExpectedGrade: "lukewarm"}, false},
		{"ScoringSettingsUpdate", ScoringSettingsUpdate{MinSignals: &five, CoolingOff: &off}, true},
		{"ScoringSettingsUpdate", ScoringSettingsUpdate{}, true},
		{"CreateIcpModelRequest", CreateICPModelRequest{Name: "Mine", Definition: json.RawMessage(`{"intercept":-2}`), Activate: true}, true},
		{"CreateIcpModelRequest", CreateICPModelRequest{Text: "B2B SaaS in fintech"}, true},
		{"CreateIcpModelRequest", CreateICPModelRequest{Definition: json.RawMessage(`{"bogus":1}`)}, false},
	}
	for _, tc := range cases {
		b, err := json.Marshal(tc.value)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		s := doc.Components.Schemas[tc.schema]
		if s == nil {
			t.Fatalf("no schema %s", tc.schema)
		}
		if err := s.Value.VisitJSON(v); (err == nil) != tc.ok {
			t.Errorf("%s %s: ok=%v, err=%v", tc.schema, b, tc.ok, err)
		}
	}

	// Responses: a value of each type re-marshalled satisfies its schema.
	responses := []struct {
		schema string
		raw    string
		into   any
	}{
		{"Evaluation", `{"id":"ev_1","lead_id":"lead_1","model_id":"icp_starter","trigger":"manual","grade":"hot","model_grade":"hot","score":82,"probability":0.82,` +
			`"logit":1.5,"intercept":-2.5,"fit_score":8,"intent_score":96,"confidence":89,"contributions":[{"feature":"form_fill","kind":"intent","value":5,"points":4,"label":"x"}],` +
			`"top_signals":[],"reasoning":"Hot","model_version":"icp_starter@1","evaluated_at":"2025-03-01T12:00:00Z"}`, &Evaluation{}},
		{"Feedback", `{"evaluation_id":"ev_1","lead_id":"lead_1","reason":"they signed last week","expected_grade":"hot","original_grade":"warm","created_at":"2025-03-01T12:00:00Z","status":"pending"}`, &Feedback{}},
		{"ScoringSettings", `{"min_signals":3,"min_signal_types":2,"lookback_days":90,"min_confidence":70,"cooling_off":true,"cooldown_hot_hours":168,"cooldown_warm_hours":72,"cooldown_cold_hours":336}`, &ScoringSettings{}},
		{"IcpModel", `{"id":"icp_2","name":"Mine","version":2,"status":"active","source":"refinement","definition":{"intercept":-2.5},"fitted":{"intercept":-2.4,"weights":{"a":1}},"parent_id":"icp_starter","created_at":"2025-03-01T12:00:00Z"}`, &ICPModel{}},
		{"RefinementPreview", `{"base_model_id":"icp_starter","feedback":1,"matched_before":0,"matched_after":1,"rows":[{"evaluation_id":"ev_1","lead_id":"lead_1","old_grade":"warm","new_grade":"hot","expected_grade":"hot","old_score":50,"new_score":80}],"changes":[{"feature":"a","old":1,"new":2}],"summary":"s"}`, &RefinementPreview{}},
		{"Plugin", `{"name":"salesforce","version":"1.0.0","capabilities":["read"],"checksum":"abc","state":"running","pid":7,"restarts":0}`, &Plugin{}},
		{"Job", `{"id":"job_1","kind":"rescore","status":"running","accepted":0,"rejected":0,"duplicates":0,"bytes_read":0,"scanned":3,"processed":1,"changed":1,"errors":[],"started_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-01T12:00:00Z"}`, &Job{}},
		{"ModelQuality", `{"model_id":"icp_2","model_version":"icp_2@2","labelled":12,"positives":5,"from_feedback":12,"from_outcomes":0,"metrics":{"auc":0.8,"log_loss":0.5,"brier":0.2,"top_decile_lift":2,"top_decile_precision":1},"reliability":[{"lo":0,"hi":0.1,"mean_predicted":0.05,"observed_rate":0,"count":2}]}`, &ModelQuality{}},
	}
	for _, tc := range responses {
		if err := json.Unmarshal([]byte(tc.raw), tc.into); err != nil {
			t.Fatalf("%s: %v", tc.schema, err)
		}
		b, err := json.Marshal(tc.into)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if err := doc.Components.Schemas[tc.schema].Value.VisitJSON(v); err != nil {
			t.Errorf("%s %s: %v", tc.schema, b, err)
		}
	}
}
