//! `POST /v1/topics/{topic}/records` and `POST /v1/topics/{topic}/events`: answered only once
//! every record is acknowledged by all in-sync replicas; with an `Idempotency-Key`, written once
//! however often the request is repeated (see [`idempotency`]).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use kafkadeps::codec::cloudevents::Mode;
use kafkadeps::producer::SendFuture;
use kafkadeps::telemetry::trace_context;
use kafkadeps::{OutgoingRecord, ProduceError, Producer};
use serde::Deserialize;
use tracing::{Instrument, Span};

use super::chain;
use super::envelope::{Offset, ProduceRequest};
use super::idempotency::{self, Begin, Failure, Fingerprint, Outcomes};
use super::problem::Problem;
use super::state::AppState;

/// The time spent waiting for Kafka's acknowledgements, as a W3C Server-Timing header
/// (`kafka;dur=<ms>`): a request's latency minus this is what the sidecar itself added.
pub(crate) type Timed<T> = ([(HeaderName, String); 1], T);

fn timed<T>(since: Instant, body: T) -> Timed<T> {
    let ms = since.elapsed().as_secs_f64() * 1000.0;
    (
        [(
            HeaderName::from_static("server-timing"),
            format!("kafka;dur={ms:.3};desc=\"acks=all\""),
        )],
        body,
    )
}

/// Records accepted in one request.
pub(crate) const MAX_RECORDS_PER_REQUEST: usize = 10_000;

/// The body, or 413 / 400 as problem details.
pub(crate) fn body(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, Problem> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::too_large(state.options.max_body_bytes)
        } else {
            Problem::malformed(rejection.body_text())
        }
    })
}

/// `{"offsets": [...]}` of a fully acknowledged request.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Offsets {
    offsets: Vec<Offset>,
}

/// A produce request's trace: the span its sends run in, continuing the caller's trace (its
/// `traceparent` and `tracestate` request headers) when spans are recorded. When they are not,
/// the caller's trace headers, to pass on in the records ([`RequestTrace::carry`]), so the trace
/// goes through the sidecar unchanged. See `docs/sidecar.md`.
struct RequestTrace<'a> {
    span: Span,
    pass_on: Vec<(&'static str, &'a [u8])>,
}

impl<'a> RequestTrace<'a> {
    fn of(route: &'static str, topic: &str, http: &'a HeaderMap) -> Self {
        let span = tracing::info_span!(
            "produce request",
            otel.name = %format_args!("POST {route}"),
            otel.kind = "server",
            http.route = route,
            topic,
        );
        let incoming: Vec<(&'static str, &[u8])> = trace_context::HEADERS
            .iter()
            .filter_map(|name| http.get(*name).map(|v| (*name, v.as_bytes())))
            .collect();
        let continued =
            !incoming.is_empty() && trace_context::continue_trace(&span, incoming.iter().copied());
        Self {
            span,
            pass_on: if continued { Vec::new() } else { incoming },
        }
    }

    /// `record` with the caller's trace headers when they pass on, unless it carries a
    /// `traceparent` of its own.
    fn carry(&self, record: OutgoingRecord) -> OutgoingRecord {
        if own_trace(&record).is_some() {
            return record;
        }
        self.pass_on.iter().fold(record, |record, (name, value)| {
            record.with_header(*name, value)
        })
    }
}

/// Starts sending `record` in the request's span — or, when it carries a trace context of its
/// own, in a span continuing that trace: a record's own trace wins over the request's.
fn send_traced<'p>(
    request: &Span,
    producer: &'p Producer,
    record: OutgoingRecord,
) -> SendFuture<'p> {
    // A send starts when called: its span's parent is the span current then.
    match own_trace(&record) {
        Some(own) if !request.is_disabled() => {
            let span = tracing::info_span!(parent: None, "produce record", otel.kind = "internal");
            trace_context::continue_trace(&span, own);
            span.in_scope(|| producer.send(record))
        }
        _ => request.in_scope(|| producer.send(record)),
    }
}

