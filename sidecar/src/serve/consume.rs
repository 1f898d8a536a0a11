//! `POST /v1/consumers/{group}/poll` and `/commit`: pull consumption over HTTP.

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
use super::pull::{CommitRequest, PollRequest, PullBuffer};
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
    let records = buffer
        .poll(
            request.max_records,
            Duration::from_millis(request.timeout_ms),
            state.stopped(),
        )
        .await;
    let polled = Polled {
        records: records.iter().map(Envelope::of).collect(),
    };
    let body = serde_json::to_vec(&polled).map_err(|e| Problem::produce_failed(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub(crate) async fn commit(
    State(state): State<Arc<AppState>>,
    Path(group): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, Problem> {
    let buffer = buffer(&state, &group)?;
    let raw = body(&state, raw)?;
    let request: CommitRequest = json(&raw)?;
    if let Some(o) = request
        .offsets
        .iter()
        .find(|o| o.offset < 0 || o.partition < 0)
    {
        return Err(Problem::malformed(format!(
            "offset {} of {}-{}: partitions and offsets are not negative",
            o.offset, o.topic, o.partition
        )));
    }
    let acknowledged = buffer.commit(&request.offsets);
    Ok(Json(serde_json::json!({ "acknowledged": acknowledged })))
}
