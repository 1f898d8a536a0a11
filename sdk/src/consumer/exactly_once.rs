//! Exactly-once consume-transform-produce, a consumer runtime of its own: records are read
//! `read_committed`, transformed, the outputs written and the input offsets committed in one
//! Kafka transaction. A crash or failure aborts the transaction and the inputs are processed
//! again; a `read_committed` reader of the outputs sees each input's outputs exactly once.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::dead_letter::dead_letter;
use super::shutdown::Shutdown;
use super::{ConsumeError, ConsumerOptions, FailureKind, HandlerError, consumer_defaults};
use crate::config::Settings;
use crate::connection::{Role, client_config};
use crate::producer::outgoing::headers;
use crate::producer::producer_defaults;
use crate::record::{FetchBuffer, OutgoingRecord, Record};

/// What a transform returns for one input: the records to write.
pub type Transform = Vec<OutgoingRecord>;

const TXN_TIMEOUT: Duration = Duration::from_secs(30);

/// A transactional producer bound to the service's consumer group; see [`crate::Kafka::transactional`].
#[must_use]
pub struct TransactionalProducer {
    settings: Arc<Settings>,
    options: ConsumerOptions,
    max_batch: usize,
    shutdown: Shutdown,
}

impl std::fmt::Debug for TransactionalProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionalProducer")
            .field("transactional_id", &self.transactional_id())
            .finish_non_exhaustive()
    }
}

impl TransactionalProducer {
    pub(crate) fn new(settings: Arc<Settings>) -> Self {
        Self {
            settings,
            options: ConsumerOptions::default(),
            max_batch: 500,
            shutdown: Shutdown::default(),
        }
    }

    /// `transactional.id`: `<app>-<instance>`, the instance being `KAFKA_GROUP_INSTANCE_ID` or
    /// the client id (the pod name). Zombies are fenced through the consumer group generation
    /// (KIP-447), so the id need not survive restarts.
    pub fn transactional_id(&self) -> String {
        let instance = self
            .settings
            .group_instance_id
            .as_deref()
            .unwrap_or(&self.settings.client_id);
        format!("{}-{instance}", self.settings.app)
    }
    /// Inputs per transaction at most.
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }
    /// Attempts for retryable transform failures before the input is dead-lettered.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.options.max_attempts = attempts.max(1);
        self
    }
    /// Shuts down when `signal` completes.
    pub fn shutdown_on(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.shutdown.on(signal);
        self
    }
    /// Does not install SIGTERM/SIGINT handlers.
    pub fn without_signal_handlers(mut self) -> Self {
        self.shutdown.ignore_signals();
        self
    }

    /// Consumes the declared topics, writing `transform`'s outputs and the input offsets in one
    /// transaction per batch, until shutdown.
    pub async fn run<F, Fut>(self, transform: F) -> Result<(), ConsumeError>
    where
        F: Fn(Record) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Transform, HandlerError>> + Send + 'static,
    {
        let topics: Vec<String> = self
            .settings
            .consumed_topics()
            .map(|t| t.name.clone())
            .collect();
        if topics.is_empty() {
            return Err(ConsumeError::NothingToConsume);
        }
        let mut cconf = client_config(
            &self.settings,
            Role::Consumer,
            &consumer_defaults(&self.settings),
        );
        cconf.set("group.id", &self.settings.group_id);
        if let Some(id) = &self.settings.group_instance_id {
            cconf.set("group.instance.id", id);
        }
        let consumer: BaseConsumer = cconf.create().map_err(ConsumeError::Kafka)?;
        let mut pconf = client_config(
            &self.settings,
            Role::Producer,
            &producer_defaults(&self.settings),
        );
        pconf
            .set("transactional.id", self.transactional_id())
            .set("transaction.timeout.ms", "60000")
            .set("delivery.timeout.ms", "60000");
        let producer: ThreadedProducer<DefaultProducerContext> =
            pconf.create().map_err(ConsumeError::Kafka)?;

        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let runtime = tokio::runtime::Handle::current();
        let job = Job {
            consumer,
            producer,
            runtime,
            transform: Box::new(move |r| Box::pin(transform(r))),
            group: self.settings.group_id.clone(),
            options: self.options,
            max_batch: self.max_batch,
        };
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("kafkadeps-transactions".into())
            .spawn(move || {
                let _ = done_tx.send(job.run(&topics, &flag));
            })
            .map_err(|_| ConsumeError::Crashed)?;
        let stop_requested = self.shutdown.requested();
        tokio::pin!(done_rx);
        tokio::select! {
            r = &mut done_rx => r.unwrap_or(Err(ConsumeError::Crashed)),
            () = stop_requested => {
                stop.store(true, AtomicOrdering::SeqCst);
                done_rx.await.unwrap_or(Err(ConsumeError::Crashed))
            }
        }
    }
}

