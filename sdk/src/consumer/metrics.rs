//! The consumer runtime's families — `kafkadeps_consumer_messages_total{topic,outcome}`,
//! `kafkadeps_consumer_handler_duration_seconds{topic}`,
//! `kafkadeps_consumer_commits_total{outcome}`, `kafkadeps_consumer_rebalances_total`,
//! `kafkadeps_consumer_assigned_partitions` — and the events that write a log line and bump a
//! counter together.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use rdkafka::error::KafkaError;

use super::handler::HandlerError;
use crate::record::Record;
use crate::telemetry::propagation::log_trace;
use crate::telemetry::{DurationHistogram, TopicLabels, register_component};

/// Consumer record outcome.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum RecordOutcome {
    ok,
    retried,
    dead_lettered,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordLabels {
    topic: String,
    outcome: RecordOutcome,
}

/// Commit outcome.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum CommitOutcome {
    ok,
    error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommitLabels {
    outcome: CommitOutcome,
}

/// The consumer runtime's families.
pub(crate) struct ConsumerMetrics {
    messages: Family<RecordLabels, Counter>,
    handler_duration: Family<TopicLabels, DurationHistogram>,
    commits: Family<CommitLabels, Counter>,
    pub(super) rebalances: Counter,
    pub(super) assigned: Gauge,
}

impl ConsumerMetrics {
    /// Registers the families on `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            messages: Family::default(),
            handler_duration: Family::default(),
            commits: Family::default(),
            rebalances: Counter::default(),
            assigned: Gauge::default(),
        };
        registry.register(
            "consumer_messages",
            "Records handled, by outcome",
            m.messages.clone(),
        );
        registry.register_with_unit(
            "consumer_handler_duration",
            "Time one handler attempt took",
            Unit::Seconds,
            m.handler_duration.clone(),
        );
        registry.register(
            "consumer_commits",
            "Offset commits, by outcome",
            m.commits.clone(),
        );
        registry.register(
            "consumer_rebalances",
            "Rebalance events (assign and revoke)",
            m.rebalances.clone(),
        );
        registry.register(
            "consumer_assigned_partitions",
            "Partitions assigned to this process",
            m.assigned.clone(),
        );
        m
    }

    /// The process's, registered on first use.
    pub(crate) fn global() -> &'static Self {
        static METRICS: OnceLock<ConsumerMetrics> = OnceLock::new();
        METRICS.get_or_init(|| register_component(Self::register))
    }

    /// One series of each family (a family shows on `/metrics` once it has one).
    #[cfg(test)]
    pub(crate) fn example_series(&self) {
        let lane = self.lane("t");
        lane.dead_lettered.inc();
        lane.duration.observe(std::time::Duration::from_millis(1));
        self.committed(CommitOutcome::error);
    }

    /// Counts a commit.
    pub(super) fn committed(&self, outcome: CommitOutcome) {
        self.commits.get_or_create(&CommitLabels { outcome }).inc();
    }

    /// The handles of one topic, resolved when a lane starts.
    pub(crate) fn lane(&self, topic: &str) -> LaneMetrics {
        let c = |outcome| {
            self.messages
                .get_or_create(&RecordLabels {
                    topic: topic.to_owned(),
                    outcome,
                })
                .clone()
        };
        LaneMetrics {
            ok: c(RecordOutcome::ok),
            retried: c(RecordOutcome::retried),
            dead_lettered: c(RecordOutcome::dead_lettered),
            duration: self
                .handler_duration
                .get_or_create(&TopicLabels::of(topic))
                .clone(),
        }
    }
}

/// Metric handles of one topic, resolved when a lane starts (no label allocation per record).
pub(crate) struct LaneMetrics {
    pub(crate) ok: Counter,
    retried: Counter,
    dead_lettered: Counter,
    pub(crate) duration: DurationHistogram,
}

/// A handler attempt failed retryably; the record is tried again after a backoff.
pub(super) struct RecordRetried<'a> {
    pub(super) record: &'a Record,
    pub(super) attempt: u32,
    pub(super) error: &'a HandlerError,
}

