//! Copying fetched messages out of librdkafka: many records per allocation, topic names shared.

use std::sync::Arc;

use rdkafka::Message;
use rdkafka::message::{BorrowedHeaders, OwnedHeaders};

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

    /// Copies `message` (a `BorrowedMessage` fresh from librdkafka) into the batch.
    pub(crate) fn push<M>(&mut self, message: &M)
    where
        M: Message,
        M::Headers: Detach,
    {
        let (key, payload) = (message.key(), message.payload());
        let len = key.map_or(0, <[u8]>::len) + payload.map_or(0, <[u8]>::len);
        // A record that would take the buffer past its limit starts the next one.
        if !self.batch.entries.is_empty() && self.batch.bytes.len() + len > BATCH_BYTES {
            self.seal();
        }
        if self.batch.entries.is_empty() {
            self.batch.entries.reserve(self.last.0);
            self.batch.bytes.reserve_exact(self.last.1.max(len));
        }
        let need = self.batch.bytes.len() + len;
        if need > self.batch.bytes.capacity() {
            // Doubling, but never past the limit: a full buffer is never copied into a twice
            // larger one only to be sealed right after.
            let target = (self.batch.bytes.capacity() * 2).clamp(need, BATCH_BYTES.max(need));
            self.batch
                .bytes
                .reserve_exact(target - self.batch.bytes.len());
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
            key,
            payload,
            message.headers().map(Detach::detach),
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
            self.batch.bytes.capacity().min(BATCH_BYTES),
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

/// Headers as an owned copy.
pub(crate) trait Detach {
    fn detach(&self) -> OwnedHeaders;
}

impl Detach for BorrowedHeaders {
    fn detach(&self) -> OwnedHeaders {
        BorrowedHeaders::detach(self)
    }
}

impl Detach for OwnedHeaders {
    fn detach(&self) -> OwnedHeaders {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;
    use rdkafka::message::OwnedMessage;

    fn message(offset: i64, payload: &[u8]) -> OwnedMessage {
        OwnedMessage::new(
            Some(payload.to_vec()),
            Some(format!("k{offset}").into_bytes()),
            "orders".into(),
            Timestamp::CreateTime(offset),
            3,
            offset,
            None,
        )
    }

    /// Every distinct shared buffer among `records`, with its capacity.
    fn buffers(records: &[Record]) -> Vec<usize> {
        let mut seen: Vec<*const Fetched> = Vec::new();
        let mut capacities = Vec::new();
        for r in records {
            let p = Arc::as_ptr(r.fetched());
            if !seen.contains(&p) {
                seen.push(p);
                capacities.push(r.fetched().bytes.capacity());
            }
        }
        capacities
    }

    #[test]
    fn records_come_back_whole_and_in_order_from_buffers_within_the_limit() {
        let mut fetch = FetchBuffer::for_subscription(&["orders".to_owned()]);
        let payload = vec![7u8; 1024];
        for round in 0..3 {
            for offset in 0..1000 {
                fetch.push(&message(round * 1000 + offset, &payload));
            }
            let records = fetch.take();
            assert_eq!(records.len(), 1000);
            for (i, r) in records.iter().enumerate() {
                let offset = round * 1000 + i as i64;
                assert_eq!(r.offset(), offset);
                assert_eq!(r.topic(), "orders");
                assert_eq!(r.partition(), 3);
                assert_eq!(r.key(), Some(format!("k{offset}").as_bytes()));
                assert_eq!(r.payload(), Some(&payload[..]));
            }
            let capacities = buffers(&records);
            // ~1 MiB of records: at least four buffers, none grown past the limit.
            assert!(capacities.len() >= 4, "{capacities:?}");
            assert!(
                capacities.iter().all(|c| *c <= BATCH_BYTES),
                "{capacities:?}"
            );
        }
    }

    #[test]
    fn a_record_larger_than_the_limit_gets_a_buffer_of_its_own() {
        let mut fetch = FetchBuffer::default();
        let big = vec![1u8; BATCH_BYTES + 10];
        fetch.push(&message(0, b"small"));
        fetch.push(&message(1, &big));
        fetch.push(&message(2, b"small again"));
        let records = fetch.take();
        assert_eq!(records[1].payload(), Some(&big[..]));
        assert_eq!(records[2].payload(), Some(&b"small again"[..]));
        let capacities = buffers(&records);
        assert_eq!(capacities.len(), 3, "{capacities:?}");
        assert_eq!(capacities[1], BATCH_BYTES + 10 + 2);
    }
}
