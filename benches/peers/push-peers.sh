#!/usr/bin/env bash
# Delivering to an app over HTTP side by side: `kafkadeps-sidecar serve` in push mode and Dapr's
# `daprd` with its `pubsub.kafka` component and a declarative subscription, on the same cluster,
# each consuming its own topic (6 partitions) and pushing to the same local app, measured by
# benches/src/bin/push-peers.rs (which is the producer and the app): send-to-app latency at a
# fixed rate, backlog delivery throughput, CPU per 1,000 records, resident memory.
#
#   [RATE=1000] benches/peers/push-peers.sh [ROUNDS]          default ROUNDS: 3; RATE: records/s
#                                                 of the fixed-rate phase
#
# Both peers push one record per request and wait for the app's 2xx before committing it; the
# sidecar keeps each partition in order (its default), daprd's Kafka consumer handles each
# partition's records one at a time. daprd is built by benches/peers/daprd.sh (or DAPRD_BIN).
# The cluster is KAFKA_BOOTSTRAP_SERVERS (default: the 3-broker cluster of kafka.sh); the
# sidecar is KAFKADEPS_SIDECAR_BIN (default: scripts/build-sidecar.sh's build).
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=${1:-3}
bootstrap=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092}
cache=${KAFKADEPS_CACHE:-$HOME/.cache/kafkadeps}
target=${CARGO_TARGET_DIR:-$cache/target}
sidecar=${KAFKADEPS_SIDECAR_BIN:-$(scripts/build-sidecar.sh --quiet)}
daprd=${DAPRD_BIN:-$(benches/peers/daprd.sh)}
cargo build --release --quiet -p kafkadeps-benches --bin push-peers
# shellcheck source=benches/peers/lib.sh
. benches/peers/lib.sh

topic_sidecar="peer-push-sidecar-$$-$RANDOM"
topic_dapr="peer-push-dapr-$$-$RANDOM"
create_topics "$bootstrap" "$topic_sidecar" "$topic_dapr"
app_port=$(free_port)

sidecar_port=$(free_port)
KAFKA_BOOTSTRAP_SERVERS=$bootstrap KAFKA_CONSUMES="$topic_sidecar" KAFKA_GROUP_ID="peer-push-$$" \
  KAFKA_SIDECAR_DELIVER_URL="http://127.0.0.1:$app_port/kafkadeps-sidecar" \
  KAFKA_SIDECAR_LISTEN=127.0.0.1:$sidecar_port KAFKA_METRICS_LISTEN=off RUST_LOG=warn \
  "$sidecar" serve >"$run/sidecar.log" 2>&1 &
pids+=($!)
sidecar_pid=$!

mkdir -p "$run/resources"
cat >"$run/resources/subscription.yaml" <<EOF
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: peer-push
spec:
  pubsubname: kafka
  topic: $topic_dapr
  routes:
    default: /daprd/$topic_dapr
  metadata:
    rawPayload: "true"
EOF
start_daprd "$daprd" "$bootstrap" "peer-push-dapr-$$" "$(free_port)" "$app_port"

# push-peers serves the app; daprd waits for the app port before it subscribes.
"$target/release/push-peers" --rounds "$rounds" --rate "${RATE:-1000}" --app-listen "127.0.0.1:$app_port" \
  --peer "kafkadeps-sidecar|$topic_sidecar|$sidecar_pid" \
  --peer "daprd|$topic_dapr|$dapr_pid" || {
  echo "push-peers.sh: the run failed; the peers' logs:" >&2
  tail -n 30 "$run/sidecar.log" "$run/daprd.log" >&2
  exit 1
}
