//! The OTLP trace exporter, switched on by the standard `OTEL_EXPORTER_OTLP_*` variables.

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

/// A tracing layer exporting spans over OTLP (HTTP/protobuf), configured by the standard
/// `OTEL_*` variables; `None` (with a warning on stderr) when the exporter cannot be built.
pub(crate) fn otlp_layer<S>() -> Option<Box<dyn Layer<S> + Send + Sync>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("kafkadeps: OTLP exporter not started: {e}");
            return None;
        }
    };
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("kafkadeps");
    opentelemetry::global::set_tracer_provider(provider);
    Some(Box::new(tracing_opentelemetry::layer().with_tracer(tracer)))
}
