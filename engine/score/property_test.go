package score

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Property tests over random inputs from a fixed seed: deterministic, and
// fast enough for -race.

const propertyRuns = 1000

// genOpts shapes randomInput.
type genOpts struct {
	// positive: intent model weights and rule weights are > 0 and no signal
	// is stamped more than ClockSkew in the future.
	positive bool
	// extremes: now and then a non-finite or huge number.
	extremes bool
}

var (
	fitPool  = pool("fit", 30)
	typePool = pool("sig", 24) // more than linearTypes: the indexed path runs too
)

func pool(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

func durationIn(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

// maybeExtreme replaces v, now and then, by a non-finite or huge number.
func maybeExtreme(r *rand.Rand, o genOpts, v float64) float64 {
	if !o.extremes || r.IntN(20) != 0 {
		return v
	}
	return []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e300, -1e300, 1e-300}[r.IntN(6)]
}

// randomInput is one random evaluation input: duplicate and unknown
// features, signals out of the window or in the future, missing
// half-lives, random settings, thresholds and labels.
func randomInput(r *rand.Rand, o genOpts) Input {
	m := Model{Version: "v" + strconv.Itoa(r.IntN(5)), Intercept: maybeExtreme(r, o, uniform(r, -4, 4)),
		Weights: map[string]float64{}, HalfLives: map[string]time.Duration{}}
	for _, f := range fitPool {
		if r.IntN(5) != 0 {
			m.Weights[f] = maybeExtreme(r, o, uniform(r, -3, 3))
		}
	}
	for _, t := range typePool {
		if r.IntN(6) != 0 {
			w := uniform(r, -2, 2)
			if o.positive {
				w = uniform(r, 0.01, 2)
			}
			m.Weights[t] = maybeExtreme(r, o, w)
		}
		switch r.IntN(4) {
		case 0, 1:
			m.HalfLives[t] = durationIn(r, time.Hour, 120*day)
		case 2:
			if r.IntN(4) == 0 {
				m.HalfLives[t] = 0 // no decay
			}
		}
	}
	in := Input{Model: m, Now: now.Add(durationIn(r, -400*day, 400*day))}
	for range r.IntN(13) {
		f := FitFeature{Name: fitPool[r.IntN(len(fitPool))], Value: float64(r.IntN(2))}
		if r.IntN(3) == 0 {
			f.Value = maybeExtreme(r, o, uniform(r, -5, 5))
		}
		if r.IntN(2) == 0 {
			f.Label = "label of " + f.Name
		}
		in.Fit = append(in.Fit, f)
	}
	if r.IntN(10) == 0 { // a feature the model does not know
		in.Fit = append(in.Fit, FitFeature{Name: "unknown", Value: 1})
	}
	nTypes := 1 + r.IntN(len(typePool))
	for range r.IntN(41) {
		in.Signals = append(in.Signals, randomSignal(r, o, in.Now, typePool[r.IntN(nTypes)]))
	}
	if r.IntN(2) == 0 {
		in.SignalLabels = map[string]string{}
		for _, t := range typePool[:nTypes] {
			if r.IntN(2) == 0 {
				in.SignalLabels[t] = "label " + t
			}
		}
	}
	if r.IntN(4) != 0 {
		in.Settings = Settings{MinSignals: 1 + r.IntN(10), MinSignalTypes: 1 + r.IntN(5), LookbackDays: 1 + r.IntN(120), MinConfidence: r.IntN(101)}
	}
	if r.IntN(3) == 0 {
		warm := uniform(r, 0.05, 0.6)
		in.Thresholds = Thresholds{Warm: warm, Hot: uniform(r, warm, 0.95)}
	}
	in.ExpectedFit = r.IntN(6)
	in.FitKnown = r.IntN(6)
	return in
}

// randomSignal: a signal of type typ stamped up to 120 days before now, or
// (unless o.positive) up to an hour after it.
func randomSignal(r *rand.Rand, o genOpts, now time.Time, typ string) Signal {
	s := Signal{Type: typ, Weight: uniform(r, -2, 3), At: now.Add(-durationIn(r, -time.Hour, 120*day))}
	if o.positive {
		s.Weight = uniform(r, 0.1, 3)
		s.At = now.Add(-durationIn(r, -ClockSkew, 120*day))
	}
	s.Weight = maybeExtreme(r, o, s.Weight)
	if r.IntN(2) == 0 {
		s.HalfLife = durationIn(r, -day, 60*day)
	}
	if r.IntN(8) == 0 {
		s.Weight = 1
		s.At = now // counts fully: "today"
	}
	return s
}

func randomInputs(seed uint64, n int, o genOpts) []Input {
	r := rand.New(rand.NewPCG(seed, 0x5c0e))
	ins := make([]Input, n)
	for i := range ins {
		ins[i] = randomInput(r, o)
	}
	return ins
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sameEvaluation(t testing.TB, what string, got, want Evaluation) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// intentLogit is Σ intent points, added in contribution order as Evaluate
// adds them.
func intentLogit(ev Evaluation) float64 {
	s := 0.0
	for _, c := range ev.Contributions {
		if c.Kind == KindIntent {
			s += c.Points
		}
	}
	return s
}

// TestEvaluateMatchesLegacy: the Evaluator-based Evaluate gives exactly the
// evaluations of the original implementation (legacy_test.go).
func TestEvaluateMatchesLegacy(t *testing.T) {
	indexed := 0
	for i, o := range []genOpts{{}, {positive: true}, {extremes: true}} {
		for k, in := range randomInputs(uint64(100+i), propertyRuns/2, o) {
			want := legacyEvaluate(in)
			got := Evaluate(in)
			sameEvaluation(t, "opts "+strconv.Itoa(i)+" input "+strconv.Itoa(k), got, want)
			if k%10 == 0 { // DeepEqual already tells nil from empty; the JSON bytes too, now and then
				if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
					t.Fatalf("JSON\n got %s\nwant %s", g, w)
				}
			}
			n := 0
			for _, c := range want.Contributions {
				if c.Kind == KindIntent {
					n++
				}
			}
			if n > linearTypes {
				indexed++
			}
		}
	}
	if indexed == 0 {
		t.Fatal("no input had more than linearTypes signal types: the indexed path was not tested")
	}
	// The hand-written cases too.
	for _, in := range []Input{fullEvidence(), benchInput(), {Now: now}} {
		sameEvaluation(t, "fixed input", Evaluate(in), legacyEvaluate(in))
	}
}

// (a) Contributions add up to the logit: |intercept + Σ points − logit| ≤
// 1e-9, on both paths.
func TestPropertyContributionsSum(t *testing.T) {
	var e Evaluator
	var out Evaluation
	for _, in := range randomInputs(1, propertyRuns, genOpts{extremes: true}) {
		sumCheck(t, Evaluate(in))
		e.Evaluate(&in, &out)
		sumCheck(t, out)
		if math.IsNaN(out.Logit) || math.IsInf(out.Logit, 0) || out.Probability < 0 || out.Probability > 1 {
			t.Fatalf("logit %v probability %v", out.Logit, out.Probability)
		}
	}
}

// (b) Adding a signal of a type with a positive model weight and a positive
// rule weight never lowers the logit, the intent logit nor intent_score,
// wherever it lands in the signal list and whatever the other signals.
func TestPropertyMonotonicInSignals(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 0x5c0e))
	var e Evaluator
	var before, after Evaluation
	for i := range propertyRuns {
		in := randomInput(r, genOpts{})
		typ := typePool[r.IntN(len(typePool))]
		if r.IntN(2) == 0 && len(in.Signals) > 0 { // a type the lead already has
			typ = in.Signals[r.IntN(len(in.Signals))].Type
		}
		in.Model.Weights[typ] = uniform(r, 0.01, 2)
		s := randomSignal(r, genOpts{}, in.Now, typ)
		s.Weight = uniform(r, 0.01, 3)
		e.Evaluate(&in, &before)

		more := in
		at := r.IntN(len(in.Signals) + 1)
		more.Signals = slices.Insert(slices.Clone(in.Signals), at, s)
		e.Evaluate(&more, &after)
		if after.Logit < before.Logit || intentLogit(after) < intentLogit(before) || after.IntentScore < before.IntentScore {
			t.Fatalf("run %d: adding %+v lowered the score: logit %v → %v, intent logit %v → %v, intent score %d → %d",
				i, s, before.Logit, after.Logit, intentLogit(before), intentLogit(after), before.IntentScore, after.IntentScore)
		}
	}
}

