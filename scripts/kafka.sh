#!/usr/bin/env bash
# Run a real Apache Kafka (KRaft, no ZooKeeper) on this machine, from Maven Central jars.
#
#   scripts/kafka.sh up [--brokers 1|3] [--secure]
#       install if needed, start, wait until metadata answers, print the bootstrap list (idempotent)
#   scripts/kafka.sh down [--brokers 1|3] [--secure]
#       stop what `up` started (by recorded pid), delete its data (no option: every cluster)
#   scripts/kafka.sh status        every node this script manages and the brokers the cluster reports
#   scripts/kafka.sh kill N        kill -9 node N of the 3-broker cluster (a crash)
#   scripts/kafka.sh stop N        SIGTERM node N (a controlled shutdown), wait for exit
#   scripts/kafka.sh start N       start node N again (keeps its data), wait until it serves
#   scripts/kafka.sh bootstrap [--brokers 1|3] [--secure]   print the bootstrap list
#   scripts/kafka.sh groups [--brokers 1|3] ARGS...   Apache Kafka's GroupsCommand on the plaintext
#       cluster (3 brokers unless --brokers 1), e.g. groups --list --consumer (GROUP, TYPE, PROTOCOL)
#   scripts/kafka.sh tool CLASS ARGS...   run one of Apache Kafka's tools by class with the
#       installed jars, e.g. tool org.apache.kafka.tools.ProducerPerformance --topic t ...
#   scripts/kafka.sh acls [--brokers 1|3] ARGS...   kafka-acls (Apache Kafka's AclCommand) as the
#       admin user of the secure cluster, e.g. acls --list, acls --add --allow-principal User:alice ...
#
# Single broker: 127.0.0.1:9092. Three brokers: 127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092.
#
# --secure (with up, down, status and bootstrap; runs next to the plaintext clusters): a cluster
# with a CA and certificates made for it, listeners SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256,
# PLAIN) on 127.0.0.1:9094 and SSL with required client certificates (mTLS) on 127.0.0.1:9095
# (3 brokers: N9094 and N9095), StandardAuthorizer with allow.everyone.if.no.acl.found=false.
# Users (SCRAM and PLAIN): admin (super user), alice, bob; client certificates CN=alice and
# CN=bob (mTLS principal User:<CN>). `up --secure` and `bootstrap --secure` print:
#   SASL_SSL=<bootstrap>
#   SSL=<bootstrap>
#   SECRETS=<dir>
# SECRETS holds ca.crt (the cluster CA), other-ca.crt (a CA that signed nothing here),
# <user>.password, <user>.crt / <user>.key (PEM client certificates) and admin.properties (a
# Java admin client configuration, e.g. for kafka-acls --command-config).
#
# Environment:
#   KAFKA_VERSION      Apache Kafka version to install (default below)
#   KAFKADEPS_CACHE    where jars and run state live (default $HOME/.cache/kafkadeps)
#   KAFKA_HEAP_OPTS    JVM heap options (default -Xms128m -Xmx512m)
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.3.1}"
SLF4J_VERSION="2.0.17"
CACHE="${KAFKADEPS_CACHE:-$HOME/.cache/kafkadeps}"
LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"
RUN="$CACHE/run"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
JVM_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"

die() { echo "kafka.sh: error: $*" >&2; exit 1; }
log() { echo "kafka.sh: $*" >&2; }

require_tools() {
  command -v java >/dev/null 2>&1 \
    || die "java not found on PATH. Install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)."
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}' | cut -d. -f1)
  if [ -z "$major" ] || [ "$major" -lt 17 ]; then
    die "Java ${major:-?} found; Apache Kafka $KAFKA_VERSION needs Java 17 or newer."
  fi
}

require_maven() {
  command -v mvn >/dev/null 2>&1 \
    || die "mvn (Apache Maven) not found on PATH; it fetches Kafka from Maven Central. Install it (Debian: apt-get install maven)."
}

# --- install -----------------------------------------------------------------

install_kafka() {
  [ -f "$LIBS/.complete" ] && return 0
  require_maven
  log "installing Apache Kafka $KAFKA_VERSION from Maven Central into $LIBS"
  local work
  work=$(mktemp -d)
  cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.kafkadeps</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$SLF4J_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>$SLF4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
  rm -rf "$LIBS.tmp"
  mkdir -p "$LIBS.tmp"
  if ! (cd "$work" && mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >"$work/mvn.log" 2>&1); then
    cat "$work/mvn.log" >&2
    die "Maven could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION (see above)"
  fi
  # Other slf4j providers pulled in transitively would fight slf4j-simple.
  rm -f "$LIBS.tmp"/slf4j-reload4j-*.jar "$LIBS.tmp"/log4j-slf4j*-impl-*.jar
  rm -rf "$LIBS"
  mv "$LIBS.tmp" "$LIBS"
  touch "$LIBS/.complete"
  rm -rf "$work"
}

