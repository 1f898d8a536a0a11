# shellcheck shell=bash
# Sourced by demo.sh and test.sh: build prerequisites and shared cache locations.

export KAFKADEPS_CACHE="${KAFKADEPS_CACHE:-$HOME/.cache/kafkadeps}"
# Builds are reused across clones: the target dir lives outside the checkout.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KAFKADEPS_CACHE/target}"
# Incremental compilation caches only grow in a reused target dir (tens of GB over a few dozen
# runs) and buy little for builds that start from a fresh clone.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# Cargo never removes stale artifacts, and every clone path and feature set adds its own: past
# this many GB the target dir is emptied (one cold build instead of a full disk).
KAFKADEPS_TARGET_MAX_GB="${KAFKADEPS_TARGET_MAX_GB:-40}"

# Debian packages librdkafka's vendored build (rdkafka's cmake-build) and the broker need.
KAFKADEPS_DEBIAN_PACKAGES=(cmake build-essential libcurl4-openssl-dev libssl-dev libsasl2-dev zlib1g-dev maven openjdk-17-jre-headless)

# ensure_debian_packages [extra packages...]: the build packages plus any extra ones.
ensure_debian_packages() {
  local missing=() p
  command -v dpkg-query >/dev/null 2>&1 || return 0   # not Debian: the README lists what to install
  for p in "${KAFKADEPS_DEBIAN_PACKAGES[@]}" "$@"; do
    # A Java 17+ runtime from elsewhere (e.g. a JDK) is as good as the Debian one.
    if [ "$p" = openjdk-17-jre-headless ] && command -v java >/dev/null 2>&1; then continue; fi
    if [ "$p" = maven ] && command -v mvn >/dev/null 2>&1; then continue; fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "missing Debian packages: ${missing[*]} (install them, then retry)" >&2; return 1; }
    sudo="sudo"
  fi
  echo "installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_rust() {
  command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust (https://rustup.rs)" >&2; return 1; }
  ensure_pinned_toolchain
  [ -d "$CARGO_TARGET_DIR" ] || return 0
  local gb
  gb=$(du -s --block-size=1G "$CARGO_TARGET_DIR" 2>/dev/null | cut -f1)
  if [ "${gb:-0}" -gt "$KAFKADEPS_TARGET_MAX_GB" ]; then
    echo "$CARGO_TARGET_DIR holds $gb GB (more than KAFKADEPS_TARGET_MAX_GB=$KAFKADEPS_TARGET_MAX_GB): emptying it" >&2
    rm -rf "$CARGO_TARGET_DIR"
  fi
}

# rust-toolchain.toml pins the toolchain. rustup installs it on first use where its download
# server is reachable; offline, when the installed stable toolchain is that very release, it is
# made known to rustup under the pinned name (a link, nothing is downloaded).
ensure_pinned_toolchain() {
  local pinned host home stable
  command -v rustup >/dev/null 2>&1 || return 0
  pinned=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml 2>/dev/null)
  [ -n "$pinned" ] || return 0
  rustup toolchain list | grep -q "^$pinned-" && return 0
  stable=$(rustup run stable rustc --version 2>/dev/null | cut -d' ' -f2)
  if [ "$stable" != "$pinned" ]; then
    echo "rust-toolchain.toml pins Rust $pinned; rustup installs it on first use (stable here is ${stable:-missing})" >&2
    return 0
  fi
  host=$(rustup run stable rustc -vV | sed -n 's/^host: //p')
  home="${RUSTUP_HOME:-$HOME/.rustup}"
  ln -s "$home/toolchains/stable-$host" "$home/toolchains/$pinned-$host"
  echo "rust-toolchain.toml: using the installed stable toolchain (Rust $pinned)" >&2
}

# A Python virtualenv with the test peers (tests/requirements.txt), cached outside the checkout.
# Exports KAFKADEPS_PYTHON for the tests.
ensure_python_venv() {
  local venv="$KAFKADEPS_CACHE/venv" req="tests/requirements.txt" stamp
  stamp="$venv/.requirements-$(sha256sum "$req" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "installing Python test peers into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    touch "$stamp"
  fi
  export KAFKADEPS_PYTHON="$venv/bin/python"
}

# The real helm CLI, built from its Go module (no replace directives, so `go install` works) and
# cached outside the checkout. Exports KAFKADEPS_HELM for the chart tests.
KAFKADEPS_HELM_VERSION="${KAFKADEPS_HELM_VERSION:-v3.22.0}"
ensure_helm() {
  local bin="$KAFKADEPS_CACHE/bin/helm-$KAFKADEPS_HELM_VERSION"
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null 2>&1 || { echo "go not found: needed to build helm (https://go.dev/dl)" >&2; return 1; }
    echo "building helm $KAFKADEPS_HELM_VERSION from its Go module (once)" >&2
    mkdir -p "$KAFKADEPS_CACHE/bin"
    local gobin
    gobin=$(mktemp -d)
    GOBIN="$gobin" CGO_ENABLED=0 go install "helm.sh/helm/v3/cmd/helm@$KAFKADEPS_HELM_VERSION"
    mv "$gobin/helm" "$bin"
    rmdir "$gobin"
  fi
  export KAFKADEPS_HELM="$bin"
}

