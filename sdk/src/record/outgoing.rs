//! Records to send, and the codec constructors that build them: every way of sending goes
//! through [`Producer::send`](crate::Producer::send) with one of these.

use serde::Serialize;

use crate::Event;
use crate::codec::{self, Codec, CodecError};

/// A record to send: topic, optional key, payload bytes, headers. Its accessors are named as
/// [`Record`](crate::Record)'s (`topic()`, `key()`, `payload()`, `headers()`); the builder
/// methods are `with_*`; the codec constructors ([`json`](Self::json),
/// [`encoded`](Self::encoded), [`event`](Self::event), `cloud_event`) encode a value.
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
    /// A record for `topic` carrying `value` as JSON under `key`, with the header
    /// `content-type: application/json`.
    ///
    /// ```
    /// use kafkadeps::OutgoingRecord;
    ///
    /// let record = OutgoingRecord::json("orders.v1", "o-1", &serde_json::json!({"cents": 1250}))?;
    /// assert_eq!(record.payload(), Some(&br#"{"cents":1250}"#[..]));
    /// # Ok::<(), kafkadeps::CodecError>(())
    /// ```
    pub fn json<V: Serialize + ?Sized>(
        topic: impl Into<String>,
        key: impl AsRef<[u8]>,
        value: &V,
    ) -> Result<Self, CodecError> {
        Ok(Self::new(topic)
            .with_key(key)
            .with_payload(codec::to_json(value)?)
            .with_header("content-type", codec::JSON_CONTENT_TYPE))
    }

    /// A record for `topic` carrying `value` encoded with `codec` under `key`, with the codec's
    /// `content-type` header.
    pub fn encoded<V, C: Codec<V>>(
        topic: impl Into<String>,
        key: impl AsRef<[u8]>,
        value: &V,
        codec: &C,
    ) -> Result<Self, CodecError> {
        Ok(Self::new(topic)
            .with_key(key)
            .with_payload(codec.encode(value)?)
            .with_header("content-type", codec.content_type()))
    }

    /// The record of a value of an [`Event`] type: its topic, its key, in its format (JSON, or
    /// a binary-mode CloudEvent with its `type` and `source`).
    pub fn event<E: Event>(event: &E) -> Result<Self, CodecError> {
        let key = event.key();
        match E::FORMAT {
            crate::EventFormat::Json => {
                let record = Self::new(E::TOPIC)
                    .with_payload(codec::to_json(event)?)
                    .with_header("content-type", codec::JSON_CONTENT_TYPE);
                Ok(match key {
                    Some(k) => record.with_key(k),
                    None => record,
                })
            }
            #[cfg(feature = "cloudevents")]
            crate::EventFormat::CloudEvents => {
                use crate::codec::cloudevents as ce;
                let mut e = ce::event(
                    E::CE_SOURCE.unwrap_or_default(),
                    E::CE_TYPE.unwrap_or_default(),
                    codec::to_json_value(event)?,
                )?;
                if let Some(k) = key {
                    e.set_extension(ce::PARTITION_KEY, k);
                }
                Self::cloud_event(E::TOPIC, e, ce::Mode::Binary)
            }
            #[cfg(not(feature = "cloudevents"))]
            crate::EventFormat::CloudEvents => Err(CodecError::Encode {
                format: "CloudEvents",
                source: "kafkadeps was built without the `cloudevents` feature".into(),
            }),
        }
    }

    /// A record carrying the CloudEvent `event` in `mode`; `id` and `time` are filled when
    /// absent, and the `partitionkey` extension becomes the key.
    #[cfg(feature = "cloudevents")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cloudevents")))]
    pub fn cloud_event(
        topic: impl Into<String>,
        event: ::cloudevents::Event,
        mode: codec::cloudevents::Mode,
    ) -> Result<Self, CodecError> {
        codec::cloudevents::to_record(&topic.into(), event, mode)
    }

    /// A copy of the consumed `record` for `topic`: its key, payload and headers, without the
    /// headers whose names start with `skip_prefix` (those the copy writes anew: dead-letter or
    /// parking headers).
    pub(crate) fn copy_of(
        record: &crate::Record,
        topic: impl Into<String>,
        skip_prefix: &str,
    ) -> Self {
        let mut out = Self::new(topic);
        out.key = record.key().map(<[u8]>::to_vec);
        out.payload = record.payload().map(<[u8]>::to_vec);
        out.headers = record
            .headers()
            .into_iter()
            .filter(|(name, _)| !name.starts_with(skip_prefix))
            .map(|(name, value)| (name.to_owned(), value.unwrap_or_default().to_vec()))
            .collect();
        out
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
