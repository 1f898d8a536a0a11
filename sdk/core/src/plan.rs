//! The plan: declarations compared with the live cluster. Pure: no I/O, unit-tested.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::Warning;

use crate::config::{
    DURABLE_REPLICAS, Durability, Ownership, ReplicasMode, Settings, Topic, TopicPolicy, TopicSpec,
    same_config_value,
};

/// One existing topic as the cluster reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LiveTopic {
    /// Number of partitions.
    pub partitions: i32,
    /// Replication factor (the smallest replica set over the partitions).
    pub replicas: i32,
    /// Every config entry the broker reports, by key.
    pub config: BTreeMap<String, String>,
    /// Partitions without a leader right now.
    pub leaderless_partitions: usize,
}

/// The part of the cluster provisioning looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClusterState {
    /// Number of live brokers.
    pub brokers: usize,
    /// Declared topics that exist, by name.
    pub topics: BTreeMap<String, LiveTopic>,
}

impl ClusterState {
    /// A state for planning without a cluster (tests, previews).
    pub fn new(brokers: usize, topics: BTreeMap<String, LiveTopic>) -> Self {
        Self { brokers, topics }
    }
}

impl LiveTopic {
    /// A live topic for planning without a cluster.
    pub fn new(partitions: i32, replicas: i32, config: BTreeMap<String, String>) -> Self {
        Self {
            partitions,
            replicas,
            config,
            leaderless_partitions: 0,
        }
    }
}

/// Declarations that cannot be planned on this cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A topic asks for more replicas than there are brokers.
    #[error(
        "topic `{topic}` declares {replicas} replicas but the cluster has {brokers} broker(s); lower replicas, or set KAFKA_TOPIC_REPLICAS=clamp for development"
    )]
    NotEnoughBrokers {
        /// Topic name.
        topic: String,
        /// Declared replicas.
        replicas: i32,
        /// Live brokers.
        brokers: usize,
    },
    /// An owned topic declares fewer replicas than durability needs, on a cluster with the
    /// brokers for them.
    #[error(
        "topic `{topic}` declares {replicas} replica(s) on a cluster of {brokers} brokers, which weakens durability: a broker loss can lose acknowledged records (durable: 3 or more); declare replicas=3, or set KAFKA_DURABILITY=relaxed to allow it"
    )]
    WeakReplicas {
        /// Topic name.
        topic: String,
        /// Declared replicas.
        replicas: i32,
        /// Live brokers.
        brokers: usize,
    },
}

/// What adding partitions does to keyed records, said wherever the change is shown.
pub const ADD_PARTITIONS_WARNING: &str = "keyed records of existing keys move to other partitions: per-key order across the change is not kept";

/// One thing about one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The topic is missing and will be created.
    Create {
        /// Partitions to create.
        partitions: i32,
        /// Replication factor.
        replicas: i32,
        /// Declared configs.
        config: BTreeMap<String, String>,
    },
    /// More partitions are declared than exist; they will be added.
    AddPartitions {
        /// Current count.
        from: i32,
        /// Declared count.
        to: i32,
    },
    /// A declared config differs and will be set (`reconcile` only).
    SetConfig {
        /// Config key.
        key: String,
        /// Current value, if any.
        from: Option<String>,
        /// Declared value.
        to: String,
    },
    /// Something differs and will not be changed.
    Drift {
        /// `partitions`, `replicas`, a config key, or `topic` when the topic is missing.
        what: String,
        /// Declared value.
        declared: String,
        /// Live value.
        actual: String,
        /// Why it is left alone.
        reason: String,
    },
    /// A topic the service depends on does not meet what it requires; nothing is changed.
    Unmet {
        /// `partitions` or a config key.
        what: String,
        /// What the consumer requires (`>= 6` for `min.partitions=6`).
        required: String,
        /// What the topic has.
        actual: String,
    },
    /// The topic matches its declaration (or meets a dependency's requirements).
    Unchanged,
}

