//! The facade a service starts from: parse and validate the declarations, ensure the declared
//! topics, hand out the producer and consumers.

use std::sync::Arc;
use std::time::Duration;

use crate::admin_server;
use crate::config::{ConfigError, Settings};
use crate::consumer::TransactionalProducer;
use crate::consumer::{ConsumerBuilder, dlq_topic};
use crate::producer::Producer;
use crate::telemetry::{ComponentState, Metrics, PlanAction, PlanLabels, health, metrics};
use crate::topics::Change;
use crate::topics::{EnsureReport, ProvisionError, Provisioner};

/// Health component of the declared topics.
const TOPICS: &str = "topics";
/// Health component of the producer connection.
const PRODUCER: &str = "producer";

/// Publishes the start-up plan and the drift left as metrics.
fn record_plan(report: &EnsureReport) {
    let m = metrics();
    for t in &report.plan.topics {
        for c in &t.changes {
            let action = match c {
                Change::Create { .. } => PlanAction::create,
                Change::AddPartitions { .. } => PlanAction::add_partitions,
                Change::SetConfig { .. } => PlanAction::set_config,
                Change::Drift { .. } => PlanAction::drift,
                _ => PlanAction::unchanged,
            };
            m.topic_plan
                .get_or_create(&PlanLabels {
                    topic: t.topic.clone(),
                    action,
                })
                .set(1);
        }
    }
    for t in &report.remaining.topics {
        let drift = t
            .changes
            .iter()
            .filter(|c| matches!(c, Change::Drift { .. }))
            .count();
        m.topic_drift
            .get_or_create(&Metrics::topic(&t.topic))
            .set(i64::try_from(drift).unwrap_or(i64::MAX));
    }
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
/// # async fn start() -> Result<(), Box<dyn std::error::Error>> {
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
        for w in &settings.warnings {
            tracing::warn!(warning = %w, "Declaration warning.");
        }
        if settings.durability == crate::config::Durability::Relaxed {
            tracing::warn!(
                "KAFKA_DURABILITY=relaxed: declarations may weaken the durable defaults; acknowledged records can be lost."
            );
            crate::telemetry::metrics().durability_relaxed.set(1);
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
        record_plan(&report);
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
