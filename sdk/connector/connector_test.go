package connector

import (
	"strings"
	"testing"
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