/// The W3C trace-context headers a record carries itself, if it has a `traceparent`.
fn own_trace(record: &OutgoingRecord) -> Option<Vec<(&str, &[u8])>> {
    let trace: Vec<(&str, &[u8])> = record
        .headers()
        .iter()
        .filter(|(name, _)| trace_context::HEADERS.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str(), value.as_slice()))
        .collect();
    trace
        .iter()
        .any(|(name, _)| *name == "traceparent")
        .then_some(trace)
}

pub(crate) async fn records(
    State(state): State<Arc<AppState>>,
    Path(topic): Path<String>,
    http: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    if !state.produces(&topic) {
        return Err(Problem::undeclared_topic(&topic));
    }
    let raw = body(&state, raw)?;
    let request: ProduceRequest =
        serde_json::from_slice(&raw).map_err(|e| Problem::malformed(e.to_string()))?;
    if request.records.is_empty() {
        return Err(Problem::malformed("`records` is empty"));
    }
    if request.records.len() > MAX_RECORDS_PER_REQUEST {
        return Err(Problem::malformed(format!(
            "{} records in one request; at most {MAX_RECORDS_PER_REQUEST}",
            request.records.len()
        )));
    }
    let outgoing = request
        .records
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.into_outgoing(&topic, i))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Problem::malformed)?;
    const ROUTE: &str = "/v1/topics/{topic}/records";
    let key = idempotency::parse_key(&http).map_err(Problem::malformed)?;
    let fingerprint = key.as_ref().map(|_| {
        state
            .idempotency
            .fingerprint([ROUTE.as_bytes(), topic.as_bytes(), &raw[..]])
    });
    let trace = RequestTrace::of(ROUTE, &topic, &http);
    let outgoing = outgoing.into_iter().map(|r| trace.carry(r)).collect();
    produce(&state, key.zip(fingerprint), outgoing, trace.span).await
}

/// Produces the records of one request (in request order) and answers: once per idempotency
/// key and fingerprint when the request has one.
async fn produce(
    state: &Arc<AppState>,
    key: Option<(String, Fingerprint)>,
    records: Vec<OutgoingRecord>,
    span: Span,
) -> Result<Response, Problem> {
    let Some((key, fingerprint)) = key else {
        let producer = state.producer()?;
        let since = Instant::now();
        let outcomes = send_missing(&producer, &span, records, None).await;
        return answer(&outcomes, false).map(|o| timed(since, Json(o)).into_response());
    };
    loop {
        match state.idempotency.begin(&key, fingerprint) {
            Begin::Conflict => return Err(Problem::idempotency_key_reused(&key)),
            Begin::Replay(outcomes) => {
                let offsets = answer(&outcomes, true)?;
                return Ok((
                    [(
                        HeaderName::from_static(idempotency::REPLAYED_HEADER),
                        "true",
                    )],
                    Json(offsets),
                )
                    .into_response());
            }
            Begin::Wait(mut first) => {
                // Ends with the first request's outcome, or when it ended without one.
                let _ = first.wait_for(Option::is_some).await;
            }
            Begin::Execute { previous, slot } => {
                // Dropping the slot (not ready, draining) forgets the attempt.
                let producer = state.producer()?;
                let since = Instant::now();
                // Its own task: a client giving up does not cancel the sends or their record.
                let task = tokio::spawn(async move {
                    let outcomes =
                        send_missing(&producer, &span, records, previous.as_deref()).await;
                    slot.complete(outcomes)
                });
                let outcomes = task.await.map_err(|e| {
                    Problem::produce_failed(format!("the produce task failed: {e}"))
                })?;
                return answer(&outcomes, true).map(|o| timed(since, Json(o)).into_response());
            }
        }
    }
}

/// Sends concurrently (ordered per key by the producer) the records that have no offset in
/// `previous`; each record's outcome, in request order.
async fn send_missing(
    producer: &Producer,
    span: &Span,
    records: Vec<OutgoingRecord>,
    previous: Option<&Outcomes>,
) -> Outcomes {
    let sends: Vec<_> = records
        .into_iter()
        .enumerate()
        .map(|(i, record)| match previous.and_then(|p| p.get(i)) {
            Some(Ok(stored)) => futures::future::Either::Left(std::future::ready(Ok(*stored))),
            _ => futures::future::Either::Right(send_traced(span, producer, record).map(|sent| {
                sent.map(|d| Offset {
                    partition: d.partition,
                    offset: d.offset,
                })
                .map_err(|e| Failure {
                    message: chain(&e),
                    retriable: e.is_retriable(),
                })
            })),
        })
        .collect();
    futures::future::join_all(sends)
        .instrument(span.clone())
        .await
}

