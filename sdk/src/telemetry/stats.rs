//! Selected librdkafka statistics as metrics: broker round-trip time, request errors, queue sizes.
//! Statistics arrive every `statistics.interval.ms` (default here 5 s; `KAFKA_CLIENT_STATISTICS_INTERVAL_MS`).

use rdkafka::ClientContext;
use rdkafka::Statistics;

use super::metrics::{BrokerLabels, ClientLabels, ClientRole, metrics};

/// Default statistics interval set on every client.
pub(crate) const STATISTICS_INTERVAL_MS: &str = "5000";

/// Records one statistics snapshot.
pub(crate) fn record(role: ClientRole, stats: &Statistics) {
    let m = metrics();
    m.client_queue
        .get_or_create(&ClientLabels { client: role })
        .set(i64::try_from(stats.msg_cnt).unwrap_or(i64::MAX));
    let mut seen = m
        .broker_errors_seen
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
            m.broker_rtt
                .get_or_create(&labels)
                .set(rtt.avg as f64 / 1e6);
        }
        let total = broker.txerrs + broker.rxerrs + broker.req_timeouts;
        let before = seen.insert(labels.clone(), total).unwrap_or(0);
        if total > before {
            m.broker_errors
                .get_or_create(&labels)
                .inc_by(total - before);
        }
    }
}

/// The producer's client context: statistics to metrics (logs go to `tracing` by default).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ProducerTelemetry;

impl ClientContext for ProducerTelemetry {
    fn stats(&self, statistics: Statistics) {
        // Queued or in flight, from librdkafka's own count (cheaper than asking per send).
        metrics()
            .producer_queue
            .set(i64::try_from(statistics.msg_cnt).unwrap_or(i64::MAX));
        record(ClientRole::producer, &statistics);
    }
}
