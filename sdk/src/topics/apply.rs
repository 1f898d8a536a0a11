//! Applying a plan: batched creates, partition growth, declared-key config changes, then waiting
//! for leaders. Safe when many replicas of a service run it at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::admin::{
    AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;
use tokio::time::Instant;

use super::ProvisionError;
use super::live::{Admin, describe, group_protocols};
use super::{Change, ClusterState, Plan, plan};
use crate::config::{GroupProtocol, Settings, TopicPolicy};
use crate::connection::{Role, client_config};
use crate::refusal::Probe;

/// Per-request timeout of admin calls; the overall deadline is the caller's.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often to re-plan when other instances race us.
const MAX_ROUNDS: usize = 5;
/// How often the probe is asked whether the cluster refused the connection.
const REFUSAL_CHECK: Duration = Duration::from_millis(100);
/// How often a missing dependency is looked for again under `verify`.
const DEPENDENCY_POLL: Duration = Duration::from_secs(1);

/// What happened to one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TopicOutcome {
    /// This call created it.
    Created,
    /// It existed (or another instance created it first); this call changed it.
    Updated,
    /// It already matched (drift, if any, is in the plan).
    Unchanged,
}

/// The result of [`Provisioner::ensure`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct EnsureReport {
    /// The plan as first computed.
    pub plan: Plan,
    /// The outcome per declared topic.
    pub outcomes: BTreeMap<String, TopicOutcome>,
    /// Drift left after applying (reported, not fixed, under the policy).
    pub remaining: Plan,
}

/// Plans and applies declarations against one cluster.
#[derive(Clone)]
pub struct Provisioner {
    admin: Admin,
    /// Started once a describe failed (see [`Probe`]): in the common case no second client
    /// connects at the same moment as the admin client.
    probe: Arc<Mutex<Option<Arc<Probe>>>>,
    settings: Arc<Settings>,
}

impl std::fmt::Debug for Provisioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provisioner")
            .field("bootstrap_servers", &self.settings.bootstrap_servers)
            .finish()
    }
}

impl Provisioner {
    /// A provisioner for `settings` (no connection is made until it is used).
    pub fn new(settings: Arc<Settings>) -> Result<Self, ProvisionError> {
        let admin = client_config(&settings, Role::Admin, &[])
            .create()
            .map_err(ProvisionError::Unavailable)?;
        Ok(Self {
            admin: Arc::new(admin),
            probe: Arc::default(),
            settings,
        })
    }

    /// The probe, started on first use (it shows what the cluster refused: the admin client's
    /// own errors are never served); `None` if it cannot be created.
    fn probe(&self) -> Option<Arc<Probe>> {
        let mut probe = self.probe.lock().unwrap_or_else(|p| p.into_inner());
        if probe.is_none() {
            match Probe::start(&client_config(&self.settings, Role::Admin, &[])) {
                Ok(started) => *probe = Some(Arc::new(started)),
                Err(e) => tracing::debug!(error = %e, "No probe client."),
            }
        }
        probe.clone()
    }

    /// Resolves once the cluster refused this client's credentials or TLS settings (never,
    /// while no probe runs).
    async fn refused(probe: Option<Arc<Probe>>) -> crate::Refusal {
        let Some(probe) = probe else {
            return std::future::pending().await;
        };
        loop {
            if let Some(refusal) = probe.refusal() {
                return refusal;
            }
            tokio::time::sleep(REFUSAL_CHECK).await;
        }
    }

    fn names(&self) -> Vec<String> {
        self.settings
            .topics
            .iter()
            .map(|t| t.name.clone())
            .collect()
    }

