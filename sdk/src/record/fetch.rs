//! Copying fetched messages out of librdkafka: many records per allocation, topic names shared.

use std::sync::Arc;

use rdkafka::Message;
use rdkafka::message::{BorrowedHeaders, BorrowedMessage};

use super::consumed::{Fetched, Record};

/// Keys and payloads a batch holds before it should be handed on. This bounds what one record
/// kept by a handler keeps alive (its batch), at little cost per record: a poll batch of small
/// records shares one allocation.
pub(crate) const BATCH_BYTES: usize = 256 * 1024;

/// Collects fetched messages into a batch of [`Record`]s.
#[derive(Default)]
pub(crate) struct FetchBuffer {
    /// Topic names shared by every batch (one allocation per topic). Looked up once per
    /// batch and topic, with a fast hasher (topic names are not attacker-chosen).
    names: rustc_hash::FxHashMap<Box<str>, Arc<str>>,
    batch: Fetched,
    /// Sizes of the last batch, to allocate the next one at once.
    last: (usize, usize),
}

impl FetchBuffer {
    /// Copies `message` into the batch.
    pub(crate) fn push(&mut self, message: &BorrowedMessage<'_>) {
        if self.batch.entries.is_empty() {
            self.batch.entries.reserve(self.last.0);
            self.batch.bytes.reserve(self.last.1);
        }
        let topic = self.topic_index(message.topic());
        self.batch.push(
            topic,
            (message.partition(), message.offset(), message.timestamp()),
            message.key(),
            message.payload(),
            message.headers().map(BorrowedHeaders::detach),
        );
    }

    /// Records in the batch.
    pub(crate) fn len(&self) -> usize {
        self.batch.entries.len()
    }

    /// Whether the batch is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.batch.entries.is_empty()
    }

    /// Whether the batch holds [`BATCH_BYTES`] or more and should be handed on.
    pub(crate) fn is_full(&self) -> bool {
        self.batch.bytes.len() >= BATCH_BYTES
    }

    /// The batch's records, in the order they were pushed; the buffer starts a new batch.
    pub(crate) fn take(&mut self) -> Vec<Record> {
        if self.is_empty() {
            return Vec::new();
        }
        self.last = (
            self.batch.entries.len(),
            self.batch.bytes.len().min(BATCH_BYTES),
        );
        std::mem::take(&mut self.batch).into_records()
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
