//! Partition workers: records of a partition handled in order (or per key, in lanes), retried
//! with bounded exponential backoff, dead-lettered when they cannot succeed, acknowledged to the
//! poll loop only once finished.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::dead_letter::dead_letter;
use super::handler::{FailureKind, HandlerError};
use super::metrics::{ConsumerMetrics, DeadLettered, DeadLettering, LaneMetrics, RecordRetried};
use super::options::ConsumerOptions;
use crate::producer::Producer;
use crate::record::Record;
use crate::telemetry::PendingDurations;
use crate::telemetry::clock::Instant;
use crate::telemetry::propagation::{self, attr};

/// A topic-partition.
pub(crate) type Tp = (Arc<str>, i32);

/// Records handed to a lane at once: one hand-off (and at most one wake-up) per poll batch.
pub(crate) type Batch = Vec<Record>;

/// Finished offsets a lane collects before telling the poll loop.
const ACK_BATCH: usize = 64;
/// Handler time after which a lane reports what it finished, however few records.
const ACK_DELAY: Duration = Duration::from_millis(20);

/// What workers tell the poll loop.
#[derive(Debug)]
pub(crate) enum Ack {
    /// The records at these offsets are finished (processed or dead-lettered): they may be
    /// committed.
    Finished(Tp, Vec<i64>),
    /// A lane of the partition's worker stopped.
    LaneDone(Tp),
}

/// The user's handler. Workers are generic over it, so calling it costs what calling the
/// closure costs: no box per record, no dynamic call.
pub(crate) trait Handler: Send + Sync + 'static {
    type Future: Future<Output = Result<(), HandlerError>> + Send + 'static;
    fn call(&self, record: Record) -> Self::Future;
}

impl<F, Fut> Handler for F
where
    F: Fn(Record) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    type Future = Fut;
    fn call(&self, record: Record) -> Fut {
        self(record)
    }
}

/// What the poll loop needs of the processing side, whatever the handler's type: its options,
/// and workers for new partitions.
pub(crate) trait Workers: Send + Sync {
    fn options(&self) -> &ConsumerOptions;
    /// Starts the lanes of one partition's worker.
    fn spawn(
        self: Arc<Self>,
        runtime: &tokio::runtime::Handle,
        tp: Tp,
        acks: std_mpsc::Sender<Ack>,
    ) -> WorkerHandle;
}

/// Everything a worker needs, shared by all workers of one consumer.
pub(crate) struct Processing<H> {
    pub(crate) handler: H,
    pub(crate) dlq: Producer,
    pub(crate) group: String,
    pub(crate) options: ConsumerOptions,
    /// Set when the whole consumer shuts down.
    pub(crate) shutting_down: Arc<AtomicBool>,
}

/// The poll loop's handle on one partition's worker.
pub(crate) struct WorkerHandle {
    pub(crate) lanes: Vec<mpsc::Sender<Batch>>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl<H: Handler> Workers for Processing<H> {
    fn options(&self) -> &ConsumerOptions {
        &self.options
    }

    fn spawn(
        self: Arc<Self>,
        runtime: &tokio::runtime::Handle,
        tp: Tp,
        acks: std_mpsc::Sender<Ack>,
    ) -> WorkerHandle {
        let processing = self;
        let lanes = processing.options.lanes();
        let stop = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::with_capacity(lanes);
        let mut tasks = Vec::with_capacity(lanes);
        for _ in 0..lanes {
            let (tx, rx) = mpsc::channel(processing.options.batches_per_lane());
            senders.push(tx);
            tasks.push(runtime.spawn(lane(
                tp.clone(),
                rx,
                Arc::clone(&processing),
                Arc::clone(&stop),
                acks.clone(),
            )));
        }
        WorkerHandle {
            lanes: senders,
            stop,
            tasks,
        }
    }
}

impl WorkerHandle {
    /// The lane a record goes to: by key hash in per-key mode, the only lane otherwise.
    pub(crate) fn lane_of(&self, record: &Record) -> usize {
        if self.lanes.len() == 1 {
            return 0;
        }
        let hash = record.key().map_or(0u64, |k| {
            // FNV-1a: stable, fast, no allocation.
            k.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
            })
        });
        usize::try_from(hash % self.lanes.len() as u64).unwrap_or(0)
    }

    /// Asks the lanes to stop after the record each is handling; queued records are left
    /// uncommitted (they are redelivered to whoever owns the partition next).
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, AtomicOrdering::SeqCst);
        self.lanes.clear();
    }
}

