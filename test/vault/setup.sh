#!/usr/bin/env bash
# Builds the HashiCorp Vault server meshsign's Vault suite runs against, from
# the Go module github.com/hashicorp/vault, and caches it so a second run takes
# seconds (the same cache as test/kube/setup.sh):
#   ${MESHSIGN_CACHE:-$HOME/.cache/meshsign}/bin/vault-<version>-<recipe hash>
# recorded as MESHSIGN_VAULT in bin/harness.env (or set MESHSIGN_VAULT yourself).
#
# Why not `go install github.com/hashicorp/vault@<version>`: Vault's go.mod
# replaces github.com/hashicorp/vault/api, api/auth/* and sdk with nested
# folders that the module zip does not contain, and no released sdk matches the
# tree exactly. The recipe below:
#   1. copies the module's source to a writable folder;
#   2. puts the released sdk v0.21.0 at ./sdk, with sdk v0.24.0's
#      helper/keysutil/lock_manager.go (RestorePolicy returns (string, error))
#      and framework.ActivationFunc without the third argument, which is what
#      the v1.21.4 tree calls;
#   3. drops the api replaces, so the released api version named in go.mod is used;
#   4. go build -mod=mod.
# A cold build takes ~16 minutes and ~6 GB of memory on 2 idle cores (40 minutes
# on a busy shared machine); cached, it is not rebuilt.
#
# It also makes sure the Kubernetes suite's kube-apiserver and etcd are built
# (test/kube/setup.sh), which the Kubernetes auth test starts next to Vault.
#
# Usage: bash test/vault/setup.sh
set -euo pipefail

vault_version="${MESHSIGN_VAULT_VERSION:-v1.21.4}"
sdk_base="v0.21.0"
sdk_lock_manager="v0.24.0"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SETUP_NAME=test/vault/setup.sh
# shellcheck source=../lib/go-tools.sh
source "$here/../lib/go-tools.sh"

require_go 1.25 "the Vault suite builds Vault $vault_version from its Go module"

# The Kubernetes auth test (kubernetes-auth.test.ts) points Vault at a real kube-apiserver:
# the Kubernetes suite's binaries, built (or found cached) by its own setup.
bash "$here/../kube/setup.sh" kube-apiserver etcd

# module_dir MODULE@VERSION: the read-only module cache folder of MODULE@VERSION.
module_dir() {
  local dir
  dir="$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || die "go mod download $1 gave no folder"
  echo "$dir"
}

# The cache key covers the Vault version and this recipe (the sdk versions and patches).
recipe_hash="$(printf '%s\n' "$vault_version" "$sdk_base" "$sdk_lock_manager" "activationfunc-2arg" "dropreplace-api" | sha256sum | cut -c1-12)"
out="$bin/vault-$vault_version-$recipe_hash"

if [[ -x "$out" ]]; then
  echo "vault: cached $out" >&2
  record vault "$out"
  exit 0
fi

echo "vault: building github.com/hashicorp/vault $vault_version; the first build takes 16-40 minutes on 2 cores" >&2
start=$SECONDS

vault_src="$(module_dir "github.com/hashicorp/vault@$vault_version")"
sdk_src="$(module_dir "github.com/hashicorp/vault/sdk@$sdk_base")"
lock_src="$(module_dir "github.com/hashicorp/vault/sdk@$sdk_lock_manager")"

# A private work folder and output name, so two builds at once (two checkouts) do not collide.
mkdir -p "$cache/src"
work="$(mktemp -d "$cache/src/vault-$vault_version-XXXXXX")"
tmp_out="$out.tmp.$$"
cp -r "$vault_src/." "$work/"
chmod -R u+w "$work"
rm -rf "$work/sdk"
cp -r "$sdk_src" "$work/sdk"
chmod -R u+w "$work/sdk"
cp "$lock_src/helper/keysutil/lock_manager.go" "$work/sdk/helper/keysutil/lock_manager.go"
chmod u+w "$work/sdk/helper/keysutil/lock_manager.go"

backend="$work/sdk/framework/backend.go"
grep -q 'ActivationFunc func(context.Context, \*logical.Request, string) error' "$backend" ||
  die "sdk $sdk_base framework/backend.go no longer declares the 3-argument ActivationFunc this recipe patches"
sed -i 's/ActivationFunc func(context.Context, \*logical.Request, string) error/ActivationFunc func(context.Context, *logical.Request) error/' "$backend"

(
  cd "$work"
  for m in github.com/hashicorp/vault/api github.com/hashicorp/vault/api/auth/approle \
    github.com/hashicorp/vault/api/auth/kubernetes github.com/hashicorp/vault/api/auth/userpass; do
    go mod edit -dropreplace="$m"
  done
)

if ! (cd "$work" && go build -mod=mod -trimpath -ldflags='-s -w' -o "$tmp_out" .); then
  rm -f "$tmp_out"
  die "building vault $vault_version failed; see the go build output above (source kept in $work)"
fi
"$tmp_out" version >&2 || die "the built vault binary does not run"
mv -f "$tmp_out" "$out"
rm -rf "$work"
echo "vault: built $out in $((SECONDS - start))s" >&2
record vault "$out"
