package mapping

// StarterRules are the editable defaults every new organization begins
// with (decision 0007), so the first signals of a person already map to
// intent: pricing and demo page views, demo requests, form submissions,
// sign-ups, trials, feature activations, email opens and clicks, and
// unsubscribes as negative. They sit at priority −100 so any rule an admin
// writes wins over them; event names match case-insensitively with spaces,
// underscores or dashes ("Demo Requested", "demo_requested").
func StarterRules() []Rule {
	w := func(v float64) *float64 { return &v }
	event := func(re string) Condition { return Condition{Path: "event", Op: OpMatches, Value: "(?i)^" + re + "$"} }
	page := func(word string) Condition {
		re := "(?i)" + word
		return Condition{All: []Condition{
			{Path: "type", Op: OpEquals, Value: "page"},
			{Any: []Condition{{Path: "name", Op: OpMatches, Value: re}, {Path: "properties.path", Op: OpMatches, Value: re}, {Path: "properties.url", Op: OpMatches, Value: re}}},
		}}
	}
	sep := "[ _-]?"
	// Where common payloads carry the email (generic webhooks, Segment
	// track/identify/page); the signal's own identifiers are used as well.
	emails := []IdentifierMapping{{Path: "email", Target: TargetEmail}, {Path: "properties.email", Target: TargetEmail},
		{Path: "traits.email", Target: TargetEmail}, {Path: "context.traits.email", Target: TargetEmail}}
	rules := []Rule{
		{Name: "Starter: demo requested", SignalType: SalesEvent, HighIntent: true, Priority: -100,
			Conditions: event("(demo" + sep + "requested|request" + sep + "(a" + sep + ")?demo|book" + sep + "(a" + sep + ")?demo)")},
		{Name: "Starter: pricing page viewed", SignalType: PageView, Weight: w(3), Priority: -100, Conditions: page("pricing")},
		{Name: "Starter: demo page viewed", SignalType: PageView, Weight: w(2), Priority: -101, Conditions: page("demo")},
		{Name: "Starter: form submitted", SignalType: FormFill, Priority: -100, Conditions: event("form" + sep + "(submitted|submit|filled|fill)")},
		{Name: "Starter: signed up", SignalType: ProductActivity, Weight: w(4), Priority: -100, Conditions: event("(signed" + sep + "up|sign" + sep + "up|user" + sep + "signed" + sep + "up)")},
		{Name: "Starter: trial started", SignalType: ProductActivity, Weight: w(5), Priority: -100, Conditions: event("trial" + sep + "started")},
		{Name: "Starter: feature activated", SignalType: ProductActivity, Priority: -100, Conditions: event("feature" + sep + "(activated|used)")},
		{Name: "Starter: email opened", SignalType: EmailOpen, Priority: -100, Conditions: event("email" + sep + "opened")},
		{Name: "Starter: email clicked", SignalType: EmailClick, Priority: -100, Conditions: event("email" + sep + "(link" + sep + ")?clicked")},
		{Name: "Starter: unsubscribed", SignalType: EmailOpen, Negative: true, Weight: w(5), Priority: -100,
			Conditions: event("(email" + sep + ")?unsubscribed")},
	}
	for i := range rules {
		rules[i].Mappings = append([]IdentifierMapping(nil), emails...)
		rules[i].Description = "Editable default rule; delete or change it freely."
	}
	return rules
}
