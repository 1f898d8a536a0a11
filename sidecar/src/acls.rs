//! `kafkadeps-sidecar acls`: the ACLs the declarations of the environment need (see
//! `kafkadeps::access`), for the service's principal, in the form the operator applies them.

use kafkadeps::access::{self, Acl, AclOptions, PatternType, ResourceKind};
use kafkadeps::config::Settings;

use crate::exit;

/// How `acls` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AclOutput {
    /// One line per resource.
    Text,
    /// JSON for machines: `{"principal", "acls": [{"resource", "name", "pattern", "operations"}]}`.
    Json,
    /// A Strimzi `KafkaUser`'s `spec.authorization` block (YAML).
    Strimzi,
    /// Arguments of Apache Kafka's `kafka-acls --add`, one command per line.
    KafkaAcls,
}

/// Prints the ACLs; returns the exit code.
pub fn run(output: AclOutput, principal: Option<String>, transactional: bool) -> u8 {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return exit::INVALID_DECLARATIONS;
        }
    };
    let principal = principal.unwrap_or_else(|| {
        format!(
            "User:{}",
            settings
                .security
                .sasl_username
                .as_deref()
                .unwrap_or(&settings.app)
        )
    });
    if !principal.contains(':') {
        eprintln!("error: --principal `{principal}` must be TYPE:NAME, e.g. User:orders");
        return exit::INVALID_DECLARATIONS;
    }
    let acls = access::required_acls(
        &settings,
        AclOptions::default().transactional(transactional),
    );
    match output {
        AclOutput::Text => {
            println!(
                "# {principal}, policy {}: allow from any host",
                settings.topic_policy
            );
            for acl in &acls {
                println!("{acl}");
            }
        }
        AclOutput::Json => {
            let body = serde_json::json!({ "principal": principal, "acls": acls });
            match serde_json::to_string_pretty(&body) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("error: cannot render JSON: {e}");
                    return exit::SOFTWARE;
                }
            }
        }
        AclOutput::Strimzi => print!("{}", access::strimzi_authorization(&acls)),
        AclOutput::KafkaAcls => {
            for acl in &acls {
                println!("{}", kafka_acls_args(&principal, acl).join(" "));
            }
        }
    }
    exit::OK
}

/// `--add --allow-principal P --operation O… <resource>` for one ACL.
fn kafka_acls_args(principal: &str, acl: &Acl) -> Vec<String> {
    let mut args = vec![
        "--add".to_owned(),
        "--allow-principal".to_owned(),
        principal.to_owned(),
    ];
    for op in &acl.operations {
        args.extend(["--operation".to_owned(), op.as_str().to_owned()]);
    }
    match acl.resource {
        ResourceKind::Cluster => args.push("--cluster".to_owned()),
        kind => {
            let flag = match kind {
                ResourceKind::Group => "--group",
                ResourceKind::TransactionalId => "--transactional-id",
                _ => "--topic",
            };
            args.extend([flag.to_owned(), acl.name.clone()]);
            if acl.pattern == PatternType::Prefixed {
                args.extend(["--resource-pattern-type".to_owned(), "prefixed".to_owned()]);
            }
        }
    }
    args
}