impl Change {
    /// Whether applying the plan does something for this change.
    pub fn is_applied(&self) -> bool {
        matches!(
            self,
            Self::Create { .. } | Self::AddPartitions { .. } | Self::SetConfig { .. }
        )
    }

    fn symbol(&self) -> char {
        match self {
            Self::Create { .. } => '+',
            Self::AddPartitions { .. } | Self::SetConfig { .. } => '~',
            Self::Drift { .. } => '!',
            Self::Unmet { .. } => 'x',
            Self::Unchanged => '=',
        }
    }

    /// The change's name in JSON.
    fn kind(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::AddPartitions { .. } => "add_partitions",
            Self::SetConfig { .. } => "set_config",
            Self::Drift { .. } => "drift",
            Self::Unmet { .. } => "unmet",
            Self::Unchanged => "unchanged",
        }
    }

    /// What it is about: `topic`, `partitions`, `replicas` or a config key.
    pub fn key(&self) -> &str {
        match self {
            Self::Create { .. } | Self::Unchanged => "topic",
            Self::AddPartitions { .. } => "partitions",
            Self::SetConfig { key, .. } => key,
            Self::Drift { what, .. } | Self::Unmet { what, .. } => what,
        }
    }

    /// The value now (`None` when the topic or key is missing, or for `unchanged`).
    pub fn current(&self) -> Option<String> {
        match self {
            Self::Create { .. } | Self::Unchanged => None,
            Self::AddPartitions { from, .. } => Some(from.to_string()),
            Self::SetConfig { from, .. } => from.clone(),
            Self::Drift { actual, .. } | Self::Unmet { actual, .. } => Some(actual.clone()),
        }
    }

    /// The declared (or, for a dependency, required) value.
    pub fn declared(&self) -> Option<String> {
        match self {
            Self::Create { .. } => Some("present".to_owned()),
            Self::Unchanged => None,
            Self::AddPartitions { to, .. } => Some(to.to_string()),
            Self::SetConfig { to, .. } => Some(to.clone()),
            Self::Drift { declared, .. } => Some(declared.clone()),
            Self::Unmet { required, .. } => Some(required.clone()),
        }
    }

    /// Whether applying it cannot lose data or reorder records: adding partitions moves keys;
    /// lowering retention or changing the cleanup policy may delete records.
    pub fn is_safe(&self) -> bool {
        match self {
            Self::AddPartitions { .. } => false,
            Self::SetConfig { key, from, to } => match key.as_str() {
                "cleanup.policy" => false,
                "retention.ms"
                | "retention.bytes"
                | "local.retention.ms"
                | "local.retention.bytes" => {
                    let limit = |v: &str| {
                        v.parse::<i64>()
                            .ok()
                            .map(|n| if n < 0 { i64::MAX } else { n })
                    };
                    match (from.as_deref().and_then(limit), limit(to)) {
                        (Some(old), Some(new)) => new >= old,
                        // From a broker default we cannot see: assume it may lower it.
                        _ => false,
                    }
                }
                _ => true,
            },
            Self::Create { .. } | Self::Drift { .. } | Self::Unmet { .. } | Self::Unchanged => true,
        }
    }

    /// A warning that goes with the change.
    pub fn warning(&self) -> Option<&'static str> {
        matches!(self, Self::AddPartitions { .. }).then_some(ADD_PARTITIONS_WARNING)
    }
}

