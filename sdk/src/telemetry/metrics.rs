//! Prometheus metrics (OpenMetrics text). Names and labels are a public interface, documented in
//! `docs/observability.md`. Label values come from bounded sets: declared topic names, fixed
//! outcomes, broker ids — never keys, offsets or error text.

use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, OnceLock};

use super::duration_histogram::DurationHistogram;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// `{topic}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TopicLabels {
    pub(crate) topic: String,
}

/// `{topic, partition}` (opt-in lag series only).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PartitionLabels {
    pub(crate) topic: String,
    pub(crate) partition: i32,
}

/// Producer send outcome.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum SendOutcome {
    ok,
    error,
}

/// Consumer record outcome.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum RecordOutcome {
    ok,
    retried,
    dead_lettered,
}

/// Commit outcome.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum CommitOutcome {
    ok,
    error,
}

/// Plan actions.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum PlanAction {
    create,
    add_partitions,
    set_config,
    drift,
    unchanged,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SendLabels {
    pub(crate) topic: String,
    pub(crate) outcome: SendOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RecordLabels {
    pub(crate) topic: String,
    pub(crate) outcome: RecordOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CommitLabels {
    pub(crate) outcome: CommitOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PlanLabels {
    pub(crate) topic: String,
    pub(crate) action: PlanAction,
}

/// Which client a librdkafka statistic is from.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum ClientRole {
    producer,
    consumer,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BrokerLabels {
    pub(crate) client: ClientRole,
    pub(crate) broker: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClientLabels {
    pub(crate) client: ClientRole,
}

type GaugeF64 = Gauge<f64, AtomicU64>;

/// Every metric family kafkadeps exports, as named in the `# TYPE` lines of `/metrics`
/// (series add `_total`, `_bucket`, `_sum`, `_count`, `_info` as OpenMetrics says).
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

/// Every metric kafkadeps exports.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) producer_messages: Family<SendLabels, Counter>,
    pub(crate) producer_send_duration: Family<TopicLabels, DurationHistogram>,
    pub(crate) producer_queue: Gauge,
    pub(crate) producer_undelivered: Counter,
    pub(crate) consumer_messages: Family<RecordLabels, Counter>,
    pub(crate) consumer_handler_duration: Family<TopicLabels, DurationHistogram>,
    pub(crate) consumer_commits: Family<CommitLabels, Counter>,
    pub(crate) consumer_rebalances: Counter,
    pub(crate) consumer_assigned: Gauge,
    pub(crate) consumer_lag_messages: Family<TopicLabels, Gauge>,
    pub(crate) consumer_lag_seconds: Family<TopicLabels, GaugeF64>,
    pub(crate) consumer_partition_lag_messages: Family<PartitionLabels, Gauge>,
    pub(crate) consumer_partition_lag_seconds: Family<PartitionLabels, GaugeF64>,
    pub(crate) topic_plan: Family<PlanLabels, Gauge>,
    pub(crate) topic_drift: Family<TopicLabels, Gauge>,
    pub(crate) broker_rtt: Family<BrokerLabels, GaugeF64>,
    pub(crate) broker_errors: Family<BrokerLabels, Counter>,
    pub(crate) client_queue: Family<ClientLabels, Gauge>,
    /// 1 while the service runs with `KAFKA_DURABILITY=relaxed`.
    pub(crate) durability_relaxed: Gauge,
    /// Last cumulative error count per broker, to turn librdkafka's totals into increments.
    pub(crate) broker_errors_seen: Mutex<std::collections::HashMap<BrokerLabels, u64>>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let producer_messages = Family::default();
        registry.register(
            "kafkadeps_producer_messages",
            "Records sent, by outcome",
            producer_messages.clone(),
        );
        let producer_send_duration = Family::<TopicLabels, DurationHistogram>::default();
        registry.register_with_unit(
            "kafkadeps_producer_send_duration",
            "Time from send to acknowledgement by all in-sync replicas",
            Unit::Seconds,
            producer_send_duration.clone(),
        );
        let producer_queue = Gauge::default();
        registry.register(
            "kafkadeps_producer_queue_messages",
            "Records queued or in flight in the producer",
            producer_queue.clone(),
        );
        let producer_undelivered = Counter::default();
        registry.register(
            "kafkadeps_producer_undelivered",
            "Records still unacknowledged when the producer shut down",
            producer_undelivered.clone(),
        );
        let consumer_messages = Family::default();
        registry.register(
            "kafkadeps_consumer_messages",
            "Records handled, by outcome",
            consumer_messages.clone(),
        );
        let consumer_handler_duration = Family::<TopicLabels, DurationHistogram>::default();
        registry.register_with_unit(
            "kafkadeps_consumer_handler_duration",
            "Time one handler attempt took",
            Unit::Seconds,
            consumer_handler_duration.clone(),
        );
        let consumer_commits = Family::default();
        registry.register(
            "kafkadeps_consumer_commits",
            "Offset commits, by outcome",
            consumer_commits.clone(),
        );
        let consumer_rebalances = Counter::default();
        registry.register(
            "kafkadeps_consumer_rebalances",
            "Rebalance events (assign and revoke)",
            consumer_rebalances.clone(),
        );
        let consumer_assigned = Gauge::default();
        registry.register(
            "kafkadeps_consumer_assigned_partitions",
            "Partitions assigned to this process",
            consumer_assigned.clone(),
        );
        let consumer_lag_messages = Family::default();
        registry.register(
            "kafkadeps_consumer_lag_messages",
            "Records between the committed offset and the log end, summed over assigned partitions",
            consumer_lag_messages.clone(),
        );
        let consumer_lag_seconds = Family::default();
        registry.register_with_unit(
            "kafkadeps_consumer_lag",
            "How long ago the log end was at the committed offset (max over assigned partitions)",
            Unit::Seconds,
            consumer_lag_seconds.clone(),
        );
        let consumer_partition_lag_messages = Family::default();
        registry.register(
            "kafkadeps_consumer_partition_lag_messages",
            "Per-partition lag in records (only with KAFKA_METRICS_PARTITION_LAG=true)",
            consumer_partition_lag_messages.clone(),
        );
        let consumer_partition_lag_seconds = Family::default();
        registry.register_with_unit(
            "kafkadeps_consumer_partition_lag",
            "Per-partition lag in seconds (only with KAFKA_METRICS_PARTITION_LAG=true)",
            Unit::Seconds,
            consumer_partition_lag_seconds.clone(),
        );
        let topic_plan = Family::default();
        registry.register(
            "kafkadeps_topic_plan",
            "Provisioning plan at start-up: 1 per (topic, action)",
            topic_plan.clone(),
        );
        let topic_drift = Family::default();
        registry.register(
            "kafkadeps_topic_drift",
            "Differences from the declaration left unfixed",
            topic_drift.clone(),
        );
        let broker_rtt = Family::default();
        registry.register_with_unit(
            "kafkadeps_broker_rtt",
            "librdkafka: average broker round-trip time",
            Unit::Seconds,
            broker_rtt.clone(),
        );
        let broker_errors = Family::default();
        registry.register(
            "kafkadeps_broker_request_errors",
            "librdkafka: request transmit and receive errors",
            broker_errors.clone(),
        );
        let client_queue = Family::default();
        registry.register(
            "kafkadeps_client_queue_messages",
            "librdkafka: messages in the client's queues",
            client_queue.clone(),
        );
        let durability_relaxed = Gauge::default();
        registry.register(
            "kafkadeps_durability_relaxed",
            "1 when KAFKA_DURABILITY=relaxed lets declarations weaken the durable defaults",
            durability_relaxed.clone(),
        );
        registry.register(
            "kafkadeps_build",
            "kafkadeps version",
            Info::new(vec![(
                "version".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            )]),
        );
        Self {
            registry,
            producer_messages,
            producer_send_duration,
            producer_queue,
            producer_undelivered,
            consumer_messages,
            consumer_handler_duration,
            consumer_commits,
            consumer_rebalances,
            consumer_assigned,
            consumer_lag_messages,
            consumer_lag_seconds,
            consumer_partition_lag_messages,
            consumer_partition_lag_seconds,
            topic_plan,
            topic_drift,
            broker_rtt,
            broker_errors,
            client_queue,
            durability_relaxed,
            broker_errors_seen: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The OpenMetrics text of every metric.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    pub(crate) fn topic(topic: &str) -> TopicLabels {
        TopicLabels {
            topic: topic.to_owned(),
        }
    }
}

/// The process-wide metrics (one service per process, one `/metrics`).
pub(crate) fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_family_list_is_exactly_what_is_exported() {
        let m = Metrics::new();
        let t = Metrics::topic("t");
        let p = PartitionLabels {
            topic: "t".into(),
            partition: 0,
        };
        let b = BrokerLabels {
            client: ClientRole::producer,
            broker: 1,
        };
        m.producer_messages
            .get_or_create(&SendLabels {
                topic: "t".into(),
                outcome: SendOutcome::error,
            })
            .inc();
        m.producer_send_duration
            .get_or_create(&t)
            .observe(std::time::Duration::from_millis(100));
        m.consumer_messages
            .get_or_create(&RecordLabels {
                topic: "t".into(),
                outcome: RecordOutcome::dead_lettered,
            })
            .inc();
        m.consumer_handler_duration
            .get_or_create(&t)
            .observe(std::time::Duration::from_millis(100));
        m.consumer_commits
            .get_or_create(&CommitLabels {
                outcome: CommitOutcome::error,
            })
            .inc();
        m.consumer_lag_messages.get_or_create(&t).set(1);
        m.consumer_lag_seconds.get_or_create(&t).set(1.0);
        m.consumer_partition_lag_messages.get_or_create(&p).set(1);
        m.consumer_partition_lag_seconds.get_or_create(&p).set(1.0);
        m.topic_plan
            .get_or_create(&PlanLabels {
                topic: "t".into(),
                action: PlanAction::create,
            })
            .set(1);
        m.topic_drift.get_or_create(&t).set(0);
        m.broker_rtt.get_or_create(&b).set(0.001);
        m.broker_errors.get_or_create(&b).inc();
        m.client_queue
            .get_or_create(&ClientLabels {
                client: ClientRole::consumer,
            })
            .set(0);
        let text = m.encode();
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
    fn names_are_the_documented_ones() {
        let m = metrics();
        m.producer_messages
            .get_or_create(&SendLabels {
                topic: "t".into(),
                outcome: SendOutcome::ok,
            })
            .inc();
        m.producer_send_duration
            .get_or_create(&Metrics::topic("t"))
            .observe(std::time::Duration::from_millis(10));
        m.consumer_lag_seconds
            .get_or_create(&Metrics::topic("t"))
            .set(1.5);
        m.consumer_commits
            .get_or_create(&CommitLabels {
                outcome: CommitOutcome::ok,
            })
            .inc();
        let text = m.encode();
        for name in [
            "kafkadeps_producer_messages_total{topic=\"t\",outcome=\"ok\"} 1",
            "kafkadeps_producer_send_duration_seconds_bucket{",
            "kafkadeps_producer_queue_messages ",
            "kafkadeps_consumer_lag_seconds{topic=\"t\"} 1.5",
            "kafkadeps_consumer_commits_total{outcome=\"ok\"}",
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
