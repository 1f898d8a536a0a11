//! librdkafka client configuration shared by every client kafkadeps creates; [`consumer_config`]
//! for tools that need a raw client connected the same way.

use rdkafka::ClientConfig;

use crate::config::Settings;

/// The durable consumer defaults, applied before `KAFKA_CLIENT_*` properties.
pub const DURABLE_CONSUMER: &[(&str, &str)] = &[
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("isolation.level", "read_committed"),
    ("auto.offset.reset", "earliest"),
    ("enable.partition.eof", "false"),
    // librdkafka waits this long before fetching again once its local queue was over its
    // thresholds (default 1 s): a consumer working through a backlog then stalls for a second at
    // a time, reading a quarter of what it can. 10 ms keeps fetching as soon as there is room.
    ("fetch.queue.backoff.ms", "10"),
    (
        "statistics.interval.ms",
        crate::telemetry::stats::STATISTICS_INTERVAL_MS,
    ),
];

/// Which client a configuration is for; decides which escape-hatch properties apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Admin,
    Producer,
    Consumer,
}

/// Properties that only make sense for one role (librdkafka warns when given to another).
fn applies_to(property: &str, role: Role) -> bool {
    const CONSUMER_ONLY: &[&str] = &[
        "auto.offset.reset",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "isolation.level",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "max.poll.interval.ms",
        "fetch.",
        "partition.assignment.strategy",
        "group.",
        "check.crcs",
        "queued.",
        "auto.commit.interval.ms",
    ];
    const PRODUCER_ONLY: &[&str] = &[
        "acks",
        "request.required.acks",
        "enable.idempotence",
        "linger.ms",
        "queue.buffering.",
        "batch.",
        "compression.",
        "message.timeout.ms",
        "delivery.timeout.ms",
        "retries",
        "message.send.max.retries",
        "retry.backoff",
        "transaction",
        "partitioner",
        "sticky.partitioning",
        "max.in.flight",
    ];
    let matches = |list: &[&str]| list.iter().any(|p| property.starts_with(p));
    match role {
        Role::Admin => !matches(CONSUMER_ONLY) && !matches(PRODUCER_ONLY),
        Role::Producer => !matches(CONSUMER_ONLY),
        Role::Consumer => !matches(PRODUCER_ONLY),
    }
}

/// Bootstrap, client id, security, the role's `defaults`, then the `KAFKA_CLIENT_*` properties
/// that apply to `role` (which may override a default only when the durability guard let them).
pub(crate) fn client_config(
    settings: &Settings,
    role: Role,
    defaults: &[(&str, &str)],
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("client.id", &settings.client_id);
    for (k, v) in defaults {
        config.set(*k, *v);
    }
    for (k, v) in settings.security.client_properties() {
        config.set(k, v);
    }
    for (k, v) in &settings.client_properties {
        if applies_to(k, role) {
            config.set(k, v);
        }
    }
    config
}

/// The librdkafka configuration of a kafkadeps consumer for `settings` — bootstrap, client id,
/// security, the durable consumer defaults, the `KAFKA_CLIENT_*` properties — without a group:
/// for tools that need a raw client connected the way the service is (e.g. to read a group's
/// committed offsets).
pub fn consumer_config(settings: &Settings) -> ClientConfig {
    client_config(settings, Role::Consumer, DURABLE_CONSUMER)
}