# KEDA's ScaledObject CRD, from KEDA's Go module (its config/crd/bases), cached outside the
# checkout: the chart tests validate rendered ScaledObjects against its schema. Exports
# KAFKADEPS_KEDA_CRD.
KAFKADEPS_KEDA_VERSION="${KAFKADEPS_KEDA_VERSION:-v2.18.1}"
ensure_keda_crd() {
  local crd="$KAFKADEPS_CACHE/keda-$KAFKADEPS_KEDA_VERSION/keda.sh_scaledobjects.yaml"
  if [ ! -f "$crd" ]; then
    command -v go >/dev/null 2>&1 || { echo "go not found: needed to fetch KEDA's CRD" >&2; return 1; }
    echo "fetching KEDA $KAFKADEPS_KEDA_VERSION's CRDs from its Go module (once)" >&2
    local dir gomod
    gomod=$(mktemp -d)
    dir=$(cd "$gomod" && GOFLAGS=-mod=mod go mod download -json "github.com/kedacore/keda/v2@$KAFKADEPS_KEDA_VERSION" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') || { rm -rf "$gomod"; return 1; }
    rm -rf "$gomod"
    mkdir -p "$(dirname "$crd")"
    cp "$dir/config/crd/bases/keda.sh_scaledobjects.yaml" "$crd"
  fi
  export KAFKADEPS_KEDA_CRD="$crd"
}

# Node packages of the chart tests (tests/node: Strimzi's KafkaTopic schema as compiled
# validators), installed once per package-lock into the cache. Exports KAFKADEPS_NODE_MODULES.
ensure_node_packages() {
  local lock="tests/node/package-lock.json" dir stamp
  command -v npm >/dev/null 2>&1 || { echo "npm not found: install Node.js" >&2; return 1; }
  dir="$KAFKADEPS_CACHE/node-$(sha256sum "$lock" | cut -c1-16)"
  if [ ! -d "$dir/node_modules" ]; then
    echo "installing Node test packages into $dir" >&2
    mkdir -p "$dir"
    cp tests/node/package.json "$lock" "$dir/"
    (cd "$dir" && npm ci --silent --no-audit --no-fund >/dev/null)
  fi
  export KAFKADEPS_NODE_MODULES="$dir/node_modules"
}

# static_build [--profile P] PACKAGE [cargo args...]: builds PACKAGE's binaries as they ship in
# images — profile P (default `dist`), statically linked, non-PIE (`+crt-static`,
# `relocation-model=static`: no loader, no shared libraries, no start-up relocations) — and
# prints the directory holding them. The explicit `--target` keeps these flags away from build
# scripts and proc macros.
# Called as `dir=$(static_build …)`: a command substitution does not inherit `set -e`, so a
# failed build must return its status itself (or the caller would go on with a stale binary).
static_build() {
  local profile=dist package host
  if [ "$1" = --profile ]; then profile="$2"; shift 2; fi
  package="$1"
  shift
  host=$(rustc -vV | sed -n 's/^host: //p')
  RUSTFLAGS="-C relocation-model=static -C target-feature=+crt-static" \
    cargo build --locked --profile "$profile" -p "$package" --target "$host" "$@" >&2 || return
  echo "$CARGO_TARGET_DIR/$host/$profile"
}

# podman as it runs on these machines: runc (crun refuses their hybrid cgroups) and cgroupfs
# (no systemd). Installs podman and runc from Debian first.
ensure_podman() {
  ensure_debian_packages podman runc ca-certificates
}
kd_podman() {
  podman --runtime runc --cgroup-manager cgroupfs "$@"
}

# Prometheus with its Kubernetes service discovery, built from its Go module (Debian's package
# leaves that discovery out) and cached outside the checkout. Exports KAFKADEPS_PROMETHEUS.
KAFKADEPS_PROMETHEUS_VERSION="${KAFKADEPS_PROMETHEUS_VERSION:-v0.316.0}"
ensure_prometheus() {
  local bin="$KAFKADEPS_CACHE/bin/prometheus-$KAFKADEPS_PROMETHEUS_VERSION"
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null 2>&1 || { echo "go not found: needed to build prometheus" >&2; return 1; }
    echo "building prometheus $KAFKADEPS_PROMETHEUS_VERSION from its Go module (once)" >&2
    mkdir -p "$KAFKADEPS_CACHE/bin"
    local gobin
    gobin=$(mktemp -d)
    GOBIN="$gobin" CGO_ENABLED=0 go install "github.com/prometheus/prometheus/cmd/prometheus@$KAFKADEPS_PROMETHEUS_VERSION"
    mv "$gobin/prometheus" "$bin"
    rmdir "$gobin"
  fi
  export KAFKADEPS_PROMETHEUS="$bin"
}
