package score

import "math"

// Account propensities.
const (
	HighPropensity   = "high_propensity"
	MediumPropensity = "medium_propensity"
	LowPropensity    = "low_propensity"
)

// Propensity thresholds (all on 0–100 sub-score scales).
const (
	PropensityHighFit      = 60 // account fit needed for high
	PropensityHighIntent   = 50 // engagement needed for high
	PropensityMediumFit    = 40 // fit alone that earns medium
	PropensityMediumIntent = 30 // engagement alone that earns medium
	PropensityEngagedLead  = 30 // a lead counts as engaged at this intent
	PropensityThreadBonus  = 10 // engagement bonus per extra engaged lead
)

// Propensity rates an account from its fit sub-score (0–100) and its
// people's intent sub-scores (0–100 each). Engagement is the best lead's
// intent plus PropensityThreadBonus for every further lead with intent ≥
// PropensityEngagedLead (buying groups beat lone tyre-kickers), capped at
// 100. High: fit ≥ 60 and engagement ≥ 50. Medium: fit ≥ 40 or engagement
// ≥ 30. Low otherwise. Non-finite inputs count as 0.
func Propensity(accountFit float64, leadIntents []float64) string {
	fit := finite(accountFit)
	best, engaged := 0.0, 0
	for _, v := range leadIntents {
		v = finite(v)
		if v > best {
			best = v
		}
		if v >= PropensityEngagedLead {
			engaged++
		}
	}
	eng := best
	if engaged > 1 {
		eng += float64(PropensityThreadBonus * (engaged - 1))
	}
	eng = math.Min(100, eng)
	switch {
	case fit >= PropensityHighFit && eng >= PropensityHighIntent:
		return HighPropensity
	case fit >= PropensityMediumFit || eng >= PropensityMediumIntent:
		return MediumPropensity
	}
	return LowPropensity
}
