//! The sidecar's own families, registered on the SDK's registry (one `/metrics`):
//!
//! * `kafkadeps_sidecar_requests_total{route,status_class}` and
//!   `kafkadeps_sidecar_request_duration_seconds{route}`: data-API requests, by route template
//!   (`/v1/topics/{topic}/records`, …, or `unmatched`) and status class (`2xx` … `5xx`);
//! * `kafkadeps_sidecar_pushes_total{topic,status_class}` and
//!   `kafkadeps_sidecar_push_duration_seconds{topic}`: push-mode deliveries to the app, one per
//!   attempt, by consumed topic and the app's status class (`error` when it gave no answer:
//!   refused, reset, timed out).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The families' prefix.
const PREFIX: &str = "kafkadeps_sidecar";

/// The data API's route templates, the `route` label's values (with `unmatched`).
const ROUTES: &[&str] = &[
    "/v1/topics/{topic}/records",
    "/v1/topics/{topic}/events",
    "/v1/consumers/{group}/poll",
    "/v1/consumers/{group}/commit",
    "/v1/consumers/{group}/nack",
    "/v1/shutdown",
    "/openapi.json",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PushLabels {
    topic: String,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

type Durations<L> = Family<L, Histogram, fn() -> Histogram>;

/// 1 ms to ~33 s, doubling.
fn durations() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The sidecar's families.
pub(crate) struct SidecarMetrics {
    requests: Family<RequestLabels, Counter>,
    request_duration: Durations<RouteLabels>,
    pushes: Family<PushLabels, Counter>,
    push_duration: Durations<TopicLabels>,
}

impl SidecarMetrics {
    /// Registers the families on `registry`.
    fn register(registry: &mut Registry) -> Self {
        let m = Self {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(durations),
            pushes: Family::default(),
            push_duration: Family::new_with_constructor(durations),
        };
        registry.register(
            "requests",
            "Data-API requests, by route template and status class",
            m.requests.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Time from a data-API request to its response",
            Unit::Seconds,
            m.request_duration.clone(),
        );
        registry.register(
            "pushes",
            "Push-mode deliveries to the app (one per attempt), by topic and the app's status class",
            m.pushes.clone(),
        );
        registry.register_with_unit(
            "push_duration",
            "Time one push to the app took, to its answer or failure",
            Unit::Seconds,
            m.push_duration.clone(),
        );
        m
    }

    /// The process's, registered on first use (`serve` registers them at start).
    pub(crate) fn global() -> &'static Self {
        static METRICS: OnceLock<SidecarMetrics> = OnceLock::new();
        METRICS.get_or_init(|| {
            kafkadeps::telemetry::register_metrics(|r| {
                Self::register(r.sub_registry_with_prefix(PREFIX))
            })
        })
    }

    /// Counts one push attempt to the app: its answer's status, or `None` for no answer.
    pub(crate) fn pushed(&self, topic: &str, status: Option<StatusCode>, took: Duration) {
        let status_class = status.map_or("error", status_class);
        self.pushes
            .get_or_create(&PushLabels {
                topic: topic.to_owned(),
                status_class,
            })
            .inc();
        self.push_duration
            .get_or_create(&TopicLabels {
                topic: topic.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    fn answered(&self, route: &'static str, status: StatusCode, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route,
                status_class: status_class(status),
            })
            .inc();
        self.request_duration
            .get_or_create(&RouteLabels { route })
            .observe(took.as_secs_f64());
    }
}

/// Middleware counting every data-API request (the outermost layer: a 401, 404 or 413 is
/// counted too).
pub(crate) async fn count_requests(request: Request, next: Next) -> Response {
    let route = route_of(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    SidecarMetrics::global().answered(route, response.status(), started.elapsed());
    response
}

/// The route template `path` matches, or `unmatched` (bounded label values: never the path).
fn route_of(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    ROUTES
        .iter()
        .find(|route| {
            let pattern: Vec<&str> = route.trim_start_matches('/').split('/').collect();
            pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s)
        })
        .copied()
        .unwrap_or("unmatched")
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_route_templates_and_nothing_else() {
        assert_eq!(
            route_of("/v1/topics/orders.v1/records"),
            "/v1/topics/{topic}/records"
        );
        assert_eq!(
            route_of("/v1/consumers/billing/poll"),
            "/v1/consumers/{group}/poll"
        );
        assert_eq!(route_of("/v1/shutdown"), "/v1/shutdown");
        assert_eq!(route_of("/openapi.json"), "/openapi.json");
        assert_eq!(route_of("/v1/topics//records"), "unmatched");
        assert_eq!(route_of("/v1/topics/a/b/records"), "unmatched");
        assert_eq!(route_of("/admin"), "unmatched");
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(StatusCode::ACCEPTED), "2xx");
        assert_eq!(status_class(StatusCode::TOO_MANY_REQUESTS), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
    }
}
