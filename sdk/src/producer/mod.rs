//! The durable, idempotent producer: `acks=all`, idempotence, bounded in-flight sends with
//! backpressure, sends only to declared topics, nothing dropped silently.

mod transactional;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use serde::Serialize;
use tokio::sync::Notify;
use tracing::Instrument;

pub use transactional::{TransactionalProducer, Transform};

use crate::codec::{Codec, CodecError, Json};
use crate::config::Settings;
use crate::connection::{Role, client_config};
use crate::record::OutgoingRecord;
use crate::telemetry::propagation::{self, attr};
use crate::telemetry::stats::ProducerTelemetry;
use crate::telemetry::{Metrics, SendLabels, SendOutcome, metrics};

/// The durable producer defaults, applied before `KAFKA_CLIENT_*` properties.
pub const DURABLE_PRODUCER: &[(&str, &str)] = &[
    ("acks", "all"),
    ("enable.idempotence", "true"),
    ("max.in.flight.requests.per.connection", "5"),
    ("message.send.max.retries", "2147483647"),
    ("delivery.timeout.ms", "120000"),
    ("linger.ms", "5"),
    ("compression.type", "lz4"),
    ("queue.buffering.max.messages", "100000"),
    (
        "statistics.interval.ms",
        crate::telemetry::stats::STATISTICS_INTERVAL_MS,
    ),
];

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

/// Metric handles of one declared topic, resolved once (no label allocation per send).
struct TopicMetrics {
    ok: prometheus_client::metrics::counter::Counter,
    error: prometheus_client::metrics::counter::Counter,
    duration: prometheus_client::metrics::histogram::Histogram,
}

impl TopicMetrics {
    fn new(topic: &str) -> Self {
        let m = metrics();
        let counter = |outcome| {
            m.producer_messages
                .get_or_create(&SendLabels {
                    topic: topic.to_owned(),
                    outcome,
                })
                .clone()
        };
        Self {
            ok: counter(SendOutcome::ok),
            error: counter(SendOutcome::error),
            duration: m
                .producer_send_duration
                .get_or_create(&Metrics::topic(topic))
                .clone(),
        }
    }
}

pub(crate) struct Shared {
    pub(crate) inner: FutureProducer<ProducerTelemetry>,
    declared: HashSet<String>,
    metrics: std::collections::HashMap<String, TopicMetrics>,
    /// Senders waiting for room in a full local queue.
    waiting: AtomicUsize,
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
            .field("declared", &self.shared.declared)
            .finish_non_exhaustive()
    }
}

pub(crate) fn to_headers(headers: &[(String, Vec<u8>)]) -> Option<OwnedHeaders> {
    if headers.is_empty() {
        return None;
    }
    let mut out = OwnedHeaders::new_with_capacity(headers.len());
    for (k, v) in headers {
        out = out.insert(Header {
            key: k,
            value: Some(v),
        });
    }
    Some(out)
}

impl Producer {
    /// A producer for the topics `settings` declares as produced, plus `internal` topics
    /// (dead-letter topics) kafkadeps itself writes.
    pub(crate) fn new(
        settings: &Settings,
        internal: impl IntoIterator<Item = String>,
    ) -> Result<Self, KafkaError> {
        let inner: FutureProducer<ProducerTelemetry> =
            client_config(settings, Role::Producer, DURABLE_PRODUCER)
                .create_with_context(ProducerTelemetry)?;
        let declared: HashSet<String> = settings
            .produced_topics()
            .map(|t| t.name.clone())
            .chain(internal)
            .collect();
        let metrics = declared
            .iter()
            .map(|t| (t.clone(), TopicMetrics::new(t)))
            .collect();
        Ok(Self {
            shared: Arc::new(Shared {
                inner,
                declared,
                metrics,
                waiting: AtomicUsize::new(0),
                delivered: Notify::new(),
            }),
        })
    }

    /// Sends `value` encoded as JSON under `key`; resolves once all in-sync replicas have it.
    pub async fn send<V: Serialize>(
        &self,
        topic: &str,
        key: impl AsRef<[u8]>,
        value: &V,
    ) -> Result<Delivery, ProduceError> {
        let payload = serde_json::to_vec(value).map_err(|e| ProduceError::Encode {
            topic: topic.to_owned(),
            source: CodecError::Encode {
                format: "JSON",
                source: Box::new(e),
            },
        })?;
        self.send_record(
            OutgoingRecord::new(topic)
                .key(key)
                .payload(payload)
                .header("content-type", "application/json"),
        )
        .await
    }

    /// Sends `value` encoded with `codec`.
    pub async fn send_with<V, C: Codec<V>>(
        &self,
        topic: &str,
        key: impl AsRef<[u8]>,
        value: &V,
        codec: &C,
    ) -> Result<Delivery, ProduceError> {
        let payload = codec.encode(value).map_err(|source| ProduceError::Encode {
            topic: topic.to_owned(),
            source,
        })?;
        self.send_record(
            OutgoingRecord::new(topic)
                .key(key)
                .payload(payload)
                .header("content-type", codec.content_type()),
        )
        .await
    }