type BoxedTransform = Box<
    dyn Fn(
            Record,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<Transform, HandlerError>> + Send>>
        + Send
        + Sync,
>;

struct Job {
    consumer: BaseConsumer,
    producer: ThreadedProducer<DefaultProducerContext>,
    runtime: tokio::runtime::Handle,
    transform: BoxedTransform,
    group: String,
    options: ConsumerOptions,
    max_batch: usize,
}

/// How a batch ended.
enum BatchEnd {
    Committed,
    /// Aborted; wait this long before the inputs are read again.
    Retry(Duration),
}

impl Job {
    fn run(self, topics: &[String], stop: &AtomicBool) -> Result<(), ConsumeError> {
        self.producer
            .init_transactions(TXN_TIMEOUT)
            .map_err(ConsumeError::Fatal)?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&names)
            .map_err(ConsumeError::Kafka)?;
        let mut attempts: HashMap<(String, i32, i64), u32> = HashMap::new();
        while !stop.load(AtomicOrdering::SeqCst) {
            let batch = self.poll_batch()?;
            if batch.is_empty() {
                continue;
            }
            match self.transact(&batch, &mut attempts) {
                Ok(BatchEnd::Committed) => {}
                Ok(BatchEnd::Retry(delay)) => {
                    self.rewind(&batch);
                    std::thread::sleep(delay);
                }
                Err(e) => {
                    let fatal = e.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal)
                        || self.producer.client().fatal_error().is_some();
                    tracing::warn!(error = %e, fatal, "Transaction failed; aborting.");
                    if fatal {
                        return Err(ConsumeError::Fatal(e));
                    }
                    if let Err(e) = self.producer.abort_transaction(TXN_TIMEOUT) {
                        return Err(ConsumeError::Fatal(e));
                    }
                    self.rewind(&batch);
                }
            }
        }
        self.consumer.unsubscribe();
        Ok(())
    }

    fn poll_batch(&self) -> Result<Vec<Record>, ConsumeError> {
        let mut fetched = FetchBuffer::default();
        let deadline = Instant::now() + Duration::from_millis(100);
        while fetched.len() < self.max_batch {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.consumer.poll(if fetched.is_empty() {
                wait.max(Duration::from_millis(10))
            } else {
                Duration::ZERO
            }) {
                None => break,
                Some(Ok(m)) => fetched.push(&m),
                Some(Err(e)) if self.consumer.client().fatal_error().is_some() => {
                    return Err(ConsumeError::Fatal(e));
                }
                Some(Err(e)) => tracing::warn!(error = %e, "Consumer error."),
            }
        }
        Ok(fetched.take())
    }

    fn send(&self, record: &OutgoingRecord) -> Result<(), KafkaError> {
        loop {
            let mut base = BaseRecord::<[u8], [u8]>::to(&record.topic);
            if let Some(k) = &record.key {
                base = base.key(k.as_slice());
            }
            if let Some(p) = &record.payload {
                base = base.payload(p.as_slice());
            }
            if let Some(h) = headers(record, &[]) {
                base = base.headers(h);
            }
            match self.producer.send(base) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // The producer's own thread is delivering; give it a moment.
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    fn transact(
        &self,
        batch: &[Record],
        attempts: &mut HashMap<(String, i32, i64), u32>,
    ) -> Result<BatchEnd, KafkaError> {
        self.producer.begin_transaction()?;
        let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for record in batch {
            let outcome = self.runtime.block_on((self.transform)(record.clone()));
            match outcome {
                Ok(outputs) => {
                    for out in &outputs {
                        self.send(out)?;
                    }
                }
                Err(e) => {
                    let key = (
                        record.topic().to_owned(),
                        record.partition(),
                        record.offset(),
                    );
                    let n = attempts.entry(key.clone()).or_insert(0);
                    *n += 1;
                    if e.kind() == FailureKind::Retryable && *n < self.options.max_attempts {
                        tracing::warn!(topic = record.topic(), partition = record.partition(), offset = record.offset(),
                            attempt = *n, error = %e.chain(), "Transform failed; retrying the batch.");
                        self.producer.abort_transaction(TXN_TIMEOUT)?;
                        return Ok(BatchEnd::Retry(self.options.backoff(*n)));
                    }
                    tracing::error!(topic = record.topic(), partition = record.partition(), offset = record.offset(),
                        kind = e.kind_name(), error = %e.chain(), "Sending record to the dead-letter topic.");
                    attempts.remove(&key);
                    self.send(&dead_letter(record, &self.group, &e))?;
                }
            }
            next.insert(
                (record.topic().to_owned(), record.partition()),
                record.offset() + 1,
            );
        }
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), offset) in &next {
            offsets.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
        }
        let metadata = self.consumer.group_metadata().ok_or(KafkaError::Canceled)?;
        self.producer
            .send_offsets_to_transaction(&offsets, &metadata, TXN_TIMEOUT)?;
        self.producer.commit_transaction(TXN_TIMEOUT)?;
        for record in batch {
            attempts.remove(&(
                record.topic().to_owned(),
                record.partition(),
                record.offset(),
            ));
        }
        Ok(BatchEnd::Committed)
    }

    /// Seeks every partition of an aborted batch back to its first record.
    fn rewind(&self, batch: &[Record]) {
        let mut first: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for r in batch {
            first
                .entry((r.topic(), r.partition()))
                .or_insert(r.offset());
        }
        for ((topic, partition), offset) in first {
            if let Err(e) = self.consumer.seek(
                topic,
                partition,
                Offset::Offset(offset),
                Duration::from_secs(10),
            ) {
                tracing::warn!(topic, partition, error = %e, "Cannot rewind; the partition was probably revoked.");
            }
        }
    }
}
