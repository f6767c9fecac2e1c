// Command trailspark-connector-marketo connects TrailSpark to Marketo
// Engage: it pulls lead activities through the REST API (client-credentials
// token, paging tokens, lead emails) and translates the JSON bodies of
// Marketo webhooks into signals.
//
// Built by `go tool task plugins` into bin/plugins/trailspark-connector-marketo.
package main

import "github.com/trailspark/trailspark/sdk"

func main() { sdk.Serve(New()) }
