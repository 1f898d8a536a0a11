#!/usr/bin/env bash
# The container images of kafkadeps, built locally with podman (no registry, no Docker engine):
#
#   scripts/images.sh build [--tag T] [NAME...]   # build kafkadeps/<name>:<T> (default: the crate version)
#   scripts/images.sh save DIR [--tag T] [NAME...] # write each image as DIR/<name>-<T>.tar (docker-archive)
#   scripts/images.sh names                       # the image names
#
# Images (NAME): sidecar (the pod build of kafkadeps-sidecar), injector (the webhook build),
# orders-service, billing-service (the Rust examples), python-app (the Python example). All but
# python-app are `FROM scratch`: a static binary, CA certificates and a passwd entry for the
# non-root user 65532. python-app's base, kafkadeps/python-base:bookworm, is Debian's python3
# extracted by mmdebstrap and imported into podman; its root filesystem is cached.
# `build` prints each image's size (uncompressed and gzip-compressed, as a registry stores it).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/prereqs.sh
. scripts/lib/prereqs.sh

NAMES=(sidecar injector orders-service billing-service python-app)
PYTHON_BASE=localhost/kafkadeps/python-base:bookworm
STAGE="$KAFKADEPS_CACHE/images"

log() { echo "images.sh: $*" >&2; }
die() { log "$*"; exit 64; }

crate_version() { sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1; }

# The parts every scratch image has: the non-root user and the CA certificates.
stage_base() {
  local dir="$1"
  rm -rf "$dir"
  mkdir -p "$dir/bin" "$dir/etc/ssl/certs"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$dir/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$dir/etc/group"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
}

# Debian's python3 and what it depends on, extracted (no maintainer scripts, no package manager,
# no shell scripts run) and imported as an image; the root filesystem tarball is cached.
python_base() {
  kd_podman image exists "$PYTHON_BASE" && return 0
  local tar="$STAGE/python-base-bookworm.tar"
  if [ ! -f "$tar" ]; then
    ensure_debian_packages mmdebstrap
    log "building $PYTHON_BASE from Debian's packages (once)"
    mkdir -p "$STAGE"
    mmdebstrap --quiet --mode=root --variant=extract --include=python3 \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      bookworm "$STAGE/python-base.partial.tar" http://deb.debian.org/debian
    mv "$STAGE/python-base.partial.tar" "$tar"
  fi
  kd_podman import --quiet "$tar" "$PYTHON_BASE" >/dev/null
}

# stage NAME DIR: the build context of image NAME; prints its Containerfile.
stage() {
  local name="$1" dir="$2" out
  case "$name" in
    sidecar|injector)
      stage_base "$dir"
      if [ "$name" = injector ]; then
        out=$(scripts/build-sidecar.sh --quiet --features inject)
      else
        out=$(scripts/build-sidecar.sh --quiet)
      fi
      cp "$out" "$dir/bin/kafkadeps-sidecar"
      [ "$name" = injector ] && echo sidecar/Containerfile.injector || echo sidecar/Containerfile
      ;;
    orders-service|billing-service)
      stage_base "$dir"
      # The examples are not size-tuned: `release` builds them in a fraction of `dist`'s time.
      out=$(static_build --profile release "example-$name" --quiet --no-default-features --features vendored)
      cp "$out/example-$name" "$dir/bin/"
      echo "examples/$name/Containerfile"
      ;;
    python-app)
      python_base
      stage_base "$dir"
      cp examples/python-app/app.py "$dir/"
      echo examples/python-app/Containerfile
      ;;
    *) die "unknown image $name (one of: ${NAMES[*]})" ;;
  esac
}

# Size of an image in MB: uncompressed, and as the gzip of its layers a registry stores.
sizes() {
  local image="$1" raw packed
  raw=$(kd_podman image inspect --format '{{.Size}}' "$image")
  packed=$(kd_podman save "$image" 2>/dev/null | gzip -6 -c | wc -c)
  awk -v r="$raw" -v p="$packed" 'BEGIN { printf "%.1f MB, %.1f MB compressed", r / 1e6, p / 1e6 }'
}

cmd_build() {
  local tag="$1" name file
  shift
  ensure_podman
  ensure_rust
  for name in "$@"; do
    file=$(stage "$name" "$STAGE/$name")
    kd_podman build --quiet --pull=never --tag "kafkadeps/$name:$tag" --file "$file" "$STAGE/$name" >/dev/null
    log "kafkadeps/$name:$tag ($(sizes "kafkadeps/$name:$tag"))"
  done
  # Rebuilding a tag leaves the previous image untagged: drop those of ours.
  kd_podman image prune --force --filter label=io.kafkadeps.image >/dev/null
}

cmd_save() {
  local dir="$1" tag="$2" name
  shift 2
  ensure_podman
  mkdir -p "$dir"
  for name in "$@"; do
    kd_podman image exists "kafkadeps/$name:$tag" \
      || die "kafkadeps/$name:$tag is not built: run scripts/images.sh build --tag $tag $name"
    rm -f "$dir/$name-$tag.tar"
    kd_podman save --quiet --format docker-archive -o "$dir/$name-$tag.tar" "kafkadeps/$name:$tag"
    echo "$dir/$name-$tag.tar"
  done
}

command="${1:-}"
[ $# -gt 0 ] && shift
dir=""
if [ "$command" = save ]; then
  dir="${1:?usage: scripts/images.sh save DIR [--tag T] [NAME...]}"
  shift
fi
tag=$(crate_version)
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
    -*) die "unknown option $1" ;;
    *) names+=("$1"); shift ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=("${NAMES[@]}")
for n in "${names[@]}"; do
  [[ " ${NAMES[*]} " == *" $n "* ]] || die "unknown image $n (one of: ${NAMES[*]})"
done

case "$command" in
  build) cmd_build "$tag" "${names[@]}" ;;
  save) cmd_save "$dir" "$tag" "${names[@]}" ;;
  names) printf '%s\n' "${NAMES[@]}" ;;
  *) echo "usage: scripts/images.sh build [--tag T] [NAME...] | save DIR [--tag T] [NAME...] | names" >&2; exit 64 ;;
esac
