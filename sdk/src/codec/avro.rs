//! Avro with the Confluent wire format: magic byte `0`, the schema id as 4 big-endian bytes, then
//! the Avro binary datum. Producing registers (or finds) the writer schema under the subject
//! (`<topic>-value` by default, or the record's full name) after checking compatibility — a
//! service with an incompatible schema refuses to start, with the registry's reason. Consuming
//! fetches the writer schema by id and resolves it against the reader schema, so a newer reader
//! (a field added with a default) reads older records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use apache_avro::Schema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::CodecError;
use super::schema_registry::{RegistryError, SchemaRegistry};
use crate::record::{OutgoingRecord, Record};

/// The first byte of the Confluent wire format.
pub const MAGIC: u8 = 0;
/// `content-type` kafkadeps puts on Avro records.
pub const CONTENT_TYPE: &str = "application/vnd.apache.avro+binary";

/// How the registry subject is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SubjectStrategy {
    /// `<topic>-value` (Confluent's `TopicNameStrategy`).
    #[default]
    TopicName,
    /// The record's full name (Confluent's `RecordNameStrategy`).
    RecordName,
}

/// Why Avro encoding could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AvroError {
    /// The schema text is not valid Avro.
    #[error("invalid Avro schema")]
    Schema(#[source] apache_avro::Error),
    /// The registry refused or could not be reached.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

fn decode_error(e: impl std::error::Error + Send + Sync + 'static) -> CodecError {
    CodecError::Decode {
        format: "Avro",
        source: Box::new(e),
    }
}

fn encode_error(e: impl std::error::Error + Send + Sync + 'static) -> CodecError {
    CodecError::Encode {
        format: "Avro",
        source: Box::new(e),
    }
}

/// Writes values of one schema to one topic.
#[derive(Debug, Clone)]
pub struct AvroWriter {
    topic: String,
    schema: Arc<Schema>,
    id: u32,
}

impl AvroWriter {
    /// Checks `schema` against the subject (refusing an incompatible one with the registry's
    /// reason), registers it, and caches its id.
    pub async fn new(
        registry: &SchemaRegistry,
        topic: &str,
        schema: &str,
        strategy: SubjectStrategy,
    ) -> Result<Self, AvroError> {
        let parsed = Schema::parse_str(schema).map_err(AvroError::Schema)?;
        let subject = match (strategy, &parsed) {
            (SubjectStrategy::RecordName, Schema::Record(r)) => r.name.fullname(None),
            _ => format!("{topic}-value"),
        };
        // The full JSON form: Parsing Canonical Form would drop defaults the registry needs for
        // its compatibility rules.
        let text = serde_json::to_string(&parsed).map_err(|e| {
            AvroError::Schema(apache_avro::Error::new(
                apache_avro::error::Details::SerializeValue(e.to_string()),
            ))
        })?;
        registry.check_compatible(&subject, &text).await?;
        let id = registry.register(&subject, &text).await?;
        Ok(Self {
            topic: topic.to_owned(),
            schema: Arc::new(parsed),
            id,
        })
    }

    /// A writer for a schema registered out of band under `id` (no registry call).
    pub fn with_id(topic: &str, schema: &str, id: u32) -> Result<Self, AvroError> {
        let parsed = Schema::parse_str(schema).map_err(AvroError::Schema)?;
        Ok(Self {
            topic: topic.to_owned(),
            schema: Arc::new(parsed),
            id,
        })
    }

    /// The registry id of the writer schema.
    pub fn schema_id(&self) -> u32 {
        self.id
    }

    /// Encodes `value` in the Confluent wire format.
    pub fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        let avro = apache_avro::to_value(value).map_err(encode_error)?;
        let resolved = avro.resolve(&self.schema).map_err(encode_error)?;
        let datum = apache_avro::to_avro_datum(&self.schema, resolved).map_err(encode_error)?;
        let mut out = Vec::with_capacity(5 + datum.len());
        out.push(MAGIC);
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&datum);
        Ok(out)
    }

    /// A record carrying `value`, keyed by `key`.
    pub fn record<T: Serialize>(
        &self,
        key: impl AsRef<[u8]>,
        value: &T,
    ) -> Result<OutgoingRecord, CodecError> {
        Ok(OutgoingRecord::new(&self.topic)
            .with_key(key)
            .with_payload(self.encode(value)?)
            .with_header("content-type", CONTENT_TYPE))
    }
}

/// Reads Confluent-framed Avro with a reader schema, fetching writer schemas by id.
#[derive(Debug, Clone)]
pub struct AvroReader {
    registry: SchemaRegistry,
    reader: Arc<Schema>,
    writers: Arc<Mutex<HashMap<u32, Arc<Schema>>>>,
}

impl AvroReader {
    /// A reader that resolves every writer schema against `reader_schema`.
    pub fn new(registry: SchemaRegistry, reader_schema: &str) -> Result<Self, AvroError> {
        let reader = Schema::parse_str(reader_schema).map_err(AvroError::Schema)?;
        Ok(Self {
            registry,
            reader: Arc::new(reader),
            writers: Arc::default(),
        })
    }

    /// Seeds the writer-schema cache (e.g. schemas known at build time), sparing a registry call.
    pub fn with_writer_schema(self, id: u32, schema: &str) -> Result<Self, AvroError> {
        let parsed = Arc::new(Schema::parse_str(schema).map_err(AvroError::Schema)?);
        self.writers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, parsed);
        Ok(self)
    }

    /// Splits the wire format into schema id and datum.
    pub fn frame(bytes: &[u8]) -> Result<(u32, &[u8]), CodecError> {
        match bytes {
            [MAGIC, a, b, c, d, rest @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
            _ => Err(decode_error(std::io::Error::other(
                "not the Confluent Avro wire format (magic byte 0 + 4-byte schema id)",
            ))),
        }
    }

    async fn writer(&self, id: u32) -> Result<Arc<Schema>, CodecError> {
        if let Some(s) = self
            .writers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
        {
            return Ok(Arc::clone(s));
        }
        let text = self.registry.schema(id).await.map_err(decode_error)?;
        let schema = Arc::new(Schema::parse_str(&text).map_err(decode_error)?);
        self.writers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, Arc::clone(&schema));
        Ok(schema)
    }

    /// Decodes Confluent-framed bytes into `T` through the reader schema.
    pub async fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let (id, mut datum) = Self::frame(bytes)?;
        let writer = self.writer(id).await?;
        let value = apache_avro::from_avro_datum(&writer, &mut datum, Some(&self.reader))
            .map_err(decode_error)?;
        apache_avro::from_value(&value).map_err(decode_error)
    }

    /// Decodes a record's value. A failure is a poison record (dead-lettered when returned from a
    /// handler with `?`).
    pub async fn decode_record<T: DeserializeOwned>(
        &self,
        record: &Record,
    ) -> Result<T, CodecError> {
        self.decode(record.payload().ok_or(CodecError::MissingPayload)?)
            .await
    }
}
