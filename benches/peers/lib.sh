# Shared by the peer scripts of benches/peers (sourced): a scratch directory, the processes to
# stop on exit, free ports and daprd.
# shellcheck shell=bash

run=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$run"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_daprd DAPRD BOOTSTRAP GROUP HTTP_PORT [APP_PORT]: the daprd binary DAPRD self-hosted on
# 127.0.0.1 (no placement, no scheduler) with one pub/sub component, `kafka` (pubsub.kafka,
# consumer group GROUP, new groups from the oldest offset), and whatever else is in
# $run/resources (a subscription); with APP_PORT it pushes to the app there. Sets dapr_pid; logs
# to $run/daprd.log.
start_daprd() {
  local daprd=$1 bootstrap=$2 group=$3 http_port=$4 app=()
  [ -z "${5:-}" ] || app=(--app-port "$5" --app-channel-address 127.0.0.1)
  mkdir -p "$run/resources"
  cat >"$run/resources/kafka.yaml" <<EOF
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: kafka
spec:
  type: pubsub.kafka
  version: v1
  metadata:
    - name: brokers
      value: "$bootstrap"
    - name: authType
      value: "none"
    - name: consumerGroup
      value: "$group"
    - name: initialOffset
      value: "oldest"
EOF
  "$daprd" --app-id "$group" --mode standalone "${app[@]}" --dapr-http-port "$http_port" \
    --dapr-grpc-port "$(free_port)" --dapr-internal-grpc-port "$(free_port)" \
    --metrics-port "$(free_port)" --dapr-listen-addresses 127.0.0.1 \
    --resources-path "$run/resources" --log-level warn >"$run/daprd.log" 2>&1 &
  pids+=($!)
  # shellcheck disable=SC2034  # the caller's
  dapr_pid=$!
}
