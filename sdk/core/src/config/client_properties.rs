//! The `KAFKA_CLIENT_<PROPERTY>` escape hatch to librdkafka properties, and the durability guard.

use std::collections::BTreeMap;

use super::error::Problems;
use super::model::Durability;
use super::vars;

/// Properties kafkadeps sets from the typed contract; overriding them here would be ambiguous.
const OWNED: &[(&str, &str)] = &[
    ("bootstrap.servers", vars::BOOTSTRAP_SERVERS),
    ("metadata.broker.list", vars::BOOTSTRAP_SERVERS),
    ("group.id", vars::GROUP_ID),
    ("group.instance.id", vars::GROUP_INSTANCE_ID),
    ("group.protocol", vars::GROUP_PROTOCOL),
    ("security.protocol", vars::SECURITY_PROTOCOL),
    ("sasl.mechanism", vars::SASL_MECHANISM),
    ("sasl.mechanisms", vars::SASL_MECHANISM),
    ("sasl.username", vars::SASL_USERNAME),
    ("sasl.password", vars::SASL_PASSWORD),
    ("ssl.ca.location", vars::SSL_CA_LOCATION),
    ("ssl.certificate.location", vars::SSL_CERTIFICATE_LOCATION),
    ("ssl.key.location", vars::SSL_KEY_LOCATION),
];

/// Whether `value` for `property` weakens a durable default, and why.
fn weakens(property: &str, value: &str) -> Option<&'static str> {
    let v = value.trim().to_ascii_lowercase();
    match property {
        "acks" | "request.required.acks" if v != "all" && v != "-1" => {
            Some("acknowledged records could be lost (durable: acks=all)")
        }
        "enable.idempotence" if v == "false" => {
            Some("retries could duplicate or reorder records (durable: enable.idempotence=true)")
        }
        "enable.auto.commit" if v == "true" => {
            Some("offsets could be committed before records are processed (durable: false)")
        }
        "enable.auto.offset.store" if v == "true" => {
            Some("offsets could be stored before records are processed (durable: false)")
        }
        "isolation.level" if v == "read_uncommitted" => {
            Some("aborted transactional records would be read (durable: read_committed)")
        }
        "max.in.flight.requests.per.connection" | "max.in.flight"
            if v.parse::<u32>().is_ok_and(|n| n > 5) =>
        {
            Some("more than 5 in-flight requests breaks idempotent ordering (durable: <= 5)")
        }
        _ => None,
    }
}

/// Whether `property` holds a secret (its value is never printed).
pub fn is_sensitive(property: &str) -> bool {
    [
        "password",
        "secret",
        "sasl.oauthbearer.config",
        "ssl.key.pem",
        "ssl_key",
    ]
    .iter()
    .any(|s| property.contains(s))
}

/// Turns `KAFKA_CLIENT_LINGER_MS=5` into `linger.ms=5`, refusing durability-weakening values
/// unless relaxed, and properties kafkadeps sets itself. Whether librdkafka knows a property is
/// checked where librdkafka is linked (`kafkadeps::config::check_client_properties`).
pub(crate) fn resolve(
    raw: &BTreeMap<String, String>,
    durability: Durability,
    problems: &mut Problems,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (var, value) in raw {
        let property = var[vars::CLIENT_PROPERTY_PREFIX.len()..]
            .to_ascii_lowercase()
            .replace('_', ".");
        if property.is_empty() {
            problems.push(var, "names no librdkafka property");
            continue;
        }
        if let Some((_, instead)) = OWNED.iter().find(|(p, _)| *p == property) {
            problems.push(
                var,
                format!("`{property}` is set by kafkadeps; use {instead} instead"),
            );
            continue;
        }
        if let Some(why) = weakens(&property, value)
            && durability == Durability::Strict
        {
            problems.push(
                    var,
                    format!(
                        "`{property}={value}` weakens durability: {why}; set KAFKA_DURABILITY=relaxed to allow it"
                    ),
                );
            continue;
        }
        out.insert(property, value.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        pairs: &[(&str, &str)],
        durability: Durability,
    ) -> (BTreeMap<String, String>, Vec<String>) {
        let raw = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut problems = Problems::default();
        let out = resolve(&raw, durability, &mut problems);
        (out, problems.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn maps_names_to_properties() {
        let (out, problems) = run(
            &[
                ("KAFKA_CLIENT_LINGER_MS", "5"),
                ("KAFKA_CLIENT_ACKS", "all"),
            ],
            Durability::Strict,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(out.get("linger.ms").map(String::as_str), Some("5"));
        assert_eq!(out.get("acks").map(String::as_str), Some("all"));
    }

    #[test]
    fn refuses_weakening_unless_relaxed() {
        let weak = [
            ("KAFKA_CLIENT_ACKS", "1"),
            ("KAFKA_CLIENT_ENABLE_IDEMPOTENCE", "false"),
            ("KAFKA_CLIENT_ENABLE_AUTO_COMMIT", "true"),
            ("KAFKA_CLIENT_ISOLATION_LEVEL", "read_uncommitted"),
        ];
        let (_, problems) = run(&weak, Durability::Strict);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert_eq!(
            problems[0],
            "KAFKA_CLIENT_ACKS: `acks=1` weakens durability: acknowledged records could be lost \
             (durable: acks=all); set KAFKA_DURABILITY=relaxed to allow it"
        );
        assert!(
            problems
                .iter()
                .all(|p| p.contains("KAFKA_DURABILITY=relaxed"))
        );
        let (out, problems) = run(&weak, Durability::Relaxed);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn rejects_owned_properties() {
        let (_, problems) = run(
            &[
                ("KAFKA_CLIENT_LINGER_MSS", "5"),
                ("KAFKA_CLIENT_GROUP_ID", "x"),
                ("KAFKA_CLIENT_SSL_KEY_PASSWORD", "s3cret"),
            ],
            Durability::Strict,
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with(
            "KAFKA_CLIENT_GROUP_ID: `group.id` is set by kafkadeps; use KAFKA_GROUP_ID"
        ));
    }
}
