//! The poll loop: one dedicated thread owns the librdkafka consumer. It takes messages and hands
//! them to the intake (which copies them into records and dispatches them to partition workers,
//! see [`super::intake`]), collects the workers' acknowledgements, commits finished offsets
//! periodically, drains and commits revoked partitions inside the rebalance callback, and shuts
//! down cleanly.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc::error::TrySendError;

use super::ConsumeError;
use super::intake::{Backlog, Intake};
use super::tracker::PartitionTracker;
use super::worker::{Ack, Tp, WorkerHandle, Workers};
use crate::record::Record;
use crate::telemetry::lag::EndSamples;
use crate::telemetry::{
    ClientRole, CommitLabels, CommitOutcome, ComponentState, Health, Metrics, PartitionLabels,
    health, metrics,
};

/// A partition is paused once this many lanes' worth of records wait in its overflow (pausing
/// drops librdkafka's prefetched records, so it is kept for sustained backpressure).
const PARK_FACTOR: usize = 8;

/// Messages the poll thread takes from librdkafka before passing them to the intake.
const DISPATCH_BATCH: usize = 1024;

/// Counters the runtime exposes (read by observability and tests).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) rebalances: AtomicU64,
    pub(crate) assigned: AtomicU64,
    pub(crate) commits_ok: AtomicU64,
    pub(crate) commits_failed: AtomicU64,
}

impl Counters {
    fn rebalanced(&self) {
        self.rebalances.fetch_add(1, AtomicOrdering::Relaxed);
        metrics().consumer_rebalances.inc();
    }

    fn assigned(&self, partitions: usize) {
        self.assigned
            .store(partitions as u64, AtomicOrdering::Relaxed);
        metrics()
            .consumer_assigned
            .set(i64::try_from(partitions).unwrap_or(i64::MAX));
    }

    fn committed(&self, outcome: CommitOutcome) {
        match outcome {
            CommitOutcome::ok => self.commits_ok.fetch_add(1, AtomicOrdering::Relaxed),
            CommitOutcome::error => self.commits_failed.fetch_add(1, AtomicOrdering::Relaxed),
        };
        metrics()
            .consumer_commits
            .get_or_create(&CommitLabels { outcome })
            .inc();
    }
}

/// State shared by the loop and the rebalance callback (both on the poll thread) and the intake
/// thread (dispatching).
pub(crate) struct LoopState {
    workers: HashMap<Tp, WorkerHandle>,
    trackers: HashMap<Tp, PartitionTracker>,
    overflow: HashMap<Tp, VecDeque<Record>>,
    /// Partitions paused because their overflow is full.
    paused: std::collections::HashSet<Tp>,
    /// Partitions revoked since the poll loop last looked (see the batching in `run`).
    revoked: Vec<Tp>,
    /// Lanes still running per stopped worker.
    stopping: HashMap<Tp, usize>,
    acks: std_mpsc::Receiver<Ack>,
    acks_tx: std_mpsc::Sender<Ack>,
    processing: Arc<dyn Workers>,
    runtime: tokio::runtime::Handle,
}

/// The consumer context: logs through `tracing`, statistics to metrics, drains + commits on
/// revoke, and keeps the consumer's health component current.
pub(crate) struct RuntimeContext {
    pub(crate) state: Mutex<Option<LoopState>>,
    pub(crate) counters: Arc<Counters>,
    /// Batches polled and not yet dispatched by the intake thread.
    pub(crate) backlog: Backlog,
    /// Health component name (`consumer:<group>`).
    pub(crate) component: String,
    /// Shutdown has begun: a rebalance no longer makes the component ready.
    pub(crate) stopping: AtomicBool,
    /// The last commit of the shutdown failed for another reason than a rebalance (the
    /// coordinator is unreachable): the revoke of the final unsubscribe does not try again, as
    /// a synchronous commit then blocks until the grace is over.
    pub(crate) unreachable: AtomicBool,
}

