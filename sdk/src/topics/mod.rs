//! Topic provisioning: compare declarations with the live cluster ([`plan`]) and make the cluster
//! match ([`Provisioner::ensure`]) under the declared [`TopicPolicy`](crate::config::TopicPolicy).
//!
//! * `create` creates missing topics (one batched call) and grows partitions; drift is reported.
//! * `reconcile` also sets declared config keys (only those) to their declared values.
//! * `verify` changes nothing; missing topics or drift fail.

mod apply;
mod live;
mod plan;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

pub use apply::{EnsureReport, Provisioner, TopicOutcome};
pub use live::{ClusterState, LiveTopic};
pub use plan::{Change, Plan, TopicPlan, plan};

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The cluster could not be reached or did not answer in time.
    #[error("Kafka cluster unavailable: {0}")]
    Unavailable(String),
    /// The cluster refused this client's credentials or TLS settings.
    #[error(transparent)]
    Refused(#[from] crate::Refusal),
    /// A topic asks for more replicas than there are brokers.
    #[error(
        "topic `{topic}` declares {replicas} replicas but the cluster has {brokers} broker(s); lower replicas, or set KAFKA_TOPIC_REPLICAS=clamp for development"
    )]
    NotEnoughBrokers {
        /// Topic name.
        topic: String,
        /// Declared replicas.
        replicas: i32,
        /// Live brokers.
        brokers: usize,
    },
    /// An owned topic declares fewer replicas than durability needs, on a cluster with the
    /// brokers for them.
    #[error(
        "topic `{topic}` declares {replicas} replica(s) on a cluster of {brokers} brokers, which weakens durability: a broker loss can lose acknowledged records (durable: 3 or more); declare replicas=3, or set KAFKA_DURABILITY=relaxed to allow it"
    )]
    WeakReplicas {
        /// Topic name.
        topic: String,
        /// Declared replicas.
        replicas: i32,
        /// Live brokers.
        brokers: usize,
    },
    /// `verify` found missing topics or drift, or a dependency does not meet its requirements.
    #[error("topics do not match their declarations:\n{0}")]
    VerifyFailed(Box<Plan>),
    /// The cluster refused an operation on a topic.
    #[error("{operation} of `{topic}` refused by the cluster: {code}")]
    Kafka {
        /// What was attempted.
        operation: &'static str,
        /// Topic name.
        topic: String,
        /// Kafka's error code.
        code: RDKafkaErrorCode,
    },
    /// Partitions were still without a leader when the timeout ran out.
    #[error("partitions of {0} still have no leader")]
    NoLeader(String),
}

impl ProvisionError {
    pub(crate) fn unavailable(e: KafkaError) -> Self {
        Self::Unavailable(e.to_string())
    }

    /// Whether the same call may succeed later (the cluster was unreachable or slow).
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::NoLeader(_))
    }
}
