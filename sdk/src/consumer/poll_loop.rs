//! The poll loop: one dedicated thread owns the librdkafka consumer. It takes messages and hands
//! them to the intake (which copies them into records and dispatches them to partition workers,
//! see [`super::intake`] and [`super::dispatch`]), collects the workers' acknowledgements,
//! commits finished offsets periodically ([`super::commit`]), and shuts down cleanly; the
//! rebalance callbacks are in [`super::context`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;

use super::ConsumeError;
use super::commit::commit_before_leaving;
use super::context::RuntimeContext;
use super::dispatch::DISPATCH_BATCH;
use super::intake::Intake;
use super::partitions::{LoopState, lock, tpl_of};
use crate::telemetry::{ComponentState, Health, health};

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
