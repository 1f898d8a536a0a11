#!/usr/bin/env bash
# Builds Dapr's sidecar, `daprd`, from its Go module (once per version, cached outside the
# checkout) and prints the binary's path:
#
#   benches/peers/daprd.sh            # DAPR_VERSION (default below)
#
# Upstream builds daprd with `-tags allcomponents` (or stablecomponents), which compiles every
# component Dapr has. This build is a wrapper module that runs daprd's own `cmd/daprd/app`
# (copied from the module, minus its all-components import) with the two components a
# self-hosted Kafka pub/sub needs: `pubsub.kafka` and the `mdns` name resolver. The wrapper copies
# daprd's `replace` directives, as scripts/kube.sh does for kube-apiserver. v1.16.0 by default:
# the module proxy reachable here serves neither daprd v1.16.1's version info nor the
# components-contrib release that v1.16.2 requires.
set -euo pipefail

DAPR_VERSION="${DAPR_VERSION:-v1.16.0}"
cache=${KAFKADEPS_CACHE:-$HOME/.cache/kafkadeps}
out=$cache/peers/daprd-$DAPR_VERSION
src=$cache/peers/daprd-src-$DAPR_VERSION
log() { echo "daprd.sh: $*" >&2; }

if [ ! -x "$out/daprd" ]; then
  command -v go >/dev/null 2>&1 || { log "go not found"; exit 1; }
  log "building daprd $DAPR_VERSION from its Go module (once; several minutes)"
  info=$(go mod download -json "github.com/dapr/dapr@$DAPR_VERSION" || true)
  dir=$(sed -n 's/.*"Dir": "\(.*\)",/\1/p' <<<"$info")
  [ -d "$dir/cmd/daprd/app" ] || { log "cannot download github.com/dapr/dapr@$DAPR_VERSION: $info"; exit 1; }
  mkdir -p "$src/app" "$out"
  cd "$src"
  [ -f go.mod ] || go mod init kafkadeps.local/daprd >/dev/null 2>&1
  go mod edit -require "github.com/dapr/dapr@$DAPR_VERSION"
  # daprd's replace directives (one per line: OLD => NEW VERSION).
  sed -n '/^replace (/,/^)/p' "$dir/go.mod" | sed -n 's/^\s*\([^ /][^ ]*\) => \([^ ]*\) \([^ ]*\)$/\1=\2@\3/p' |
    while read -r r; do go mod edit -replace "$r"; done
  sed '/"github.com\/dapr\/dapr\/cmd\/daprd\/components"/d; /Register all components/d' \
    "$dir/cmd/daprd/app/app.go" >app/app.go
  cat >main.go <<'EOF'
// daprd with the Kafka pub/sub and the mdns name resolver only (see benches/peers/daprd.sh).
package main

import (
	"github.com/dapr/components-contrib/nameresolution/mdns"
	"github.com/dapr/components-contrib/pubsub/kafka"
	nrLoader "github.com/dapr/dapr/pkg/components/nameresolution"
	pubsubLoader "github.com/dapr/dapr/pkg/components/pubsub"

	"kafkadeps.local/daprd/app"
)

func main() {
	pubsubLoader.DefaultRegistry.RegisterComponent(kafka.NewKafka, "kafka")
	nrLoader.DefaultRegistry.RegisterComponent(mdns.NewResolver, "mdns")
	app.Run()
}
EOF
  # -e: some modules that only tests of daprd's packages import are missing from the proxy.
  GOFLAGS=-mod=mod go mod tidy -e >&2
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=${DAPR_VERSION#v}" -o "$out/daprd" . >&2
fi
echo "$out/daprd"
