// Command trailspark-connector-hubspot connects TrailSpark to a HubSpot
// account through the CRM v3 API: OAuth 2.0 (or a private-app token),
// property metadata, incremental reads of contacts, companies and deals
// (search sorted by last modification), and score write-back through batch
// update/upsert.
//
// Built by `go tool task plugins` into bin/plugins/trailspark-connector-hubspot.
package main

import "github.com/trailspark/trailspark/sdk"

func main() { sdk.Serve(New()) }
