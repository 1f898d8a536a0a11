//! Provisioning's families: `kafkadeps_topic_plan{topic,action}` (the start-up plan) and
//! `kafkadeps_topic_drift{topic}` (differences left unfixed).

use std::sync::OnceLock;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{Change, EnsureReport};
use crate::telemetry::{TopicLabels, register_component};

/// Plan actions.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum PlanAction {
    create,
    add_partitions,
    set_config,
    drift,
    unchanged,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlanLabels {
    topic: String,
    action: PlanAction,
}

/// Provisioning's families.
pub(crate) struct ProvisionMetrics {
    plan: Family<PlanLabels, Gauge>,
    drift: Family<TopicLabels, Gauge>,
}

impl ProvisionMetrics {
    /// Registers the families on `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            plan: Family::default(),
            drift: Family::default(),
        };
        registry.register(
            "topic_plan",
            "Provisioning plan at start-up: 1 per (topic, action)",
            m.plan.clone(),
        );
        registry.register(
            "topic_drift",
            "Differences from the declaration left unfixed",
            m.drift.clone(),
        );
        m
    }

    /// One series of each family (a family shows on `/metrics` once it has one).
    #[cfg(test)]
    pub(crate) fn example_series(&self) {
        self.plan
            .get_or_create(&PlanLabels {
                topic: "t".into(),
                action: PlanAction::create,
            })
            .set(1);
        self.drift.get_or_create(&TopicLabels::of("t")).set(0);
    }

    /// The process's, registered on first use.
    pub(crate) fn global() -> &'static Self {
        static METRICS: OnceLock<ProvisionMetrics> = OnceLock::new();
        METRICS.get_or_init(|| register_component(Self::register))
    }

    /// Publishes the start-up plan and the drift left.
    pub(crate) fn record(&self, report: &EnsureReport) {
        for t in &report.plan.topics {
            for c in &t.changes {
                let action = match c {
                    Change::Create { .. } => PlanAction::create,
                    Change::AddPartitions { .. } => PlanAction::add_partitions,
                    Change::SetConfig { .. } => PlanAction::set_config,
                    Change::Drift { .. } => PlanAction::drift,
                    _ => PlanAction::unchanged,
                };
                self.plan
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
            self.drift
                .get_or_create(&TopicLabels::of(&t.topic))
                .set(i64::try_from(drift).unwrap_or(i64::MAX));
        }
    }
}
