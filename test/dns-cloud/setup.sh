#!/usr/bin/env bash
# Installs moto (a Route53 and STS emulator from PyPI, run in server mode) for the
# dns-cloud suite, into a virtualenv in the same cache as the Go-built test servers:
#   ${MESHSIGN_CACHE:-$HOME/.cache/meshsign}/venv-moto
# reused when it already holds the pinned version (a second run takes a second),
# and recorded as MESHSIGN_MOTO_SERVER in bin/harness.env (or set MESHSIGN_MOTO_SERVER yourself).
# Needs python3 with the venv module; installs Debian's python3 and python3-venv when missing.
# Also installs Debian's knot package when knotd or knotc is missing: the propagation test runs
# knotd (test/dns/harness/knot.ts starts its own) as the DNS server the check asks.
#
# Usage: bash test/dns-cloud/setup.sh
set -euo pipefail

moto_version="5.2.6"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SETUP_NAME=test/dns-cloud/setup.sh
# go-tools.sh gives the cache folder, die and record; this suite builds nothing with Go.
# shellcheck source=../lib/go-tools.sh
source "$here/../lib/go-tools.sh"

venv="$cache/venv-moto"
marker="$venv/.meshsign-moto-$moto_version"

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "$SETUP_NAME: installing Debian's python3 and python3-venv" >&2
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv || die "cannot install python3 and python3-venv"
fi

# knotd and knotc live in /usr/sbin, which a non-login shell may not have on PATH.
export PATH="$PATH:/usr/sbin:/sbin"
if ! { command -v knotd >/dev/null 2>&1 && command -v knotc >/dev/null 2>&1; }; then
  command -v apt-get >/dev/null 2>&1 || die "knotd/knotc missing and apt-get is not available: install the Debian package knot yourself"
  echo "$SETUP_NAME: installing Debian's knot" >&2
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq knot >/dev/null || die "apt-get install knot failed"
fi
knotd --version >/dev/null 2>&1 || die "knotd is still missing or does not run after installing the knot package"

# One install at a time per cache (two checkouts may run this at once).
exec 9>"$cache/venv-moto.lock"
flock 9

if [[ -f "$marker" && -x "$venv/bin/moto_server" ]]; then
  echo "moto: cached $venv (moto $moto_version)" >&2
else
  echo "moto: installing moto[server]==$moto_version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" || die "python3 -m venv $venv failed"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$moto_version" ||
    die "pip install moto[server]==$moto_version failed; see pip's output above"
  [[ -x "$venv/bin/moto_server" ]] || die "moto installed without its moto_server script"
  touch "$marker"
fi

"$venv/bin/python" -c 'import moto, flask' || die "the moto virtualenv at $venv is broken; delete it and run again"
record moto-server "$venv/bin/moto_server"
