//! The one model of a service's Kafka dependencies, whatever wrote it (env, annotations, chart,
//! builder).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::Secret;
use super::grammar::render_value;

/// How long start-up keeps trying to reach the cluster unless `KAFKA_ENSURE_TIMEOUT` says otherwise.
pub const DEFAULT_ENSURE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Default admin server address.
pub const DEFAULT_METRICS_LISTEN: &str = "0.0.0.0:9464";

/// Built-in defaults for every declared topic: the durable ones.
pub const DEFAULT_PARTITIONS: i32 = 3;
/// Built-in replication factor.
pub const DEFAULT_REPLICAS: i32 = 3;
/// Built-in topic config: `min.insync.replicas=2`, no unclean leader election.
pub const DEFAULT_TOPIC_CONFIG: &[(&str, &str)] = &[
    ("min.insync.replicas", "2"),
    ("unclean.leader.election.enable", "false"),
];

/// How provisioning treats the live cluster (`KAFKA_TOPIC_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TopicPolicy {
    /// Create missing topics and grow partitions; report drift without fixing it.
    #[default]
    Create,
    /// Like `create`, and also set declared config keys to their declared values.
    Reconcile,
    /// Change nothing: missing topics or drift are failures.
    Verify,
}

impl fmt::Display for TopicPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Create => "create",
            Self::Reconcile => "reconcile",
            Self::Verify => "verify",
        })
    }
}

/// What to do when a topic asks for more replicas than there are brokers (`KAFKA_TOPIC_REPLICAS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ReplicasMode {
    /// Fail with an error naming the topic and the broker count.
    #[default]
    Strict,
    /// Clamp replicas and `min.insync.replicas` to the broker count, with a warning
    /// (single-broker development only).
    Clamp,
}

/// Whether client properties may weaken the durable defaults (`KAFKA_DURABILITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Durability {
    /// `acks=all`, idempotence, manual commits and `read_committed` cannot be overridden.
    #[default]
    Strict,
    /// Overrides of those properties are accepted.
    Relaxed,
}

/// The consumer group protocol (`KAFKA_GROUP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum GroupProtocol {
    /// The classic protocol (`group.protocol=classic`, `cooperative-sticky` assignment).
    Classic,
    /// KIP-848 (`group.protocol=consumer`): incremental, broker-driven rebalances, where the
    /// cluster serves it (asked at start), else classic (logged).
    Consumer,
    /// The default: the new protocol where the cluster serves it, else classic (logged); a
    /// `KAFKA_CLIENT_*` property only the classic protocol knows (session timeout, heartbeat
    /// interval, assignment strategy) chooses classic.
    #[default]
    Auto,
}

/// How a consumer retries a record that failed retryably (`KAFKA_RETRY_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RetryMode {
    /// In place, with backoff: the partition waits (its order is kept, its other keys stall).
    #[default]
    InPlace,
    /// Per-key parking: the record, and every later record of its key, goes to the service's
    /// `<topic>.retry` topic and is redelivered from there after its backoff, in per-key order;
    /// the partition's other keys keep flowing.
    Park,
}

impl fmt::Display for RetryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InPlace => "in-place",
            Self::Park => "park",
        })
    }
}

/// What the producer's batching favours (`KAFKA_PRODUCER_PROFILE`); measured in
/// `docs/benchmarks.md#producer-profiles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProducerProfile {
    /// `linger.ms=20`: records wait up to 20 ms to share a batch. The most records per second
    /// and the least CPU per record under load; a lone record waits for the linger.
    #[default]
    Throughput,
    /// `linger.ms=0`: a record is sent as soon as the previous request to its broker is
    /// answered, so a lone record does not wait; under load fewer records per second at more CPU
    /// per record.
    Latency,
}

impl ProducerProfile {
    /// The `linger.ms` the profile sets (a `KAFKA_CLIENT_LINGER_MS` overrides it).
    pub fn linger_ms(self) -> &'static str {
        match self {
            Self::Throughput => "20",
            Self::Latency => "0",
        }
    }
}

impl fmt::Display for ProducerProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Throughput => "throughput",
            Self::Latency => "latency",
        })
    }
}

/// `KAFKA_CLIENT_*` properties of the classic group protocol that the new one refuses, with
/// what replaces them.
pub const CLASSIC_ONLY_PROPERTIES: &[(&str, &str)] = &[
    (
        "session.timeout.ms",
        "the broker's group.consumer.session.timeout.ms",
    ),
    (
        "heartbeat.interval.ms",
        "the broker's group.consumer.heartbeat.interval.ms",
    ),
    (
        "partition.assignment.strategy",
        "KAFKA_CLIENT_GROUP_REMOTE_ASSIGNOR (uniform or range)",
    ),
    ("group.protocol.type", "nothing"),
];

