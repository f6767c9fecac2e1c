package actors

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/plugins/host"
	"github.com/trailspark/trailspark/sdk/connector"
)

// TranslateInbound has the connector plugin named name turn an inbound
// vendor payload (a Marketo webhook, a Segment Actions call, a third
// party's format) into canonical signals, returned as JSON items for
// Ingestor.Accept. Each item keeps the connector's fields at the top level
// (type, event, email, userId, anonymousId, groupId, messageId,
// timestamp, properties, traits), so mapping rules and normalisation read
// them like any signal, and the vendor's original item under "raw".
func (c *Client) TranslateInbound(ctx context.Context, org, name string, payload []byte, headers http.Header, contentType string) ([][]byte, error) {
	if c.env.Plugins == nil {
		return nil, errs.Unavailable("this node runs without connector plugins", nil)
	}
	info, err := c.env.Plugins.Get(name)
	if err != nil {
		return nil, errs.NotFound("connector")
	}
	translates := false
	for _, cp := range info.Capabilities {
		translates = translates || cp == connector.CapTranslate
	}
	if info.Version != "" && !translates { // capabilities are known once the plugin has run
		return nil, &errs.Error{Kind: errs.KindInvalid, Code: "connector_cannot_translate", Field: "connector",
			Message: "connector " + name + " does not translate inbound payloads"}
	}
	conn, err := c.env.Plugins.Connector(name)
	if err != nil {
		return nil, errs.NotFound("connector")
	}
	sigs, err := conn.Translate(ctx, connector.Config{Tenant: org}, connector.TranslateRequest{Payload: payload, Headers: headers, ContentType: contentType})
	if err != nil {
		switch {
		case errors.Is(err, connector.ErrUnsupported):
			return nil, &errs.Error{Kind: errs.KindInvalid, Code: "connector_cannot_translate", Field: "connector",
				Message: "connector " + name + " does not translate inbound payloads"}
		case errors.Is(err, host.ErrUnapproved):
			return nil, errs.Unavailable("the connector's binary changed and waits for the operator's approval", err)
		case connector.IsRetryable(err):
			return nil, errs.Unavailable("the connector is not available right now; retry", err)
		}
		return nil, &errs.Error{Kind: errs.KindInvalid, Code: "untranslatable_payload", Message: "the " + name + " connector refused the payload: " + err.Error()}
	}
	out := make([][]byte, 0, len(sigs))
	for _, s := range sigs {
		b, err := json.Marshal(canonicalItem(name, s))
		if err != nil {
			return nil, errs.Internal(err)
		}
		out = append(out, b)
	}
	return out, nil
}

// canonicalItem is a translated signal as an ingestion item.
func canonicalItem(name string, s connector.Signal) map[string]any {
	m := map[string]any{}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put("type", s.Type)
	put("event", s.Event)
	put("email", s.Email)
	put("userId", s.UserID)
	put("anonymousId", s.AnonymousID)
	put("groupId", s.GroupID)
	put("messageId", s.MessageID)
	if !s.Timestamp.IsZero() {
		m["timestamp"] = s.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	if !s.SentAt.IsZero() {
		m["sentAt"] = s.SentAt.UTC().Format(time.RFC3339Nano)
	}
	if len(s.Properties) > 0 {
		m["properties"] = s.Properties
	}
	if len(s.Traits) > 0 {
		m["traits"] = s.Traits
	}
	if len(s.Payload) > 0 {
		m["raw"] = s.Payload
	}
	m["connector"] = name
	return m
}
