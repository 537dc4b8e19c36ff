#!/usr/bin/env bash
# Builds the SPIFFE test client (test/spiffe/client, on github.com/spiffe/go-spiffe/v2)
# once and caches it, the same way test/kube/setup.sh caches the Kubernetes
# test servers: ${MESHSIGN_CACHE:-$HOME/.cache/meshsign}/bin/spiffe-client-<version>-<gosum hash>,
# recorded as MESHSIGN_SPIFFE_CLIENT in bin/harness.env (or given directly in
# the MESHSIGN_SPIFFE_CLIENT environment variable).
#
# Usage: bash test/spiffe/setup.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MESHSIGN_CACHE:-$HOME/.cache/meshsign}"
bin="$cache/bin"
mkdir -p "$bin"

die() {
  echo "test/spiffe/setup.sh: $*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || die "Go is not installed; the SPIFFE suite builds its client from github.com/spiffe/go-spiffe/v2 (install a Go >= 1.25 toolchain)"

# The module graph comes from go.mod/go.sum as committed: never -mod=mod.
unset GOFLAGS
export GOFLAGS=-buildvcs=false
export CGO_ENABLED=0

dir="$here/client"
version="$(cd "$dir" && go list -m -f '{{.Version}}' github.com/spiffe/go-spiffe/v2)"
hash="$(cat "$dir/go.mod" "$dir/go.sum" "$dir/main.go" | sha256sum | cut -c1-12)"
out="$bin/spiffe-client-$version-$hash"
if [[ -x "$out" ]]; then
  echo "spiffe-client: cached $out" >&2
else
  echo "spiffe-client: building (go-spiffe $version)" >&2
  if ! (cd "$dir" && go build -trimpath -o "$out.tmp" .); then
    rm -f "$out.tmp"
    die "building spiffe-client failed; see the go build output above"
  fi
  mv -f "$out.tmp" "$out"
fi

env_file="$bin/harness.env"
touch "$env_file"
tmp="$(mktemp "$env_file.XXXXXX")"
grep -v "^MESHSIGN_SPIFFE_CLIENT=" "$env_file" >"$tmp" || true
echo "MESHSIGN_SPIFFE_CLIENT=$out" >>"$tmp"
mv -f "$tmp" "$env_file"
echo "MESHSIGN_SPIFFE_CLIENT=$out"
