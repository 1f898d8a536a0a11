//! The retry reader: one consumer, in the group `<group>.retry` with partitions assigned by
//! hand, reads the retry partitions of the source partitions this member owns and redelivers
//! their records after their backoff, one at a time per partition, in order.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt;
use kafkadeps_core::naming::{retry_group, retry_topic};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{Notify, mpsc};

use super::headers::{self, Parking};
use super::state::{Key, Parked, Turn};
use crate::config::Settings;
use crate::connection::{Role, client_config};
use crate::consumer::dead_letter::dead_letter;
use crate::consumer::handler::{FailureKind, HandlerError};
use crate::consumer::metrics::{
    ConsumerMetrics, DeadLettered, DeadLettering, LaneMetrics, RecordRetried,
};
use crate::consumer::options::ConsumerOptions;
use crate::consumer::partitions::lock;
use crate::consumer::worker::{Handler, Tp};
use crate::consumer::{ConsumeError, DURABLE_CONSUMER};
use crate::producer::Producer;
use crate::record::OutgoingRecord;
use crate::record::Record;

/// How long a newly assigned partition's retry partition may take to be read to its end before
/// its source records are handled anyway (with a warning).
const REBUILD_TIMEOUT: Duration = Duration::from_secs(30);
/// Metadata and committed-offset queries at assignment.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// First and largest wait between attempts to write to the retry or dead-letter topic.
const SEND_BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// What the poll loop tells the retry reader about its source partitions.
pub(crate) trait PartitionListener: Send + Sync {
    /// Source partitions were assigned (called after the assignment).
    fn assigned(&self, tps: &[Tp]);
    /// Source partitions are being revoked: returns once their retry partitions are no longer
    /// read and their position is committed.
    fn revoking(&self, tps: &[Tp]);
}

/// One retry partition being read.
struct Reading {
    stop: Arc<Stop>,
    done: std_mpsc::Receiver<()>,
}

#[derive(Default)]
struct Stop {
    flag: AtomicBool,
    notify: Notify,
}

impl Stop {
    fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
    fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

struct Inner<H> {
    consumer: StreamConsumer,
    parked: Arc<Parked>,
    handler: Arc<H>,
    producer: Producer,
    group: String,
    options: ConsumerOptions,
    runtime: tokio::runtime::Handle,
    /// Records of each retry partition, from the router to its reader.
    routes: Mutex<HashMap<Tp, mpsc::UnboundedSender<Record>>>,
    /// The readers, by source partition.
    readings: Mutex<HashMap<Tp, Reading>>,
    /// The next offset to commit, by retry partition.
    positions: Mutex<HashMap<Tp, i64>>,
    closed: Stop,
}

/// The retry reader of one consumer in park mode.
pub(crate) struct RetryReader<H> {
    inner: Arc<Inner<H>>,
}

impl<H: Handler> RetryReader<H> {
    /// Creates the reader's consumer and starts routing its records (on `runtime`).
    pub(crate) fn start(
        settings: &Settings,
        parked: Arc<Parked>,
        handler: Arc<H>,
        producer: Producer,
        options: ConsumerOptions,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, ConsumeError> {
        let mut config = client_config(settings, Role::Consumer, DURABLE_CONSUMER);
        config.set("group.id", retry_group(&settings.group_id));
        // Its statistics would only be logged (the runtime's own client reports the metrics).
        config.set("statistics.interval.ms", "0");
        let consumer: StreamConsumer = config.create().map_err(ConsumeError::Kafka)?;
        let inner = Arc::new(Inner {
            consumer,
            parked,
            handler,
            producer,
            group: settings.group_id.clone(),
            options,
            runtime: runtime.clone(),
            routes: Mutex::default(),
            readings: Mutex::default(),
            positions: Mutex::default(),
            closed: Stop::default(),
        });
        runtime.spawn(route(Arc::clone(&inner)));
        Ok(Self { inner })
    }

    /// Stops routing (after the consumer has stopped and revoked everything).
    pub(crate) fn close(&self) {
        self.inner.closed.set();
    }
}

/// Takes the consumer's records and hands each to the reader of its partition.
async fn route<H: Handler>(inner: Arc<Inner<H>>) {
    loop {
        let received = tokio::select! {
            r = inner.consumer.recv() => r,
            () = inner.closed.wait() => return,
        };
        match received {
            Ok(m) => {
                let headers: Vec<(&str, &[u8])> = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (h.key, h.value.unwrap_or_default()))
                            .collect()
                    })
                    .unwrap_or_default();
                let record = Record::from_parts(
                    m.topic(),
                    m.partition(),
                    m.offset(),
                    m.key(),
                    m.payload(),
                    &headers,
                );
                let tp: Tp = (Arc::from(m.topic()), m.partition());
                if let Some(tx) = lock(&inner.routes).get(&tp) {
                    let _ = tx.send(record);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "Retry reader: consumer error.");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn tpl(tp: &Tp, offset: Option<i64>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    match offset {
        Some(o) => {
            let _ = tpl.add_partition_offset(&tp.0, tp.1, Offset::Offset(o));
        }
        None => {
            tpl.add_partition(&tp.0, tp.1);
        }
    }
    tpl
}

impl<H: Handler> Inner<H> {
    /// Where reading `retry` starts (its committed offset, or its start) and its end now.
    fn bounds(&self, retry: &Tp) -> Result<(i64, i64), rdkafka::error::KafkaError> {
        let (low, high) = self
            .consumer
            .fetch_watermarks(&retry.0, retry.1, QUERY_TIMEOUT)?;
        let committed = self
            .consumer
            .committed_offsets(tpl(retry, None), QUERY_TIMEOUT)?;
        let start = match committed
            .find_partition(&retry.0, retry.1)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(o)) => o.max(low),
            _ => low,
        };
        Ok((start, high))
    }

