//! The consumer runtime: at-least-once, commits only after the handler finished.
//!
//! * Offsets are committed only for records whose handler returned (or that were dead-lettered),
//!   periodically, and synchronously on partition revoke and on shutdown.
//! * Records of a partition are handled in order; [`Scheduling::Key`] runs different keys
//!   concurrently while keeping per-key order.
//! * Retryable failures are retried in place with bounded exponential backoff, or, in
//!   [`park`] mode, by parking their key in `<topic>.retry` so the partition's other keys go
//!   on; after `max_attempts`, or at once for permanent failures and poison records, the record
//!   goes to `<topic>.dlq` with Spring Kafka's `kafka_dlt-*` headers, and consumption
//!   continues.
//! * Cooperative-sticky assignment; optional static membership (`KAFKA_GROUP_INSTANCE_ID`).
//! * Graceful shutdown on SIGTERM/SIGINT or a future of yours; fatal errors end `run` with an error.

mod backlog;
mod commit;
mod context;
pub(crate) mod dead_letter;
mod dispatch;
mod exactly_once;
mod handler;
mod intake;
mod metrics;
mod options;
pub mod park;
mod partitions;
mod poll_loop;
pub(crate) mod shutdown;
pub use shutdown::terminated;
mod tracker;
mod worker;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError;

pub use dead_letter::{DLQ_SUFFIX, dlq_topic, headers as dlq_headers};
pub use exactly_once::{TransactionalProducer, Transform};
pub use handler::{FailureKind, HandlerError};
pub use options::{ConsumerOptions, Scheduling};

use crate::config::{GroupProtocol, RetryMode, Settings};
use crate::connection::{Role, client_config};
use crate::producer::Producer;
use crate::record::Record;
use crate::telemetry::{ComponentState, health};
use context::RuntimeContext;
pub(crate) use metrics::ConsumerMetrics;
use metrics::Counters;
use partitions::LoopState;
use shutdown::Shutdown;
use worker::Processing;

pub use crate::connection::DURABLE_CONSUMER;

/// The durable defaults and the group protocol `settings` resolved to: the new protocol
/// (KIP-848) assigns on the broker; the classic one assigns `cooperative-sticky` (incremental
/// rebalances, as the new protocol's).
pub(crate) fn consumer_defaults(settings: &Settings) -> Vec<(&'static str, &'static str)> {
    let protocol: &[(&str, &str)] = match settings.group_protocol {
        GroupProtocol::Consumer => &[("group.protocol", "consumer")],
        _ => &[
            ("group.protocol", "classic"),
            ("partition.assignment.strategy", "cooperative-sticky"),
        ],
    };
    DURABLE_CONSUMER.iter().chain(protocol).copied().collect()
}

