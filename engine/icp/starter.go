package icp

import "github.com/trailspark/trailspark/engine/mapping"

// Starter is the prior every new organization begins with (decision 0007):
// it knows nothing about the org's market, so it scores people mostly by
// behaviour (what they did, decayed) and a little by seniority. The
// intercept puts a person with no signals at ≈ 8% (cold); a demo request
// plus a form fill and a pricing-page visit reach hot. Learning shrinks
// this prior away as the org's own outcomes arrive (engine/learn).
func Starter() Definition {
	return Definition{
		Intercept: -2.5,
		Personas: Personas{
			Seniorities: []Criterion{{Value: "c_level", Weight: 0.8}, {Value: "vp", Weight: 0.8}, {Value: "head", Weight: 0.6},
				{Value: "director", Weight: 0.5}, {Value: "manager", Weight: 0.2}},
		},
		PersonaDetractors: Personas{
			Seniorities: []Criterion{{Value: "entry", Weight: 0.5}},
		},
		// Weights scale the mapping rules' weights (form fill 5, sales event 8,
		// page view 1 …) into logits: 0.25 makes a fresh form fill +1.25.
		Signals: []BehaviourSignal{
			{Type: string(mapping.PageView), Weight: 0.25},
			{Type: string(mapping.FormFill), Weight: 0.25},
			{Type: string(mapping.ProductActivity), Weight: 0.25},
			{Type: string(mapping.SalesEvent), Weight: 0.25},
			{Type: string(mapping.EmailOpen), Weight: 0.25},
			{Type: string(mapping.EmailClick), Weight: 0.25},
		},
	}
}
