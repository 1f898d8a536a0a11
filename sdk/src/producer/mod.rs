//! The durable, idempotent producer: `acks=all`, idempotence, bounded in-flight sends with
//! backpressure, sends only to declared topics, nothing dropped silently.

mod hand_over;
mod metrics;
pub(crate) mod outgoing;
mod send_future;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, Producer as _};
use rustc_hash::FxHashMap;
use tokio::sync::Notify;

pub use send_future::SendFuture;

use crate::codec::CodecError;
use crate::config::Settings;
use crate::connection::{Role, client_config};
use crate::record::OutgoingRecord;
use crate::telemetry::propagation::attr;
pub(crate) use metrics::{ProducerMetrics, ProducerTelemetry};
use metrics::{TopicMetrics, Undelivered};
use send_future::{Pending, Traced};

/// The durable producer defaults, applied before `KAFKA_CLIENT_*` properties.
///
/// `linger.ms` is the default profile's ([`ProducerProfile::Throughput`](crate::config::ProducerProfile::Throughput)): 20, not librdkafka's
/// 5. Its idempotent producer keeps one produce request in flight per partition, and while that
/// request waits for its `acks=all` answer and the next batch is already past `linger.ms`, the
/// broker thread polls its socket in a busy loop. A linger at least as long as the round trip
/// keeps the broker threads asleep; a lone send waits up to 20 ms longer.
/// `KAFKA_PRODUCER_PROFILE=latency` sets 0 instead, and `KAFKA_CLIENT_LINGER_MS` overrides both.
pub const DURABLE_PRODUCER: &[(&str, &str)] = &[
    ("acks", "all"),
    ("enable.idempotence", "true"),
    ("max.in.flight.requests.per.connection", "5"),
    ("message.send.max.retries", "2147483647"),
    ("delivery.timeout.ms", "120000"),
    ("linger.ms", "20"),
    ("compression.type", "lz4"),
    ("queue.buffering.max.messages", "100000"),
    (
        "statistics.interval.ms",
        crate::telemetry::stats::STATISTICS_INTERVAL_MS,
    ),
];

/// [`DURABLE_PRODUCER`] with the `linger.ms` of the settings' [`ProducerProfile`](crate::config::ProducerProfile).
pub(crate) fn producer_defaults(settings: &Settings) -> Vec<(&'static str, &'static str)> {
    let linger = settings.producer_profile.linger_ms();
    DURABLE_PRODUCER
        .iter()
        .map(|&(k, v)| (k, if k == "linger.ms" { linger } else { v }))
        .collect()
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

/// A send failed. The record is handed back, so nothing is lost in an error path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The topic is not declared as produced.
    #[error("topic `{0}` is not declared as produced; add it to KAFKA_PRODUCES (or KAFKA_TOPIC)")]
    UndeclaredTopic(String),
    /// The value could not be encoded.
    #[error("cannot encode the record for `{topic}`")]
    Encode {
        /// Topic.
        topic: String,
        /// Cause.
        #[source]
        source: CodecError,
    },
    /// Kafka did not acknowledge the record.
    #[error("record for `{}` not acknowledged", record.topic)]
    Delivery {
        /// Cause.
        #[source]
        source: KafkaError,
        /// The record, to retry or park.
        record: Box<OutgoingRecord>,
    },
    /// Flushing did not finish in time.
    #[error("{undelivered} record(s) still undelivered after the flush timeout")]
    FlushTimeout {
        /// Records still queued or in flight.
        undelivered: usize,
    },
}

impl ProduceError {
    /// Whether trying the same send again may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Delivery { source, .. } => source.rdkafka_error_code().is_some_and(|c| {
                matches!(
                    c,
                    RDKafkaErrorCode::MessageTimedOut
                        | RDKafkaErrorCode::QueueFull
                        | RDKafkaErrorCode::NotEnoughReplicas
                        | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
                        | RDKafkaErrorCode::RequestTimedOut
                        | RDKafkaErrorCode::AllBrokersDown
                        | RDKafkaErrorCode::BrokerTransportFailure
                        | RDKafkaErrorCode::LeaderNotAvailable
                        | RDKafkaErrorCode::NotLeaderForPartition
                )
            }),
            Self::FlushTimeout { .. } => true,
            Self::UndeclaredTopic(_) | Self::Encode { .. } => false,
        }
    }
}

pub(crate) struct Shared {
    pub(crate) inner: FutureProducer<ProducerTelemetry>,
    /// The topics this producer may write, with their metric handles: one lookup per send.
    declared: FxHashMap<Box<str>, TopicMetrics>,
    /// Senders waiting in line for room in a full local queue.
    waiting: AtomicUsize,
    /// The line: taken in turn (tokio's mutex is fair) by senders waiting for room.
    turn: tokio::sync::Mutex<()>,
    /// Signalled when a send completes while senders wait.
    delivered: Notify,
}

