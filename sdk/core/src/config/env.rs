//! The one injectable source every entry point reads the contract from: the process environment,
//! a pod's declared variables (the admission webhook), or pairs a test writes.

use std::collections::BTreeMap;

use super::vars::{HOSTNAME, PREFIX};

/// A snapshot of the variables the contract looks at: every `KAFKA_*` variable and `HOSTNAME`.
///
/// Blank values count as unset, as when a Helm chart renders `value: ""`; when a name occurs
/// twice the last occurrence wins, as when a map of variables is built.
///
/// ```
/// use kafkadeps_core::config::Env;
///
/// let env = Env::from_pairs([("KAFKA_APP", "orders"), ("KAFKA_GROUP_ID", " "), ("PATH", "/bin")]);
/// assert_eq!(env.get("KAFKA_APP"), Some("orders"));
/// assert_eq!(env.get("KAFKA_GROUP_ID"), None);
/// assert_eq!(env.get("PATH"), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// The process environment (variables that are not Unicode are skipped).
    pub fn process() -> Self {
        Self::from_pairs(std::env::vars_os().filter_map(|(k, v)| {
            let (k, v) = (k.into_string().ok()?, v.into_string().ok()?);
            Some((k, v))
        }))
    }

    /// `(name, value)` pairs, e.g. a container's `env` list.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, _)| k.starts_with(PREFIX) || k == HOSTNAME)
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        Self { vars }
    }

    /// The value of `name`, if set and not blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Every variable, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}