impl ClientContext for RuntimeContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        crate::telemetry::stats::record(ClientRole::consumer, &statistics);
    }
}

impl ConsumerContext for RuntimeContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.counters.rebalanced();
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let tps: Vec<Tp> = tpl
                    .elements()
                    .iter()
                    .map(|e| (Arc::from(e.topic()), e.partition()))
                    .collect();
                tracing::info!(partitions = tps.len(), "Partitions revoked; draining them.");
                // Records polled before the revoke are dispatched first, then drained with the
                // rest (the intake takes the state lock to dispatch: not held while waiting).
                let timeout = lock(&self.state)
                    .as_ref()
                    .map(|s| s.processing.options().revoke_timeout);
                if let Some(timeout) = timeout
                    && !self.backlog.wait_caught_up(timeout)
                {
                    tracing::warn!("Polled records were not dispatched within the revoke timeout.");
                }
                if let Some(state) = lock(&self.state).as_mut() {
                    let skip = if consumer.assignment_lost() {
                        Some(
                            "Assignment lost; not committing revoked partitions (another member owns them).",
                        )
                    } else if self.unreachable.load(AtomicOrdering::SeqCst) {
                        Some(
                            "The coordinator is unreachable (the last commit failed); not committing revoked partitions again.",
                        )
                    } else {
                        None
                    };
                    state.revoke(consumer, &tps, skip, &self.counters);
                }
            }
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "Partitions assigned.");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "Rebalance error."),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        self.counters.assigned(assigned);
        // Holding partitions, or legitimately idle (more members than partitions).
        if !self.stopping.load(AtomicOrdering::SeqCst) {
            health().set(&self.component, ComponentState::Ready);
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                self.counters.committed(CommitOutcome::ok);
            }
            // Nothing to commit is not a failure.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                self.counters.committed(CommitOutcome::error);
                tracing::warn!(error = %e, partitions = offsets.count(), "Offset commit failed; the next commit retries.");
            }
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn tpl_of<'a>(tps: impl IntoIterator<Item = &'a Tp>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (t, p) in tps {
        tpl.add_partition(t, *p);
    }
    tpl
}

impl LoopState {
    pub(crate) fn new(processing: Arc<dyn Workers>, runtime: tokio::runtime::Handle) -> Self {
        let (acks_tx, acks) = std_mpsc::channel();
        Self {
            workers: HashMap::new(),
            trackers: HashMap::new(),
            overflow: HashMap::new(),
            paused: std::collections::HashSet::new(),
            revoked: Vec::new(),
            stopping: HashMap::new(),
            acks,
            acks_tx,
            processing,
            runtime,
        }
    }

