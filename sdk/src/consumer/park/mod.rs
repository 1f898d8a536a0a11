//! Per-key parking (`KAFKA_RETRY_MODE=park`, [`RetryMode::Park`](crate::config::RetryMode)):
//! retries that neither block a partition nor break per-key order.
//!
//! * A record that fails retryably is **parked**: it goes to the service's `<topic>.retry`
//!   topic, to the partition of the same number, with the `kafkadeps-retry-*` headers (original
//!   topic, partition and offset, attempts made, when it is due), and its key is parked. Every
//!   later record of a parked key goes there too, behind it. The source partition's offsets are
//!   committed as usual — its records are safely in the retry topic first — and its other keys
//!   keep flowing.
//! * The same process reads the retry partitions of the source partitions it owns (assigned by
//!   hand, offsets in the group `<group>.retry`) and redelivers each parked record after its
//!   backoff, to the same handler, as a record of its original topic, partition and offset.
//!   A record that fails again goes back to the end of its retry partition with its attempt
//!   count, and the key's later records follow it there, so the key's order holds. After
//!   `max_attempts` a record goes to the dead-letter topic with Spring's headers, and its key's
//!   later records continue. A key is unparked when its last parked record has finished.
//! * Parking state is derived from the retry topic, not kept only in memory: a member that is
//!   assigned a source partition (after a crash, a restart or a rebalance) first reads the
//!   partition's retry partition from its committed offset to its end, and only then handles
//!   source records, so later records of a key parked before still queue behind the parked ones.
//! * Keyless records are retried in place: without a key there is no order to keep apart from
//!   the partition's, and parking one would let the partition's later records overtake it.
//!
//! A retry partition is read in order, one record at a time: a parked record waiting for its
//! backoff delays the records parked after it in the same retry partition (never the source
//! partition). Redelivery is at least once: a crash between writing a record back to the retry
//! topic and committing the copy it came from redelivers that record twice.

mod headers;
mod reader;
mod source;
mod state;

pub(crate) use reader::{PartitionListener, RetryReader};
pub(crate) use source::Parking;
pub(crate) use state::Parked;

pub use headers::{ATTEMPTS, DUE, ORIGINAL_OFFSET, ORIGINAL_PARTITION, ORIGINAL_TOPIC};
