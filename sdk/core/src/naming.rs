//! Names kafkadeps derives from declared topics: a consumed topic's dead-letter topic and, with
//! `KAFKA_RETRY_MODE=park`, its retry topic and the retry reader's group.

/// Suffix of a consumed topic's dead-letter topic.
pub const DLQ_SUFFIX: &str = ".dlq";

/// The dead-letter topic of `topic`.
pub fn dlq_topic(topic: &str) -> String {
    format!("{topic}{DLQ_SUFFIX}")
}

/// Suffix of a consumed topic's retry topic (`KAFKA_RETRY_MODE=park`).
pub const RETRY_SUFFIX: &str = ".retry";

/// The retry topic of `topic`.
pub fn retry_topic(topic: &str) -> String {
    format!("{topic}{RETRY_SUFFIX}")
}

/// The group whose offsets track a consumer group's retry topics (`<group>.retry`): its
/// members read the retry partitions of the source partitions they own, assigned by hand.
pub fn retry_group(group: &str) -> String {
    format!("{group}{RETRY_SUFFIX}")
}
