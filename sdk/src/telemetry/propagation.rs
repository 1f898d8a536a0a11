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
