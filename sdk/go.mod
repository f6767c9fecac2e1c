module github.com/trailspark/trailspark/sdk

go 1.26