async fn lane<H: Handler>(
    tp: Tp,
    mut rx: mpsc::Receiver<Batch>,
    p: Arc<Processing<H>>,
    stop: Arc<AtomicBool>,
    acks: std_mpsc::Sender<Ack>,
) {
    let lane = Lane {
        shared: &p,
        metrics: ConsumerMetrics::global().lane(&tp.0),
    };
    if p.options.window() > 1 {
        pipelined(&lane, &tp, rx, &stop, &acks).await;
    } else {
        let mut finished = Finished::new(&tp, &acks, &lane.metrics);
        'batches: while let Some(batch) = rx.recv().await {
            // One clock read per record: a record's end is the next one's start.
            let mut now = Instant::now();
            for record in batch {
                if stop.load(AtomicOrdering::SeqCst) {
                    break 'batches;
                }
                let offset = record.offset();
                match process(&lane, &stop, record, None, now).await {
                    Some(done) => {
                        finished.push(offset, &done);
                        now = done.ended;
                    }
                    None => break 'batches,
                }
            }
            // The queue may stay empty for a while: report what is done now.
            finished.flush();
        }
        finished.flush();
    }
    let _ = acks.send(Ack::LaneDone(tp));
}

/// Offsets a lane finished and has not reported yet: reported in groups (fewer messages to
/// the poll loop), but never held back longer than [`ACK_DELAY`] of handler time. The records
/// processed meanwhile are counted here too and added to the shared metrics with the report.
struct Finished<'a> {
    tp: &'a Tp,
    acks: &'a std_mpsc::Sender<Ack>,
    offsets: Vec<i64>,
    took: Duration,
    metrics: &'a LaneMetrics,
    processed: u64,
    durations: PendingDurations,
}

impl<'a> Finished<'a> {
    fn new(tp: &'a Tp, acks: &'a std_mpsc::Sender<Ack>, metrics: &'a LaneMetrics) -> Self {
        Self {
            tp,
            acks,
            offsets: Vec::new(),
            took: Duration::ZERO,
            metrics,
            processed: 0,
            durations: PendingDurations::default(),
        }
    }

    fn push(&mut self, offset: i64, done: &Done) {
        if let Some(handler) = done.processed {
            self.processed += 1;
            self.durations.observe(handler);
        }
        self.offsets.push(offset);
        self.took += done.took;
        if self.offsets.len() >= ACK_BATCH || self.took >= ACK_DELAY {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.processed > 0 {
            self.metrics.ok.inc_by(std::mem::take(&mut self.processed));
            self.durations.flush_into(&self.metrics.duration);
        }
        if !self.offsets.is_empty() {
            let offsets = std::mem::take(&mut self.offsets);
            let _ = self.acks.send(Ack::Finished(self.tp.clone(), offsets));
        }
        self.took = Duration::ZERO;
    }
}

/// [`Scheduling::Pipelined`](super::Scheduling::Pipelined): starts each handler in offset order
/// (its synchronous part runs before the next record's), keeps up to `window` running, and
/// cancels the unfinished ones when the worker stops.
async fn pipelined<H: Handler>(
    lane: &Lane<'_, H>,
    tp: &Tp,
    mut rx: mpsc::Receiver<Batch>,
    stop: &AtomicBool,
    acks: &std_mpsc::Sender<Ack>,
) {
    use futures::StreamExt;
    let window = lane.options.window();
    let mut running = futures::stream::FuturesUnordered::new();
    let mut received: std::collections::VecDeque<Record> = std::collections::VecDeque::new();
    let mut open = true;
    while open || !running.is_empty() || !received.is_empty() {
        // Start handlers, in offset order, while the window has room.
        while running.len() < window {
            let Some(record) = received.pop_front() else {
                break;
            };
            let offset = record.offset();
            let started = lane.handler.call(record.clone());
            running.push(
                process(lane, stop, record, Some(started), Instant::now())
                    .map(move |done| (offset, done)),
            );
        }
        if stopping(lane, stop) {
            // Dropping `running` cancels the unfinished handlers; their records stay
            // uncommitted and are redelivered.
            break;
        }
        tokio::select! {
            Some((offset, done)) = running.next(), if !running.is_empty() => {
                if let Some(done) = done {
                    if let Some(handler) = done.processed {
                        lane.metrics.ok.inc();
                        lane.metrics.duration.observe(handler);
                    }
                    let _ = acks.send(Ack::Finished(tp.clone(), vec![offset]));
                }
            }
            next = rx.recv(), if open && received.is_empty() => match next {
                Some(batch) => received.extend(batch),
                None => open = false,
            },
            () = tokio::time::sleep(STOP_CHECK) => {}
        }
    }
}

/// How often a pipelined lane looks at the stop flags while handlers wait.
const STOP_CHECK: Duration = Duration::from_millis(50);

fn stopping<H>(p: &Processing<H>, stop: &AtomicBool) -> bool {
    stop.load(AtomicOrdering::SeqCst) || p.shutting_down.load(AtomicOrdering::SeqCst)
}

/// What one lane needs: the shared processing and its topic's metrics.
struct Lane<'a, H> {
    shared: &'a Processing<H>,
    metrics: LaneMetrics,
}

impl<H> std::ops::Deref for Lane<'_, H> {
    type Target = Processing<H>;
    fn deref(&self) -> &Processing<H> {
        self.shared
    }
}

