# Shared by the setup scripts of the suites whose servers and peers are built from Go modules
# (test/kube, test/acme, test/spiffe, test/vault): where the binaries are cached, how they are built from the
# go.mod/go.sum committed beside each harness, and how the harnesses find them.
#
# Source it after setting SETUP_NAME (the script's name, for messages). Binaries go to
# ${MESHSIGN_CACHE:-$HOME/.cache/meshsign}/bin/<name>-<version>-<hash>, so a changed go.sum builds
# anew and an unchanged one takes seconds; each is recorded as MESHSIGN_<NAME> in bin/harness.env,
# which the harnesses read (the same variable in the environment overrides it). Only binaries
# whose build succeeded are recorded.

cache="${MESHSIGN_CACHE:-$HOME/.cache/meshsign}"
bin="$cache/bin"
mkdir -p "$bin"
env_file="$bin/harness.env"
touch "$env_file"

die() {
  echo "$SETUP_NAME: $*" >&2
  exit 1
}

# require_go MAJOR.MINOR WHAT: stop with a clear message when Go is missing or older than needed
# (an older Go fails deep in the build, with a less helpful message).
require_go() {
  local need="$1" what="$2"
  command -v go >/dev/null 2>&1 || die "Go is not installed; $what (install a Go >= $need toolchain; Debian's golang-go is older)"
  local version major minor
  version="$(go env GOVERSION | sed 's/^go//')"
  major="${version%%.*}"
  minor="$(echo "$version" | cut -d. -f2)"
  if ((major < ${need%%.*} || (major == ${need%%.*} && minor < ${need#*.}))); then
    die "Go $version is too old: $what needs Go >= $need"
  fi
}

# The module graph comes from go.mod/go.sum as committed: never -mod=mod.
unset GOFLAGS
export GOFLAGS=-buildvcs=false
export CGO_ENABLED=0

# module_version DIR MODULE: the version DIR's go.mod selects for MODULE.
module_version() {
  (cd "$1" && go list -m -f '{{.Version}}' "$2")
}

# sum_hash DIR [FILE...]: a short hash of DIR's go.mod and go.sum (and FILEs), part of the cache key.
sum_hash() {
  local dir="$1"
  shift
  cat "$dir/go.mod" "$dir/go.sum" "$@" | sha256sum | cut -c1-12
}

# record NAME PATH: remember PATH for NAME in the env file the harnesses read.
record() {
  local key tmp
  key="MESHSIGN_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  tmp="$(mktemp "$env_file.XXXXXX")"
  grep -v "^$key=" "$env_file" >"$tmp" || true
  echo "$key=$2" >>"$tmp"
  mv -f "$tmp" "$env_file"
  echo "$key=$2"
}

# build NAME DIR PACKAGE VERSION [HASH]: go build PACKAGE in DIR into the cache unless present
# (HASH defaults to sum_hash DIR), then record it.
build() {
  local name="$1" dir="$2" pkg="$3" version="$4"
  local out="$bin/$name-$version-${5:-$(sum_hash "$dir")}"
  if [[ -x "$out" ]]; then
    echo "$name: cached $out" >&2
  else
    echo "$name: building $pkg ($version); a first build takes a while on 2 cores" >&2
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