// (c) Evaluating the same input later (no new signals) never raises the
// intent: with positive weights the logit, the intent logit, intent_score
// and every intent value fall or stay; with any weights, a type whose rule
// weights share one sign only ever loses points in absolute value.
func TestPropertyDecayNeverRaisesIntent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 0x5c0e))
	var e Evaluator
	var early, late Evaluation
	for i := range propertyRuns {
		positive := i%2 == 0
		in := randomInput(r, genOpts{positive: positive})
		if !positive { // drop signals stamped too far in the future: at a later time they would be new
			in.Signals = slices.DeleteFunc(slices.Clone(in.Signals), func(s Signal) bool { return s.At.Sub(in.Now) > ClockSkew })
		}
		e.Evaluate(&in, &early)
		early = cloneEvaluation(early)
		later := in
		later.Now = in.Now.Add(durationIn(r, time.Minute, 60*day))
		e.Evaluate(&later, &late)

		lateByType := map[string]Contribution{}
		for _, c := range late.Contributions {
			if c.Kind == KindIntent {
				lateByType[c.Feature] = c
			}
		}
		if positive && (late.Logit > early.Logit || intentLogit(late) > intentLogit(early) || late.IntentScore > early.IntentScore) {
			t.Fatalf("run %d: later evaluation raised intent: logit %v → %v, intent logit %v → %v, intent score %d → %d",
				i, early.Logit, late.Logit, intentLogit(early), intentLogit(late), early.IntentScore, late.IntentScore)
		}
		for _, c := range early.Contributions {
			if c.Kind != KindIntent {
				continue
			}
			lc := lateByType[c.Feature] // zero when the type left the window
			if positive && lc.Value > c.Value {
				t.Fatalf("run %d: %s value %v → %v", i, c.Feature, c.Value, lc.Value)
			}
			if oneSign(in.Signals, c.Feature) && math.Abs(lc.Points) > math.Abs(c.Points) {
				t.Fatalf("run %d: %s points %v → %v", i, c.Feature, c.Points, lc.Points)
			}
		}
	}
}