/// JSON: `action` (and `kind`, the same), `key`, `current`, `declared`, `safe`, `warning`, and
/// the variant's own fields.
impl Serialize for Change {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("action", self.kind())?;
        map.serialize_entry("kind", self.kind())?;
        map.serialize_entry("key", self.key())?;
        map.serialize_entry("current", &self.current())?;
        map.serialize_entry("declared", &self.declared())?;
        map.serialize_entry("safe", &self.is_safe())?;
        if let Some(w) = self.warning() {
            map.serialize_entry("warning", w)?;
        }
        match self {
            Self::Create {
                partitions,
                replicas,
                config,
            } => {
                map.serialize_entry("partitions", partitions)?;
                map.serialize_entry("replicas", replicas)?;
                map.serialize_entry("config", config)?;
            }
            Self::AddPartitions { from, to } => {
                map.serialize_entry("from", from)?;
                map.serialize_entry("to", to)?;
            }
            Self::SetConfig { from, to, .. } => {
                map.serialize_entry("from", from)?;
                map.serialize_entry("to", to)?;
            }
            Self::Drift {
                what,
                actual,
                reason,
                ..
            } => {
                map.serialize_entry("what", what)?;
                map.serialize_entry("actual", actual)?;
                map.serialize_entry("reason", reason)?;
            }
            Self::Unmet { .. } | Self::Unchanged => {}
        }
        map.end()
    }
}

/// The plan for one declared topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TopicPlan {
    /// Topic name.
    pub topic: String,
    /// Whether the service owns it (`owned`) or depends on it (`dependency`).
    pub role: Ownership,
    /// The settings the topic should have (after clamping, if any).
    #[serde(skip)]
    pub spec: TopicSpec,
    /// What differs, or `Unchanged`.
    pub changes: Vec<Change>,
}

/// Declarations compared with the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Plan {
    /// The policy the plan was made under.
    pub policy: TopicPolicy,
    /// Live brokers seen.
    pub brokers: usize,
    /// One entry per declared topic, by name.
    pub topics: Vec<TopicPlan>,
    /// Things to know (clamped replicas, ...).
    pub warnings: Vec<Warning>,
}

impl Plan {
    /// Whether applying it would change the cluster.
    pub fn has_changes(&self) -> bool {
        self.topics
            .iter()
            .flat_map(|t| &t.changes)
            .any(Change::is_applied)
    }

    /// Every drift, as `(topic, change)`.
    pub fn drift(&self) -> impl Iterator<Item = (&str, &Change)> {
        self.topics
            .iter()
            .flat_map(|t| t.changes.iter().map(move |c| (t.topic.as_str(), c)))
            .filter(|(_, c)| matches!(c, Change::Drift { .. }))
    }

    /// Every requirement of a dependency that is not met, as `(topic, change)`.
    pub fn unmet(&self) -> impl Iterator<Item = (&str, &Change)> {
        self.topics
            .iter()
            .flat_map(|t| t.changes.iter().map(move |c| (t.topic.as_str(), c)))
            .filter(|(_, c)| matches!(c, Change::Unmet { .. }))
    }

    /// Whether the plan fails: any unmet requirement of a dependency, and in `verify` mode any
    /// drift (including a missing topic).
    pub fn fails_policy(&self) -> bool {
        self.unmet().next().is_some()
            || (self.policy == TopicPolicy::Verify && self.drift().next().is_some())
    }

    /// Dependencies that are missing under `verify` (a wait, not yet a failure, while starting).
    pub fn missing_dependencies(&self) -> impl Iterator<Item = &str> {
        self.topics
            .iter()
            .filter(|t| t.role == Ownership::Dependency)
            .filter(|t| {
                t.changes
                    .iter()
                    .any(|c| matches!(c, Change::Drift { what, .. } if what == "topic"))
            })
            .map(|t| t.topic.as_str())
    }
}

fn render_config(config: &BTreeMap<String, String>) -> String {
    config.iter().map(|(k, v)| format!(" {k}={v}")).collect()
}

