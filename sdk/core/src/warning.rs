//! Warnings: what is doubtful about the declarations or a plan — reported (logged at start,
//! printed by `kafkadeps-sidecar check` and `plan`, returned as admission warnings), not
//! refused. Each is a typed value; its `Display` is the sentence users read, and it serializes
//! as that sentence.

use std::fmt;

use serde::{Serialize, Serializer};

/// Something doubtful about the declarations or the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A `KAFKA_*` variable kafkadeps does not know (with `KAFKA_UNKNOWN_VARIABLES=warn`).
    UnknownVariable {
        /// The variable.
        name: String,
        /// The known variable it is closest to.
        did_you_mean: Option<String>,
    },
    /// A topic's `min.insync.replicas` equals its replicas: no broker may fail without blocking
    /// writes.
    NoBrokerMayFail {
        /// The topic.
        topic: String,
        /// `min.insync.replicas`, equal to the replicas.
        min_insync_replicas: i32,
    },
    /// Two topic names collide once `.` and `_` are folded; Kafka refuses to create both.
    FoldedNameCollision {
        /// The name seen first.
        first: String,
        /// The name that collides with it.
        second: String,
    },
    /// Neither `KAFKA_GROUP_ID` nor `KAFKA_APP` is set: the group is the client id, so each
    /// replica may form its own group.
    GroupIsClientId {
        /// The group id that results.
        group: String,
    },
    /// `KAFKA_GROUP_PROTOCOL=auto` chose the classic protocol because `KAFKA_CLIENT_*` sets
    /// properties the new one refuses.
    ClassicProtocolChosen {
        /// The classic-only properties set.
        properties: Vec<String>,
    },
    /// Replicas clamped to the broker count (`KAFKA_TOPIC_REPLICAS=clamp`): not durable.
    ReplicasClamped {
        /// The topic.
        topic: String,
        /// The declared replicas.
        declared: i32,
        /// The brokers there are.
        brokers: i32,
    },
    /// A dependency (only consumed) is missing and is created with durable defaults.
    MissingDependencyCreated {
        /// The topic.
        topic: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::config::vars;
        match self {
            Self::UnknownVariable { name, did_you_mean } => {
                write!(f, "{name} {}", unknown_variable(did_you_mean.as_deref()))
            }
            Self::NoBrokerMayFail {
                topic,
                min_insync_replicas,
            } => write!(
                f,
                "topic `{topic}`: min.insync.replicas equals replicas ({min_insync_replicas}): no broker may fail without blocking writes"
            ),
            Self::FoldedNameCollision { first, second } => write!(
                f,
                "topics `{first}` and `{second}` collide once `.` and `_` are folded; Kafka refuses to create both"
            ),
            Self::GroupIsClientId { group } => write!(
                f,
                "neither {} nor {} is set: the consumer group defaults to the client id `{group}`, so each replica may form its own group",
                vars::GROUP_ID,
                vars::APP
            ),
            Self::ClassicProtocolChosen { properties } => write!(
                f,
                "the classic group protocol is used because KAFKA_CLIENT_* sets {} (the new protocol refuses it); set KAFKA_GROUP_PROTOCOL=classic to say so",
                properties
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::ReplicasClamped {
                topic,
                declared,
                brokers,
            } => write!(
                f,
                "topic `{topic}`: replicas clamped from {declared} to {brokers} (KAFKA_TOPIC_REPLICAS=clamp); not durable"
            ),
            Self::MissingDependencyCreated { topic } => write!(
                f,
                "topic `{topic}` is a dependency (only consumed) and missing: it is created with durable defaults; its owner's declaration decides its settings from then on"
            ),
        }
    }
}

/// What is wrong with an unknown variable: a warning's sentence, or, by default, a problem's.
pub(crate) fn unknown_variable(did_you_mean: Option<&str>) -> String {
    let hint = did_you_mean
        .map(|known| format!("; did you mean {known}?"))
        .unwrap_or_default();
    format!(
        "is not a kafkadeps variable{hint} (a platform that sets unrelated KAFKA_ variables sets {}=warn)",
        crate::config::vars::UNKNOWN_VARIABLES
    )
}

impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