// oneSign: every signal of type typ has a rule weight of the same sign.
func oneSign(signals []Signal, typ string) bool {
	pos, neg := false, false
	for _, s := range signals {
		if s.Type == typ {
			pos = pos || s.Weight > 0
			neg = neg || s.Weight < 0
		}
	}
	return !(pos && neg)
}

func cloneEvaluation(ev Evaluation) Evaluation {
	ev.Contributions = slices.Clone(ev.Contributions)
	ev.TopSignals = slices.Clone(ev.TopSignals)
	return ev
}

// (d) The same input gives the same evaluation, on every path; the hot
// path has the same numbers as Explain, only without the text.
func TestPropertyDeterministic(t *testing.T) {
	var e1, e2 Evaluator
	var hot, explained Evaluation
	ins := append(randomInputs(4, propertyRuns/2, genOpts{}), randomInputs(40, propertyRuns/2, genOpts{extremes: true})...)
	for _, in := range ins {
		first := Evaluate(in)
		sameEvaluation(t, "Evaluate twice", Evaluate(in), first)
		e1.Explain(&in, &explained)
		sameEvaluation(t, "Explain", explained, first)

		e2.Evaluate(&in, &hot)
		if hot.Reasoning != "" {
			t.Fatalf("hot path wrote reasoning %q", hot.Reasoning)
		}
		for i, c := range hot.Contributions {
			want := first.Contributions[i]
			if c.Kind == KindIntent && strings.HasPrefix(want.Label, c.Label+" ") {
				want.Label = c.Label // the hot path has the name without the recency
			}
			if c != want {
				t.Fatalf("hot contribution %+v, want %+v", c, want)
			}
		}
		stripped := first
		stripped.Reasoning = ""
		stripped.Contributions, stripped.TopSignals = hot.Contributions, hot.TopSignals
		if !reflect.DeepEqual(hot, stripped) {
			t.Fatalf("hot path\n got %+v\nwant %+v", hot, stripped)
		}
		for i, c := range hot.TopSignals {
			if c.Feature != first.TopSignals[i].Feature || c.Points != first.TopSignals[i].Points {
				t.Fatalf("top signals %+v, want %+v", hot.TopSignals, first.TopSignals)
			}
		}
		if len(hot.TopSignals) != len(first.TopSignals) || (hot.TopSignals == nil) != (first.TopSignals == nil) {
			t.Fatalf("top signals %#v, want %#v", hot.TopSignals, first.TopSignals)
		}
	}
}

