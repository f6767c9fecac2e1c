package connectorv1

// Regenerate with protoc 3.21+, protoc-gen-go v1.36.12 and protoc-gen-go-grpc v1.6.0 on PATH
// (go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0). The generated files are
// committed; TestGeneratedCodeIsCurrent in sdk/ fails when they are stale.
//go:generate protoc --proto_path=../.. --go_out=../.. --go_opt=module=github.com/trailspark/trailspark/sdk --go-grpc_out=../.. --go-grpc_opt=module=github.com/trailspark/trailspark/sdk proto/v1/connector.proto
