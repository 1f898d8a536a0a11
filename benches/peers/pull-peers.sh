#!/usr/bin/env bash
# Pulling records over HTTP side by side: `kafkadeps-sidecar serve` in pull mode and the Strimzi
# Kafka Bridge's consumer API, on the same cluster, each consuming its own topic (6 partitions)
# for an app that polls and commits, measured by benches/src/bin/pull-peers.rs (which is the
# producer and the app): send-to-poll latency at a fixed rate, backlog delivery throughput, CPU
# per 1,000 records, resident memory.
#
#   [RATE=200] [BACKLOG=100000] benches/peers/pull-peers.sh BRIDGE [ROUNDS]
#
# ROUNDS: 3 by default; RATE: records/s of the fixed-rate phase; BACKLOG: records (100 B) of the
# backlog phase.
#
# BRIDGE is a source checkout of strimzi/strimzi-kafka-bridge or a built distribution, as for
# benches/peers/http-peers.sh (which builds and caches it). Both peers' consumers read committed
# records only, commit only what the app commits, and start a new group at the earliest offset.
# The cluster is KAFKA_BOOTSTRAP_SERVERS (default: the 3-broker cluster of kafka.sh); the
# sidecar is KAFKADEPS_SIDECAR_BIN (default: scripts/build-sidecar.sh's build).
set -euo pipefail
cd "$(dirname "$0")/../.."

bridge=${1:?usage: benches/peers/pull-peers.sh BRIDGE-SOURCE-OR-DISTRIBUTION [ROUNDS]}
rounds=${2:-3}
bootstrap=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092}
cache=${KAFKADEPS_CACHE:-$HOME/.cache/kafkadeps}
target=${CARGO_TARGET_DIR:-$cache/target}
sidecar=${KAFKADEPS_SIDECAR_BIN:-$(scripts/build-sidecar.sh --quiet)}
# shellcheck source=benches/peers/lib.sh
. benches/peers/lib.sh
dist=$(bridge_distribution "$bridge")
cargo build --release --quiet -p kafkadeps-benches --bin pull-peers

topic_sidecar="peer-pull-sidecar-$$-$RANDOM"
topic_bridge="peer-pull-bridge-$$-$RANDOM"
create_topics "$bootstrap" "$topic_sidecar" "$topic_bridge"

group_sidecar="peer-pull-sidecar-$$"
sidecar_port=$(free_port)
KAFKA_BOOTSTRAP_SERVERS=$bootstrap KAFKA_CONSUMES="$topic_sidecar" KAFKA_GROUP_ID="$group_sidecar" \
  KAFKA_SIDECAR_LISTEN=127.0.0.1:$sidecar_port KAFKA_METRICS_LISTEN=off RUST_LOG=warn \
  "$sidecar" serve >"$run/sidecar.log" 2>&1 &
pids+=($!)
sidecar_pid=$!

bridge_port=$(free_port)
cat >"$run/bridge.properties" <<PROPERTIES
bridge.id=kafkadeps-peer
kafka.bootstrap.servers=$bootstrap
kafka.consumer.isolation.level=read_committed
http.host=127.0.0.1
http.port=$bridge_port
http.management.port=$(free_port)
http.consumer.enabled=true
http.producer.enabled=false
PROPERTIES
"$dist/bin/kafka_bridge_run.sh" --config-file="$run/bridge.properties" >"$run/bridge.log" 2>&1 &
pids+=($!)
bridge_pid=$!  # the script execs java: the JVM's pid

wait_up "http://127.0.0.1:$sidecar_port/openapi.json" sidecar
wait_up "http://127.0.0.1:$bridge_port/" bridge

"$target/release/pull-peers" --rounds "$rounds" --rate "${RATE:-200}" --backlog "${BACKLOG:-100000}" \
  --peer "kafkadeps-sidecar|sidecar|http://127.0.0.1:$sidecar_port/v1/consumers/$group_sidecar|$topic_sidecar|$sidecar_pid" \
  --peer "strimzi-bridge|bridge|http://127.0.0.1:$bridge_port/consumers/peer-pull-bridge-$$|$topic_bridge|$bridge_pid" || {
  echo "pull-peers.sh: the run failed; the peers' logs:" >&2
  tail -n 30 "$run/sidecar.log" "$run/bridge.log" >&2
  exit 1
}
