#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, unit and integration tests against a real
# Apache Kafka cluster. Starts the 3-broker cluster unless KAFKA_BOOTSTRAP_SERVERS points at one,
# and stops what it started, even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/prereqs.sh
. scripts/lib/prereqs.sh

# prometheus: a real Prometheus server scrapes a service in the observability tests.
ensure_debian_packages prometheus
# openssl: the secure cluster's CA and certificates; shellcheck: the scripts' lint.
ensure_debian_packages openssl shellcheck
ensure_rust
ensure_python_venv
# helm (built from its Go module) and Strimzi's KafkaTopic schema (npm) for the chart tests.
ensure_helm
# KEDA's ScaledObject CRD (Go module) to validate the library chart's ScaledObject.
ensure_keda_crd
# Prometheus with Kubernetes discovery (Go module) for the end-to-end test on a real node.
ensure_prometheus
ensure_node_packages
# A real kube-apiserver + etcd for the webhook tests, and kubelet, scheduler and controller
# manager for the end-to-end test on a real node, built from their Go modules once (cached).
scripts/kube.sh build >/dev/null

started_kafka=0
started_secure=0
cleanup() {
  local rc=$?
  if [ "$started_kafka" = 1 ]; then scripts/kafka.sh down --brokers 3 || true; fi
  if [ "$started_secure" = 1 ]; then scripts/kafka.sh down --secure || true; fi
  exit $rc
}
trap cleanup EXIT INT TERM

step() { printf '\n==> %s\n' "$*"; }

step "shellcheck scripts/"
shellcheck -x scripts/*.sh scripts/lib/*.sh benches/peers/*.sh

step "rust-version is true"
scripts/check-rust-version.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The sidecar as it ships (no webhook, no GSSAPI) is a feature set of its own.
cargo clippy -p kafkadeps-sidecar --no-default-features --features vendored --locked -- -D warnings
# So are the example services of the images (the SDK without its default features).
cargo clippy -p example-orders-service -p example-billing-service --no-default-features \
  --features vendored --locked -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  step "starting the local 3-broker Apache Kafka cluster"
  # Stop at the end only what this run started (a cluster left running by hand stays up).
  running=$(scripts/kafka.sh status 2>/dev/null | sed -n '/^3-broker cluster/,/brokers reported/p' \
    | grep -c "running (pid" || true)
  [ "$running" -ge 3 ] || started_kafka=1
  export KAFKA_BOOTSTRAP_SERVERS
  KAFKA_BOOTSTRAP_SERVERS=$(scripts/kafka.sh up --brokers 3)
  # Broker faults are injected only into the cluster this checkout runs.
  export KAFKADEPS_TEST_FAULTS=1
fi

# The secured broker (TLS, SASL, mTLS, an authorizer) of the security tests, next to it.
step "starting the local secure Apache Kafka broker"
scripts/kafka.sh status 2>/dev/null | grep -q "^1-broker secure cluster" || started_secure=1
scripts/kafka.sh up --secure

step "cargo test (against $KAFKA_BOOTSTRAP_SERVERS)"
cargo build --workspace --bins --locked --quiet
# The container images (podman), run by the image and Kubernetes tests.
export KAFKADEPS_IMAGE_TAG=test
scripts/images.sh build --tag "$KAFKADEPS_IMAGE_TAG"
# The sidecar, provisioning and interop tests run the binary that ships in the sidecar image.
export KAFKADEPS_SIDECAR_BIN
KAFKADEPS_SIDECAR_BIN=$(scripts/build-sidecar.sh --quiet)
cargo test --workspace --locked
