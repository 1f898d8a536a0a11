//! The consumed record: a handle on one entry of a [`Fetched`] batch.

use std::fmt;
use std::sync::Arc;

use rdkafka::Timestamp;
use rdkafka::message::{Headers, OwnedHeaders};
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecError};

/// A record's timestamp (milliseconds since the Unix epoch) and who set it: the topic's
/// `message.timestamp.type` decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordTimestamp {
    /// Set by the producer (`CreateTime`, Kafka's default).
    Created(i64),
    /// Set by the broker when it appended the record (`LogAppendTime`).
    Appended(i64),
}

impl RecordTimestamp {
    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        match self {
            Self::Created(ms) | Self::Appended(ms) => ms,
        }
    }

    /// As a [`std::time::SystemTime`] (`None` before the epoch).
    pub fn time(self) -> Option<std::time::SystemTime> {
        let ms = u64::try_from(self.millis()).ok()?;
        std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_millis(ms))
    }
}

/// A consumed record, owned and cheap to clone (cloning shares it).
///
/// Records of one partition fetched together are copied out of librdkafka into one shared
/// buffer (at most 256 KiB, or a single larger record), so a record kept after its handler
/// returned keeps that buffer alive. To keep a record for long, keep copies of the parts you need
/// (`record.payload().map(<[u8]>::to_vec)`).
///
/// ```no_run
/// # fn handle(record: kafkadeps::Record) -> Result<(), kafkadeps::HandlerError> {
/// #[derive(serde::Deserialize)]
/// struct Payment { order_id: String, cents: i64 }
///
/// let payment: Payment = record.json()?; // not JSON: a poison record, dead-lettered at once
/// let source = record.header("source").map(String::from_utf8_lossy);
/// println!(
///     "{} paid {} (key {:?}, {}/{}@{}, from {source:?})",
///     payment.order_id,
///     payment.cents,
///     record.key_str(),
///     record.topic(),
///     record.partition(),
///     record.offset(),
/// );
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Record {
    batch: Arc<Fetched>,
    index: usize,
}

/// Records copied out of librdkafka together: their keys and payloads back to back in one
/// buffer, and where each record's parts are.
#[derive(Default)]
pub(super) struct Fetched {
    /// Topic names of the batch (records refer to them by index; usually one).
    pub(super) topics: Vec<Arc<str>>,
    /// Keys and payloads of all records, back to back.
    pub(super) bytes: Vec<u8>,
    pub(super) entries: Vec<Entry>,
}

/// One record of a [`Fetched`] batch.
pub(super) struct Entry {
    pub(super) topic: usize,
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) timestamp: Timestamp,
    /// Where the key starts in the batch's bytes; the payload follows it.
    pub(super) start: usize,
    /// Key length; `None` without a key.
    pub(super) key_len: Option<usize>,
    /// Payload length; `None` for a tombstone.
    pub(super) payload_len: Option<usize>,
    pub(super) headers: Option<OwnedHeaders>,
}

impl Fetched {
    /// Appends a record; returns its index.
    pub(super) fn push(
        &mut self,
        topic: usize,
        (partition, offset, timestamp): (i32, i64, Timestamp),
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
    ) -> usize {
        let start = self.bytes.len();
        if let Some(k) = key {
            self.bytes.extend_from_slice(k);
        }
        if let Some(p) = payload {
            self.bytes.extend_from_slice(p);
        }
        self.entries.push(Entry {
            topic,
            partition,
            offset,
            timestamp,
            start,
            key_len: key.map(<[u8]>::len),
            payload_len: payload.map(<[u8]>::len),
            headers,
        });
        self.entries.len() - 1
    }

    /// Handles on all records of the batch, in order.
    pub(super) fn into_records(self) -> Vec<Record> {
        let n = self.entries.len();
        let batch = Arc::new(self);
        (0..n)
            .map(|index| Record {
                batch: Arc::clone(&batch),
                index,
            })
            .collect()
    }
}

impl Record {
    fn entry(&self) -> &Entry {
        &self.batch.entries[self.index]
    }

    /// The shared buffer this record lives in.
    #[cfg(test)]
    pub(super) fn fetched(&self) -> &Arc<Fetched> {
        &self.batch
    }

    /// A record built in memory, e.g. to unit-test a handler without a broker.
    pub fn from_parts(
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) -> Self {
        let mut h = OwnedHeaders::new_with_capacity(headers.len());
        for (k, v) in headers {
            h = h.insert(rdkafka::message::Header {
                key: k,
                value: Some(*v),
            });
        }
        let mut batch = Fetched {
            topics: vec![Arc::from(topic)],
            ..Fetched::default()
        };
        let index = batch.push(
            0,
            (partition, offset, Timestamp::now()),
            key,
            payload,
            (!headers.is_empty()).then_some(h),
        );
        Self {
            batch: Arc::new(batch),
            index,
        }
    }

    /// The shared topic name (for maps keyed by partition).
    pub(crate) fn topic_arc(&self) -> &Arc<str> {
        &self.batch.topics[self.entry().topic]
    }

