//! An [`OutgoingRecord`] as librdkafka takes it: borrowed, so a send copies nothing before
//! librdkafka copies the bytes into its queue.

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;

use crate::record::OutgoingRecord;

/// The librdkafka record for `record`, with the trace-context headers `trace` replacing any of
/// the same name the record carries.
pub(crate) fn future_record<'a>(
    record: &'a OutgoingRecord,
    trace: &[(String, Vec<u8>)],
) -> FutureRecord<'a, [u8], [u8]> {
    let mut fr = FutureRecord::<[u8], [u8]>::to(record.topic());
    if let Some(k) = record.key() {
        fr = fr.key(k);
    }
    if let Some(p) = record.payload() {
        fr = fr.payload(p);
    }
    if let Some(p) = record.partition() {
        fr = fr.partition(p);
    }
    if let Some(h) = headers(record, trace) {
        fr = fr.headers(h);
    }
    fr
}

/// The librdkafka headers of `record`, with the trace-context headers `trace` replacing any of
/// the same name; `None` when there are none.
pub(crate) fn headers(
    record: &OutgoingRecord,
    trace: &[(String, Vec<u8>)],
) -> Option<OwnedHeaders> {
    let own = record
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .filter(|(k, _)| !trace.iter().any(|(t, _)| t == k));
    let trace = trace.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
    owned_headers(record.headers.len() + trace.len(), own.chain(trace))
}

/// librdkafka headers from `pairs` (at most `capacity` of them); `None` when there are none.
fn owned_headers<'a>(
    capacity: usize,
    pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Option<OwnedHeaders> {
    let mut pairs = pairs.into_iter().peekable();
    pairs.peek()?;
    Some(pairs.fold(
        OwnedHeaders::new_with_capacity(capacity),
        |h, (key, value)| {
            h.insert(Header {
                key,
                value: Some(value),
            })
        },
    ))
}