/// The answer to a request whose records had `outcomes`: their offsets, or the problem with
/// each record's outcome.
fn answer(outcomes: &Outcomes, keyed: bool) -> Result<Offsets, Problem> {
    if outcomes.iter().all(Result::is_ok) {
        return Ok(Offsets {
            offsets: outcomes.iter().flatten().copied().collect(),
        });
    }
    let failures = || outcomes.iter().filter_map(|o| o.as_ref().err());
    let retriable = failures().any(|f| f.retriable);
    let first_error = failures()
        .next()
        .map(|f| f.message.as_str())
        .unwrap_or_default();
    let outcome: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| match o {
            Ok(d) => serde_json::json!({ "partition": d.partition, "offset": d.offset }),
            Err(f) => serde_json::json!({ "error": f.message }),
        })
        .collect();
    let retry = if keyed {
        "retrying with the same Idempotency-Key sends only the failed ones"
    } else {
        "the others are stored, so a retry may duplicate them (an Idempotency-Key avoids that)"
    };
    let detail = format!(
        "{} of {} record(s) not acknowledged (first: {first_error}); {retry}",
        failures().count(),
        outcome.len()
    );
    let problem = if retriable {
        Problem::unavailable(detail)
    } else {
        Problem::produce_failed(detail)
    };
    Err(problem.with_offsets(serde_json::Value::Array(outcome)))
}

/// `?mode=binary|structured`: how the CloudEvent is laid out on Kafka.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventQuery {
    #[serde(default)]
    mode: Option<String>,
}

pub(crate) async fn events(
    State(state): State<Arc<AppState>>,
    Path(topic): Path<String>,
    query: Result<Query<EventQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    if !state.produces(&topic) {
        return Err(Problem::undeclared_topic(&topic));
    }
    let Query(query) = query.map_err(|e| Problem::malformed(e.body_text()))?;
    let mode = match query.mode.as_deref() {
        None | Some("binary") => Mode::Binary,
        Some("structured") => Mode::Structured,
        Some(other) => {
            return Err(Problem::malformed(format!(
                "mode `{other}`: expected `binary` or `structured`"
            )));
        }
    };
    let raw = body(&state, raw)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/cloudevents-batch") {
        return Err(Problem::unsupported_media(
            "batched CloudEvents are not accepted; send one event per request",
        ));
    }
    let event = cloudevents::binding::http::to_event(&headers, raw.to_vec()).map_err(|e| {
        Problem::malformed(format!(
            "not a CloudEvent in the HTTP binary or structured mode: {e}"
        ))
    })?;
    let record = OutgoingRecord::cloud_event(topic.as_str(), event, mode).map_err(|source| {
        Problem::malformed(chain(&ProduceError::Encode {
            topic: topic.clone(),
            source,
        }))
    })?;
    const ROUTE: &str = "/v1/topics/{topic}/events";
    let key = idempotency::parse_key(&headers).map_err(Problem::malformed)?;
    let fingerprint = key.as_ref().map(|_| {
        // What shapes the record: the mode, and the event's headers (binary mode) and body.
        let mut shaping: Vec<(&str, &[u8])> = headers
            .iter()
            .filter(|(name, _)| *name == header::CONTENT_TYPE || name.as_str().starts_with("ce-"))
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        shaping.sort_unstable();
        let mode = query.mode.as_deref().unwrap_or("binary").as_bytes();
        state.idempotency.fingerprint(
            [ROUTE.as_bytes(), topic.as_bytes(), mode, &raw[..]]
                .into_iter()
                .chain(shaping.iter().flat_map(|(n, v)| [n.as_bytes(), *v])),
        )
    });
    let trace = RequestTrace::of(ROUTE, &topic, &headers);
    let record = trace.carry(record);
    produce(&state, key.zip(fingerprint), vec![record], trace.span).await
}
