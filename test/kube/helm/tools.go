//go:build tools

// Package helm pins the Helm CLI that lints and renders deploy/charts/meshsign
// in the Kubernetes suite, so `go mod tidy` keeps its dependencies in go.sum.
package helm

import _ "helm.sh/helm/v4/cmd/helm"
