//! A client of the Confluent Schema Registry REST API (also served by Apicurio's `ccompat` API):
//! register and look up schemas, fetch writer schemas by id, check compatibility. Ids and
//! schemas are cached. Configured by `KAFKA_SCHEMA_REGISTRY_URL` (and optional
//! `KAFKA_SCHEMA_REGISTRY_USERNAME` / `KAFKA_SCHEMA_REGISTRY_PASSWORD` for basic auth).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use crate::config::Secret;

/// Variable with the registry's base URL.
pub const URL: &str = "KAFKA_SCHEMA_REGISTRY_URL";
/// Variable with the basic-auth user.
pub const USERNAME: &str = "KAFKA_SCHEMA_REGISTRY_USERNAME";
/// Variable with the basic-auth password (redacted everywhere).
pub const PASSWORD: &str = "KAFKA_SCHEMA_REGISTRY_PASSWORD";

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A registry call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry could not be reached.
    #[error("schema registry unreachable")]
    Http(#[source] reqwest::Error),
    /// The registry answered with an error.
    #[error("schema registry refused {what}: {status} {message}")]
    Refused {
        /// The call.
        what: String,
        /// HTTP status.
        status: u16,
        /// The registry's message.
        message: String,
    },
    /// The schema is not compatible with the subject's latest version.
    #[error("schema is not compatible with subject `{subject}`: {reasons}")]
    Incompatible {
        /// Subject.
        subject: String,
        /// The registry's reasons.
        reasons: String,
    },
    /// `KAFKA_SCHEMA_REGISTRY_URL` is not set.
    #[error("KAFKA_SCHEMA_REGISTRY_URL is not set")]
    NotConfigured,
}

#[derive(Debug, Deserialize)]
struct IdResponse {
    id: u32,
}

#[derive(Debug, Deserialize)]
struct SchemaResponse {
    schema: String,
}

#[derive(Debug, Deserialize)]
struct CompatibilityResponse {
    is_compatible: bool,
    #[serde(default)]
    messages: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorResponse {
    #[serde(default)]
    error_code: i64,
    #[serde(default)]
    message: String,
}

/// A registry client. Cheap to clone; clones share the caches.
#[derive(Clone, Debug)]
pub struct SchemaRegistry {
    base: String,
    auth: Option<(String, Secret)>,
    http: reqwest::Client,
    by_id: Arc<Mutex<HashMap<u32, String>>>,
    ids: Arc<Mutex<HashMap<(String, String), u32>>>,
}

impl SchemaRegistry {
    /// A client for the registry at `url` (e.g. `http://schema-registry:8081`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            base: url.into().trim_end_matches('/').to_owned(),
            auth: None,
            http: reqwest::Client::new(),
            by_id: Arc::default(),
            ids: Arc::default(),
        }
    }

    /// From `KAFKA_SCHEMA_REGISTRY_URL` (+ `_USERNAME` / `_PASSWORD`).
    pub fn from_env() -> Result<Self, RegistryError> {
        let url = std::env::var(URL).map_err(|_| RegistryError::NotConfigured)?;
        let mut r = Self::new(url);
        if let (Ok(u), Ok(p)) = (std::env::var(USERNAME), std::env::var(PASSWORD)) {
            r = r.basic_auth(u, Secret::new(p));
        }
        Ok(r)
    }

    /// Uses HTTP basic authentication.
    #[must_use]
    pub fn basic_auth(mut self, user: impl Into<String>, password: Secret) -> Self {
        self.auth = Some((user.into(), password));
        self
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("accept", CONTENT_TYPE);
        if let Some((u, p)) = &self.auth {
            req = req.basic_auth(u, Some(p.expose()));
        }
        req
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<T, RegistryError> {
        let resp = req.send().await.map_err(RegistryError::Http)?;
        let status = resp.status();
        if status.is_success() {
            return resp.json().await.map_err(RegistryError::Http);
        }
        let body = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<ErrorResponse>(&body)
            .map(|e| format!("{} (error {})", e.message, e.error_code))
            .unwrap_or(body);
        Err(RegistryError::Refused {
            what: what.to_owned(),
            status: status.as_u16(),
            message,
        })
    }

    fn body(schema: &str) -> serde_json::Value {
        serde_json::json!({ "schema": schema, "schemaType": "AVRO" })
    }

    /// Registers `schema` under `subject` (or finds it) and returns its id.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let key = (subject.to_owned(), schema.to_owned());
        if let Some(id) = self
            .ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Ok(*id);
        }
        let req = self
            .request(
                reqwest::Method::POST,
                &format!("/subjects/{subject}/versions"),
            )
            .header("content-type", CONTENT_TYPE)
            .json(&Self::body(schema));
        let id = self
            .call::<IdResponse>(&format!("registering under `{subject}`"), req)
            .await?
            .id;
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, id);
        self.by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, schema.to_owned());
        Ok(id)
    }

    /// Checks `schema` against the latest version of `subject`; a subject without versions
    /// accepts anything. The error carries the registry's reasons.
    pub async fn check_compatible(&self, subject: &str, schema: &str) -> Result<(), RegistryError> {
        let req = self
            .request(
                reqwest::Method::POST,
                &format!("/compatibility/subjects/{subject}/versions/latest?verbose=true"),
            )
            .header("content-type", CONTENT_TYPE)
            .json(&Self::body(schema));
        match self
            .call::<CompatibilityResponse>(&format!("the compatibility check for `{subject}`"), req)
            .await
        {
            Ok(c) if c.is_compatible => Ok(()),
            Ok(c) => Err(RegistryError::Incompatible {
                subject: subject.to_owned(),
                reasons: c.messages.join("; "),
            }),
            // 40401 subject / 40402 version not found: nothing to be compatible with yet.
            Err(RegistryError::Refused { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The schema with `id` (cached).
    pub async fn schema(&self, id: u32) -> Result<String, RegistryError> {
        if let Some(s) = self
            .by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
        {
            return Ok(s.clone());
        }
        let req = self.request(reqwest::Method::GET, &format!("/schemas/ids/{id}"));
        let schema = self
            .call::<SchemaResponse>(&format!("schema {id}"), req)
            .await?
            .schema;
        self.by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, schema.clone());
        Ok(schema)
    }
}
