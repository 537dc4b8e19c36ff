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
SETUP_NAME=test/acme/setup.sh
# shellcheck source=../lib/go-tools.sh
source "$here/../lib/go-tools.sh"

# Pebble v2.10.3's go.mod says go 1.25.0 (the Kubernetes suite needs 1.26).
require_go 1.25 "the ACME suite builds Pebble from Go modules"

dir="$here/harness"
version="$(module_version "$dir" github.com/letsencrypt/pebble/v2)"

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(pebble pebble-challtestsrv)

for t in "${targets[@]}"; do
  case "$t" in
    pebble) build pebble "$dir" github.com/letsencrypt/pebble/v2/cmd/pebble "$version" ;;
    pebble-challtestsrv) build pebble-challtestsrv "$dir" github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv "$version" ;;
    *) die "unknown target $t (pebble, pebble-challtestsrv)" ;;
  esac
done

echo "binaries recorded in $env_file" >&2
