//! The `KAFKA_*` contract: one parser and one model for every place a declaration is written
//! (environment, pod annotations, Helm values, code). See `docs/declarations.md`.
//!
//! ```
//! use kafkadeps_core::config::Settings;
//!
//! let settings = Settings::from_vars([
//!     ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
//!     ("KAFKA_APP", "orders"),
//!     ("KAFKA_PRODUCES", "orders.v1(partitions=12, retention.ms=7d)"),
//! ])?;
//! let topic = settings.topic("orders.v1").expect("declared");
//! assert_eq!(topic.spec.partitions, 12);
//! assert_eq!(topic.spec.config["retention.ms"], "604800000");
//! assert_eq!(topic.spec.replicas, 3); // the durable default
//! # Ok::<(), kafkadeps_core::config::ConfigError>(())
//! ```

mod client_properties;
mod declared;
mod env;
mod error;
mod grammar;
mod model;
mod resolve;
mod secret;
mod security;
mod topic_keys;
mod units;
pub mod vars;

#[cfg(test)]
mod tests;

use std::fmt;

pub use client_properties::is_sensitive as is_sensitive_property;
pub use env::Env;
pub use error::{ConfigError, Problem, TopicNameError};
pub use model::{
    CLASSIC_ONLY_PROPERTIES, DEFAULT_ENSURE_TIMEOUT, DEFAULT_METRICS_LISTEN, DEFAULT_PARTITIONS,
    DEFAULT_REPLICAS, DEFAULT_TOPIC_CONFIG, Durability, GroupProtocol, Ownership, ProducerProfile,
    ReplicasMode, Requirements, RetryMode, SaslMechanism, Security, SecurityProtocol, Settings,
    Topic, TopicPolicy, TopicSpec, Usage,
};
pub use secret::Secret;

pub(crate) use declared::DURABLE_REPLICAS;
pub(crate) use topic_keys::same_value as same_config_value;

/// Checks a topic name by Kafka's rules; `Err` says what is wrong.
///
/// ```
/// use kafkadeps_core::config::{TopicNameError, validate_topic_name};
///
/// assert!(validate_topic_name("orders.v1").is_ok());
/// assert!(matches!(
///     validate_topic_name("orders v1"),
///     Err(TopicNameError::Character { character: ' ', .. })
/// ));
/// ```
pub fn validate_topic_name(name: &str) -> Result<(), TopicNameError> {
    declared::check_topic_name(name)
}

impl Settings {
    /// Reads the contract from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Env::process())
    }

    /// Reads the contract from `(name, value)` pairs (see [`Env::from_pairs`]).
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_source(&Env::from_pairs(vars))
    }

    /// Reads the contract from `env` — the one source every entry point goes through.
    pub fn from_source(env: &Env) -> Result<Self, ConfigError> {
        let raw = vars::RawVars::from_env(env).map_err(|message| ConfigError {
            problems: vec![Problem {
                variable: vars::PREFIX.to_owned() + "*",
                message,
            }],
        })?;
        resolve::resolve(raw)
    }

    /// Code-first configuration: the same model and validation as the environment contract.
    pub fn builder(bootstrap_servers: impl Into<String>) -> SettingsBuilder {
        SettingsBuilder {
            vars: vec![(vars::BOOTSTRAP_SERVERS.to_owned(), bootstrap_servers.into())],
        }
    }
}

/// Builds [`Settings`] in code. Each method sets the variable of the contract it is named after,
/// so code-first and env-first services mean the same thing.
#[derive(Debug, Clone)]
#[must_use]
pub struct SettingsBuilder {
    vars: Vec<(String, String)>,
}

impl SettingsBuilder {
    fn set(mut self, var: &str, value: impl Into<String>) -> Self {
        self.vars.retain(|(k, _)| k != var);
        self.vars.push((var.to_owned(), value.into()));
        self
    }

