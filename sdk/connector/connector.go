// Package connector is the public contract between TrailSpark and connector
// plugins (CRM, CDP, marketing automation). It is its own Go module so that
// connector authors depend on nothing of the engine: no protoactor, Badger,
// Gin or gonum.
//
// The package holds only Go types and interfaces (no gRPC): a connector
// implements Connector plus one optional interface per capability it declares
// (Reader, Writer, Translator, MetadataProvider, OAuthProvider) and hands the
// value to sdk.Serve. The host sees the same interfaces on its side, so
// errors, records and signals have one definition. docs/plugins.md in the
// main repository is the author's guide.
package connector

import (
	"fmt"
	"regexp"
	"strings"
)

// ProtocolVersion is the plugin protocol this SDK speaks. The host
// negotiates the highest version both sides support.
const ProtocolVersion = 1

// Capability is something a connector can do.
type Capability string

const (
	CapRead      Capability = "read"      // stream records (accounts, contacts, opportunities, activities)
	CapWrite     Capability = "write"     // write score updates back
	CapTranslate Capability = "translate" // turn inbound payloads into canonical signals
	CapMetadata  Capability = "metadata"  // describe objects and fields
	CapOAuth     Capability = "oauth"     // OAuth 2.0 authorization helpers
)

var knownCaps = map[Capability]bool{CapRead: true, CapWrite: true, CapTranslate: true, CapMetadata: true, CapOAuth: true}

// Info is what a connector says about itself (Describe).
type Info struct {
	Name         string       // lowercase id, e.g. "salesforce"; the binary is trailspark-connector-<name>
	Version      string       // semantic version of the connector, e.g. "1.2.0"
	Capabilities []Capability // what it implements
	Kinds        []Kind       // record kinds Read serves (only with CapRead)
	Description  string       // one line for operators
}

// Has reports whether the connector declares c.
func (i Info) Has(c Capability) bool {
	for _, x := range i.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

var (
	nameRe    = regexp.MustCompile(`^[a-z][a-z0-9-]{1,39}$`)
	versionRe = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
)

// Validate reports the first problem with the description.
func (i Info) Validate() error {
	if !nameRe.MatchString(i.Name) {
		return fmt.Errorf("connector name %q: must be 2-40 chars of a-z, 0-9 and '-', starting with a letter", i.Name)
	}
	if !versionRe.MatchString(i.Version) {
		return fmt.Errorf("connector version %q: must be a semantic version such as 1.2.0", i.Version)
	}
	if len(i.Capabilities) == 0 {
		return fmt.Errorf("connector %s: declares no capabilities", i.Name)
	}
	seen := map[Capability]bool{}
	for _, c := range i.Capabilities {
		if !knownCaps[c] {
			return fmt.Errorf("connector %s: unknown capability %q", i.Name, c)
		}
		if seen[c] {
			return fmt.Errorf("connector %s: capability %q listed twice", i.Name, c)
		}
		seen[c] = true
	}
	if len(i.Kinds) > 0 && !seen[CapRead] {
		return fmt.Errorf("connector %s: lists record kinds but not the %q capability", i.Name, CapRead)
	}
	for _, k := range i.Kinds {
		if !k.Valid() {
			return fmt.Errorf("connector %s: unknown record kind %q", i.Name, k)
		}
	}
	return nil
}

// BinaryName is the file name the plugin host looks for.
func (i Info) BinaryName() string { return "trailspark-connector-" + strings.ToLower(i.Name) }
