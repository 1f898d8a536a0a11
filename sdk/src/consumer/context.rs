//! The consumer's librdkafka context: the rebalance callbacks (a revoke drains and commits
//! the revoked partitions before they go), the commit callback, statistics to metrics, the
//! consumer's health component, and the counters the runtime exposes.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::{ClientContext, TopicPartitionList};

use super::backlog::Backlog;
use super::metrics::Counters;
use super::park::PartitionListener;
use super::partitions::{LoopState, lock};
use super::worker::Tp;
use crate::telemetry::stats::{ClientMetrics, ClientRole};
use crate::telemetry::{ComponentState, health};

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
    /// Told of assigned and revoked partitions (the retry reader in park mode).
    pub(crate) listener: Option<Arc<dyn PartitionListener>>,
}

impl ClientContext for RuntimeContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        ClientMetrics::global().record(ClientRole::consumer, &statistics);
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
                if let Some(listener) = &self.listener {
                    listener.revoking(&tps);
                }
            }
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "Partitions assigned.");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "Rebalance error."),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let (Some(listener), Rebalance::Assign(tpl)) = (&self.listener, rebalance) {
            let tps: Vec<Tp> = tpl
                .elements()
                .iter()
                .map(|e| (Arc::from(e.topic()), e.partition()))
                .collect();
            listener.assigned(&tps);
        }
        let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        self.counters.assigned(assigned);
        // Holding partitions, or legitimately idle (more members than partitions).
        if !self.stopping.load(AtomicOrdering::SeqCst) {
            health().set(&self.component, ComponentState::Ready);
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => self.counters.committed(),
            // Nothing to commit is not a failure.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => self.counters.commit_failed(&e, Some(offsets.count())),
        }
    }
}
