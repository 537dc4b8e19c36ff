//go:build tools

// Package kustomize pins the kustomize CLI that renders manifests/ in the
// Kubernetes suite, so `go mod tidy` keeps its dependencies in go.sum.
package kustomize

import _ "sigs.k8s.io/kustomize/kustomize/v5"
