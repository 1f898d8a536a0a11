//! `POST /v1/consumers/{group}/poll`, `/commit` and `/nack`: pull consumption over HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::envelope::Envelope;
use super::problem::Problem;
use super::produce::body;
use super::pull::{CommitOffset, CommitRequest, LeaseError, NackRequest, PollRequest, PullBuffer};
use super::state::{AppState, Consumption};

/// The pull buffer of `group`, or the problem why there is none.
fn buffer<'a>(state: &'a AppState, group: &str) -> Result<&'a PullBuffer, Problem> {
    if group != state.group {
        return Err(Problem::unknown_group(group, &state.group));
    }
    match &state.consumption {
        Consumption::Pull(buffer) => Ok(buffer),
        Consumption::Push(url) => Err(Problem::pull_unavailable(format!(
            "records are pushed to {url} (KAFKA_SIDECAR_DELIVER_URL); unset it to pull"
        ))),
        Consumption::None => Err(Problem::pull_unavailable(
            "no topic is declared as consumed (KAFKA_CONSUMES or KAFKA_TOPIC)",
        )),
    }
}

/// Parses a JSON body; an empty body means `{}`.
fn json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, Problem> {
    let raw = if raw.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        raw
    };
    serde_json::from_slice(raw).map_err(|e| Problem::malformed(e.to_string()))
}

/// The answer of a poll.
#[derive(serde::Serialize)]
struct Polled<'a> {
    /// What the commit or nack of these records names; `null` when there are none.
    lease: Option<String>,
    /// How long the lease lasts from now.
    lease_expires_in_ms: u128,
    records: Vec<Envelope<'a>>,
}

pub(crate) async fn poll(
    State(state): State<Arc<AppState>>,
    Path(group): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let buffer = buffer(&state, &group)?;
    let raw = body(&state, raw)?;
    let request: PollRequest = json(&raw)?;
    request.validate().map_err(Problem::malformed)?;
    if state.is_draining() {
        return Err(Problem::unavailable("the sidecar is shutting down"));
    }
    let leased = buffer
        .poll(
            request.max_records,
            Duration::from_millis(request.timeout_ms),
            state.stopped(),
        )
        .await;
    let polled = Polled {
        lease_expires_in_ms: if leased.lease.is_some() {
            buffer.lease_duration().as_millis()
        } else {
            0
        },
        lease: leased.lease,
        records: leased.records.iter().map(Envelope::of).collect(),
    };
    let body = serde_json::to_vec(&polled).map_err(|e| Problem::produce_failed(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Refuses negative partitions and offsets.
fn check(named: &[CommitOffset]) -> Result<(), Problem> {
    match named.iter().find(|o| o.offset < 0 || o.partition < 0) {
        Some(o) => Err(Problem::malformed(format!(
            "offset {} of {}-{}: partitions and offsets are not negative",
            o.offset, o.topic, o.partition
        ))),
        None => Ok(()),
    }
}

fn leased(result: Result<usize, LeaseError>) -> Result<usize, Problem> {
    result.map_err(|LeaseError::Expired| Problem::lease_expired())
}

pub(crate) async fn commit(
    State(state): State<Arc<AppState>>,
    Path(group): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, Problem> {
    let buffer = buffer(&state, &group)?;
    let raw = body(&state, raw)?;
    let request: CommitRequest = json(&raw)?;
    check(&request.offsets)?;
    let acknowledged = leased(buffer.commit(&request.lease, &request.offsets))?;
    Ok(Json(serde_json::json!({ "acknowledged": acknowledged })))
}

pub(crate) async fn nack(
    State(state): State<Arc<AppState>>,
    Path(group): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, Problem> {
    let buffer = buffer(&state, &group)?;
    let raw = body(&state, raw)?;
    let request: NackRequest = json(&raw)?;
    check(&request.records)?;
    let nacked = leased(buffer.nack(&request))?;
    if nacked > 0 {
        tracing::warn!(
            group = %group,
            records = nacked,
            action = ?request.action,
            reason = request.reason.as_deref().unwrap_or_default(),
            "The app nacked records."
        );
    }
    Ok(Json(serde_json::json!({ "nacked": nacked })))
}
