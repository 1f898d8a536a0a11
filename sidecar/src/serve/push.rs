//! Push consumption: every record is POSTed to `{KAFKA_SIDECAR_DELIVER_URL}/{topic}` through the
//! SDK's consumer runtime, which keeps per-partition order, retries and dead-letters.
//!
//! * 2xx: processed (committed per the runtime's rules).
//! * 429, 5xx, timeouts: retried with backoff, in order, up to `KAFKA_SIDECAR_DELIVER_ATTEMPTS`,
//!   then dead-lettered.
//! * Other statuses: dead-lettered at once.
//! * The app not listening (connection refused): waited for, without spending attempts — the
//!   app may start after its sidecar.
//!
//! Each push carries the record's trace as W3C `traceparent` / `tracestate` headers: the
//! context of the runtime's `process` span when spans are recorded, else the record's own
//! headers unchanged.

use std::time::Duration;

use axum::http::header::{self, HeaderName, HeaderValue};
use kafkadeps::telemetry::trace_context;
use kafkadeps::{HandlerError, Record};
use tokio::sync::Semaphore;

use super::envelope::Envelope;
use super::metrics::SidecarMetrics;

/// First and largest wait while the app is not listening.
const CONNECT_BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// Delivers records to the app over HTTP.
#[derive(Debug)]
pub(crate) struct Pusher {
    client: reqwest::Client,
    base: reqwest::Url,
    inflight: Semaphore,
    timeout: Duration,
}

impl Pusher {
    pub(crate) fn new(
        base: reqwest::Url,
        max_inflight: usize,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(max_inflight)
            .build()?;
        Ok(Self {
            client,
            base,
            inflight: Semaphore::new(max_inflight),
            timeout,
        })
    }

    /// `{base}/{topic}`, with the topic as one escaped path segment.
    fn url(&self, topic: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(topic);
        }
        url
    }

    /// Delivers one record; the error says whether to retry. `stopping` ends the wait for an app
    /// that does not listen.
    pub(crate) async fn deliver(
        &self,
        record: &Record,
        stopping: impl Fn() -> bool,
    ) -> Result<(), HandlerError> {
        let (body, content_type) = if record.is_cloud_event() {
            let event = record.cloud_event()?;
            (serde_json::to_vec(&event), "application/cloudevents+json")
        } else {
            (
                serde_json::to_vec(&Envelope::of(record)),
                "application/json",
            )
        };
        let body = body.map_err(HandlerError::permanent)?;
        let url = self.url(record.topic());
        // The handler runs in the record's `process` span. A record's header that is no valid
        // HTTP header value is left out: a bad trace header must not fail the delivery.
        let trace: Vec<(HeaderName, HeaderValue)> =
            trace_context::outgoing(&tracing::Span::current(), record.headers())
                .into_iter()
                .filter_map(|(name, value)| {
                    Some((
                        HeaderName::from_bytes(name.as_bytes()).ok()?,
                        HeaderValue::from_bytes(&value).ok()?,
                    ))
                })
                .collect();
        let mut wait = CONNECT_BACKOFF.0;
        loop {
            let sent = {
                let _permit = self
                    .inflight
                    .acquire()
                    .await
                    .map_err(HandlerError::retryable)?;
                let request = trace.iter().fold(
                    self.client
                        .post(url.clone())
                        .header(header::CONTENT_TYPE, content_type)
                        .header("kafka-topic", record.topic())
                        .header("kafka-partition", record.partition())
                        .header("kafka-offset", record.offset()),
                    |request, (name, value)| request.header(name.clone(), value.clone()),
                );
                let started = std::time::Instant::now();
                let result = request
                    .body(body.clone())
                    .timeout(self.timeout)
                    .send()
                    .await;
                let answer = match result {
                    Ok(response) => {
                        let status = response.status();
                        // Read the body so the connection can be reused.
                        let _ = response.bytes().await;
                        Ok(status)
                    }
                    Err(e) => Err(e),
                };
                SidecarMetrics::global().pushed(
                    record.topic(),
                    answer.as_ref().ok().copied(),
                    started.elapsed(),
                );
                answer
            };
            match sent {
                Ok(status) if status.is_success() => return Ok(()),
                Ok(status) if status.as_u16() == 429 || status.is_server_error() => {
                    return Err(HandlerError::retryable(format!(
                        "the app answered {status}"
                    )));
                }
                Ok(status) => {
                    return Err(HandlerError::permanent(format!(
                        "the app answered {status}"
                    )));
                }
                Err(e) if e.is_connect() && !stopping() => {
                    tracing::warn!(url = %url, retry_in = ?wait, "The app does not accept connections yet; waiting.");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(CONNECT_BACKOFF.1);
                }
                Err(e) => return Err(HandlerError::retryable(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_becomes_one_path_segment() {
        let base = |u: &str| {
            Pusher::new(reqwest::Url::parse(u).unwrap(), 1, Duration::from_secs(1)).unwrap()
        };
        assert_eq!(
            base("http://127.0.0.1:8080/kafka")
                .url("orders.v1")
                .as_str(),
            "http://127.0.0.1:8080/kafka/orders.v1"
        );
        assert_eq!(
            base("http://127.0.0.1:8080/kafka/").url("a/b").as_str(),
            "http://127.0.0.1:8080/kafka/a%2Fb"
        );
        assert_eq!(
            base("http://127.0.0.1:8080").url("t").as_str(),
            "http://127.0.0.1:8080/t"
        );
    }
}