// (e) Reusing an Evaluator and an Evaluation leaks nothing from one
// evaluation into the next: after A, B gives what a fresh Evaluator gives
// for B — on the hot path, with Explain, and switching between them. An
// Evaluation written earlier into another out stays intact.
func TestPropertyEvaluatorReuse(t *testing.T) {
	ins := randomInputs(5, propertyRuns, genOpts{extremes: true})
	var e Evaluator
	var out, other Evaluation
	for i := 1; i < len(ins); i++ {
		a, b := &ins[i-1], &ins[i]
		explainA, explainB := i%3 == 0, i%2 == 0

		var want Evaluation
		var fresh Evaluator
		if explainB {
			fresh.Explain(b, &want)
		} else {
			fresh.Evaluate(b, &want)
		}

		if explainA {
			e.Explain(a, &out)
		} else {
			e.Evaluate(a, &out)
		}
		keptA := cloneEvaluation(out)
		e.Evaluate(a, &other) // other: a second result kept across calls
		keptOther := cloneEvaluation(other)
		if explainB {
			e.Explain(b, &out)
		} else {
			e.Evaluate(b, &out)
		}
		sameEvaluation(t, "B after A ("+strconv.Itoa(i)+")", out, want)
		sameEvaluation(t, "other out after B", other, keptOther)
		if explainA {
			sameEvaluation(t, "A", keptA, Evaluate(*a))
		}
	}
}

// TestEvaluatorDoesNotAllocate: in steady state the hot path allocates
// nothing, for one input evaluated again and for a rotation of different
// inputs (sizes, many types, with and without top signals).
func TestEvaluatorDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	var e Evaluator
	var out Evaluation
	in := benchInput()
	if n := testing.AllocsPerRun(200, func() { e.Evaluate(&in, &out) }); n != 0 {
		t.Errorf("Evaluate allocates %v times per evaluation", n)
	}
	ins := randomInputs(6, 50, genOpts{extremes: true})
	ins = append(ins, Input{Now: now}, fullEvidence())
	for i := range ins { // warm up: grow the scratch to the largest input
		e.Evaluate(&ins[i], &out)
	}
	// One run is the whole rotation (AllocsPerRun rounds the average down:
	// a per-evaluation run would hide an allocation every few inputs).
	if n := testing.AllocsPerRun(20, func() {
		for i := range ins {
			e.Evaluate(&ins[i], &out)
		}
	}); n != 0 {
		t.Errorf("Evaluate allocates %v times per %d varied evaluations", n, len(ins))
	}
}
