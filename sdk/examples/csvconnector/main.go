// Command trailspark-connector-csv is the SDK's example connector, written
// as a third party would write one: its own module, depending only on the
// TrailSpark SDK. It reads accounts and contacts from CSV files in a
// directory named by the tenant config, translates a small JSON webhook into
// signals, and describes the CSV columns as metadata.
//
// Build it as trailspark-connector-csv and drop it into the plugins directory.
package main

import "github.com/trailspark/trailspark/sdk"

func main() {
	// Nothing may be printed to stdout before Serve: stdout carries the
	// go-plugin handshake. Log with the hclog logger Serve provides.
	sdk.Serve(&CSV{})
}
