//! Credentials of an injected sidecar: the Secrets that hold them are named by annotations (or
//! the injector's defaults), mounted read-only into the sidecar, and its `KAFKA_*` file
//! variables point at the mounted files. No secret value passes through the injector.
//!
//! The Secrets' layout is Strimzi's: a `KafkaUser`'s Secret has `password` (SCRAM) or
//! `user.crt` / `user.key` (TLS client authentication); the cluster CA Secret
//! (`<cluster>-cluster-ca-cert`) has `ca.crt`.

use std::collections::BTreeMap;

use kafkadeps_core::config::vars;

/// The user Secret (`password`, or `user.crt` and `user.key`).
pub(crate) const USER_SECRET: &str = "kafkadeps.io/user-secret";
/// The cluster CA Secret (`ca.crt`).
pub(crate) const CA_SECRET: &str = "kafkadeps.io/ca-secret";

/// Annotations that map one-to-one to the security variables.
pub(crate) const TO_ENV: &[(&str, &str)] = &[
    ("kafkadeps.io/security-protocol", vars::SECURITY_PROTOCOL),
    ("kafkadeps.io/sasl-mechanism", vars::SASL_MECHANISM),
    ("kafkadeps.io/sasl-username", vars::SASL_USERNAME),
];

/// Where the user Secret is mounted in the sidecar.
pub(crate) const USER_DIR: &str = "/var/run/kafkadeps/user";
/// Where the CA Secret is mounted in the sidecar.
pub(crate) const CA_DIR: &str = "/var/run/kafkadeps/ca";

/// One Secret mounted read-only into the sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretMount {
    /// The pod volume's name.
    pub(crate) volume: &'static str,
    /// The Secret's name (in the pod's namespace).
    pub(crate) secret: String,
    /// The mount path.
    pub(crate) path: &'static str,
}

/// The mounts and variables `annotations` (or `default_ca_secret`) ask for, added to `env`;
/// problems for invalid names.
pub(crate) fn apply(
    annotations: &BTreeMap<String, String>,
    default_ca_secret: Option<&str>,
    env: &mut Vec<(String, String)>,
    problems: &mut Vec<String>,
) -> Vec<SecretMount> {
    let value = |key: &str| {
        annotations
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    for (annotation, var) in TO_ENV {
        if let Some(v) = value(annotation) {
            env.push(((*var).to_owned(), v.to_owned()));
        }
    }
    let has = |env: &[(String, String)], var: &str| env.iter().any(|(k, _)| k == var);
    let mut mounts = Vec::new();
    let user = value(USER_SECRET);
    let ca = value(CA_SECRET).or(default_ca_secret.filter(|c| !c.trim().is_empty()));
    for (annotation, name) in [(USER_SECRET, user), (CA_SECRET, ca)] {
        if let Some(name) = name
            && !is_dns_subdomain(name)
        {
            problems.push(format!(
                "{annotation}: `{name}` is not a Secret name (lowercase letters, digits, '-' and '.')"
            ));
        }
    }
    let sasl = has(env, vars::SASL_MECHANISM);
    if let Some(secret) = user {
        mounts.push(SecretMount {
            volume: "kafkadeps-user",
            secret: secret.to_owned(),
            path: USER_DIR,
        });
        if sasl {
            env.push((
                vars::SASL_PASSWORD_FILE.to_owned(),
                format!("{USER_DIR}/password"),
            ));
        } else {
            env.push((
                vars::SSL_CERTIFICATE_LOCATION.to_owned(),
                format!("{USER_DIR}/user.crt"),
            ));
            env.push((
                vars::SSL_KEY_LOCATION.to_owned(),
                format!("{USER_DIR}/user.key"),
            ));
        }
    }
    if let Some(secret) = ca {
        mounts.push(SecretMount {
            volume: "kafkadeps-ca",
            secret: secret.to_owned(),
            path: CA_DIR,
        });
        env.push((vars::SSL_CA_LOCATION.to_owned(), format!("{CA_DIR}/ca.crt")));
    }
    // TLS whenever credentials or a CA are mounted, unless the protocol is given.
    if !has(env, vars::SECURITY_PROTOCOL) && (user.is_some() || ca.is_some() || sasl) {
        let protocol = if sasl { "sasl_ssl" } else { "ssl" };
        env.push((vars::SECURITY_PROTOCOL.to_owned(), protocol.to_owned()));
    }
    mounts
}

/// `env` for validating the declarations inside the injector, where the mounted files do not
/// exist: the password file stands in as an inline placeholder.
pub(crate) fn for_validation(env: &[(String, String)]) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| {
            if k == vars::SASL_PASSWORD_FILE {
                (
                    vars::SASL_PASSWORD.to_owned(),
                    "mounted-at-run-time".to_owned(),
                )
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect()
}

/// A DNS-1123 subdomain (what Kubernetes accepts as a Secret name).
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        pairs: &[(&str, &str)],
        default_ca: Option<&str>,
    ) -> (Vec<SecretMount>, Vec<(String, String)>, Vec<String>) {
        let annotations = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (mut env, mut problems) = (Vec::new(), Vec::new());
        let mounts = apply(&annotations, default_ca, &mut env, &mut problems);
        (mounts, env, problems)
    }

    fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn scram_user_secret_and_cluster_ca_in_strimzi_layout() {
        let (mounts, env, problems) = run(
            &[
                ("kafkadeps.io/sasl-mechanism", "SCRAM-SHA-512"),
                ("kafkadeps.io/sasl-username", "orders"),
                (USER_SECRET, "orders"),
                (CA_SECRET, "my-cluster-cluster-ca-cert"),
            ],
            None,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(mounts.len(), 2);
        assert_eq!(
            get(&env, "KAFKA_SASL_PASSWORD_FILE"),
            Some("/var/run/kafkadeps/user/password")
        );
        assert_eq!(
            get(&env, "KAFKA_SSL_CA_LOCATION"),
            Some("/var/run/kafkadeps/ca/ca.crt")
        );
        assert_eq!(get(&env, "KAFKA_SECURITY_PROTOCOL"), Some("sasl_ssl"));
    }

    #[test]
    fn tls_user_secret_means_client_certificates_and_the_default_ca_applies() {
        let (mounts, env, problems) = run(&[(USER_SECRET, "orders")], Some("cluster-ca"));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(mounts[1].secret, "cluster-ca");
        assert_eq!(
            get(&env, "KAFKA_SSL_CERTIFICATE_LOCATION"),
            Some("/var/run/kafkadeps/user/user.crt")
        );
        assert_eq!(
            get(&env, "KAFKA_SSL_KEY_LOCATION"),
            Some("/var/run/kafkadeps/user/user.key")
        );
        assert_eq!(get(&env, "KAFKA_SECURITY_PROTOCOL"), Some("ssl"));
    }

    #[test]
    fn bad_secret_names_are_problems_and_nothing_means_nothing() {
        let (_, _, problems) = run(&[(USER_SECRET, "Orders_User")], None);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let (mounts, env, problems) = run(&[], None);
        assert!(mounts.is_empty() && env.is_empty() && problems.is_empty());
    }
}
