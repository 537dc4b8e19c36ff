//go:build tools

// Package pebble pins Let's Encrypt's ACME test server and its challenge test
// server (DNS for Pebble's VA) for meshsign's ACME suite, so `go mod tidy`
// keeps their dependencies in go.sum.
package harness

import (
	_ "github.com/letsencrypt/pebble/v2/cmd/pebble"
	_ "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv"
)
