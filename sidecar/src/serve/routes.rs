//! The data API's routes (documented in `sidecar/openapi.json`, served at `/openapi.json`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, OriginalUri, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::consume;
use super::problem::Problem;
use super::produce;
use super::state::AppState;

/// The OpenAPI 3 document of this API, kept in the repository.
pub(crate) const OPENAPI: &str = include_str!("../../openapi.json");

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let limit = state.options.max_body_bytes;
    Router::new()
        .route("/v1/topics/{topic}/records", post(produce::records))
        .route("/v1/topics/{topic}/events", post(produce::events))
        .route("/v1/consumers/{group}/poll", post(consume::poll))
        .route("/v1/consumers/{group}/commit", post(consume::commit))
        .route("/v1/consumers/{group}/nack", post(consume::nack))
        .route("/v1/shutdown", post(shutdown))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Starts the graceful drain; only from the pod itself (a `preStop` hook).
async fn shutdown(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<StatusCode, Problem> {
    if !peer.ip().is_loopback() {
        return Err(Problem::forbidden(
            "shutdown is accepted only from the pod's loopback",
        ));
    }
    state.request_shutdown("POST /v1/shutdown");
    Ok(StatusCode::ACCEPTED)
}

async fn not_found(OriginalUri(uri): OriginalUri) -> Problem {
    Problem::no_route(uri.path())
}

async fn method_not_allowed() -> Problem {
    Problem::method_not_allowed()
}
