//! Samples every observed group: its committed offsets, its topics' log ends (kept as
//! `(time, offset)` samples, so lag in time is interpolated as the consumers do it), its
//! members and state.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafkadeps::config::Settings;
use kafkadeps::telemetry::lag::EndSamples;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::describe::describe;
use super::graph::{Graph, Lag};
use super::metrics::{Dependency, Group, GroupPartition, GroupTopic, ObserverMetrics};
use super::services::Service;

/// Calls to the cluster within one sample.
const TIMEOUT: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The observer's state.
pub(crate) struct Sampler {
    connection: Arc<Settings>,
    /// Services from the declarations file.
    fixed: Vec<Service>,
    /// Services discovered in the cluster (replaced on each discovery).
    discovered: Mutex<Vec<Service>>,
    /// One client per group (its `group.id` is what committed offsets are read for).
    clients: Mutex<HashMap<String, Arc<BaseConsumer>>>,
    ends: Mutex<HashMap<(String, i32), EndSamples>>,
    lags: Mutex<BTreeMap<(String, String), Lag>>,
    metrics: ObserverMetrics,
}

impl Sampler {
    pub(crate) fn new(connection: Arc<Settings>, fixed: Vec<Service>) -> Result<Self, KafkaError> {
        let sampler = Self {
            connection,
            fixed,
            discovered: Mutex::default(),
            clients: Mutex::default(),
            ends: Mutex::default(),
            lags: Mutex::default(),
            metrics: ObserverMetrics::new(),
        };
        // One client up front: a configuration librdkafka refuses fails here, not later.
        sampler.client("kafkadeps-observer")?;
        Ok(sampler)
    }

    /// The bootstrap servers the observer connects to (and gives services that name none).
    #[cfg(feature = "inject")]
    pub(crate) fn bootstrap(&self) -> &str {
        &self.connection.bootstrap_servers
    }

    /// Replaces the services discovered in the cluster.
    #[cfg(feature = "inject")]
    pub(crate) fn set_discovered(&self, services: Vec<Service>) {
        *lock(&self.discovered) = services;
    }

    /// Every observed service.
    pub(super) fn services(&self) -> Vec<Service> {
        let mut all = self.fixed.clone();
        all.extend(lock(&self.discovered).iter().cloned());
        all
    }

    fn client(&self, group: &str) -> Result<Arc<BaseConsumer>, KafkaError> {
        if let Some(c) = lock(&self.clients).get(group) {
            return Ok(Arc::clone(c));
        }
        let mut config = kafkadeps::connection::consumer_config(&self.connection);
        config.set("group.id", group);
        // Statistics would only be logged: the observer exports its own metrics.
        config.set("statistics.interval.ms", "0");
        let client: Arc<BaseConsumer> = Arc::new(config.create()?);
        lock(&self.clients).insert(group.to_owned(), Arc::clone(&client));
        Ok(client)
    }

    /// Samples every `interval` until the process ends.
    pub(crate) async fn run(self: Arc<Self>, interval: Duration) {
        loop {
            let started = tokio::time::Instant::now();
            let this = Arc::clone(&self);
            if tokio::task::spawn_blocking(move || this.sample())
                .await
                .is_err()
            {
                tracing::error!("observe: a sample panicked");
            }
            tokio::time::sleep_until(started + interval).await;
        }
    }

    /// One sample of every group (blocking calls: on a blocking thread).
    fn sample(&self) {
        let services = self.services();
        let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in &services {
            for t in s.settings.consumed_topics() {
                groups
                    .entry(s.settings.group_id.clone())
                    .or_default()
                    .insert(t.name.clone());
            }
            for t in s.settings.produced_topics() {
                self.dependency(&s.name, &t.name, "producer");
            }
            for t in s.settings.consumed_topics() {
                self.dependency(&s.name, &t.name, "consumer");
            }
        }
        for (group, topics) in groups {
            if let Err(e) = self.sample_group(&group, &topics) {
                tracing::warn!(group = %group, error = %e, "observe: cannot sample the group");
            }
        }
    }

    fn dependency(&self, service: &str, topic: &str, role: &'static str) {
        self.metrics
            .dependencies
            .get_or_create(&Dependency {
                service: service.to_owned(),
                topic: topic.to_owned(),
                role,
            })
            .set(1);
    }

    fn sample_group(&self, group: &str, topics: &BTreeSet<String>) -> Result<(), KafkaError> {
        let client = self.client(group)?;
        let now = Instant::now();
        let mut assigned = TopicPartitionList::new();
        let mut partitions: Vec<(String, i32)> = Vec::new();
        for topic in topics {
            let metadata = client.fetch_metadata(Some(topic), TIMEOUT)?;
            for t in metadata.topics() {
                for p in t.partitions() {
                    assigned.add_partition(topic, p.id());
                    partitions.push((topic.clone(), p.id()));
                }
            }
        }
        let committed = client.committed_offsets(assigned, TIMEOUT)?;
        let mut per_topic: BTreeMap<String, Lag> =
            topics.iter().map(|t| (t.clone(), Lag::default())).collect();
        for (topic, partition) in partitions {
            let (low, high) = client.fetch_watermarks(&topic, partition, TIMEOUT)?;
            let position = match committed
                .find_partition(&topic, partition)
                .map(|e| e.offset())
            {
                Some(Offset::Offset(o)) => {
                    self.metrics
                        .committed
                        .get_or_create(&GroupPartition {
                            group: group.to_owned(),
                            topic: topic.clone(),
                            partition,
                        })
                        .set(o);
                    o
                }
                // Nothing committed: the group would start at the log start (earliest).
                _ => low,
            };
            let mut ends = lock(&self.ends);
            let samples = ends.entry((topic.clone(), partition)).or_default();
            samples.record(now, high);
            let lag = per_topic.entry(topic).or_default();
            lag.messages += samples.lag_messages(position);
            lag.seconds = lag
                .seconds
                .max(samples.lag_time(position, now).as_secs_f64());
        }
        let (members, stable) = match describe(client.client(), group, TIMEOUT) {
            Ok(d) => (d.members, d.stable),
            Err(e) => {
                tracing::debug!(group, error = %e, "observe: cannot describe the group");
                (0, false)
            }
        };
        let labels = Group {
            group: group.to_owned(),
        };
        self.metrics
            .members
            .get_or_create(&labels)
            .set(i64::try_from(members).unwrap_or(i64::MAX));
        self.metrics
            .stable
            .get_or_create(&labels)
            .set(i64::from(stable));
        let mut lags = lock(&self.lags);
        for (topic, lag) in per_topic {
            let labels = GroupTopic {
                group: group.to_owned(),
                topic: topic.clone(),
            };
            self.metrics
                .lag_messages
                .get_or_create(&labels)
                .set(lag.messages);
            self.metrics
                .lag_seconds
                .get_or_create(&labels)
                .set(lag.seconds);
            lags.insert((group.to_owned(), topic), lag);
        }
        Ok(())
    }

    /// The dependency graph, with the lags last sampled.
    pub(crate) fn graph(&self) -> Graph {
        Graph::of(&self.services(), &lock(&self.lags))
    }
}
