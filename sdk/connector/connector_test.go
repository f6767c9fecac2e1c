package connector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestInfoValidate(t *testing.T) {
	t.Parallel()
	ok := Info{Name: "salesforce", Version: "1.2.0", Capabilities: []Capability{CapRead, CapWrite}}
	tests := []struct {
		name    string
		mutate  func(*Info)
		wantErr string
	}{
		{"valid", func(*Info) {}, ""},
		{"prerelease version", func(i *Info) { i.Version = "v0.1.0-rc.1" }, ""},
		{"uppercase name", func(i *Info) { i.Name = "Salesforce" }, "connector name"},
		{"one char name", func(i *Info) { i.Name = "s" }, "connector name"},
		{"bad version", func(i *Info) { i.Version = "1.2" }, "connector version"},
		{"no capabilities", func(i *Info) { i.Capabilities = nil }, "no capabilities"},
		{"unknown capability", func(i *Info) { i.Capabilities = []Capability{"teleport"} }, "unknown capability"},
		{"duplicate capability", func(i *Info) { i.Capabilities = []Capability{CapRead, CapRead} }, "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			i := ok
			i.Capabilities = append([]Capability(nil), ok.Capabilities...)
			tc.mutate(&i)
			err := i.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestBinaryName(t *testing.T) {
	t.Parallel()
	if got := (Info{Name: "hubspot"}).BinaryName(); got != "trailspark-connector-hubspot" {
		t.Fatalf("BinaryName = %q", got)
	}
}

func TestInfoKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		info    Info
		wantErr string
	}{
		{"read with kinds", Info{Name: "crm", Version: "1.0.0", Capabilities: []Capability{CapRead}, Kinds: []Kind{KindAccounts, KindLeads}}, ""},
		{"kinds without read", Info{Name: "crm", Version: "1.0.0", Capabilities: []Capability{CapWrite}, Kinds: []Kind{KindAccounts}}, "not the \"read\" capability"},
		{"unknown kind", Info{Name: "crm", Version: "1.0.0", Capabilities: []Capability{CapRead}, Kinds: []Kind{"invoices"}}, "unknown record kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.info.Validate()
			if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestSecretsRedacted: configs and tokens end up in logs; secrets must not.
func TestSecretsRedacted(t *testing.T) {
	t.Parallel()
	cfg := Config{Tenant: "t", Credentials: map[string]string{"access_token": "sekrit-1"}, Options: map[string]string{"sandbox": "true"}}
	tok := Token{AccessToken: "sekrit-2", RefreshToken: "sekrit-3"}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg), fmt.Sprintf("%v %+v %#v", tok, tok, tok)} {
		if strings.Contains(s, "sekrit") {
			t.Errorf("secret printed: %s", s)
		}
	}
	if !strings.Contains(fmt.Sprint(cfg), "access_token=REDACTED") || !strings.Contains(fmt.Sprint(cfg), "sandbox") {
		t.Errorf("Config.String lost the non-secret parts: %s", cfg)
	}
}

func TestErrorKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err        error
		sentinel   error
		retryable  bool
		retryAfter time.Duration
	}{
		{Retryable("503"), ErrRetryable, true, 0},
		{RateLimited(3*time.Second, "429"), ErrRateLimited, true, 3 * time.Second},
		{Permanent("400"), ErrPermanent, false, 0},
		{Unauthorized("401"), ErrUnauthorized, false, 0},
		{InvalidConfig("base_url", "bad"), ErrInvalidConfig, false, 0},
		{NotFound("404"), ErrNotFound, false, 0},
		{Unsupported("nope"), ErrUnsupported, false, 0},
		{fmt.Errorf("wrapped: %w", Permanent("x")), ErrPermanent, false, 0},
		{errors.New("untyped"), nil, true, 0},
		{context.Canceled, nil, false, 0},
	}
	for _, tc := range tests {
		if tc.sentinel != nil && !errors.Is(tc.err, tc.sentinel) {
			t.Errorf("%v does not match %v", tc.err, tc.sentinel)
		}
		if tc.sentinel != ErrRetryable && errors.Is(tc.err, ErrRetryable) {
			t.Errorf("%v matches ErrRetryable", tc.err)
		}
		if got := IsRetryable(tc.err); got != tc.retryable {
			t.Errorf("IsRetryable(%v) = %v", tc.err, got)
		}
		if got, _ := RetryAfter(tc.err); got != tc.retryAfter {
			t.Errorf("RetryAfter(%v) = %v", tc.err, got)
		}
	}
}
