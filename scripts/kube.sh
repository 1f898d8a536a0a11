#!/usr/bin/env bash
# A real Kubernetes control plane on 127.0.0.1, built from the Go modules of its components (no
# Docker, no kind): etcd and kube-apiserver for the admission-webhook tests; with --node also
# kube-controller-manager, kube-scheduler, containerd and a kubelet running real pods.
#
#   scripts/kube.sh build                     # build every binary once (cached); prints their dir
#   scripts/kube.sh up DIR [--node [--images TAG]]
#                                             # start with state in DIR; prints the API server URL
#   scripts/kube.sh load DIR TAG              # import podman's kafkadeps/*:TAG images into the node
#   scripts/kube.sh down DIR                  # stop what `up DIR` started (pods included)
#
# `up` writes DIR/token (a bearer token of a cluster-admin user, system:masters), DIR/ca.crt (the
# API server's serving CA) and DIR/kubeconfig. With --node it also starts the node `kafkadeps-node`
# (containerd 1.6 + runc from Debian, its state under DIR; pods use `hostNetwork: true`, as there
# is no CNI, and reach Kafka on 127.0.0.1; the node's IP, 10.254.254.1 or KAFKADEPS_NODE_IP, is
# added to the loopback device, so pod IPs are reachable from this host only), imports the locally built images (`scripts/images.sh
# build --tag TAG`; TAG defaults to the crate version) and waits until the node is Ready. Pod logs
# are under DIR/pod-logs/<namespace>_<pod>_<uid>/<container>/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/prereqs.sh
. scripts/lib/prereqs.sh

KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.7}"
BIN="$KAFKADEPS_CACHE/kube-$KUBE_VERSION"

log() { echo "kube.sh: $*" >&2; }

# The Kubernetes binaries this script runs, all built from one wrapper module of k8s.io/kubernetes.
KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet)

