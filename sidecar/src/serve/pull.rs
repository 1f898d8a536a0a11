//! Pull consumption (Kafka-Bridge-like): the consumer runtime hands records to a buffer in
//! offset order; `poll` takes them, `commit` acknowledges them with Kafka's meaning (the offset
//! of the next record to read). A record's handler finishes only when the app commits past it,
//! so the runtime commits nothing the app has not acknowledged; polled but uncommitted records
//! are redelivered after a restart or rebalance.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use kafkadeps::{HandlerError, Record};
use serde::Deserialize;
use tokio::sync::{Notify, oneshot};

/// Records of one partition handed out but not yet acknowledged, at most.
pub(crate) const WINDOW_PER_PARTITION: usize = 1000;
/// Largest `max_records` of one poll.
pub(crate) const MAX_RECORDS: usize = 10_000;
/// Longest `timeout_ms` of one poll.
pub(crate) const MAX_TIMEOUT_MS: u64 = 30_000;

type Ack = oneshot::Sender<()>;

/// Records waiting for the app, and records the app holds.
#[derive(Debug, Default)]
pub(crate) struct PullBuffer {
    waiting: Mutex<VecDeque<(Record, Ack)>>,
    held: Mutex<HashMap<(String, i32), BTreeMap<i64, Ack>>>,
    arrived: Notify,
}

/// `POST /v1/consumers/{group}/poll`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PollRequest {
    #[serde(default = "default_max_records")]
    pub(crate) max_records: usize,
    #[serde(default = "default_timeout_ms")]
    pub(crate) timeout_ms: u64,
}

fn default_max_records() -> usize {
    100
}
fn default_timeout_ms() -> u64 {
    1000
}

impl PollRequest {
    /// Checks the bounds.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.max_records == 0 || self.max_records > MAX_RECORDS {
            return Err(format!("max_records must be 1..={MAX_RECORDS}"));
        }
        if self.timeout_ms > MAX_TIMEOUT_MS {
            return Err(format!("timeout_ms must be 0..={MAX_TIMEOUT_MS}"));
        }
        Ok(())
    }
}

/// `POST /v1/consumers/{group}/commit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommitRequest {
    pub(crate) offsets: Vec<CommitOffset>,
}

/// The next offset to read of one partition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommitOffset {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
}

impl PullBuffer {
    /// The consumer runtime's handler: queue the record (synchronously, so in offset order),
    /// then finish when the app acknowledges it. Dropped on revoke or shutdown (cancel-safe:
    /// the record is then skipped by polls and redelivered by Kafka).
    pub(crate) fn handle(
        &self,
        record: Record,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + use<> {
        let (ack, acked) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.push_back((record, ack));
        }
        self.arrived.notify_waiters();
        async move {
            acked
                .await
                .map_err(|_| HandlerError::retryable("the pull buffer was dropped"))
        }
    }

    /// Takes up to `max` records, waiting up to `timeout` for the first; returns early (empty)
    /// when `stopping` resolves.
    pub(crate) async fn poll(
        &self,
        max: usize,
        timeout: Duration,
        stopping: impl Future<Output = ()>,
    ) -> Vec<Record> {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline, stopping);
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let taken = self.take(max);
            if !taken.is_empty() {
                return taken;
            }
            tokio::select! {
                () = &mut arrived => {}
                () = &mut deadline => return Vec::new(),
                () = &mut stopping => return Vec::new(),
            }
        }
    }

    fn take(&self, max: usize) -> Vec<Record> {
        let (Ok(mut waiting), Ok(mut held)) = (self.waiting.lock(), self.held.lock()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while out.len() < max {
            let Some((record, ack)) = waiting.pop_front() else {
                break;
            };
            if ack.is_closed() {
                // Its partition was revoked: Kafka redelivers it to the new owner.
                continue;
            }
            held.entry((record.topic().to_owned(), record.partition()))
                .or_default()
                .insert(record.offset(), ack);
            out.push(record);
        }
        // Forget records of revoked partitions the app still held.
        held.retain(|_, acks| {
            acks.retain(|_, ack| !ack.is_closed());
            !acks.is_empty()
        });
        out
    }

    /// Acknowledges every held record below each offset; returns how many.
    pub(crate) fn commit(&self, offsets: &[CommitOffset]) -> usize {
        let Ok(mut held) = self.held.lock() else {
            return 0;
        };
        let mut acknowledged = 0;
        for o in offsets {
            let Some(acks) = held.get_mut(&(o.topic.clone(), o.partition)) else {
                continue;
            };
            let rest = acks.split_off(&o.offset);
            for (_, ack) in std::mem::replace(acks, rest) {
                if ack.send(()).is_ok() {
                    acknowledged += 1;
                }
            }
        }
        held.retain(|_, acks| !acks.is_empty());
        acknowledged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(partition: i32, offset: i64) -> Record {
        Record::from_parts("t", partition, offset, None, Some(b"{}"), &[])
    }

    #[tokio::test]
    async fn commit_finishes_handlers_below_the_offset_only() {
        let buffer = PullBuffer::default();
        let handlers: Vec<_> = (0..3)
            .map(|o| tokio::spawn(buffer.handle(rec(0, o))))
            .collect();
        let polled = buffer
            .poll(10, Duration::from_millis(10), std::future::pending())
            .await;
        assert_eq!(
            polled.iter().map(Record::offset).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        let n = buffer.commit(&[CommitOffset {
            topic: "t".into(),
            partition: 0,
            offset: 2,
        }]);
        assert_eq!(n, 2);
        let mut handlers = handlers.into_iter();
        assert!(handlers.next().unwrap().await.unwrap().is_ok());
        assert!(handlers.next().unwrap().await.unwrap().is_ok());
        let third = handlers.next().unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!third.is_finished(), "offset 2 is not acknowledged");
    }

    #[tokio::test]
    async fn poll_waits_for_records_and_times_out() {
        let buffer = std::sync::Arc::new(PullBuffer::default());
        let empty = buffer
            .poll(10, Duration::from_millis(20), std::future::pending())
            .await;
        assert!(empty.is_empty());
        let b = std::sync::Arc::clone(&buffer);
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            // Keep the handler alive (it would be cancelled when dropped) until acknowledged.
            b.handle(rec(1, 5)).await
        });
        let got = buffer
            .poll(10, Duration::from_secs(10), std::future::pending())
            .await;
        assert_eq!(got.len(), 1);
        buffer.commit(&[CommitOffset {
            topic: "t".into(),
            partition: 1,
            offset: 6,
        }]);
        assert!(later.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn cancelled_handlers_are_not_polled() {
        let buffer = PullBuffer::default();
        drop(buffer.handle(rec(0, 0)));
        let _kept = buffer.handle(rec(0, 1));
        let got = buffer
            .poll(10, Duration::from_millis(10), std::future::pending())
            .await;
        assert_eq!(got.iter().map(Record::offset).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn bounds_are_checked() {
        let r: PollRequest = serde_json::from_str("{}").unwrap();
        assert_eq!((r.max_records, r.timeout_ms), (100, 1000));
        assert!(r.validate().is_ok());
        let r: PollRequest = serde_json::from_str(r#"{"max_records":0}"#).unwrap();
        assert!(r.validate().is_err());
        assert!(serde_json::from_str::<PollRequest>(r#"{"max":1}"#).is_err());
    }
}
