package actors

import (
	"time"

	"github.com/trailspark/trailspark/engine/learn"
)

// MinHalfLifeLabels is how many labelled leads (feedback and outcomes)
// a refinement needs before it learns per-signal-type half-lives; with
// fewer, the held-out likelihood that chooses them is noise.
const MinHalfLifeLabels = 50

// labelledWindow is a labelled lead's scoring window as it was when it was
// evaluated.
type labelledWindow struct {
	window      []WindowSignal
	evaluatedAt time.Time
	converts    bool
}

// learnHalfLives chooses a half-life per signal type from labelled leads
// (learn.HalfLives: candidates 1–90 days, held-out log likelihood). It
// returns nil when there are too few labels, one class only, or when the
// learned half-lives do not beat the starting ones on held-out data.
func learnHalfLives(items []labelledWindow) map[string]float64 {
	if len(items) < MinHalfLifeLabels {
		return nil
	}
	hist := make([][]learn.Event, 0, len(items))
	y := make([]bool, 0, len(items))
	pos := 0
	for _, it := range items {
		var evs []learn.Event
		for _, w := range it.window {
			if w.At.After(it.evaluatedAt) || w.Weight <= 0 {
				continue // after the evaluation, or negative (unsubscribes): not intent decay
			}
			evs = append(evs, learn.Event{Type: w.Type, AgeDays: it.evaluatedAt.Sub(w.At).Hours() / 24})
		}
		hist = append(hist, evs)
		y = append(y, it.converts)
		if it.converts {
			pos++
		}
	}
	if pos == 0 || pos == len(y) {
		return nil
	}
	res, err := learn.HalfLives(hist, y, learn.HalfLifeOptions{Seed: 1})
	if err != nil || res.HeldOutLogLoss >= res.InitialLogLoss {
		return nil
	}
	return res.HalfLives
}
