//! A send after its record was handed to librdkafka: the future that waits for the
//! acknowledgement, counts the outcome, closes the span and hands a failed record back.
//!
//! Written by hand rather than as an `async fn`: thousands of these are in flight at once, and
//! what they hold is all the CPU caches see of them. The common case holds librdkafka's delivery
//! receiver and a few references; the rare wait for room in a full queue is boxed.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use rdkafka::Message;
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::producer::DeliveryFuture;

use super::{Delivery, ProduceError, Shared, TopicMetrics};
use crate::record::OutgoingRecord;
use crate::telemetry::clock::Instant;
use crate::telemetry::propagation::{self, attr};

/// The acknowledgement of one send, as a future: resolves once every in-sync replica has the
/// record (`acks=all`), or with the error and the record handed back.
///
/// The record was handed to librdkafka when the send was called, so dropping this future does
/// not withdraw it — except while the local queue is full: then the record waits in this future
/// (in line behind earlier sends, keeping their order) and is sent only as long as it is polled.
#[must_use = "the record is sent either way; await this to learn whether Kafka acknowledged it"]
pub struct SendFuture<'a> {
    state: State<'a>,
}

enum State<'a> {
    Pending(Pending<'a>),
    /// Failed before anything was handed to librdkafka (undeclared topic, encoding).
    Failed(ProduceError),
    Done,
}

/// A send handed over (or in line), waiting for its acknowledgement.
pub(super) struct Pending<'a> {
    pub(super) shared: &'a Shared,
    pub(super) metrics: &'a TopicMetrics,
    pub(super) started: Instant,
    pub(super) traced: Option<Box<Traced>>,
    /// The partition the caller chose, if any, for the record handed back on failure.
    pub(super) partition: Option<i32>,
    pub(super) wait: Wait<'a>,
}

/// What a pending send waits for.
pub(super) enum Wait<'a> {
    /// librdkafka has the record.
    Delivery(DeliveryFuture),
    /// The record, owned, waits for room in line (or failed at once): boxed, it is rare.
    Queued(Pin<Box<dyn Future<Output = Acked> + Send + 'a>>),
}

/// An acknowledgement, or the error with the record to hand back.
pub(super) type Acked =
    Result<rdkafka::producer::future_producer::Delivery, (KafkaError, OutgoingRecord)>;

impl<'a> SendFuture<'a> {
    pub(super) fn failed(error: ProduceError) -> Self {
        Self {
            state: State::Failed(error),
        }
    }

    pub(super) fn pending(pending: Pending<'a>) -> Self {
        Self {
            state: State::Pending(pending),
        }
    }
}

impl std::fmt::Debug for SendFuture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Pending(p) => match p.wait {
                Wait::Delivery(_) => "awaiting acknowledgement",
                Wait::Queued(_) => "waiting for room in the local queue",
            },
            State::Failed(_) => "failed",
            State::Done => "done",
        };
        f.debug_struct("SendFuture").field("state", &state).finish()
    }
}

impl Future for SendFuture<'_> {
    type Output = Result<Delivery, ProduceError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let State::Pending(pending) = &mut this.state else {
            return match std::mem::replace(&mut this.state, State::Done) {
                State::Failed(e) => Poll::Ready(Err(e)),
                _ => panic!("SendFuture polled after it completed"),
            };
        };
        let acked = ready!(pending.poll_acked(cx));
        let result = pending.finish(acked);
        this.state = State::Done;
        Poll::Ready(result)
    }
}

impl Pending<'_> {
    fn poll_acked(&mut self, cx: &mut Context<'_>) -> Poll<Acked> {
        Poll::Ready(match &mut self.wait {
            Wait::Delivery(delivery) => match ready!(Pin::new(delivery).poll(cx)) {
                Ok(Ok(d)) => Ok(d),
                Ok(Err((e, message))) => Err((e, handed_back(&message, self.partition))),
                // librdkafka dropped the record without a delivery report: only possible when
                // the producer is destroyed, which this borrow of it rules out.
                Err(_canceled) => Err((
                    KafkaError::Canceled,
                    OutgoingRecord::new(&*self.metrics.topic),
                )),
            },
            Wait::Queued(queued) => ready!(queued.as_mut().poll(cx)),
        })
    }

    /// Wakes senders waiting for room, records the outcome (metrics, span).
    fn finish(&mut self, acked: Acked) -> Result<Delivery, ProduceError> {
        if self.shared.waiting.load(Ordering::Relaxed) > 0 {
            self.shared.delivered.notify_waiters();
        }
        let traced = self.traced.take();
        let result = match acked {
            Ok(d) => {
                if let Some(t) = &traced {
                    t.span.record(attr::PARTITION, d.partition);
                    t.span.record(attr::OFFSET, d.offset);
                }
                Ok(Delivery {
                    partition: d.partition,
                    offset: d.offset,
                })
            }
            Err((source, record)) => Err(ProduceError::Delivery {
                source,
                record: Box::new(record),
            }),
        };
        if result.is_ok() {
            &self.metrics.ok
        } else {
            &self.metrics.error
        }
        .inc();
        self.metrics.duration.observe(self.started.elapsed());
        result
    }
}

/// The record librdkafka reports as failed, as the caller can send it again: the trace-context
/// headers it carried included, the partition only if the caller chose one.
fn handed_back(message: &OwnedMessage, partition: Option<i32>) -> OutgoingRecord {
    let mut record = OutgoingRecord::new(message.topic());
    record.key = message.key().map(<[u8]>::to_vec);
    record.payload = message.payload().map(<[u8]>::to_vec);
    record.partition = partition;
    if let Some(headers) = message.headers() {
        record.headers = headers
            .iter()
            .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
            .collect();
    }
    record
}

/// The span of one send and the trace context it writes into the record's headers.
pub(super) struct Traced {
    span: tracing::Span,
    pub(super) headers: Vec<(String, Vec<u8>)>,
}

impl Traced {
    /// `None` when the span is off (nobody records spans): nothing to carry.
    pub(super) fn start(span: tracing::Span) -> Option<Box<Self>> {
        if span.is_disabled() {
            return None;
        }
        let mut headers = Vec::new();
        propagation::inject(&span, &mut headers);
        Some(Box::new(Self { span, headers }))
    }
}
