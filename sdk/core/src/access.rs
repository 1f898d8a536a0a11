//! The authorizer rights a declaration set needs, and nothing more: what
//! `kafkadeps-sidecar acls` prints and what a platform pipeline grants a service's principal.
//!
//! | what the service does | resource | operations |
//! |---|---|---|
//! | produces a topic (or writes its dead-letter topic) | topic, literal | `Write`, `Describe` |
//! | idempotent producer (any produced topic) | cluster | `IdempotentWrite` |
//! | consumes a topic | topic, literal | `Read`, `Describe` |
//! | commits offsets, joins the group, samples lag | group, literal | `Read` |
//! | plans and checks every declared topic (readiness) | topic, literal | `Describe`, `DescribeConfigs` |
//! | `create` / `reconcile`: creates a missing owned topic or dependency | topic, literal | `Create` |
//! | `create` / `reconcile`: grows an owned topic's partitions | topic, literal | `Alter` |
//! | `reconcile`: corrects an owned topic's config | topic, literal | `AlterConfigs` |
//! | exactly-once (`transactional`) | transactional id, prefixed `<app>-` | `Write`, `Describe` |
//!
//! Under `verify` nothing is created or changed, so no `Create` or `Alter*` right is derived.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::config::{RetryMode, Settings, TopicPolicy};

/// A kind of resource an ACL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResourceKind {
    /// The cluster itself (`kafka-cluster`).
    Cluster,
    /// A topic.
    Topic,
    /// A consumer group.
    Group,
    /// A transactional id.
    TransactionalId,
}

/// How an ACL's resource name matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PatternType {
    /// Exactly this name.
    Literal,
    /// Every name starting with it.
    Prefixed,
}

/// An operation an ACL allows (Kafka's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[non_exhaustive]
pub enum Operation {
    /// Consume, commit, join a group.
    Read,
    /// Produce.
    Write,
    /// Create topics.
    Create,
    /// Metadata, offsets, group descriptions.
    Describe,
    /// Create partitions.
    Alter,
    /// Read topic configs.
    DescribeConfigs,
    /// Change topic configs.
    AlterConfigs,
    /// Idempotent produce (implied by `Write` on a topic since Kafka 3.0; kept for older
    /// brokers).
    IdempotentWrite,
}

impl Operation {
    /// Kafka's (and Strimzi's) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "Read",
            Self::Write => "Write",
            Self::Create => "Create",
            Self::Describe => "Describe",
            Self::Alter => "Alter",
            Self::DescribeConfigs => "DescribeConfigs",
            Self::AlterConfigs => "AlterConfigs",
            Self::IdempotentWrite => "IdempotentWrite",
        }
    }
}

/// One allowed ACL: operations on a resource, for the service's principal, from any host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Acl {
    /// What it names.
    pub resource: ResourceKind,
    /// The resource's name (`kafka-cluster` for the cluster).
    pub name: String,
    /// How the name matches.
    pub pattern: PatternType,
    /// What it allows.
    pub operations: BTreeSet<Operation>,
}

impl fmt::Display for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.resource {
            ResourceKind::Cluster => "cluster",
            ResourceKind::Topic => "topic",
            ResourceKind::Group => "group",
            ResourceKind::TransactionalId => "transactional-id",
        };
        let pattern = match self.pattern {
            PatternType::Literal => "",
            PatternType::Prefixed => "*",
        };
        let ops: Vec<&str> = self.operations.iter().map(|o| o.as_str()).collect();
        write!(f, "{kind} {}{pattern}: {}", self.name, ops.join(", "))
    }
}

/// What the derivation covers beyond the declarations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AclOptions {
    /// The service runs exactly-once transforms (`Kafka::transactional`): its transactional
    /// ids (`<app>-<instance>`) need `Write` and `Describe`.
    pub transactional: bool,
}

impl AclOptions {
    /// With or without exactly-once.
    pub fn transactional(mut self, yes: bool) -> Self {
        self.transactional = yes;
        self
    }
}

