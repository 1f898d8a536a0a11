//! Errors of the data API as RFC 9457 problem details (`application/problem+json`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Base of the `type` URIs; the part after it names the problem (documented in the OpenAPI
/// document and `docs/sidecar.md`).
const TYPE_BASE: &str = "https://kafkadeps.io/problems/";

/// Seconds a client should wait before retrying a 503.
pub(crate) const RETRY_AFTER_SECONDS: u64 = 1;

/// One failed request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    #[serde(serialize_with = "status_code")]
    status: StatusCode,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    offsets: Option<serde_json::Value>,
}

fn status_code<S: serde::Serializer>(s: &StatusCode, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_u16(s.as_u16())
}

impl Problem {
    fn new(status: StatusCode, name: &str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("{TYPE_BASE}{name}"),
            title,
            status,
            detail: detail.into(),
            offsets: None,
        }
    }

    /// 400: the body is not what the operation accepts.
    pub(crate) fn malformed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
            detail,
        )
    }
    /// 404: the topic is not declared as produced by this pod.
    pub(crate) fn undeclared_topic(topic: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "undeclared-topic",
            "Topic not declared",
            format!(
                "topic `{topic}` is not declared as produced; add it to KAFKA_PRODUCES (or KAFKA_TOPIC)"
            ),
        )
    }
    /// 404: the consumer group is not this pod's.
    pub(crate) fn unknown_group(group: &str, declared: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown-group",
            "Consumer group not declared",
            format!("group `{group}` is not the declared group `{declared}` (KAFKA_GROUP_ID)"),
        )
    }
    /// 404: no such route.
    pub(crate) fn no_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("no operation at `{path}`; see /openapi.json"),
        )
    }
    /// 405: the route exists with another method.
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this path takes another method; see /openapi.json",
        )
    }
    /// 409: pull consumption while records are pushed, or nothing is consumed.
    pub(crate) fn pull_unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "pull-unavailable",
            "Pull consumption unavailable",
            detail,
        )
    }
    /// 409: a commit or nack names a lease that expired (its records are handed out again) or
    /// that this sidecar process never handed out.
    pub(crate) fn lease_expired() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "lease-expired",
            "Lease expired",
            "the lease expired or is not this sidecar's: its unacknowledged records are handed out again by the next poll (KAFKA_SIDECAR_PULL_LEASE)",
        )
    }
    /// 422: an `Idempotency-Key` already used for another request within the window.
    pub(crate) fn idempotency_key_reused(key: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency key reused",
            format!(
                "Idempotency-Key `{key}` was used for another request within KAFKA_SIDECAR_IDEMPOTENCY_WINDOW; use a new key for a new request"
            ),
        )
    }
    /// 403: the operation is reserved to the pod's own loopback.
    /// 401: the bearer token is missing or wrong (`KAFKA_SIDECAR_TOKEN_FILE`).
    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    }
    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }
    /// 413: the body is over `KAFKA_SIDECAR_MAX_BODY_BYTES`.
    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Request body too large",
            format!("the body is over the limit of {limit} bytes (KAFKA_SIDECAR_MAX_BODY_BYTES)"),
        )
    }
    /// 415: a content type the operation does not read.
    pub(crate) fn unsupported_media(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        )
    }
    /// 503: not ready yet, draining, or the cluster is unavailable; retry after a second.
    pub(crate) fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
    }
    /// 500: a record was refused by Kafka for a reason retrying will not fix.
    pub(crate) fn produce_failed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "produce-failed",
            "Records not acknowledged",
            detail,
        )
    }

    /// Attaches the per-record outcome of a partly failed produce request.
    pub(crate) fn with_offsets(mut self, offsets: serde_json::Value) -> Self {
        self.offsets = Some(offsets);
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            )],
            body,
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_rfc_9457() {
        let p = Problem::undeclared_topic("x");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["status"], 404);
        assert_eq!(v["type"], "https://kafkadeps.io/problems/undeclared-topic");
        assert!(v["detail"].as_str().unwrap().contains("`x`"));
        assert!(v.get("offsets").is_none());
    }

    #[test]
    fn unavailable_says_when_to_retry() {
        let r = Problem::unavailable("starting").into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
