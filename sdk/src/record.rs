//! Records as handlers see them ([`Record`], copied out of librdkafka in batches by
//! [`FetchBuffer`]), and records to send ([`OutgoingRecord`]).

mod consumed;
mod fetch;

pub use consumed::{Record, RecordTimestamp};
pub(crate) use fetch::FetchBuffer;

/// A record to send: topic, optional key, payload bytes, headers. Its accessors are named as
/// [`Record`]'s (`topic()`, `key()`, `payload()`, `headers()`); the builder methods are `with_*`.
///
/// ```
/// use kafkadeps::OutgoingRecord;
///
/// let record = OutgoingRecord::new("orders.v1")
///     .with_key("o-1")
///     .with_payload(br#"{"cents":1250}"#.to_vec())
///     .with_header("source", "checkout");
/// assert_eq!(record.key(), Some(&b"o-1"[..]));
/// assert_eq!(record.headers()[0].0, "source");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct OutgoingRecord {
    pub(crate) topic: String,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Option<Vec<u8>>,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) partition: Option<i32>,
}

impl OutgoingRecord {
    /// A record for `topic` with no key and no payload yet.
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            key: None,
            payload: None,
            headers: Vec::new(),
            partition: None,
        }
    }
    /// Sets the key (same key, same partition, in order).
    pub fn with_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.key = Some(key.as_ref().to_vec());
        self
    }
    /// Sets the payload bytes.
    pub fn with_payload(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = Some(payload.into());
        self
    }
    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name.into(), value.as_ref().to_vec()));
        self
    }
    /// Sends to a fixed partition instead of the key's.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
    /// The key bytes.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }
    /// The headers, in order.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }
    /// The payload bytes.
    pub fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }
    /// The fixed partition, if [`with_partition`](Self::with_partition) set one.
    pub fn partition(&self) -> Option<i32> {
        self.partition
    }
}
