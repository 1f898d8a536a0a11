//! Dispatch and back-pressure: a poll batch goes to the partitions' lanes; records a full lane
//! cannot take wait in the partition's overflow, in order; a long overflow pauses the partition
//! until the handlers catch up.

use std::sync::Arc;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use tokio::sync::mpsc::error::TrySendError;

use super::partitions::{LoopState, tpl_of};
use super::worker::{Tp, WorkerHandle};
use crate::record::Record;

/// A partition is paused once this many lanes' worth of records wait in its overflow (pausing
/// drops librdkafka's prefetched records, so it is kept for sustained backpressure).
const PARK_FACTOR: usize = 8;

/// Messages the poll thread takes from librdkafka before passing them to the intake.
pub(super) const DISPATCH_BATCH: usize = 1024;

impl LoopState {
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
    pub(super) fn flush_overflow<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) {
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
