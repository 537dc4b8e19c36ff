#!/usr/bin/env bash
# Installs Knot DNS, the authoritative DNS server the DNS suite (and the DNS-01
# parts of other suites) runs against: Debian's `knot` package gives knotd and
# knotc. The harness (test/dns/harness/knot.ts) starts its own knotd per test
# file on a free loopback port with a temporary config, so nothing here starts
# a server. Also builds Pebble (test/acme/setup.sh), which the end-to-end
# DNS-01 test (engine.test.ts) runs with its VA resolving through knotd.
# Stops with a clear message when the package cannot be installed.
#
# Usage: bash test/dns/setup.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() {
  echo "test/dns/setup.sh: $*" >&2
  exit 1
}

# knotd and knotc live in /usr/sbin, which a non-login shell may not have on PATH.
export PATH="$PATH:/usr/sbin:/sbin"

# Unbound (Debian package unbound) is the recursive resolver Pebble's VA asks in
# the engine test (it follows a CNAME from one knotd zone into another); the
# harness (test/dns/harness/unbound.ts) starts its own, never the system service.
need=()
{ command -v knotd >/dev/null 2>&1 && command -v knotc >/dev/null 2>&1; } || need+=(knot)
command -v unbound >/dev/null 2>&1 || need+=(unbound)
if ((${#need[@]})); then
  command -v apt-get >/dev/null 2>&1 || die "missing ${need[*]} and apt-get is not available: install the Debian packages ${need[*]} yourself"
  echo "test/dns/setup.sh: installing Debian packages: ${need[*]}" >&2
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
fi

for tool in knotd knotc unbound; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is still missing after installing the knot and unbound packages"
done
knotd --version >&2 || die "knotd does not run"
unbound -V >/dev/null 2>&1 || die "unbound does not run"

# The engine test orders at a real Pebble whose VA reads the TXT records from knotd.
bash "$here/../acme/setup.sh" pebble
