//! The process's Prometheus registry (OpenMetrics text on `/metrics`). Each component registers
//! and owns its families — `ProducerMetrics` in `producer`, `ConsumerMetrics` in `consumer`,
//! `LagMetrics` and `ClientMetrics` here in `telemetry`, `ProvisionMetrics` in `topics`, the
//! sidecar's own — as linkerd2-proxy does with `prometheus-client` sub-registries.
//!
//! Names and labels are a public interface, documented in `docs/observability.md`. Label values
//! come from bounded sets: declared topic names, fixed outcomes, broker ids, route templates —
//! never keys, offsets or error text.

use std::sync::{Mutex, MutexGuard, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The prefix of every kafkadeps family.
pub const PREFIX: &str = "kafkadeps";

/// `{topic}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TopicLabels {
    pub(crate) topic: String,
}

impl TopicLabels {
    pub(crate) fn of(topic: &str) -> Self {
        Self {
            topic: topic.to_owned(),
        }
    }
}

/// Every metric family kafkadeps exports, as named in the `# TYPE` lines of `/metrics`
/// (series add `_total`, `_bucket`, `_sum`, `_count`, `_info` as OpenMetrics says). The
/// sidecar adds the `kafkadeps_sidecar_*` families it documents.
pub const METRIC_FAMILIES: &[&str] = &[
    "kafkadeps_producer_messages",
    "kafkadeps_producer_send_duration_seconds",
    "kafkadeps_producer_queue_messages",
    "kafkadeps_producer_undelivered",
    "kafkadeps_consumer_messages",
    "kafkadeps_consumer_handler_duration_seconds",
    "kafkadeps_consumer_commits",
    "kafkadeps_consumer_rebalances",
    "kafkadeps_consumer_assigned_partitions",
    "kafkadeps_consumer_lag_messages",
    "kafkadeps_consumer_lag_seconds",
    "kafkadeps_consumer_partition_lag_messages",
    "kafkadeps_consumer_partition_lag_seconds",
    "kafkadeps_topic_plan",
    "kafkadeps_topic_drift",
    "kafkadeps_broker_rtt_seconds",
    "kafkadeps_broker_request_errors",
    "kafkadeps_client_queue_messages",
    "kafkadeps_durability_relaxed",
    "kafkadeps_build",
];

/// The process-wide registry (one service per process, one `/metrics`).
fn registry() -> MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| Mutex::new(Registry::default()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Registers families on the process's registry, served on `/metrics` with kafkadeps' own:
/// how the sidecar adds its request metrics, and how a service adds its own.
///
/// ```
/// use kafkadeps::telemetry::prometheus_client::metrics::counter::Counter;
///
/// let orders = kafkadeps::telemetry::register_metrics(|registry| {
///     let orders = Counter::<u64>::default();
///     registry.register("shop_orders", "Orders placed", orders.clone());
///     orders
/// });
/// orders.inc();
/// assert!(kafkadeps::telemetry::encode_metrics().contains("shop_orders_total 1"));
/// ```
pub fn register_metrics<T>(register: impl FnOnce(&mut Registry) -> T) -> T {
    register(&mut registry())
}

/// Registers a kafkadeps component's families under the `kafkadeps` prefix.
pub(crate) fn register_component<T>(register: impl FnOnce(&mut Registry) -> T) -> T {
    register_metrics(|r| register(r.sub_registry_with_prefix(PREFIX)))
}

/// The current metrics in OpenMetrics text (what `/metrics` serves).
pub fn encode_metrics() -> String {
    encode(&registry())
}

/// The OpenMetrics text of `registry`.
pub(crate) fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

/// The service-wide families: the build and whether durability was relaxed.
pub(crate) struct ServiceMetrics {
    /// 1 while the service runs with `KAFKA_DURABILITY=relaxed`.
    pub(crate) durability_relaxed: Gauge,
}

impl ServiceMetrics {
    /// Registers `kafkadeps_durability_relaxed` and `kafkadeps_build_info` on `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let durability_relaxed = Gauge::default();
        registry.register(
            "durability_relaxed",
            "1 when KAFKA_DURABILITY=relaxed lets declarations weaken the durable defaults",
            durability_relaxed.clone(),
        );
        registry.register(
            "build",
            "kafkadeps version",
            Info::new(vec![(
                "version".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            )]),
        );
        Self { durability_relaxed }
    }

    /// The process's, registered on first use.
    pub(crate) fn global() -> &'static Self {
        static METRICS: OnceLock<ServiceMetrics> = OnceLock::new();
        METRICS.get_or_init(|| register_component(Self::register))
    }
}