# JVM_OPTS holds several options: split on purpose.
# shellcheck disable=SC2086
kjava() { java $JVM_OPTS -Xmx256m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$LIBS/*" "$@"; }

# --- cluster layout ----------------------------------------------------------

# node ids of a cluster size
nodes_of() { if [ "$1" = 1 ]; then echo 1; else echo 1 2 3; fi; }
# KIND: b (plaintext) or s (--secure); a cluster lives in $RUN/<kind><size>
KIND=b
cluster_dir() { echo "$RUN/$KIND$1"; }
node_dir() { echo "$RUN/$KIND$1/node$2"; }
# Port P of node N: plaintext 9092 (broker), 9093 (controller); secure 9094 (SASL_SSL), 9095 (SSL
# with client certificates), 9096 (inter-broker), 9097 (controller). Prefixed by N with 3 brokers.
port_of() { if [ "$1" = 1 ]; then echo "$3"; else echo "${2}$3"; fi; }
broker_port() { if [ "$KIND" = s ]; then port_of "$1" "$2" 9094; else port_of "$1" "$2" 9092; fi; }
controller_port() { if [ "$KIND" = s ]; then port_of "$1" "$2" 9097; else port_of "$1" "$2" 9093; fi; }
list_of() {
  local size=$1 port=$2 list="" n
  for n in $(nodes_of "$size"); do list="${list:+$list,}127.0.0.1:$(port_of "$size" "$n" "$port")"; done
  echo "$list"
}
bootstrap_of() { if [ "$KIND" = s ]; then list_of "$1" 9094; else list_of "$1" 9092; fi; }
secrets_dir() { echo "$(cluster_dir "$1")/secrets"; }
# What `up --secure` prints.
secure_summary() {
  echo "SASL_SSL=$(list_of "$1" 9094)"
  echo "SSL=$(list_of "$1" 9095)"
  echo "SECRETS=$(secrets_dir "$1")"
}
# The Java tools' admin-client options (none on a plaintext cluster).
command_config() {
  if [ "$KIND" = s ]; then echo "--command-config $(secrets_dir "$1")/admin.properties"; fi
}

SECURE_USERS="admin alice bob"

# A CA, the brokers' certificate, client certificates, passwords and the admin client's config.
make_secrets() {
  local size=$1 dir
  dir=$(secrets_dir "$size")
  [ -f "$dir/.complete" ] && return 0
  command -v openssl >/dev/null 2>&1 \
    || die "openssl not found on PATH; --secure makes its certificates with it (Debian: apt-get install openssl)."
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 700 "$dir"
  (
    set -e
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 \
      -subj "/CN=kafkadeps-test-ca" 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt -days 30 \
      -subj "/CN=kafkadeps-other-ca" 2>/dev/null
    rm -f other-ca.key
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >broker.ext
    for cn in kafkadeps-broker alice bob; do
      openssl req -newkey rsa:2048 -nodes -keyout "$cn.key" -out "$cn.csr" -subj "/CN=$cn" 2>/dev/null
      openssl x509 -req -in "$cn.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$cn.crt" \
        -days 30 -extfile broker.ext 2>/dev/null
      rm -f "$cn.csr"
    done
    # Kafka's PEM key store: the PKCS#8 key, then the certificate.
    cat kafkadeps-broker.key kafkadeps-broker.crt >broker.pem
    for user in $SECURE_USERS; do
      head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$user.password"
    done
    {
      echo "security.protocol=SASL_SSL"
      echo "sasl.mechanism=SCRAM-SHA-512"
      echo "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$(cat admin.password)\";"
      echo "ssl.truststore.type=PEM"
      echo "ssl.truststore.location=$dir/ca.crt"
    } >admin.properties
  ) || die "making the certificates of the secure cluster failed"
  chmod 600 "$dir"/*
  touch "$dir/.complete"
}

# The listeners, TLS and SASL settings and the authorizer of a secure node.
write_secure_config() {
  local size=$1 n=$2 dir secrets plain_users="" user
  dir=$(node_dir "$size" "$n")
  secrets=$(secrets_dir "$size")
  for user in $SECURE_USERS; do
    plain_users="$plain_users user_$user=\"$(cat "$secrets/$user.password")\""
  done
  {
    echo "listeners=SASL_SSL://127.0.0.1:$(port_of "$size" "$n" 9094),SSL://127.0.0.1:$(port_of "$size" "$n" 9095),INTERNAL://127.0.0.1:$(port_of "$size" "$n" 9096),CONTROLLER://127.0.0.1:$(port_of "$size" "$n" 9097)"
    echo "advertised.listeners=SASL_SSL://127.0.0.1:$(port_of "$size" "$n" 9094),SSL://127.0.0.1:$(port_of "$size" "$n" 9095),INTERNAL://127.0.0.1:$(port_of "$size" "$n" 9096)"
    echo "controller.listener.names=CONTROLLER"
    echo "inter.broker.listener.name=INTERNAL"
    echo "listener.security.protocol.map=CONTROLLER:SSL,INTERNAL:SSL,SSL:SSL,SASL_SSL:SASL_SSL"
    echo "ssl.keystore.type=PEM"
    echo "ssl.keystore.location=$secrets/broker.pem"
    echo "ssl.truststore.type=PEM"
    echo "ssl.truststore.location=$secrets/ca.crt"
    echo "ssl.client.auth=required"
    echo "listener.name.sasl_ssl.ssl.client.auth=none"
    # The rule's $1 is Kafka's back-reference, not the shell's.
    # shellcheck disable=SC2016
    echo 'ssl.principal.mapping.rules=RULE:^CN=([^,]+)$/$1/,DEFAULT'
    echo "sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN"
    echo "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
    echo "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
    echo "listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;"
    echo "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    echo "allow.everyone.if.no.acl.found=false"
    echo "super.users=User:admin;User:kafkadeps-broker"
  } >>"$dir/server.properties"
}

# `format` arguments that create every user's SCRAM credentials (both mechanisms).
scram_args() {
  local secrets user mech
  secrets=$(secrets_dir "$1")
  for user in $SECURE_USERS; do
    for mech in SCRAM-SHA-512 SCRAM-SHA-256; do
      printf -- '--add-scram\n%s=[name=%s,password=%s]\n' "$mech" "$user" "$(cat "$secrets/$user.password")"
    done
  done
}

voters_of() {
  local size=$1 list="" n
  for n in $(nodes_of "$size"); do list="${list:+$list,}$n@127.0.0.1:$(controller_port "$size" "$n")"; done
  echo "$list"
}

write_config() {
  local size=$1 n=$2 dir rf min_isr
  dir=$(node_dir "$size" "$n")
  if [ "$size" = 1 ]; then rf=1; min_isr=1; else rf=3; min_isr=2; fi
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(voters_of "$size")
log.dirs=$dir/data
auto.create.topics.enable=false
default.replication.factor=$rf
min.insync.replicas=$min_isr
unclean.leader.election.enable=false
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.partitions=1
log.cleaner.dedupe.buffer.size=8388608
log.segment.bytes=16777216
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
replica.lag.time.max.ms=5000
controlled.shutdown.enable=true
EOF
  if [ "$KIND" = s ]; then
    write_secure_config "$size" "$n"
  else
    cat >>"$dir/server.properties" <<EOF
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$size" "$n"),CONTROLLER://127.0.0.1:$(controller_port "$size" "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$size" "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
  fi
}

pid_of() {
  local f
  f="$(node_dir "$1" "$2")/pid"
  [ -f "$f" ] || return 1
  local pid
  pid=$(cat "$f")
  # Only a live process that is really our broker counts (pids get reused).
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $(node_dir "$1" "$2")/server.properties"; then
    echo "$pid"
  else
    return 1
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_node() {
  local size=$1 n=$2 dir
  dir=$(node_dir "$size" "$n")
  if pid_of "$size" "$n" >/dev/null; then return 0; fi
  [ -f "$dir/server.properties" ] || die "node $n of the $size-broker cluster was never set up; run: $0 up --brokers $size"
  if port_open "$(broker_port "$size" "$n")"; then
    die "port $(broker_port "$size" "$n") is already in use by a process this script did not start"
  fi
  # shellcheck disable=SC2086
  nohup java $HEAP_OPTS $JVM_OPTS \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dorg.slf4j.simpleLogger.showDateTime=true \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
}

# Wait until every given node logs that it started and its listener accepts connections.
wait_nodes() {
  local size=$1; shift
  local deadline=$((SECONDS + START_TIMEOUT)) n dir
  for n in "$@"; do
    dir=$(node_dir "$size" "$n")
    until grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null && port_open "$(broker_port "$size" "$n")"; do
      if ! pid_of "$size" "$n" >/dev/null; then
        tail -n 40 "$dir/server.log" >&2 || true
        die "node $n exited during start-up (log: $dir/server.log)"
      fi
      [ $SECONDS -lt $deadline ] || die "node $n did not start within ${START_TIMEOUT}s (log: $dir/server.log)"
      sleep 0.5
    done
  done
}

# Wait until the cluster answers metadata requests and reports the expected number of brokers.
wait_metadata() {
  local size=$1 want=$2 deadline=$((SECONDS + START_TIMEOUT)) out count
  while :; do
    # shellcheck disable=SC2046
    out=$(kjava org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$(bootstrap_of "$size")" $(command_config "$size") 2>/dev/null || true)
    count=$(grep -c '^127.0.0.1:[0-9]* (id:' <<<"$out" || true)
    [ "$count" -ge "$want" ] && return 0
    [ $SECONDS -lt $deadline ] || die "cluster reports $count of $want brokers after ${START_TIMEOUT}s"
    sleep 1
  done
}

# --- commands ----------------------------------------------------------------

cmd_up() {
  local size=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --brokers) size="${2:-}"; shift 2 || true ;;
      --brokers=*) size="${1#*=}"; shift ;;
      --secure) KIND=s; shift ;;
      *) die "unknown argument to up: $1 (usage: up [--brokers 1|3] [--secure])" ;;
    esac
  done
  [ "$size" = 1 ] || [ "$size" = 3 ] || die "--brokers must be 1 or 3, not '$size'"
  require_tools
  install_kafka
  local n dir cluster_id started=() scram=()
  if [ -f "$(cluster_dir "$size")/cluster.id" ]; then
    cluster_id=$(cat "$(cluster_dir "$size")/cluster.id")
  else
    mkdir -p "$(cluster_dir "$size")"
    cluster_id=$(kjava kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    echo "$cluster_id" >"$(cluster_dir "$size")/cluster.id"
  fi
  if [ "$KIND" = s ]; then
    make_secrets "$size"
    mapfile -t scram < <(scram_args "$size")
  fi
  for n in $(nodes_of "$size"); do
    if pid_of "$size" "$n" >/dev/null; then continue; fi
    dir=$(node_dir "$size" "$n")
    if [ ! -f "$dir/data/meta.properties" ]; then
      write_config "$size" "$n"
      kjava kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" --ignore-formatted "${scram[@]}" \
        >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; die "formatting storage of node $n failed"; }
    fi
    start_node "$size" "$n"
    started+=("$n")
  done
  if [ ${#started[@]} -gt 0 ]; then
    log "starting $size-broker $( [ "$KIND" = s ] && echo "secure " )cluster (nodes ${started[*]})"
    wait_nodes "$size" "${started[@]}"
  fi
  wait_metadata "$size" "$size"
  if [ "$KIND" = s ]; then secure_summary "$size"; else bootstrap_of "$size"; fi
}

# Parses [--brokers 1|3] [--secure] into SIZES and KINDS (all when not given).
parse_selection() {
  local usage=$1; shift
  SIZES="1 3"; KINDS="b s"
  while [ $# -gt 0 ]; do
    case "$1" in
      --brokers) SIZES="${2:-}"; shift 2 || true ;;
      --brokers=*) SIZES="${1#*=}"; shift ;;
      --secure) KINDS=s; shift ;;
      *) die "unknown argument: $1 (usage: $usage)" ;;
    esac
  done
  [ "$SIZES" = "1 3" ] || [ "$SIZES" = 1 ] || [ "$SIZES" = 3 ] || die "--brokers must be 1 or 3, not '$SIZES'"
  # --brokers alone means the plaintext cluster of that size.
  if [ "$SIZES" != "1 3" ] && [ "$KINDS" = "b s" ]; then KINDS=b; fi
}

cmd_down() {
  local size n pid deadline kind
  parse_selection "down [--brokers 1|3] [--secure]" "$@"
  for kind in $KINDS; do
    KIND=$kind
    for size in $SIZES; do
      [ -d "$(cluster_dir "$size")" ] || continue
      for n in $(nodes_of "$size"); do
        if pid=$(pid_of "$size" "$n"); then kill -TERM "$pid" 2>/dev/null || true; fi
      done
      deadline=$((SECONDS + 30))
      for n in $(nodes_of "$size"); do
        while pid=$(pid_of "$size" "$n"); do
          if [ $SECONDS -ge $deadline ]; then kill -KILL "$pid" 2>/dev/null || true; fi
          sleep 0.3
        done
      done
      rm -rf "$(cluster_dir "$size")"
      log "stopped the $size-broker $( [ "$KIND" = s ] && echo "secure " )cluster and deleted its data"
    done
  done
}

cmd_status() {
  local size n pid any=0 state kind
  for kind in b s; do
    KIND=$kind
    for size in 1 3; do
      [ -d "$(cluster_dir "$size")" ] || continue
      any=1
      echo "$size-broker $( [ "$KIND" = s ] && echo "secure " )cluster (bootstrap $(bootstrap_of "$size")):"
      for n in $(nodes_of "$size"); do
        if pid=$(pid_of "$size" "$n"); then state="running (pid $pid)"; else state="stopped"; fi
        echo "  node $n  127.0.0.1:$(broker_port "$size" "$n")  $state"
      done
      if [ -f "$LIBS/.complete" ]; then
        echo "  brokers reported by the cluster:"
        # shellcheck disable=SC2046
        kjava org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$(bootstrap_of "$size")" $(command_config "$size") 2>/dev/null \
          | grep '^127.0.0.1:[0-9]* (id:' | sed 's/ -> (.*//; s/^/    /' || echo "    (none answered)"
      fi
    done
  done
  [ $any = 1 ] || { echo "no cluster is running"; return 3; }
}

