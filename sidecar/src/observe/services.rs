//! The services observed: a name and the declarations of its `KAFKA_*` environment, validated
//! by the SDK's own parser.

use std::collections::BTreeMap;
use std::path::Path;

use kafkadeps::config::Settings;

/// One kafkadeps service.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) name: String,
    pub(crate) settings: Settings,
}

#[derive(serde::Deserialize)]
struct Entry {
    name: String,
    env: BTreeMap<String, String>,
}

/// A service from its name and environment; the observer's bootstrap servers fill in when the
/// environment has none.
pub(crate) fn service(
    name: &str,
    env: &BTreeMap<String, String>,
    bootstrap: &str,
) -> Result<Service, String> {
    let mut vars: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("KAFKA_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !vars.iter().any(|(k, _)| k == "KAFKA_BOOTSTRAP_SERVERS") {
        vars.push(("KAFKA_BOOTSTRAP_SERVERS".into(), bootstrap.into()));
    }
    if !vars.iter().any(|(k, _)| k == "KAFKA_APP") {
        vars.push(("KAFKA_APP".into(), name.into()));
    }
    // Variables an observer does not know are the service's business, not a reason to skip it.
    vars.push(("KAFKA_UNKNOWN_VARIABLES".into(), "warn".into()));
    Settings::from_vars(vars)
        .map(|settings| Service {
            name: name.to_owned(),
            settings,
        })
        .map_err(|e| format!("service `{name}`: {e}"))
}

/// The services of a declarations file.
pub(crate) fn from_file(path: &Path, bootstrap: &str) -> Result<Vec<Service>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let entries: Vec<Entry> = serde_json::from_str(&text).map_err(|e| {
        format!(
            "`{}` is not a JSON list of {{name, env}}: {e}",
            path.display()
        )
    })?;
    entries
        .iter()
        .map(|e| service(&e.name, &e.env, bootstrap))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_is_its_kafka_environment() {
        let env = BTreeMap::from([
            ("KAFKA_CONSUMES".to_owned(), "orders.v1".to_owned()),
            ("KAFKA_GROUP_ID".to_owned(), "billing-g".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ]);
        let s = service("billing", &env, "127.0.0.1:9092").unwrap();
        assert_eq!(s.settings.group_id, "billing-g");
        assert_eq!(s.settings.app, "billing");
        assert!(s.settings.consumed_topics().any(|t| t.name == "orders.v1"));
        let bad = BTreeMap::from([("KAFKA_CONSUMES".to_owned(), "bad name".to_owned())]);
        assert!(
            service("x", &bad, "127.0.0.1:9092")
                .unwrap_err()
                .contains("service `x`")
        );
    }
}
