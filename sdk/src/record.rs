//! Records as handlers see them, and records to send.

use std::sync::Arc;

use rdkafka::Message;
use rdkafka::message::{Headers, OwnedMessage};
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecError};

/// A consumed record, owned and cheap to clone.
#[derive(Debug, Clone)]
pub struct Record {
    inner: Arc<OwnedMessage>,
}

impl Record {
    pub(crate) fn new(message: OwnedMessage) -> Self {
        Self {
            inner: Arc::new(message),
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
        let mut h = rdkafka::message::OwnedHeaders::new_with_capacity(headers.len());
        for (k, v) in headers {
            h = h.insert(rdkafka::message::Header {
                key: k,
                value: Some(*v),
            });
        }
        Self::new(OwnedMessage::new(
            payload.map(<[u8]>::to_vec),
            key.map(<[u8]>::to_vec),
            topic.to_owned(),
            rdkafka::Timestamp::now(),
            partition,
            offset,
            Some(h),
        ))
    }

    /// Topic the record was read from.
    pub fn topic(&self) -> &str {
        self.inner.topic()
    }
    /// Partition.
    pub fn partition(&self) -> i32 {
        self.inner.partition()
    }
    /// Offset within the partition.
    pub fn offset(&self) -> i64 {
        self.inner.offset()
    }
    /// Key bytes, if any.
    pub fn key(&self) -> Option<&[u8]> {
        self.inner.key()
    }
    /// Key as UTF-8 text, if it is.
    pub fn key_str(&self) -> Option<&str> {
        self.key().and_then(|k| std::str::from_utf8(k).ok())
    }
    /// Payload bytes, if any (`None` for a tombstone).
    pub fn payload(&self) -> Option<&[u8]> {
        self.inner.payload()
    }
    /// Milliseconds since the epoch, when the record has a timestamp.
    pub fn timestamp_millis(&self) -> Option<i64> {
        self.inner.timestamp().to_millis()
    }
    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.inner
            .headers()?
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
    }
    /// All headers in order, as `(name, value)`.
    pub fn headers(&self) -> Vec<(&str, Option<&[u8]>)> {
        self.inner
            .headers()
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

    pub(crate) fn message(&self) -> &OwnedMessage {
        &self.inner
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
