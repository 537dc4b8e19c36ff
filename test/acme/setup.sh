#!/usr/bin/env bash
# Builds Let's Encrypt's Pebble (a real, strict ACME server) and its challenge
# test server from the Go module pinned in test/acme/harness, and caches them
# exactly as test/kube/setup.sh caches the Kubernetes test servers:
#   pebble               github.com/letsencrypt/pebble/v2/cmd/pebble
#   pebble-challtestsrv  github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv (DNS for Pebble's VA)
#
# Binaries go to ${MESHSIGN_CACHE:-$HOME/.cache/meshsign}/bin/<name>-<version>-<gosum hash>;
# the harness (test/acme/harness) finds them through bin/harness.env, or through
# MESHSIGN_PEBBLE / MESHSIGN_PEBBLE_CHALLTESTSRV.
#
# Usage: bash test/acme/setup.sh [pebble|pebble-challtestsrv ...]   (default: both)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MESHSIGN_CACHE:-$HOME/.cache/meshsign}"
bin="$cache/bin"
mkdir -p "$bin"

die() {
  echo "test/acme/setup.sh: $*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || die "Go is not installed; the ACME suite builds Pebble from Go modules (a Go >= 1.25 toolchain; the Kubernetes suite needs >= 1.26)"

# Pebble v2.10.3's go.mod says go 1.25.0; an older Go would fail deep in the build.
go_version="$(go env GOVERSION | sed 's/^go//')"
go_major="${go_version%%.*}"
go_minor="$(echo "$go_version" | cut -d. -f2)"
if ((go_major < 1 || (go_major == 1 && go_minor < 25))); then
  die "Go $go_version is too old: Pebble v2.10.3 needs Go >= 1.25"
fi

# The module graph comes from go.mod/go.sum as committed: never -mod=mod.
unset GOFLAGS
export GOFLAGS=-buildvcs=false
export CGO_ENABLED=0

dir="$here/harness"
version="$(cd "$dir" && go list -m -f '{{.Version}}' github.com/letsencrypt/pebble/v2)"
sum="$(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -c1-12)"

env_file="$bin/harness.env"
touch "$env_file"

# record NAME PATH: remember PATH for NAME in the env file the harness reads.
record() {
  local key tmp
  key="MESHSIGN_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  tmp="$(mktemp "$env_file.XXXXXX")"
  grep -v "^$key=" "$env_file" >"$tmp" || true
  echo "$key=$2" >>"$tmp"
  mv -f "$tmp" "$env_file"
  echo "$key=$2"
}

# build NAME PACKAGE: go build PACKAGE into the cache unless present.
build() {
  local name="$1" pkg="$2"
  local out="$bin/$name-$version-$sum"
  if [[ -x "$out" ]]; then
    echo "$name: cached $out" >&2
  else
    echo "$name: building $pkg ($version)" >&2
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

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(pebble pebble-challtestsrv)

for t in "${targets[@]}"; do
  case "$t" in
    pebble) build pebble github.com/letsencrypt/pebble/v2/cmd/pebble ;;
    pebble-challtestsrv) build pebble-challtestsrv github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv ;;
    *) die "unknown target $t (pebble, pebble-challtestsrv)" ;;
  esac
done

echo "binaries recorded in $env_file" >&2
