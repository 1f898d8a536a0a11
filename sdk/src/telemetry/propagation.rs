//! W3C trace context in record headers (`traceparent`, `tracestate`), whatever the payload
//! format, and the OpenTelemetry messaging attribute names in one place.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Attribute keys of the OpenTelemetry messaging semantic conventions.
pub(crate) mod attr {
    pub(crate) const SYSTEM: &str = "messaging.system";
    pub(crate) const DESTINATION: &str = "messaging.destination.name";
    pub(crate) const OPERATION: &str = "messaging.operation.type";
    pub(crate) const PARTITION: &str = "messaging.destination.partition.id";
    pub(crate) const OFFSET: &str = "messaging.kafka.offset";
    pub(crate) const GROUP: &str = "messaging.consumer.group.name";
}

struct HeaderInjector<'a>(&'a mut Vec<(String, Vec<u8>)>);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_owned(), value.into_bytes()));
    }
}

struct HeaderExtractor<'a>(Vec<(&'a str, Option<&'a [u8]>)>);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.and_then(|v| std::str::from_utf8(v).ok()))
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| *k).collect()
    }
}

/// Writes the trace context of `span` into `headers`, if it belongs to a trace.
pub(crate) fn inject(span: &tracing::Span, headers: &mut Vec<(String, Vec<u8>)>) {
    let cx = span.context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
    }
}

/// Makes `span` continue the trace whose context `headers` carry, if any.
pub(crate) fn continue_trace(span: &tracing::Span, headers: Vec<(&str, Option<&[u8]>)>) {
    if !headers.iter().any(|(k, _)| *k == "traceparent") {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// The trace a log line about a record belongs to, so logs join traces: hex ids as in W3C
/// `traceparent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogTrace {
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
}

/// The trace of the current span when spans are recorded and it belongs to one (the
/// `process` span, continuing the record's trace); else the trace the record's
/// `traceparent` header names (its producer's span). `None` for a record without a trace.
pub(crate) fn log_trace(traceparent: Option<&[u8]>) -> Option<LogTrace> {
    let span = tracing::Span::current();
    if !span.is_disabled() {
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        if sc.is_valid() {
            return Some(LogTrace {
                trace_id: sc.trace_id().to_string(),
                span_id: sc.span_id().to_string(),
            });
        }
    }
    parse_traceparent(std::str::from_utf8(traceparent?).ok()?)
}

/// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`; `None` when malformed or all-zero.
fn parse_traceparent(value: &str) -> Option<LogTrace> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    (hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && !zero(trace)
        && !zero(span))
    .then(|| LogTrace {
        trace_id: trace.to_ascii_lowercase(),
        span_id: span.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_names_its_trace_and_span() {
        let t = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(
            t,
            Some(LogTrace {
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                span_id: "00f067aa0ba902b7".into(),
            })
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn without_spans_the_header_names_the_trace() {
        let header = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = log_trace(Some(header)).expect("a trace");
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(log_trace(None), None);
    }
}
