//! The secured broker of `scripts/kafka.sh up --secure`: SASL_SSL (SCRAM-SHA-512/256, PLAIN) and
//! mTLS listeners, an authorizer that denies what no ACL allows, users `admin` (super user),
//! `alice` and `bob`, and the files clients need.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::kafka_sh;

/// The running secure cluster (started on first use, shared by the tests of one binary).
#[derive(Debug)]
pub struct SecureCluster {
    /// Bootstrap list of the SASL_SSL listeners.
    pub sasl_ssl: String,
    /// Bootstrap list of the SSL listeners that require client certificates.
    pub ssl: String,
    /// The CA, client certificates and password files.
    pub secrets: PathBuf,
}

impl SecureCluster {
    /// Starts the 1-broker secure cluster unless it runs, and describes it.
    pub fn get() -> &'static Self {
        static CLUSTER: OnceLock<SecureCluster> = OnceLock::new();
        CLUSTER.get_or_init(|| {
            let out = kafka_sh(&["up", "--secure"]);
            let field = |name: &str| {
                out.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}=")))
                    .unwrap_or_else(|| panic!("`kafka.sh up --secure` prints {name}=: {out}"))
                    .to_owned()
            };
            Self {
                sasl_ssl: field("SASL_SSL"),
                ssl: field("SSL"),
                secrets: PathBuf::from(field("SECRETS")),
            }
        })
    }

    /// A file of the secrets directory.
    pub fn file(&self, name: &str) -> String {
        self.secrets.join(name).display().to_string()
    }

    /// The password of `user` (for tests that must show it never leaks).
    pub fn password(&self, user: &str) -> String {
        std::fs::read_to_string(self.secrets.join(format!("{user}.password")))
            .expect("password file")
            .trim()
            .to_owned()
    }

    /// The `KAFKA_*` variables of a client authenticating as `user` over SASL_SSL.
    pub fn sasl_env(&self, user: &str, mechanism: &str) -> Vec<(String, String)> {
        vec![
            ("KAFKA_BOOTSTRAP_SERVERS".into(), self.sasl_ssl.clone()),
            ("KAFKA_SECURITY_PROTOCOL".into(), "SASL_SSL".into()),
            ("KAFKA_SASL_MECHANISM".into(), mechanism.into()),
            ("KAFKA_SASL_USERNAME".into(), user.into()),
            (
                "KAFKA_SASL_PASSWORD_FILE".into(),
                self.file(&format!("{user}.password")),
            ),
            ("KAFKA_SSL_CA_LOCATION".into(), self.file("ca.crt")),
        ]
    }

    /// The `KAFKA_*` variables of a client presenting `user`'s certificate (mTLS).
    pub fn mtls_env(&self, user: &str) -> Vec<(String, String)> {
        vec![
            ("KAFKA_BOOTSTRAP_SERVERS".into(), self.ssl.clone()),
            ("KAFKA_SECURITY_PROTOCOL".into(), "SSL".into()),
            ("KAFKA_SSL_CA_LOCATION".into(), self.file("ca.crt")),
            (
                "KAFKA_SSL_CERTIFICATE_LOCATION".into(),
                self.file(&format!("{user}.crt")),
            ),
            (
                "KAFKA_SSL_KEY_LOCATION".into(),
                self.file(&format!("{user}.key")),
            ),
        ]
    }

    /// Runs `kafka-acls` as the admin user (`scripts/kafka.sh acls ARGS`); its output.
    pub fn acls(&self, args: &[&str]) -> String {
        let mut all = vec!["acls"];
        all.extend_from_slice(args);
        kafka_sh(&all)
    }

    /// Allows `principal` everything on topics and groups named `<prefix>…` (the tests of client
    /// mechanisms; least-privilege tests grant exactly what `acls` derives instead).
    pub fn allow_prefix(&self, principal: &str, prefix: &str) {
        for resource in ["--topic", "--group"] {
            self.acls(&[
                "--add",
                "--allow-principal",
                principal,
                "--operation",
                "All",
                resource,
                prefix,
                "--resource-pattern-type",
                "prefixed",
            ]);
        }
    }
}