/// Why the consumer stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// No topic is declared as consumed.
    #[error("no topic is declared as consumed; set KAFKA_CONSUMES or KAFKA_TOPIC")]
    NothingToConsume,
    /// The consumer could not be created or subscribed.
    #[error("cannot start the consumer")]
    Kafka(#[source] KafkaError),
    /// A fatal client error (fenced instance, poll interval exceeded, authentication).
    #[error("fatal consumer error")]
    Fatal(#[source] KafkaError),
    /// The poll thread ended abnormally.
    #[error("the consumer thread ended abnormally")]
    Crashed,
    /// Shutting down did not finish within the grace (or a second signal cut it short): the
    /// last commit or leaving the group waited on a cluster that did not answer. Records not
    /// committed are redelivered.
    #[error("the consumer did not close within its shutdown grace")]
    NotClosed,
    /// Park mode needs the retry topic of every consumed topic declared (and so ensured):
    /// `KAFKA_RETRY_MODE=park` declares them.
    #[error("retry topic `{0}` is not declared; set KAFKA_RETRY_MODE=park so that it is ensured")]
    RetryTopicNotDeclared(String),
}

/// The end of a run: dead-letter records written during it are acknowledged (within `grace`)
/// before `result` is returned.
async fn finish(
    result: Result<(), ConsumeError>,
    dlq: &Producer,
    grace: Duration,
) -> Result<(), ConsumeError> {
    if let Err(e) = dlq.flush(grace).await {
        tracing::error!(error = %e, "Dead-letter producer not flushed at shutdown.");
    }
    result
}

/// Builds and runs a consumer of the declared topics. From [`crate::Kafka::consumer`].
///
/// ```no_run
/// use std::time::Duration;
/// use kafkadeps::consumer::Scheduling;
/// use kafkadeps::{HandlerError, Kafka, Record};
///
/// # async fn consume(kafka: Kafka) -> Result<(), kafkadeps::ConsumeError> {
/// kafka
///     .consumer()
///     // Different keys of a partition in parallel (32 lanes), each key in order.
///     .scheduling(Scheduling::Key { lanes: 32 })
///     // Five attempts with backoff from 200 ms to 5 s, then the dead-letter topic.
///     .max_attempts(5)
///     .backoff(Duration::from_millis(200), Duration::from_secs(5))
///     .run(|record: Record| async move {
///         let amount: u64 = record.json()?; // not JSON: dead-lettered at once
///         if amount == 0 {
///             return Err(HandlerError::retryable("the ledger is busy"));
///         }
///         Ok(())
///     })
///     .await
/// # }
/// ```
#[must_use]
pub struct ConsumerBuilder {
    settings: Arc<Settings>,
    dlq: Producer,
    options: ConsumerOptions,
    topics: Vec<String>,
    shutdown: Shutdown,
    retry_mode: RetryMode,
}

impl std::fmt::Debug for ConsumerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerBuilder")
            .field("topics", &self.topics)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Counters of a consumer, for tests and observability.
#[derive(Debug, Clone)]
pub struct ConsumerStats(Arc<Counters>);

impl ConsumerStats {
    /// Rebalance callbacks seen.
    pub fn rebalances(&self) -> u64 {
        self.0.rebalances.load(AtomicOrdering::Relaxed)
    }
    /// Partitions assigned now.
    pub fn assigned_partitions(&self) -> u64 {
        self.0.assigned.load(AtomicOrdering::Relaxed)
    }
    /// Successful commits.
    pub fn commits_ok(&self) -> u64 {
        self.0.commits_ok.load(AtomicOrdering::Relaxed)
    }
}

impl ConsumerBuilder {
    pub(crate) fn new(settings: Arc<Settings>, dlq: Producer) -> Self {
        let topics = settings.consumed_topics().map(|t| t.name.clone()).collect();
        Self {
            dlq,
            options: ConsumerOptions::default(),
            topics,
            shutdown: Shutdown::default(),
            retry_mode: settings.retry_mode,
            settings,
        }
    }

    /// How records that fail retryably are retried: in place (the default, or
    /// `KAFKA_RETRY_MODE`), or by parking their key ([`park`]). Park mode needs the retry
    /// topics declared, which `KAFKA_RETRY_MODE=park` does.
    pub fn retry_mode(mut self, mode: RetryMode) -> Self {
        self.retry_mode = mode;
        self
    }
    /// Replaces all options.
    pub fn options(mut self, options: ConsumerOptions) -> Self {
        self.options = options;
        self
    }
    /// Scheduling within a partition.
    pub fn scheduling(mut self, scheduling: Scheduling) -> Self {
        self.options.scheduling = scheduling;
        self
    }
    /// Attempts for retryable failures before dead-lettering.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.options.max_attempts = attempts.max(1);
        self
    }
    /// First retry backoff (doubling up to the maximum).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.options.initial_backoff = initial;
        self.options.max_backoff = max.max(initial);
        self
    }
    /// How long shutdown waits for in-flight handlers.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.options.shutdown_grace = grace;
        self
    }
    /// Consumes only these declared topics (default: all declared as consumed).
    pub fn topics<I: IntoIterator<Item = S>, S: Into<String>>(mut self, topics: I) -> Self {
        self.topics = topics.into_iter().map(Into::into).collect();
        self
    }
    /// How often consumer lag is sampled for the lag metrics.
    pub fn lag_interval(mut self, interval: Duration) -> Self {
        self.options.lag_interval = interval;
        self
    }
    /// Shuts down when `signal` completes (in addition to SIGTERM/SIGINT unless disabled).
    pub fn shutdown_on(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.shutdown.on(signal);
        self
    }
    /// Does not install SIGTERM/SIGINT handlers (when the application handles signals).
    pub fn without_signal_handlers(mut self) -> Self {
        self.shutdown.ignore_signals();
        self
    }

    /// Runs `handler` for every record until shutdown. Returns `Ok` after a graceful shutdown,
    /// an error when the consumer cannot go on.
    pub async fn run<F, Fut>(self, handler: F) -> Result<(), ConsumeError>
    where
        F: Fn(Record) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let (stats, running) = self.start(handler)?;
        drop(stats);
        running.await
    }

    /// Like [`ConsumerBuilder::run`], but returns the consumer's counters at once, with the
    /// future that runs it.
    pub fn start<F, Fut>(
        self,
        handler: F,
    ) -> Result<
        (
            ConsumerStats,
            impl Future<Output = Result<(), ConsumeError>> + Send,
        ),
        ConsumeError,
    >
    where
        F: Fn(Record) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        if self.topics.is_empty() {
            return Err(ConsumeError::NothingToConsume);
        }
        if self.retry_mode != RetryMode::Park {
            let (stats, running) = self.launch(handler, None)?;
            return Ok((stats, futures::future::Either::Left(running)));
        }
        for topic in &self.topics {
            let retry = kafkadeps_core::naming::retry_topic(topic);
            if !self.settings.produced_topics().any(|t| t.name == retry) {
                return Err(ConsumeError::RetryTopicNotDeclared(retry));
            }
        }
        let handler = Arc::new(handler);
        let parked = Arc::new(park::Parked::default());
        let reader = Arc::new(park::RetryReader::start(
            &self.settings,
            Arc::clone(&parked),
            Arc::clone(&handler),
            self.dlq.clone(),
            self.options.clone(),
            tokio::runtime::Handle::current(),
        )?);
        let parking = park::Parking::new(handler, parked, self.dlq.clone(), self.options.clone());
        let listener: Arc<dyn park::PartitionListener> = reader.clone();
        let (stats, running) = self.launch(parking, Some(listener))?;
        Ok((
            stats,
            futures::future::Either::Right(async move {
                let result = running.await;
                reader.close();
                result
            }),
        ))
    }

    /// Starts the runtime with `handler` (the user's, or parking around it) and the partition
    /// `listener` of park mode.
    fn launch<H: worker::Handler>(
        self,
        handler: H,
        listener: Option<Arc<dyn park::PartitionListener>>,
    ) -> Result<
        (
            ConsumerStats,
            impl Future<Output = Result<(), ConsumeError>> + Send,
        ),
        ConsumeError,
    > {
        let shutting_down = Arc::new(AtomicBool::new(false));
        let processing = Arc::new(Processing {
            handler,
            dlq: self.dlq.clone(),
            group: self.settings.group_id.clone(),
            options: self.options.clone(),
            shutting_down: Arc::clone(&shutting_down),
        });
        let counters = Arc::new(Counters::default());
        static CONSUMERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = CONSUMERS.fetch_add(1, AtomicOrdering::Relaxed);
        let component = match n {
            0 => format!("consumer:{}", self.settings.group_id),
            n => format!("consumer:{}#{}", self.settings.group_id, n + 1),
        };
        health().set(
            &component,
            ComponentState::Starting("joining the consumer group".into()),
        );
        let context = RuntimeContext {
            state: Mutex::new(Some(LoopState::new(
                processing,
                tokio::runtime::Handle::current(),
            ))),
            counters: Arc::clone(&counters),
            backlog: backlog::Backlog::default(),
            component,
            stopping: AtomicBool::new(false),
            unreachable: AtomicBool::new(false),
            listener,
        };
        let mut config = client_config(
            &self.settings,
            Role::Consumer,
            &consumer_defaults(&self.settings),
        );
        config.set("group.id", &self.settings.group_id);
        if let Some(id) = &self.settings.group_instance_id {
            config.set("group.instance.id", id);
        }
        let consumer: Arc<BaseConsumer<RuntimeContext>> = Arc::new(
            config
                .create_with_context(context)
                .map_err(ConsumeError::Kafka)?,
        );
        let topics = self.topics;
        let dlq = self.dlq;
        let grace = self.options.shutdown_grace;
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let flag = Arc::clone(&shutting_down);
        let (lag_consumer, lag_flag) = (Arc::clone(&consumer), Arc::clone(&shutting_down));
        let (lag_interval, per_partition) =
            (self.options.lag_interval, self.settings.partition_lag);
        let lag = std::thread::Builder::new()
            .name("kafkadeps-lag".into())
            .spawn(move || {
                crate::telemetry::lag_sampler::sample_lag(
                    &lag_consumer,
                    lag_interval,
                    per_partition,
                    &lag_flag,
                )
            })
            .map_err(|_| ConsumeError::Crashed)?;
        std::thread::Builder::new()
            .name("kafkadeps-consumer".into())
            .spawn(move || {
                let result = poll_loop::run(&consumer, &topics, &flag);
                // The sampler holds the other reference; once it has stopped, dropping ours
                // closes the consumer here, leaving the group before `run` returns.
                let _ = lag.join();
                drop(consumer);
                let _ = done_tx.send(result);
            })
            .map_err(|_| ConsumeError::Crashed)?;
        let stop = self.shutdown;
        let signals = stop.handles_signals();
        let running = async move {
            tokio::pin!(done_rx);
            let started = tokio::select! {
                r = &mut done_rx => {
                    return finish(r.unwrap_or(Err(ConsumeError::Crashed)), &dlq, grace).await;
                }
                () = stop.requested() => tokio::time::Instant::now(),
            };
            tracing::info!("Shutting down the consumer.");
            shutting_down.store(true, AtomicOrdering::SeqCst);
            // The drain is bounded by the grace even when the cluster is gone (a commit or the
            // group's leave can wait on brokers that never answer); a second signal ends it at
            // once. The consumer's thread is then left behind: the process is about to exit.
            let second_signal = async {
                if signals {
                    terminated().await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            let result = tokio::select! {
                r = &mut done_rx => r.unwrap_or(Err(ConsumeError::Crashed)),
                // A little before the grace ends, so the process (started earlier, exiting
                // after) is gone within it.
                () = tokio::time::sleep_until(started + grace - exit_margin(grace)) => {
                    tracing::error!(
                        grace = ?grace,
                        "The consumer did not finish its drain within the grace (is the cluster reachable?): its uncommitted records are redelivered to the next owner."
                    );
                    Err(ConsumeError::NotClosed)
                }
                () = second_signal => {
                    tracing::warn!("A second SIGTERM/SIGINT: stopping without finishing the drain; uncommitted records are redelivered.");
                    Err(ConsumeError::NotClosed)
                }
            };
            // The dead-letter flush, too, ends inside the exit margin.
            let remaining = (started + grace - exit_margin(grace))
                .saturating_duration_since(tokio::time::Instant::now());
            finish(result, &dlq, remaining).await
        };
        Ok((ConsumerStats(counters), running))
    }
}

/// What `run` keeps of the grace for the process around it to exit in: a twentieth, at most
/// half a second.
fn exit_margin(grace: Duration) -> Duration {
    (grace / 20).min(Duration::from_millis(500))
}
