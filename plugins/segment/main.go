// Command trailspark-connector-segment translates Segment payloads into
// TrailSpark signals: classic Segment spec events (track, identify, page,
// screen, group, alias), the HTTP API batch envelope, and what the Segment
// Webhooks (Actions) destination sends (one event, or a JSON array when
// batching is on). Group calls are routed to the product-org endpoint.
//
// Built by `go tool task plugins` into bin/plugins/trailspark-connector-segment.
package main

import "github.com/trailspark/trailspark/sdk"

func main() { sdk.Serve(&Segment{}) }