impl fmt::Display for Plan {
    /// One line per topic and key: `+` create, `~` change, `!` drift left alone, `=` unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.topics.iter().map(|t| t.topic.len()).max().unwrap_or(0);
        for t in &self.topics {
            for c in &t.changes {
                let name = &t.topic;
                let what = match c {
                    Change::Create {
                        partitions,
                        replicas,
                        config,
                    } => {
                        format!(
                            "create  partitions={partitions} replicas={replicas}{}",
                            render_config(config)
                        )
                    }
                    Change::AddPartitions { from, to } => {
                        format!("partitions {from} -> {to} (warning: {ADD_PARTITIONS_WARNING})")
                    }
                    Change::SetConfig { key, from, to } => {
                        format!("{key} {} -> {to}", from.as_deref().unwrap_or("(unset)"))
                    }
                    Change::Drift {
                        what,
                        declared,
                        actual,
                        reason,
                    } => {
                        format!("{what} declared {declared}, actual {actual} ({reason})")
                    }
                    Change::Unmet {
                        what,
                        required,
                        actual,
                    } => format!(
                        "{what} required {required}, actual {actual} (a dependency: not changed)"
                    ),
                    Change::Unchanged => "unchanged".to_owned(),
                };
                writeln!(f, "{} {name:<width$}  {what}", c.symbol())?;
            }
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        let count = |pred: fn(&Change) -> bool| {
            self.topics
                .iter()
                .flat_map(|t| &t.changes)
                .filter(|c| pred(c))
                .count()
        };
        write!(
            f,
            "policy {}, {} broker(s): {} to create, {} to change, {} drift left alone, {} unmet, {} unchanged",
            self.policy,
            self.brokers,
            count(|c| matches!(c, Change::Create { .. })),
            count(|c| matches!(c, Change::AddPartitions { .. } | Change::SetConfig { .. })),
            count(|c| matches!(c, Change::Drift { .. })),
            count(|c| matches!(c, Change::Unmet { .. })),
            count(|c| matches!(c, Change::Unchanged)),
        )
    }
}

/// The spec a topic gets on a cluster of `brokers`: replicas above the broker count are an error,
/// or clamped (with `min.insync.replicas`) when the settings allow.
fn effective_spec(
    topic: &Topic,
    brokers: usize,
    mode: ReplicasMode,
    warnings: &mut Vec<Warning>,
) -> Result<TopicSpec, PlanError> {
    let brokers_i32 = i32::try_from(brokers).unwrap_or(i32::MAX);
    let mut spec = topic.spec.clone();
    if spec.replicas <= brokers_i32 {
        return Ok(spec);
    }
    if mode == ReplicasMode::Strict {
        return Err(PlanError::NotEnoughBrokers {
            topic: topic.name.clone(),
            replicas: spec.replicas,
            brokers,
        });
    }
    warnings.push(Warning::ReplicasClamped {
        topic: topic.name.clone(),
        declared: spec.replicas,
        brokers: brokers_i32,
    });
    spec.replicas = brokers_i32;
    if let Some(min_isr) = spec.min_insync_replicas() {
        let clamped = min_isr.min((brokers_i32 - 1).max(1));
        if clamped != min_isr {
            spec.config
                .insert("min.insync.replicas".into(), clamped.to_string());
        }
    }
    Ok(spec)
}

fn plan_existing(spec: &TopicSpec, live: &LiveTopic, policy: TopicPolicy) -> Vec<Change> {
    let mut changes = Vec::new();
    let verify = policy == TopicPolicy::Verify;
    if spec.partitions > live.partitions {
        changes.push(if verify {
            Change::Drift {
                what: "partitions".into(),
                declared: spec.partitions.to_string(),
                actual: live.partitions.to_string(),
                reason: "verify changes nothing".into(),
            }
        } else {
            Change::AddPartitions {
                from: live.partitions,
                to: spec.partitions,
            }
        });
    } else if spec.partitions < live.partitions {
        changes.push(Change::Drift {
            what: "partitions".into(),
            declared: spec.partitions.to_string(),
            actual: live.partitions.to_string(),
            reason: "Kafka cannot remove partitions".into(),
        });
    }
    if spec.replicas != live.replicas {
        changes.push(Change::Drift {
            what: "replicas".into(),
            declared: spec.replicas.to_string(),
            actual: live.replicas.to_string(),
            reason: "changing the replication factor needs a partition reassignment".into(),
        });
    }
    for (key, declared) in &spec.config {
        let actual = live.config.get(key);
        if actual.is_some_and(|a| same_config_value(key, declared, a)) {
            continue;
        }
        changes.push(match policy {
            TopicPolicy::Reconcile => Change::SetConfig {
                key: key.clone(),
                from: actual.cloned(),
                to: declared.clone(),
            },
            TopicPolicy::Create | TopicPolicy::Verify => Change::Drift {
                what: key.clone(),
                declared: declared.clone(),
                actual: actual.cloned().unwrap_or_else(|| "(unset)".into()),
                reason: if verify {
                    "verify changes nothing"
                } else {
                    "policy create does not alter configs"
                }
                .into(),
            },
        });
    }
    if changes.is_empty() {
        changes.push(Change::Unchanged);
    }
    changes
}

