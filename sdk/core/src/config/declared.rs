//! Topic declarations (`KAFKA_TOPIC`, `KAFKA_PRODUCES`, `KAFKA_CONSUMES`,
//! `KAFKA_TOPIC_DEFAULTS`) resolved into [`Topic`]s: parsed, merged across variables, owned or a
//! dependency, durable unless relaxed, each consumed topic with its dead-letter topic.

use std::collections::{BTreeMap, HashMap};

use super::error::{Problems, TopicNameError};
use super::grammar::{self, RawDecl};
use super::model::{
    DEFAULT_PARTITIONS, DEFAULT_REPLICAS, DEFAULT_TOPIC_CONFIG, Durability, Ownership,
    ReplicasMode, Requirements, RetryMode, Topic, TopicSpec, Usage,
};
use super::topic_keys;
use super::vars::{self, RawVars};
use crate::Warning;
use crate::naming::{DLQ_SUFFIX, RETRY_SUFFIX};

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

/// The declared topics of `raw`, sorted by name, with the dead-letter topics of the consumed
/// ones; what is wrong goes to `problems`, what is doubtful to `warnings`.
pub(super) fn topics(
    raw: &RawVars,
    (durability, replicas_mode, retry_mode): (Durability, ReplicasMode, RetryMode),
    problems: &mut Problems,
    warnings: &mut Vec<Warning>,
) -> Vec<Topic> {
    let defaults = topic_defaults(raw, durability, problems);
    let both = Usage {
        produce: true,
        consume: true,
    };
    let mut declared = declarations(vars::TOPIC, raw.topic.as_deref(), both, problems);
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
        problems,
    ));
    declared.extend(declarations(
        vars::CONSUMES,
        raw.consumes.as_deref(),
        Usage {
            produce: false,
            consume: true,
        },
        problems,
    ));

    let mut topics: Vec<Topic> = merge(declared, problems)
        .into_iter()
        .map(|(name, explicit, usage, variable)| {
            let context = Context {
                variable,
                defaults: &defaults,
                durability,
                replicas_mode,
            };
            topic(name, explicit, usage, &context, problems, warnings)
        })
        .collect();
    let derived: &[(&str, &str)] = match retry_mode {
        RetryMode::Park => &[(DLQ_SUFFIX, "dead-letter"), (RETRY_SUFFIX, "retry")],
        _ => &[(DLQ_SUFFIX, "dead-letter")],
    };
    add_derived_topics(&mut topics, derived, problems);
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    warn_of_folded_collisions(&topics, warnings);
    topics
}

/// What resolving one declared topic needs besides its declaration.
struct Context<'a> {
    /// The variable it was (first) declared in.
    variable: &'static str,
    defaults: &'a Explicit,
    durability: Durability,
    replicas_mode: ReplicasMode,
}

/// One declared topic: owned (its settings are the declaration's over the defaults) or a
/// dependency (what is written are its consumer's requirements).
fn topic(
    name: String,
    explicit: Explicit,
    usage: Usage,
    cx: &Context<'_>,
    problems: &mut Problems,
    warnings: &mut Vec<Warning>,
) -> Topic {
    let (variable, defaults, durability, replicas_mode) =
        (cx.variable, cx.defaults, cx.durability, cx.replicas_mode);
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
            warnings.push(Warning::NoBrokerMayFail {
                topic: name.clone(),
                min_insync_replicas: min_isr,
            });
        }
    }
    Topic {
        name,
        spec,
        usage,
        ownership: if owned {
            Ownership::Owned
        } else {
            Ownership::Dependency
        },
        requires,
    }
}

/// Every consumed topic gets a dead-letter topic (and with `KAFKA_RETRY_MODE=park` a retry
/// topic) with the same settings, written (so owned) by kafkadeps: `derived` holds their
/// suffixes and what they are called in problems.
fn add_derived_topics(topics: &mut Vec<Topic>, derived: &[(&str, &str)], problems: &mut Problems) {
    let consumed: Vec<(String, TopicSpec)> = topics
        .iter()
        .filter(|t| t.usage.consume)
        .map(|t| (t.name.clone(), t.spec.clone()))
        .collect();
    for ((name, spec), (suffix, what)) in consumed
        .iter()
        .flat_map(|c| derived.iter().map(move |d| (c, d)))
    {
        let (name, spec) = (name.clone(), spec.clone());
        let dlq = format!("{name}{suffix}");
        if let Some(p) = topic_name_problem(&dlq) {
            problems.push(vars::CONSUMES, format!("{what} topic of `{name}`: {p}"));
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
}

/// Kafka refuses topics whose names collide once `.` and `_` are folded (metric names).
fn warn_of_folded_collisions(topics: &[Topic], warnings: &mut Vec<Warning>) {
    let mut folded: BTreeMap<String, &str> = BTreeMap::new();
    for t in topics {
        if let Some(other) = folded.insert(t.name.replace('.', "_"), &t.name) {
            warnings.push(Warning::FoldedNameCollision {
                first: other.to_owned(),
                second: t.name.clone(),
            });
        }
    }
}

/// `KAFKA_TOPIC_DEFAULTS`: what every owned topic gets unless its declaration says otherwise.
fn topic_defaults(raw: &RawVars, durability: Durability, problems: &mut Problems) -> Explicit {
    match raw.topic_defaults.as_deref().map(grammar::parse_settings) {
        None => Explicit::default(),
        Some(Ok(settings)) => {
            let defaults = explicit_settings(vars::TOPIC_DEFAULTS, "defaults", &settings, problems);
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
    }
}
