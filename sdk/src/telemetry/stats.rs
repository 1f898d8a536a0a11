//! Selected librdkafka statistics as metrics: broker round-trip time, request errors, queue sizes.
//! Statistics arrive every `statistics.interval.ms` (default here 5 s; `KAFKA_CLIENT_STATISTICS_INTERVAL_MS`).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use rdkafka::Statistics;

use super::metrics::register_component;

/// Default statistics interval set on every client.
pub(crate) const STATISTICS_INTERVAL_MS: &str = "5000";

/// Which client a librdkafka statistic is from.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum ClientRole {
    producer,
    consumer,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BrokerLabels {
    pub(crate) client: ClientRole,
    pub(crate) broker: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClientLabels {
    pub(crate) client: ClientRole,
}

type GaugeF64 = Gauge<f64, std::sync::atomic::AtomicU64>;

/// The librdkafka clients' families: `kafkadeps_broker_rtt_seconds`,
/// `kafkadeps_broker_request_errors`, `kafkadeps_client_queue_messages`.
pub(crate) struct ClientMetrics {
    broker_rtt: Family<BrokerLabels, GaugeF64>,
    broker_errors: Family<BrokerLabels, Counter>,
    client_queue: Family<ClientLabels, Gauge>,
    /// Last cumulative error count per broker, to turn librdkafka's totals into increments.
    errors_seen: Mutex<HashMap<BrokerLabels, u64>>,
}

impl ClientMetrics {
    /// Registers the families on `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            broker_rtt: Family::default(),
            broker_errors: Family::default(),
            client_queue: Family::default(),
            errors_seen: Mutex::new(HashMap::new()),
        };
        registry.register_with_unit(
            "broker_rtt",
            "librdkafka: average broker round-trip time",
            Unit::Seconds,
            m.broker_rtt.clone(),
        );
        registry.register(
            "broker_request_errors",
            "librdkafka: request transmit and receive errors",
            m.broker_errors.clone(),
        );
        registry.register(
            "client_queue_messages",
            "librdkafka: messages in the client's queues",
            m.client_queue.clone(),
        );
        m
    }

    /// One series of each family (a family shows on `/metrics` once it has one).
    #[cfg(test)]
    pub(crate) fn example_series(&self) {
        let b = BrokerLabels {
            client: ClientRole::producer,
            broker: 1,
        };
        self.broker_rtt.get_or_create(&b).set(0.001);
        self.broker_errors.get_or_create(&b).inc();
        self.client_queue
            .get_or_create(&ClientLabels {
                client: ClientRole::consumer,
            })
            .set(0);
    }

    /// The process's, registered on first use.
    pub(crate) fn global() -> &'static Self {
        static METRICS: OnceLock<ClientMetrics> = OnceLock::new();
        METRICS.get_or_init(|| register_component(Self::register))
    }

    /// Records one statistics snapshot of a `role` client.
    pub(crate) fn record(&self, role: ClientRole, stats: &Statistics) {
        self.client_queue
            .get_or_create(&ClientLabels { client: role })
            .set(i64::try_from(stats.msg_cnt).unwrap_or(i64::MAX));
        let mut seen = self
            .errors_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for broker in stats.brokers.values() {
            // Bootstrap and coordinator pseudo-brokers have negative ids; skip them.
            if broker.nodeid < 0 {
                continue;
            }
            let labels = BrokerLabels {
                client: role,
                broker: broker.nodeid,
            };
            if let Some(rtt) = &broker.rtt {
                // librdkafka reports microseconds.
                self.broker_rtt
                    .get_or_create(&labels)
                    .set(rtt.avg as f64 / 1e6);
            }
            let total = broker.txerrs + broker.rxerrs + broker.req_timeouts;
            let before = seen.insert(labels.clone(), total).unwrap_or(0);
            if total > before {
                self.broker_errors
                    .get_or_create(&labels)
                    .inc_by(total - before);
            }
        }
    }
}
