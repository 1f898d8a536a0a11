//! The lag sampler: a thread of its own per consumer samples the log end of every assigned
//! partition and the group's committed offsets, and exports lag in records and in time —
//! `kafkadeps_consumer_lag_messages{topic}`, `kafkadeps_consumer_lag_seconds{topic}`, and per
//! partition with `KAFKA_METRICS_PARTITION_LAG=true`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use super::lag::EndSamples;
use super::metrics::{TopicLabels, register_component};

/// A topic and partition.
type Tp = (Arc<str>, i32);

type GaugeF64 = Gauge<f64, AtomicU64>;

/// `{topic, partition}` (opt-in lag series only).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: i32,
}

/// The lag families.
pub(crate) struct LagMetrics {
    messages: Family<TopicLabels, Gauge>,
    seconds: Family<TopicLabels, GaugeF64>,
    partition_messages: Family<PartitionLabels, Gauge>,
    partition_seconds: Family<PartitionLabels, GaugeF64>,
}

impl LagMetrics {
    /// Registers the families on `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            messages: Family::default(),
            seconds: Family::default(),
            partition_messages: Family::default(),
            partition_seconds: Family::default(),
        };
        registry.register(
            "consumer_lag_messages",
            "Records between the committed offset and the log end, summed over assigned partitions",
            m.messages.clone(),
        );
        registry.register_with_unit(
            "consumer_lag",
            "How long ago the log end was at the committed offset (max over assigned partitions)",
            Unit::Seconds,
            m.seconds.clone(),
        );
        registry.register(
            "consumer_partition_lag_messages",
            "Per-partition lag in records (only with KAFKA_METRICS_PARTITION_LAG=true)",
            m.partition_messages.clone(),
        );
        registry.register_with_unit(
            "consumer_partition_lag",
            "Per-partition lag in seconds (only with KAFKA_METRICS_PARTITION_LAG=true)",
            Unit::Seconds,
            m.partition_seconds.clone(),
        );
        m
    }

    /// One series of each family (a family shows on `/metrics` once it has one).
    #[cfg(test)]
    pub(crate) fn example_series(&self) {
        let p = PartitionLabels {
            topic: "t".into(),
            partition: 0,
        };
        self.messages.get_or_create(&TopicLabels::of("t")).set(1);
        self.seconds.get_or_create(&TopicLabels::of("t")).set(1.0);
        self.partition_messages.get_or_create(&p).set(1);
        self.partition_seconds.get_or_create(&p).set(1.0);
    }

    /// The process's, registered on first use.
    pub(crate) fn global() -> &'static Self {
        static METRICS: OnceLock<LagMetrics> = OnceLock::new();
        METRICS.get_or_init(|| register_component(Self::register))
    }
}

/// Samples the log end of every assigned partition and the group's committed offsets every
/// `interval`, and publishes lag in records and in time (see [`super::lag`]).
/// Runs on its own thread (the calls block) until `shutdown`.
pub(crate) fn sample_lag<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    interval: Duration,
    per_partition: bool,
    shutdown: &AtomicBool,
) {
    let mut samples: HashMap<Tp, EndSamples> = HashMap::new();
    let mut topics_seen: HashSet<String> = HashSet::new();
    // Short: shutdown waits for this thread.
    let timeout = Duration::from_secs(2);
    let mut next = Instant::now();
    while !shutdown.load(AtomicOrdering::SeqCst) {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        next = Instant::now() + interval;
        let Ok(assignment) = consumer.assignment() else {
            continue;
        };
        let committed = if assignment.count() == 0 {
            TopicPartitionList::new()
        } else {
            match consumer.committed(timeout) {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "Cannot read committed offsets for lag.");
                    continue;
                }
            }
        };
        let now = Instant::now();
        let mut by_topic: HashMap<String, (i64, f64)> =
            topics_seen.iter().map(|t| (t.clone(), (0, 0.0))).collect();
        let m = LagMetrics::global();
        for e in assignment.elements() {
            let (topic, partition) = (e.topic(), e.partition());
            let Ok((low, high)) = consumer.fetch_watermarks(topic, partition, timeout) else {
                continue;
            };
            let tp: Tp = (Arc::from(topic), partition);
            let s = samples.entry(tp).or_default();
            s.record(now, high);
            let position = match committed
                .find_partition(topic, partition)
                .map(|c| c.offset())
            {
                Some(Offset::Offset(o)) => o,
                _ => low,
            };
            let (msgs, secs) = (
                s.lag_messages(position),
                s.lag_time(position, now).as_secs_f64(),
            );
            let entry = by_topic.entry(topic.to_owned()).or_insert((0, 0.0));
            entry.0 += msgs;
            entry.1 = entry.1.max(secs);
            if per_partition {
                let labels = PartitionLabels {
                    topic: topic.to_owned(),
                    partition,
                };
                m.partition_messages.get_or_create(&labels).set(msgs);
                m.partition_seconds.get_or_create(&labels).set(secs);
            }
        }
        samples.retain(|tp, _| {
            assignment
                .elements()
                .iter()
                .any(|e| e.topic() == &*tp.0 && e.partition() == tp.1)
        });
        for (topic, (msgs, secs)) in by_topic {
            let labels = TopicLabels::of(&topic);
            m.messages.get_or_create(&labels).set(msgs);
            m.seconds.get_or_create(&labels).set(secs);
            topics_seen.insert(topic);
        }
    }
}
