//! Records as handlers see them ([`Record`], copied out of librdkafka in batches by
//! [`FetchBuffer`]), and records to send ([`OutgoingRecord`]).

mod consumed;
mod fetch;
mod outgoing;

pub use consumed::{Record, RecordTimestamp};
pub(crate) use fetch::FetchBuffer;
pub use outgoing::OutgoingRecord;
