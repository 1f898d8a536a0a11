//! The producer's families — `kafkadeps_producer_messages_total{topic,outcome}`,
//! `kafkadeps_producer_send_duration_seconds{topic}`, `kafkadeps_producer_queue_messages`,
//! `kafkadeps_producer_undelivered_total` — and the events that bump them.

use std::sync::OnceLock;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use rdkafka::{ClientContext, Statistics};

use crate::telemetry::stats::{ClientMetrics, ClientRole};
use crate::telemetry::{DurationHistogram, TopicLabels, register_component};

/// Producer send outcome.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum SendOutcome {
    ok,
    error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SendLabels {
    topic: String,
    outcome: SendOutcome,
}

/// The producer's families.
pub(crate) struct ProducerMetrics {
    messages: Family<SendLabels, Counter>,
    send_duration: Family<TopicLabels, DurationHistogram>,
    /// Records queued or in flight, from librdkafka's statistics.
    pub(super) queue: Gauge,
    undelivered: Counter,
}

impl ProducerMetrics {
    /// Registers the families on `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            messages: Family::default(),
            send_duration: Family::default(),
            queue: Gauge::default(),
            undelivered: Counter::default(),
        };
        registry.register(
            "producer_messages",
            "Records sent, by outcome",
            m.messages.clone(),
        );
        registry.register_with_unit(
            "producer_send_duration",
            "Time from send to acknowledgement by all in-sync replicas",
            Unit::Seconds,
            m.send_duration.clone(),
        );
        registry.register(
            "producer_queue_messages",
            "Records queued or in flight in the producer",
            m.queue.clone(),
        );
        registry.register(
            "producer_undelivered",
            "Records still unacknowledged when the producer shut down",
            m.undelivered.clone(),
        );
        m
    }

    /// The process's, registered on first use.
    pub(crate) fn global() -> &'static Self {
        static METRICS: OnceLock<ProducerMetrics> = OnceLock::new();
        METRICS.get_or_init(|| register_component(Self::register))
    }

    /// One series of each family (a family shows on `/metrics` once it has one).
    #[cfg(test)]
    pub(crate) fn example_series(&self) {
        let t = self.topic("t");
        t.error.inc();
        t.duration.observe(std::time::Duration::from_millis(1));
    }

    /// The handles of one declared topic.
    pub(crate) fn topic(&self, topic: &str) -> TopicMetrics {
        let counter = |outcome| {
            self.messages
                .get_or_create(&SendLabels {
                    topic: topic.to_owned(),
                    outcome,
                })
                .clone()
        };
        TopicMetrics {
            topic: topic.into(),
            ok: counter(SendOutcome::ok),
            error: counter(SendOutcome::error),
            duration: self
                .send_duration
                .get_or_create(&TopicLabels::of(topic))
                .clone(),
        }
    }
}

/// Metric handles of one declared topic, resolved once (no label allocation per send).
pub(crate) struct TopicMetrics {
    pub(super) topic: Box<str>,
    pub(crate) ok: Counter,
    pub(super) error: Counter,
    pub(crate) duration: DurationHistogram,
}

/// The producer shut down with records not acknowledged: their senders get errors.
pub(super) struct Undelivered {
    pub(super) records: usize,
}

impl Undelivered {
    /// Logs it and counts the records.
    pub(super) fn emit(self, metrics: &ProducerMetrics) {
        metrics.undelivered.inc_by(self.records as u64);
        tracing::error!(
            undelivered = self.records,
            "Producer shut down with records not acknowledged; their senders get errors."
        );
    }
}

/// The producer's client context: statistics to metrics (logs go to `tracing` by default).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ProducerTelemetry;

impl ClientContext for ProducerTelemetry {
    fn stats(&self, statistics: Statistics) {
        // Queued or in flight, from librdkafka's own count (cheaper than asking per send).
        ProducerMetrics::global()
            .queue
            .set(i64::try_from(statistics.msg_cnt).unwrap_or(i64::MAX));
        ClientMetrics::global().record(ClientRole::producer, &statistics);
    }
}
