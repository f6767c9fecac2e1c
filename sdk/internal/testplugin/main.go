// Command testplugin is the SDK's own test connector. It implements every
// capability over in-memory data and misbehaves on request (per call,
// through Config.Options["mode"]) so the SDK's tests can check what crosses
// the wire. Built with -ldflags "-X main.variant=..." it can also be a
// plugin that must not start.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/trailspark/trailspark/sdk"
	"github.com/trailspark/trailspark/sdk/connector"
)

// variant: "" (normal), "invalid" (bad Info: Serve must refuse), "liar"
// (declares write, does not implement it), "stdout" (pollutes stdout before
// the handshake).
var variant string

type full struct{}

// readOnly hides every method but Describe/Configure/Check/Read.
type readOnly struct{ f full }

func (r readOnly) Describe(ctx context.Context) (connector.Info, error) { return r.f.Describe(ctx) }
func (r readOnly) Configure(ctx context.Context, c connector.Config) error {
	return r.f.Configure(ctx, c)
}
func (r readOnly) Check(ctx context.Context, c connector.Config) error { return r.f.Check(ctx, c) }

func main() {
	switch variant {
	case "invalid":
		sdk.Serve(invalid{})
	case "liar":
		sdk.Serve(readOnlyLiar{})
	case "stdout":
		fmt.Println("hello from a careless init")
		sdk.Serve(full{})
	default:
		sdk.Serve(full{})
	}
}

type invalid struct{ full }

func (invalid) Describe(context.Context) (connector.Info, error) {
	return connector.Info{Name: "Not Valid", Version: "1", Capabilities: []connector.Capability{connector.CapRead}}, nil
}

// readOnlyLiar declares write but implements only the base interface.
type readOnlyLiar struct{ readOnly }

func (readOnlyLiar) Describe(ctx context.Context) (connector.Info, error) {
	return connector.Info{Name: "testplugin", Version: "0.0.1", Capabilities: []connector.Capability{connector.CapWrite}}, nil
}

func (full) Describe(context.Context) (connector.Info, error) {
	return connector.Info{
		Name: "testplugin", Version: "0.0.1", Description: "SDK test connector",
		Capabilities: []connector.Capability{connector.CapRead, connector.CapWrite, connector.CapTranslate, connector.CapMetadata, connector.CapOAuth},
		Kinds:        []connector.Kind{connector.KindAccounts},
	}, nil
}

func (full) Configure(_ context.Context, c connector.Config) error {
	if c.Credentials["api_key"] == "" {
		return connector.InvalidConfig("credentials.api_key", "api_key is required")
	}
	return nil
}

func (f full) Check(ctx context.Context, c connector.Config) error { return f.Configure(ctx, c) }

const nAccounts = 5

func (full) Read(ctx context.Context, c connector.Config, req connector.ReadRequest, emit func(connector.Record) error) (connector.ReadResult, error) {
	if req.Kind != connector.KindAccounts {
		return connector.ReadResult{}, connector.Unsupported("kind %s", req.Kind)
	}
	n := nAccounts
	if v := c.Option("accounts", ""); v != "" {
		n, _ = strconv.Atoi(v)
	}
	start := 0
	if req.Cursor != "" {
		var err error
		if start, err = strconv.Atoi(req.Cursor); err != nil {
			return connector.ReadResult{}, connector.Permanent("bad cursor %q", req.Cursor)
		}
	}
	i := start
	for ; i < n && (req.Limit <= 0 || i-start < req.Limit); i++ {
		fields, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("Account %d", i), "tenant": c.Tenant})
		if err := emit(connector.Record{ID: fmt.Sprintf("a%d", i), Kind: req.Kind, Fields: fields, UpdatedAt: time.Unix(int64(i), 0)}); err != nil {
			return connector.ReadResult{}, err
		}
	}
	return connector.ReadResult{NextCursor: strconv.Itoa(i), More: i < n}, nil
}

func (full) Write(_ context.Context, _ connector.Config, req connector.WriteRequest) ([]connector.WriteResult, error) {
	out := make([]connector.WriteResult, len(req.Updates))
	for i, u := range req.Updates {
		out[i] = connector.WriteResult{Index: i, RecordID: u.RecordID}
		switch u.RecordID {
		case "missing":
			out[i].Err = connector.NotFound("no record %s", u.RecordID)
		case "locked":
			out[i].Err = connector.RateLimited(1500*time.Millisecond, "record locked")
		case "invalid":
			out[i].Err = connector.Permanent("field %s is read-only", "Score__c")
		}
	}
	return out, nil
}

