//! Names of the environment variables of the `KAFKA_*` contract (documented in
//! `docs/declarations.md`), and reading them from an [`Env`](super::Env) with `envy`.

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
/// `classic` (default), `consumer` (KIP-848, where the cluster serves it) or `auto`.
pub const GROUP_PROTOCOL: &str = "KAFKA_GROUP_PROTOCOL";
/// `in-place` (default) or `park`: how a consumer retries records that failed retryably.
pub const RETRY_MODE: &str = "KAFKA_RETRY_MODE";
/// `throughput` (default, `linger.ms=20`) or `latency` (`linger.ms=0`).
pub const PRODUCER_PROFILE: &str = "KAFKA_PRODUCER_PROFILE";
/// Static group membership instance id (optional).
pub const GROUP_INSTANCE_ID: &str = "KAFKA_GROUP_INSTANCE_ID";
/// Admin server address (`/metrics`, `/livez`, `/readyz`): `host:port` or `off`.
pub const METRICS_LISTEN: &str = "KAFKA_METRICS_LISTEN";
/// `true` to export per-partition lag series as well as per-topic ones.
pub const METRICS_PARTITION_LAG: &str = "KAFKA_METRICS_PARTITION_LAG";
/// How long start-up keeps trying to ensure topics while the cluster is unavailable.
pub const ENSURE_TIMEOUT: &str = "KAFKA_ENSURE_TIMEOUT";
/// `json` (default) or `pretty` logs on stdout.
pub const LOG_FORMAT: &str = "KAFKA_LOG_FORMAT";
/// Schema registry of the Avro codec, and its basic-auth user and password.
pub const SCHEMA_REGISTRY_URL: &str = "KAFKA_SCHEMA_REGISTRY_URL";
/// Basic-auth user of the schema registry.
pub const SCHEMA_REGISTRY_USERNAME: &str = "KAFKA_SCHEMA_REGISTRY_USERNAME";
/// Basic-auth password of the schema registry.
pub const SCHEMA_REGISTRY_PASSWORD: &str = "KAFKA_SCHEMA_REGISTRY_PASSWORD";
/// `error` (default) or `warn`: what a `KAFKA_*` variable that is not of the contract is.
pub const UNKNOWN_VARIABLES: &str = "KAFKA_UNKNOWN_VARIABLES";
/// The host name, the default client id.
pub const HOSTNAME: &str = "HOSTNAME";

/// The settings of `kafkadeps-sidecar serve` (documented in `docs/sidecar.md`), and the variable
/// the injector gives app containers. Part of the contract, so a service that reads the
/// declarations sees them as known.
pub mod sidecar {
    /// Data API address; loopback by default so only the pod reaches it.
    pub const LISTEN: &str = "KAFKA_SIDECAR_LISTEN";
    /// File holding the bearer token the data API requires (needed off loopback).
    pub const TOKEN_FILE: &str = "KAFKA_SIDECAR_TOKEN_FILE";
    /// Base URL records are pushed to (`{url}/{topic}`); pull mode when unset.
    pub const DELIVER_URL: &str = "KAFKA_SIDECAR_DELIVER_URL";
    /// Pushes in flight at once, across partitions (and, with `ORDERING=key`, across keys).
    pub const MAX_INFLIGHT: &str = "KAFKA_SIDECAR_MAX_INFLIGHT";
    /// Push mode: `partition` (default, one push per partition at a time) or `key` (different
    /// keys of a partition in parallel, each key in order).
    pub const ORDERING: &str = "KAFKA_SIDECAR_ORDERING";
    /// Largest accepted request body.
    pub const MAX_BODY_BYTES: &str = "KAFKA_SIDECAR_MAX_BODY_BYTES";
    /// How long one push may take before it counts as failed (and is retried).
    pub const DELIVER_TIMEOUT: &str = "KAFKA_SIDECAR_DELIVER_TIMEOUT";
    /// Attempts for a record (pushes answered 429/5xx/timeouts, pulls nacked for a retry)
    /// before it is dead-lettered.
    pub const DELIVER_ATTEMPTS: &str = "KAFKA_SIDECAR_DELIVER_ATTEMPTS";
    /// How long a graceful shutdown may take in total.
    pub const SHUTDOWN_GRACE: &str = "KAFKA_SIDECAR_SHUTDOWN_GRACE";
    /// How long pulled records stay leased to the poll that took them.
    pub const PULL_LEASE: &str = "KAFKA_SIDECAR_PULL_LEASE";
    /// How long a produce request's `Idempotency-Key` is remembered.
    pub const IDEMPOTENCY_WINDOW: &str = "KAFKA_SIDECAR_IDEMPOTENCY_WINDOW";
    /// How many idempotency keys are remembered at most.
    pub const IDEMPOTENCY_MAX_KEYS: &str = "KAFKA_SIDECAR_IDEMPOTENCY_MAX_KEYS";
    /// The sidecar's data API, as app containers reach it (set by the injector).
    pub const URL: &str = "KAFKA_SIDECAR_URL";
    /// Every sidecar variable.
    pub const ALL: &[&str] = &[
        LISTEN,
        TOKEN_FILE,
        DELIVER_URL,
        MAX_INFLIGHT,
        ORDERING,
        MAX_BODY_BYTES,
        DELIVER_TIMEOUT,
        DELIVER_ATTEMPTS,
        SHUTDOWN_GRACE,
        PULL_LEASE,
        IDEMPOTENCY_WINDOW,
        IDEMPOTENCY_MAX_KEYS,
        URL,
    ];
}

