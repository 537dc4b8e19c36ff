#!/usr/bin/env bash
# Builds the real binaries meshsign's Kubernetes suite runs against, from Go
# modules, and caches them so a second run takes seconds:
#   kube-apiserver  k8s.io/kubernetes/cmd/kube-apiserver   (test/kube/harness)
#   etcd            go.etcd.io/etcd/server/v3/etcdmain      (test/kube/harness/cmd/etcd)
#   istio-client    Istio's own CA client                   (test/kube/istio-client)
#   kustomize       sigs.k8s.io/kustomize/kustomize/v5      (test/kube/kustomize; renders manifests/)
#   helm            helm.sh/helm/v4/cmd/helm                (test/kube/helm; lints and renders deploy/charts/meshsign)
# and finds the CRDs of the resources the certificate shims watch (no build, only `go mod download`):
#   gateway-api-crds  sigs.k8s.io/gateway-api@v1.6.3 config/crd/standard (Gateway, ListenerSet, HTTPRoute, ...)
#   istio-crds        Istio's crd-all.gen.yaml from the istio.io/istio module test/kube/istio-client pins
# and has test/acme/setup.sh build Pebble (pebble, pebble-challtestsrv) for test/kube/acme.test.ts:
#   pebble            the ACME issuer in Kubernetes mode against a real ACME server
#
# Binaries go to ${MESHSIGN_CACHE:-$HOME/.cache/meshsign}/bin/<name>-<version>-<gosum hash>;
# the harness finds them through the env file written next to them
# (bin/harness.env), or through MESHSIGN_KUBE_APISERVER / MESHSIGN_ETCD /
# MESHSIGN_ISTIO_CLIENT / MESHSIGN_KUSTOMIZE / MESHSIGN_HELM. Only binaries whose
# build succeeded are recorded. The CRD locations (inside the Go module cache, which is
# the cache for them) are recorded as MESHSIGN_GATEWAY_API_CRDS (a folder) and
# MESHSIGN_ISTIO_CRDS (a file).
#
# Usage: bash test/kube/setup.sh [kube-apiserver|etcd|istio-client|kustomize|helm|gateway-api-crds|istio-crds|pebble ...]   (default: all)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SETUP_NAME=test/kube/setup.sh
# shellcheck source=../lib/go-tools.sh
source "$here/../lib/go-tools.sh"

# k8s.io/kubernetes v1.36 needs Go >= 1.26 (its go.mod says so).
require_go 1.26 "the Kubernetes suite builds kube-apiserver and etcd from Go modules"

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(kube-apiserver etcd istio-client kustomize helm gateway-api-crds istio-crds pebble)

# The Gateway API release whose standard channel the suite installs (ListenerSet is standard since v1.5).
GATEWAY_API_VERSION=v1.6.3

# module_dir DIR MODULE[@VERSION]: downloads MODULE (verified against DIR's go.sum, or the checksum
# database for an explicit version) into the Go module cache and prints its folder there.
module_dir() {
  local json
  json="$(cd "$1" && go mod download -json "$2")" || die "go mod download $2 failed"
  echo "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}

# record_path NAME PATH: record PATH after checking that it exists.
record_path() {
  [[ -e "$2" ]] || die "$1: $2 does not exist"
  record "$1" "$2"
}

for t in "${targets[@]}"; do
  case "$t" in
    kube-apiserver)
      build kube-apiserver "$here/harness" k8s.io/kubernetes/cmd/kube-apiserver \
        "$(module_version "$here/harness" k8s.io/kubernetes)"
      ;;
    etcd)
      build etcd "$here/harness" ./cmd/etcd \
        "$(module_version "$here/harness" go.etcd.io/etcd/server/v3)"
      ;;
    istio-client)
      build istio-client "$here/istio-client" . \
        "$(module_version "$here/istio-client" istio.io/istio 2>/dev/null || echo grpc)" \
        "$(sum_hash "$here/istio-client" "$here/istio-client/main.go")"
      ;;
    kustomize)
      build kustomize "$here/kustomize" sigs.k8s.io/kustomize/kustomize/v5 \
        "$(module_version "$here/kustomize" sigs.k8s.io/kustomize/kustomize/v5)"
      ;;
    helm)
      build helm "$here/helm" helm.sh/helm/v4/cmd/helm \
        "$(module_version "$here/helm" helm.sh/helm/v4)"
      ;;
    gateway-api-crds)
      # Outside any module: the version is explicit and the checksum database verifies it.
      tmp="$(mktemp -d)"
      dir="$(module_dir "$tmp" "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")"
      rmdir "$tmp"
      record_path gateway-api-crds "$dir/config/crd/standard"
      ;;
    istio-crds)
      dir="$(module_dir "$here/istio-client" istio.io/istio)"
      record_path istio-crds "$dir/manifests/charts/base/files/crd-all.gen.yaml"
      ;;
    pebble)
      # Same cache and env file; test/acme/setup.sh pins the version and stops when Go is missing.
      bash "$here/../acme/setup.sh"
      ;;
    *) die "unknown target $t (kube-apiserver, etcd, istio-client, kustomize, helm, gateway-api-crds, istio-crds, pebble)" ;;
  esac
done

echo "binaries recorded in $env_file" >&2