# build_kube CMD...: builds the named k8s.io/kubernetes commands into $BIN (once each).
build_kube() {
  local missing=() c
  for c in "$@"; do [ -x "$BIN/$c" ] || missing+=("$c"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v go >/dev/null 2>&1 || { log "go not found"; return 1; }
  local src="$KAFKADEPS_CACHE/kube-src-$KUBE_VERSION" gomod staging minor
  mkdir -p "$src" "$BIN"
  log "building ${missing[*]} $KUBE_VERSION from the Go module (once; several minutes)"
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  minor="v0.${KUBE_VERSION#v1.}"
  # k8s.io/kubernetes replaces its staging modules with ./staging paths; point them at the
  # published modules of the same release instead.
  staging=$(sed -n 's/^\s*\(k8s.io\/[a-z0-9-]*\) => \.\/staging.*/\1/p' "$gomod")
  (
    cd "$src"
    [ -f go.mod ] || go mod init kafkadeps.local/kube >/dev/null 2>&1
    {
      printf '//go:build tools\n\npackage tools\n\nimport (\n'
      for c in "${KUBE_CMDS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
      printf ')\n'
    } > tools.go
    for m in $staging; do go mod edit -replace "$m=$m@$minor"; done
    go mod edit -require "k8s.io/kubernetes@$KUBE_VERSION"
    GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION"
    for c in "${missing[@]}"; do
      CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$BIN/$c" "k8s.io/kubernetes/cmd/$c"
    done
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
  build_kube kube-apiserver; build_etcd
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
      echo "$url" > "$dir/url"
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

NODE_NAME=kafkadeps-node
# The node's address: the kubelet refuses a loopback one, yet pods must reach Kafka on 127.0.0.1
# and nothing may listen off-host. So an address of the loopback device that is not 127/8.
NODE_IP="${KAFKADEPS_NODE_IP:-10.254.254.1}"

api() {  # api DIR PATH: GET from the API server as the admin
  curl -sf --cacert "$1/ca.crt" -H "Authorization: Bearer $(cat "$1/token")" "$(cat "$1/url")$2"
}

# The sandbox ("pause") image the CRI needs: busybox sleeping, as no registry is reachable.
pause_image() {
  local ctx="$KAFKADEPS_CACHE/images/pause"
  kd_podman image exists registry.k8s.io/pause:3.6 && return 0
  mkdir -p "$ctx"
  cp /bin/busybox "$ctx/busybox"
  printf 'FROM scratch\nCOPY busybox /busybox\nENTRYPOINT ["/busybox", "sleep", "2147483647"]\n' > "$ctx/Containerfile"
  kd_podman build --quiet --pull=never -t registry.k8s.io/pause:3.6 -f "$ctx/Containerfile" "$ctx" >/dev/null
}

ctr_() { ctr --address "$1/containerd/containerd.sock" --namespace k8s.io "${@:2}"; }

# cmd_load DIR TAG: the pause image and podman's kafkadeps/*:TAG images into the node's
# containerd, also under the docker.io names the kubelet asks for.
cmd_load() {
  local dir="$1" tag="$2" images=() i
  pause_image
  mapfile -t images < <(kd_podman images --format '{{.Repository}}:{{.Tag}}' | grep "^localhost/kafkadeps/[a-z-]*:$tag\$" || true)
  [ ${#images[@]} -gt 0 ] || log "no kafkadeps/*:$tag images in podman (scripts/images.sh build --tag $tag)"
  kd_podman save --quiet --multi-image-archive -o "$dir/images.tar" registry.k8s.io/pause:3.6 "${images[@]}"
  ctr_ "$dir" images import "$dir/images.tar" >/dev/null
  rm -f "$dir/images.tar"
  for i in "${images[@]}"; do
    ctr_ "$dir" images tag --force "$i" "docker.io/${i#localhost/}" >/dev/null
  done
}

# start DIR NAME CMD...: runs CMD in the background, its output in DIR/NAME.log, pid in DIR/NAME.pid.
start() {
  local dir="$1" name="$2"
  shift 2
  "$@" > "$dir/$name.log" 2>&1 &
  echo $! > "$dir/$name.pid"
}

start_node() {
  local dir="$1" tag="$2"
  build_kube kube-controller-manager kube-scheduler kubelet
  ensure_podman
  ensure_debian_packages containerd busybox-static containernetworking-plugins
  start "$dir" controller-manager "$BIN/kube-controller-manager" --kubeconfig "$dir/kubeconfig" \
    --leader-elect=false --secure-port=0 --service-account-private-key-file "$dir/sa.key" \
    --root-ca-file "$dir/ca.crt" --use-service-account-credentials=false
  start "$dir" scheduler "$BIN/kube-scheduler" --kubeconfig "$dir/kubeconfig" --leader-elect=false \
    --secure-port=0
  # containerd with its own root, state and socket; the CRI gives sandboxes an oom_score_adj this
  # VM may not set without restrict_oom_score_adj.
  local c="$dir/containerd"
  mkdir -p "$c/cni" "$dir/pod-logs"
  containerd config default | sed \
    -e "s#^root = .*#root = \"$c/root\"#" -e "s#^state = .*#state = \"$c/state\"#" \
    -e "/^\[grpc\]/,/^\[/ s#^  address = .*#  address = \"$c/containerd.sock\"#" \
    -e "/^\[ttrpc\]/,/^\[/ s#^  address = .*#  address = \"$c/containerd-ttrpc.sock\"#" \
    -e 's#restrict_oom_score_adj = false#restrict_oom_score_adj = true#' \
    -e "s#conf_dir = .*#conf_dir = \"$c/cni\"#" -e 's#bin_dir = .*#bin_dir = "/usr/lib/cni"#' \
    > "$c/config.toml"
  # Pods use the host's network; a loopback-only network configuration makes the CRI report its
  # network ready (Debian's containernetworking-plugins, which podman brings, has the plugin).
  printf '{"cniVersion": "1.0.0", "name": "kafkadeps-loopback", "plugins": [{"type": "loopback"}]}\n' \
    > "$c/cni/10-loopback.conflist"
  start "$dir" containerd containerd --config "$c/config.toml"
  local i
  for i in $(seq 1 100); do [ -S "$c/containerd.sock" ] && break; sleep 0.1; done
  cmd_load "$dir" "$tag"
  cat > "$dir/kubelet.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
evictionHard: {}
localStorageCapacityIsolation: false
address: 127.0.0.1
port: $(free_port)
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $(free_port)
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$c/containerd.sock
imageServiceEndpoint: unix://$c/containerd.sock
podLogsDir: $dir/pod-logs
serializeImagePulls: false
imageGCHighThresholdPercent: 100
KUBELET
  if ! ip -4 addr show dev lo | grep -q " $NODE_IP/"; then
    ip addr add "$NODE_IP/32" dev lo
    touch "$dir/node-ip-added"
  fi
  start "$dir" kubelet "$BIN/kubelet" --config "$dir/kubelet.yaml" --kubeconfig "$dir/kubeconfig" \
    --root-dir "$dir/kubelet" --cert-dir "$dir/kubelet/pki" --hostname-override "$NODE_NAME" \
    --node-ip "$NODE_IP"
  for i in $(seq 1 240); do
    if api "$dir" "/api/v1/nodes/$NODE_NAME" 2>/dev/null | python3 -c '
import json, sys
node = json.load(sys.stdin)
ready = [c for c in node["status"].get("conditions", []) if c["type"] == "Ready"]
sys.exit(0 if ready and ready[0]["status"] == "True" else 1)' 2>/dev/null; then
      log "node $NODE_NAME is Ready"
      return 0
    fi
    sleep 0.5
  done
  log "node $NODE_NAME not Ready; see $dir/kubelet.log"
  tail -20 "$dir/kubelet.log" >&2
  return 1
}

# stop DIR NAME: SIGTERM the process of DIR/NAME.pid, SIGKILL after 10 s.
stop() {
  local f="$1/$2.pid" pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

cmd_down() {
  local dir="$1" f id
  stop "$dir" kubelet
  if [ -S "$dir/containerd/containerd.sock" ]; then
    # The pods' containers and sandboxes: killed, then removed with their mounts.
    for id in $(ctr_ "$dir" tasks ls -q 2>/dev/null); do
      ctr_ "$dir" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    for i in $(seq 1 50); do [ -z "$(ctr_ "$dir" tasks ls -q 2>/dev/null | head -n 1)" ] && break; sleep 0.2; done
    for id in $(ctr_ "$dir" tasks ls -q 2>/dev/null); do ctr_ "$dir" tasks delete --force "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_ "$dir" containers ls -q 2>/dev/null); do ctr_ "$dir" containers delete "$id" >/dev/null 2>&1 || true; done
  fi
  for f in scheduler controller-manager containerd apiserver etcd; do stop "$dir" "$f"; done
  if [ -f "$dir/node-ip-added" ]; then
    ip addr del "$NODE_IP/32" dev lo 2>/dev/null || true
    rm -f "$dir/node-ip-added"
  fi
  # Whatever the kubelet and containerd left mounted under DIR (volumes, root filesystems).
  awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

usage() { echo "usage: scripts/kube.sh build | up DIR [--node [--images TAG]] | load DIR TAG | down DIR" >&2; exit 64; }

case "${1:-}" in
  build) build_kube "${KUBE_CMDS[@]}"; build_etcd; echo "$BIN" ;;
  up)
    [ -n "${2:-}" ] || usage
    mkdir -p "$2"
    dir=$(cd "$2" && pwd)
    shift 2
    node=0; tag=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
    while [ $# -gt 0 ]; do
      case "$1" in
        --node) node=1; shift ;;
        --images) tag="${2:?--images needs a tag}"; shift 2 ;;
        *) usage ;;
      esac
    done
    url=$(cmd_up "$dir")
    if [ "$node" = 1 ] && ! start_node "$dir" "$tag"; then cmd_down "$dir"; exit 1; fi
    echo "$url"
    ;;
  load) cmd_load "${2:-$(usage)}" "${3:-$(usage)}" ;;
  down) cmd_down "${2:?usage: kube.sh down DIR}" ;;
  *) usage ;;
esac
