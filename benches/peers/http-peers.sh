#!/usr/bin/env bash
# Producing over HTTP side by side: `kafkadeps-sidecar serve`, the Strimzi Kafka Bridge and Dapr's
# `daprd` with its `pubsub.kafka` component, on the same cluster and topic, alternating in one run,
# measured by benches/src/bin/http-peers.rs (throughput with 1- and 100-record requests, CPU per
# 1,000 records, round trips at a fixed rate of 1 KB requests, resident memory), with the direct
# client (raw rdkafka in the bench process, lingering 20 and 0 ms) as the baseline of the
# latency each peer adds: the sidecar and the bridge against linger 20, the latency profile and
# daprd (which sends each publish at once) against linger 0.
#
#   [RATE=1000] benches/peers/http-peers.sh BRIDGE [ROUNDS]   default ROUNDS: 3; RATE: requests/s
#                                                             of the fixed-rate phase
#
# BRIDGE is either a source checkout of strimzi/strimzi-kafka-bridge (built here with Maven,
# tests skipped, into $KAFKADEPS_CACHE/peers/strimzi-bridge-<version>) or a built distribution
# (a directory with bin/kafka_bridge_run.sh and libs/). The bridge's release 0.33.1 is the
# newest that builds with Java 17 from Maven Central alone (1.x needs Java 21). daprd is built by
# benches/peers/daprd.sh (or DAPRD_BIN). Producer settings: the sidecar's defaults (acks=all,
# idempotence, linger 20 ms, lz4), and a second sidecar with KAFKA_PRODUCER_PROFILE=latency
# (linger 0); the bridge configured as the first; daprd's Kafka component waits for all in-sync
# replicas (its fixed setting) and has no idempotence or linger settings.
# The cluster is KAFKA_BOOTSTRAP_SERVERS (default: the 3-broker cluster of kafka.sh); the
# sidecar is KAFKADEPS_SIDECAR_BIN (default: scripts/build-sidecar.sh's build).
set -euo pipefail
cd "$(dirname "$0")/../.."

bridge=${1:?usage: benches/peers/http-peers.sh BRIDGE-SOURCE-OR-DISTRIBUTION [ROUNDS]}
rounds=${2:-3}
bootstrap=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092}
cache=${KAFKADEPS_CACHE:-$HOME/.cache/kafkadeps}
target=${CARGO_TARGET_DIR:-$cache/target}

sidecar=${KAFKADEPS_SIDECAR_BIN:-$(scripts/build-sidecar.sh --quiet)}
daprd=${DAPRD_BIN:-$(benches/peers/daprd.sh)}
cargo build --release --quiet -p kafkadeps-benches --bin http-peers
# shellcheck source=benches/peers/lib.sh
. benches/peers/lib.sh
dist=$(bridge_distribution "$bridge")

topic="peer-http-$$-$RANDOM"
sidecar_port=$(free_port)
KAFKA_BOOTSTRAP_SERVERS=$bootstrap KAFKA_PRODUCES="$topic(partitions=6)" \
  KAFKA_SIDECAR_LISTEN=127.0.0.1:$sidecar_port KAFKA_SIDECAR_MAX_BODY_BYTES=16777216 \
  KAFKA_METRICS_LISTEN=off RUST_LOG=warn "$sidecar" serve >"$run/sidecar.log" 2>&1 &
pids+=($!)
sidecar_pid=$!
# The same sidecar with the latency profile (linger 0: a lone record is sent at once).
latency_port=$(free_port)
KAFKA_BOOTSTRAP_SERVERS=$bootstrap KAFKA_PRODUCES="$topic(partitions=6)" KAFKA_PRODUCER_PROFILE=latency \
  KAFKA_SIDECAR_LISTEN=127.0.0.1:$latency_port KAFKA_SIDECAR_MAX_BODY_BYTES=16777216 \
  KAFKA_METRICS_LISTEN=off RUST_LOG=warn "$sidecar" serve >"$run/sidecar-latency.log" 2>&1 &
pids+=($!)
latency_pid=$!

bridge_port=$(free_port)
cat >"$run/bridge.properties" <<EOF
bridge.id=kafkadeps-peer
kafka.bootstrap.servers=$bootstrap
kafka.producer.acks=all
kafka.producer.enable.idempotence=true
kafka.producer.max.in.flight.requests.per.connection=5
kafka.producer.linger.ms=20
kafka.producer.compression.type=lz4
http.host=127.0.0.1
http.port=$bridge_port
http.management.port=$(free_port)
http.consumer.enabled=false
http.producer.enabled=true
EOF
# The bridge's log4j2 configuration logs at INFO to the console; keep it in a file.
"$dist/bin/kafka_bridge_run.sh" --config-file="$run/bridge.properties" >"$run/bridge.log" 2>&1 &
pids+=($!)
bridge_pid=$!

# daprd self-hosted, no app: a Kafka pub/sub component is all it loads.
dapr_port=$(free_port)
start_daprd "$daprd" "$bootstrap" "peer-http-$$" "$dapr_port"

wait_up "http://127.0.0.1:$sidecar_port/openapi.json" sidecar
wait_up "http://127.0.0.1:$latency_port/openapi.json" sidecar-latency
wait_up "http://127.0.0.1:$bridge_port/" bridge
wait_up "http://127.0.0.1:$dapr_port/v1.0/healthz/outbound" daprd
# The bridge's script execs java, so its pid is the JVM's.

"$target/release/http-peers" --rounds "$rounds" --rate "${RATE:-1000}" --direct "$topic" \
  --peer "kafkadeps-sidecar|http://127.0.0.1:$sidecar_port/v1/topics/$topic/records|application/json|$sidecar_pid" \
  --peer "kafkadeps-sidecar (latency profile)|http://127.0.0.1:$latency_port/v1/topics/$topic/records|application/json|$latency_pid|linger=0" \
  --peer "strimzi-bridge|http://127.0.0.1:$bridge_port/topics/$topic|application/vnd.kafka.json.v2+json|$bridge_pid" \
  --peer "daprd|http://127.0.0.1:$dapr_port/v1.0/publish/kafka/$topic|application/json|$dapr_pid|dapr|linger=0"
