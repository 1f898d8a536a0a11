//! Handing a record to librdkafka: at once when its local queue has room; otherwise the record
//! (now owned) waits in line, first come first served, until deliveries make room — a full queue
//! is backpressure, never a busy loop, a drop or an unbounded buffer.
//!
//! A send that finds others already waiting joins the line even if there is room by then, so
//! sends one task makes reach librdkafka in the order it made them (and records of one key keep
//! their order) whether or not the queue was full.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::Shared;
use super::outgoing::future_record;
use super::send_future::{Acked, Wait};
use crate::record::OutgoingRecord;

/// How long one wait for room lasts before the queue is tried again regardless (room freed by
/// a purge, or by a delivery whose wake-up raced the wait).
const RECHECK: Duration = Duration::from_millis(100);

/// What handing a record to librdkafka came to.
enum Enqueued {
    Sent(rdkafka::producer::DeliveryFuture),
    /// The local queue is full: wait for room, then try again.
    Full,
    Failed(KafkaError),
}

impl Shared {
    /// Hands `record` (with the trace-context headers `trace`) to librdkafka now if it has room
    /// and nobody is waiting; otherwise puts it in line.
    pub(super) fn hand_over(
        &self,
        record: OutgoingRecord,
        trace: &[(String, Vec<u8>)],
    ) -> Wait<'_> {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            match self.enqueue(&record, trace) {
                Enqueued::Sent(delivery) => return Wait::Delivery(delivery),
                Enqueued::Failed(e) => {
                    let record = with_trace(record, trace);
                    return Wait::Queued(Box::pin(std::future::ready(Err((e, record)))));
                }
                Enqueued::Full => {}
            }
        }
        // Counted now, before this call returns, so that later sends queue behind it.
        let place = InLine::join(&self.waiting);
        Wait::Queued(Box::pin(
            self.enqueue_in_turn(with_trace(record, trace), place),
        ))
    }

    /// Waits for its turn (the lock is fair: first come, first served), then for room, then for
    /// the acknowledgement.
    async fn enqueue_in_turn(&self, record: OutgoingRecord, place: InLine<'_>) -> Acked {
        let turn = self.turn.lock().await;
        let enqueued = loop {
            let room = self.delivered.notified();
            tokio::pin!(room);
            // Registered before the attempt, so a delivery between the two is not missed.
            room.as_mut().enable();
            match self.enqueue(&record, &[]) {
                Enqueued::Full => {
                    let _ = tokio::time::timeout(RECHECK, room).await;
                }
                Enqueued::Sent(delivery) => break Ok(delivery),
                Enqueued::Failed(e) => break Err(e),
            }
        };
        drop(turn);
        drop(place);
        match enqueued {
            Ok(delivery) => match delivery.await {
                Ok(Ok(d)) => Ok(d),
                Ok(Err((e, _))) => Err((e, record)),
                Err(_canceled) => Err((KafkaError::Canceled, record)),
            },
            Err(e) => Err((e, record)),
        }
    }

    /// Hands the record to librdkafka. Not async: what `send_result` returns on failure (the
    /// whole librdkafka record) must not live in any future.
    fn enqueue(&self, record: &OutgoingRecord, trace: &[(String, Vec<u8>)]) -> Enqueued {
        match self.inner.send_result(future_record(record, trace)) {
            Ok(delivery) => Enqueued::Sent(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => Enqueued::Full,
            Err((e, _)) => Enqueued::Failed(e),
        }
    }
}

/// `record` carrying the trace-context headers `trace` in place of any of the same name.
fn with_trace(mut record: OutgoingRecord, trace: &[(String, Vec<u8>)]) -> OutgoingRecord {
    if !trace.is_empty() {
        record
            .headers
            .retain(|(k, _)| !trace.iter().any(|(t, _)| t == k));
        record.headers.extend(trace.iter().cloned());
    }
    record
}

/// One send waiting in line; leaves it when dropped (sent, failed, or its future dropped).
struct InLine<'a>(&'a AtomicUsize);

impl<'a> InLine<'a> {
    fn join(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::SeqCst);
        Self(waiting)
    }
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
