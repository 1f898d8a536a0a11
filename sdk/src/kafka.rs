//! The facade a service starts from: parse and validate the declarations, ensure the declared
//! topics, hand out the producer and consumers.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ConfigError, Settings};
use crate::consumer::{ConsumerBuilder, dlq_topic};
use crate::producer::{Producer, TransactionalProducer};
use crate::topics::{EnsureReport, ProvisionError, Provisioner};

/// How long start-up waits for the cluster by default.
pub const DEFAULT_ENSURE_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// A client could not be created.
    #[error("cannot create the Kafka client")]
    Client(#[source] rdkafka::error::KafkaError),
}

/// A service's Kafka dependencies, ensured, with a durable producer.
#[derive(Debug, Clone)]
pub struct Kafka {
    settings: Arc<Settings>,
    producer: Producer,
    report: Arc<EnsureReport>,
}

impl Kafka {
    /// Reads the `KAFKA_*` environment, validates it, ensures the declared topics.
    pub async fn from_env() -> Result<Self, StartError> {
        Self::start(Settings::from_env()?).await
    }

    /// Starts from settings built in code ([`Settings::builder`]) or read elsewhere.
    pub async fn start(settings: Settings) -> Result<Self, StartError> {
        Self::start_with_timeout(settings, DEFAULT_ENSURE_TIMEOUT).await
    }

    /// Like [`Kafka::start`] with a custom timeout for reaching the cluster.
    pub async fn start_with_timeout(
        settings: Settings,
        timeout: Duration,
    ) -> Result<Self, StartError> {
        for w in &settings.warnings {
            tracing::warn!(warning = %w, "Declaration warning.");
        }
        let settings = Arc::new(settings);
        let report = Provisioner::new(Arc::clone(&settings))?
            .ensure(timeout)
            .await?;
        let internal = settings
            .consumed_topics()
            .map(|t| dlq_topic(&t.name))
            .collect::<Vec<_>>();
        let producer = Producer::new(&settings, internal).map_err(StartError::Client)?;
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

    /// Flushes the producer within `grace`; returns how many records were not acknowledged
    /// (logged as errors; their senders got errors).
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.producer.shutdown(grace).await
    }
}