/// How the service uses a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct Usage {
    /// The service writes to it.
    pub produce: bool,
    /// The service reads from it.
    pub consume: bool,
}

/// The settings a topic should have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TopicSpec {
    /// Number of partitions.
    pub partitions: i32,
    /// Replication factor.
    pub replicas: i32,
    /// Declared topic configs, normalized (`retention.ms=7d` is `604800000`).
    pub config: BTreeMap<String, String>,
}

impl TopicSpec {
    /// `min.insync.replicas` as declared, if it is.
    pub fn min_insync_replicas(&self) -> Option<i32> {
        self.config
            .get("min.insync.replicas")
            .and_then(|v| v.parse().ok())
    }
}

/// Who decides a topic's partitions and config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Ownership {
    /// The service owns it — it produces it, it is one of its dead-letter topics, or a consumer
    /// marked it `owned`: provisioning creates, grows and (under `reconcile`) corrects it.
    #[default]
    Owned,
    /// The service only consumes it: provisioning checks that it exists and meets the
    /// [`Requirements`], and never changes it (its partitions and config are its owner's).
    Dependency,
}

/// What a consumer needs of a topic it does not own: `KAFKA_CONSUMES="payments.v1(min.partitions=6,
/// cleanup.policy=compact)"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Requirements {
    /// At least this many partitions (`min.partitions`).
    pub min_partitions: Option<i32>,
    /// Topic configs that must have these values (normalized).
    pub config: BTreeMap<String, String>,
}

impl Requirements {
    /// Whether nothing is required beyond the topic's existence.
    pub fn is_empty(&self) -> bool {
        self.min_partitions.is_none() && self.config.is_empty()
    }
}

/// One declared topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Topic {
    /// Topic name.
    pub name: String,
    /// Resolved settings: built-in defaults, then `KAFKA_TOPIC_DEFAULTS`, then the declaration.
    /// For a dependency: the settings it is created with where the policy creates a missing one.
    pub spec: TopicSpec,
    /// How the service uses it.
    pub usage: Usage,
    /// Whether the service owns it or depends on it.
    pub ownership: Ownership,
    /// What a dependency must meet (empty for owned topics).
    pub requires: Requirements,
}

impl Topic {
    /// Whether the service owns the topic (provisioning may change it).
    pub fn is_owned(&self) -> bool {
        self.ownership == Ownership::Owned
    }

    /// The declaration in the list grammar, with every resolved setting spelt out.
    pub fn to_declaration(&self) -> String {
        let mut out = format!(
            "{}(partitions={}, replicas={}",
            self.name, self.spec.partitions, self.spec.replicas
        );
        for (k, v) in &self.spec.config {
            out.push_str(&format!(", {k}={}", render_value(v)));
        }
        out.push(')');
        out
    }
}

/// `security.protocol`: how the connection to the brokers is secured (`KAFKA_SECURITY_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    Plaintext,
    /// TLS (mutual TLS with a client certificate).
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Every protocol, in the order messages list them.
    pub const ALL: [Self; 4] = [
        Self::Plaintext,
        Self::Ssl,
        Self::SaslPlaintext,
        Self::SaslSsl,
    ];

    /// The librdkafka value (`sasl_ssl`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    /// Whether the protocol authenticates with SASL.
    pub fn is_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SecurityProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not one of plaintext, ssl, sasl_plaintext, sasl_ssl"))
    }
}

/// `sasl.mechanism` (`KAFKA_SASL_MECHANISM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// `PLAIN`: user name and password.
    #[serde(rename = "PLAIN")]
    Plain,
    /// `SCRAM-SHA-256`.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// `SCRAM-SHA-512`.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    /// `GSSAPI` (Kerberos; needs the `gssapi` feature).
    #[serde(rename = "GSSAPI")]
    Gssapi,
    /// `OAUTHBEARER` (incl. OIDC).
    #[serde(rename = "OAUTHBEARER")]
    OauthBearer,
}

impl SaslMechanism {
    /// Every mechanism, in the order messages list them.
    pub const ALL: [Self; 5] = [
        Self::Plain,
        Self::ScramSha256,
        Self::ScramSha512,
        Self::Gssapi,
        Self::OauthBearer,
    ];