/// The durable producer. Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct Producer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("declared", &self.shared.declared.keys())
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// A producer for the topics `settings` declares as produced, plus `internal` topics
    /// (dead-letter topics) kafkadeps itself writes.
    pub(crate) fn new(
        settings: &Settings,
        internal: impl IntoIterator<Item = String>,
    ) -> Result<Self, KafkaError> {
        let inner: FutureProducer<ProducerTelemetry> =
            client_config(settings, Role::Producer, &producer_defaults(settings))
                .create_with_context(ProducerTelemetry)?;
        let declared = settings
            .produced_topics()
            .map(|t| t.name.clone())
            .chain(internal)
            .map(|t| {
                let metrics = ProducerMetrics::global().topic(&t);
                (t.into_boxed_str(), metrics)
            })
            .collect();
        Ok(Self {
            shared: Arc::new(Shared {
                inner,
                declared,
                waiting: AtomicUsize::new(0),
                turn: tokio::sync::Mutex::new(()),
                delivered: Notify::new(),
            }),
        })
    }

    /// Sends `record`, the one way to send: it is handed to librdkafka now, or, while the
    /// local queue is full, kept in the returned future until there is room (waiting, without
    /// spinning, in line behind earlier sends), so records are enqueued in the order they are
    /// sent and records of one key keep it. The future resolves once every in-sync replica has
    /// the record; a failed send hands the record back in its error.
    ///
    /// Runs in a `send {topic}` span whose trace context travels in the record's headers.
    /// Build the record with [`OutgoingRecord::new`] and its `with_*` methods, or with a codec
    /// constructor ([`OutgoingRecord::json`], [`OutgoingRecord::encoded`]):
    ///
    /// ```no_run
    /// # async fn send(producer: &kafkadeps::Producer) -> kafkadeps::Result<()> {
    /// use kafkadeps::OutgoingRecord;
    ///
    /// let order = serde_json::json!({"id": "o-1", "cents": 1250});
    /// let delivery = producer.send(OutgoingRecord::json("orders.v1", "o-1", &order)?).await?;
    /// println!("stored at {}/{}", delivery.partition, delivery.offset);
    /// # Ok(()) }
    /// ```
    pub fn send(&self, record: OutgoingRecord) -> SendFuture<'_> {
        self.start(record)
    }

    /// Sends a value of an [`Event`](crate::Event) type to its topic, with its key, in its
    /// format: [`send`](Self::send) of [`OutgoingRecord::event`].
    pub fn publish<E: crate::Event>(&self, event: &E) -> SendFuture<'_> {
        match OutgoingRecord::event(event) {
            Ok(record) => self.start(record),
            Err(source) => SendFuture::failed(ProduceError::Encode {
                topic: E::TOPIC.to_owned(),
                source,
            }),
        }
    }

    /// Hands `record` to librdkafka now (or puts it in line for room) and returns the wait for
    /// its acknowledgement. The `send {topic}` span lasts until the acknowledgement; its trace
    /// context travels in the record's headers.
    fn start(&self, record: OutgoingRecord) -> SendFuture<'_> {
        let Some(metrics) = self.shared.declared.get(record.topic()) else {
            return SendFuture::failed(ProduceError::UndeclaredTopic(record.topic));
        };
        // The span need not be entered (nothing logs while the send waits). It and the trace
        // context live in a box, and only when spans are on.
        let span = tracing::info_span!(
            "send",
            otel.name = %format_args!("send {}", record.topic()),
            otel.kind = "producer",
            { attr::SYSTEM } = "kafka",
            { attr::OPERATION } = "send",
            { attr::DESTINATION } = %record.topic(),
            { attr::PARTITION } = tracing::field::Empty,
            { attr::OFFSET } = tracing::field::Empty,
        );
        let traced = Traced::start(span);
        // The trace context travels in headers (none without a trace: no allocation).
        let trace = traced.as_ref().map_or(&[][..], |t| &t.headers[..]);
        let started = crate::telemetry::clock::Instant::now();
        let partition = record.partition();
        let wait = self.shared.hand_over(record, trace);
        SendFuture::pending(Pending {
            shared: &self.shared,
            metrics,
            started,
            traced,
            partition,
            wait,
        })
    }

    /// Waits until the producer has fetched cluster metadata (it is connected).
    pub(crate) async fn connect(&self, timeout: Duration) -> Result<(), KafkaError> {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            shared
                .inner
                .client()
                .fetch_metadata(None, timeout)
                .map(|_| ())
        })
        .await
        .unwrap_or(Err(KafkaError::Canceled))
    }

    /// Records queued or in flight right now.
    pub fn in_flight(&self) -> usize {
        usize::try_from(self.shared.inner.in_flight_count()).unwrap_or(0)
    }

    /// Waits until every queued record is acknowledged, or `timeout` passes.
    pub async fn flush(&self, timeout: Duration) -> Result<(), ProduceError> {
        let shared = Arc::clone(&self.shared);
        let flushed = tokio::task::spawn_blocking(move || shared.inner.flush(timeout)).await;
        match flushed {
            Ok(Ok(())) => Ok(()),
            _ => Err(ProduceError::FlushTimeout {
                undelivered: self.in_flight(),
            }),
        }
    }

    /// Flushes within `grace`; whatever is still undelivered then is purged so that every waiting
    /// `send` returns an error to its caller, and is reported (log, returned count).
    pub async fn shutdown(&self, grace: Duration) -> usize {
        match self.flush(grace).await {
            Ok(()) => 0,
            Err(_) => {
                let undelivered = self.in_flight();
                Undelivered {
                    records: undelivered,
                }
                .emit(ProducerMetrics::global());
                self.shared
                    .inner
                    .purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
                undelivered
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProducerProfile;

    fn linger(settings: &Settings) -> Option<String> {
        client_config(settings, Role::Producer, &producer_defaults(settings))
            .get("linger.ms")
            .map(str::to_owned)
    }

    #[test]
    fn the_profile_sets_linger_and_an_explicit_linger_wins() {
        let builder = || Settings::builder("127.0.0.1:9092").produces("orders");
        let throughput = builder().build().expect("settings");
        assert_eq!(linger(&throughput).as_deref(), Some("20"));
        let latency = builder()
            .producer_profile(ProducerProfile::Latency)
            .build()
            .expect("settings");
        assert_eq!(linger(&latency).as_deref(), Some("0"));
        let explicit = builder()
            .producer_profile(ProducerProfile::Latency)
            .client_property("linger.ms", "2")
            .build()
            .expect("settings");
        assert_eq!(linger(&explicit).as_deref(), Some("2"));
    }
}
