//! Names of the environment variables of the `KAFKA_*` contract (documented in
//! `docs/declarations.md`), and reading them from any source with `envy`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Prefix of every variable of the contract.
pub const PREFIX: &str = "KAFKA_";
/// Comma-separated bootstrap brokers (required).
pub const BOOTSTRAP_SERVERS: &str = "KAFKA_BOOTSTRAP_SERVERS";
/// Client id (default: `$HOSTNAME`).
pub const CLIENT_ID: &str = "KAFKA_CLIENT_ID";
/// Logical service name (default: the client id).
pub const APP: &str = "KAFKA_APP";
/// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
pub const SECURITY_PROTOCOL: &str = "KAFKA_SECURITY_PROTOCOL";
/// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `GSSAPI` or `OAUTHBEARER`.
pub const SASL_MECHANISM: &str = "KAFKA_SASL_MECHANISM";
/// SASL user name.
pub const SASL_USERNAME: &str = "KAFKA_SASL_USERNAME";
/// SASL password (redacted everywhere).
pub const SASL_PASSWORD: &str = "KAFKA_SASL_PASSWORD";
/// File holding the SASL password (e.g. a mounted Kubernetes Secret).
pub const SASL_PASSWORD_FILE: &str = "KAFKA_SASL_PASSWORD_FILE";
/// CA certificate(s) to verify brokers.
pub const SSL_CA_LOCATION: &str = "KAFKA_SSL_CA_LOCATION";
/// Client certificate for mutual TLS.
pub const SSL_CERTIFICATE_LOCATION: &str = "KAFKA_SSL_CERTIFICATE_LOCATION";
/// Client key for mutual TLS.
pub const SSL_KEY_LOCATION: &str = "KAFKA_SSL_KEY_LOCATION";
/// Single-topic form: the service produces to and consumes from this topic.
pub const TOPIC: &str = "KAFKA_TOPIC";
/// Topics the service writes.
pub const PRODUCES: &str = "KAFKA_PRODUCES";
/// Topics the service reads.
pub const CONSUMES: &str = "KAFKA_CONSUMES";
/// Consumer group (default: the app name).
pub const GROUP_ID: &str = "KAFKA_GROUP_ID";
/// Settings applied to every declared topic unless it overrides them.
pub const TOPIC_DEFAULTS: &str = "KAFKA_TOPIC_DEFAULTS";
/// `create` (default), `reconcile` or `verify`.
pub const TOPIC_POLICY: &str = "KAFKA_TOPIC_POLICY";
/// `strict` (default) or `clamp`: what to do when replicas exceed the broker count.
pub const TOPIC_REPLICAS: &str = "KAFKA_TOPIC_REPLICAS";
/// `strict` (default) or `relaxed`: whether client properties may weaken durability.
pub const DURABILITY: &str = "KAFKA_DURABILITY";
/// Prefix of the escape hatch to librdkafka properties (`KAFKA_CLIENT_LINGER_MS` → `linger.ms`).
pub const CLIENT_PROPERTY_PREFIX: &str = "KAFKA_CLIENT_";
/// Static group membership instance id (optional).
pub const GROUP_INSTANCE_ID: &str = "KAFKA_GROUP_INSTANCE_ID";
/// Admin server address (`/metrics`, `/livez`, `/readyz`): `host:port` or `off`.
pub const METRICS_LISTEN: &str = "KAFKA_METRICS_LISTEN";
/// `true` to export per-partition lag series as well as per-topic ones.
pub const METRICS_PARTITION_LAG: &str = "KAFKA_METRICS_PARTITION_LAG";
/// How long start-up keeps trying to ensure topics while the cluster is unavailable.
pub const ENSURE_TIMEOUT: &str = "KAFKA_ENSURE_TIMEOUT";
/// The host name, the default client id.
pub const HOSTNAME: &str = "HOSTNAME";

/// The raw text of every variable of the contract, as read from a source.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct RawVars {
    pub(crate) bootstrap_servers: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) app: Option<String>,
    pub(crate) security_protocol: Option<String>,
    pub(crate) sasl_mechanism: Option<String>,
    pub(crate) sasl_username: Option<String>,
    #[serde(skip)]
    pub(crate) sasl_password: Option<super::Secret>,
    pub(crate) sasl_password_file: Option<String>,
    pub(crate) ssl_ca_location: Option<String>,
    pub(crate) ssl_certificate_location: Option<String>,
    pub(crate) ssl_key_location: Option<String>,
    pub(crate) topic: Option<String>,
    pub(crate) produces: Option<String>,
    pub(crate) consumes: Option<String>,
    pub(crate) group_id: Option<String>,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) topic_defaults: Option<String>,
    pub(crate) topic_policy: Option<String>,
    pub(crate) topic_replicas: Option<String>,
    pub(crate) durability: Option<String>,
    pub(crate) metrics_listen: Option<String>,
    pub(crate) ensure_timeout: Option<String>,
    pub(crate) metrics_partition_lag: Option<String>,
    #[serde(skip)]
    pub(crate) hostname: Option<String>,
    /// `KAFKA_CLIENT_<PROPERTY>` entries: (variable name, value).
    #[serde(skip)]
    pub(crate) client_properties: BTreeMap<String, String>,
}

impl RawVars {
    /// Reads the contract from `(name, value)` pairs; unrelated variables are ignored.
    pub(crate) fn from_pairs<I>(vars: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        // The last occurrence of a name wins, as when a map of variables is built.
        let pairs: std::collections::BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with(PREFIX) || k == HOSTNAME)
            // Blank variables count as unset, as in a Helm chart rendering `value: ""`.
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        let mut raw: RawVars = envy::prefixed(PREFIX)
            .from_iter(
                pairs
                    .iter()
                    .filter(|(k, _)| k.as_str() != SASL_PASSWORD)
                    .map(|(k, v)| (k.clone(), v.clone())),
            )
            .map_err(|e| e.to_string())?;
        for (k, v) in pairs {
            if k == SASL_PASSWORD {
                raw.sasl_password = Some(super::Secret::new(v));
            } else if k == HOSTNAME {
                raw.hostname = Some(v);
            } else if k.starts_with(CLIENT_PROPERTY_PREFIX) && k != CLIENT_ID {
                raw.client_properties.insert(k, v);
            }
        }
        Ok(raw)
    }
}
