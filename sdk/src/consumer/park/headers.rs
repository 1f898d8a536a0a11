//! The `kafkadeps-retry-*` headers of a parked record (values in decimal text, readable by
//! any tool).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::record::{OutgoingRecord, Record};

/// Topic the record was consumed from.
pub const ORIGINAL_TOPIC: &str = "kafkadeps-retry-original-topic";
/// Its partition there.
pub const ORIGINAL_PARTITION: &str = "kafkadeps-retry-original-partition";
/// Its offset there.
pub const ORIGINAL_OFFSET: &str = "kafkadeps-retry-original-offset";
/// Handler attempts made so far (0: parked behind an earlier record of its key, not tried yet).
pub const ATTEMPTS: &str = "kafkadeps-retry-attempts";
/// When it is due, in milliseconds since the Unix epoch.
pub const DUE: &str = "kafkadeps-retry-due";

const PREFIX: &str = "kafkadeps-retry-";

/// What a parked record says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Parking {
    pub(super) topic: String,
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) attempts: u32,
    pub(super) due: SystemTime,
}

impl Parking {
    /// The parking headers of `record` read from the retry topic; `None` when they are missing
    /// or malformed (a record not written by kafkadeps).
    pub(super) fn of(record: &Record) -> Option<Self> {
        let text = |name| std::str::from_utf8(record.header(name)?).ok();
        Some(Self {
            topic: text(ORIGINAL_TOPIC)?.to_owned(),
            partition: text(ORIGINAL_PARTITION)?.parse().ok()?,
            offset: text(ORIGINAL_OFFSET)?.parse().ok()?,
            attempts: text(ATTEMPTS)?.parse().ok()?,
            due: UNIX_EPOCH + Duration::from_millis(text(DUE)?.parse().ok()?),
        })
    }
}

/// The record to park `record` (of its original topic) with `attempts` made, due at `due`:
/// its key, payload and headers, the parking headers, to the retry partition of the same
/// number.
pub(super) fn parked(
    record: &Record,
    retry_topic: &str,
    attempts: u32,
    due: SystemTime,
    original: (&str, i32, i64),
) -> OutgoingRecord {
    let out = OutgoingRecord::copy_of(record, retry_topic, PREFIX).with_partition(original.1);
    let due = due
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    out.with_header(ORIGINAL_TOPIC, original.0)
        .with_header(ORIGINAL_PARTITION, original.1.to_string())
        .with_header(ORIGINAL_OFFSET, original.2.to_string())
        .with_header(ATTEMPTS, attempts.to_string())
        .with_header(DUE, due.to_string())
}

/// The record a handler sees for a parked one: its original topic, partition and offset, its
/// own headers (without the parking ones).
pub(super) fn redelivered(record: &Record, parking: &Parking) -> Record {
    let headers: Vec<(&str, &[u8])> = record
        .headers()
        .into_iter()
        .filter(|(name, _)| !name.starts_with(PREFIX))
        .map(|(name, value)| (name, value.unwrap_or_default()))
        .collect();
    Record::from_parts(
        &parking.topic,
        parking.partition,
        parking.offset,
        record.key(),
        record.payload(),
        &headers,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_record_says_where_it_came_from_and_when_it_is_due() {
        let source = Record::from_parts("orders", 2, 41, Some(b"k"), Some(b"v"), &[("h", b"1")]);
        let due = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let out = parked(&source, "orders.retry", 1, due, ("orders", 2, 41));
        assert_eq!(out.partition(), Some(2));
        assert_eq!(out.topic(), "orders.retry");
        let headers: Vec<(&str, &[u8])> = out
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        let read = Record::from_parts("orders.retry", 2, 7, out.key(), out.payload(), &headers);
        let parking = Parking::of(&read).expect("parking headers");
        assert_eq!(
            parking,
            Parking {
                topic: "orders".into(),
                partition: 2,
                offset: 41,
                attempts: 1,
                due,
            }
        );
        let again = redelivered(&read, &parking);
        assert_eq!(
            (again.topic(), again.partition(), again.offset()),
            ("orders", 2, 41)
        );
        assert_eq!(again.headers(), vec![("h", Some(&b"1"[..]))]);
        assert!(Parking::of(&source).is_none());
    }
}
