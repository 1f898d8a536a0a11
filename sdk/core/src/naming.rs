//! Names kafkadeps derives from declared topics: a consumed topic's dead-letter topic.

/// Suffix of a consumed topic's dead-letter topic.
pub const DLQ_SUFFIX: &str = ".dlq";

/// The dead-letter topic of `topic`.
pub fn dlq_topic(topic: &str) -> String {
    format!("{topic}{DLQ_SUFFIX}")
}
