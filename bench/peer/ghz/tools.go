//go:build tools

// Package tools pins ghz (github.com/bojand/ghz/cmd/ghz), the gRPC load generator of meshsign's
// side-by-side benchmark, so that bench/peer/setup.sh builds it from this go.mod/go.sum.
package tools

import _ "github.com/bojand/ghz/cmd/ghz"
