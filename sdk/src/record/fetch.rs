//! Copying fetched messages out of librdkafka: many records per allocation, topic names shared.

use std::sync::Arc;

use rdkafka::Message;
use rdkafka::message::{BorrowedHeaders, OwnedHeaders};

use super::consumed::{Fetched, Record};

/// Keys and payloads one shared buffer holds before the next record starts another. This bounds
/// what one record kept by a handler keeps alive (its buffer), at little cost per record: a poll
/// batch of small records shares one allocation per partition.
const BATCH_BYTES: usize = 256 * 1024;

/// Collects fetched messages into [`Record`]s, copying them into shared buffers of up to
/// [`BATCH_BYTES`] (or one larger record) each, whoever polls and however many records.
///
/// Each buffer holds the records of one topic-partition: the records of a buffer then go to one
/// partition worker, and its reference count is not shared (and bounced between cores) by the
/// workers of every partition in the poll.
#[derive(Default)]
pub(crate) struct FetchBuffer {
    /// Topic names shared by every buffer (one allocation per topic), with a fast hasher (topic
    /// names are not attacker-chosen).
    names: rustc_hash::FxHashMap<Box<str>, Arc<str>>,
    /// The buffers being filled, one per topic-partition met since the last `take`.
    open: Vec<Open>,
    /// The open buffer the last message went to (messages come in runs of one partition).
    current: usize,
    /// Records of open buffers.
    pending: usize,
    /// Records of filled buffers, not taken yet (in order within each partition).
    sealed: Vec<Record>,
    /// Entries and bytes of the last sealed buffer, to allocate the next one at once.
    last: (usize, usize),
    /// The one topic every message has, when the consumer subscribes to one: its name is then
    /// not read (and compared) per message.
    only: Option<Arc<str>>,
}

/// The buffer being filled for one topic-partition.
struct Open {
    topic: Arc<str>,
    partition: i32,
    batch: Fetched,
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

    /// Copies `message` (a `BorrowedMessage` fresh from librdkafka) into its partition's buffer.
    pub(crate) fn push<M>(&mut self, message: &M)
    where
        M: Message,
        M::Headers: Detach,
    {
        let (key, payload) = (message.key(), message.payload());
        let len = key.map_or(0, <[u8]>::len) + payload.map_or(0, <[u8]>::len);
        let open = self.open_for(message);
        // A record that would take the buffer past its limit starts the next one.
        if !self.open[open].batch.entries.is_empty()
            && self.open[open].batch.bytes.len() + len > BATCH_BYTES
        {
            self.seal(open);
        }
        let last = self.last;
        let batch = &mut self.open[open].batch;
        if batch.entries.is_empty() {
            batch.entries.reserve(last.0);
            batch.bytes.reserve_exact(last.1.max(len));
        }
        let need = batch.bytes.len() + len;
        if need > batch.bytes.capacity() {
            // Doubling, but never past the limit: a full buffer is never copied into a twice
            // larger one only to be sealed right after.
            let target = (batch.bytes.capacity() * 2).clamp(need, BATCH_BYTES.max(need));
            batch.bytes.reserve_exact(target - batch.bytes.len());
        }
        batch.push(
            0,
            (message.partition(), message.offset(), message.timestamp()),
            key,
            payload,
            message.headers().map(Detach::detach),
        );
        self.pending += 1;
    }

    /// Records pushed and not taken.
    pub(crate) fn len(&self) -> usize {
        self.sealed.len() + self.pending
    }

    /// Whether no record waits to be taken.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records pushed since the last call, in order within each partition.
    pub(crate) fn take(&mut self) -> Vec<Record> {
        for open in 0..self.open.len() {
            self.seal(open);
        }
        self.open.clear();
        self.current = 0;
        std::mem::take(&mut self.sealed)
    }

    /// The index of the open buffer for `message`'s topic-partition, opened when new.
    fn open_for<M: Message>(&mut self, message: &M) -> usize {
        let partition = message.partition();
        let topic = match &self.only {
            Some(only) => {
                debug_assert_eq!(message.topic(), &**only, "a message of another topic");
                None
            }
            None => Some(message.topic()),
        };
        let matches = |o: &Open| o.partition == partition && topic.is_none_or(|t| *o.topic == *t);
        if self.open.get(self.current).is_some_and(matches) {
            return self.current;
        }
        self.current = match self.open.iter().position(matches) {
            Some(i) => i,
            None => {
                let topic = match &self.only {
                    Some(only) => Arc::clone(only),
                    None => self.name(message.topic()),
                };
                let mut batch = Fetched::default();
                batch.topics.push(Arc::clone(&topic));
                self.open.push(Open {
                    topic,
                    partition,
                    batch,
                });
                self.open.len() - 1
            }
        };
        self.current
    }

    /// Closes one open buffer; its records join the sealed ones, and the buffer starts empty.
    fn seal(&mut self, open: usize) {
        let open = &mut self.open[open];
        if open.batch.entries.is_empty() {
            return;
        }
        self.last = (
            open.batch.entries.len(),
            open.batch.bytes.len().min(BATCH_BYTES),
        );
        let mut next = Fetched::default();
        next.topics.push(Arc::clone(&open.topic));
        let records = std::mem::replace(&mut open.batch, next).into_records();
        self.pending -= records.len();
        if self.sealed.is_empty() {
            self.sealed = records;
        } else {
            self.sealed.extend(records);
        }
    }

    /// The shared name of `topic`.
    fn name(&mut self, topic: &str) -> Arc<str> {
        match self.names.get(topic) {
            Some(name) => Arc::clone(name),
            None => {
                let name: Arc<str> = Arc::from(topic);
                self.names.insert(topic.into(), Arc::clone(&name));
                name
            }
        }
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
        message_of("orders", 3, offset, payload)
    }

    fn message_of(topic: &str, partition: i32, offset: i64, payload: &[u8]) -> OwnedMessage {
        OwnedMessage::new(
            Some(payload.to_vec()),
            Some(format!("k{offset}").into_bytes()),
            topic.into(),
            Timestamp::CreateTime(offset),
            partition,
            offset,
            None,
        )
    }

    #[test]
    fn each_buffer_holds_one_partition_and_each_partition_keeps_its_order() {
        let mut fetch = FetchBuffer::default();
        let parts = [("orders", 0), ("orders", 1), ("payments", 0)];
        for offset in 0..300 {
            for (i, (topic, partition)) in parts.iter().enumerate() {
                // Runs of a few records per partition, as fetch responses deliver them.
                if (offset / 7) % 3 == i as i64 || offset % 5 == 0 {
                    fetch.push(&message_of(topic, *partition, offset, b"v"));
                }
            }
        }
        let pushed = fetch.len();
        let records = fetch.take();
        assert_eq!(records.len(), pushed);
        assert!(fetch.is_empty());
        for (topic, partition) in parts {
            let offsets: Vec<i64> = records
                .iter()
                .filter(|r| r.topic() == topic && r.partition() == partition)
                .map(Record::offset)
                .collect();
            assert!(!offsets.is_empty());
            assert!(
                offsets.windows(2).all(|w| w[0] < w[1]),
                "{topic}/{partition}"
            );
        }
        for r in &records {
            let shared = r.fetched();
            let first = &shared.entries[0];
            assert!(
                shared
                    .entries
                    .iter()
                    .all(|e| e.partition == first.partition && e.topic == first.topic),
                "one partition per buffer"
            );
            assert_eq!(&*shared.topics[0], r.topic());
        }
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