    /// Describes the cluster, retrying while it is unavailable until `deadline`.
    async fn describe_until(&self, deadline: Instant) -> Result<ClusterState, ProvisionError> {
        let names = self.names();
        let mut backoff = Duration::from_millis(200);
        // Short at first (a refusal is known within a second, and the blocking call it ends
        // keeps running), then up to the request timeout for a slow cluster.
        let mut attempt_timeout = Duration::from_secs(1);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let described = describe(
                &self.admin,
                &names,
                left.clamp(Duration::from_secs(1), attempt_timeout),
            );
            // A refused password or certificate does not get better by retrying: fail at once.
            let probe = self.probe.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let result = tokio::select! {
                described = described => described,
                refusal = Self::refused(probe) => Err(ProvisionError::Refused(refusal)),
            };
            match result {
                Err(e) if e.is_retriable() && Instant::now() + backoff < deadline => {
                    tracing::warn!(error = %e, "Kafka cluster not reachable yet; retrying.");
                    // From now on, a refusal ends the wait.
                    let _ = self.probe();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    attempt_timeout = (attempt_timeout * 2).min(REQUEST_TIMEOUT);
                }
                other => return other,
            }
        }
    }

    /// The group protocol a consumer of these settings uses: classic when `KAFKA_GROUP_PROTOCOL`
    /// says so; for `consumer` and `auto`, the new protocol (KIP-848) where the cluster's
    /// coordinators serve it, else classic (logged).
    pub async fn group_protocol(&self, timeout: Duration) -> GroupProtocol {
        if self.settings.group_protocol == GroupProtocol::Classic {
            return GroupProtocol::Classic;
        }
        match group_protocols(&self.admin, timeout).await {
            Ok(served) if served.iter().any(|p| p == "consumer") => GroupProtocol::Consumer,
            Ok(served) => {
                tracing::info!(
                    served = %served.join(","),
                    "The cluster does not serve the new consumer group protocol (KIP-848): using the classic one."
                );
                GroupProtocol::Classic
            }
            Err(e) => {
                tracing::warn!(error = %e, "Cannot tell which group protocols the cluster serves: using the classic one.");
                GroupProtocol::Classic
            }
        }
    }

    /// Computes the plan without changing anything.
    pub async fn plan(&self, timeout: Duration) -> Result<Plan, ProvisionError> {
        let state = self.describe_until(Instant::now() + timeout).await?;
        Ok(plan(&self.settings, &state)?)
    }

    /// Makes the cluster match the declarations under the policy, then waits until every declared
    /// partition has a leader. Owned topics are created, grown and (under `reconcile`)
    /// corrected; dependencies only checked. Fails with [`ProvisionError::VerifyFailed`] when a
    /// dependency does not meet its requirements, and in `verify` mode when anything is missing
    /// or drifted (a missing dependency is waited for until the timeout first).
    pub async fn ensure(&self, timeout: Duration) -> Result<EnsureReport, ProvisionError> {
        let deadline = Instant::now() + timeout;
        let first = plan(&self.settings, &self.describe_until(deadline).await?)?;
        let mut outcomes: BTreeMap<String, TopicOutcome> = first
            .topics
            .iter()
            .map(|t| (t.topic.clone(), TopicOutcome::Unchanged))
            .collect();
        let mut current = first.clone();
        for round in 0.. {
            if !current.has_changes() {
                break;
            }
            if round == MAX_ROUNDS {
                return Err(ProvisionError::Unsettled(format!(
                    "topics still differ after {MAX_ROUNDS} attempts:\n{current}"
                )));
            }
            if round > 0 {
                // Another instance is mid-way through the same changes; let metadata settle.
                tokio::time::sleep(Duration::from_millis(300) * u32::try_from(round).unwrap_or(1))
                    .await;
            }
            self.apply(&current, &mut outcomes).await?;
            current = plan(&self.settings, &self.describe_until(deadline).await?)?;
        }
        // Under `verify` nothing creates a missing dependency but its owner: wait for it, as for
        // a readiness condition, until the deadline.
        loop {
            let missing: Vec<String> = current.missing_dependencies().map(str::to_owned).collect();
            if missing.is_empty() || Instant::now() + DEPENDENCY_POLL >= deadline {
                break;
            }
            tracing::info!(
                topics = ?missing,
                "Waiting for topics this service depends on; their owners create them."
            );
            tokio::time::sleep(DEPENDENCY_POLL).await;
            current = plan(&self.settings, &self.describe_until(deadline).await?)?;
        }
        if current.fails_policy() {
            return Err(ProvisionError::VerifyFailed(Box::new(current)));
        }
        self.wait_for_leaders(deadline).await?;
        for (topic, change) in current.drift() {
            tracing::warn!(topic, drift = ?change, "Topic differs from its declaration; left unchanged.");
        }
        Ok(EnsureReport {
            plan: first,
            outcomes,
            remaining: current,
        })
    }

    async fn apply(
        &self,
        plan: &Plan,
        outcomes: &mut BTreeMap<String, TopicOutcome>,
    ) -> Result<(), ProvisionError> {
        debug_assert!(plan.policy != TopicPolicy::Verify || !plan.has_changes());
        let opts = AdminOptions::new()
            .request_timeout(Some(REQUEST_TIMEOUT))
            .operation_timeout(Some(REQUEST_TIMEOUT));

        // Every missing topic in one CreateTopics call.
        let configs: Vec<Vec<(String, String)>> = plan
            .topics
            .iter()
            .map(|t| {
                t.spec
                    .config
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .collect();
        let mut creates = Vec::new();
        for (t, config) in plan.topics.iter().zip(&configs) {
            if let Some(Change::Create {
                partitions,
                replicas,
                ..
            }) = t.changes.first()
            {
                let mut new =
                    NewTopic::new(&t.topic, *partitions, TopicReplication::Fixed(*replicas));
                for (k, v) in config {
                    new = new.set(k, v);
                }
                creates.push(new);
            }
        }
        if !creates.is_empty() {
            let results = self
                .admin
                .create_topics(creates.iter(), &opts)
                .await
                .map_err(ProvisionError::Unavailable)?;
            for r in results {
                match r {
                    Ok(topic) => {
                        tracing::info!(topic = %topic, "Created topic.");
                        outcomes.insert(topic, TopicOutcome::Created);
                    }
                    // Another instance won the race; the next round compares its settings.
                    Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                        tracing::info!(topic = %topic, "Topic created concurrently by another instance.");
                    }
                    Err((topic, code)) => {
                        return Err(ProvisionError::Kafka {
                            operation: "creation",
                            topic,
                            code,
                        });
                    }
                }
            }
        }

        let grows: Vec<NewPartitions<'_>> = plan
            .topics
            .iter()
            .flat_map(|t| t.changes.iter().map(move |c| (t, c)))
            .filter_map(|(t, c)| match c {
                Change::AddPartitions { to, .. } => Some(NewPartitions::new(
                    &t.topic,
                    usize::try_from(*to).unwrap_or(0),
                )),
                _ => None,
            })
            .collect();
        if !grows.is_empty() {
            let results = self
                .admin
                .create_partitions(grows.iter(), &opts)
                .await
                .map_err(ProvisionError::Unavailable)?;
            for r in results {
                match r {
                    Ok(topic) => {
                        tracing::info!(topic = %topic, "Added partitions.");
                        outcomes
                            .entry(topic)
                            .and_modify(|o| *o = TopicOutcome::Updated);
                    }
                    // Already grown by another instance: the next round re-plans.
                    Err((topic, RDKafkaErrorCode::InvalidPartitions)) => {
                        tracing::info!(topic = %topic, "Partitions grown concurrently by another instance.");
                    }
                    Err((topic, code)) => {
                        return Err(ProvisionError::Kafka {
                            operation: "adding partitions",
                            topic,
                            code,
                        });
                    }
                }
            }
        }

        self.reconcile_configs(plan, &opts, outcomes).await
    }

    /// Sets declared config keys. The legacy AlterConfigs call replaces a topic's whole dynamic
    /// config, so the topic's current dynamic entries are sent along unchanged: keys the service
    /// did not declare are kept.
    async fn reconcile_configs(
        &self,
        plan: &Plan,
        opts: &AdminOptions,
        outcomes: &mut BTreeMap<String, TopicOutcome>,
    ) -> Result<(), ProvisionError> {
        let mut wanted: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for t in &plan.topics {
            for c in &t.changes {
                if let Change::SetConfig { key, to, .. } = c {
                    wanted.entry(t.topic.as_str()).or_default().push((key, to));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let specs: Vec<ResourceSpecifier<'_>> =
            wanted.keys().map(|t| ResourceSpecifier::Topic(t)).collect();
        let described = self
            .admin
            .describe_configs(specs.iter(), opts)
            .await
            .map_err(ProvisionError::Unavailable)?;
        let mut dynamic: Vec<BTreeMap<String, String>> = Vec::new();
        for (topic, r) in wanted.keys().zip(described) {
            let resource = r.map_err(|code| ProvisionError::Kafka {
                operation: "describe configs",
                topic: (*topic).to_owned(),
                code,
            })?;
            dynamic.push(
                resource
                    .entries
                    .into_iter()
                    .filter(|e| {
                        e.source == rdkafka::admin::ConfigSource::DynamicTopic && !e.is_sensitive
                    })
                    .filter_map(|e| e.value.map(|v| (e.name, v)))
                    .collect(),
            );
        }
        let mut alters = Vec::new();
        for ((topic, keys), current) in wanted.iter().zip(dynamic.iter_mut()) {
            for (k, v) in keys {
                current.insert((*k).to_owned(), (*v).to_owned());
            }
            let mut alter = AlterConfig::new(ResourceSpecifier::Topic(topic));
            for (k, v) in current.iter() {
                alter = alter.set(k, v);
            }
            alters.push(alter);
        }
        let results = self
            .admin
            .alter_configs(alters.iter(), opts)
            .await
            .map_err(ProvisionError::Unavailable)?;
        for r in results {
            match r {
                Ok(rdkafka::admin::OwnedResourceSpecifier::Topic(topic)) => {
                    tracing::info!(topic = %topic, "Set declared topic configs.");
                    outcomes.entry(topic).and_modify(|o| {
                        if *o == TopicOutcome::Unchanged {
                            *o = TopicOutcome::Updated;
                        }
                    });
                }
                Ok(_) => {}
                Err((spec, code)) => {
                    let topic = match spec {
                        rdkafka::admin::OwnedResourceSpecifier::Topic(t) => t,
                        other => format!("{other:?}"),
                    };
                    return Err(ProvisionError::Kafka {
                        operation: "altering configs",
                        topic,
                        code,
                    });
                }
            }
        }
        Ok(())
    }

    async fn wait_for_leaders(&self, deadline: Instant) -> Result<(), ProvisionError> {
        loop {
            let state = self.describe_until(deadline).await?;
            let missing: Vec<&str> = self
                .settings
                .topics
                .iter()
                .filter(|t| {
                    state
                        .topics
                        .get(&t.name)
                        .is_none_or(|l| l.leaderless_partitions > 0)
                })
                .map(|t| t.name.as_str())
                .collect();
            let verify = self.settings.topic_policy == TopicPolicy::Verify;
            if missing.is_empty()
                || (verify && missing.iter().all(|m| !state.topics.contains_key(*m)))
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ProvisionError::NoLeader(missing.join(", ")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