/// What a dependency's live topic lacks of its requirements (or `Unchanged`). A dependency is
/// never changed.
fn plan_dependency(topic: &Topic, live: &LiveTopic) -> Vec<Change> {
    let mut changes = Vec::new();
    if let Some(min) = topic.requires.min_partitions
        && live.partitions < min
    {
        changes.push(Change::Unmet {
            what: "partitions".into(),
            required: format!(">= {min}"),
            actual: live.partitions.to_string(),
        });
    }
    for (key, required) in &topic.requires.config {
        let actual = live.config.get(key);
        if !actual.is_some_and(|a| same_config_value(key, required, a)) {
            changes.push(Change::Unmet {
                what: key.clone(),
                required: required.clone(),
                actual: actual.cloned().unwrap_or_else(|| "(unset)".into()),
            });
        }
    }
    if changes.is_empty() {
        changes.push(Change::Unchanged);
    }
    changes
}

/// Refuses an owned topic with fewer replicas than durability needs on a cluster that has the
/// brokers for them (unless `KAFKA_DURABILITY=relaxed`).
fn check_replicas_floor(
    settings: &Settings,
    topic: &Topic,
    spec: &TopicSpec,
    brokers: usize,
) -> Result<(), PlanError> {
    let enough = usize::try_from(DURABLE_REPLICAS).unwrap_or(3);
    if settings.durability == Durability::Strict
        && topic.is_owned()
        && brokers >= enough
        && spec.replicas < DURABLE_REPLICAS
    {
        return Err(PlanError::WeakReplicas {
            topic: topic.name.clone(),
            replicas: spec.replicas,
            brokers,
        });
    }
    Ok(())
}

