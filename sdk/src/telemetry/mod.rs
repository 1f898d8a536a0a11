//! Observability: Prometheus metrics, health, structured logs, OpenTelemetry trace propagation
//! and consumer lag. See `docs/observability.md`.

pub(crate) mod clock;
mod duration_histogram;
mod health;
pub(crate) mod lag;
pub mod logging;
mod metrics;
pub(crate) mod propagation;
pub(crate) mod stats;
pub mod trace_context;
mod tracing_export;

pub(crate) use duration_histogram::{DurationHistogram, PendingDurations};
pub use health::{ComponentState, Health, Readiness, health};
pub use metrics::METRIC_FAMILIES;
pub(crate) use metrics::*;

/// The current metrics in OpenMetrics text (what `/metrics` serves).
pub fn encode_metrics() -> String {
    metrics().encode()
}
