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
SETUP_NAME=test/spiffe/setup.sh
# shellcheck source=../lib/go-tools.sh
source "$here/../lib/go-tools.sh"

require_go 1.25 "the SPIFFE suite builds its client from github.com/spiffe/go-spiffe/v2"

dir="$here/client"
build spiffe-client "$dir" . "$(module_version "$dir" github.com/spiffe/go-spiffe/v2)" "$(sum_hash "$dir" "$dir/main.go")"
