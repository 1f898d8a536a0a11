//! From raw variable text to a validated [`Settings`]: every problem reported at once, before
//! anything touches the network.

use std::collections::{BTreeMap, HashMap};

use super::error::{ConfigError, Problems, TopicNameError};
use super::grammar::{self, RawDecl};
use super::model::{
    CLASSIC_ONLY_PROPERTIES, DEFAULT_ENSURE_TIMEOUT, DEFAULT_METRICS_LISTEN, DEFAULT_PARTITIONS,
    DEFAULT_REPLICAS, DEFAULT_TOPIC_CONFIG, Durability, GroupProtocol, Ownership, ReplicasMode,
    Requirements, SaslMechanism, Security, SecurityProtocol, Settings, Topic, TopicPolicy,
    TopicSpec, Usage,
};
use super::vars::{self, RawVars};
use super::{Secret, client_properties, topic_keys};
use crate::naming::DLQ_SUFFIX;

/// Largest partition count accepted in a declaration.
const MAX_PARTITIONS: i64 = 100_000;
/// Largest replication factor Kafka can represent.
const MAX_REPLICAS: i64 = i16::MAX as i64;

/// Settings written explicitly (before defaults), in normalized form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Explicit {
    partitions: Option<i32>,
    replicas: Option<i32>,
    config: BTreeMap<String, String>,
    /// `min.partitions`: a consumer's requirement of a topic it does not own.
    min_partitions: Option<i32>,
    /// `owned`: a consumer owns the topic it alone uses.
    owned: Option<bool>,
}

impl Explicit {
    fn is_empty(&self) -> bool {
        self.partitions.is_none()
            && self.replicas.is_none()
            && self.config.is_empty()
            && self.min_partitions.is_none()
            && self.owned.is_none()
    }
}

/// The `min.insync.replicas` a durable topic needs at least (a write survives one broker loss).
const DURABLE_MIN_INSYNC: i32 = 2;
/// The replication factor a durable topic needs at least, on a cluster of as many brokers.
pub(crate) const DURABLE_REPLICAS: i32 = 3;

/// Why a topic config weakens durability, if it does.
fn weakens_durability(config: &BTreeMap<String, String>) -> Option<String> {
    if let Some(n) = config
        .get("min.insync.replicas")
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|n| *n < DURABLE_MIN_INSYNC)
    {
        return Some(format!(
            "min.insync.replicas={n} weakens durability: a write acknowledged by one broker is lost with it (durable: {DURABLE_MIN_INSYNC} or more)"
        ));
    }
    if config
        .get("unclean.leader.election.enable")
        .is_some_and(|v| v == "true")
    {
        return Some(
            "unclean.leader.election.enable=true weakens durability: an out-of-sync replica may become leader and drop acknowledged records (durable: false)"
                .to_owned(),
        );
    }
    None
}

/// The problem of a weakening setting under `KAFKA_DURABILITY=strict`.
fn refuse_weakening(why: &str) -> String {
    format!("{why}; set {}=relaxed to allow it", vars::DURABILITY)
}

/// Checks Kafka's topic-name rules.
pub(crate) fn topic_name_problem(name: &str) -> Option<String> {
    check_topic_name(name).err().map(|e| e.to_string())
}

/// Kafka's topic-name rules: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(crate) fn check_topic_name(name: &str) -> Result<(), TopicNameError> {
    if name.is_empty() || name.len() > 249 {
        return Err(TopicNameError::Length(name.to_owned()));
    }
    if name == "." || name == ".." {
        return Err(TopicNameError::Reserved(name.to_owned()));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        Some(character) => Err(TopicNameError::Character {
            name: name.to_owned(),
            character,
        }),
        None => Ok(()),
    }
}

fn parse_int(
    variable: &str,
    key: &str,
    value: &str,
    lo: i64,
    hi: i64,
    problems: &mut Problems,
) -> Option<i32> {
    match value.trim().parse::<i64>() {
        Ok(n) if (lo..=hi).contains(&n) => i32::try_from(n).ok(),
        Ok(n) => {
            problems.push(variable, format!("{key}={n} is out of range ({lo}..={hi})"));
            None
        }
        Err(_) => {
            problems.push(variable, format!("{key}=`{value}` is not an integer"));
            None
        }
    }
}

