//! The data API's routes (documented in `sidecar/openapi.json`, served at `/openapi.json`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, OriginalUri, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::consume;
use super::metrics;
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
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            authorize,
        ))
        .layer(middleware::from_fn(metrics::count_requests))
        .with_state(state)
}

/// With `KAFKA_SIDECAR_TOKEN_FILE`, every request must carry `Authorization: Bearer <token>`;
/// others get a 401 problem.
async fn authorize(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(token) = &state.options.token else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(p) if same_secret(p.as_bytes(), token.expose().as_bytes()) => next.run(request).await,
        Some(_) => {
            Problem::unauthorized("the bearer token is not the one in KAFKA_SIDECAR_TOKEN_FILE")
                .into_response()
        }
        None => Problem::unauthorized(
            "this sidecar requires `Authorization: Bearer <token>` (KAFKA_SIDECAR_TOKEN_FILE)",
        )
        .into_response(),
    }
}

/// Compares in time independent of where the inputs differ (no timing hints to a guesser).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