    fn on_ack(&mut self, ack: Ack) {
        match ack {
            Ack::Finished(tp, offsets) => {
                if let Some(t) = self.trackers.get_mut(&tp) {
                    for offset in offsets {
                        t.finished(offset);
                    }
                }
            }
            Ack::LaneDone(tp) => {
                if let Some(n) = self.stopping.get_mut(&tp) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.stopping.remove(&tp);
                    }
                }
            }
        }
    }

    /// Blocks up to `timeout` for one acknowledgement, then takes all that are there.
    fn wait_for_ack(&mut self, timeout: Duration) {
        if let Ok(ack) = self.acks.recv_timeout(timeout) {
            self.on_ack(ack);
        }
        self.drain_acks();
    }

    fn drain_acks(&mut self) {
        while let Ok(ack) = self.acks.try_recv() {
            self.on_ack(ack);
        }
    }

    /// Hands a poll batch to the partitions' workers: consecutive records of a partition go
    /// to their lanes as one batch each. When a lane is full, its records wait in the
    /// partition's overflow (in order, with every later record of the partition); only a long
    /// overflow pauses the partition (pausing drops librdkafka's prefetched records, so it is
    /// kept for real backpressure, not momentary bursts).
    pub(super) fn dispatch<C: ConsumerContext>(
        &mut self,
        batch: Vec<Record>,
        consumer: &BaseConsumer<C>,
    ) {
        let mut left = batch.len();
        let mut run: Vec<Record> = Vec::with_capacity(left);
        let mut tp: Option<Tp> = None;
        for record in batch {
            // Records of one poll share their topic's name: a pointer comparison mostly.
            let same = tp.as_ref().is_some_and(|(t, p)| {
                *p == record.partition()
                    && (Arc::ptr_eq(t, record.topic_arc()) || &**t == record.topic())
            });
            if !same {
                if let Some(tp) = tp.take() {
                    // Sized for the rest of the batch: no regrowing while it fills.
                    let next = Vec::with_capacity(left);
                    self.dispatch_run(tp, std::mem::replace(&mut run, next), consumer);
                }
                tp = Some((Arc::clone(record.topic_arc()), record.partition()));
            }
            run.push(record);
            left -= 1;
        }
        if let Some(tp) = tp {
            self.dispatch_run(tp, run, consumer);
        }
    }

    /// Dispatches consecutive records of one partition.
    fn dispatch_run<C: ConsumerContext>(
        &mut self,
        tp: Tp,
        run: Vec<Record>,
        consumer: &BaseConsumer<C>,
    ) {
        let tracker = self.trackers.entry(tp.clone()).or_default();
        for r in &run {
            tracker.dispatched(r.offset());
        }
        let worker = self.workers.entry(tp.clone()).or_insert_with(|| {
            Arc::clone(&self.processing).spawn(&self.runtime, tp.clone(), self.acks_tx.clone())
        });
        let refused = match self.overflow.get_mut(&tp) {
            Some(parked) => {
                parked.extend(run);
                Vec::new()
            }
            None => send_to_lanes(worker, run),
        };
        if !refused.is_empty() {
            let parked = self.overflow.entry(tp.clone()).or_default();
            for record in refused.into_iter().rev() {
                parked.push_front(record);
            }
        }
        let max_parked = self.processing.options().queue_per_lane * PARK_FACTOR;
        if self
            .overflow
            .get(&tp)
            .is_some_and(|p| p.len() >= max_parked)
            && self.paused.insert(tp.clone())
        {
            tracing::debug!(topic = %tp.0, partition = tp.1, "Handlers are behind; pausing the partition.");
            if let Err(e) = consumer.pause(&tpl_of([&tp])) {
                tracing::warn!(topic = %tp.0, partition = tp.1, error = %e, "Cannot pause partition.");
            }
        }
    }

    /// Moves parked records into lanes with room; resumes paused partitions once their overflow
    /// is back under half the limit.
    fn flush_overflow<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) {
        for (tp, parked) in &mut self.overflow {
            let Some(worker) = self.workers.get(tp) else {
                continue;
            };
            while !parked.is_empty() {
                let take = parked.len().min(DISPATCH_BATCH);
                let chunk: Vec<Record> = parked.drain(..take).collect();
                let refused = send_to_lanes(worker, chunk);
                if refused.is_empty() {
                    continue;
                }
                for record in refused.into_iter().rev() {
                    parked.push_front(record);
                }
                break;
            }
        }
        self.overflow.retain(|_, parked| !parked.is_empty());
        let resume_below = self.processing.options().queue_per_lane * PARK_FACTOR / 2;
        let resumed: Vec<Tp> = self
            .paused
            .iter()
            .filter(|tp| {
                self.overflow
                    .get(*tp)
                    .is_none_or(|p| p.len() < resume_below)
            })
            .cloned()
            .collect();
        for tp in resumed {
            self.paused.remove(&tp);
            tracing::debug!(topic = %tp.0, partition = tp.1, "Handlers caught up; resuming the partition.");
            if let Err(e) = consumer.resume(&tpl_of([&tp])) {
                tracing::warn!(topic = %tp.0, partition = tp.1, error = %e, "Cannot resume partition.");
            }
        }
    }

    /// Commits every partition (or only `only`) whose committable offset moved; the error when
    /// that failed (the offsets stay to be committed by the next call).
    fn commit<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        mode: CommitMode,
        only: Option<&[Tp]>,
        counters: &Counters,
    ) -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        let mut moved = Vec::new();
        for (tp, tracker) in &self.trackers {
            if only.is_some_and(|o| !o.contains(tp)) {
                continue;
            }
            if let Some(offset) = tracker.committable()
                && tpl
                    .add_partition_offset(&tp.0, tp.1, Offset::Offset(offset))
                    .is_ok()
            {
                moved.push((tp.clone(), offset));
            }
        }
        if moved.is_empty() {
            return Ok(());
        }
        let mut result = consumer.commit(&tpl, mode);
        if matches!(mode, CommitMode::Sync) {
            // On revoke and shutdown the commit matters most: ride out a coordinator move.
            for attempt in 1..=5u32 {
                match &result {
                    Err(e) if retriable_commit_error(e) => {
                        tracing::info!(error = %e, attempt, "Commit failed transiently; retrying.");
                        std::thread::sleep(Duration::from_millis(100) * attempt);
                        result = consumer.commit(&tpl, mode);
                    }
                    _ => break,
                }
            }
        }
        match result {
            Ok(()) => {
                for (tp, offset) in moved {
                    if let Some(t) = self.trackers.get_mut(&tp) {
                        t.committed(offset);
                    }
                }
                if matches!(mode, CommitMode::Sync) {
                    counters.committed(CommitOutcome::ok);
                }
                Ok(())
            }
            Err(e) => {
                counters.committed(CommitOutcome::error);
                tracing::warn!(error = %e, "Offset commit failed; the next commit retries.");
                Err(e)
            }
        }
    }

    /// Stops the workers of `tps` and waits (bounded) until their in-flight records finish.
    fn stop_and_wait(&mut self, tps: &[Tp], timeout: Duration) {
        for tp in tps {
            if let Some(mut worker) = self.workers.remove(tp) {
                self.stopping.insert(tp.clone(), worker.tasks.len());
                // Lanes blocked on an empty queue wake up because their senders are gone; each
                // reports `LaneDone` when it has finished its current record.
                worker.stop();
            }
            self.overflow.remove(tp);
            self.paused.remove(tp);
        }
        let deadline = Instant::now() + timeout;
        while tps.iter().any(|tp| self.stopping.contains_key(tp)) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(
                    "Handlers did not finish within the drain timeout; their records stay uncommitted."
                );
                break;
            }
            match self.acks.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(ack) => self.on_ack(ack),
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        self.drain_acks();
    }

    /// Partitions revoked since the last call.
    fn take_revoked(&mut self) -> Vec<Tp> {
        std::mem::take(&mut self.revoked)
    }

    /// Drains and commits the revoked partitions, then forgets them.
    fn revoke<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        tps: &[Tp],
        skip_commit: Option<&str>,
        counters: &Counters,
    ) {
        let timeout = self.processing.options().revoke_timeout;
        self.stop_and_wait(tps, timeout);
        if let Some(why) = skip_commit {
            tracing::warn!("{why}");
        } else {
            let _ = self.commit(consumer, CommitMode::Sync, Some(tps), counters);
        }
        for tp in tps {
            self.trackers.remove(tp);
            self.stopping.remove(tp);
        }
        self.revoked.extend_from_slice(tps);
    }

    fn all_partitions(&self) -> Vec<Tp> {
        self.trackers.keys().cloned().collect()
    }

    /// Records dispatched and not finished, over all partitions.
    fn in_flight(&self) -> usize {
        self.trackers
            .values()
            .map(PartitionTracker::in_flight)
            .sum()
    }
}

