package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/trailspark/trailspark/sdk/connector"
)

// Version of this connector.
const Version = "1.0.0"

// Segment is the connector; it holds no state.
type Segment struct{}

func (*Segment) Describe(context.Context) (connector.Info, error) {
	return connector.Info{
		Name: "segment", Version: Version,
		Description:  "Segment spec events, batch envelopes and Webhooks (Actions) payloads",
		Capabilities: []connector.Capability{connector.CapTranslate},
	}, nil
}

// SecretKey is the optional credential holding the shared secret of
// Segment's classic Webhooks destination; when set, X-Signature (hex
// HMAC-SHA1 of the body) must match.
const SecretKey = "shared_secret"

func (*Segment) Configure(_ context.Context, cfg connector.Config) error {
	if s, ok := cfg.Credentials[SecretKey]; ok && strings.TrimSpace(s) == "" {
		return connector.InvalidConfig("credentials."+SecretKey, "shared secret is empty")
	}
	return nil
}

// Check has nothing remote to test: Segment pushes to us.
func (s *Segment) Check(ctx context.Context, cfg connector.Config) error {
	return s.Configure(ctx, cfg)
}

// event is the subset of the Segment spec the translation reads. The
// original item is kept whole in Signal.Payload.
type event struct {
	Type              string          `json:"type"`
	Event             string          `json:"event"`
	Name              string          `json:"name"`
	UserID            json.RawMessage `json:"userId"` // string or number in the wild
	AnonymousID       json.RawMessage `json:"anonymousId"`
	GroupID           json.RawMessage `json:"groupId"`
	PreviousID        json.RawMessage `json:"previousId"`
	MessageID         string          `json:"messageId"`
	Email             string          `json:"email"`
	Timestamp         string          `json:"timestamp"`
	OriginalTimestamp string          `json:"originalTimestamp"`
	ReceivedAt        string          `json:"receivedAt"`
	SentAt            string          `json:"sentAt"`
	Properties        json.RawMessage `json:"properties"`
	Traits            json.RawMessage `json:"traits"`
	Context           struct {
		Traits  json.RawMessage `json:"traits"`
		GroupID json.RawMessage `json:"groupId"`
	} `json:"context"`
}

var knownTypes = map[string]bool{"track": true, "identify": true, "page": true, "screen": true, "group": true, "alias": true}

func (*Segment) Translate(_ context.Context, cfg connector.Config, req connector.TranslateRequest) ([]connector.Signal, error) {
	if secret := cfg.Credentials[SecretKey]; secret != "" {
		if err := verify(secret, req.Payload, req.Headers.Get("X-Signature")); err != nil {
			return nil, err
		}
	}
	items, envSentAt, err := split(req.Payload)
	if err != nil {
		return nil, err
	}
	out := make([]connector.Signal, 0, len(items))
	for i, raw := range items {
		s, err := translate(raw, envSentAt)
		if err != nil {
			return nil, connector.Permanent("item %d: %v", i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// verify checks the classic Webhooks destination signature.
func verify(secret string, body []byte, sig string) error {
	if sig == "" {
		return connector.Unauthorized("missing X-Signature header")
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	want := m.Sum(nil)
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil || !hmac.Equal(got, want) {
		return connector.Unauthorized("X-Signature does not match the shared secret")
	}
	return nil
}

// split accepts one event, a JSON array of events (Webhooks Actions with
// batching), or the HTTP API envelope {"batch": [...], "sentAt": ...}.
func split(payload []byte) (items []json.RawMessage, envSentAt string, err error) {
	p := bytes.TrimSpace(payload)
	if len(p) == 0 {
		return nil, "", connector.Permanent("empty payload")
	}
	switch p[0] {
	case '[':
		if err := json.Unmarshal(p, &items); err != nil {
			return nil, "", connector.Permanent("payload is not a JSON array of events: %v", err)
		}
		return items, "", nil
	case '{':
		var env struct {
			Batch  []json.RawMessage `json:"batch"`
			SentAt string            `json:"sentAt"`
		}
		if err := json.Unmarshal(p, &env); err != nil {
			return nil, "", connector.Permanent("payload is not a JSON object: %v", err)
		}
		if env.Batch != nil {
			return env.Batch, env.SentAt, nil
		}
		return []json.RawMessage{p}, "", nil
	}
	return nil, "", connector.Permanent("payload is not JSON")
}

func translate(raw json.RawMessage, envSentAt string) (connector.Signal, error) {
	var e event
	if err := json.Unmarshal(raw, &e); err != nil {
		return connector.Signal{}, err
	}
	typ := strings.ToLower(strings.TrimSpace(e.Type))
	if typ == "" && e.Event != "" {
		typ = "track" // Actions mappings often drop "type"
	}
	if !knownTypes[typ] {
		return connector.Signal{}, connector.Permanent("not a Segment event: type %q", e.Type)
	}
	s := connector.Signal{
		Source: "segment", Type: typ, MessageID: e.MessageID,
		UserID: idString(e.UserID), AnonymousID: idString(e.AnonymousID),
		GroupID: idString(e.Context.GroupID), Payload: raw,
	}
	switch typ {
	case "track":
		s.Event, s.Properties = e.Event, nonNull(e.Properties)
	case "page", "screen":
		s.Event, s.Properties = e.Name, nonNull(e.Properties)
	case "identify":
		s.Traits = nonNull(e.Traits)
	case "group":
		// A group call describes the account/workspace: the host sends it to
		// the product-org endpoint (SPEC §2.6). Its traits.email belongs to
		// the group, not to the user, so it is not the signal's email.
		s.GroupID, s.Traits, s.Route = idString(e.GroupID), nonNull(e.Traits), connector.RouteProductOrg
	case "alias":
		prev, _ := json.Marshal(map[string]string{"previousId": idString(e.PreviousID)})
		s.Properties = prev
	}
	s.Email = email(e, typ)
	var err error
	if s.Timestamp, err = firstTime(e.Timestamp, e.OriginalTimestamp, e.ReceivedAt); err != nil {
		return connector.Signal{}, err
	}
	if s.SentAt, err = firstTime(e.SentAt, envSentAt); err != nil {
		return connector.Signal{}, err
	}
	return s, nil
}

// email looks where Segment sources put it (SPEC §2.2): top level, traits
// (identify only), context.traits, properties.
func email(e event, typ string) string {
	cands := []json.RawMessage{}
	if typ == "identify" {
		cands = append(cands, e.Traits)
	}
	cands = append(cands, e.Context.Traits, e.Properties)
	if v := strings.TrimSpace(e.Email); v != "" {
		return strings.ToLower(v)
	}
	for _, c := range cands {
		var m struct {
			Email any `json:"email"`
		}
		if len(c) > 0 && json.Unmarshal(c, &m) == nil {
			if v, ok := m.Email.(string); ok && strings.Contains(v, "@") {
				return strings.ToLower(strings.TrimSpace(v))
			}
		}
	}
	return ""
}

// idString accepts "abc", 123 or null.
func idString(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func nonNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

func firstTime(vals ...string) (time.Time, error) {
	for _, v := range vals {
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return time.Time{}, connector.Permanent("timestamp %q is not ISO 8601", v)
		}
		return t.UTC(), nil
	}
	return time.Time{}, nil
}
