//! What a send needs from a record: its parts, borrowed — so a send copies nothing before
//! librdkafka copies the bytes into its queue — and an owned copy only when a failed send hands
//! the record back.

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;

use crate::record::OutgoingRecord;

/// A record as a send sees it.
pub(crate) trait Outgoing {
    fn topic(&self) -> &str;
    fn key(&self) -> Option<&[u8]>;
    fn payload(&self) -> Option<&[u8]>;
    fn partition(&self) -> Option<i32>;
    /// The headers, in order.
    fn headers(&self) -> impl Iterator<Item = (&str, &[u8])>;
    fn header_count(&self) -> usize;
    /// The record to hand back from a failed send.
    fn into_owned(self) -> OutgoingRecord;
}

impl Outgoing for OutgoingRecord {
    fn topic(&self) -> &str {
        &self.topic
    }
    fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }
    fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }
    fn partition(&self) -> Option<i32> {
        self.partition
    }
    fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
    fn header_count(&self) -> usize {
        self.headers.len()
    }
    fn into_owned(self) -> OutgoingRecord {
        self
    }
}

/// A record made of the caller's borrowed parts (the typed and byte sends).
pub(crate) struct Borrowed<'a> {
    pub(crate) topic: &'a str,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) payload: Option<&'a [u8]>,
    pub(crate) headers: &'a [(&'a str, &'a [u8])],
}

impl Outgoing for Borrowed<'_> {
    fn topic(&self) -> &str {
        self.topic
    }
    fn key(&self) -> Option<&[u8]> {
        self.key
    }
    fn payload(&self) -> Option<&[u8]> {
        self.payload
    }
    fn partition(&self) -> Option<i32> {
        None
    }
    fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().copied()
    }
    fn header_count(&self) -> usize {
        self.headers.len()
    }
    fn into_owned(self) -> OutgoingRecord {
        let mut record = OutgoingRecord::new(self.topic);
        record.key = self.key.map(<[u8]>::to_vec);
        record.payload = self.payload.map(<[u8]>::to_vec);
        for (k, v) in self.headers {
            record = record.with_header(*k, v);
        }
        record
    }
}

/// The librdkafka record for `record`, with the trace-context headers `trace` replacing any of
/// the same name the record carries.
pub(crate) fn future_record<'a, R: Outgoing>(
    record: &'a R,
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
    let own = record
        .headers()
        .filter(|(k, _)| !trace.iter().any(|(t, _)| t == k));
    let trace = trace.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
    if let Some(h) = owned_headers(record.header_count() + trace.len(), own.chain(trace)) {
        fr = fr.headers(h);
    }
    fr
}

/// librdkafka headers from `pairs` (at most `capacity` of them); `None` when there are none.
pub(crate) fn owned_headers<'a>(
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