impl RecordRetried<'_> {
    /// Logs it (with the record's `trace_id` and `span_id` when it has a trace) and counts it.
    pub(super) fn emit(self, metrics: &LaneMetrics) {
        let r = self.record;
        let trace = log_trace(r.header("traceparent"));
        tracing::warn!(
            topic = r.topic(), partition = r.partition(), offset = r.offset(),
            attempt = self.attempt, error = %self.error.chain(),
            trace_id = trace.as_ref().map(|t| t.trace_id.as_str()),
            span_id = trace.as_ref().map(|t| t.span_id.as_str()),
            "Handler failed; retrying."
        );
        metrics.retried.inc();
    }
}

/// A record goes to the dead-letter topic: permanent, poison, or out of attempts.
pub(super) struct DeadLettering<'a> {
    pub(super) record: &'a Record,
    pub(super) attempt: u32,
    pub(super) error: &'a HandlerError,
}

impl DeadLettering<'_> {
    /// Logs that the record is on its way to the dead-letter topic (with its trace).
    pub(super) fn emit(self) {
        let r = self.record;
        let trace = log_trace(r.header("traceparent"));
        tracing::error!(
            topic = r.topic(), partition = r.partition(), offset = r.offset(),
            attempt = self.attempt, kind = self.error.kind_name(), error = %self.error.chain(),
            trace_id = trace.as_ref().map(|t| t.trace_id.as_str()),
            span_id = trace.as_ref().map(|t| t.span_id.as_str()),
            "Sending record to the dead-letter topic."
        );
    }
}

/// The dead-letter topic has the record (all in-sync replicas acknowledged it).
pub(super) struct DeadLettered;

impl DeadLettered {
    /// Counts it (the log line was [`DeadLettering`]'s).
    pub(super) fn emit(self, metrics: &LaneMetrics) {
        metrics.dead_lettered.inc();
    }
}

/// An offset commit failed; the next commit carries the offsets again.
pub(super) struct CommitFailed<'a> {
    pub(super) error: &'a KafkaError,
    /// Partitions the commit covered, when known.
    pub(super) partitions: Option<usize>,
}

impl CommitFailed<'_> {
    /// Logs it and counts it.
    pub(super) fn emit(self, metrics: &ConsumerMetrics) {
        metrics.committed(CommitOutcome::error);
        match self.partitions {
            Some(partitions) => tracing::warn!(
                error = %self.error, partitions,
                "Offset commit failed; the next commit retries."
            ),
            None => tracing::warn!(
                error = %self.error,
                "Offset commit failed; the next commit retries."
            ),
        }
    }
}

/// Counters the runtime exposes (read by observability and tests).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) rebalances: AtomicU64,
    pub(crate) assigned: AtomicU64,
    pub(crate) commits_ok: AtomicU64,
    pub(crate) commits_failed: AtomicU64,
}

impl Counters {
    pub(super) fn rebalanced(&self) {
        self.rebalances.fetch_add(1, AtomicOrdering::Relaxed);
        ConsumerMetrics::global().rebalances.inc();
    }

    pub(super) fn assigned(&self, partitions: usize) {
        self.assigned
            .store(partitions as u64, AtomicOrdering::Relaxed);
        ConsumerMetrics::global()
            .assigned
            .set(i64::try_from(partitions).unwrap_or(i64::MAX));
    }

    /// Counts a successful commit.
    pub(super) fn committed(&self) {
        self.commits_ok.fetch_add(1, AtomicOrdering::Relaxed);
        ConsumerMetrics::global().committed(CommitOutcome::ok);
    }

    /// Counts and logs a failed commit (of `partitions`, when known).
    pub(super) fn commit_failed(&self, error: &KafkaError, partitions: Option<usize>) {
        self.commits_failed.fetch_add(1, AtomicOrdering::Relaxed);
        CommitFailed { error, partitions }.emit(ConsumerMetrics::global());
    }
}