/// A record handled to the end.
struct Done {
    /// Handler time over all attempts (and backoff).
    took: Duration,
    /// When it ended.
    ended: Instant,
    /// The successful attempt's duration, for the caller to count as processed; `None` when the
    /// record was dead-lettered (counted already).
    processed: Option<Duration>,
}

/// Handles one record to the end, its first attempt timed from `start`, or returns `None` when
/// it was abandoned because the worker stopped (the record stays uncommitted and is
/// redelivered). Failed attempts are counted here; a success is the caller's to count.
async fn process<H: Handler>(
    p: &Lane<'_, H>,
    stop: &AtomicBool,
    record: Record,
    first: Option<H::Future>,
    start: Instant,
) -> Option<Done> {
    let span = tracing::info_span!(
        "process",
        otel.name = %format_args!("process {}", record.topic()),
        otel.kind = "consumer",
        { attr::SYSTEM } = "kafka",
        { attr::OPERATION } = "process",
        { attr::DESTINATION } = record.topic(),
        { attr::PARTITION } = record.partition(),
        { attr::OFFSET } = record.offset(),
        { attr::GROUP } = %p.group,
    );
    // An incoming trace is continued only when spans are recorded at all.
    if !span.is_disabled() && record.header("traceparent").is_some() {
        propagation::continue_trace(&span, record.headers());
    }
    process_in_span(p, stop, record, first, start)
        .instrument(span)
        .await
}

async fn process_in_span<H: Handler>(
    p: &Lane<'_, H>,
    stop: &AtomicBool,
    record: Record,
    mut first: Option<H::Future>,
    start: Instant,
) -> Option<Done> {
    let m = &p.metrics;
    let mut attempt: u32 = 1;
    let mut took = Duration::ZERO;
    let mut started = start;
    loop {
        let attempt_future = first
            .take()
            .unwrap_or_else(|| p.handler.call(record.clone()));
        let outcome = AssertUnwindSafe(attempt_future).catch_unwind().await;
        let ended = Instant::now();
        let elapsed = ended.saturating_duration_since(started);
        took += elapsed;
        let error = match outcome {
            Ok(Ok(())) => {
                if tracing::event_enabled!(tracing::Level::DEBUG) {
                    let trace = propagation::log_trace(record.header("traceparent"));
                    tracing::debug!(
                        topic = record.topic(),
                        partition = record.partition(),
                        offset = record.offset(),
                        group = %p.group,
                        trace_id = trace.as_ref().map(|t| t.trace_id.as_str()),
                        span_id = trace.as_ref().map(|t| t.span_id.as_str()),
                        "Processed record."
                    );
                }
                return Some(Done {
                    took,
                    ended,
                    processed: Some(elapsed),
                });
            }
            Ok(Err(e)) => e,
            Err(_) => HandlerError::permanent("the handler panicked"),
        };
        m.duration.observe(elapsed);
        let retry = error.kind() == FailureKind::Retryable && attempt < p.options.max_attempts;
        if retry {
            let delay = p.options.backoff(attempt);
            RecordRetried {
                record: &record,
                attempt,
                error: &error,
            }
            .emit(m);
            if !sleep_unless_stopped(p, stop, delay).await {
                return None;
            }
            took += delay;
            attempt += 1;
            started = Instant::now();
            continue;
        }
        DeadLettering {
            record: &record,
            attempt,
            error: &error,
        }
        .emit();
        if !send_to_dlq(p, stop, &record, &error).await {
            return None;
        }
        DeadLettered.emit(m);
        return Some(Done {
            took,
            ended: Instant::now(),
            processed: None,
        });
    }
}

/// Sleeps `delay`, waking early (with `false`) when the worker stops.
async fn sleep_unless_stopped<H>(p: &Processing<H>, stop: &AtomicBool, delay: Duration) -> bool {
    let step = Duration::from_millis(50);
    let deadline = tokio::time::Instant::now() + delay;
    while tokio::time::Instant::now() < deadline {
        if stopping(p, stop) {
            return false;
        }
        tokio::time::sleep(step.min(deadline - tokio::time::Instant::now())).await;
    }
    !stopping(p, stop)
}

/// Writes the dead-letter record, retrying until Kafka acknowledges it (the original is only
/// committed after that) or the worker stops.
async fn send_to_dlq<H>(
    p: &Processing<H>,
    stop: &AtomicBool,
    record: &Record,
    error: &HandlerError,
) -> bool {
    let dead = dead_letter(record, &p.group, error);
    let mut attempt = 1;
    loop {
        match p.dlq.send(dead.clone()).await {
            Ok(_) => return true,
            Err(e) => {
                tracing::error!(topic = dead.topic(), error = %e, attempt, "Dead-letter write failed; retrying.");
                if !sleep_unless_stopped(p, stop, p.options.backoff(attempt)).await {
                    return false;
                }
                attempt += 1;
            }
        }
    }
}
