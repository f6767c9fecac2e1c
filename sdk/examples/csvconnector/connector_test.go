package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/trailspark/trailspark/sdk/connector"
	"github.com/trailspark/trailspark/sdk/sdktest"
)

var binary string

// TestMain builds this connector exactly as it ships, so the conformance
// suite drives the real binary through the real handshake.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "csvconnector-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "trailspark-connector-csv")
	cmd := exec.Command("go", "build", "-o", binary, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestConformance(t *testing.T) {
	crm, err := filepath.Abs("testdata/crm")
	if err != nil {
		t.Fatal(err)
	}
	sdktest.Run(t, binary, sdktest.Options{
		Config: connector.Config{Tenant: "acme", Options: map[string]string{"directory": crm}},
		InvalidConfigs: []connector.Config{
			{Tenant: "acme"}, // no directory
			{Tenant: "acme", Options: map[string]string{"directory": "relative/path"}},
		},
		Translate: []sdktest.TranslateCase{
			{
				Name:    "one event",
				Payload: []byte(`{"id":"evt-1","event":"Demo Requested","email":" Ann@Acme.com ","account_id":"acc-1","timestamp":"2026-03-04T05:06:07Z","properties":{"page":"/pricing"}}`),
				Want: []connector.Signal{{Source: "csv", Type: "track", Event: "Demo Requested", Email: "ann@acme.com", GroupID: "acc-1",
					MessageID: "evt-1", Timestamp: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), Properties: []byte(`{"page":"/pricing"}`)}},
			},
			{
				Name:    "array, message id from header",
				Payload: []byte(`[{"event":"a","user_id":"u1"},{"event":"b","user_id":"u2"}]`),
				Headers: map[string][]string{"X-Webhook-Id": {"w-9"}},
				Want: []connector.Signal{
					{Source: "csv", Type: "track", Event: "a", UserID: "u1", MessageID: "w-9"},
					{Source: "csv", Type: "track", Event: "b", UserID: "u2", MessageID: "w-9"},
				},
			},
			{Name: "bad timestamp", Payload: []byte(`{"event":"a","timestamp":"yesterday"}`), WantErr: connector.KindPermanent},
		},
		MetadataObjects: []string{"Account", "Contact"},
	})
}

func TestMissingDirectoryFailsCheck(t *testing.T) {
	p := sdktest.Launch(t, binary)
	err := p.Client.Check(t.Context(), connector.Config{Options: map[string]string{"directory": t.TempDir()}})
	if connector.KindOf(err) != connector.KindInvalidConfig {
		t.Fatalf("Check on an empty directory: got %v, want invalid_config", err)
	}
}