/// Every named variable of the contract (besides the `KAFKA_CLIENT_<PROPERTY>` escape hatch).
pub const ALL: &[&str] = &[
    BOOTSTRAP_SERVERS,
    CLIENT_ID,
    APP,
    SECURITY_PROTOCOL,
    SASL_MECHANISM,
    SASL_USERNAME,
    SASL_PASSWORD,
    SASL_PASSWORD_FILE,
    SSL_CA_LOCATION,
    SSL_CERTIFICATE_LOCATION,
    SSL_KEY_LOCATION,
    TOPIC,
    PRODUCES,
    CONSUMES,
    GROUP_ID,
    TOPIC_DEFAULTS,
    TOPIC_POLICY,
    TOPIC_REPLICAS,
    DURABILITY,
    GROUP_INSTANCE_ID,
    GROUP_PROTOCOL,
    RETRY_MODE,
    PRODUCER_PROFILE,
    METRICS_LISTEN,
    METRICS_PARTITION_LAG,
    ENSURE_TIMEOUT,
    LOG_FORMAT,
    SCHEMA_REGISTRY_URL,
    SCHEMA_REGISTRY_USERNAME,
    SCHEMA_REGISTRY_PASSWORD,
    UNKNOWN_VARIABLES,
];

/// The `KAFKA_CLIENT_<PROPERTY>` variable of a librdkafka property (`linger.ms` →
/// `KAFKA_CLIENT_LINGER_MS`).
pub fn client_property_var(property: &str) -> String {
    format!(
        "{CLIENT_PROPERTY_PREFIX}{}",
        property.replace('.', "_").to_ascii_uppercase()
    )
}

/// Whether `name` is of the contract: a named variable, a sidecar setting or a client property.
pub fn is_known(name: &str) -> bool {
    ALL.contains(&name)
        || sidecar::ALL.contains(&name)
        || (name.starts_with(CLIENT_PROPERTY_PREFIX) && name.len() > CLIENT_PROPERTY_PREFIX.len())
}

/// Whether `name` is one of the variables Kubernetes gives every container for each Service of
/// its namespace (a Service called `kafka` yields `KAFKA_SERVICE_HOST`, `KAFKA_PORT`,
/// `KAFKA_PORT_9092_TCP_ADDR`, ...): never an unknown variable.
pub fn is_service_link(name: &str) -> bool {
    if name.ends_with("_SERVICE_HOST") || name.contains("_SERVICE_PORT") {
        return true;
    }
    // `<SVC>_PORT` and `<SVC>_PORT_<number>_<TCP|UDP|SCTP>[_PROTO|_PORT|_ADDR]`.
    let parts: Vec<&str> = name.split('_').collect();
    parts.iter().enumerate().any(|(i, p)| {
        *p == "PORT"
            && i > 0
            && match &parts[i + 1..] {
                [] => true,
                [number, protocol, rest @ ..] => {
                    number.chars().all(|c| c.is_ascii_digit())
                        && ["TCP", "UDP", "SCTP"].contains(protocol)
                        && matches!(rest, [] | ["PROTO" | "PORT" | "ADDR"])
                }
                _ => false,
            }
    })
}

/// The known variable `name` is most likely a misspelling of.
pub fn did_you_mean(name: &str) -> Option<&'static str> {
    crate::suggest::closest(name, ALL.iter().chain(sidecar::ALL).copied())
}

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
    pub(crate) group_protocol: Option<String>,
    pub(crate) retry_mode: Option<String>,
    pub(crate) producer_profile: Option<String>,
    pub(crate) topic_defaults: Option<String>,
    pub(crate) topic_policy: Option<String>,
    pub(crate) topic_replicas: Option<String>,
    pub(crate) durability: Option<String>,
    pub(crate) metrics_listen: Option<String>,
    pub(crate) ensure_timeout: Option<String>,
    pub(crate) metrics_partition_lag: Option<String>,
    #[serde(skip)]
    pub(crate) hostname: Option<String>,
    pub(crate) unknown_variables: Option<String>,
    /// `KAFKA_CLIENT_<PROPERTY>` entries: (variable name, value).
    #[serde(skip)]
    pub(crate) client_properties: BTreeMap<String, String>,
    /// `KAFKA_*` variables that are not of the contract (nor Kubernetes service links).
    #[serde(skip)]
    pub(crate) unknown: Vec<String>,
}

impl RawVars {
    /// Reads the contract from `env`.
    pub(crate) fn from_env(env: &super::Env) -> Result<Self, String> {
        let mut raw: RawVars = envy::prefixed(PREFIX)
            .from_iter(
                env.iter()
                    .filter(|(k, _)| *k != SASL_PASSWORD)
                    .map(|(k, v)| (k.to_owned(), v.to_owned())),
            )
            .map_err(|e| e.to_string())?;
        for (k, v) in env.iter() {
            if k == SASL_PASSWORD {
                raw.sasl_password = Some(super::Secret::new(v));
            } else if k == HOSTNAME {
                raw.hostname = Some(v.to_owned());
            } else if k.starts_with(CLIENT_PROPERTY_PREFIX) && k != CLIENT_ID {
                raw.client_properties.insert(k.to_owned(), v.to_owned());
            } else if !is_known(k) && !is_service_link(k) {
                raw.unknown.push(k.to_owned());
            }
        }
        Ok(raw)
    }
}