node_arg() {
  [ -d "$RUN/b3" ] || die "the 3-broker cluster is not up; run: $0 up --brokers 3"
  case "${1:-}" in 1|2|3) echo "$1" ;; *) die "node id must be 1, 2 or 3, not '${1:-}'" ;; esac
}

cmd_kill() {
  local n pid
  n=$(node_arg "${1:-}")
  pid=$(pid_of 3 "$n") || { log "node $n is not running"; return 0; }
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  log "killed node $n (pid $pid) with SIGKILL"
}

cmd_stop() {
  local n pid deadline=$((SECONDS + 60))
  n=$(node_arg "${1:-}")
  pid=$(pid_of 3 "$n") || { log "node $n is not running"; return 0; }
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || die "node $n did not stop within 60s"
    sleep 0.2
  done
  log "stopped node $n (pid $pid) with SIGTERM"
}

cmd_start() {
  local n dir
  n=$(node_arg "${1:-}")
  require_tools
  pid_of 3 "$n" >/dev/null && { log "node $n is already running"; return 0; }
  dir=$(node_dir 3 "$n")
  # Mark the log so wait_nodes looks for this start's banner, not an older one.
  [ -f "$dir/server.log" ] && mv "$dir/server.log" "$dir/server.log.$(date +%s)"
  start_node 3 "$n"
  wait_nodes 3 "$n"
  log "started node $n"
}

