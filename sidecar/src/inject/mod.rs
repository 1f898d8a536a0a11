//! `kafkadeps-sidecar inject`: the mutating admission webhook (`docs/injection.md`).
//!
//! HTTPS on `--listen` with a certificate reloaded when its files change; `POST /mutate` for
//! AdmissionReview `admission.k8s.io/v1`; `/livez`, `/readyz`, `/metrics`.

pub(crate) mod annotations;
mod credentials;
#[cfg(test)]
mod fixtures;
mod patch;
mod review;
mod settings;
mod tls;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::exit;
use review::Outcome;
pub(crate) use settings::InjectArgs;
use settings::InjectorSettings;

/// Largest AdmissionReview accepted (the API server sends at most ~3 MiB objects).
const MAX_BODY: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: Outcome,
}

/// The injector's metrics.
struct Metrics {
    registry: Registry,
    reviews: Family<OutcomeLabels, Counter>,
    duration: Histogram,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let reviews = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "kafkadeps_injector_reviews",
            "AdmissionReviews answered, by outcome (injected|skipped|denied|malformed)",
            reviews.clone(),
        );
        let duration = Histogram::new([0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05]);
        registry.register(
            "kafkadeps_injector_review_duration_seconds",
            "Time to answer one AdmissionReview",
            duration.clone(),
        );
        let info =
            Family::<Vec<(String, String)>, prometheus_client::metrics::gauge::Gauge>::default();
        info.get_or_create(&vec![(
            "version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        )])
        .set(1);
        registry.register(
            "kafkadeps_injector_build_info",
            "Version of the injector",
            info,
        );
        Self {
            registry,
            reviews,
            duration,
        }
    }
}

struct App {
    settings: InjectorSettings,
    metrics: Metrics,
}

async fn mutate(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let started = Instant::now();
    let (response, outcome) = match review::review(&body, &app.settings) {
        Ok((review, outcome)) => (axum::Json(review).into_response(), outcome),
        Err(reason) => {
            tracing::warn!(reason = %reason, "Malformed admission request.");
            (
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(serde_json::json!({ "error": reason })),
                )
                    .into_response(),
                Outcome::malformed,
            )
        }
    };
    app.metrics
        .reviews
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
    app.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &app.metrics.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn ok() -> Response {
    axum::Json(serde_json::json!({ "ready": true })).into_response()
}

/// Runs the webhook until SIGTERM/SIGINT; returns the exit code.
pub(crate) async fn run(args: InjectArgs) -> u8 {
    kafkadeps::telemetry::logging::init_from_env();
    let certs = match tls::Reloading::new(&args.tls_cert, &args.tls_key) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID_DECLARATIONS;
        }
    };
    let config = match certs.server_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: TLS configuration: {e}");
            return exit::SOFTWARE;
        }
    };
    tokio::spawn(Arc::clone(&certs).watch());
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return exit::SOFTWARE;
        }
    };
    let listener = match tls::TlsListener::new(listener, config) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::SOFTWARE;
        }
    };
    let app = Arc::new(App {
        settings: InjectorSettings::from(&args),
        metrics: Metrics::new(),
    });
    let router = Router::new()
        .route("/mutate", post(mutate))
        .route("/metrics", get(metrics))
        .route("/livez", get(ok))
        .route("/readyz", get(ok))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(app);
    tracing::info!(address = %args.listen, "Injector listening (POST /mutate).");
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(kafkadeps::consumer::terminated())
        .await;
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            tracing::error!(error = %e, "Injector server failed.");
            exit::SOFTWARE
        }
    }
}
