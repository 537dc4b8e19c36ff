#!/usr/bin/env bash
# The grpc-clients suite: CreateCertificate through three real gRPC clients other than meshsign's
# own. It needs
#   istio-client   Istio's own CA client (the Go module test/kube/istio-client pins), built and
#                  cached by test/kube/setup.sh istio-client
#   grpcio         Python's gRPC (grpcio and grpcio-tools from PyPI), in a virtualenv in the same
#                  cache as the Go-built test servers: ${MESHSIGN_CACHE:-$HOME/.cache/meshsign}/venv-grpcio,
#                  reused when it holds the pinned versions, recorded as MESHSIGN_GRPCIO_PYTHON
# (grpc-js comes with npm ci). Needs python3 with the venv module; installs Debian's python3 and
# python3-venv when missing.
#
# Usage: bash test/grpc-clients/setup.sh
set -euo pipefail

grpcio_version="1.85.1"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SETUP_NAME=test/grpc-clients/setup.sh
# shellcheck source=../lib/go-tools.sh
source "$here/../lib/go-tools.sh"

bash "$here/../kube/setup.sh" istio-client || die "cannot build Istio's CA client (test/kube/setup.sh istio-client)"

venv="$cache/venv-grpcio"
marker="$venv/.meshsign-grpcio-$grpcio_version"

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "$SETUP_NAME: installing Debian's python3 and python3-venv" >&2
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv || die "cannot install python3 and python3-venv"
fi

# One install at a time per cache (two checkouts may run this at once).
exec 9>"$cache/venv-grpcio.lock"
flock 9

if [[ -f "$marker" && -x "$venv/bin/python" ]]; then
  echo "grpcio: cached $venv (grpcio $grpcio_version)" >&2
else
  echo "grpcio: installing grpcio==$grpcio_version grpcio-tools==$grpcio_version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" || die "python3 -m venv $venv failed"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "grpcio==$grpcio_version" "grpcio-tools==$grpcio_version" ||
    die "pip install grpcio==$grpcio_version grpcio-tools==$grpcio_version failed; see pip's output above"
  touch "$marker"
fi

"$venv/bin/python" -c 'import grpc, grpc_tools.protoc' || die "the grpcio virtualenv at $venv is broken; delete it and run again"
record grpcio-python "$venv/bin/python"
