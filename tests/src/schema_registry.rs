//! A test fixture serving the documented subset of the Confluent Schema Registry REST API, used
//! because no Confluent-compatible registry installs from the package registries here (Apicurio's
//! runtime dependencies are not on Maven Central; Karapace is not on PyPI). It speaks real HTTP
//! to both kafkadeps and confluent-kafka's Python client:
//!
//! * `POST /subjects/{subject}/versions` — register (idempotent; BACKWARD compatibility enforced, 409 otherwise)
//! * `GET /schemas/ids/{id}` — a schema by id
//! * `POST /compatibility/subjects/{subject}/versions/latest` — BACKWARD check with reasons
//! * `GET /subjects/{subject}/versions/latest`
//!
//! Compatibility is decided by apache-avro's schema resolution rules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

#[derive(Default)]
struct Registry {
    schemas: Vec<String>,
    subjects: HashMap<String, Vec<u32>>,
}

type Shared = Arc<Mutex<Registry>>;

fn error(status: StatusCode, code: u32, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error_code": code, "message": message.into()})),
    )
        .into_response()
}

#[allow(clippy::result_large_err)]
fn parse(body: &Value) -> Result<(String, Schema), Response> {
    let text = body["schema"]
        .as_str()
        .ok_or_else(|| error(StatusCode::UNPROCESSABLE_ENTITY, 42201, "missing schema"))?;
    let schema = Schema::parse_str(text).map_err(|e| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            42201,
            format!("Invalid schema: {e}"),
        )
    })?;
    let text = serde_json::to_string(&schema)
        .map_err(|e| error(StatusCode::UNPROCESSABLE_ENTITY, 42201, e.to_string()))?;
    Ok((text, schema))
}

/// Why `new` cannot read what `latest` wrote (BACKWARD), if it cannot.
fn incompatibility(reg: &Registry, subject: &str, new: &Schema) -> Option<String> {
    let latest = *reg.subjects.get(subject)?.last()?;
    let old = Schema::parse_str(&reg.schemas[latest as usize - 1]).ok()?;
    SchemaCompatibility::can_read(&old, new)
        .err()
        .map(|e| e.to_string())
}

async fn register(
    State(reg): State<Shared>,
    Path(subject): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let (canonical, schema) = match parse(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut reg = reg
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let existing = reg
        .schemas
        .iter()
        .position(|s| *s == canonical)
        .map(|i| i as u32 + 1);
    if let Some(id) =
        existing.filter(|id| reg.subjects.get(&subject).is_some_and(|v| v.contains(id)))
    {
        return Json(json!({"id": id})).into_response();
    }
    if let Some(reason) = incompatibility(&reg, &subject, &schema) {
        return error(
            StatusCode::CONFLICT,
            409,
            format!(
                "Schema being registered is incompatible with an earlier schema for subject \"{subject}\": {reason}"
            ),
        );
    }
    let id = match existing {
        Some(id) => id,
        None => {
            reg.schemas.push(canonical);
            reg.schemas.len() as u32
        }
    };
    reg.subjects.entry(subject).or_default().push(id);
    Json(json!({"id": id})).into_response()
}

async fn by_id(State(reg): State<Shared>, Path(id): Path<u32>) -> Response {
    let reg = reg
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match reg.schemas.get((id as usize).wrapping_sub(1)) {
        Some(s) => Json(json!({"schema": s, "schemaType": "AVRO"})).into_response(),
        None => error(StatusCode::NOT_FOUND, 40403, "Schema not found"),
    }
}

async fn compatibility(
    State(reg): State<Shared>,
    Path(subject): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let (_, schema) = match parse(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let reg = reg
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !reg.subjects.contains_key(&subject) {
        return error(
            StatusCode::NOT_FOUND,
            40401,
            format!("Subject '{subject}' not found."),
        );
    }
    match incompatibility(&reg, &subject, &schema) {
        None => Json(json!({"is_compatible": true})).into_response(),
        Some(reason) => Json(json!({"is_compatible": false, "messages": [reason]})).into_response(),
    }
}

async fn latest(State(reg): State<Shared>, Path(subject): Path<String>) -> Response {
    let reg = reg
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match reg
        .subjects
        .get(&subject)
        .and_then(|v| v.last().map(|id| (v.len(), *id)))
    {
        Some((version, id)) => Json(json!({"subject": subject, "version": version, "id": id,
            "schema": reg.schemas[id as usize - 1], "schemaType": "AVRO"}))
        .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            40401,
            format!("Subject '{subject}' not found."),
        ),
    }
}

/// Starts the registry on an ephemeral loopback port; returns its base URL.
pub async fn start() -> String {
    let state: Shared = Arc::default();
    let app = Router::new()
        .route("/subjects/{subject}/versions", post(register))
        .route("/subjects/{subject}/versions/latest", get(latest))
        .route("/schemas/ids/{id}", get(by_id))
        .route(
            "/compatibility/subjects/{subject}/versions/latest",
            post(compatibility),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind registry");
    let addr = listener.local_addr().expect("registry address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}
