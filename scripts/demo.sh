#!/usr/bin/env bash
# The kafkadeps demo, end to end on a fresh machine: starts a local Apache Kafka broker, runs
# billing-service (consumer with retries and a dead-letter topic) and orders-service (producer),
# both declaring their topics through KAFKA_* variables, and prints what happened.
# Stops the broker afterwards if it started it.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/prereqs.sh
. scripts/lib/prereqs.sh

ensure_debian_packages
ensure_rust

started_kafka=0
cleanup() {
  local rc=$?
  if [ -n "${billing_pid:-}" ]; then kill "$billing_pid" 2>/dev/null || true; fi
  if [ "$started_kafka" = 1 ]; then scripts/kafka.sh down --brokers 1 >/dev/null 2>&1 || true; fi
  exit $rc
}
trap cleanup EXIT INT TERM

echo "==> building the example services (first run compiles librdkafka: a few minutes)"
cargo build --quiet -p example-orders-service -p example-billing-service
bin="$CARGO_TARGET_DIR/debug"

echo "==> starting a local Apache Kafka broker"
[ -d "$KAFKADEPS_CACHE/run/b1" ] || started_kafka=1
bootstrap=$(scripts/kafka.sh up --brokers 1)
echo "    bootstrap: $bootstrap"

run_id="demo-$(date +%s)"
topic="orders.v1"
count="${DEMO_ORDERS:-10}"
# Human-readable logs for the demo (services log JSON lines by default).
common=(KAFKA_BOOTSTRAP_SERVERS="$bootstrap" KAFKA_TOPIC_REPLICAS=clamp KAFKA_LOG_FORMAT=pretty
        RUST_LOG="info,librdkafka=warn,kafkadeps=warn")
# One declaration, two services: the producer declares the topic, the consumer depends on it.
decl="$topic(partitions=3, retention.ms=7d)"

echo "==> billing-service: KAFKA_CONSUMES='$decl' KAFKA_GROUP_ID=billing-$run_id"
env "${common[@]}" KAFKA_APP=billing KAFKA_GROUP_ID="billing-$run_id" KAFKA_CONSUMES="$decl" \
  KAFKA_METRICS_LISTEN=127.0.0.1:9464 \
  "$bin/example-billing-service" "$((count + 1))" &
billing_pid=$!

echo "==> orders-service: KAFKA_PRODUCES='$decl'"
env "${common[@]}" KAFKA_APP=orders KAFKA_PRODUCES="$decl" KAFKA_METRICS_LISTEN=off \
  "$bin/example-orders-service" "$count"

echo "==> a poison record (not an order) goes to the dead-letter topic"
env "${common[@]}" KAFKA_APP=demo-poison KAFKA_PRODUCES="$decl" KAFKA_METRICS_LISTEN=off \
  "$CARGO_TARGET_DIR/debug/example-orders-service" --poison

wait "$billing_pid"
billing_pid=""
echo "==> done: $count orders produced and billed (some after a retry), one poison record dead-lettered to $topic.dlq"
