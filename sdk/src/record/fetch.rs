//! Copying fetched messages out of librdkafka: many records per allocation, topic names shared.

use std::sync::Arc;

use rdkafka::Message;
use rdkafka::message::{BorrowedHeaders, BorrowedMessage};

use super::consumed::{Fetched, Record};

/// Keys and payloads one shared buffer holds before the next record starts another. This bounds
/// what one record kept by a handler keeps alive (its buffer), at little cost per record: a poll
/// batch of small records shares one allocation.
const BATCH_BYTES: usize = 256 * 1024;

/// Collects fetched messages into [`Record`]s, copying them into shared buffers of up to
/// [`BATCH_BYTES`] (or one larger record) each, whoever polls and however many records.
#[derive(Default)]
pub(crate) struct FetchBuffer {
    /// Topic names shared by every batch (one allocation per topic). Looked up once per
    /// batch and topic, with a fast hasher (topic names are not attacker-chosen).
    names: rustc_hash::FxHashMap<Box<str>, Arc<str>>,
    /// The buffer being filled.
    batch: Fetched,
    /// Records of filled buffers, not taken yet.
    sealed: Vec<Record>,
    /// Sizes of the last buffer, to allocate the next one at once.
    last: (usize, usize),
    /// The one topic every message has, when the consumer subscribes to one: its name is then
    /// not read (and compared) per message.
    only: Option<Arc<str>>,
}

impl FetchBuffer {
    /// A buffer for the messages of a consumer subscribed to `topics` (literal names, never
    /// patterns).
    pub(crate) fn for_subscription(topics: &[String]) -> Self {
        Self {
            only: match topics {
                [one] => Some(Arc::from(one.as_str())),
                _ => None,
            },
            ..Self::default()
        }
    }

    /// Copies `message` into the batch.
    pub(crate) fn push(&mut self, message: &BorrowedMessage<'_>) {
        if self.batch.bytes.len() >= BATCH_BYTES {
            self.seal();
        }
        if self.batch.entries.is_empty() {
            self.batch.entries.reserve(self.last.0);
            self.batch.bytes.reserve(self.last.1);
        }
        let topic = match &self.only {
            Some(only) => {
                debug_assert_eq!(message.topic(), &**only, "a message of another topic");
                if self.batch.topics.is_empty() {
                    self.batch.topics.push(Arc::clone(only));
                }
                0
            }
            None => self.topic_index(message.topic()),
        };
        self.batch.push(
            topic,
            (message.partition(), message.offset(), message.timestamp()),
            message.key(),
            message.payload(),
            message.headers().map(BorrowedHeaders::detach),
        );
    }

    /// Records pushed and not taken.
    pub(crate) fn len(&self) -> usize {
        self.sealed.len() + self.batch.entries.len()
    }

    /// Whether no record waits to be taken.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records pushed since the last call, in order.
    pub(crate) fn take(&mut self) -> Vec<Record> {
        self.seal();
        std::mem::take(&mut self.sealed)
    }

    /// Closes the buffer being filled; its records join the sealed ones.
    fn seal(&mut self) {
        if self.batch.entries.is_empty() {
            return;
        }
        self.last = (
            self.batch.entries.len(),
            self.batch.bytes.len().min(BATCH_BYTES),
        );
        let records = std::mem::take(&mut self.batch).into_records();
        if self.sealed.is_empty() {
            self.sealed = records;
        } else {
            self.sealed.extend(records);
        }
    }

    /// The index of `topic` in the batch's topic list, adding it when new.
    fn topic_index(&mut self, topic: &str) -> usize {
        if let Some(i) = self.batch.topics.iter().rposition(|t| &**t == topic) {
            return i;
        }
        let name = match self.names.get(topic) {
            Some(name) => Arc::clone(name),
            None => {
                let name: Arc<str> = Arc::from(topic);
                self.names.insert(topic.into(), Arc::clone(&name));
                name
            }
        };
        self.batch.topics.push(name);
        self.batch.topics.len() - 1
    }
}
