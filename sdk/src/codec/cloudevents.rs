//! CloudEvents on Kafka, following the CloudEvents Kafka protocol binding, encoded and decoded
//! by `cloudevents-sdk`:
//!
//! * binary mode: attributes as `ce_*` headers, `datacontenttype` as the `content-type` header,
//!   the data as the record value;
//! * structured mode: the whole event as the value, `content-type: application/cloudevents+json`;
//! * the `partitionkey` extension is the record key (and a keyed record's key fills it);
//! * a consumer detects the mode of each record.
//!
//! Producing requires `source` and `type`; kafkadeps fills `id` (a UUID) and `time` when absent.

use ::cloudevents::binding::rdkafka::MessageExt;
use ::cloudevents::event::ExtensionValue;
use ::cloudevents::message::{
    BinaryDeserializer, BinarySerializer, MessageAttributeValue, StructuredDeserializer,
    StructuredSerializer,
};
use ::cloudevents::{AttributesReader, AttributesWriter, Event, EventBuilder, EventBuilderV10};

use super::CodecError;
use crate::record::{OutgoingRecord, Record};

pub use ::cloudevents;

/// The `partitionkey` extension (CloudEvents partitioning extension).
pub const PARTITION_KEY: &str = "partitionkey";
/// `content-type` of structured mode.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";

/// How an event is laid out in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Attributes in `ce_*` headers, data as the value (the default: consumers that ignore
    /// CloudEvents still see the plain data).
    #[default]
    Binary,
    /// The whole event as JSON in the value.
    Structured,
}

/// Headers and value a record gets from an event.
#[derive(Debug, Default)]
struct KafkaShape {
    headers: Vec<(String, Vec<u8>)>,
    payload: Option<Vec<u8>>,
}

fn header_name(attribute: &str) -> String {
    if attribute == "datacontenttype" {
        "content-type".to_owned()
    } else {
        format!("ce_{attribute}")
    }
}

impl BinarySerializer<KafkaShape> for KafkaShape {
    fn set_spec_version(
        mut self,
        sv: cloudevents::event::SpecVersion,
    ) -> cloudevents::message::Result<Self> {
        self.headers
            .push(("ce_specversion".to_owned(), sv.to_string().into_bytes()));
        Ok(self)
    }
    fn set_attribute(
        mut self,
        name: &str,
        value: MessageAttributeValue,
    ) -> cloudevents::message::Result<Self> {
        self.headers
            .push((header_name(name), value.to_string().into_bytes()));
        Ok(self)
    }
    fn set_extension(
        self,
        name: &str,
        value: MessageAttributeValue,
    ) -> cloudevents::message::Result<Self> {
        self.set_attribute(name, value)
    }
    fn end_with_data(mut self, bytes: Vec<u8>) -> cloudevents::message::Result<Self> {
        self.payload = Some(bytes);
        Ok(self)
    }
    fn end(self) -> cloudevents::message::Result<Self> {
        Ok(self)
    }
}

impl StructuredSerializer<KafkaShape> for KafkaShape {
    fn set_structured_event(mut self, bytes: Vec<u8>) -> cloudevents::message::Result<Self> {
        self.headers.push((
            "content-type".to_owned(),
            STRUCTURED_CONTENT_TYPE.as_bytes().to_vec(),
        ));
        self.payload = Some(bytes);
        Ok(self)
    }
}

fn encode_error(e: impl std::error::Error + Send + Sync + 'static) -> CodecError {
    CodecError::Encode {
        format: "CloudEvents",
        source: Box::new(e),
    }
}

/// Fills `id` and `time` when absent and checks the required attributes.
pub fn complete(mut event: Event) -> Result<Event, CodecError> {
    if event.source().to_string().is_empty() || event.ty().is_empty() {
        return Err(encode_error(std::io::Error::other(
            "a CloudEvent needs `source` and `type`",
        )));
    }
    if event.id().is_empty() {
        event.set_id(uuid::Uuid::new_v4().to_string());
    }
    if event.time().is_none() {
        event.set_time(Some(chrono::Utc::now()));
    }
    Ok(event)
}

/// Builds an event of `ty` from `source` with JSON `data`; `id` and `time` are filled.
pub fn event(source: &str, ty: &str, data: serde_json::Value) -> Result<Event, CodecError> {
    let event = EventBuilderV10::new()
        .id(uuid::Uuid::new_v4().to_string())
        .source(source)
        .ty(ty)
        .time(chrono::Utc::now())
        .data("application/json", data)
        .build()
        .map_err(encode_error)?;
    Ok(event)
}

/// The record for `event` on `topic` in `mode`. The key is the `partitionkey` extension.
pub(crate) fn to_record(
    topic: &str,
    event: Event,
    mode: Mode,
) -> Result<OutgoingRecord, CodecError> {
    let event = complete(event)?;
    let key = match event.extension(PARTITION_KEY) {
        Some(ExtensionValue::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
        None => None,
    };
    let shape = match mode {
        Mode::Binary => BinaryDeserializer::deserialize_binary(event, KafkaShape::default()),
        Mode::Structured => {
            StructuredDeserializer::deserialize_structured(event, KafkaShape::default())
        }
    }
    .map_err(encode_error)?;
    let mut record = OutgoingRecord::new(topic);
    record.headers = shape.headers;
    record.payload = shape.payload;
    if let Some(k) = key {
        record = record.with_key(k);
    }
    Ok(record)
}

/// Whether a record carries a CloudEvent (either mode).
pub fn is_cloud_event(record: &Record) -> bool {
    record.header("ce_specversion").is_some()
        || record
            .header("content-type")
            .is_some_and(|ct| ct.starts_with(STRUCTURED_CONTENT_TYPE.as_bytes()))
}

/// Decodes the CloudEvent a record carries, detecting binary or structured mode. A keyed record
/// without a `partitionkey` extension gets its key as that extension.
pub fn from_record(record: &Record) -> Result<Event, CodecError> {
    let mut event = record
        .to_message()
        .to_event()
        .map_err(|e| CodecError::Decode {
            format: "CloudEvents",
            source: Box::new(e),
        })?;
    if event.extension(PARTITION_KEY).is_none()
        && let Some(key) = record.key_str()
    {
        event.set_extension(PARTITION_KEY, key.to_owned());
    }
    Ok(event)
}
