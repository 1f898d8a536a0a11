//! Payload codecs: how values become bytes on the wire and back. JSON is the default;
//! [`cloudevents`] implements the CloudEvents Kafka protocol binding.

#[cfg(feature = "avro")]
#[cfg_attr(docsrs, doc(cfg(feature = "avro")))]
pub mod avro;
#[cfg(feature = "cloudevents")]
#[cfg_attr(docsrs, doc(cfg(feature = "cloudevents")))]
pub mod cloudevents;
#[cfg(feature = "avro")]
#[cfg_attr(docsrs, doc(cfg(feature = "avro")))]
pub mod schema_registry;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A payload could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Serializing a value failed.
    #[error("cannot encode the payload as {format}")]
    Encode {
        /// Format name.
        format: &'static str,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The bytes are not a valid payload of the format (a poison record when consuming).
    #[error("cannot decode the payload as {format}")]
    Decode {
        /// Format name.
        format: &'static str,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The record has no payload (a tombstone) but one was expected.
    #[error("the record has no payload")]
    MissingPayload,
}

/// Turns values of type `T` into payload bytes and back.
pub trait Codec<T: ?Sized>: Send + Sync {
    /// The `content-type` the bytes have, for headers and CloudEvents.
    fn content_type(&self) -> &'static str;
    /// Encodes a value.
    fn encode(&self, value: &T) -> Result<Vec<u8>, CodecError>;
    /// Decodes bytes.
    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError>
    where
        T: Sized;
}

/// The `content-type` of JSON payloads.
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json";

/// `value` as JSON bytes: the one place kafkadeps encodes JSON.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    serde_json::to_vec(value).map_err(|e| CodecError::Encode {
        format: "JSON",
        source: Box::new(e),
    })
}

/// `value` as a JSON tree (the data of a CloudEvent).
#[cfg(feature = "cloudevents")]
pub(crate) fn to_json_value<T: Serialize + ?Sized>(
    value: &T,
) -> Result<serde_json::Value, CodecError> {
    serde_json::to_value(value).map_err(|e| CodecError::Encode {
        format: "JSON",
        source: Box::new(e),
    })
}

/// A value from JSON bytes: the one place kafkadeps decodes JSON.
pub(crate) fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    serde_json::from_slice(bytes).map_err(|e| CodecError::Decode {
        format: "JSON",
        source: Box::new(e),
    })
}

/// JSON via serde: the default codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl<T: Serialize + DeserializeOwned> Codec<T> for Json {
    fn content_type(&self) -> &'static str {
        JSON_CONTENT_TYPE
    }

    fn encode(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        to_json(value)
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        from_json(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_rejects_garbage() {
        let bytes = Codec::<Vec<u32>>::encode(&Json, &vec![1, 2]).unwrap();
        assert_eq!(bytes, b"[1,2]");
        assert_eq!(
            Codec::<Vec<u32>>::decode(&Json, &bytes).unwrap(),
            vec![1, 2]
        );
        let err = Codec::<Vec<u32>>::decode(&Json, b"{nope").unwrap_err();
        assert_eq!(err.to_string(), "cannot decode the payload as JSON");
    }
}