    /// Sends a value of an [`Event`](crate::Event) type to its topic, with its key, in its
    /// format (JSON, or a binary-mode CloudEvent with its `type` and `source`).
    pub async fn publish<E: crate::Event>(&self, event: &E) -> Result<Delivery, ProduceError> {
        let topic = E::TOPIC;
        let encode = |source| ProduceError::Encode {
            topic: topic.to_owned(),
            source,
        };
        let json = serde_json::to_value(event).map_err(|e| {
            encode(CodecError::Encode {
                format: "JSON",
                source: Box::new(e),
            })
        })?;
        let key = event.key();
        let record = match E::FORMAT {
            crate::EventFormat::Json => {
                let mut r = OutgoingRecord::new(topic)
                    .payload(serde_json::to_vec(&json).map_err(|e| {
                        encode(CodecError::Encode {
                            format: "JSON",
                            source: Box::new(e),
                        })
                    })?)
                    .header("content-type", "application/json");
                if let Some(k) = key {
                    r = r.key(k);
                }
                r
            }
            #[cfg(feature = "cloudevents")]
            crate::EventFormat::CloudEvents => {
                use crate::codec::cloudevents as ce;
                let mut e = ce::event(
                    E::CE_SOURCE.unwrap_or_default(),
                    E::CE_TYPE.unwrap_or_default(),
                    json,
                )
                .map_err(encode)?;
                if let Some(k) = key {
                    e.set_extension(ce::PARTITION_KEY, k);
                }
                ce::to_record(topic, e, ce::Mode::Binary).map_err(encode)?
            }
            #[cfg(not(feature = "cloudevents"))]
            crate::EventFormat::CloudEvents => {
                return Err(encode(CodecError::Encode {
                    format: "CloudEvents",
                    source: "kafkadeps was built without the `cloudevents` feature".into(),
                }));
            }
        };
        self.send_record(record).await
    }

    /// Sends a CloudEvent in `mode`; `id` and `time` are filled when absent, the
    /// `partitionkey` extension becomes the key.
    #[cfg(feature = "cloudevents")]
    pub async fn send_event(
        &self,
        topic: &str,
        event: ::cloudevents::Event,
        mode: crate::codec::cloudevents::Mode,
    ) -> Result<Delivery, ProduceError> {
        let record =
            crate::codec::cloudevents::to_record(topic, event, mode).map_err(|source| {
                ProduceError::Encode {
                    topic: topic.to_owned(),
                    source,
                }
            })?;
        self.send_record(record).await
    }

    /// The JSON codec, for symmetry with [`Producer::send_with`].
    pub fn json() -> Json {
        Json
    }

    /// Sends a fully built record. Waits (without spinning) while the local queue is full.
    /// Runs in a `send {topic}` span whose trace context travels in the record's headers.
    pub async fn send_record(&self, mut record: OutgoingRecord) -> Result<Delivery, ProduceError> {
        if !self.shared.declared.contains(&record.topic) {
            return Err(ProduceError::UndeclaredTopic(record.topic));
        }
        let span = tracing::info_span!(
            "send",
            otel.name = %format_args!("send {}", record.topic),
            otel.kind = "producer",
            { attr::SYSTEM } = "kafka",
            { attr::OPERATION } = "send",
            { attr::DESTINATION } = %record.topic,
            { attr::PARTITION } = tracing::field::Empty,
            { attr::OFFSET } = tracing::field::Empty,
        );
        propagation::inject(&span, &mut record.headers);
        let started = Instant::now();
        let result = self.deliver(record).instrument(span.clone()).await;
        let topic = match &result {
            Ok((d, topic)) => {
                span.record(attr::PARTITION, d.partition);
                span.record(attr::OFFSET, d.offset);
                topic.as_str()
            }
            Err(ProduceError::Delivery { record, .. }) => record.topic.as_str(),
            Err(_) => "",
        };
        if let Some(m) = self.shared.metrics.get(topic) {
            if result.is_ok() { &m.ok } else { &m.error }.inc();
            m.duration.observe(started.elapsed().as_secs_f64());
        }
        result.map(|(d, _)| d)
    }

    async fn deliver(&self, record: OutgoingRecord) -> Result<(Delivery, String), ProduceError> {
        let result = loop {
            let mut fr = FutureRecord::<[u8], [u8]>::to(&record.topic);
            if let Some(k) = &record.key {
                fr = fr.key(k.as_slice());
            }
            if let Some(p) = &record.payload {
                fr = fr.payload(p.as_slice());
            }
            if let Some(h) = to_headers(&record.headers) {
                fr = fr.headers(h);
            }
            if let Some(p) = record.partition {
                fr = fr.partition(p);
            }
            match self.shared.inner.send_result(fr) {
                Ok(delivery) => break delivery.await,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // Backpressure: wait until a delivery frees room (the timeout only guards
                    // against room freed by a producer clone this process does not see).
                    self.shared.waiting.fetch_add(1, Ordering::SeqCst);
                    let _ = tokio::time::timeout(
                        Duration::from_millis(100),
                        self.shared.delivered.notified(),
                    )
                    .await;
                    self.shared.waiting.fetch_sub(1, Ordering::SeqCst);
                }
                Err((e, _)) => {
                    return Err(ProduceError::Delivery {
                        source: e,
                        record: Box::new(record),
                    });
                }
            }
        };
        if self.shared.waiting.load(Ordering::Relaxed) > 0 {
            self.shared.delivered.notify_waiters();
        }
        match result {
            Ok(Ok(d)) => Ok((
                Delivery {
                    partition: d.partition,
                    offset: d.offset,
                },
                record.topic,
            )),
            Ok(Err((e, _))) => Err(ProduceError::Delivery {
                source: e,
                record: Box::new(record),
            }),
            Err(_canceled) => Err(ProduceError::Delivery {
                source: KafkaError::Canceled,
                record: Box::new(record),
            }),
        }
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
                metrics().producer_undelivered.inc_by(undelivered as u64);
                tracing::error!(
                    undelivered,
                    "Producer shut down with records not acknowledged; their senders get errors."
                );
                self.shared
                    .inner
                    .purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
                undelivered
            }
        }
    }
}
