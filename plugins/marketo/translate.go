package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // webhook_timezone must resolve on hosts without a zoneinfo database

	"github.com/trailspark/trailspark/sdk/connector"
)

// Webhook payloads are what the Marketo admin writes in the webhook's
// Payload Template (Request Token Encoding: JSON), one object per call, for
// example:
//
//	{
//	  "email": {{lead.Email Address}},
//	  "leadId": {{lead.Id}},
//	  "firstName": {{lead.First Name}},
//	  "lastName": {{lead.Last Name}},
//	  "company": {{company.Company Name}},
//	  "title": {{lead.Job Title}},
//	  "event": "Filled Out Form",
//	  "asset": {{trigger.Name}},
//	  "campaign": {{campaign.Name}},
//	  "program": {{program.Name}},
//	  "timestamp": {{system.dateTime}}
//	}
//
// (Marketo wraps string tokens in double quotes itself.) docs/connectors.md
// has the full description. Known keys become the signal; everything else
// is kept in Properties. An array of such objects is accepted too.

// known are the template keys with a meaning; the rest are properties.
var known = map[string]bool{
	"email": true, "leadId": true, "firstName": true, "lastName": true, "company": true, "title": true,
	"event": true, "timestamp": true, "messageId": true,
}

// traitKeys go to Traits (they describe the person).
var traitKeys = []string{"email", "firstName", "lastName", "company", "title"}

// Translate turns one webhook body into signals.
func (m *Marketo) Translate(_ context.Context, cfg connector.Config, req connector.TranslateRequest) ([]connector.Signal, error) {
	if secret := cfg.Credentials[credWebhookSecret]; secret != "" {
		got := req.Headers.Get(webhookSecretHeader)
		if subtle.ConstantTimeCompare([]byte(got), []byte(secret)) != 1 {
			return nil, connector.Unauthorized("missing or wrong %s header", webhookSecretHeader)
		}
	}
	loc := time.UTC
	if tz := cfg.Option(optWebhookTZ, "America/Chicago"); tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, connector.InvalidConfig("options."+optWebhookTZ, "unknown time zone %q", tz)
		}
		loc = l
	}
	p := bytes.TrimSpace(req.Payload)
	var items []json.RawMessage
	switch {
	case len(p) > 0 && p[0] == '[':
		if err := json.Unmarshal(p, &items); err != nil {
			return nil, connector.Permanent("payload is not a JSON array: %v", err)
		}
	case len(p) > 0 && p[0] == '{':
		items = []json.RawMessage{p}
	default:
		return nil, connector.Permanent("payload is not JSON (set the webhook's Request Token Encoding to JSON)")
	}
	out := make([]connector.Signal, 0, len(items))
	for i, raw := range items {
		s, err := translate(raw, loc)
		if err != nil {
			return nil, connector.Permanent("item %d: %v", i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func translate(raw json.RawMessage, loc *time.Location) (connector.Signal, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return connector.Signal{}, fmt.Errorf("not a JSON object")
	}
	str := func(k string) string {
		switch v := obj[k].(type) {
		case string:
			v = strings.TrimSpace(v)
			if strings.Contains(v, "{{") { // a token Marketo left unfilled
				return ""
			}
			return v
		case float64:
			return fmt.Sprintf("%.0f", v)
		}
		return ""
	}
	email := strings.ToLower(str("email"))
	if email != "" && !strings.Contains(email, "@") {
		return connector.Signal{}, fmt.Errorf("email %q is not an address", email)
	}
	leadID := str("leadId")
	if email == "" && leadID == "" {
		return connector.Signal{}, fmt.Errorf("neither email nor leadId: is the payload template filled in?")
	}
	event := str("event")
	if event == "" {
		event = str("asset")
	}
	if event == "" {
		event = "Marketo Webhook"
	}
	ts, err := parseTime(str("timestamp"), loc)
	if err != nil {
		return connector.Signal{}, err
	}
	traits := map[string]any{}
	for _, k := range traitKeys {
		if v := str(k); v != "" {
			traits[k] = v
		}
	}
	if email != "" {
		traits["email"] = email
	}
	props := map[string]any{}
	for k, v := range obj {
		if !known[k] {
			if s, ok := v.(string); ok && strings.Contains(s, "{{") {
				continue
			}
			props[k] = v
		}
	}
	if leadID != "" {
		props["leadId"] = leadID
	}
	s := connector.Signal{
		Source: "marketo", Type: "track", Event: event, Email: email, Timestamp: ts,
		MessageID: str("messageId"), Payload: raw,
	}
	if leadID != "" {
		s.UserID = "marketo:" + leadID
	}
	if s.MessageID == "" {
		// Marketo sends no id: derive one so a retried webhook deduplicates.
		h := sha256.Sum256([]byte(strings.Join([]string{leadID, email, event, str("asset"), str("campaign"), str("timestamp")}, "\x00")))
		s.MessageID = "mkto-" + hex.EncodeToString(h[:12])
	}
	s.Properties, _ = json.Marshal(props)
	s.Traits, _ = json.Marshal(traits)
	return s, nil
}

// parseTime accepts RFC 3339 and Marketo's {{system.dateTime}} form
// ("2026-05-01 10:00:00", in the instance's zone). Empty means unknown: the
// host uses the time it received the webhook.
func parseTime(v string, loc *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is neither RFC 3339 nor yyyy-MM-dd HH:mm:ss", v)
}
