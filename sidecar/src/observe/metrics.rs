//! The observer's families, on the process registry (served at `/metrics`).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct GroupTopic {
    pub(super) group: String,
    pub(super) topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct GroupPartition {
    pub(super) group: String,
    pub(super) topic: String,
    pub(super) partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Group {
    pub(super) group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Dependency {
    pub(super) service: String,
    pub(super) topic: String,
    /// `producer` or `consumer`.
    pub(super) role: &'static str,
}

type GaugeF64 = Gauge<f64, AtomicU64>;

/// The observer's families.
pub(super) struct ObserverMetrics {
    pub(super) lag_messages: Family<GroupTopic, Gauge>,
    pub(super) lag_seconds: Family<GroupTopic, GaugeF64>,
    pub(super) committed: Family<GroupPartition, Gauge>,
    pub(super) members: Family<Group, Gauge>,
    pub(super) stable: Family<Group, Gauge>,
    pub(super) dependencies: Family<Dependency, Gauge>,
}

impl ObserverMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = Self {
            lag_messages: Family::default(),
            lag_seconds: Family::default(),
            committed: Family::default(),
            members: Family::default(),
            stable: Family::default(),
            dependencies: Family::default(),
        };
        registry.register(
            "group_lag_messages",
            "Records between a group's committed offsets and the log end, summed over the topic's partitions",
            m.lag_messages.clone(),
        );
        registry.register_with_unit(
            "group_lag",
            "How long ago the log end was at the group's committed offset (max over the topic's partitions)",
            Unit::Seconds,
            m.lag_seconds.clone(),
        );
        registry.register(
            "group_committed_offset",
            "The group's committed offset (the next record it reads), per partition",
            m.committed.clone(),
        );
        registry.register(
            "group_members",
            "Members of the consumer group",
            m.members.clone(),
        );
        registry.register(
            "group_stable",
            "1 while the consumer group is Stable (not rebalancing, not empty)",
            m.stable.clone(),
        );
        registry.register(
            "dependency_info",
            "1 per service and topic it depends on, by role (producer or consumer)",
            m.dependencies.clone(),
        );
        m
    }

    /// Registers the families on the process registry.
    pub(super) fn new() -> Self {
        kafkadeps::telemetry::register_metrics(|r| {
            Self::register(r.sub_registry_with_prefix("kafkadeps"))
        })
    }
}
