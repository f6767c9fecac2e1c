// Package score turns a model and a lead's features into an explained
// evaluation: grade, score, probability, fit and intent sub-scores,
// confidence, exact additive contributions and a reasoning text. Pure: no
// goroutines, no I/O, no clock reads (callers pass now).
package score

import (
	"math"
	"time"
)

// ClockSkew is how far in the future a signal may be stamped (clock drift
// between a sender and us) and still count, at full weight (age treated as
// 0). Signals stamped further in the future count zero.
const ClockSkew = 5 * time.Minute

// Decay returns weight × 0.5^(age/halfLife) for a signal of the given age,
// or 0 when the signal is outside the lookback window (age > lookback) or
// stamped more than ClockSkew in the future. Ages in [−ClockSkew, 0) count
// as 0. halfLife ≤ 0 means no decay (full weight throughout the window);
// lookback ≤ 0 means no window. A non-finite weight counts 0.
func Decay(weight float64, age, halfLife, lookback time.Duration) float64 {
	if math.IsNaN(weight) || math.IsInf(weight, 0) {
		return 0
	}
	if age < 0 {
		if age < -ClockSkew {
			return 0
		}
		age = 0
	}
	if lookback > 0 && age > lookback {
		return 0
	}
	if halfLife <= 0 || age == 0 {
		return weight
	}
	return weight * math.Exp2(-float64(age)/float64(halfLife))
}