    fn commit(&self, retry: &Tp, next: i64, mode: CommitMode) {
        lock(&self.positions).insert(retry.clone(), next);
        if let Err(e) = self.consumer.commit(&tpl(retry, Some(next)), mode) {
            tracing::warn!(topic = %retry.0, partition = retry.1, error = %e, "Retry reader: commit failed; the next one retries.");
        }
    }
}

impl<H: Handler> PartitionListener for RetryReader<H> {
    fn assigned(&self, tps: &[Tp]) {
        let inner = &self.inner;
        for source in tps {
            if lock(&inner.readings).contains_key(source) {
                continue;
            }
            let retry: Tp = (Arc::from(retry_topic(&source.0)), source.1);
            inner.parked.assigned(source.clone());
            let (start, end) = match inner.bounds(&retry) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(topic = %retry.0, partition = retry.1, error = %e, "Cannot read the retry partition's offsets: parked keys of the source partition are unknown, so its failing records are retried in place.");
                    inner.parked.rebuilt(source, HashMap::new());
                    continue;
                }
            };
            let (tx, rx) = mpsc::unbounded_channel();
            lock(&inner.routes).insert(retry.clone(), tx);
            let mut assign = TopicPartitionList::new();
            let _ = assign.add_partition_offset(&retry.0, retry.1, Offset::Offset(start));
            if let Err(e) = inner.consumer.incremental_assign(&assign) {
                tracing::error!(topic = %retry.0, partition = retry.1, error = %e, "Cannot read the retry partition.");
            }
            let stop = Arc::new(Stop::default());
            let (done_tx, done) = std_mpsc::channel();
            let task = PartitionReader {
                inner: Arc::clone(inner),
                source: source.clone(),
                retry,
                stop: Arc::clone(&stop),
                metrics: ConsumerMetrics::global().lane(&source.0),
            };
            inner.runtime.spawn(async move {
                task.run(rx, start, end).await;
                let _ = done_tx.send(());
            });
            lock(&inner.readings).insert(source.clone(), Reading { stop, done });
        }
    }

    fn revoking(&self, tps: &[Tp]) {
        let inner = &self.inner;
        let readings: Vec<(Tp, Reading)> = {
            let mut all = lock(&inner.readings);
            tps.iter()
                .filter_map(|tp| all.remove(tp).map(|r| (tp.clone(), r)))
                .collect()
        };
        for (_, reading) in &readings {
            reading.stop.set();
        }
        let deadline = Instant::now() + inner.options.revoke_timeout;
        for (source, reading) in readings {
            let left = deadline.saturating_duration_since(Instant::now());
            if reading.done.recv_timeout(left).is_err() {
                tracing::warn!(topic = %source.0, partition = source.1, "A parked record's handler did not finish within the revoke timeout; it is redelivered to the next owner.");
            }
            let retry: Tp = (Arc::from(retry_topic(&source.0)), source.1);
            lock(&inner.routes).remove(&retry);
            // Taken out first: `commit` locks the positions again.
            let next = lock(&inner.positions).remove(&retry);
            if let Some(next) = next {
                inner.commit(&retry, next, CommitMode::Sync);
            }
            if let Err(e) = inner.consumer.incremental_unassign(&tpl(&retry, None)) {
                tracing::warn!(topic = %retry.0, partition = retry.1, error = %e, "Cannot stop reading the retry partition.");
            }
            inner.parked.revoked(&source);
        }
    }
}

/// Reads one retry partition: first to its end (to know every parked key), then record by
/// record.
struct PartitionReader<H> {
    inner: Arc<Inner<H>>,
    source: Tp,
    retry: Tp,
    stop: Arc<Stop>,
    metrics: LaneMetrics,
}

