//go:build tools

// Package harness pins the binaries the test harness builds, so that
// `go mod tidy` keeps their dependencies in go.sum.
package harness

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
