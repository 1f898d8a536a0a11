#!/usr/bin/env bash
# Side by side with Apache Kafka's own Java client: its ProducerPerformance and
# ConsumerPerformance tools (kafka-tools, from Maven Central, as scripts/kafka.sh installs it)
# against kafkadeps' bench-client, on the same cluster and topic, alternating which goes first.
# Both producers run the durable settings (acks=all, idempotence, 5 in flight, linger.ms=20, lz4).
#
#   benches/peers/java-client.sh [ROUNDS] [RECORDS] [SIZE]     defaults: 5 300000 100
#
# Prints one line per round and side (records/s), then the medians and the ratio as a Markdown
# table. The cluster is KAFKA_BOOTSTRAP_SERVERS (default: the 3-broker cluster of kafka.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=${1:-5}
records=${2:-300000}
size=${3:-100}
bootstrap=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092}
target=${CARGO_TARGET_DIR:-$HOME/.cache/kafkadeps/target}
cargo build --release --quiet -p kafkadeps-benches --bin bench-client
bench="$target/release/bench-client"
durable=(acks=all enable.idempotence=true max.in.flight.requests.per.connection=5 linger.ms=20 compression.type=lz4)

kafkadeps_produce() {
  KAFKA_BOOTSTRAP_SERVERS=$bootstrap "$bench" produce kafkadeps "$1" "$records" "$size" 2>&1 \
    | awk '/ records\/s$/ {print $1}'
}
java_produce() {
  # The summary line: "N records sent, R records/sec (M MB/sec), ..."
  scripts/kafka.sh tool org.apache.kafka.tools.ProducerPerformance --topic "$1" \
    --num-records "$records" --record-size "$size" --throughput -1 \
    --producer-props bootstrap.servers="$bootstrap" "${durable[@]}" \
    | awk -F', ' '/records sent/ {split($2, r, " "); printf "%.0f\n", r[1]}' | tail -n 1
}
kafkadeps_consume() {
  KAFKA_BOOTSTRAP_SERVERS=$bootstrap "$bench" consume kafkadeps "$1" "$2" 2>&1 \
    | awk '/ records\/s$/ {print $1}'
}
java_consume() {
  # CSV: ..., fetch.nMsg.sec last (from the first fetch to the last record, as bench-client).
  scripts/kafka.sh tool org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$bootstrap" \
    --topic "$1" --messages "$2" --group "peer-java-$$-$RANDOM" --timeout 60000 \
    | awk -F', *' 'NF >= 10 && $1 !~ /start/ {printf "%.0f\n", $NF}' | tail -n 1
}

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

kp=() jp=() kc=() jc=()
for round in $(seq "$rounds"); do
  topic="peer-java-$$-$round"
  # The topic (6 partitions, one record) exists before either side writes N.
  KAFKA_BOOTSTRAP_SERVERS=$bootstrap "$bench" fill "$topic" 1 "$size" >/dev/null 2>&1
  if [ $((round % 2)) = 1 ]; then
    kp+=("$(kafkadeps_produce "$topic")"); jp+=("$(java_produce "$topic")")
  else
    jp+=("$(java_produce "$topic")"); kp+=("$(kafkadeps_produce "$topic")")
  fi
  total=$((2 * records + 1))
  if [ $((round % 2)) = 1 ]; then
    kc+=("$(kafkadeps_consume "$topic" "$total")"); jc+=("$(java_consume "$topic" "$total")")
  else
    jc+=("$(java_consume "$topic" "$total")"); kc+=("$(kafkadeps_consume "$topic" "$total")")
  fi
  echo "round $round: produce kafkadeps ${kp[-1]} java ${jp[-1]} records/s; consume kafkadeps ${kc[-1]} java ${jc[-1]} records/s" >&2
done

row() {
  local k j
  k=$(printf '%s\n' "${@:2:$rounds}" | median)
  j=$(printf '%s\n' "${@:$((rounds + 2))}" | median)
  awk -v what="$1" -v k="$k" -v j="$j" 'BEGIN {printf "| %s | %.0f | %.0f | %.2f |\n", what, j, k, k / j}'
}
echo "| $records records of $size B, $rounds rounds | Java client (records/s, median) | kafkadeps (records/s, median) | kafkadeps / Java |"
echo "|---|---|---|---|"
row produce "${kp[@]}" "${jp[@]}"
row consume "${kc[@]}" "${jc[@]}"
