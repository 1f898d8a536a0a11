//! The assigned partitions' state, shared by the poll loop and the rebalance callback (both on
//! the poll thread) and the intake thread: a worker and an offset tracker per partition, the
//! workers' acknowledgements, and the drain of revoked partitions.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, CommitMode, ConsumerContext};

use super::metrics::Counters;
use super::tracker::PartitionTracker;
use super::worker::{Ack, Tp, WorkerHandle, Workers};
use crate::record::Record;

/// State shared by the loop and the rebalance callback (both on the poll thread) and the intake
/// thread (dispatching).
pub(crate) struct LoopState {
    pub(super) workers: HashMap<Tp, WorkerHandle>,
    pub(super) trackers: HashMap<Tp, PartitionTracker>,
    pub(super) overflow: HashMap<Tp, VecDeque<Record>>,
    /// Partitions paused because their overflow is full.
    pub(super) paused: HashSet<Tp>,
    /// Partitions revoked since the poll loop last looked (see the batching in `run`).
    pub(super) revoked: Vec<Tp>,
    /// Lanes still running per stopped worker.
    pub(super) stopping: HashMap<Tp, usize>,
    pub(super) acks: std_mpsc::Receiver<Ack>,
    pub(super) acks_tx: std_mpsc::Sender<Ack>,
    pub(super) processing: Arc<dyn Workers>,
    pub(super) runtime: tokio::runtime::Handle,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn tpl_of<'a>(tps: impl IntoIterator<Item = &'a Tp>) -> TopicPartitionList {
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
            paused: HashSet::new(),
            revoked: Vec::new(),
            stopping: HashMap::new(),
            acks,
            acks_tx,
            processing,
            runtime,
        }
    }

    pub(super) fn on_ack(&mut self, ack: Ack) {
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
    pub(super) fn wait_for_ack(&mut self, timeout: Duration) {
        if let Ok(ack) = self.acks.recv_timeout(timeout) {
            self.on_ack(ack);
        }
        self.drain_acks();
    }

    pub(super) fn drain_acks(&mut self) {
        while let Ok(ack) = self.acks.try_recv() {
            self.on_ack(ack);
        }
    }

    /// Stops the workers of `tps` and waits (bounded) until their in-flight records finish.
    pub(super) fn stop_and_wait(&mut self, tps: &[Tp], timeout: Duration) {
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
    pub(super) fn take_revoked(&mut self) -> Vec<Tp> {
        std::mem::take(&mut self.revoked)
    }

    /// Drains and commits the revoked partitions, then forgets them.
    pub(super) fn revoke<C: ConsumerContext>(
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

    pub(super) fn all_partitions(&self) -> Vec<Tp> {
        self.trackers.keys().cloned().collect()
    }

    /// Records dispatched and not finished, over all partitions.
    pub(super) fn in_flight(&self) -> usize {
        self.trackers
            .values()
            .map(PartitionTracker::in_flight)
            .sum()
    }
}
