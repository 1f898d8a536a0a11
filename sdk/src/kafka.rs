//! The facade a service starts from: parse and validate the declarations, ensure the declared
//! topics, hand out the producer and consumers.

use std::sync::Arc;
use std::time::Duration;

use crate::admin_server;
use crate::config::{ConfigError, Settings};
use crate::consumer::{ConsumerBuilder, ConsumerMetrics, TransactionalProducer, dlq_topic};
use crate::producer::{Producer, ProducerMetrics};
use crate::telemetry::lag_sampler::LagMetrics;
use crate::telemetry::stats::ClientMetrics;
use crate::telemetry::{ComponentState, ServiceMetrics, health};
use crate::topics::{EnsureReport, ProvisionError, ProvisionMetrics, Provisioner};

/// Health component of the declared topics.
const TOPICS: &str = "topics";
/// Health component of the producer connection.
const PRODUCER: &str = "producer";

/// Puts every kafkadeps family on `/metrics` from the start, each registered by the component
/// that owns it.
fn register_metrics() {
    ServiceMetrics::global();
    ProducerMetrics::global();
    ConsumerMetrics::global();
    LagMetrics::global();
    ClientMetrics::global();
    ProvisionMetrics::global();
}

/// Why kafkadeps could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The declarations are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The declared topics could not be ensured.
    #[error("declared topics could not be ensured")]
    Provision(#[from] ProvisionError),
    /// A client could not be created or connected.
    #[error("cannot create the Kafka client")]
    Client(#[source] rdkafka::error::KafkaError),
    /// The admin server could not listen.
    #[error("cannot start the admin server on {addr} (KAFKA_METRICS_LISTEN)")]
    AdminServer {
        /// The address.
        addr: std::net::SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// A service's Kafka dependencies, ensured, with a durable producer.
///
/// From the `KAFKA_*` environment ([`Kafka::from_env`]) or from settings built in code:
///
/// ```no_run
/// use kafkadeps::{Declaration, Kafka, Settings};
///
/// # async fn start() -> kafkadeps::Result<()> {
/// let settings = Settings::builder("127.0.0.1:9092")
///     .app("orders")
///     .produces(Declaration::new("orders.v1").partitions(12).config("retention.ms", "7d"))
///     .consumes(Declaration::new("payments.v1"))
///     .build()?;
/// // Creates orders.v1 if it is missing (or reports how it differs), checks payments.v1.
/// let kafka = Kafka::start(settings).await?;
/// println!("{:?}", kafka.ensure_report());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Kafka {
    settings: Arc<Settings>,
    producer: Producer,
    report: Arc<EnsureReport>,
}

impl Kafka {
    /// Reads the `KAFKA_*` environment, validates it, starts the admin server, ensures the
    /// declared topics. Installs the JSON log subscriber on stdout unless the application has
    /// one (`KAFKA_LOG_FORMAT`, `RUST_LOG`).
    pub async fn from_env() -> Result<Self, StartError> {
        crate::telemetry::logging::init_from_env();
        Self::start(Settings::from_env()?).await
    }

    /// Starts from settings built in code ([`Settings::builder`]) or read elsewhere, waiting up
    /// to `KAFKA_ENSURE_TIMEOUT` (default 60 s) for the cluster.
    pub async fn start(settings: Settings) -> Result<Self, StartError> {
        let timeout = settings.ensure_timeout;
        Self::start_with_timeout(settings, timeout).await
    }

    /// Like [`Kafka::start`] with a custom timeout for reaching the cluster.
    pub async fn start_with_timeout(
        settings: Settings,
        timeout: Duration,
    ) -> Result<Self, StartError> {
        crate::config::check_client_properties(&settings)?;
        register_metrics();
        for w in &settings.warnings {
            tracing::warn!(warning = %w, "Declaration warning.");
        }
        if settings.durability == crate::config::Durability::Relaxed {
            tracing::warn!(
                "KAFKA_DURABILITY=relaxed: declarations may weaken the durable defaults; acknowledged records can be lost."
            );
            ServiceMetrics::global().durability_relaxed.set(1);
        }
        let mut settings = Arc::new(settings);
        crate::telemetry::clock::calibrate().await;
        let h = health();
        h.set(
            TOPICS,
            ComponentState::Starting("ensuring declared topics".into()),
        );
        h.set(
            PRODUCER,
            ComponentState::Starting("not connected yet".into()),
        );
        if let Some(addr) = settings.metrics_listen {
            admin_server::ensure_started(addr)
                .await
                .map_err(|source| StartError::AdminServer { addr, source })?;
        }
        let provisioner = Provisioner::new(Arc::clone(&settings))?;
        let report = match provisioner.ensure(timeout).await {
            Ok(r) => r,
            Err(e) => {
                h.set(TOPICS, ComponentState::Failed(e.to_string()));
                return Err(e.into());
            }
        };
        if settings.consumed_topics().next().is_some() {
            let protocol = provisioner.group_protocol(timeout).await;
            tracing::info!(group = %settings.group_id, protocol = ?protocol, "Consumer group protocol.");
            let mut resolved = (*settings).clone();
            resolved.group_protocol = protocol;
            settings = Arc::new(resolved);
        }
        ProvisionMetrics::global().record(&report);
        h.set(TOPICS, ComponentState::Ready);
        let internal = settings
            .consumed_topics()
            .map(|t| dlq_topic(&t.name))
            .collect::<Vec<_>>();
        let producer = Producer::new(&settings, internal).map_err(StartError::Client)?;
        match producer.connect(timeout).await {
            Ok(()) => h.set(PRODUCER, ComponentState::Ready),
            Err(e) => {
                h.set(PRODUCER, ComponentState::Failed(e.to_string()));
                return Err(StartError::Client(e));
            }
        }
        Ok(Self {
            settings,
            producer,
            report: Arc::new(report),
        })
    }

    /// The validated declarations.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// What start-up provisioning found and did.
    pub fn ensure_report(&self) -> &EnsureReport {
        &self.report
    }

    /// The shared durable producer (clones share one connection).
    pub fn producer(&self) -> Producer {
        self.producer.clone()
    }

    /// A consumer of the declared consumed topics; call `run` with your handler.
    pub fn consumer(&self) -> ConsumerBuilder {
        ConsumerBuilder::new(Arc::clone(&self.settings), self.producer.clone())
    }

    /// A transactional producer for exactly-once consume-transform-produce.
    pub fn transactional(&self) -> TransactionalProducer {
        TransactionalProducer::new(Arc::clone(&self.settings))
    }

    /// The admin server's address (`/metrics`, `/livez`, `/readyz`), if it runs.
    pub fn admin_address(&self) -> Option<std::net::SocketAddr> {
        admin_server::address()
    }

    /// Flushes the producer within `grace`; returns how many records were not acknowledged
    /// (logged as errors; their senders got errors).
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.producer.shutdown(grace).await
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;
    use crate::telemetry::{METRIC_FAMILIES, PREFIX};

    #[test]
    fn the_components_register_exactly_the_documented_families() {
        let mut registry = Registry::default();
        let r = registry.sub_registry_with_prefix(PREFIX);
        ServiceMetrics::register(r);
        ProducerMetrics::register(r).example_series();
        ConsumerMetrics::register(r).example_series();
        LagMetrics::register(r).example_series();
        ClientMetrics::register(r).example_series();
        ProvisionMetrics::register(r).example_series();
        let text = crate::telemetry::metrics::encode(&registry);
        let mut exported: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        exported.sort_unstable();
        let mut documented = METRIC_FAMILIES.to_vec();
        documented.sort_unstable();
        assert_eq!(exported, documented, "{text}");
    }

    #[test]
    fn series_carry_the_documented_names_and_labels() {
        register_metrics();
        let producer = ProducerMetrics::global().topic("t");
        producer.ok.inc();
        producer
            .duration
            .observe(std::time::Duration::from_millis(10));
        ConsumerMetrics::global().lane("t").ok.inc();
        let text = crate::telemetry::encode_metrics();
        for name in [
            "kafkadeps_producer_messages_total{topic=\"t\",outcome=\"ok\"} 1",
            "kafkadeps_producer_send_duration_seconds_bucket{",
            "kafkadeps_producer_queue_messages ",
            "kafkadeps_consumer_messages_total{topic=\"t\",outcome=\"ok\"} 1",
            "kafkadeps_consumer_rebalances_total ",
            "kafkadeps_consumer_assigned_partitions ",
            "kafkadeps_build_info{version=\"",
            "kafkadeps_durability_relaxed 0",
            "# EOF",
        ] {
            assert!(text.contains(name), "missing {name} in:\n{text}");
        }
    }
}