// Translate echoes {"type","event","email"} and misbehaves by mode.
func (full) Translate(ctx context.Context, c connector.Config, req connector.TranslateRequest) ([]connector.Signal, error) {
	switch mode := c.Option("mode", ""); {
	case mode == "panic":
		panic("boom")
	case mode == "untyped":
		return nil, errors.New("dial tcp: connection refused")
	case mode == "hang":
		<-ctx.Done()
		return nil, ctx.Err()
	case mode == "exit":
		os.Exit(3)
	case mode == "wrapped":
		return nil, fmt.Errorf("calling vendor: %w", connector.ErrUnauthorized)
	case strings.HasPrefix(mode, "error:"):
		kind := strings.TrimPrefix(mode, "error:")
		switch kind {
		case "rate_limited":
			return nil, connector.RateLimited(42*time.Second, "slow down")
		case "invalid_config":
			return nil, connector.InvalidConfig("base_url", "must be https")
		case "unauthorized":
			return nil, connector.Unauthorized("token expired")
		case "permanent":
			return nil, connector.Permanent("bad payload")
		case "not_found":
			return nil, connector.NotFound("no such thing")
		case "retryable":
			return nil, connector.Retryable("vendor 503")
		}
	}
	var in struct {
		Type       string          `json:"type"`
		Event      string          `json:"event"`
		Email      string          `json:"email"`
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(req.Payload, &in); err != nil {
		return nil, connector.Permanent("payload is not JSON: %v", err)
	}
	return []connector.Signal{{Source: "test", Type: in.Type, Event: in.Event, Email: strings.ToLower(in.Email),
		Properties: in.Properties, Payload: req.Payload, Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		MessageID: req.Headers.Get("X-Message-Id")}}, nil
}

func (full) Metadata(_ context.Context, _ connector.Config, req connector.MetadataRequest) (connector.Metadata, error) {
	all := []connector.Object{
		{Name: "Account", Label: "Account", Kind: connector.KindAccounts, Fields: []connector.Field{
			{Name: "Id", Label: "Id", Type: connector.FieldID},
			{Name: "Name", Label: "Name", Type: connector.FieldString, Writable: true, Required: true},
			{Name: "Tier", Label: "Tier", Type: connector.FieldPicklist, Writable: true, Picklist: []connector.PicklistValue{{Value: "A", Label: "A"}}},
		}},
		{Name: "Contact", Label: "Contact", Fields: []connector.Field{
			{Name: "AccountId", Label: "Account", Type: connector.FieldReference, ReferenceTo: "Account"},
		}},
	}
	if len(req.Objects) == 0 {
		return connector.Metadata{Objects: all}, nil
	}
	var out connector.Metadata
	for _, o := range all {
		for _, w := range req.Objects {
			if o.Name == w {
				out.Objects = append(out.Objects, o)
			}
		}
	}
	return out, nil
}

func (full) AuthURL(_ context.Context, c connector.Config, req connector.AuthURLRequest) (string, error) {
	q := url.Values{"state": {req.State}, "code_challenge": {req.CodeChallenge}, "code_challenge_method": {req.CodeChallengeMethod}, "redirect_uri": {req.RedirectURI}}
	return c.Option("auth_base", "https://auth.example.test/authorize") + "?" + q.Encode(), nil
}

func (full) ExchangeCode(_ context.Context, _ connector.Config, req connector.ExchangeCodeRequest) (connector.Token, error) {
	if req.CodeVerifier == "" {
		return connector.Token{}, connector.Permanent("missing code_verifier")
	}
	return connector.Token{AccessToken: "at-" + req.Code, RefreshToken: "rt", TokenType: "Bearer", Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Scopes: []string{"api"}}, nil
}

func (full) Refresh(_ context.Context, _ connector.Config, rt string) (connector.Token, error) {
	if rt == "revoked" {
		return connector.Token{}, connector.Unauthorized("refresh token revoked")
	}
	return connector.Token{AccessToken: "at2", RefreshToken: rt, TokenType: "Bearer"}, nil
}
