//! What the cluster has: brokers, and for each declared topic its partitions, replication factor
//! and configs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use super::{ClusterState, LiveTopic, ProvisionError};

pub(crate) type Admin = Arc<AdminClient<DefaultClientContext>>;

/// Reads metadata of `names` (blocking librdkafka call, run off the async threads).
async fn metadata(
    admin: &Admin,
    timeout: Duration,
) -> Result<rdkafka::metadata::Metadata, KafkaError> {
    let admin = Arc::clone(admin);
    tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(None, timeout))
        .await
        .unwrap_or_else(|_| Err(KafkaError::Canceled))
}

/// Describes the cluster as far as `names` are concerned.
pub(crate) async fn describe(
    admin: &Admin,
    names: &[String],
    timeout: Duration,
) -> Result<ClusterState, ProvisionError> {
    let md = metadata(admin, timeout)
        .await
        .map_err(ProvisionError::Unavailable)?;
    let brokers = md.brokers().len();
    if brokers == 0 {
        return Err(ProvisionError::Unsettled(
            "the cluster reports no brokers".into(),
        ));
    }
    let mut topics = BTreeMap::new();
    for t in md.topics() {
        if !names.iter().any(|n| n == t.name()) || t.error().is_some() || t.partitions().is_empty()
        {
            continue;
        }
        let replicas = t
            .partitions()
            .iter()
            .map(|p| p.replicas().len())
            .min()
            .unwrap_or(0);
        let leaderless = t.partitions().iter().filter(|p| p.leader() < 0).count();
        let mut live = LiveTopic::new(
            i32::try_from(t.partitions().len()).unwrap_or(i32::MAX),
            i32::try_from(replicas).unwrap_or(i32::MAX),
            BTreeMap::new(),
        );
        live.leaderless_partitions = leaderless;
        topics.insert(t.name().to_owned(), live);
    }
    if !topics.is_empty() {
        let specs: Vec<ResourceSpecifier<'_>> =
            topics.keys().map(|n| ResourceSpecifier::Topic(n)).collect();
        let opts = AdminOptions::new().request_timeout(Some(timeout));
        let results = admin
            .describe_configs(specs.iter(), &opts)
            .await
            .map_err(ProvisionError::Unavailable)?;
        for (name, result) in topics
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .into_iter()
            .zip(results)
        {
            match result {
                Ok(resource) => {
                    if let Some(t) = topics.get_mut(&name) {
                        t.config = resource
                            .entries
                            .into_iter()
                            .filter_map(|e| e.value.map(|v| (e.name, v)))
                            .collect();
                    }
                }
                // Deleted (or not yet visible) between the metadata call and this one.
                Err(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                    topics.remove(&name);
                }
                Err(code) => {
                    return Err(ProvisionError::Kafka {
                        operation: "describe topic configs",
                        topic: name,
                        code,
                    });
                }
            }
        }
    }
    Ok(ClusterState::new(brokers, topics))
}

/// The group protocols the cluster's group coordinators serve (the broker config
/// `group.coordinator.rebalance.protocols`, e.g. `classic,consumer`); empty where a broker does
/// not have that config (a cluster older than KIP-848).
pub(crate) async fn group_protocols(
    admin: &Admin,
    timeout: Duration,
) -> Result<Vec<String>, ProvisionError> {
    let md = metadata(admin, timeout)
        .await
        .map_err(ProvisionError::Unavailable)?;
    let Some(broker) = md
        .brokers()
        .first()
        .map(rdkafka::metadata::MetadataBroker::id)
    else {
        return Ok(Vec::new());
    };
    let opts = AdminOptions::new().request_timeout(Some(timeout));
    let results = admin
        .describe_configs([&ResourceSpecifier::Broker(broker)], &opts)
        .await
        .map_err(ProvisionError::Unavailable)?;
    Ok(results
        .into_iter()
        .flatten()
        .flat_map(|resource| resource.entries)
        .filter(|e| e.name == "group.coordinator.rebalance.protocols")
        .filter_map(|e| e.value)
        .flat_map(|v| {
            v.split(',')
                .map(|p| p.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect())
}