/// Validates `key=value` settings of one declaration (or of the defaults).
fn explicit_settings(
    variable: &str,
    context: &str,
    settings: &[(String, String)],
    problems: &mut Problems,
) -> Explicit {
    let mut out = Explicit::default();
    let mut seen = HashMap::new();
    for (key, value) in settings {
        let key = key.trim();
        if let Some(previous) = seen.insert(key.to_owned(), value.clone())
            && previous != *value
        {
            problems.push(
                variable,
                format!("{context}: `{key}` is set twice ({previous} and {value})"),
            );
        }
        match key {
            "partitions" => {
                out.partitions = parse_int(variable, key, value, 1, MAX_PARTITIONS, problems)
            }
            "min.partitions" => {
                out.min_partitions = parse_int(variable, key, value, 1, MAX_PARTITIONS, problems)
            }
            "owned" => match value.trim() {
                "true" => out.owned = Some(true),
                "false" => out.owned = Some(false),
                other => problems.push(
                    variable,
                    format!("{context}: owned=`{other}` is not true or false"),
                ),
            },
            "replicas" | "replication.factor" => {
                out.replicas = parse_int(variable, key, value, 1, MAX_REPLICAS, problems);
            }
            k if topic_keys::is_known(k) => match topic_keys::normalize(k, value) {
                Ok(v) => {
                    out.config.insert(k.to_owned(), v);
                }
                Err(e) => problems.push(variable, format!("{context}: {k}: {e}")),
            },
            k => {
                let hint = topic_keys::did_you_mean(k)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_else(|| "; see docs/declarations.md for the accepted keys".into());
                problems.push(
                    variable,
                    format!("{context}: unknown topic setting `{k}`{hint}"),
                );
            }
        }
    }
    out
}

/// One declaration with the variable it came from.
struct Declared {
    variable: &'static str,
    name: String,
    explicit: Explicit,
    usage: Usage,
}