    /// The timestamp with its type, as librdkafka reports it.
    pub(crate) fn raw_timestamp(&self) -> Timestamp {
        self.entry().timestamp
    }

    /// An rdkafka message with the same contents (for bindings that read rdkafka messages).
    #[cfg(feature = "cloudevents")]
    pub(crate) fn to_message(&self) -> rdkafka::message::OwnedMessage {
        let e = self.entry();
        rdkafka::message::OwnedMessage::new(
            self.payload().map(<[u8]>::to_vec),
            self.key().map(<[u8]>::to_vec),
            self.topic().to_owned(),
            e.timestamp,
            e.partition,
            e.offset,
            e.headers.clone(),
        )
    }

    /// Topic the record was read from.
    pub fn topic(&self) -> &str {
        self.topic_arc()
    }
    /// Partition.
    pub fn partition(&self) -> i32 {
        self.entry().partition
    }
    /// Offset within the partition.
    pub fn offset(&self) -> i64 {
        self.entry().offset
    }
    /// Key bytes, if any.
    pub fn key(&self) -> Option<&[u8]> {
        let e = self.entry();
        e.key_len.map(|n| &self.batch.bytes[e.start..e.start + n])
    }
    /// Key as UTF-8 text, if it is.
    pub fn key_str(&self) -> Option<&str> {
        self.key().and_then(|k| std::str::from_utf8(k).ok())
    }
    /// Payload bytes, if any (`None` for a tombstone).
    pub fn payload(&self) -> Option<&[u8]> {
        let e = self.entry();
        let start = e.start + e.key_len.unwrap_or(0);
        e.payload_len.map(|n| &self.batch.bytes[start..start + n])
    }
    /// When the record was stamped, and by whom (its producer or the broker), if it was.
    pub fn timestamp(&self) -> Option<RecordTimestamp> {
        match self.entry().timestamp {
            Timestamp::CreateTime(ms) => Some(RecordTimestamp::Created(ms)),
            Timestamp::LogAppendTime(ms) => Some(RecordTimestamp::Appended(ms)),
            Timestamp::NotAvailable => None,
        }
    }
    /// Milliseconds since the epoch, when the record has a timestamp.
    pub fn timestamp_millis(&self) -> Option<i64> {
        self.entry().timestamp.to_millis()
    }
    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.entry()
            .headers
            .as_ref()?
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
    }
    /// All headers in order, as `(name, value)`.
    pub fn headers(&self) -> Vec<(&str, Option<&[u8]>)> {
        self.entry()
            .headers
            .as_ref()
            .map(|hs| hs.iter().map(|h| (h.key, h.value)).collect())
            .unwrap_or_default()
    }
    /// Decodes the payload as JSON. A failure is a poison record: returned from a handler with
    /// `?`, the record goes to the dead-letter topic at once.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, CodecError> {
        crate::codec::from_json(self.payload().ok_or(CodecError::MissingPayload)?)
    }
    /// Decodes the payload with `codec`.
    pub fn decode<T, C: Codec<T>>(&self, codec: &C) -> Result<T, CodecError> {
        codec.decode(self.payload().ok_or(CodecError::MissingPayload)?)
    }
    /// Decodes the CloudEvent the record carries (binary or structured mode, detected per
    /// record). A failure is a poison record.
    #[cfg(feature = "cloudevents")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cloudevents")))]
    pub fn cloud_event(&self) -> Result<::cloudevents::Event, CodecError> {
        crate::codec::cloudevents::from_record(self)
    }

    /// Whether the record carries a CloudEvent.
    #[cfg(feature = "cloudevents")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cloudevents")))]
    pub fn is_cloud_event(&self) -> bool {
        crate::codec::cloudevents::is_cloud_event(self)
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("topic", &self.topic())
            .field("partition", &self.partition())
            .field("offset", &self.offset())
            .field("timestamp", &self.timestamp())
            .field("key", &self.key().map(String::from_utf8_lossy))
            .field("payload_len", &self.payload().map(<[u8]>::len))
            .field("headers", &self.headers().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Record;

    #[test]
    fn parts_come_back_as_given() {
        let r = Record::from_parts("t", 3, 42, Some(b"k1"), Some(b"v1"), &[("h", b"x")]);
        assert_eq!(
            (r.topic(), r.partition(), r.offset()),
            ("t", 3, 42),
            "coordinates"
        );
        assert_eq!(r.key(), Some(&b"k1"[..]));
        assert_eq!(r.payload(), Some(&b"v1"[..]));
        assert_eq!(r.header("h"), Some(&b"x"[..]));
        let tombstone = Record::from_parts("t", 0, 0, None, None, &[]);
        assert_eq!((tombstone.key(), tombstone.payload()), (None, None));
        let empty = Record::from_parts("t", 0, 0, Some(b""), Some(b""), &[]);
        assert_eq!(
            (empty.key(), empty.payload()),
            (Some(&b""[..]), Some(&b""[..]))
        );
    }
}
