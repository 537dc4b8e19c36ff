#!/usr/bin/env bash
# Builds the Go programs meshsign's benchmarks run next to meshsign from the go.mod/go.sum committed
# beside them, and caches them as test/kube/setup.sh caches the Kubernetes test servers:
#   istio-ca     Istio's own CA server, as istiod serves it   (bench/peer/istio-ca; istio.io/istio)
#   ghz          the gRPC load generator of both servers        (bench/peer/ghz; github.com/bojand/ghz/cmd/ghz)
#   ghz-tokens   ghz's load generator with one token per request (bench/peer/ghz/tokens; ghz's runner library)
#   acme-client  a bare ACME client, the acme case's reference  (bench/peer/acme-client; golang.org/x/crypto/acme)
#
# Binaries go to ${MESHSIGN_CACHE:-$HOME/.cache/meshsign}/bin/<name>-<version>-<gosum hash>; the
# benchmarks find them through bin/harness.env, or through MESHSIGN_ISTIO_CA / MESHSIGN_GHZ /
# MESHSIGN_GHZ_TOKENS / MESHSIGN_ACME_CLIENT. A first build takes minutes on 2 cores (istio-ca
# compiles most of Istio's control-plane packages); an unchanged go.sum takes seconds.
#
# Usage: bash bench/peer/setup.sh [istio-ca|ghz|ghz-tokens|acme-client ...]   (default: istio-ca and
# ghz, the peer case's; the kube case asks for ghz-tokens, the acme case for acme-client)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SETUP_NAME=bench/peer/setup.sh
# shellcheck source=../../test/lib/go-tools.sh
source "$here/../../test/lib/go-tools.sh"

# istio.io/istio at this version says go 1.26.0 in its go.mod.
require_go 1.26 "the peer benchmark builds Istio's CA and ghz from Go modules"

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(istio-ca ghz)

for t in "${targets[@]}"; do
  case "$t" in
    istio-ca)
      # main.go is part of the cache key: it is this repository's code, not a module's.
      build istio-ca "$here/istio-ca" . \
        "$(module_version "$here/istio-ca" istio.io/istio)" \
        "$(sum_hash "$here/istio-ca" "$here/istio-ca/main.go")"
      ;;
    ghz)
      build ghz "$here/ghz" github.com/bojand/ghz/cmd/ghz \
        "$(module_version "$here/ghz" github.com/bojand/ghz)"
      ;;
    ghz-tokens)
      build ghz-tokens "$here/ghz" ./tokens \
        "$(module_version "$here/ghz" github.com/bojand/ghz)" \
        "$(sum_hash "$here/ghz" "$here/ghz/tokens/main.go")"
      ;;
    acme-client)
      build acme-client "$here/acme-client" . \
        "$(module_version "$here/acme-client" golang.org/x/crypto)" \
        "$(sum_hash "$here/acme-client" "$here/acme-client/main.go")"
      ;;
    *) die "unknown target $t (istio-ca, ghz, ghz-tokens, acme-client)" ;;
  esac
done

echo "binaries recorded in $env_file" >&2
