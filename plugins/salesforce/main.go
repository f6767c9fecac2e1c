// Command trailspark-connector-salesforce connects TrailSpark to a
// Salesforce org through the REST API: OAuth 2.0 web-server flow with PKCE
// (login or test.salesforce.com), object metadata (sObject describe),
// incremental reads of accounts, contacts, leads and opportunities (SOQL on
// SystemModstamp), and score write-back through sObject Collections.
//
// Built by `go tool task plugins` into bin/plugins/trailspark-connector-salesforce.
package main

import "github.com/trailspark/trailspark/sdk"

func main() { sdk.Serve(New()) }
