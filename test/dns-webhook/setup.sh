#!/usr/bin/env bash
# Builds what meshsign's DNS-01 webhook suite runs against and checks the DNS server is installed:
#   dns-webhook  test/dns-webhook/server: a cert-manager webhook solver built on cert-manager's own
#                framework (github.com/cert-manager/cert-manager/pkg/acme/webhook/cmd, pinned in
#                server/go.mod) that writes TXT records by RFC 2136 + TSIG
# and runs the setup of what the suite also starts:
#   knotd, knotc                 Debian's knot (test/dns/setup.sh), the server the solver writes into
#   kube-apiserver, etcd         test/kube/setup.sh (the webhook's delegated authn/authz, the APIService)
#   pebble                       test/acme/setup.sh (the end-to-end order whose VA reads knot)
#
# The binary goes to ${MESHSIGN_CACHE:-$HOME/.cache/meshsign}/bin/dns-webhook-<version>-<hash>
# (the hash covers go.mod, go.sum and main.go) and is recorded as MESHSIGN_DNS_WEBHOOK in
# bin/harness.env, like every Go-built test server.
#
# Usage: bash test/dns-webhook/setup.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SETUP_NAME=test/dns-webhook/setup.sh
# shellcheck source=../lib/go-tools.sh
source "$here/../lib/go-tools.sh"

# cert-manager v1.21's go.mod says go 1.26.0.
require_go 1.26 "the DNS-01 webhook suite builds a cert-manager webhook server from Go modules"

# Knot DNS (Debian package knot), the server the solver writes into: the DNS suite's setup installs it.
bash "$here/../dns/setup.sh"

dir="$here/server"
build dns-webhook "$dir" . "$(module_version "$dir" github.com/cert-manager/cert-manager)" \
  "$(sum_hash "$dir" "$dir/main.go")"

bash "$here/../kube/setup.sh" kube-apiserver etcd
bash "$here/../acme/setup.sh" pebble

echo "binaries recorded in $env_file" >&2
