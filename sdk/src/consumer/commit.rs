//! Commits: the finished offsets of every partition (periodically, asynchronously), of revoked
//! partitions (synchronously, riding out a coordinator move), and the last commit of a stopping
//! consumer.

use std::sync::atomic::Ordering as AtomicOrdering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};

use super::context::RuntimeContext;
use super::metrics::Counters;
use super::partitions::{LoopState, lock};
use super::worker::Tp;

impl LoopState {
    /// Commits every partition (or only `only`) whose committable offset moved; the error when
    /// that failed (the offsets stay to be committed by the next call).
    pub(super) fn commit<C: ConsumerContext>(
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
                    counters.committed();
                }
                Ok(())
            }
            Err(e) => {
                counters.commit_failed(&e, None);
                Err(e)
            }
        }
    }
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

/// The last commit of a stopping consumer, tried until it succeeds or `deadline` passes.
///
/// A rebalance under way (a member joining or leaving at the same moment) refuses commits of
/// the old generation until this member has rejoined, and rejoining takes polls: so the consumer
/// is polled between attempts (its partitions are paused; what a poll returns is not processed,
/// and a partition revoked meanwhile is committed by the revoke, with the new generation). Other
/// failures are not retried: with the coordinator unreachable, a synchronous commit can block
/// for most of the grace, and a cluster that went away does not come back within it.
pub(super) fn commit_before_leaving(
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
