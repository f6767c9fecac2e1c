package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailspark/trailspark/sdk/connector"
	"github.com/trailspark/trailspark/sdk/sdktest"
)

// Binaries of internal/testplugin, built once by TestMain: the tests drive
// real processes through the real handshake, as the host does.
var bins = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sdk-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		for _, v := range []string{"", "invalid", "liar", "stdout"} {
			out := filepath.Join(dir, "trailspark-connector-testplugin"+map[bool]string{true: "", false: "-" + v}[v == ""])
			cmd := exec.Command("go", "build", "-o", out, "-ldflags", "-X main.variant="+v, "./internal/testplugin")
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "building test plugin:", err)
				return 1
			}
			bins[v] = out
		}
		return m.Run()
	}()
	os.Exit(code)
}

var goodConfig = connector.Config{Tenant: "t1", Credentials: map[string]string{"api_key": "k"}}

func TestConformance(t *testing.T) {
	sdktest.Run(t, bins[""], sdktest.Options{
		Config:         goodConfig,
		InvalidConfigs: []connector.Config{{Tenant: "t1"}},
		Translate: []sdktest.TranslateCase{
			{
				Name:    "echo",
				Payload: []byte(`{"type":"track","event":"Demo Requested","email":"Ann@Example.com","properties":{"plan":"pro"}}`),
				Headers: http.Header{"X-Message-Id": {"m-1"}},
				Want: []connector.Signal{{Source: "test", Type: "track", Event: "Demo Requested", Email: "ann@example.com", MessageID: "m-1",
					Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Properties: []byte(`{"plan":"pro"}`)}},
			},
		},
		Write: []sdktest.WriteCase{{
			Name: "mixed",
			Request: connector.WriteRequest{Object: "Account", Updates: []connector.ScoreUpdate{
				{RecordID: "ok", Fields: []byte(`{"Score__c":80}`)}, {RecordID: "missing"}, {RecordID: "locked"}, {RecordID: "invalid"},
			}},
			Want: []connector.ErrorKind{connector.KindUnknown, connector.KindNotFound, connector.KindRateLimited, connector.KindPermanent},
		}},
		MetadataObjects: []string{"Account", "Contact"},
		OAuth:           &connector.AuthURLRequest{RedirectURI: "https://app.example/cb", State: "st4te", CodeChallenge: "ch4llenge", CodeChallengeMethod: "S256"},
	})
}

// TestErrorsCrossTheWire: what the connector returns is what the host gets,
// kind, retry-after and field included.
func TestErrorsCrossTheWire(t *testing.T) {
	p := sdktest.Launch(t, bins[""])
	tests := []struct {
		mode       string
		want       error
		retryable  bool
		retryAfter time.Duration
		field      string
		msg        string
	}{
		{mode: "error:rate_limited", want: connector.ErrRateLimited, retryable: true, retryAfter: 42 * time.Second, msg: "slow down"},
		{mode: "error:invalid_config", want: connector.ErrInvalidConfig, field: "base_url", msg: "must be https"},
		{mode: "error:unauthorized", want: connector.ErrUnauthorized, msg: "token expired"},
		{mode: "error:permanent", want: connector.ErrPermanent, msg: "bad payload"},
		{mode: "error:not_found", want: connector.ErrNotFound, msg: "no such thing"},
		{mode: "error:retryable", want: connector.ErrRetryable, retryable: true, msg: "vendor 503"},
		// %w-wrapped sentinel: the kind survives and so does the wrapping text.
		{mode: "wrapped", want: connector.ErrUnauthorized, msg: "calling vendor"},
		// Untyped errors are sent as retryable (most are network failures).
		{mode: "untyped", want: connector.ErrRetryable, retryable: true, msg: "connection refused"},
		// A panic is a bug: permanent, and the process keeps serving.
		{mode: "panic", want: connector.ErrPermanent, msg: "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			cfg := goodConfig
			cfg.Options = map[string]string{"mode": tc.mode}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := p.Client.Translate(ctx, cfg, connector.TranslateRequest{Payload: []byte(`{}`)})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if connector.IsRetryable(err) != tc.retryable {
				t.Errorf("IsRetryable = %v, want %v", !tc.retryable, tc.retryable)
			}
			if ra, _ := connector.RetryAfter(err); ra != tc.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", ra, tc.retryAfter)
			}
			var ce *connector.Error
			if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(ce.Message, tc.msg) {
				t.Errorf("error %#v: want field %q and message containing %q", ce, tc.field, tc.msg)
			}
		})
	}
	if err := p.Client.Ping(context.Background()); err != nil || p.Raw.Exited() {
		t.Fatalf("plugin died during the error table: %v", err)
	}
}

