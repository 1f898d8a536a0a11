//! The `KAFKA_*` contract — [`kafkadeps_core::config`], re-exported whole — and the one check
//! that needs librdkafka: whether it accepts the `KAFKA_CLIENT_*` properties.
//!
//! ```
//! use kafkadeps::config::Settings;
//!
//! let settings = Settings::from_vars([
//!     ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
//!     ("KAFKA_APP", "orders"),
//!     ("KAFKA_PRODUCES", "orders.v1(partitions=12, retention.ms=7d)"),
//! ])?;
//! assert_eq!(settings.topic("orders.v1").expect("declared").spec.partitions, 12);
//! kafkadeps::config::check_client_properties(&settings)?;
//! # Ok::<(), kafkadeps::config::ConfigError>(())
//! ```

pub use kafkadeps_core::config::*;

/// Reads the contract from `env` and checks its client properties with librdkafka
/// ([`check_client_properties`]): where every entry point that creates clients starts.
pub fn load(env: &Env) -> Result<Settings, ConfigError> {
    let settings = Settings::from_source(env)?;
    check_client_properties(&settings)?;
    Ok(settings)
}

/// Checks every `KAFKA_CLIENT_*` property with librdkafka — names and values, without
/// connecting anywhere — and reports every one it rejects. [`Kafka::start`](crate::Kafka::start)
/// and every `kafkadeps-sidecar` subcommand run it after reading the declarations.
pub fn check_client_properties(settings: &Settings) -> Result<(), ConfigError> {
    let problems: Vec<Problem> = settings
        .client_properties
        .iter()
        .filter_map(|(property, value)| {
            let mut probe = rdkafka::ClientConfig::new();
            probe.set(property, value);
            let e = probe.create_native_config().err()?;
            let detail = if is_sensitive_property(property) {
                format!("librdkafka rejects `{property}` (value redacted)")
            } else {
                format!("librdkafka rejects `{property}={value}`: {e}")
            };
            Some(Problem::new(vars::client_property_var(property), detail))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::new(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librdkafka_rejects_unknown_properties_and_bad_values_secrets_redacted() {
        let settings = Settings::from_vars([
            ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            ("KAFKA_APP", "t"),
            ("KAFKA_CLIENT_LINGER_MSS", "5"),
            ("KAFKA_CLIENT_LINGER_MS", "5"),
            ("KAFKA_CLIENT_SSL_KEY_PASSWORD", "s3cret"),
            ("KAFKA_CLIENT_SASL_OAUTHBEARER_CONFIG", "bad=s3cret"),
            ("KAFKA_CLIENT_BATCH_SIZE", "lots"),
        ])
        .unwrap();
        let problems: Vec<String> = check_client_properties(&settings)
            .unwrap_err()
            .problems
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0]
                .starts_with("KAFKA_CLIENT_BATCH_SIZE: librdkafka rejects `batch.size=lots`"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("KAFKA_CLIENT_LINGER_MSS: librdkafka rejects `linger.mss=5`"),
            "{problems:?}"
        );
        assert!(
            !problems.iter().any(|p| p.contains("s3cret")),
            "{problems:?}"
        );
    }
}