/// Compares `settings`' declared topics with `cluster`.
pub fn plan(settings: &Settings, cluster: &ClusterState) -> Result<Plan, PlanError> {
    let mut warnings = Vec::new();
    let mut topics = Vec::new();
    for topic in &settings.topics {
        let spec = effective_spec(
            topic,
            cluster.brokers,
            settings.replicas_mode,
            &mut warnings,
        )?;
        check_replicas_floor(settings, topic, &spec, cluster.brokers)?;
        let changes = match cluster.topics.get(&topic.name) {
            Some(live) if topic.is_owned() => plan_existing(&spec, live, settings.topic_policy),
            Some(live) => plan_dependency(topic, live),
            None if settings.topic_policy == TopicPolicy::Verify => vec![Change::Drift {
                what: "topic".into(),
                declared: "present".into(),
                actual: "missing".into(),
                reason: "verify changes nothing".into(),
            }],
            None => {
                if !topic.is_owned() {
                    warnings.push(Warning::MissingDependencyCreated {
                        topic: topic.name.clone(),
                    });
                }
                vec![Change::Create {
                    partitions: spec.partitions,
                    replicas: spec.replicas,
                    config: spec.config.clone(),
                }]
            }
        };
        topics.push(TopicPlan {
            topic: topic.name.clone(),
            role: topic.ownership,
            spec,
            changes,
        });
    }
    Ok(Plan {
        policy: settings.topic_policy,
        brokers: cluster.brokers,
        topics,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        Settings::from_vars(
            [("KAFKA_BOOTSTRAP_SERVERS", "x:1"), ("KAFKA_APP", "t")]
                .into_iter()
                .chain(vars.iter().copied()),
        )
        .unwrap()
    }

    fn live(partitions: i32, replicas: i32, config: &[(&str, &str)]) -> LiveTopic {
        LiveTopic::new(
            partitions,
            replicas,
            config
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        )
    }

    fn cluster(brokers: usize, topics: Vec<(&str, LiveTopic)>) -> ClusterState {
        ClusterState::new(
            brokers,
            topics.into_iter().map(|(n, t)| (n.to_owned(), t)).collect(),
        )
    }

    const DURABLE: &[(&str, &str)] = &[
        ("min.insync.replicas", "2"),
        ("unclean.leader.election.enable", "false"),
    ];

    #[test]
    fn creates_missing_and_leaves_matching_alone() {
        let s = settings(&[("KAFKA_PRODUCES", "new(partitions=6), old")]);
        let p = plan(&s, &cluster(3, vec![("old", live(3, 3, DURABLE))])).unwrap();
        assert_eq!(
            p.topics[0].changes,
            [Change::Create {
                partitions: 6,
                replicas: 3,
                config: DURABLE
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect()
            }]
        );
        assert_eq!(p.topics[1].changes, [Change::Unchanged]);
        assert!(p.has_changes() && !p.fails_policy());
        let text = p.to_string();
        assert!(
            text.starts_with("+ new  create  partitions=6 replicas=3 min.insync.replicas=2"),
            "{text}"
        );
        assert!(text.contains("= old  unchanged"), "{text}");
    }

    #[test]
    fn grows_never_shrinks_and_reports_drift_by_policy() {
        let vars = [(
            "KAFKA_PRODUCES",
            "grow(partitions=6, retention.ms=1d), shrink(partitions=2)",
        )];
        let state = cluster(
            3,
            vec![
                (
                    "grow",
                    live(
                        3,
                        3,
                        &[
                            ("min.insync.replicas", "2"),
                            ("unclean.leader.election.enable", "false"),
                            ("retention.ms", "3600000"),
                        ],
                    ),
                ),
                ("shrink", live(4, 2, DURABLE)),
            ],
        );
        let create = plan(&settings(&vars), &state).unwrap();
        assert_eq!(
            create.topics[0].changes[0],
            Change::AddPartitions { from: 3, to: 6 }
        );
        assert!(
            matches!(&create.topics[0].changes[1], Change::Drift { what, reason, .. } if what == "retention.ms" && reason.contains("create"))
        );
        assert!(
            matches!(&create.topics[1].changes[0], Change::Drift { what, reason, .. } if what == "partitions" && reason.contains("cannot remove"))
        );
        assert!(
            matches!(&create.topics[1].changes[1], Change::Drift { what, .. } if what == "replicas")
        );
        assert!(!create.fails_policy());

        let mut reconcile_vars = vars.to_vec();
        reconcile_vars.push(("KAFKA_TOPIC_POLICY", "reconcile"));
        let reconcile = plan(&settings(&reconcile_vars), &state).unwrap();
        assert_eq!(
            reconcile.topics[0].changes[1],
            Change::SetConfig {
                key: "retention.ms".into(),
                from: Some("3600000".into()),
                to: "86400000".into()
            }
        );

        let mut verify_vars = vars.to_vec();
        verify_vars.push(("KAFKA_TOPIC_POLICY", "verify"));
        let verify = plan(&settings(&verify_vars), &state).unwrap();
        assert!(!verify.has_changes());
        assert!(verify.fails_policy());
    }

    #[test]
    fn verify_fails_on_a_missing_topic() {
        let p = plan(
            &settings(&[("KAFKA_TOPIC", "gone"), ("KAFKA_TOPIC_POLICY", "verify")]),
            &cluster(3, vec![]),
        )
        .unwrap();
        assert!(p.fails_policy());
        assert!(
            p.to_string()
                .starts_with("! gone      topic declared present, actual missing"),
            "{p}"
        );
        assert!(
            p.to_string()
                .contains("\n! gone.dlq  topic declared present"),
            "{p}"
        );
    }

    #[test]
    fn replicas_above_brokers_fail_or_clamp() {
        let err = plan(&settings(&[("KAFKA_TOPIC", "t")]), &cluster(1, vec![])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "topic `t` declares 3 replicas but the cluster has 1 broker(s); lower replicas, or set KAFKA_TOPIC_REPLICAS=clamp for development"
        );
        let p = plan(
            &settings(&[("KAFKA_TOPIC", "t"), ("KAFKA_TOPIC_REPLICAS", "clamp")]),
            &cluster(1, vec![]),
        )
        .unwrap();
        assert!(
            matches!(&p.topics[0].changes[0], Change::Create { replicas: 1, config, .. } if config["min.insync.replicas"] == "1")
        );
        assert_eq!(
            p.warnings.len(),
            2,
            "the topic and its dead-letter topic: {:?}",
            p.warnings
        );
        assert!(
            p.warnings.iter().all(|w| matches!(
                w,
                Warning::ReplicasClamped {
                    declared: 3,
                    brokers: 1,
                    ..
                }
            )),
            "{:?}",
            p.warnings
        );
        let p = plan(
            &settings(&[("KAFKA_TOPIC", "t"), ("KAFKA_TOPIC_REPLICAS", "clamp")]),
            &cluster(2, vec![]),
        )
        .unwrap();
        assert!(
            matches!(&p.topics[0].changes[0], Change::Create { replicas: 2, config, .. } if config["min.insync.replicas"] == "1")
        );
    }

    #[test]
    fn json_is_machine_readable() {
        let p = plan(&settings(&[("KAFKA_TOPIC", "t")]), &cluster(3, vec![])).unwrap();
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["policy"], "create");
        assert_eq!(json["topics"][0]["changes"][0]["action"], "create");
        assert_eq!(json["topics"][0]["changes"][0]["partitions"], 3);
    }

    #[test]
    fn a_dependency_is_checked_against_its_requirements_and_never_changed() {
        let vars = [(
            "KAFKA_CONSUMES",
            "payments.v1(min.partitions=6, cleanup.policy=delete)",
        )];
        let short = cluster(
            3,
            vec![(
                "payments.v1",
                live(
                    1,
                    3,
                    &[("cleanup.policy", "compact"), ("min.insync.replicas", "1")],
                ),
            )],
        );
        for policy in ["create", "reconcile", "verify"] {
            let mut v = vars.to_vec();
            v.push(("KAFKA_TOPIC_POLICY", policy));
            let p = plan(&settings(&v), &short).unwrap();
            let deps = &p.topics[0];
            assert_eq!(
                (deps.topic.as_str(), deps.role),
                ("payments.v1", Ownership::Dependency)
            );
            assert_eq!(
                deps.changes,
                [
                    Change::Unmet {
                        what: "partitions".into(),
                        required: ">= 6".into(),
                        actual: "1".into()
                    },
                    Change::Unmet {
                        what: "cleanup.policy".into(),
                        required: "delete".into(),
                        actual: "compact".into()
                    },
                ],
                "{policy}: the owner's partitions and config are left alone"
            );
            assert!(p.fails_policy(), "{policy}");
            assert_eq!(p.topics[1].role, Ownership::Owned, "its dead-letter topic");
        }
        let enough = cluster(
            3,
            vec![
                ("payments.v1", live(12, 3, &[("cleanup.policy", "delete")])),
                ("payments.v1.dlq", live(6, 3, DURABLE)),
            ],
        );
        let p = plan(&settings(&vars), &enough).unwrap();
        assert_eq!(p.topics[0].changes, [Change::Unchanged]);
        assert!(!p.fails_policy() && !p.has_changes(), "{p}");
        assert!(p.to_string().starts_with("= payments.v1 "), "{p}");
    }

    #[test]
    fn a_missing_dependency_is_created_where_the_policy_creates_and_awaited_under_verify() {
        let p = plan(
            &settings(&[("KAFKA_CONSUMES", "payments.v1(min.partitions=6)")]),
            &cluster(3, vec![]),
        )
        .unwrap();
        assert!(
            matches!(
                &p.topics[0].changes[0],
                Change::Create { partitions: 6, .. }
            ),
            "{p}"
        );
        assert!(
            p.warnings
                .iter()
                .any(|w| matches!(w, Warning::MissingDependencyCreated { .. })
                    && w.to_string().contains("dependency")),
            "{:?}",
            p.warnings
        );
        let verify = plan(
            &settings(&[
                ("KAFKA_CONSUMES", "payments.v1"),
                ("KAFKA_TOPIC_POLICY", "verify"),
            ]),
            &cluster(3, vec![]),
        )
        .unwrap();
        assert_eq!(
            verify.missing_dependencies().collect::<Vec<_>>(),
            ["payments.v1"]
        );
        assert!(verify.fails_policy());
    }

    #[test]
    fn a_consumer_owns_what_it_marks_owned() {
        let p = plan(
            &settings(&[("KAFKA_CONSUMES", "scratch(owned, partitions=6)")]),
            &cluster(3, vec![("scratch", live(3, 3, DURABLE))]),
        )
        .unwrap();
        assert_eq!(p.topics[0].role, Ownership::Owned);
        assert_eq!(
            p.topics[0].changes,
            [Change::AddPartitions { from: 3, to: 6 }]
        );
        assert!(
            p.to_string()
                .contains("keyed records of existing keys move"),
            "{p}"
        );
    }

    #[test]
    fn fewer_than_three_replicas_on_three_brokers_need_relaxed_durability() {
        let weak = [("KAFKA_PRODUCES", "t(replicas=2)")];
        let err = plan(&settings(&weak), &cluster(3, vec![])).unwrap_err();
        assert!(matches!(
            err,
            PlanError::WeakReplicas {
                replicas: 2,
                brokers: 3,
                ..
            }
        ));
        assert!(
            err.to_string().contains("KAFKA_DURABILITY=relaxed"),
            "{err}"
        );
        assert!(
            plan(&settings(&weak), &cluster(2, vec![])).is_ok(),
            "two brokers: two replicas"
        );
        let mut relaxed = weak.to_vec();
        relaxed.push(("KAFKA_DURABILITY", "relaxed"));
        assert!(plan(&settings(&relaxed), &cluster(3, vec![])).is_ok());
        // A dependency's replicas are its owner's business.
        assert!(
            plan(
                &settings(&[("KAFKA_CONSUMES", "d")]),
                &cluster(3, vec![("d", live(3, 1, &[]))])
            )
            .is_ok()
        );
    }

    #[test]
    fn json_changes_say_kind_key_values_and_safety() {
        let s = settings(&[
            ("KAFKA_PRODUCES", "t(partitions=6, retention.ms=1h)"),
            ("KAFKA_TOPIC_POLICY", "reconcile"),
        ]);
        let p = plan(
            &s,
            &cluster(3, vec![("t", live(3, 3, &[("retention.ms", "86400000")]))]),
        )
        .unwrap();
        let json = serde_json::to_value(&p).unwrap();
        let changes = json["topics"][0]["changes"].as_array().unwrap();
        assert_eq!(json["topics"][0]["role"], "owned");
        let grow = &changes[0];
        assert_eq!(
            (
                &grow["kind"],
                &grow["key"],
                &grow["current"],
                &grow["declared"],
                &grow["safe"]
            ),
            (
                &json!("add_partitions"),
                &json!("partitions"),
                &json!("3"),
                &json!("6"),
                &json!(false)
            )
        );
        assert!(grow["warning"].as_str().unwrap().contains("keyed records"));
        let retention = changes.iter().find(|c| c["key"] == "retention.ms").unwrap();
        assert_eq!(retention["kind"], "set_config");
        assert_eq!(
            retention["safe"], false,
            "lowering retention deletes records"
        );
        assert_eq!(
            (&retention["current"], &retention["declared"]),
            (&json!("86400000"), &json!("3600000"))
        );
    }
}
