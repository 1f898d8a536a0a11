# Shared by the peer scripts of benches/peers (sourced): a scratch directory, the processes to
# stop on exit, free ports, topics, waiting for a peer, daprd and the bridge.
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

# bridge_distribution BRIDGE: prints the directory of a Strimzi Kafka Bridge distribution (one
# with bin/kafka_bridge_run.sh and libs/): BRIDGE itself, or one built once per version from
# BRIDGE as a source checkout (Maven, tests skipped) into $KAFKADEPS_CACHE/peers.
bridge_distribution() {
  local bridge=$1 version dist archive
  if [ -x "$bridge/bin/kafka_bridge_run.sh" ] && [ -d "$bridge/libs" ]; then
    echo "$bridge"
    return
  fi
  if [ ! -f "$bridge/pom.xml" ]; then
    echo "$0: $bridge is neither a bridge source checkout nor a distribution" >&2
    exit 64
  fi
  version=$(sed -n 's|^[[:space:]]*<version>\(.*\)</version>.*|\1|p' "$bridge/pom.xml" | head -n 1)
  dist=${KAFKADEPS_CACHE:-$HOME/.cache/kafkadeps}/peers/strimzi-bridge-$version
  if [ ! -x "$dist/bin/kafka_bridge_run.sh" ]; then
    (cd "$bridge" && mvn -q -B -Dmaven.test.skip=true -Dcheckstyle.skip -Dspotbugs.skip \
      -Dmaven.javadoc.skip=true -Dmaven.source.skip=true package >&2)
    archive=$(find "$bridge/target" -maxdepth 1 -name "kafka-bridge-$version.tar.gz" | head -n 1)
    [ -n "$archive" ] || { echo "$0: no $bridge/target/kafka-bridge-$version.tar.gz" >&2; exit 1; }
    rm -rf "$dist" && mkdir -p "$dist"
    tar -xzf "$archive" -C "$dist" --strip-components=1
  fi
  echo "$dist"
}

# wait_up URL NAME: waits up to a minute for URL to answer a success, else prints
# $run/NAME.log and exits.
wait_up() {
  for _ in $(seq 120); do
    if curl -sf -o /dev/null "$1"; then return 0; fi
    sleep 0.5
  done
  echo "$0: $2 did not start; its log:" >&2
  cat "$run/$2.log" >&2
  exit 1
}

# create_topics BOOTSTRAP TOPIC...: creates each TOPIC with 6 partitions, replicated 3 times on a
# cluster of 3 or more bootstrap servers, else once.
create_topics() {
  local bootstrap=$1 replicas t
  replicas=$(( $(tr ',' '\n' <<<"$bootstrap" | wc -l) >= 3 ? 3 : 1 ))
  for t in "${@:2}"; do
    scripts/kafka.sh tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" \
      --create --topic "$t" --partitions 6 --replication-factor "$replicas" >/dev/null
  done
}
