#!/usr/bin/env bash
# A real kube-apiserver + etcd on 127.0.0.1 for the admission-webhook tests, built from their Go
# modules (no Docker, no kubelet: admission needs neither).
#
#   scripts/kube.sh build          # build kube-apiserver and etcd once (cached); prints their dir
#   scripts/kube.sh up DIR         # start both with state in DIR; prints the API server URL
#   scripts/kube.sh down DIR       # stop what `up DIR` started
#
# `up` writes DIR/token (a bearer token of a cluster-admin user, system:masters), DIR/ca.crt (the
# API server's serving CA) and DIR/kubeconfig.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/prereqs.sh
. scripts/lib/prereqs.sh

KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.7}"
BIN="$KAFKADEPS_CACHE/kube-$KUBE_VERSION"

log() { echo "kube.sh: $*" >&2; }

build_apiserver() {
  [ -x "$BIN/kube-apiserver" ] && return 0
  command -v go >/dev/null 2>&1 || { log "go not found"; return 1; }
  local src="$KAFKADEPS_CACHE/kube-src-$KUBE_VERSION" gomod staging minor
  mkdir -p "$src" "$BIN"
  log "building kube-apiserver $KUBE_VERSION from its Go module (once; several minutes)"
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  minor="v0.${KUBE_VERSION#v1.}"
  # k8s.io/kubernetes replaces its staging modules with ./staging paths; point them at the
  # published modules of the same release instead.
  staging=$(sed -n 's/^\s*\(k8s.io\/[a-z0-9-]*\) => \.\/staging.*/\1/p' "$gomod")
  (
    cd "$src"
    [ -f go.mod ] || go mod init kafkadeps.local/kube >/dev/null 2>&1
    cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
    for m in $staging; do go mod edit -replace "$m=$m@$minor"; done
    go mod edit -require "k8s.io/kubernetes@$KUBE_VERSION"
    GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION"
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  )
}

build_etcd() {
  [ -x "$BIN/etcd" ] && return 0
  local src="$KAFKADEPS_CACHE/etcd-src-$ETCD_VERSION"
  mkdir -p "$src" "$BIN"
  log "building etcd $ETCD_VERSION from its Go module (once)"
  (
    cd "$src"
    [ -f go.mod ] || go mod init kafkadeps.local/etcd >/dev/null 2>&1
    cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1
    GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$BIN/etcd" .
  )
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cmd_up() {
  local dir="$1" etcd_port peer_port api_port
  build_apiserver; build_etcd
  mkdir -p "$dir"
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
  "$BIN/etcd" --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "default=http://127.0.0.1:$peer_port" --log-level warn \
    > "$dir/etcd.log" 2>&1 &
  echo $! > "$dir/etcd.pid"
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  local token
  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$token" > "$dir/token"
  echo "$token,kafkadeps-admin,1,system:masters" > "$dir/tokens.csv"
  "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" --bind-address 127.0.0.1 \
    --advertise-address 127.0.0.1 --secure-port "$api_port" --cert-dir "$dir/certs" \
    --service-cluster-ip-range 10.0.0.0/24 --authorization-mode RBAC --allow-privileged=true \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$dir/sa.pub" \
    --service-account-signing-key-file "$dir/sa.key" --token-auth-file "$dir/tokens.csv" \
    --enable-priority-and-fairness=false --disable-admission-plugins ServiceAccount \
    > "$dir/apiserver.log" 2>&1 &
  echo $! > "$dir/apiserver.pid"
  local url="https://127.0.0.1:$api_port" i
  for i in $(seq 1 240); do
    if curl -sk -H "Authorization: Bearer $token" "$url/readyz" 2>/dev/null | grep -q '^ok$'; then
      cp "$dir/certs/apiserver.crt" "$dir/ca.crt"
      cat > "$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "$url", certificate-authority: "$dir/ca.crt"}}]
users: [{name: admin, user: {token: "$token"}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
KC
      echo "$url"
      return 0
    fi
    sleep 0.5
  done
  log "kube-apiserver not ready; see $dir/apiserver.log"
  tail -20 "$dir/apiserver.log" >&2
  cmd_down "$dir"
  return 1
}

cmd_down() {
  local dir="$1" f
  for f in apiserver etcd; do
    if [ -f "$dir/$f.pid" ]; then
      kill "$(cat "$dir/$f.pid")" 2>/dev/null || true
      rm -f "$dir/$f.pid"
    fi
  done
}

case "${1:-}" in
  build) build_apiserver; build_etcd; echo "$BIN" ;;
  up) cmd_up "${2:?usage: kube.sh up DIR}" ;;
  down) cmd_down "${2:?usage: kube.sh down DIR}" ;;
  *) echo "usage: scripts/kube.sh build | up DIR | down DIR" >&2; exit 64 ;;
esac