    /// The librdkafka value (`SCRAM-SHA-512`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::Gssapi => "GSSAPI",
            Self::OauthBearer => "OAUTHBEARER",
        }
    }

    /// Whether the mechanism authenticates with a user name and password.
    pub fn needs_password(self) -> bool {
        matches!(self, Self::Plain | Self::ScramSha256 | Self::ScramSha512)
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SaslMechanism {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_uppercase();
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "`{s}` is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI, OAUTHBEARER"
                )
            })
    }
}

/// Security settings for the connection to the brokers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Security {
    /// `security.protocol`, if set.
    pub protocol: Option<SecurityProtocol>,
    /// `sasl.mechanism`, if set.
    pub sasl_mechanism: Option<SaslMechanism>,
    /// SASL user name.
    pub sasl_username: Option<String>,
    /// SASL password, from `KAFKA_SASL_PASSWORD` or the file `KAFKA_SASL_PASSWORD_FILE` names.
    pub sasl_password: Option<Secret>,
    /// CA certificate location.
    pub ssl_ca_location: Option<String>,
    /// Client certificate location.
    pub ssl_certificate_location: Option<String>,
    /// Client key location.
    pub ssl_key_location: Option<String>,
}

impl Security {
    /// The librdkafka properties these settings stand for.
    pub fn client_properties(&self) -> Vec<(&'static str, &str)> {
        let typed = [
            (
                "security.protocol",
                self.protocol.map(SecurityProtocol::as_str),
            ),
            (
                "sasl.mechanism",
                self.sasl_mechanism.map(SaslMechanism::as_str),
            ),
        ];
        let plain = [
            ("sasl.username", &self.sasl_username),
            ("ssl.ca.location", &self.ssl_ca_location),
            ("ssl.certificate.location", &self.ssl_certificate_location),
            ("ssl.key.location", &self.ssl_key_location),
        ];
        let mut out: Vec<(&'static str, &str)> = typed
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .chain(
                plain
                    .into_iter()
                    .filter_map(|(k, v)| v.as_deref().map(|v| (k, v))),
            )
            .collect();
        if let Some(p) = &self.sasl_password {
            out.push(("sasl.password", p.expose()));
        }
        out
    }
}

/// Everything a service declared about Kafka, validated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// Bootstrap brokers.
    pub bootstrap_servers: String,
    /// Client id sent to the brokers.
    pub client_id: String,
    /// Logical service name.
    pub app: String,
    /// Consumer group.
    pub group_id: String,
    /// Static membership instance id.
    pub group_instance_id: Option<String>,
    /// `KAFKA_GROUP_PROTOCOL`.
    pub group_protocol: GroupProtocol,
    /// `KAFKA_RETRY_MODE`: `in-place` (default) or `park` (each consumed topic then has an
    /// owned `<topic>.retry` topic).
    pub retry_mode: RetryMode,
    /// `KAFKA_PRODUCER_PROFILE`: `throughput` (default) or `latency`.
    pub producer_profile: ProducerProfile,
    /// Connection security.
    pub security: Security,
    /// Declared topics, sorted by name.
    pub topics: Vec<Topic>,
    /// Provisioning policy.
    pub topic_policy: TopicPolicy,
    /// Replicas above the broker count: fail or clamp.
    pub replicas_mode: ReplicasMode,
    /// Whether durability overrides are allowed.
    pub durability: Durability,
    /// Extra librdkafka properties from `KAFKA_CLIENT_*`.
    pub client_properties: BTreeMap<String, String>,
    /// Where the admin server listens (`None`: no admin server).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Export per-partition lag series.
    pub partition_lag: bool,
    /// How long start-up keeps trying while the cluster is unavailable (`KAFKA_ENSURE_TIMEOUT`).
    pub ensure_timeout: std::time::Duration,
    /// Things that are allowed but probably not meant (logged at start-up).
    pub warnings: Vec<crate::Warning>,
}

impl Settings {
    /// The declared topic called `name`.
    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.name == name)
    }

    /// Topics the service produces to.
    pub fn produced_topics(&self) -> impl Iterator<Item = &Topic> {
        self.topics.iter().filter(|t| t.usage.produce)
    }

    /// Topics the service consumes from.
    pub fn consumed_topics(&self) -> impl Iterator<Item = &Topic> {
        self.topics.iter().filter(|t| t.usage.consume)
    }

    /// Topics the service owns (produced ones, its dead-letter topics, consumed ones marked
    /// `owned`).
    pub fn owned_topics(&self) -> impl Iterator<Item = &Topic> {
        self.topics.iter().filter(|t| t.is_owned())
    }
}
