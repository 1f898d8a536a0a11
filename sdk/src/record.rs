//! Records as handlers see them, and records to send.

use std::sync::Arc;

use rdkafka::Message;
use rdkafka::Timestamp;
use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Headers, OwnedHeaders, OwnedMessage};
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecError};

/// A consumed record, owned and cheap to clone.
#[derive(Debug, Clone)]
pub struct Record {
    inner: Arc<RecordData>,
}

/// A record's contents, copied out of librdkafka's buffer once: key and payload share one
/// allocation and the topic name is shared by every record of the partition.
#[derive(Debug)]
struct RecordData {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    timestamp: Timestamp,
    /// The key's bytes followed by the payload's.
    bytes: Vec<u8>,
    /// Length of the key within `bytes`; `None` without a key.
    key_len: Option<usize>,
    /// Whether there is a payload (`false` for a tombstone).
    has_payload: bool,
    headers: Option<OwnedHeaders>,
}

impl Record {
    /// Copies a fetched message; `topic` is the shared name of its topic.
    pub(crate) fn from_message(message: &BorrowedMessage<'_>, topic: Arc<str>) -> Self {
        Self::build(
            topic,
            (message.partition(), message.offset(), message.timestamp()),
            message.key(),
            message.payload(),
            message.headers().map(BorrowedHeaders::detach),
        )
    }

    fn build(
        topic: Arc<str>,
        (partition, offset, timestamp): (i32, i64, Timestamp),
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
    ) -> Self {
        let mut bytes =
            Vec::with_capacity(key.map_or(0, <[u8]>::len) + payload.map_or(0, <[u8]>::len));
        if let Some(k) = key {
            bytes.extend_from_slice(k);
        }
        if let Some(p) = payload {
            bytes.extend_from_slice(p);
        }
        Self {
            inner: Arc::new(RecordData {
                topic,
                partition,
                offset,
                timestamp,
                bytes,
                key_len: key.map(<[u8]>::len),
                has_payload: payload.is_some(),
                headers,
            }),
        }
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
        Self::build(
            Arc::from(topic),
            (partition, offset, Timestamp::now()),
            key,
            payload,
            (!headers.is_empty()).then_some(h),
        )
    }

    /// The shared topic name (for maps keyed by partition).
    pub(crate) fn topic_arc(&self) -> &Arc<str> {
        &self.inner.topic
    }

    /// The timestamp with its type.
    pub(crate) fn timestamp(&self) -> Timestamp {
        self.inner.timestamp
    }

    /// An rdkafka message with the same contents (for bindings that read rdkafka messages).
    #[cfg(feature = "cloudevents")]
    pub(crate) fn to_message(&self) -> OwnedMessage {
        OwnedMessage::new(
            self.payload().map(<[u8]>::to_vec),
            self.key().map(<[u8]>::to_vec),
            self.topic().to_owned(),
            self.inner.timestamp,
            self.inner.partition,
            self.inner.offset,
            self.inner.headers.clone(),
        )
    }

    /// Topic the record was read from.
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }
    /// Partition.
    pub fn partition(&self) -> i32 {
        self.inner.partition
    }
    /// Offset within the partition.
    pub fn offset(&self) -> i64 {
        self.inner.offset
    }
    /// Key bytes, if any.
    pub fn key(&self) -> Option<&[u8]> {
        self.inner.key_len.map(|n| &self.inner.bytes[..n])
    }
    /// Key as UTF-8 text, if it is.
    pub fn key_str(&self) -> Option<&str> {
        self.key().and_then(|k| std::str::from_utf8(k).ok())
    }
    /// Payload bytes, if any (`None` for a tombstone).
    pub fn payload(&self) -> Option<&[u8]> {
        let start = self.inner.key_len.unwrap_or(0);
        self.inner.has_payload.then(|| &self.inner.bytes[start..])
    }
    /// Milliseconds since the epoch, when the record has a timestamp.
    pub fn timestamp_millis(&self) -> Option<i64> {
        self.inner.timestamp.to_millis()
    }
    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.inner
            .headers
            .as_ref()?
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
    }
    /// All headers in order, as `(name, value)`.
    pub fn headers(&self) -> Vec<(&str, Option<&[u8]>)> {
        self.inner
            .headers
            .as_ref()
            .map(|hs| hs.iter().map(|h| (h.key, h.value)).collect())
            .unwrap_or_default()
    }
    /// Decodes the payload as JSON. A failure is a poison record: returned from a handler with
    /// `?`, the record goes to the dead-letter topic at once.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, CodecError> {
        let bytes = self.payload().ok_or(CodecError::MissingPayload)?;
        serde_json::from_slice(bytes).map_err(|e| CodecError::Decode {
            format: "JSON",
            source: Box::new(e),
        })
    }
    /// Decodes the payload with `codec`.
    pub fn decode<T, C: Codec<T>>(&self, codec: &C) -> Result<T, CodecError> {
        codec.decode(self.payload().ok_or(CodecError::MissingPayload)?)
    }
    /// Decodes the CloudEvent the record carries (binary or structured mode, detected per
    /// record). A failure is a poison record.
    #[cfg(feature = "cloudevents")]
    pub fn cloud_event(&self) -> Result<::cloudevents::Event, CodecError> {
        crate::codec::cloudevents::from_record(self)
    }

    /// Whether the record carries a CloudEvent.
    #[cfg(feature = "cloudevents")]
    pub fn is_cloud_event(&self) -> bool {
        crate::codec::cloudevents::is_cloud_event(self)
    }
}

/// Shares topic names among the records a consumer fetches (one allocation per topic, not per
/// record).
#[derive(Debug, Default)]
pub(crate) struct TopicNames {
    /// Looked up once per fetched record: a fast hasher (topic names are not attacker-chosen).
    names: rustc_hash::FxHashMap<Box<str>, Arc<str>>,
}

impl TopicNames {
    /// The shared name of `topic`.
    pub(crate) fn get(&mut self, topic: &str) -> Arc<str> {
        if let Some(name) = self.names.get(topic) {
            return Arc::clone(name);
        }
        let name: Arc<str> = Arc::from(topic);
        self.names.insert(topic.into(), Arc::clone(&name));
        name
    }

    /// Copies a fetched message into a [`Record`].
    pub(crate) fn record(&mut self, message: &BorrowedMessage<'_>) -> Record {
        let topic = self.get(message.topic());
        Record::from_message(message, topic)
    }
}

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
