//! Records as handlers see them ([`Record`], copied out of librdkafka in batches by
//! [`FetchBuffer`]), and records to send ([`OutgoingRecord`]).

mod consumed;
mod fetch;

pub use consumed::Record;
pub(crate) use fetch::FetchBuffer;

/// A record to send: topic, optional key, payload bytes, headers.
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
    pub fn key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.key = Some(key.as_ref().to_vec());
        self
    }
    /// Sets the payload bytes.
    pub fn payload(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = Some(payload.into());
        self
    }
    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name.into(), value.as_ref().to_vec()));
        self
    }
    /// Sends to a fixed partition instead of the key's.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
    /// The key bytes.
    pub fn key_bytes(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }
    /// The headers, in order.
    pub fn headers_list(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }
    /// The payload bytes.
    pub fn payload_bytes(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }
}
