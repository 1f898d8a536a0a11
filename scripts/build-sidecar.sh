#!/usr/bin/env bash
# Builds the kafkadeps-sidecar binary as it ships in the sidecar image and prints its path:
#
#   scripts/build-sidecar.sh
#
# - `dist` profile: size-optimised (`opt-level = "z"`), fat LTO, one codegen unit, stripped;
# - OpenSSL, libcurl and zlib built from source and linked in (feature `vendored`); no Cyrus SASL
#   (GSSAPI is opt-in: `--features gssapi`) and no admission webhook (the injector's image adds
#   `--features inject`); extra arguments go to cargo;
# - statically linked, non-PIE (`static_build` in lib/prereqs.sh): no dynamic loader, no shared
#   libraries, no start-up relocations — it runs in a `scratch`/distroless image, and its idle
#   resident memory is what it touches of its own code (see docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/prereqs.sh
. scripts/lib/prereqs.sh

dir=$(static_build kafkadeps-sidecar --no-default-features --features vendored "$@")
echo "$dir/kafkadeps-sidecar"
