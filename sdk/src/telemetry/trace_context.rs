//! W3C trace context across transports other than Kafka records — the sidecar's HTTP, for one:
//! continue an incoming trace in a span, and the headers that hand a trace on.
//!
//! Where kafkadeps records spans (an OTLP exporter is configured, see `docs/observability.md`),
//! an incoming trace is continued by kafkadeps' own spans and what goes on carries their
//! context. Where it records none, the incoming `traceparent` and `tracestate` pass through
//! unchanged, so the trace of the services on either side stays one.

use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::propagation;

/// The W3C trace-context header names, as on HTTP requests and Kafka records.
pub const HEADERS: [&str; 2] = ["traceparent", "tracestate"];

/// Makes `span` continue the trace that the W3C trace-context headers among `headers` carry;
/// whether `span` is now recorded as part of a trace. `false` when spans are off (or the
/// headers carry no valid trace): hand the incoming headers on unchanged instead.
pub fn continue_trace<'a>(
    span: &Span,
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> bool {
    if span.is_disabled() {
        return false;
    }
    let trace: Vec<(&str, Option<&[u8]>)> = headers
        .into_iter()
        .filter(|(name, _)| HEADERS.contains(name))
        .map(|(name, value)| (name, Some(value)))
        .collect();
    propagation::continue_trace(span, trace);
    recorded(span)
}

/// The W3C trace-context headers to send on from `span`: its own context when it is recorded as
/// part of a trace, otherwise the trace-context headers among `received`, unchanged (none when
/// there are none).
pub fn outgoing<'a>(
    span: &Span,
    received: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
) -> Vec<(String, Vec<u8>)> {
    let mut headers = Vec::new();
    if recorded(span) {
        propagation::inject(span, &mut headers);
        return headers;
    }
    for (name, value) in received {
        if let (true, Some(value)) = (HEADERS.contains(&name), value) {
            headers.push((name.to_owned(), value.to_vec()));
        }
    }
    headers
}

/// Whether `span` is recorded as part of a trace (spans on, and exported).
fn recorded(span: &Span) -> bool {
    use opentelemetry::trace::TraceContextExt;
    !span.is_disabled() && span.context().span().span_context().is_valid()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn without_recorded_spans_the_incoming_trace_passes_through_unchanged() {
        // No subscriber in this test: spans are off.
        let span = tracing::info_span!("produce");
        let incoming = [
            ("content-type", &b"application/json"[..]),
            ("traceparent", PARENT.as_bytes()),
            ("tracestate", b"vendor=1"),
        ];
        assert!(!continue_trace(&span, incoming));
        let received = incoming.map(|(name, value)| (name, Some(value)));
        assert_eq!(
            outgoing(&span, received),
            vec![
                ("traceparent".to_owned(), PARENT.as_bytes().to_vec()),
                ("tracestate".to_owned(), b"vendor=1".to_vec()),
            ]
        );
        assert!(outgoing(&span, [("content-type", Some(&b"x"[..]))]).is_empty());
    }
}