func TestOAuthRoundTrip(t *testing.T) {
	p := sdktest.Launch(t, bins[""])
	ctx := context.Background()
	tok, err := p.Client.ExchangeCode(ctx, goodConfig, connector.ExchangeCodeRequest{Code: "c0de", CodeVerifier: "v", RedirectURI: "https://app/cb"})
	if err != nil || tok.AccessToken != "at-c0de" || !tok.Expiry.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) || len(tok.Scopes) != 1 {
		t.Fatalf("ExchangeCode = %+v, %v", tok, err)
	}
	if strings.Contains(fmt.Sprint(tok), "at-c0de") {
		t.Errorf("Token prints its access token: %v", tok)
	}
	if _, err := p.Client.Refresh(ctx, goodConfig, "revoked"); !errors.Is(err, connector.ErrUnauthorized) {
		t.Errorf("Refresh(revoked) = %v, want ErrUnauthorized", err)
	}
}

// TestInFlightCallFailsRetryableWhenPluginDies: the host must see a
// retryable error, never a hang or a permanent failure, when the process
// exits under a call.
func TestInFlightCallFailsRetryableWhenPluginDies(t *testing.T) {
	p := sdktest.Launch(t, bins[""])
	cfg := goodConfig
	cfg.Options = map[string]string{"mode": "exit"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.Client.Translate(ctx, cfg, connector.TranslateRequest{Payload: []byte(`{}`)})
	if !errors.Is(err, connector.ErrRetryable) {
		t.Fatalf("call during exit: got %v, want ErrRetryable", err)
	}
	select {
	case <-p.Client.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Client.Done not closed after the plugin exited")
	}
}

// TestPluginsThatMustNotStart: Serve refuses a connector whose description is
// invalid or that lies about its capabilities, and a plugin that writes to
// stdout breaks its own handshake (the pitfall docs/plugins.md warns about).
func TestPluginsThatMustNotStart(t *testing.T) {
	for _, v := range []string{"invalid", "liar", "stdout"} {
		t.Run(v, func(t *testing.T) {
			p, err := sdktest.Start(bins[v], nil)
			if err == nil {
				p.Kill()
				t.Fatalf("variant %s started; it must be refused", v)
			}
		})
	}
}

// TestRunDirectlyPrintsHint: a user running a plugin by hand gets go-plugin's
// explanation and a non-zero exit, not a hang.
func TestRunDirectlyPrintsHint(t *testing.T) {
	out, err := exec.Command(bins[""]).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "plugin") {
		t.Fatalf("running by hand: err=%v output=%q", err, out)
	}
}

func BenchmarkCall(b *testing.B) {
	p, err := sdktest.Start(bins[""], nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Kill()
	ctx := context.Background()
	payload := []byte(`{"type":"track","event":"x","email":"a@b.c"}`)
	b.Run("Translate", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.Client.Translate(ctx, goodConfig, connector.TranslateRequest{Payload: payload}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Read1000", func(b *testing.B) {
		cfg := goodConfig
		cfg.Options = map[string]string{"accounts": "1000"}
		for b.Loop() {
			n := 0
			if _, err := p.Client.Read(ctx, cfg, connector.ReadRequest{Kind: connector.KindAccounts}, func(connector.Record) error { n++; return nil }); err != nil || n != 1000 {
				b.Fatal(n, err)
			}
		}
	})
}

func BenchmarkLaunch(b *testing.B) {
	for b.Loop() {
		p, err := sdktest.Start(bins[""], nil)
		if err != nil {
			b.Fatal(err)
		}
		p.Kill()
	}
}