/// Sends records of one partition (in offset order) to their lanes, one batch per lane; returns
/// the records of lanes that had no room, in offset order (they must wait, with everything after
/// them, to keep each lane's order).
fn send_to_lanes(worker: &WorkerHandle, records: Vec<Record>) -> Vec<Record> {
    if worker.lanes.len() == 1 {
        return match worker.lanes[0].try_send(records) {
            Ok(()) => Vec::new(),
            Err(TrySendError::Full(r) | TrySendError::Closed(r)) => r,
        };
    }
    let mut per_lane: Vec<Vec<Record>> = vec![Vec::new(); worker.lanes.len()];
    for record in records {
        per_lane[worker.lane_of(&record)].push(record);
    }
    let mut refused = Vec::new();
    for (lane, batch) in per_lane.into_iter().enumerate() {
        if batch.is_empty() {
            continue;
        }
        if let Err(TrySendError::Full(r) | TrySendError::Closed(r)) =
            worker.lanes[lane].try_send(batch)
        {
            refused.extend(r);
        }
    }
    refused.sort_by_key(Record::offset);
    refused
}

/// Whether a failed commit may succeed when tried again (the group coordinator moved or is busy).
fn retriable_commit_error(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NotCoordinator
                | RDKafkaErrorCode::CoordinatorNotAvailable
                | RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
        )
    )
}