fn declarations(
    variable: &'static str,
    text: Option<&str>,
    usage: Usage,
    problems: &mut Problems,
) -> Vec<Declared> {
    let Some(text) = text else { return Vec::new() };
    let raw: Vec<RawDecl> = match grammar::parse_list(text) {
        Ok(raw) => raw,
        Err(e) => {
            problems.push(variable, e);
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for d in raw {
        if let Some(p) = topic_name_problem(&d.topic) {
            problems.push(variable, p);
            continue;
        }
        let context = format!("topic `{}`", d.topic);
        let explicit = explicit_settings(variable, &context, &d.settings, problems);
        out.push(Declared {
            variable,
            name: d.topic,
            explicit,
            usage,
        });
    }
    out
}

/// Merges declarations of the same topic; conflicting explicit settings are an error.
fn merge(
    declared: Vec<Declared>,
    problems: &mut Problems,
) -> Vec<(String, Explicit, Usage, &'static str)> {
    let mut merged: BTreeMap<String, (Explicit, Usage, &'static str)> = BTreeMap::new();
    for d in declared {
        match merged.get_mut(&d.name) {
            None => {
                merged.insert(d.name, (d.explicit, d.usage, d.variable));
            }
            Some((explicit, usage, first)) => {
                usage.produce |= d.usage.produce;
                usage.consume |= d.usage.consume;
                let conflict =
                    |a: Option<i32>, b: Option<i32>| matches!((a, b), (Some(x), Some(y)) if x != y);
                let mut conflicts = Vec::new();
                if conflict(explicit.partitions, d.explicit.partitions) {
                    conflicts.push("partitions".to_owned());
                }
                if conflict(explicit.replicas, d.explicit.replicas) {
                    conflicts.push("replicas".to_owned());
                }
                if conflict(explicit.min_partitions, d.explicit.min_partitions) {
                    conflicts.push("min.partitions".to_owned());
                }
                for (k, v) in &d.explicit.config {
                    if explicit.config.get(k).is_some_and(|old| old != v) {
                        conflicts.push(k.clone());
                    }
                }
                if conflicts.is_empty() {
                    explicit.partitions = explicit.partitions.or(d.explicit.partitions);
                    explicit.replicas = explicit.replicas.or(d.explicit.replicas);
                    explicit.min_partitions = explicit.min_partitions.or(d.explicit.min_partitions);
                    explicit.owned = explicit.owned.or(d.explicit.owned);
                    for (k, v) in d.explicit.config {
                        explicit.config.entry(k).or_insert(v);
                    }
                } else if !d.explicit.is_empty() {
                    problems.push(
                        d.variable,
                        format!(
                            "topic `{}` is also declared in {first} with different {}",
                            d.name,
                            conflicts.join(", ")
                        ),
                    );
                }
            }
        }
    }
    merged
        .into_iter()
        .map(|(name, (e, u, variable))| (name, e, u, variable))
        .collect()
}

fn one_of<T: Copy>(
    variable: &str,
    value: Option<&str>,
    options: &[(&str, T)],
    default: T,
    problems: &mut Problems,
) -> T {
    let Some(value) = value else { return default };
    let v = value.trim().to_ascii_lowercase();
    match options.iter().find(|(name, _)| *name == v) {
        Some((_, t)) => *t,
        None => {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            problems.push(
                variable,
                format!("`{value}` is not one of {}", names.join(", ")),
            );
            default
        }
    }
}

fn security(raw: &RawVars, problems: &mut Problems) -> Security {
    let protocol =
        raw.security_protocol
            .as_deref()
            .and_then(|p| match p.parse::<SecurityProtocol>() {
                Ok(p) => Some(p),
                Err(e) => {
                    problems.push(vars::SECURITY_PROTOCOL, e);
                    None
                }
            });
    let mechanism = raw
        .sasl_mechanism
        .as_deref()
        .and_then(|m| match m.parse::<SaslMechanism>() {
            Ok(m) => Some(m),
            Err(e) => {
                problems.push(vars::SASL_MECHANISM, e);
                None
            }
        });
    if mechanism == Some(SaslMechanism::Gssapi) && !cfg!(feature = "gssapi") {
        problems.push(
            vars::SASL_MECHANISM,
            "GSSAPI (Kerberos) is not built in: build kafkadeps with its `gssapi` feature \
             (kafkadeps-sidecar: `--features gssapi`)",
        );
    }
    let password = match (&raw.sasl_password, &raw.sasl_password_file) {
        (Some(_), Some(_)) => {
            problems.push(
                vars::SASL_PASSWORD_FILE,
                format!(
                    "set either {} or {}, not both",
                    vars::SASL_PASSWORD,
                    vars::SASL_PASSWORD_FILE
                ),
            );
            None
        }
        (Some(p), None) => Some(p.clone()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(s) => Some(Secret::new(s.trim_end_matches(['\n', '\r']))),
            Err(e) => {
                problems.push(
                    vars::SASL_PASSWORD_FILE,
                    format!("cannot read `{path}`: {e}"),
                );
                None
            }
        },
        (None, None) => None,
    };
    let sasl_protocol = raw
        .security_protocol
        .as_deref()
        .is_some_and(|p| p.trim().to_ascii_lowercase().starts_with("sasl"));
    if mechanism.is_some() && !sasl_protocol {
        problems.push(
            vars::SASL_MECHANISM,
            "is set but KAFKA_SECURITY_PROTOCOL is not sasl_plaintext or sasl_ssl",
        );
    }
    let needs_credentials = mechanism.is_some_and(SaslMechanism::needs_password);
    if needs_credentials {
        if raw.sasl_username.is_none() {
            problems.push(
                vars::SASL_USERNAME,
                format!("is required with {}", vars::SASL_MECHANISM),
            );
        }
        if password.is_none() && raw.sasl_password_file.is_none() {
            problems.push(
                vars::SASL_PASSWORD,
                format!(
                    "{} or {} is required with {}",
                    vars::SASL_PASSWORD,
                    vars::SASL_PASSWORD_FILE,
                    vars::SASL_MECHANISM
                ),
            );
        }
    }
    if raw.ssl_key_location.is_some() != raw.ssl_certificate_location.is_some() {
        problems.push(
            vars::SSL_KEY_LOCATION,
            format!(
                "{} and {} go together (mutual TLS)",
                vars::SSL_CERTIFICATE_LOCATION,
                vars::SSL_KEY_LOCATION
            ),
        );
    }
    Security {
        protocol,
        sasl_mechanism: mechanism,
        sasl_username: raw.sasl_username.clone(),
        sasl_password: password,
        ssl_ca_location: raw.ssl_ca_location.clone(),
        ssl_certificate_location: raw.ssl_certificate_location.clone(),
        ssl_key_location: raw.ssl_key_location.clone(),
    }
}

/// Validates the raw contract into [`Settings`].
pub(crate) fn resolve(raw: RawVars) -> Result<Settings, ConfigError> {
    let mut problems = Problems::default();
    let mut warnings = Vec::new();

    let bootstrap_servers = match raw.bootstrap_servers.as_deref().map(str::trim) {
        Some(b) => {
            for server in b.split(',').map(str::trim) {
                let ok = server.rsplit_once(':').is_some_and(|(host, port)| {
                    !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
                });
                if !ok {
                    problems.push(
                        vars::BOOTSTRAP_SERVERS,
                        format!("`{server}` is not host:port"),
                    );
                }
            }
            b.to_owned()
        }
        None => {
            problems.push(
                vars::BOOTSTRAP_SERVERS,
                "is required (e.g. my-cluster-kafka-bootstrap:9092)",
            );
            String::new()
        }
    };
    let client_id = raw
        .client_id
        .clone()
        .or_else(|| raw.hostname.clone())
        .unwrap_or_else(|| "kafkadeps".to_owned());
    let app = raw.app.clone().unwrap_or_else(|| client_id.clone());
    let group_id = raw.group_id.clone().unwrap_or_else(|| app.clone());

    let topic_policy = one_of(
        vars::TOPIC_POLICY,
        raw.topic_policy.as_deref(),
        &[
            ("create", TopicPolicy::Create),
            ("reconcile", TopicPolicy::Reconcile),
            ("verify", TopicPolicy::Verify),
        ],
        TopicPolicy::Create,
        &mut problems,
    );
    let replicas_mode = one_of(
        vars::TOPIC_REPLICAS,
        raw.topic_replicas.as_deref(),
        &[
            ("strict", ReplicasMode::Strict),
            ("clamp", ReplicasMode::Clamp),
        ],
        ReplicasMode::Strict,
        &mut problems,
    );
    let durability = one_of(
        vars::DURABILITY,
        raw.durability.as_deref(),
        &[
            ("strict", Durability::Strict),
            ("relaxed", Durability::Relaxed),
        ],
        Durability::Strict,
        &mut problems,
    );
    let mut group_protocol = one_of(
        vars::GROUP_PROTOCOL,
        raw.group_protocol.as_deref(),
        &[
            ("classic", GroupProtocol::Classic),
            ("consumer", GroupProtocol::Consumer),
            ("auto", GroupProtocol::Auto),
        ],
        GroupProtocol::Classic,
        &mut problems,
    );
    let security = security(&raw, &mut problems);
    let warn_unknown = one_of(
        vars::UNKNOWN_VARIABLES,
        raw.unknown_variables.as_deref(),
        &[("error", false), ("warn", true)],
        false,
        &mut problems,
    );
    for name in &raw.unknown {
        let hint = vars::did_you_mean(name)
            .map(|known| format!("; did you mean {known}?"))
            .unwrap_or_default();
        let message = format!(
            "is not a kafkadeps variable{hint} (a platform that sets unrelated KAFKA_ variables sets {}=warn)",
            vars::UNKNOWN_VARIABLES
        );
        if warn_unknown {
            warnings.push(format!("{name} {message}"));
        } else {
            problems.push(name, message);
        }
    }

    let defaults = match raw.topic_defaults.as_deref().map(grammar::parse_settings) {
        None => Explicit::default(),
        Some(Ok(settings)) => {
            let defaults =
                explicit_settings(vars::TOPIC_DEFAULTS, "defaults", &settings, &mut problems);
            if defaults.min_partitions.is_some() || defaults.owned.is_some() {
                problems.push(
                    vars::TOPIC_DEFAULTS,
                    "`min.partitions` and `owned` belong to one consumed topic's declaration, not to the defaults",
                );
            }
            if durability == Durability::Strict
                && let Some(why) = weakens_durability(&defaults.config)
            {
                problems.push(vars::TOPIC_DEFAULTS, refuse_weakening(&why));
            }
            defaults
        }
        Some(Err(e)) => {
            problems.push(vars::TOPIC_DEFAULTS, e);
            Explicit::default()
        }
    };

    let both = Usage {
        produce: true,
        consume: true,
    };
    let mut declared = declarations(vars::TOPIC, raw.topic.as_deref(), both, &mut problems);
    if declared.len() > 1 {
        problems.push(
            vars::TOPIC,
            "declares one topic; use KAFKA_PRODUCES / KAFKA_CONSUMES for several",
        );
    }
    declared.extend(declarations(
        vars::PRODUCES,
        raw.produces.as_deref(),
        Usage {
            produce: true,
            consume: false,
        },
        &mut problems,
    ));
    declared.extend(declarations(
        vars::CONSUMES,
        raw.consumes.as_deref(),
        Usage {
            produce: false,
            consume: true,
        },
        &mut problems,
    ));

    let mut topics = Vec::new();
    for (name, explicit, usage, variable) in merge(declared, &mut problems) {
        let owned = usage.produce || explicit.owned == Some(true);
        let mut requires = Requirements::default();
        if owned {
            if explicit.min_partitions.is_some() {
                problems.push(
                    variable,
                    format!("topic `{name}`: min.partitions is a requirement of a topic the service does not own; an owned topic declares partitions=N"),
                );
            }
            if durability == Durability::Strict
                && let Some(why) = weakens_durability(&explicit.config)
            {
                problems.push(
                    variable,
                    format!("topic `{name}`: {}", refuse_weakening(&why)),
                );
            }
        } else {
            // A dependency: its partitions and config are its owner's; what is written here is
            // what the consumer requires of it.
            if explicit.partitions.is_some() || explicit.replicas.is_some() {
                problems.push(
                    variable,
                    format!("topic `{name}` is only consumed, so its partitions and replicas are its owner's: require at least N partitions with min.partitions=N, or mark it `owned` if this service alone uses it"),
                );
            }
            requires = Requirements {
                min_partitions: explicit.min_partitions,
                config: explicit.config.clone(),
            };
        }
        let mut config: BTreeMap<String, String> = DEFAULT_TOPIC_CONFIG
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        config.extend(defaults.config.clone());
        config.extend(explicit.config);
        let partitions = explicit
            .partitions
            .or(defaults.partitions)
            .unwrap_or(DEFAULT_PARTITIONS);
        let spec = TopicSpec {
            // A dependency created where it is missing gets at least what its consumer needs.
            partitions: partitions.max(requires.min_partitions.unwrap_or(0)),
            replicas: explicit
                .replicas
                .or(defaults.replicas)
                .unwrap_or(DEFAULT_REPLICAS),
            config,
        };
        if let Some(min_isr) = spec.min_insync_replicas() {
            if min_isr > spec.replicas {
                problems.push(
                    variable,
                    format!("topic `{name}`: min.insync.replicas={min_isr} is greater than replicas={}; no write could ever succeed", spec.replicas),
                );
            } else if min_isr == spec.replicas && replicas_mode == ReplicasMode::Strict {
                warnings.push(format!(
                    "topic `{name}`: min.insync.replicas equals replicas ({min_isr}): no broker may fail without blocking writes"
                ));
            }
        }
        topics.push(Topic {
            name,
            spec,
            usage,
            ownership: if owned {
                Ownership::Owned
            } else {
                Ownership::Dependency
            },
            requires,
        });
    }

    // Every consumed topic gets a dead-letter topic with the same settings, written by kafkadeps.
    let consumed: Vec<(String, TopicSpec)> = topics
        .iter()
        .filter(|t| t.usage.consume)
        .map(|t| (t.name.clone(), t.spec.clone()))
        .collect();
    for (name, spec) in consumed {
        let dlq = format!("{name}{DLQ_SUFFIX}");
        if let Some(p) = topic_name_problem(&dlq) {
            problems.push(
                vars::CONSUMES,
                format!("dead-letter topic of `{name}`: {p}"),
            );
            continue;
        }
        match topics.iter_mut().find(|t| t.name == dlq) {
            Some(declared) => {
                declared.usage.produce = true;
                declared.ownership = Ownership::Owned;
                declared.requires = Requirements::default();
            }
            // The service writes its dead-letter topics: it owns them.
            None => topics.push(Topic {
                name: dlq,
                spec,
                usage: Usage {
                    produce: true,
                    consume: false,
                },
                ownership: Ownership::Owned,
                requires: Requirements::default(),
            }),
        }
    }
    topics.sort_by(|a, b| a.name.cmp(&b.name));

    // Kafka refuses topics whose names collide once `.` and `_` are folded (metric names).
    let mut folded: BTreeMap<String, &str> = BTreeMap::new();
    for t in &topics {
        if let Some(other) = folded.insert(t.name.replace('.', "_"), &t.name) {
            warnings.push(format!("topics `{other}` and `{}` collide once `.` and `_` are folded; Kafka refuses to create both", t.name));
        }
    }
    if raw.group_id.is_none() && raw.app.is_none() && topics.iter().any(|t| t.usage.consume) {
        warnings.push(format!(
            "neither {} nor {} is set: the consumer group defaults to the client id `{group_id}`, so each replica may form its own group",
            vars::GROUP_ID, vars::APP
        ));
    }

    let metrics_listen = match raw.metrics_listen.as_deref().map(str::trim) {
        Some("off") => None,
        other => match other
            .unwrap_or(DEFAULT_METRICS_LISTEN)
            .parse::<std::net::SocketAddr>()
        {
            Ok(a) => Some(a),
            Err(_) => {
                problems.push(
                    vars::METRICS_LISTEN,
                    format!("`{}` is not ip:port or off", other.unwrap_or_default()),
                );
                None
            }
        },
    };
    let partition_lag = one_of(
        vars::METRICS_PARTITION_LAG,
        raw.metrics_partition_lag.as_deref(),
        &[("true", true), ("false", false)],
        false,
        &mut problems,
    );
    let ensure_timeout = match raw
        .ensure_timeout
        .as_deref()
        .map(super::units::parse_millis)
    {
        None => DEFAULT_ENSURE_TIMEOUT,
        Some(Ok(ms)) if ms > 0 => std::time::Duration::from_millis(ms.unsigned_abs()),
        Some(_) => {
            problems.push(
                vars::ENSURE_TIMEOUT,
                "must be a positive duration such as 30s or 2m",
            );
            DEFAULT_ENSURE_TIMEOUT
        }
    };
    let client_properties =
        client_properties::resolve(&raw.client_properties, durability, &mut problems);
    let classic_only: Vec<(&str, &str)> = CLASSIC_ONLY_PROPERTIES
        .iter()
        .filter(|(p, _)| client_properties.contains_key(*p))
        .copied()
        .collect();
    match group_protocol {
        GroupProtocol::Consumer => {
            for (property, instead) in &classic_only {
                problems.push(
                    &vars::client_property_var(property),
                    format!(
                        "`{property}` is not supported by KAFKA_GROUP_PROTOCOL=consumer; use {instead}, or KAFKA_GROUP_PROTOCOL=classic"
                    ),
                );
            }
        }
        GroupProtocol::Auto if !classic_only.is_empty() => {
            warnings.push(format!(
                "the classic group protocol is used because KAFKA_CLIENT_* sets {} (the new protocol refuses it); set KAFKA_GROUP_PROTOCOL=classic to say so",
                classic_only.iter().map(|(p, _)| format!("`{p}`")).collect::<Vec<_>>().join(", ")
            ));
            group_protocol = GroupProtocol::Classic;
        }
        _ => {}
    }
    problems.into_result(Settings {
        bootstrap_servers,
        client_id,
        app,
        group_id,
        group_instance_id: raw.group_instance_id,
        group_protocol,
        security,
        topics,
        topic_policy,
        replicas_mode,
        durability,
        client_properties,
        metrics_listen,
        partition_lag,
        ensure_timeout,
        warnings,
    })
}
