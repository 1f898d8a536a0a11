#!/usr/bin/env bash
# Builds the kafkadeps-sidecar binary as it ships in the sidecar image and prints its path:
#
#   scripts/build-sidecar.sh
#
# - `dist` profile: size-optimised (`opt-level = "z"`), fat LTO, one codegen unit, stripped;
# - OpenSSL, libcurl and zlib built from source and linked in (feature `vendored`); no Cyrus SASL
#   (GSSAPI is opt-in: `--features gssapi`) and no admission webhook (the injector's image adds
#   `--features inject`); extra arguments go to cargo;
# - statically linked, non-PIE (`+crt-static`, `relocation-model=static`): no dynamic loader, no
#   shared libraries, no start-up relocations — it runs in a `scratch`/distroless image, and its
#   idle resident memory is what it touches of its own code (see docs/benchmarks.md).
#
# The explicit `--target` keeps these flags away from build scripts and proc macros.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/prereqs.sh
. scripts/lib/prereqs.sh

host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C relocation-model=static -C target-feature=+crt-static" \
  cargo build --locked --profile dist -p kafkadeps-sidecar --target "$host" \
  --no-default-features --features vendored "$@" >&2
echo "$CARGO_TARGET_DIR/$host/dist/kafkadeps-sidecar"