impl<H: Handler> PartitionReader<H> {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Record>, start: i64, end: i64) {
        let mut backlog = Vec::new();
        let mut keys: HashMap<Vec<u8>, Key> = HashMap::new();
        let deadline = tokio::time::Instant::now() + REBUILD_TIMEOUT;
        let mut next = start;
        while next < end {
            let record = tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => r,
                    None => return,
                },
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(topic = %self.retry.0, partition = self.retry.1, "The retry partition was not read to its end in time; the source partition goes on with the parked keys seen so far.");
                    break;
                }
                () = self.stop.wait() => return,
            };
            next = record.offset() + 1;
            if let (Some(k), Some(parking)) = (record.key(), Parking::of(&record)) {
                keys.entry(k.to_vec())
                    .or_default()
                    .waiting
                    .insert(parking.offset);
            }
            backlog.push(record);
        }
        if !keys.is_empty() {
            tracing::info!(topic = %self.source.0, partition = self.source.1, keys = keys.len(), records = backlog.len(), "Parked keys found in the retry partition.");
        }
        self.inner.parked.rebuilt(&self.source, keys);
        for record in backlog {
            if !self.redeliver(record).await {
                return;
            }
        }
        loop {
            let record = tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => r,
                    None => return,
                },
                () = self.stop.wait() => return,
            };
            if !self.redeliver(record).await {
                return;
            }
        }
    }

    /// Handles one record of the retry partition; `false` when stopped before it finished (it
    /// is then not committed).
    async fn redeliver(&self, parked: Record) -> bool {
        let next = parked.offset() + 1;
        let (Some(parking), Some(key)) = (Parking::of(&parked), parked.key()) else {
            tracing::warn!(topic = %self.retry.0, partition = self.retry.1, offset = parked.offset(), "Not a parked record (no key or no kafkadeps-retry headers); skipped.");
            self.inner.commit(&self.retry, next, CommitMode::Async);
            return true;
        };
        let original = (parking.topic.as_str(), parking.partition, parking.offset);
        let record = headers::redelivered(&parked, &parking);
        match self.inner.parked.turn(&self.source, key, parking.offset) {
            Turn::Follow => {
                let again = headers::parked(
                    &record,
                    &self.retry.0,
                    parking.attempts,
                    parking.due,
                    original,
                );
                if self.send(again).await.is_none() {
                    return false;
                }
            }
            Turn::Handle => {
                if let Ok(wait) = parking.due.duration_since(SystemTime::now()) {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.stop.wait() => return false,
                    }
                }
                let attempt = parking.attempts + 1;
                let outcome = AssertUnwindSafe(self.inner.handler.call(record.clone()))
                    .catch_unwind()
                    .await;
                let error = match outcome {
                    Ok(Ok(())) => {
                        self.metrics.ok.inc();
                        self.inner
                            .parked
                            .finished(&self.source, key, parking.offset);
                        self.inner.commit(&self.retry, next, CommitMode::Async);
                        return true;
                    }
                    Ok(Err(e)) => e,
                    Err(_) => HandlerError::permanent("the handler panicked"),
                };
                let options = &self.inner.options;
                if error.kind() == FailureKind::Retryable && attempt < options.max_attempts {
                    RecordRetried {
                        record: &record,
                        attempt,
                        error: &error,
                    }
                    .emit(&self.metrics);
                    let due = SystemTime::now() + options.backoff(attempt);
                    let again = headers::parked(&record, &self.retry.0, attempt, due, original);
                    if self.send(again).await.is_none() {
                        return false;
                    }
                } else {
                    DeadLettering {
                        record: &record,
                        attempt,
                        error: &error,
                    }
                    .emit();
                    let dead = dead_letter(&record, &self.inner.group, &error);
                    if self.send(dead).await.is_none() {
                        return false;
                    }
                    DeadLettered.emit(&self.metrics);
                    self.inner
                        .parked
                        .finished(&self.source, key, parking.offset);
                }
            }
        }
        self.inner.commit(&self.retry, next, CommitMode::Async);
        true
    }

    /// Writes `record` (to the retry or the dead-letter topic) until it is acknowledged; its
    /// offset, or `None` when stopped first.
    async fn send(&self, record: OutgoingRecord) -> Option<i64> {
        let mut wait = SEND_BACKOFF.0;
        loop {
            match self.inner.producer.send(record.clone()).await {
                Ok(delivery) => return Some(delivery.offset),
                Err(e) => {
                    tracing::error!(topic = record.topic(), error = %e, retry_in = ?wait, "Retry reader: write failed; retrying.");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.stop.wait() => return None,
            }
            wait = (wait * 2).min(SEND_BACKOFF.1);
        }
    }
}
