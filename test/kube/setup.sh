#!/usr/bin/env bash
# Builds the real binaries meshsign's Kubernetes suite runs against, from Go
# modules, and caches them so a second run takes seconds:
#   kube-apiserver  k8s.io/kubernetes/cmd/kube-apiserver   (test/kube/harness)
#   etcd            go.etcd.io/etcd/server/v3/etcdmain      (test/kube/harness/cmd/etcd)
#   istio-client    Istio's own CA client                   (test/kube/istio-client)
#   kustomize       sigs.k8s.io/kustomize/kustomize/v5      (test/kube/kustomize; renders manifests/)
#   helm            helm.sh/helm/v4/cmd/helm                (test/kube/helm; lints and renders deploy/charts/meshsign)
#
# Binaries go to ${MESHSIGN_CACHE:-$HOME/.cache/meshsign}/bin/<name>-<version>-<gosum hash>;
# the harness finds them through the env file written next to them
# (bin/harness.env), or through MESHSIGN_KUBE_APISERVER / MESHSIGN_ETCD /
# MESHSIGN_ISTIO_CLIENT / MESHSIGN_KUSTOMIZE / MESHSIGN_HELM. Only binaries whose
# build succeeded are recorded.
#
# Usage: bash test/kube/setup.sh [kube-apiserver|etcd|istio-client|kustomize|helm ...]   (default: all)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SETUP_NAME=test/kube/setup.sh
# shellcheck source=../lib/go-tools.sh
source "$here/../lib/go-tools.sh"

# k8s.io/kubernetes v1.36 needs Go >= 1.26 (its go.mod says so).
require_go 1.26 "the Kubernetes suite builds kube-apiserver and etcd from Go modules"

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(kube-apiserver etcd istio-client kustomize helm)

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
        "$(module_version "$here/istio-client" istio.io/istio 2>/dev/null || echo grpc)"
      ;;
    kustomize)
      build kustomize "$here/kustomize" sigs.k8s.io/kustomize/kustomize/v5 \
        "$(module_version "$here/kustomize" sigs.k8s.io/kustomize/kustomize/v5)"
      ;;
    helm)
      build helm "$here/helm" helm.sh/helm/v4/cmd/helm \
        "$(module_version "$here/helm" helm.sh/helm/v4)"
      ;;
    *) die "unknown target $t (kube-apiserver, etcd, istio-client, kustomize, helm)" ;;
  esac
done

echo "binaries recorded in $env_file" >&2
