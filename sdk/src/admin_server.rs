//! The admin server: `/metrics` (OpenMetrics text), `/livez`, `/readyz`, on `KAFKA_METRICS_LISTEN`
//! (default `0.0.0.0:9464`). One per process, started by the first [`crate::Kafka`].

use std::net::SocketAddr;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::OnceCell;

use crate::telemetry::{encode_metrics, health};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn metrics_handler() -> Response {
    ([(header::CONTENT_TYPE, OPENMETRICS)], encode_metrics()).into_response()
}

async fn livez() -> Response {
    let wedged = health().wedged();
    let status = if wedged.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(serde_json::json!({ "live": wedged.is_empty(), "wedged": wedged })),
    )
        .into_response()
}

async fn readyz() -> Response {
    let r = health().readiness();
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(r)).into_response()
}

/// The admin routes, for embedding into an application's own server.
pub fn router() -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
}

static SERVER: OnceCell<SocketAddr> = OnceCell::const_new();

/// Starts the process's admin server on `addr` once; later calls return the address it is on.
pub(crate) async fn ensure_started(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    SERVER
        .get_or_try_init(|| async move {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let bound = listener.local_addr()?;
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router()).await {
                    tracing::error!(error = %e, "Admin server stopped.");
                }
            });
            tracing::info!(address = %bound, "Admin server listening (/metrics, /livez, /readyz).");
            Ok(bound)
        })
        .await
        .copied()
}

/// The address of the running admin server, if one was started.
pub fn address() -> Option<SocketAddr> {
    SERVER.get().copied()
}