    fn append(mut self, var: &str, decl: impl fmt::Display) -> Self {
        let decl = decl.to_string();
        match self.vars.iter_mut().find(|(k, _)| k == var) {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(&decl);
            }
            None => self.vars.push((var.to_owned(), decl)),
        }
        self
    }

    /// `KAFKA_APP`.
    pub fn app(self, app: impl Into<String>) -> Self {
        self.set(vars::APP, app)
    }
    /// `KAFKA_CLIENT_ID`.
    pub fn client_id(self, id: impl Into<String>) -> Self {
        self.set(vars::CLIENT_ID, id)
    }
    /// `KAFKA_GROUP_ID`.
    pub fn group_id(self, group: impl Into<String>) -> Self {
        self.set(vars::GROUP_ID, group)
    }
    /// Adds to `KAFKA_PRODUCES`: a [`Declaration`] or list-grammar text.
    pub fn produces(self, decl: impl fmt::Display) -> Self {
        self.append(vars::PRODUCES, decl)
    }
    /// Adds to `KAFKA_CONSUMES`: a [`Declaration`] or list-grammar text.
    pub fn consumes(self, decl: impl fmt::Display) -> Self {
        self.append(vars::CONSUMES, decl)
    }
    /// `KAFKA_TOPIC_DEFAULTS`, e.g. `"partitions=6, retention.ms=1d"`.
    pub fn topic_defaults(self, settings: impl Into<String>) -> Self {
        self.set(vars::TOPIC_DEFAULTS, settings)
    }
    /// `KAFKA_TOPIC_POLICY`.
    pub fn topic_policy(self, policy: TopicPolicy) -> Self {
        self.set(vars::TOPIC_POLICY, policy.to_string())
    }
    /// `KAFKA_TOPIC_REPLICAS=clamp` (single-broker development).
    pub fn clamp_replicas(self) -> Self {
        self.set(vars::TOPIC_REPLICAS, "clamp")
    }
    /// `KAFKA_RETRY_MODE`.
    pub fn retry_mode(self, mode: RetryMode) -> Self {
        self.set(vars::RETRY_MODE, mode.to_string())
    }
    /// `KAFKA_PRODUCER_PROFILE`.
    pub fn producer_profile(self, profile: ProducerProfile) -> Self {
        self.set(vars::PRODUCER_PROFILE, profile.to_string())
    }
    /// `KAFKA_DURABILITY=relaxed`.
    pub fn relaxed_durability(self) -> Self {
        self.set(vars::DURABILITY, "relaxed")
    }
    /// `KAFKA_CLIENT_<PROPERTY>`: any librdkafka property, e.g. `("linger.ms", "5")`.
    pub fn client_property(self, property: &str, value: impl Into<String>) -> Self {
        self.set(&vars::client_property_var(property), value)
    }
    /// `KAFKA_METRICS_LISTEN`: where the admin server listens (`"off"` for none).
    pub fn metrics_listen(self, addr: impl Into<String>) -> Self {
        self.set(vars::METRICS_LISTEN, addr)
    }
    /// Any variable of the contract by name (for settings without a method).
    pub fn var(self, name: &str, value: impl Into<String>) -> Self {
        self.set(name, value)
    }
    /// Validates and builds.
    pub fn build(self) -> Result<Settings, ConfigError> {
        Settings::from_vars(self.vars)
    }
}

/// A topic declaration written in code; renders to the list grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Declaration {
    name: String,
    settings: Vec<(String, String)>,
}

impl Declaration {
    /// Declares the topic `name` with default settings.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            settings: Vec::new(),
        }
    }
    /// Number of partitions.
    pub fn partitions(self, n: i32) -> Self {
        self.config("partitions", n.to_string())
    }
    /// Replication factor.
    pub fn replicas(self, n: i32) -> Self {
        self.config("replicas", n.to_string())
    }
    /// Any topic config (`retention.ms`, `cleanup.policy`, ...). Units are accepted as in the env.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((key.into(), value.into()));
        self
    }
}

impl fmt::Display for Declaration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.settings.is_empty() {
            let parts: Vec<String> = self
                .settings
                .iter()
                .map(|(k, v)| format!("{k}={}", grammar::render_value(v)))
                .collect();
            write!(f, "({})", parts.join(", "))?;
        }
        Ok(())
    }
}