/// Whether a consumer error means the consumer cannot go on.
fn fatal(consumer: &BaseConsumer<RuntimeContext>, error: &KafkaError) -> bool {
    if consumer.client().fatal_error().is_some() {
        return true;
    }
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Fatal
                | RDKafkaErrorCode::FencedInstanceId
                | RDKafkaErrorCode::PollExceeded
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::TopicAuthorizationFailed
        )
    )
}

/// The poll thread's loop: takes messages from librdkafka and passes them to the intake in
/// batches, and between batches applies acknowledgements, refills lanes, and commits.
struct Polling<'a> {
    consumer: &'a BaseConsumer<RuntimeContext>,
    shutdown: &'a AtomicBool,
    commit_interval: Duration,
    heartbeat: &'static AtomicU64,
}

impl<'a> Polling<'a> {
    /// Polls until shutdown is requested or the consumer fails; the failure.
    fn until_stopped(&self, intake: &Intake<'a>) -> Option<ConsumeError> {
        let (consumer, ctx) = (self.consumer, self.consumer.context());
        let counters = &ctx.counters;
        let mut last_commit = Instant::now();
        while !self.shutdown.load(AtomicOrdering::SeqCst) {
            Health::beat(self.heartbeat);
            let mut parked = false;
            if let Some(state) = lock(&ctx.state).as_mut() {
                state.drain_acks();
                state.flush_overflow(consumer);
                if !state.paused.is_empty() {
                    // Lanes are full: wait (blocking, not spinning) until a record finishes and
                    // frees room, then refill.
                    state.wait_for_ack(Duration::from_millis(5));
                    state.flush_overflow(consumer);
                }
                parked = !state.paused.is_empty();
                if last_commit.elapsed() >= self.commit_interval {
                    // A failure is logged and counted; the next commit carries the offsets.
                    let _ = state.commit(consumer, CommitMode::Async, None, counters);
                    last_commit = Instant::now();
                }
            }
            // The lock is not held here: the rebalance callback runs inside poll.
            let mut wait = if parked {
                Duration::ZERO
            } else {
                Duration::from_millis(100)
            };
            // Take what is there, up to a batch. A rebalance inside a poll ends the batch, and
            // messages of partitions it revoked are dropped (not dispatched, not committed: the
            // new owner reads them); the batches before it were dispatched and drained.
            let mut messages = intake.next_batch();
            let rebalances = counters.rebalances.load(AtomicOrdering::Relaxed);
            let mut failure = None;
            while messages.len() < DISPATCH_BATCH {
                let polled = consumer.poll(wait);
                if counters.rebalances.load(AtomicOrdering::Relaxed) != rebalances {
                    let revoked = lock(&ctx.state)
                        .as_mut()
                        .map(LoopState::take_revoked)
                        .unwrap_or_default();
                    messages.retain(|m: &BorrowedMessage<'_>| {
                        !revoked
                            .iter()
                            .any(|(t, p)| &**t == m.topic() && *p == m.partition())
                    });
                    if let Some(Ok(message)) = polled {
                        messages.push(message);
                    }
                    break;
                }
                match polled {
                    None => break,
                    Some(Ok(message)) => messages.push(message),
                    Some(Err(e)) if fatal(consumer, &e) => {
                        tracing::error!(error = %e, "Fatal consumer error; shutting down.");
                        health().set(
                            &ctx.component,
                            ComponentState::Failed(format!("fatal consumer error: {e}")),
                        );
                        failure = Some(ConsumeError::Fatal(e));
                        break;
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "Consumer error."),
                }
                wait = Duration::ZERO;
            }
            if !messages.is_empty() && intake.send(&ctx.backlog, messages).is_err() {
                tracing::error!("The consumer's intake thread ended; shutting down.");
                return Some(ConsumeError::Crashed);
            }
            if failure.is_some() {
                return failure;
            }
        }
        None
    }
}

