//! Observability: Prometheus metrics, health, structured logs, OpenTelemetry trace propagation
//! and consumer lag. See `docs/observability.md`.

pub(crate) mod clock;
mod duration_histogram;
mod health;
pub mod lag;
pub(crate) mod lag_sampler;
pub mod logging;
pub(crate) mod metrics;
pub(crate) mod propagation;
pub(crate) mod stats;
pub mod trace_context;
mod tracing_export;

pub(crate) use duration_histogram::{DurationHistogram, PendingDurations};
pub use health::{ComponentState, Health, Readiness, health};
pub use metrics::{METRIC_FAMILIES, PREFIX, encode_metrics, register_metrics};
pub(crate) use metrics::{ServiceMetrics, TopicLabels, register_component};
/// The `prometheus-client` kafkadeps registers its families with, for
/// [`register_metrics`] (the same version, so its types fit).
pub use prometheus_client;