main() {
  local cmd="${1:-}" size
  [ $# -gt 0 ] && shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status ;;
    kill) cmd_kill "$@" ;;
    stop) cmd_stop "$@" ;;
    start) cmd_start "$@" ;;
    acls)
      KIND=s; size=1
      case "${1:-}" in --brokers) size="${2:-}"; shift 2 || true ;; esac
      [ "$size" = 1 ] || [ "$size" = 3 ] || die "--brokers must be 1 or 3, not '$size'"
      [ -f "$(secrets_dir "$size")/admin.properties" ] || die "the secure cluster is not up; run: $0 up --secure"
      kjava org.apache.kafka.tools.AclCommand --bootstrap-server "$(bootstrap_of "$size")" \
        --command-config "$(secrets_dir "$size")/admin.properties" "$@" ;;
    groups)
      size=3
      case "${1:-}" in --brokers) size="${2:-}"; shift 2 || true ;; esac
      [ "$size" = 1 ] || [ "$size" = 3 ] || die "--brokers must be 1 or 3, not '$size'"
      kjava org.apache.kafka.tools.GroupsCommand --bootstrap-server "$(bootstrap_of "$size")" "$@" ;;
    tool)
      [ -n "${1:-}" ] || die "tool needs a class, e.g. org.apache.kafka.tools.ProducerPerformance"
      kjava "$@" ;;
    bootstrap)
      parse_selection "bootstrap [--brokers 1|3] [--secure]" "$@"
      [ "$SIZES" = 3 ] || SIZES=1
      if [ "$KINDS" = s ]; then KIND=s; secure_summary "$SIZES"; else bootstrap_of "$SIZES"; fi ;;
    *) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || [ "$cmd" = help ] || exit 2 ;;
  esac
}

main "$@"
