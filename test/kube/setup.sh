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
cache="${MESHSIGN_CACHE:-$HOME/.cache/meshsign}"
bin="$cache/bin"
mkdir -p "$bin"

die() {
  echo "test/kube/setup.sh: $*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || die "Go is not installed; the Kubernetes suite builds kube-apiserver and etcd from Go modules (apt-get install golang-go, or a Go >= 1.26 toolchain)"

# k8s.io/kubernetes v1.36 needs Go >= 1.26 (its go.mod says so); an older Go would
# fail deep in the build with a less helpful message.
go_version="$(go env GOVERSION | sed 's/^go//')"
go_major="${go_version%%.*}"
go_minor="$(echo "$go_version" | cut -d. -f2)"
if ((go_major < 1 || (go_major == 1 && go_minor < 26))); then
  die "Go $go_version is too old: kube-apiserver v1.36 needs Go >= 1.26 (Debian's golang-go package is older: install a Go >= 1.26 toolchain)"
fi

# The module graph comes from go.mod/go.sum as committed: never -mod=mod.
unset GOFLAGS
export GOFLAGS=-buildvcs=false
export CGO_ENABLED=0

# module_version DIR MODULE: the version DIR's go.mod selects for MODULE.
module_version() {
  (cd "$1" && go list -m -f '{{.Version}}' "$2")
}

# sum_hash DIR: a short hash of DIR's go.sum and go.mod, part of the cache key.
sum_hash() {
  cat "$1/go.mod" "$1/go.sum" | sha256sum | cut -c1-12
}

# build NAME DIR PACKAGE VERSION: go build PACKAGE in DIR into the cache unless present.
build() {
  local name="$1" dir="$2" pkg="$3" version="$4"
  local out="$bin/$name-$version-$(sum_hash "$dir")"
  if [[ -x "$out" ]]; then
    echo "$name: cached $out" >&2
  else
    echo "$name: building $pkg ($version); the first build takes a long time on 2 cores" >&2
    local start=$SECONDS
    if ! (cd "$dir" && go build -trimpath -o "$out.tmp" "$pkg"); then
      rm -f "$out.tmp"
      die "building $name ($pkg $version) failed; see the go build output above"
    fi
    mv -f "$out.tmp" "$out"
    echo "$name: built $out in $((SECONDS - start))s" >&2
  fi
  record "$name" "$out"
}

env_file="$bin/harness.env"
touch "$env_file"

# record NAME PATH: remember PATH for NAME in the env file the harness reads.
record() {
  local key
  key="MESHSIGN_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  local tmp
  tmp="$(mktemp "$env_file.XXXXXX")"
  grep -v "^$key=" "$env_file" >"$tmp" || true
  echo "$key=$2" >>"$tmp"
  mv -f "$tmp" "$env_file"
  echo "$key=$2"
}

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
