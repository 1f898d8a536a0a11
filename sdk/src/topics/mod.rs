//! Topic provisioning: compare declarations with the live cluster ([`plan`]) and make the cluster
//! match ([`Provisioner::ensure`]) under the declared [`TopicPolicy`](crate::config::TopicPolicy).
//!
//! * `create` creates missing topics (one batched call) and grows partitions; drift is reported.
//! * `reconcile` also sets declared config keys (only those) to their declared values.
//! * `verify` changes nothing; missing topics or drift fail.

mod apply;
mod live;
mod metrics;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

pub use apply::{EnsureReport, Provisioner, TopicOutcome};
pub use kafkadeps_core::plan::{
    ADD_PARTITIONS_WARNING, Change, ClusterState, LiveTopic, Plan, PlanError, TopicPlan, plan,
};
pub(crate) use metrics::ProvisionMetrics;

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The cluster could not be reached or did not answer in time.
    #[error("Kafka cluster unavailable")]
    Unavailable(#[source] KafkaError),
    /// The cluster answered, but not in a state to provision in yet: it reported no brokers, or
    /// the topics kept differing from the plan after every round (another instance changing
    /// the same topics at the same time).
    #[error("Kafka cluster not settled: {0}")]
    Unsettled(String),
    /// The cluster refused this client's credentials or TLS settings.
    #[error(transparent)]
    Refused(#[from] crate::Refusal),
    /// The declarations cannot be planned on this cluster (too few brokers for the replicas,
    /// or fewer replicas than durability needs).
    #[error(transparent)]
    Plan(#[from] PlanError),
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
    /// Whether the same call may succeed later (the cluster was unreachable or slow).
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::Unsettled(_) | Self::NoLeader(_)
        )
    }
}