/// Runs the loop until `shutdown` is set or a fatal error; then drains within the grace period,
/// commits, and closes the consumer (leaving the group).
pub(crate) fn run(
    consumer: &BaseConsumer<RuntimeContext>,
    topics: &[String],
    shutdown: &AtomicBool,
) -> Result<(), ConsumeError> {
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).map_err(ConsumeError::Kafka)?;
    let ctx = consumer.context();
    let counters = Arc::clone(&ctx.counters);
    let (commit_interval, grace, last_commit) = {
        let guard = lock(&ctx.state);
        let Some(state) = guard.as_ref() else {
            return Ok(());
        };
        let options = state.processing.options();
        (
            options.commit_interval,
            options.drain_timeout(),
            options.last_commit_timeout(),
        )
    };
    let heartbeat = health().heartbeat(&ctx.component);
    let failure = std::thread::scope(|scope| {
        let Ok(intake) = Intake::start(scope, consumer, topics, DISPATCH_BATCH) else {
            return Some(ConsumeError::Crashed);
        };
        let polling = Polling {
            consumer,
            shutdown,
            commit_interval,
            heartbeat,
        };
        // Hanging up lets the intake dispatch what it has and end; the scope joins it.
        polling.until_stopped(&intake)
    });
    // Shutdown: stop fetching, let in-flight handlers finish, commit, leave the group.
    let began = Instant::now();
    shutdown.store(true, AtomicOrdering::SeqCst);
    ctx.stopping.store(true, AtomicOrdering::SeqCst);
    if failure.is_none() {
        health().set(&ctx.component, ComponentState::Stopping);
    }
    Health::retire(heartbeat);
    if let Some(state) = lock(&ctx.state).as_mut() {
        let all = state.all_partitions();
        let _ = consumer.pause(&tpl_of(&all));
        state.stop_and_wait(&all, grace);
    }
    commit_before_leaving(consumer, &counters, began + grace + last_commit);
    if let Some(state) = lock(&ctx.state).as_mut() {
        let abandoned = state.in_flight();
        if abandoned > 0 {
            tracing::info!(
                records = abandoned,
                "Records fetched but not finished stay uncommitted; they are redelivered."
            );
        }
        state.trackers.clear();
    }
    consumer.unsubscribe();
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The last commit of a stopping consumer, tried until it succeeds or `deadline` passes.
///
/// A rebalance under way (a member joining or leaving at the same moment) refuses commits of
/// the old generation until this member has rejoined, and rejoining takes polls: so the consumer
/// is polled between attempts (its partitions are paused; what a poll returns is not processed,
/// and a partition revoked meanwhile is committed by the revoke, with the new generation). Other
/// failures are not retried: with the coordinator unreachable, a synchronous commit can block
/// for most of the grace, and a cluster that went away does not come back within it.
fn commit_before_leaving(
    consumer: &BaseConsumer<RuntimeContext>,
    counters: &Counters,
    deadline: Instant,
) {
    loop {
        let result = match lock(&consumer.context().state).as_mut() {
            Some(state) => state.commit(consumer, CommitMode::Sync, None, counters),
            None => Ok(()),
        };
        match &result {
            Ok(()) => return,
            Err(e) if rebalancing(e) => {}
            Err(e) => {
                consumer
                    .context()
                    .unreachable
                    .store(true, AtomicOrdering::SeqCst);
                tracing::warn!(
                    error = %e,
                    "The last commit failed; records processed since the previous commit are redelivered."
                );
                return;
            }
        }
        if Instant::now() >= deadline {
            if let Err(e) = result {
                tracing::warn!(
                    error = %e,
                    "The last commit did not succeed within the shutdown grace; records processed since the previous commit are redelivered."
                );
            }
            return;
        }
        // The state lock is not held: a rebalance inside poll takes it.
        let _ = consumer.poll(Duration::from_millis(100));
    }
}