/// The ACLs the declarations of `settings` need under their topic policy, one per resource,
/// sorted (cluster, topics, groups, transactional ids).
pub fn required_acls(settings: &Settings, options: AclOptions) -> Vec<Acl> {
    let mut acls: BTreeMap<(ResourceKind, String, PatternType), BTreeSet<Operation>> =
        BTreeMap::new();
    let mut allow = |kind, name: &str, pattern, ops: &[Operation]| {
        acls.entry((kind, name.to_owned(), pattern))
            .or_default()
            .extend(ops.iter().copied());
    };
    let changes = settings.topic_policy != TopicPolicy::Verify;
    for topic in &settings.topics {
        let name = topic.name.as_str();
        allow(
            ResourceKind::Topic,
            name,
            PatternType::Literal,
            &[Operation::Describe, Operation::DescribeConfigs],
        );
        if topic.usage.produce {
            allow(
                ResourceKind::Topic,
                name,
                PatternType::Literal,
                &[Operation::Write],
            );
            allow(
                ResourceKind::Cluster,
                "kafka-cluster",
                PatternType::Literal,
                &[Operation::IdempotentWrite],
            );
        }
        if topic.usage.consume {
            allow(
                ResourceKind::Topic,
                name,
                PatternType::Literal,
                &[Operation::Read],
            );
            allow(
                ResourceKind::Group,
                &settings.group_id,
                PatternType::Literal,
                &[Operation::Read],
            );
            if settings.retry_mode == RetryMode::Park {
                // The retry reader reads the retry topic, its offsets in `<group>.retry`.
                allow(
                    ResourceKind::Topic,
                    &crate::naming::retry_topic(name),
                    PatternType::Literal,
                    &[Operation::Read],
                );
                allow(
                    ResourceKind::Group,
                    &crate::naming::retry_group(&settings.group_id),
                    PatternType::Literal,
                    &[Operation::Read],
                );
            }
        }
        if changes {
            // A missing dependency is created where the policy creates; only owned topics change.
            allow(
                ResourceKind::Topic,
                name,
                PatternType::Literal,
                &[Operation::Create],
            );
            if topic.is_owned() {
                allow(
                    ResourceKind::Topic,
                    name,
                    PatternType::Literal,
                    &[Operation::Alter],
                );
                if settings.topic_policy == TopicPolicy::Reconcile {
                    allow(
                        ResourceKind::Topic,
                        name,
                        PatternType::Literal,
                        &[Operation::AlterConfigs],
                    );
                }
            }
        }
    }
    if options.transactional {
        allow(
            ResourceKind::TransactionalId,
            &format!("{}-", settings.app),
            PatternType::Prefixed,
            &[Operation::Write, Operation::Describe],
        );
    }
    acls.into_iter()
        .map(|((resource, name, pattern), operations)| Acl {
            resource,
            name,
            pattern,
            operations,
        })
        .collect()
}

/// The ACLs as a Strimzi `KafkaUser`'s `spec.authorization` (type `simple`), YAML.
pub fn strimzi_authorization(acls: &[Acl]) -> String {
    let mut out = String::from("authorization:\n  type: simple\n  acls:\n");
    for acl in acls {
        let resource = match acl.resource {
            ResourceKind::Cluster => "{type: cluster}".to_owned(),
            kind => {
                let kind = match kind {
                    ResourceKind::Group => "group",
                    ResourceKind::TransactionalId => "transactionalId",
                    _ => "topic",
                };
                let pattern = match acl.pattern {
                    PatternType::Literal => "literal",
                    PatternType::Prefixed => "prefix",
                };
                format!(
                    "{{type: {kind}, name: {}, patternType: {pattern}}}",
                    yaml_string(&acl.name)
                )
            }
        };
        let ops: Vec<&str> = acl.operations.iter().map(|o| o.as_str()).collect();
        out.push_str(&format!(
            "    - resource: {resource}\n      operations: [{}]\n      host: \"*\"\n",
            ops.join(", ")
        ));
    }
    out
}

