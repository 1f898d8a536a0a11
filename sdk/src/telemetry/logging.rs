//! Structured logs on stdout: JSON lines by default (`KAFKA_LOG_FORMAT=json|pretty`), filtered by
//! `RUST_LOG` (default `info`; levels per target, see [`filter_from_env`]). librdkafka's own log
//! lines arrive through `tracing` with target `librdkafka`, in the same stream. With
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, spans are exported
//! over OTLP; otherwise no exporter.

use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Variable choosing the log format.
pub const LOG_FORMAT: &str = "KAFKA_LOG_FORMAT";

/// Installs the global subscriber from the environment. Does nothing when the application
/// installed one already. Returns whether this call installed it.
pub fn init_from_env() -> bool {
    init(std::env::var(LOG_FORMAT).ok().as_deref(), otlp_configured())
}

fn otlp_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()))
}

/// The level filter from `RUST_LOG` (`info`, `kafkadeps=debug,librdkafka=warn`, ...: a default
/// level and per-target levels), or `default` when it is unset or cannot be parsed.
/// Per-span and per-field directives are not supported: matching them needs a regex engine in
/// every binary, for a feature services hardly use.
pub fn filter_from_env(default: tracing::Level) -> Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(default))
}

fn init(format: Option<&str>, otlp: bool) -> bool {
    let filter = filter_from_env(tracing::Level::INFO);
    let otel = if otlp {
        super::tracing_export::otlp_layer()
    } else {
        None
    };
    let pretty = format
        .map(str::trim)
        .is_some_and(|f| f.eq_ignore_ascii_case("pretty"));
    // JSON lines carry no span fields: without an exporter nobody reads spans, so they are
    // switched off at their call sites (each per-record span then costs one relaxed load).
    let spans_off = (otel.is_none() && !pretty).then(|| filter_fn(|meta| meta.is_event()));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(spans_off)
        .with(otel);
    let installed = if pretty {
        registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stdout))
            .try_init()
    } else {
        // JSON lines carry no span fields, so spans are filtered out of this layer (they still
        // reach the OTLP exporter when there is one).
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_target(true)
                    .with_writer(std::io::stdout)
                    .with_filter(filter_fn(|meta| meta.is_event())),
            )
            .try_init()
    };
    installed.is_ok()
}
