//! Dead-letter records: the original key, payload and headers, plus the headers Spring Kafka's
//! `DeadLetterPublishingRecoverer` writes, encoded the way it encodes them (partition as a 4-byte
//! and offset/timestamp as 8-byte big-endian integers), so existing tooling reads them.

use rdkafka::message::Timestamp;

use super::handler::HandlerError;
use crate::record::{OutgoingRecord, Record};

pub use kafkadeps_core::naming::{DLQ_SUFFIX, dlq_topic};

/// Spring Kafka's dead-letter header names (`KafkaHeaders.DLT_*`).
pub mod headers {
    /// Topic the record was consumed from (UTF-8).
    pub const ORIGINAL_TOPIC: &str = "kafka_dlt-original-topic";
    /// Partition (4-byte big-endian).
    pub const ORIGINAL_PARTITION: &str = "kafka_dlt-original-partition";
    /// Offset (8-byte big-endian).
    pub const ORIGINAL_OFFSET: &str = "kafka_dlt-original-offset";
    /// Timestamp in ms (8-byte big-endian).
    pub const ORIGINAL_TIMESTAMP: &str = "kafka_dlt-original-timestamp";
    /// `CREATE_TIME` or `LOG_APPEND_TIME`.
    pub const ORIGINAL_TIMESTAMP_TYPE: &str = "kafka_dlt-original-timestamp-type";
    /// Consumer group (UTF-8).
    pub const ORIGINAL_CONSUMER_GROUP: &str = "kafka_dlt-original-consumer-group";
    /// Error type (here: `kafkadeps.retryable|permanent|poison`).
    pub const EXCEPTION_FQCN: &str = "kafka_dlt-exception-fqcn";
    /// Error message with its causes.
    pub const EXCEPTION_MESSAGE: &str = "kafka_dlt-exception-message";
}

/// Builds the dead-letter record for `record`, which failed with `error` in `group`.
pub(crate) fn dead_letter(record: &Record, group: &str, error: &HandlerError) -> OutgoingRecord {
    let out = OutgoingRecord::copy_of(record, dlq_topic(record.topic()), "kafka_dlt-");
    let (timestamp, kind) = match record.raw_timestamp() {
        Timestamp::CreateTime(t) => (t, "CREATE_TIME"),
        Timestamp::LogAppendTime(t) => (t, "LOG_APPEND_TIME"),
        Timestamp::NotAvailable => (-1, "NO_TIMESTAMP_TYPE"),
    };
    out.with_header(headers::ORIGINAL_TOPIC, record.topic())
        .with_header(
            headers::ORIGINAL_PARTITION,
            record.partition().to_be_bytes(),
        )
        .with_header(headers::ORIGINAL_OFFSET, record.offset().to_be_bytes())
        .with_header(headers::ORIGINAL_TIMESTAMP, timestamp.to_be_bytes())
        .with_header(headers::ORIGINAL_TIMESTAMP_TYPE, kind)
        .with_header(headers::ORIGINAL_CONSUMER_GROUP, group)
        .with_header(
            headers::EXCEPTION_FQCN,
            format!("kafkadeps.{}", error.kind_name()),
        )
        .with_header(headers::EXCEPTION_MESSAGE, error.chain())
}