/// A YAML double-quoted scalar (names may hold `.`, `-`, `_`; quoting keeps them strings).
fn yaml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Declaration;

    fn settings(policy: TopicPolicy) -> Settings {
        Settings::builder("127.0.0.1:9092")
            .app("orders")
            .group_id("orders-g")
            .produces(Declaration::new("orders.v1"))
            .consumes("payments.v1")
            .topic_policy(policy)
            .build()
            .expect("valid")
    }

    fn ops(acls: &[Acl], kind: ResourceKind, name: &str) -> Vec<&'static str> {
        acls.iter()
            .find(|a| a.resource == kind && a.name == name)
            .map(|a| a.operations.iter().map(|o| o.as_str()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn each_use_gets_its_rights_and_nothing_more() {
        let acls = required_acls(&settings(TopicPolicy::Create), AclOptions::default());
        assert_eq!(
            ops(&acls, ResourceKind::Topic, "orders.v1"),
            ["Write", "Create", "Describe", "Alter", "DescribeConfigs"]
        );
        // A dependency: read, and created only if missing; never altered.
        assert_eq!(
            ops(&acls, ResourceKind::Topic, "payments.v1"),
            ["Read", "Create", "Describe", "DescribeConfigs"]
        );
        // Its dead-letter topic is the service's own.
        assert_eq!(
            ops(&acls, ResourceKind::Topic, "payments.v1.dlq"),
            ["Write", "Create", "Describe", "Alter", "DescribeConfigs"]
        );
        assert_eq!(ops(&acls, ResourceKind::Group, "orders-g"), ["Read"]);
        assert_eq!(
            ops(&acls, ResourceKind::Cluster, "kafka-cluster"),
            ["IdempotentWrite"]
        );
        assert!(
            acls.iter()
                .all(|a| a.resource != ResourceKind::TransactionalId),
            "no transactions unless asked"
        );
    }

    #[test]
    fn verify_needs_no_create_or_alter_and_reconcile_alters_configs() {
        let verify = required_acls(&settings(TopicPolicy::Verify), AclOptions::default());
        assert!(verify.iter().all(|a| {
            !a.operations.contains(&Operation::Create)
                && !a.operations.contains(&Operation::Alter)
                && !a.operations.contains(&Operation::AlterConfigs)
        }));
        let reconcile = required_acls(&settings(TopicPolicy::Reconcile), AclOptions::default());
        assert!(ops(&reconcile, ResourceKind::Topic, "orders.v1").contains(&"AlterConfigs"));
        assert!(!ops(&reconcile, ResourceKind::Topic, "payments.v1").contains(&"AlterConfigs"));
    }

    #[test]
    fn exactly_once_adds_the_transactional_id_prefix_and_strimzi_renders_it() {
        let acls = required_acls(
            &settings(TopicPolicy::Verify),
            AclOptions::default().transactional(true),
        );
        assert_eq!(
            ops(&acls, ResourceKind::TransactionalId, "orders-"),
            ["Write", "Describe"]
        );
        let yaml = strimzi_authorization(&acls);
        assert!(
            yaml.starts_with("authorization:\n  type: simple\n  acls:\n"),
            "{yaml}"
        );
        assert!(yaml.contains(
            "- resource: {type: transactionalId, name: \"orders-\", patternType: prefix}\n      operations: [Write, Describe]"
        ), "{yaml}");
        assert!(
            yaml.contains("- resource: {type: cluster}\n      operations: [IdempotentWrite]"),
            "{yaml}"
        );
    }

    #[test]
    fn park_mode_reads_and_writes_the_retry_topic_and_reads_the_retry_group() {
        let parked = Settings::builder("127.0.0.1:9092")
            .app("orders")
            .group_id("orders-g")
            .consumes("payments.v1")
            .retry_mode(crate::config::RetryMode::Park)
            .build()
            .expect("valid");
        let acls = required_acls(&parked, AclOptions::default());
        let retry = ops(&acls, ResourceKind::Topic, "payments.v1.retry");
        assert!(
            retry.contains(&"Read") && retry.contains(&"Write"),
            "{retry:?}"
        );
        assert_eq!(ops(&acls, ResourceKind::Group, "orders-g.retry"), ["Read"]);
        let in_place = required_acls(&settings(TopicPolicy::Create), AclOptions::default());
        assert!(ops(&in_place, ResourceKind::Topic, "payments.v1.retry").is_empty());
    }
}