/// Whether a commit was refused because the group is rebalancing (this member's generation is
/// being replaced).
fn rebalancing(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::IllegalGeneration | RDKafkaErrorCode::RebalanceInProgress)
    )
}

/// Samples the log end of every assigned partition and the group's committed offsets every
/// `interval`, and publishes lag in records and in time (see [`crate::telemetry::lag`]).
/// Runs on its own thread (the calls block) until `shutdown`.
pub(crate) fn sample_lag(
    consumer: &BaseConsumer<RuntimeContext>,
    interval: Duration,
    per_partition: bool,
    shutdown: &AtomicBool,
) {
    let mut samples: HashMap<Tp, EndSamples> = HashMap::new();
    let mut topics_seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    // Short: shutdown waits for this thread.
    let timeout = Duration::from_secs(2);
    let mut next = Instant::now();
    while !shutdown.load(AtomicOrdering::SeqCst) {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        next = Instant::now() + interval;
        let Ok(assignment) = consumer.assignment() else {
            continue;
        };
        let committed = if assignment.count() == 0 {
            TopicPartitionList::new()
        } else {
            match consumer.committed(timeout) {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "Cannot read committed offsets for lag.");
                    continue;
                }
            }
        };
        let now = Instant::now();
        let mut by_topic: HashMap<String, (i64, f64)> =
            topics_seen.iter().map(|t| (t.clone(), (0, 0.0))).collect();
        let m = metrics();
        for e in assignment.elements() {
            let (topic, partition) = (e.topic(), e.partition());
            let Ok((low, high)) = consumer.fetch_watermarks(topic, partition, timeout) else {
                continue;
            };
            let tp: Tp = (Arc::from(topic), partition);
            let s = samples.entry(tp).or_default();
            s.record(now, high);
            let position = match committed
                .find_partition(topic, partition)
                .map(|c| c.offset())
            {
                Some(Offset::Offset(o)) => o,
                _ => low,
            };
            let (msgs, secs) = (
                s.lag_messages(position),
                s.lag_time(position, now).as_secs_f64(),
            );
            let entry = by_topic.entry(topic.to_owned()).or_insert((0, 0.0));
            entry.0 += msgs;
            entry.1 = entry.1.max(secs);
            if per_partition {
                let labels = PartitionLabels {
                    topic: topic.to_owned(),
                    partition,
                };
                m.consumer_partition_lag_messages
                    .get_or_create(&labels)
                    .set(msgs);
                m.consumer_partition_lag_seconds
                    .get_or_create(&labels)
                    .set(secs);
            }
        }
        samples.retain(|tp, _| {
            assignment
                .elements()
                .iter()
                .any(|e| e.topic() == &*tp.0 && e.partition() == tp.1)
        });
        for (topic, (msgs, secs)) in by_topic {
            m.consumer_lag_messages
                .get_or_create(&Metrics::topic(&topic))
                .set(msgs);
            m.consumer_lag_seconds
                .get_or_create(&Metrics::topic(&topic))
                .set(secs);
            topics_seen.insert(topic);
        }
    }
}
