//! From raw variable text to a validated [`Settings`]: every problem reported at once, before
//! anything touches the network. Topic declarations are resolved in [`super::declared`], the
//! security settings in [`super::security`].

use super::error::{ConfigError, Problems};
use super::model::{
    CLASSIC_ONLY_PROPERTIES, DEFAULT_ENSURE_TIMEOUT, DEFAULT_METRICS_LISTEN, Durability,
    GroupProtocol, ProducerProfile, ReplicasMode, RetryMode, Settings, TopicPolicy,
};
use super::vars::{self, RawVars};
use super::{client_properties, declared, security};
use crate::Warning;

/// Resolves `raw` into settings, or every problem found.
pub(crate) fn resolve(raw: RawVars) -> Result<Settings, ConfigError> {
    let mut problems = Problems::default();
    let mut warnings = Vec::new();
    let bootstrap_servers = bootstrap_servers(&raw, &mut problems);
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
        GroupProtocol::Auto,
        &mut problems,
    );
    let retry_mode = one_of(
        vars::RETRY_MODE,
        raw.retry_mode.as_deref(),
        &[("in-place", RetryMode::InPlace), ("park", RetryMode::Park)],
        RetryMode::InPlace,
        &mut problems,
    );
    let producer_profile = one_of(
        vars::PRODUCER_PROFILE,
        raw.producer_profile.as_deref(),
        &[
            ("throughput", ProducerProfile::Throughput),
            ("latency", ProducerProfile::Latency),
        ],
        ProducerProfile::Throughput,
        &mut problems,
    );
    let security = security::resolve(&raw, &mut problems);
    unknown_variables(&raw, &mut problems, &mut warnings);
    let topics = declared::topics(
        &raw,
        (durability, replicas_mode, retry_mode),
        &mut problems,
        &mut warnings,
    );
    if raw.group_id.is_none() && raw.app.is_none() && topics.iter().any(|t| t.usage.consume) {
        warnings.push(Warning::GroupIsClientId {
            group: group_id.clone(),
        });
    }

    let (metrics_listen, partition_lag) = metrics(&raw, &mut problems);
    let ensure_timeout = ensure_timeout(&raw, &mut problems);
    let client_properties =
        client_properties::resolve(&raw.client_properties, durability, &mut problems);
    group_protocol = with_client_properties(
        group_protocol,
        &client_properties,
        &mut problems,
        &mut warnings,
    );
    problems.into_result(Settings {
        bootstrap_servers,
        client_id,
        app,
        group_id,
        group_instance_id: raw.group_instance_id,
        group_protocol,
        retry_mode,
        producer_profile,
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

/// `KAFKA_METRICS_LISTEN` (`off`: no admin server) and `KAFKA_METRICS_PARTITION_LAG`.
fn metrics(raw: &RawVars, problems: &mut Problems) -> (Option<std::net::SocketAddr>, bool) {
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
        problems,
    );
    (metrics_listen, partition_lag)
}

/// `KAFKA_ENSURE_TIMEOUT`: how long start-up waits for the cluster.
fn ensure_timeout(raw: &RawVars, problems: &mut Problems) -> std::time::Duration {
    match raw
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
    }
}

/// The group protocol once the `KAFKA_CLIENT_*` properties are known: classic-only properties
/// are refused under `consumer`, and choose classic under `auto`.
fn with_client_properties(
    protocol: GroupProtocol,
    client_properties: &std::collections::BTreeMap<String, String>,
    problems: &mut Problems,
    warnings: &mut Vec<Warning>,
) -> GroupProtocol {
    let classic_only: Vec<(&str, &str)> = CLASSIC_ONLY_PROPERTIES
        .iter()
        .filter(|(p, _)| client_properties.contains_key(*p))
        .copied()
        .collect();
    match protocol {
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
            warnings.push(Warning::ClassicProtocolChosen {
                properties: classic_only.iter().map(|(p, _)| (*p).to_owned()).collect(),
            });
            return GroupProtocol::Classic;
        }
        _ => {}
    }
    protocol
}

/// `KAFKA_BOOTSTRAP_SERVERS`: required, each entry `host:port`.
fn bootstrap_servers(raw: &RawVars, problems: &mut Problems) -> String {
    match raw.bootstrap_servers.as_deref().map(str::trim) {
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
    }
}

/// `KAFKA_*` variables kafkadeps does not know: problems, or warnings with
/// `KAFKA_UNKNOWN_VARIABLES=warn`.
fn unknown_variables(raw: &RawVars, problems: &mut Problems, warnings: &mut Vec<Warning>) {
    let warn_unknown = one_of(
        vars::UNKNOWN_VARIABLES,
        raw.unknown_variables.as_deref(),
        &[("error", false), ("warn", true)],
        false,
        problems,
    );
    for name in &raw.unknown {
        let did_you_mean = vars::did_you_mean(name);
        if warn_unknown {
            warnings.push(Warning::UnknownVariable {
                name: name.clone(),
                did_you_mean: did_you_mean.map(str::to_owned),
            });
        } else {
            problems.push(name, crate::warning::unknown_variable(did_you_mean));
        }
    }
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
