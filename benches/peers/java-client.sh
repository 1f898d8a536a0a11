#!/usr/bin/env bash
# Side by side with Apache Kafka's own Java client: its ProducerPerformance and
# ConsumerPerformance tools (kafka-tools, from Maven Central, as scripts/kafka.sh installs it)
# against kafkadeps' bench-client, on the same cluster and topic, alternating which goes first.
# Both producers run the durable settings (acks=all, idempotence, 5 in flight, linger.ms=20, lz4).
#
#   benches/peers/java-client.sh [ROUNDS] [RECORDS] [SIZE]     defaults: 5 300000 100
#
# Prints one line per round and side (records/s, and CPU: the user + system time of the whole
# process per 1,000 records, the JVM's start included), then the medians and the ratios as a
# Markdown table. The cluster is KAFKA_BOOTSTRAP_SERVERS (default: the 3-broker cluster of kafka.sh).
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

# measure RATES CPUS N FUNCTION ARGS...: runs FUNCTION ARGS (which moves N records), appends
# the records/s it prints to the array RATES and its processes' CPU milliseconds per 1,000
# records to the array CPUS.
measure() {
  local -n rates=$1 cpus=$2
  local out cpu TIMEFORMAT='%3U %3S'
  out=$(mktemp)
  cpu=$({ time "${@:4}" >"$out"; } 2>&1 >/dev/null | tail -n 1)
  rates+=("$(cat "$out")")
  rm -f "$out"
  cpus+=("$(awk -v u="${cpu% *}" -v s="${cpu#* }" -v n="$3" 'BEGIN {printf "%.1f\n", (u + s) * 1000 / (n / 1000)}')")
}

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

kp=() jp=() kc=() jc=() kpc=() jpc=() kcc=() jcc=()
for round in $(seq "$rounds"); do
  topic="peer-java-$$-$round"
  # The topic (6 partitions, one record) exists before either side writes N.
  KAFKA_BOOTSTRAP_SERVERS=$bootstrap "$bench" fill "$topic" 1 "$size" >/dev/null 2>&1
  if [ $((round % 2)) = 1 ]; then
    measure kp kpc "$records" kafkadeps_produce "$topic"; measure jp jpc "$records" java_produce "$topic"
  else
    measure jp jpc "$records" java_produce "$topic"; measure kp kpc "$records" kafkadeps_produce "$topic"
  fi
  total=$((2 * records + 1))
  if [ $((round % 2)) = 1 ]; then
    measure kc kcc "$total" kafkadeps_consume "$topic" "$total"; measure jc jcc "$total" java_consume "$topic" "$total"
  else
    measure jc jcc "$total" java_consume "$topic" "$total"; measure kc kcc "$total" kafkadeps_consume "$topic" "$total"
  fi
  echo "round $round: produce kafkadeps ${kp[-1]} java ${jp[-1]} records/s, CPU ${kpc[-1]} / ${jpc[-1]} ms per 1000;" \
    "consume kafkadeps ${kc[-1]} java ${jc[-1]} records/s, CPU ${kcc[-1]} / ${jcc[-1]} ms per 1000" >&2
done

# row WHAT: the medians of kafkadeps' and Java's rates and CPU, from the arrays named after it.
row() {
  local -n k_rate=$2 j_rate=$3 k_cpu=$4 j_cpu=$5
  local r_k r_j c_k c_j
  r_k=$(printf '%s\n' "${k_rate[@]}" | median); r_j=$(printf '%s\n' "${j_rate[@]}" | median)
  c_k=$(printf '%s\n' "${k_cpu[@]}" | median); c_j=$(printf '%s\n' "${j_cpu[@]}" | median)
  awk -v what="$1" -v k="$r_k" -v j="$r_j" -v kc="$c_k" -v jc="$c_j" \
    'BEGIN {printf "| %s | %.0f | %.0f | %.2f | %.1f | %.1f |\n", what, j, k, k / j, jc, kc}'
}
echo "| $records records of $size B, $rounds rounds | Java client (records/s) | kafkadeps (records/s) | kafkadeps / Java | Java CPU ms / 1,000 records | kafkadeps CPU ms / 1,000 records |"
echo "|---|---|---|---|---|---|"
row produce kp jp kpc jpc
row consume kc jc kcc jcc
