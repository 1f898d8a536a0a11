//! The topic-level configuration keys Kafka knows, their value types, and normalization of declared
//! values to the form the broker reports (so declared and live values compare equal).

use super::units::{parse_bytes, parse_millis};

/// What a topic config value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Milliseconds (units allowed), `-1` where Kafka allows it.
    Millis,
    /// Bytes (units allowed), `-1` where Kafka allows it.
    Bytes,
    /// A plain integer within bounds.
    Int(i64, i64),
    /// `true` / `false`.
    Bool,
    /// A number within `[0, 1]`.
    Ratio,
    /// One of a fixed set.
    OneOf(&'static [&'static str]),
    /// A comma-separated subset of a fixed set (order-insensitive).
    SubsetOf(&'static [&'static str]),
    /// Free text (e.g. replica lists for throttling).
    Text,
}

/// Topic-level configs of Apache Kafka 4.x.
const KEYS: &[(&str, Kind)] = &[
    ("cleanup.policy", Kind::SubsetOf(&["compact", "delete"])),
    (
        "compression.type",
        Kind::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
    ),
    ("compression.gzip.level", Kind::Int(-1, 9)),
    ("compression.lz4.level", Kind::Int(1, 17)),
    ("compression.zstd.level", Kind::Int(-131_072, 22)),
    ("delete.retention.ms", Kind::Millis),
    ("file.delete.delay.ms", Kind::Millis),
    ("flush.messages", Kind::Int(1, i64::MAX)),
    ("flush.ms", Kind::Millis),
    ("follower.replication.throttled.replicas", Kind::Text),
    ("index.interval.bytes", Kind::Bytes),
    ("leader.replication.throttled.replicas", Kind::Text),
    ("local.retention.bytes", Kind::Bytes),
    ("local.retention.ms", Kind::Millis),
    ("max.compaction.lag.ms", Kind::Millis),
    ("max.message.bytes", Kind::Bytes),
    ("message.timestamp.after.max.ms", Kind::Millis),
    ("message.timestamp.before.max.ms", Kind::Millis),
    (
        "message.timestamp.type",
        Kind::OneOf(&["CreateTime", "LogAppendTime"]),
    ),
    ("min.cleanable.dirty.ratio", Kind::Ratio),
    ("min.compaction.lag.ms", Kind::Millis),
    ("min.insync.replicas", Kind::Int(1, i16::MAX as i64)),
    ("preallocate", Kind::Bool),
    ("remote.log.copy.disable", Kind::Bool),
    ("remote.log.delete.on.disable", Kind::Bool),
    ("remote.storage.enable", Kind::Bool),
    ("retention.bytes", Kind::Bytes),
    ("retention.ms", Kind::Millis),
    ("segment.bytes", Kind::Bytes),
    ("segment.index.bytes", Kind::Bytes),
    ("segment.jitter.ms", Kind::Millis),
    ("segment.ms", Kind::Millis),
    ("unclean.leader.election.enable", Kind::Bool),
];

/// Whether `key` is a topic config Kafka knows.
pub(crate) fn is_known(key: &str) -> bool {
    KEYS.iter().any(|(k, _)| *k == key)
}

/// The closest known key to a misspelt one, if any is close enough to be a likely typo.
pub(crate) fn did_you_mean(key: &str) -> Option<&'static str> {
    crate::suggest::closest(
        key,
        KEYS.iter()
            .map(|(k, _)| *k)
            .chain(["partitions", "replicas", "replication.factor"]),
    )
}

/// Checks `value` for `key` and returns it in the broker's canonical form.
pub(crate) fn normalize(key: &str, value: &str) -> Result<String, String> {
    let kind = KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, kind)| *kind)
        .unwrap_or(Kind::Text);
    let value = value.trim();
    let out = match kind {
        Kind::Millis => parse_millis(value)?.to_string(),
        Kind::Bytes => parse_bytes(value)?.to_string(),
        Kind::Int(lo, hi) => {
            let n: i64 = value
                .parse()
                .map_err(|_| format!("`{value}` is not an integer"))?;
            if !(lo..=hi).contains(&n) {
                return Err(format!("{n} is out of range ({lo}..={hi})"));
            }
            n.to_string()
        }
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "true" => "true".to_owned(),
            "false" => "false".to_owned(),
            _ => return Err(format!("`{value}` is not true or false")),
        },
        Kind::Ratio => {
            let r: f64 = value
                .parse()
                .map_err(|_| format!("`{value}` is not a number"))?;
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("{value} is out of range (0..=1)"));
            }
            r.to_string()
        }
        Kind::OneOf(allowed) => allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(value))
            .map(|a| (*a).to_owned())
            .ok_or_else(|| format!("`{value}` is not one of {}", allowed.join(", ")))?,
        Kind::SubsetOf(allowed) => {
            let mut parts = Vec::new();
            for part in value.split([',', ';']).map(str::trim) {
                let a = allowed
                    .iter()
                    .find(|a| a.eq_ignore_ascii_case(part))
                    .ok_or_else(|| format!("`{part}` is not one of {}", allowed.join(", ")))?;
                if !parts.contains(a) {
                    parts.push(*a);
                }
            }
            parts.sort_unstable();
            parts.join(",")
        }
        Kind::Text => value.to_owned(),
    };
    Ok(out)
}

/// Whether a declared (normalized) value equals what the broker reports.
pub(crate) fn same_value(key: &str, declared: &str, live: &str) -> bool {
    match normalize(key, live) {
        Ok(live) => live == declared,
        Err(_) => live == declared,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_by_kind() {
        assert_eq!(normalize("retention.ms", "7d").as_deref(), Ok("604800000"));
        assert_eq!(
            normalize("segment.bytes", "1GiB").as_deref(),
            Ok("1073741824")
        );
        assert_eq!(
            normalize("cleanup.policy", "delete, compact").as_deref(),
            Ok("compact,delete")
        );
        assert_eq!(normalize("preallocate", "TRUE").as_deref(), Ok("true"));
        assert_eq!(
            normalize("message.timestamp.type", "logappendtime").as_deref(),
            Ok("LogAppendTime")
        );
        assert_eq!(
            normalize("min.cleanable.dirty.ratio", "0.50").as_deref(),
            Ok("0.5")
        );
        assert!(
            normalize("min.insync.replicas", "0")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            normalize("cleanup.policy", "forever")
                .unwrap_err()
                .contains("not one of")
        );
    }

    #[test]
    fn suggests_close_keys() {
        assert_eq!(did_you_mean("retention.mss"), Some("retention.ms"));
        assert_eq!(did_you_mean("cleanup.polcy"), Some("cleanup.policy"));
        assert_eq!(did_you_mean("partitons"), Some("partitions"));
        assert_eq!(did_you_mean("colour"), None);
    }

    #[test]
    fn compares_live_values_canonically() {
        assert!(same_value(
            "cleanup.policy",
            "compact,delete",
            "delete,compact"
        ));
        assert!(same_value("retention.ms", "604800000", "604800000"));
        assert!(!same_value("retention.ms", "604800000", "86400000"));
    }
}
