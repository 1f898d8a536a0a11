//! The plan: declarations compared with the live cluster. Pure: no I/O, unit-tested.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::ProvisionError;
use super::live::{ClusterState, LiveTopic};
use crate::config::{ReplicasMode, Settings, Topic, TopicPolicy, TopicSpec, same_config_value};

/// One thing about one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
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
    /// The topic matches its declaration.
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
            Self::Unchanged => '=',
        }
    }
}

/// The plan for one declared topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TopicPlan {
    /// Topic name.
    pub topic: String,
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
    pub warnings: Vec<String>,
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

    /// Whether the plan fails its policy: in `verify` mode any drift (including a missing topic).
    pub fn fails_policy(&self) -> bool {
        self.policy == TopicPolicy::Verify && self.drift().next().is_some()
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
                    Change::AddPartitions { from, to } => format!("partitions {from} -> {to}"),
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
            "policy {}, {} broker(s): {} to create, {} to change, {} drift left alone, {} unchanged",
            self.policy,
            self.brokers,
            count(|c| matches!(c, Change::Create { .. })),
            count(|c| matches!(c, Change::AddPartitions { .. } | Change::SetConfig { .. })),
            count(|c| matches!(c, Change::Drift { .. })),
            count(|c| matches!(c, Change::Unchanged)),
        )
    }
}

/// The spec a topic gets on a cluster of `brokers`: replicas above the broker count are an error,
/// or clamped (with `min.insync.replicas`) when the settings allow.
pub(crate) fn effective_spec(
    topic: &Topic,
    brokers: usize,
    mode: ReplicasMode,
    warnings: &mut Vec<String>,
) -> Result<TopicSpec, ProvisionError> {
    let brokers_i32 = i32::try_from(brokers).unwrap_or(i32::MAX);
    let mut spec = topic.spec.clone();
    if spec.replicas <= brokers_i32 {
        return Ok(spec);
    }
    if mode == ReplicasMode::Strict {
        return Err(ProvisionError::NotEnoughBrokers {
            topic: topic.name.clone(),
            replicas: spec.replicas,
            brokers,
        });
    }
    warnings.push(format!(
        "topic `{}`: replicas clamped from {} to {brokers_i32} (KAFKA_TOPIC_REPLICAS=clamp); not durable",
        topic.name, spec.replicas
    ));
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

/// Compares `settings`' declared topics with `cluster`.
pub fn plan(settings: &Settings, cluster: &ClusterState) -> Result<Plan, ProvisionError> {
    let mut warnings = Vec::new();
    let mut topics = Vec::new();
    for topic in &settings.topics {
        let spec = effective_spec(
            topic,
            cluster.brokers,
            settings.replicas_mode,
            &mut warnings,
        )?;
        let changes = match cluster.topics.get(&topic.name) {
            Some(live) => plan_existing(&spec, live, settings.topic_policy),
            None if settings.topic_policy == TopicPolicy::Verify => vec![Change::Drift {
                what: "topic".into(),
                declared: "present".into(),
                actual: "missing".into(),
                reason: "verify changes nothing".into(),
            }],
            None => vec![Change::Create {
                partitions: spec.partitions,
                replicas: spec.replicas,
                config: spec.config.clone(),
            }],
        };
        topics.push(TopicPlan {
            topic: topic.name.clone(),
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
}
